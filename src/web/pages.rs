//! The pages and their forms. Each GET renders a template from the runtime's views; each POST checks the
//! session's CSRF token, calls the same runtime function the API calls (channel `web`), and answers with a
//! redirect (303), so a reload never sends a form twice.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{Flow, Session, random_token};
use super::{Web, WebError, html};
use crate::engine::{Decision, GrantEnd, ItemStatus};
use crate::http::{AppState, is_plausible_id};
use crate::runtime::view::{self, Filter};
use crate::runtime::{NewRequest, RequestView, Source};
use crate::time::{Duration, Timestamp};

/// Requests and grants shown per page.
const PAGE: u32 = 50;
/// Resources listed at most by a catalog search.
const MAX_RESULTS: usize = 50;
/// People listed at most by the dev sign-in page.
const MAX_DEV_PEOPLE: usize = 200;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/static/signoff.css", get(stylesheet))
        .route("/inbox", get(inbox))
        .route("/requests", get(my_requests).post(create))
        .route("/requests/new", get(new_request))
        .route("/requests/{id}", get(request_page))
        .route("/requests/{id}/decide", post(decide))
        .route("/requests/{id}/cancel", post(cancel))
        .route("/grants", get(grants))
        .route("/grants/{id}/release", post(release))
        .route("/auth/login", get(login))
        .route("/auth/dev", post(dev_login))
        .route(super::oidc::CALLBACK_PATH, get(callback))
        .route("/auth/logout", post(logout))
}

// ---------------------------------------------------------------------------------------------------------------
// What every page shares.

/// The frame around every page: the title, who is signed in, the navigation.
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// The signed-in person's name, when someone is.
    pub me: Option<String>,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
    /// Which navigation entry is this page (`inbox`, `requests`, `new`, `grants`).
    pub here: &'static str,
    /// How many prompts wait for the signed-in person.
    pub pending: i64,
    /// A line to show at the top (what the last action did).
    pub notice: Option<String>,
}

impl Layout {
    /// The frame of a page for nobody in particular (sign-in, errors).
    pub fn anonymous(title: &str) -> Layout {
        Layout { title: title.to_owned(), me: None, csrf: String::new(), here: "", pending: 0, notice: None }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub reason: String,
    pub message: String,
}

/// The signed-in person, read from the session cookie. Pages without one send the browser to sign in and come
/// back; a person no longer in the directory, or deactivated, is signed out.
pub struct Me {
    /// Their session.
    pub session: Session,
    /// Their directory id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// The web settings.
    pub web: Arc<Web>,
}

impl FromRequestParts<AppState> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Me, Response> {
        let Some(web) = state.web.clone() else {
            return Err(WebError::new(StatusCode::NOT_FOUND, "no such page").into_response());
        };
        let now = crate::time::now();
        let back = if parts.method == axum::http::Method::GET {
            parts.uri.path_and_query().map_or("/inbox", |p| p.as_str()).to_owned()
        } else {
            "/inbox".to_owned()
        };
        let Some(session) = web.cookies.session(&parts.headers, now) else {
            return Err(Redirect::to(&format!("/auth/login?return_to={}", urlencode(&back))).into_response());
        };
        let cat = state.runtime.catalog();
        match cat.directory.user(&session.user) {
            Some(u) if u.active => Ok(Me { id: u.id.clone(), name: u.name.clone(), session, web }),
            _ => {
                let to = "/auth/login?why=gone";
                Err((web.cookies.clear_session(), Redirect::to(to)).into_response())
            }
        }
    }
}

impl Me {
    /// The frame of one of this person's pages.
    async fn layout(&self, state: &AppState, title: &str, here: &'static str) -> Layout {
        let pending = view::pending_count(state.runtime.store(), &self.id).await.unwrap_or(0);
        Layout {
            title: title.to_owned(),
            me: Some(self.name.clone()),
            csrf: self.session.csrf.clone(),
            here,
            pending,
            notice: None,
        }
    }

    /// Refuses a form whose CSRF token is not this session's: it was not sent from one of our pages.
    fn check_csrf(&self, given: &str) -> Result<(), WebError> {
        if self.session.csrf_matches(given) {
            return Ok(());
        }
        metrics::counter!("signoff_web_csrf_refused_total").increment(1);
        tracing::warn!(user = %self.id, "a form without this session's CSRF token was refused");
        Err(WebError::new(
            StatusCode::FORBIDDEN,
            "this form was not sent from a signoff page of your current session; reload the page and try again",
        ))
    }

    /// How this session's actions are named in the audit trail.
    fn via(&self) -> String {
        format!("web:{}", self.session.method)
    }

    fn source(&self) -> Source {
        Source { channel: "web".to_owned(), via: Some(self.via()), callback: None }
    }
}

/// A form, or a 400 page saying what is wrong with it.
fn form<T>(f: Result<Form<T>, FormRejection>) -> Result<T, WebError> {
    f.map(|Form(t)| t).map_err(|e| WebError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    url_escape(s)
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A place to go back to after signing in: a local path only, never another site (`//evil.example`).
pub fn local_path(p: &str) -> String {
    let ok = p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.chars().any(char::is_control);
    if ok { p.to_owned() } else { "/inbox".to_owned() }
}

/// An instant as people read it.
pub fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

async fn stylesheet() -> Response {
    let mut resp = include_str!("../../static/signoff.css").into_response();
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}

/// "Salesforce: admin" for a request's items.
fn what(state: &AppState, r: &RequestView) -> String {
    let cat = state.runtime.catalog();
    let resource = cat.directory.resource(&r.resource).map_or(r.resource.as_str(), |x| x.name.as_str()).to_owned();
    let mut roles: Vec<&str> = r.items.iter().filter_map(|i| i.role.as_deref()).collect();
    roles.dedup();
    if roles.is_empty() { resource } else { format!("{resource}: {}", roles.join(", ")) }
}

/// The names of the people a request's items are for.
fn for_whom(state: &AppState, r: &RequestView) -> String {
    let cat = state.runtime.catalog();
    let mut names: Vec<String> = Vec::new();
    for i in &r.items {
        let n = cat.directory.name_of(&i.for_).to_owned();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names.join(", ")
}

fn name(state: &AppState, id: &str) -> String {
    state.runtime.catalog().directory.name_of(id).to_owned()
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    before: Option<String>,
    done: Option<String>,
}

/// What the last action did, from the `done` query value the redirect carried.
fn notice(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "approve" => "You approved it.",
            "deny" => "You denied it.",
            "handoff" => "You handed it off.",
            "cancel" => "The request is cancelled.",
            "release" => "The access is released.",
            "created" => "Your request is sent.",
            _ => return None,
        }
        .to_owned(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// The inbox.

struct InboxEntry {
    id: String,
    what: String,
    for_: String,
    requester: String,
    created: String,
    duration: Option<String>,
    justification: Option<String>,
    step_up: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    entries: Vec<InboxEntry>,
    next: Option<String>,
}

async fn inbox(State(state): State<AppState>, me: Me, Query(q): Query<PageQuery>) -> Result<Response, WebError> {
    let before = q.before.as_deref().filter(|b| is_plausible_id(b));
    let cat = state.runtime.catalog();
    let page = view::inbox(state.runtime.store(), &cat, &me.id, before, PAGE).await?;
    let next = (page.len() == PAGE as usize).then(|| page.last().map(|e| e.request.id.clone())).flatten();
    let entries = page
        .iter()
        .map(|view::InboxEntry { request: r, step_up }| InboxEntry {
            id: r.id.clone(),
            what: what(&state, r),
            for_: for_whom(&state, r),
            requester: name(&state, &r.requester),
            created: when(r.created_at),
            duration: r.duration.clone(),
            justification: r.justification.clone(),
            step_up: *step_up,
        })
        .collect();
    let mut layout = me.layout(&state, "Inbox", "inbox").await;
    layout.notice = notice(q.done.as_deref());
    Ok(html(&InboxPage { layout, entries, next }))
}

// ---------------------------------------------------------------------------------------------------------------
// Deciding.

#[derive(Debug, Deserialize)]
struct DecideForm {
    csrf: String,
    verdict: String,
    comment: Option<String>,
    to: Option<String>,
    back: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    me: Me,
    Path(id): Path<String>,
    f: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    me.check_csrf(&f.csrf)?;
    if !is_plausible_id(&id) {
        return Err(WebError::new(StatusCode::NOT_FOUND, "no such request"));
    }
    let now = crate::time::now();
    let comment = f.comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    let decision = match f.verdict.as_str() {
        "approve" => Decision::Approve { duration: None, comment },
        "deny" => match comment {
            Some(c) => Decision::Deny { comment: Some(c) },
            None => {
                return Err(WebError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "say why you deny it: the requester reads it",
                ));
            }
        },
        "handoff" => match f.to.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
            Some(to) => Decision::Escalate { to, comment },
            None => return Err(WebError::new(StatusCode::UNPROCESSABLE_ENTITY, "say whom to hand it off to")),
        },
        other => {
            return Err(WebError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown verdict `{other}`: approve, deny or handoff"),
            ));
        }
    };
    // A step-up node is decided only after a recent, strong sign-in (DESIGN 7.6).
    if view::needs_step_up(state.runtime.store(), &id, &me.id).await? && !me.web.step_up.satisfied_by(&me.session, now)
    {
        metrics::counter!("signoff_web_step_up_required_total").increment(1);
        return Ok(Redirect::to(&format!("/requests/{id}")).into_response());
    }
    state.runtime.decide(&id, &me.id, decision, me.source(), now).await?;
    let back = match f.back.as_deref() {
        Some("/inbox") => format!("/inbox?done={}", f.verdict),
        _ => format!("/requests/{id}?done={}", f.verdict),
    };
    Ok(Redirect::to(&back).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// One's requests, and a request's page.

struct RequestRow {
    id: String,
    what: String,
    for_: String,
    state: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    layout: Layout,
    rows: Vec<RequestRow>,
    next: Option<String>,
}

async fn my_requests(State(state): State<AppState>, me: Me, Query(q): Query<PageQuery>) -> Result<Response, WebError> {
    let filter = Filter {
        requester: Some(me.id.clone()),
        before: q.before.filter(|b| is_plausible_id(b)),
        limit: PAGE,
        ..Filter::default()
    };
    let requests = state.runtime.list(&filter).await?;
    let next = (requests.len() == PAGE as usize).then(|| requests.last().map(|r| r.id.clone())).flatten();
    let rows = requests
        .iter()
        .map(|r| RequestRow {
            id: r.id.clone(),
            what: what(&state, r),
            for_: for_whom(&state, r),
            state: r.state.as_str(),
            created: when(r.created_at),
        })
        .collect();
    let mut layout = me.layout(&state, "My requests", "requests").await;
    layout.notice = notice(q.done.as_deref());
    Ok(html(&RequestsPage { layout, rows, next }))
}

struct ItemSection {
    title: String,
    state: &'static str,
    reason: Option<String>,
    workflow: Option<String>,
    picture: String,
    prompts: Vec<(String, String, String)>,
    decisions: Vec<String>,
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    layout: Layout,
    id: String,
    what: String,
    state: &'static str,
    requester: String,
    created: String,
    duration: Option<String>,
    justification: Option<String>,
    can_decide: bool,
    step_up_needed: Option<String>,
    can_cancel: bool,
    items: Vec<ItemSection>,
}

async fn request_page(
    State(state): State<AppState>,
    me: Me,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let unknown = || WebError::new(StatusCode::NOT_FOUND, format!("no request `{id}` that you can see"));
    if !is_plausible_id(&id) {
        return Err(unknown());
    }
    let cat = state.runtime.catalog();
    let Some((r, items)) = view::request_with_items(state.runtime.store(), &cat, &id).await? else {
        return Err(unknown());
    };
    // Who may look: the requester, the people it is for, and everyone it asked or who decided. Anyone else gets
    // the same answer as for a request that does not exist.
    let involved = r.requester == me.id
        || r.items.iter().any(|i| {
            i.for_ == me.id
                || i.prompts.iter().any(|p| p.approver == me.id)
                || i.decisions.iter().any(|d| d.approver == me.id)
        });
    if !involved {
        return Err(unknown());
    }
    let now = crate::time::now();
    let can_decide = r.items.iter().any(|i| i.prompts.iter().any(|p| p.approver == me.id && p.state == "pending"));
    let step_up_needed = if can_decide
        && view::needs_step_up(state.runtime.store(), &id, &me.id).await?
        && !me.web.step_up.satisfied_by(&me.session, now)
    {
        Some(format!(
            "This access is sensitive: deciding it needs a sign-in within the last {} with a second factor ({}).",
            Duration::from_secs(me.web.step_up.max_age.max(0) as u64),
            me.web.step_up.amr.join(" or ")
        ))
    } else {
        None
    };
    let can_cancel = r.requester == me.id && matches!(r.state, ItemStatus::Requested | ItemStatus::Escalated);
    let names = |id: &str| cat.directory.name_of(id).to_owned();
    let sections = r
        .items
        .iter()
        .zip(items.iter())
        .map(|(v, item)| ItemSection {
            title: {
                let resource = cat.directory.resource(&v.resource).map_or(v.resource.as_str(), |x| x.name.as_str());
                match v.role.as_deref() {
                    Some(role) => format!("{resource} ({role}) for {}", names(&v.for_)),
                    None => format!("{resource} for {}", names(&v.for_)),
                }
            },
            state: v.state.as_str(),
            reason: v.reason.clone(),
            workflow: v.workflow.clone(),
            // Escapes every name and label itself; no style attribute or script, so the page's CSP holds.
            picture: super::picture::item_svg(item, &names, now),
            prompts: v
                .prompts
                .iter()
                .map(|p| {
                    let st = match (&p.how, p.state) {
                        (Some(how), _) => format!("{} ({how})", p.state),
                        (None, s) => s.to_owned(),
                    };
                    (names(&p.approver), when(p.sent_at), st)
                })
                .collect(),
            decisions: v
                .decisions
                .iter()
                .map(|d| {
                    let mut line = format!("{} {} via {} at {}", names(&d.approver), d.verdict, d.channel, when(d.at));
                    if let Some(to) = &d.to {
                        line.push_str(&format!(", to {}", names(to)));
                    }
                    if let Some(c) = &d.comment {
                        line.push_str(&format!(": “{c}”"));
                    }
                    line
                })
                .collect(),
        })
        .collect();
    let mut layout = me.layout(&state, &what(&state, &r), "").await;
    layout.notice = notice(q.done.as_deref());
    Ok(html(&RequestPage {
        layout,
        id: r.id.clone(),
        what: what(&state, &r),
        state: r.state.as_str(),
        requester: names(&r.requester),
        created: when(r.created_at),
        duration: r.duration.clone(),
        justification: r.justification.clone(),
        can_decide,
        step_up_needed,
        can_cancel,
        items: sections,
    }))
}

#[derive(Debug, Deserialize)]
struct CancelForm {
    csrf: String,
    reason: Option<String>,
}

async fn cancel(
    State(state): State<AppState>,
    me: Me,
    Path(id): Path<String>,
    f: Result<Form<CancelForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    me.check_csrf(&f.csrf)?;
    if !is_plausible_id(&id) {
        return Err(WebError::new(StatusCode::NOT_FOUND, "no such request"));
    }
    let reason = f.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    state.runtime.cancel_via(&id, &me.id, reason, Some(me.via()), crate::time::now()).await?;
    Ok(Redirect::to(&format!("/requests/{id}?done=cancel")).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Asking.

#[derive(Debug, Deserialize)]
struct NewQuery {
    q: Option<String>,
    resource: Option<String>,
}

struct Chosen {
    id: String,
    name: String,
    roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "new.html")]
struct NewPage {
    layout: Layout,
    q: String,
    chosen: Option<Chosen>,
    results: Vec<(String, String)>,
    total: usize,
    more: bool,
}

async fn new_request(State(state): State<AppState>, me: Me, Query(q): Query<NewQuery>) -> Result<Response, WebError> {
    let cat = state.runtime.catalog();
    let query = q.q.unwrap_or_default().trim().to_owned();
    let chosen = q.resource.as_deref().and_then(|id| cat.directory.resource(id)).map(|r| Chosen {
        id: r.id.clone(),
        name: r.name.clone(),
        roles: r.roles.iter().map(|x| x.name.clone()).collect(),
    });
    // A linear scan of names and ids: the whole search page over 10,000 resources answers in about 1.4 ms at the
    // median, 1.1 ms more than the form without a query (BENCHMARKS.md, "Web pages"), and there is no index to
    // keep in step with directory reloads.
    let needle = query.to_lowercase();
    let mut total = 0usize;
    let mut results = Vec::new();
    for r in cat.directory.resources() {
        if needle.is_empty() || r.name.to_lowercase().contains(&needle) || r.id.to_lowercase().contains(&needle) {
            total += 1;
            if results.len() < MAX_RESULTS {
                results.push((r.id.clone(), r.name.clone()));
            }
        }
    }
    let layout = me.layout(&state, "New request", "new").await;
    Ok(html(&NewPage { layout, q: query, chosen, more: total > results.len(), results, total }))
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    csrf: String,
    resource: String,
    role: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    duration: Option<String>,
    justification: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    me: Me,
    f: Result<Form<CreateForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    me.check_csrf(&f.csrf)?;
    let duration = match f.duration.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(
            Duration::parse(d)
                .map_err(|e| WebError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("how long: {e}")))?,
        ),
    };
    let Some(justification) = f.justification.map(|j| j.trim().to_owned()).filter(|j| !j.is_empty()) else {
        return Err(WebError::new(StatusCode::UNPROCESSABLE_ENTITY, "say why you need it: the approvers read it"));
    };
    let new = NewRequest {
        requester: me.id.clone(),
        resource: f.resource.trim().to_owned(),
        roles: f.role.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).into_iter().collect(),
        for_: f.for_.map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).into_iter().collect(),
        justification: Some(justification),
        duration,
        via: Some(me.via()),
    };
    let view = state.runtime.create(new, crate::time::now()).await?;
    Ok(Redirect::to(&format!("/requests/{}?done=created", view.id)).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// One's access.

struct GrantRow {
    id: String,
    request: String,
    what: String,
    since: String,
    until: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "grants.html")]
struct GrantsPage {
    layout: Layout,
    rows: Vec<GrantRow>,
}

async fn grants(State(state): State<AppState>, me: Me, Query(q): Query<PageQuery>) -> Result<Response, WebError> {
    let cat = state.runtime.catalog();
    let list = view::grants_of(state.runtime.store(), &me.id, view::MAX_PAGE).await?;
    let rows = list
        .into_iter()
        .map(|g| {
            let resource = cat.directory.resource(&g.resource).map_or(g.resource.clone(), |r| r.name.clone());
            GrantRow {
                what: g.role.as_ref().map_or_else(|| resource.clone(), |role| format!("{resource}: {role}")),
                since: when(g.granted_at),
                until: match (g.ended_at, g.expires_at) {
                    (Some(ended), _) => format!("ended {} ({})", when(ended), g.end_reason.clone().unwrap_or_default()),
                    (None, Some(exp)) => when(exp),
                    (None, None) => "no end".to_owned(),
                },
                active: g.active,
                id: g.id,
                request: g.request,
            }
        })
        .collect();
    let mut layout = me.layout(&state, "My access", "grants").await;
    layout.notice = notice(q.done.as_deref());
    Ok(html(&GrantsPage { layout, rows }))
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn release(
    State(state): State<AppState>,
    me: Me,
    Path(id): Path<String>,
    f: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    me.check_csrf(&f.csrf)?;
    let not_yours = || WebError::new(StatusCode::NOT_FOUND, "no such access of yours");
    if !is_plausible_id(&id) {
        return Err(not_yours());
    }
    match view::grant(state.runtime.store(), &id).await? {
        Some(g) if g.user == me.id => {}
        _ => return Err(not_yours()),
    }
    state.runtime.end_grant_via(&id, &me.id, GrantEnd::Released, Some(me.via()), crate::time::now()).await?;
    Ok(Redirect::to("/grants?done=release").into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Signing in and out.

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    layout: Layout,
    why: Option<String>,
    oidc: bool,
    step_up: bool,
    return_to: String,
    csrf: String,
    people: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    provider: Option<String>,
    step_up: Option<String>,
    why: Option<String>,
}

fn web_of(state: &AppState) -> Result<Arc<Web>, WebError> {
    state.web.clone().ok_or_else(|| WebError::new(StatusCode::NOT_FOUND, "no such page"))
}

async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Result<Response, WebError> {
    let web = web_of(&state)?;
    let now = crate::time::now();
    let return_to = local_path(q.return_to.as_deref().unwrap_or("/inbox"));
    let step_up = q.step_up.as_deref() == Some("1");
    // With a provider and no dev list, or when the provider is asked for: straight to the provider.
    if let Some(oidc) = &web.oidc
        && (q.provider.as_deref() == Some("oidc") || !web.dev_login)
    {
        let (url, flow) = oidc.start(return_to, step_up, now).await.map_err(|e| {
            tracing::warn!(error = %e, "could not start an OpenID Connect sign-in");
            WebError::new(StatusCode::BAD_GATEWAY, e.to_string())
        })?;
        return Ok((web.cookies.set_flow(&flow), Redirect::to(&url)).into_response());
    }
    let flow = Flow {
        state: String::new(),
        nonce: String::new(),
        verifier: String::new(),
        return_to: return_to.clone(),
        step_up,
        started: now.as_second(),
        csrf: random_token(),
    };
    let cat = state.runtime.catalog();
    let mut people: Vec<(String, String)> = if web.dev_login {
        cat.directory.users().iter().filter(|u| u.active).map(|u| (u.id.clone(), u.name.clone())).collect()
    } else {
        Vec::new()
    };
    people.sort_by(|a, b| a.1.cmp(&b.1));
    people.truncate(MAX_DEV_PEOPLE);
    let why = match q.why.as_deref() {
        Some("gone") => Some("You were signed out: you are no longer active in the directory.".to_owned()),
        Some("out") => Some("You are signed out.".to_owned()),
        _ => None,
    };
    let page = SignInPage {
        layout: Layout::anonymous("Sign in"),
        why,
        oidc: web.oidc.is_some(),
        step_up,
        return_to,
        csrf: flow.csrf.clone(),
        people,
    };
    Ok((web.cookies.set_flow(&flow), html(&page)).into_response())
}

#[derive(Debug, Deserialize)]
struct DevLoginForm {
    csrf: String,
    user: String,
    return_to: Option<String>,
}

async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    f: Result<Form<DevLoginForm>, FormRejection>,
) -> Result<Response, WebError> {
    let web = web_of(&state)?;
    if !web.dev_login {
        return Err(WebError::new(StatusCode::NOT_FOUND, "`[web] dev_login` is off"));
    }
    let f = form(f)?;
    let now = crate::time::now();
    let flow = web
        .cookies
        .flow(&headers, now)
        .filter(|fl| !fl.csrf.is_empty() && super::session::constant_time_eq(fl.csrf.as_bytes(), f.csrf.as_bytes()));
    if flow.is_none() {
        return Err(WebError::new(
            StatusCode::FORBIDDEN,
            "this sign-in form has expired or was not sent from signoff; start again",
        ));
    }
    let cat = state.runtime.catalog();
    let Some(user) = cat.directory.user(&f.user).filter(|u| u.active) else {
        return Err(WebError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{}` is not an active user of the directory", f.user),
        ));
    };
    let session = Session::new(user.id.clone(), "dev", now.as_second(), vec!["dev".to_owned()], now);
    tracing::info!(user = %user.id, "signed in with dev_login");
    let to = local_path(f.return_to.as_deref().unwrap_or("/inbox"));
    Ok((web.cookies.set_session(&session), Redirect::to(&to)).into_response())
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    let web = web_of(&state)?;
    let Some(oidc) = &web.oidc else {
        return Err(WebError::new(StatusCode::NOT_FOUND, "OpenID Connect is not configured"));
    };
    let now = crate::time::now();
    let refuse = |status: StatusCode, why: String| {
        metrics::counter!("signoff_web_signin_refused_total").increment(1);
        tracing::warn!(why = %why, "an OpenID Connect sign-in was refused");
        WebError::new(status, why)
    };
    if let Some(e) = q.error {
        let detail = q.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            format!("the identity provider refused the sign-in: {e}{detail}"),
        ));
    }
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "the identity provider's answer has no code or state".to_owned()));
    };
    let Some(flow) = web.cookies.flow(&headers, now) else {
        return Err(refuse(StatusCode::BAD_REQUEST, super::oidc::SignInError::State.to_string()));
    };
    let signed = oidc.finish(&flow, &code, &st).await.map_err(|e| {
        let status = match e {
            super::oidc::SignInError::Provider(_) => StatusCode::BAD_GATEWAY,
            super::oidc::SignInError::State => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        };
        refuse(status, e.to_string())
    })?;
    let cat = state.runtime.catalog();
    let Some(user) = cat.directory.user(&signed.claim).filter(|u| u.active) else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            format!("you signed in as `{}`, who is not an active user of signoff's directory", signed.claim),
        ));
    };
    let session = Session::new(user.id.clone(), "oidc", signed.auth_time, signed.amr, now);
    tracing::info!(user = %user.id, step_up = flow.step_up, "signed in with OpenID Connect");
    Ok((web.cookies.set_session(&session), Redirect::to(&local_path(&flow.return_to))).into_response())
}

async fn logout(me: Me, f: Result<Form<CsrfOnly>, FormRejection>) -> Result<Response, WebError> {
    let f = form(f)?;
    me.check_csrf(&f.csrf)?;
    Ok((me.web.cookies.clear_session(), Redirect::to("/auth/login?why=out")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_gone_back_to() {
        assert_eq!(local_path("/requests/req_1"), "/requests/req_1");
        assert_eq!(local_path("/inbox?before=req_2"), "/inbox?before=req_2");
        for evil in ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "", "/a\nb"]
        {
            assert_eq!(local_path(evil), "/inbox", "{evil:?}");
        }
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(urlencode("/requests/req_1?x=a b&c"), "/requests/req_1%3Fx%3Da%20b%26c");
    }
}
