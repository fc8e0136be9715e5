//! What the API returns about requests, items and grants: built from the stored item states, so a view is
//! exactly what the engine holds.

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use crate::catalog::Catalog;
use crate::engine::{DismissReason, Item, ItemStatus, PromptState, Verdict};
use crate::store::{Store, from_ms};
use crate::time::Timestamp;

/// A request and its items.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct RequestView {
    /// The request id.
    pub id: String,
    /// Its item's state when it has one item, else a summary (see [`summarize`]).
    pub state: ItemStatus,
    /// Who asked.
    pub requester: String,
    /// The resource.
    pub resource: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Why, as the requester wrote it.
    pub justification: Option<String>,
    /// How long the access was asked for (`null`: no end).
    pub duration: Option<String>,
    /// One per (person, role).
    pub items: Vec<ItemView>,
}

/// One item.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct ItemView {
    /// The item id (also its grant's id).
    pub id: String,
    /// The resource.
    pub resource: String,
    /// The role, if any.
    pub role: Option<String>,
    /// The person the access is for.
    #[serde(rename = "for")]
    pub for_: String,
    /// Where it stands.
    pub state: ItemStatus,
    /// The outcome in words, once settled.
    pub reason: Option<String>,
    /// The workflow that applies (`null` when written inline).
    pub workflow: Option<String>,
    /// Every prompt sent.
    pub prompts: Vec<PromptView>,
    /// Every decision taken.
    pub decisions: Vec<DecisionView>,
    /// The access given, if approved.
    pub grant: Option<GrantView>,
}

/// One prompt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct PromptView {
    /// Who was asked.
    pub approver: String,
    /// `pending`, `answered` or `dismissed`.
    #[schema(value_type = String, pattern = "^(pending|answered|dismissed)$")]
    pub state: &'static str,
    /// When it was sent.
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: Timestamp,
    /// When it was answered or dismissed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
    /// How it closed, in words.
    pub how: Option<String>,
}

/// One decision.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct DecisionView {
    /// Who decided.
    pub approver: String,
    /// `approve`, `deny` or `escalate`.
    #[schema(value_type = String, pattern = "^(approve|deny|escalate)$")]
    pub verdict: &'static str,
    /// For `escalate`: to whom.
    pub to: Option<String>,
    /// For `approve`: a shorter duration chosen.
    pub duration: Option<String>,
    /// Optional words.
    pub comment: Option<String>,
    /// Where: `slack`, `discord`, `api`, `web`.
    pub channel: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// A grant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct GrantView {
    /// The grant id (the item id).
    pub id: String,
    /// The request.
    pub request: String,
    /// Who holds it.
    pub user: String,
    /// The resource.
    pub resource: String,
    /// The role.
    pub role: Option<String>,
    /// When it began.
    #[schema(value_type = String, format = DateTime)]
    pub granted_at: Timestamp,
    /// When it ends (`null`: never).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// When it ended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// `expired`, `revoked` or `released`.
    pub end_reason: Option<String>,
    /// Whether it is in force.
    pub active: bool,
}

/// The request's state: its item's when it has one; otherwise still waiting (escalated if any item is) while
/// any item waits, the common outcome when all agree, and `denied` when outcomes differ (not everything
/// asked for was granted; each item says what it got).
pub fn summarize(states: &[ItemStatus]) -> ItemStatus {
    match states {
        [] => ItemStatus::Requested,
        [one] => *one,
        many => {
            if many.contains(&ItemStatus::Escalated) {
                ItemStatus::Escalated
            } else if many.contains(&ItemStatus::Requested) {
                ItemStatus::Requested
            } else if many.iter().all(|s| *s == many[0]) {
                many[0]
            } else {
                ItemStatus::Denied
            }
        }
    }
}

fn item_view(cat: &Catalog, item: &Item, grant: Option<GrantView>) -> ItemView {
    let prompts = item
        .prompts
        .iter()
        .map(|p| {
            let (state, closed_at, how) = match &p.state {
                PromptState::Pending => ("pending", None, None),
                PromptState::Answered { verdict, at } => ("answered", Some(*at), Some(verdict.past_tense().to_owned())),
                PromptState::Dismissed { reason, at } => ("dismissed", Some(*at), Some(dismissal(cat, reason))),
            };
            PromptView { approver: p.approver.clone(), state, sent_at: p.sent_at, closed_at, how }
        })
        .collect();
    let decisions = item
        .decisions
        .iter()
        .map(|d| {
            let (verdict, to, duration) = match &d.verdict {
                Verdict::Approve { duration } => ("approve", None, duration.map(|x| x.to_string())),
                Verdict::Deny => ("deny", None, None),
                Verdict::Escalate { to } => ("escalate", Some(to.clone()), None),
            };
            DecisionView {
                approver: d.by.clone(),
                verdict,
                to,
                duration,
                comment: d.comment.clone(),
                channel: d.channel.clone(),
                at: d.at,
            }
        })
        .collect();
    ItemView {
        id: item.spec.item.clone(),
        resource: item.spec.resource.clone(),
        role: item.spec.role.clone(),
        for_: item.spec.beneficiary.clone(),
        state: item.status,
        reason: item.outcome.as_ref().map(|o| o.reason.clone()),
        workflow: item.workflow.clone(),
        prompts,
        decisions,
        grant,
    }
}

fn dismissal(cat: &Catalog, reason: &DismissReason) -> String {
    let name = |id: &str| cat.directory.name_of(id).to_owned();
    match reason {
        DismissReason::Settled { outcome, by } => match by {
            Some(b) => format!("step {} by {}", format!("{outcome:?}").to_lowercase(), name(b)),
            None => format!("step {}", format!("{outcome:?}").to_lowercase()),
        },
        DismissReason::ItemSettled { outcome, by } => match by {
            Some(b) => format!("request {outcome} by {}", name(b)),
            None => format!("request {outcome}"),
        },
        DismissReason::Escalated { to: Some(t), after } => format!("escalated to {} after {after}", name(t)),
        DismissReason::Escalated { to: None, after } => format!("timed out after {after}"),
        DismissReason::TimedOut { after } => format!("timed out after {after}"),
        DismissReason::Cancelled { by } => format!("cancelled by {}", name(by)),
        DismissReason::Unavailable { reason } => format!("no longer available ({reason})"),
    }
}

fn decode_grant(r: &sqlx::any::AnyRow) -> Result<GrantView, sqlx::Error> {
    let ended_at: Option<i64> = r.try_get("ended_at")?;
    Ok(GrantView {
        id: r.try_get("id")?,
        request: r.try_get("request_id")?,
        user: r.try_get("user_id")?,
        resource: r.try_get("resource")?,
        role: r.try_get("role")?,
        granted_at: from_ms(r.try_get("granted_at")?),
        expires_at: r.try_get::<Option<i64>, _>("expires_at")?.map(from_ms),
        ended_at: ended_at.map(from_ms),
        end_reason: r.try_get("end_reason")?,
        active: ended_at.is_none(),
    })
}

/// A grant by id.
pub async fn grant(store: &Store, id: &str) -> Result<Option<GrantView>, sqlx::Error> {
    let row =
        sqlx::query("SELECT * FROM grants WHERE id = $1").bind(id.to_owned()).fetch_optional(store.reader()).await?;
    row.as_ref().map(decode_grant).transpose()
}

/// A request by id, read in one statement: one snapshot of the request, its items and their grants (three reads
/// could straddle a commit and show an approved item without its grant), and one round trip instead of three
/// on every decision's answer.
pub async fn request(store: &Store, cat: &Catalog, id: &str) -> Result<Option<RequestView>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{REQUEST_ROWS} WHERE r.id = $1 ORDER BY i.created_at, i.id")))
        .bind(id.to_owned())
        .fetch_all(store.reader())
        .await?;
    Ok(request_from_rows(cat, id, &rows)?.map(|(view, _)| view))
}

/// The columns a [`RequestView`] is built from: the request, each item's stored state, and its grant if any. One
/// row per item (a request joins to one row of NULLs if it has none, which is never stored).
const REQUEST_ROWS: &str = "SELECT r.id AS r_id, r.requester AS r_requester, r.resource AS r_resource, \
        r.created_at AS r_created_at, i.state AS i_state, g.id, g.request_id, g.user_id, g.resource, g.role, \
        g.granted_at, g.expires_at, g.ended_at, g.end_reason \
     FROM requests r \
     LEFT JOIN items i ON i.request_id = r.id \
     LEFT JOIN grants g ON g.id = i.id";

/// Builds request `id`'s view from its [`REQUEST_ROWS`] (all of them, in item creation order), with the items'
/// engine states for callers that need more than the view. `None` when there are no rows.
fn request_from_rows(
    cat: &Catalog,
    id: &str,
    rows: &[sqlx::any::AnyRow],
) -> Result<Option<(RequestView, Vec<Item>)>, sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut pairs = Vec::with_capacity(rows.len());
    let mut asked: Option<(Option<String>, Option<String>)> = None;
    for row in rows {
        // A request without items (none is ever stored that way) joins to one row of NULLs.
        let Some(state) = row.try_get::<Option<String>, _>("i_state")? else { continue };
        let item: Item = serde_json::from_str(&state)
            .map_err(|e| sqlx::Error::Decode(format!("stored item state of request {id}: {e}").into()))?;
        let grant = match row.try_get::<Option<String>, _>("id")? {
            Some(_) => Some(decode_grant(row)?),
            None => None,
        };
        asked.get_or_insert_with(|| (item.spec.justification.clone(), item.spec.duration.map(|d| d.to_string())));
        pairs.push((item_view(cat, &item, grant), item));
    }
    // Items are numbered in creation order; keep that order (`req-2` before `req-10`).
    pairs.sort_by_key(|(v, _)| v.id.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0));
    let (views, items): (Vec<ItemView>, Vec<Item>) = pairs.into_iter().unzip();
    let states: Vec<ItemStatus> = views.iter().map(|v| v.state).collect();
    let view = RequestView {
        id: id.to_owned(),
        state: summarize(&states),
        requester: first.try_get("r_requester")?,
        resource: first.try_get("r_resource")?,
        created_at: from_ms(first.try_get("r_created_at")?),
        justification: asked.as_ref().and_then(|a| a.0.clone()),
        duration: asked.and_then(|a| a.1),
        items: views,
    };
    Ok(Some((view, items)))
}

/// A request with its items' engine states, for the web page that draws each item's approval path.
pub async fn request_with_items(
    store: &Store,
    cat: &Catalog,
    id: &str,
) -> Result<Option<(RequestView, Vec<Item>)>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{REQUEST_ROWS} WHERE r.id = $1 ORDER BY i.created_at, i.id")))
        .bind(id.to_owned())
        .fetch_all(store.reader())
        .await?;
    request_from_rows(cat, id, &rows)
}

/// The requests where `approver` has a prompt still pending, newest first: the web inbox. It starts from the
/// approver's pending prompts (index `prompts_by_approver`), so a page costs the same with 10 or 10,000 of them.
pub async fn inbox(
    store: &Store,
    cat: &Catalog,
    approver: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<InboxEntry>, sqlx::Error> {
    let limit = limit.clamp(1, MAX_PAGE);
    // One statement for the whole page: the page's request ids in a subquery, and every row of those requests
    // (reading them one by one made /inbox the slowest page; BENCHMARKS.md, "Web pages").
    let mut page = String::from("SELECT DISTINCT request_id FROM prompts WHERE approver = $1 AND state = 'pending'");
    if before.is_some() {
        page.push_str(" AND request_id < $2");
    }
    page.push_str(&format!(" ORDER BY request_id DESC LIMIT {limit}"));
    let sql = format!("{REQUEST_ROWS} WHERE r.id IN ({page}) ORDER BY r.id DESC, i.created_at, i.id");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(approver.to_owned());
    if let Some(b) = before {
        q = q.bind(b.to_owned());
    }
    let rows = q.fetch_all(store.reader()).await?;
    let mut out = Vec::new();
    for group in rows.chunk_by(|a, b| a.try_get::<String, _>("r_id").ok() == b.try_get::<String, _>("r_id").ok()) {
        let id: String = group[0].try_get("r_id")?;
        if let Some((request, items)) = request_from_rows(cat, &id, group)? {
            let step_up = items.iter().any(|item| waits_with_step_up(item, approver));
            out.push(InboxEntry { request, step_up });
        }
    }
    Ok(out)
}

/// A request in an approver's inbox.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    /// The request, as the API shows it.
    pub request: RequestView,
    /// Whether a prompt to this approver in it waits on a `step_up` step (decided only after a strong sign-in).
    pub step_up: bool,
}

/// Whether `approver` has a pending prompt in `item` on a `step_up` node (DESIGN 7.6).
pub fn waits_with_step_up(item: &Item, approver: &str) -> bool {
    item.prompts.iter().any(|p| {
        p.approver == approver
            && p.is_pending()
            && p.links.iter().any(|&(n, _)| item.nodes.get(n as usize).is_some_and(|node| node.needs_step_up()))
    })
}

/// Whether deciding request `id` as `approver` needs the web's step-up sign-in: a prompt to them in it waits on a
/// `step_up` step.
pub async fn needs_step_up(store: &Store, id: &str, approver: &str) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT i.state FROM items i WHERE i.request_id = $1 AND EXISTS \
         (SELECT 1 FROM prompts p WHERE p.item_id = i.id AND p.approver = $2 AND p.state = 'pending')",
    )
    .bind(id.to_owned())
    .bind(approver.to_owned())
    .fetch_all(store.reader())
    .await?;
    for row in &rows {
        let state: String = row.try_get("state")?;
        let item: Item = serde_json::from_str(&state)
            .map_err(|e| sqlx::Error::Decode(format!("stored item state of request {id}: {e}").into()))?;
        if waits_with_step_up(&item, approver) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How many prompts wait for `approver`.
pub async fn pending_count(store: &Store, approver: &str) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM prompts WHERE approver = $1 AND state = 'pending'")
        .bind(approver.to_owned())
        .fetch_one(store.reader())
        .await?;
    row.try_get("n")
}

/// The grants `user` holds or held, newest first (at most `limit`).
pub async fn grants_of(store: &Store, user: &str, limit: u32) -> Result<Vec<GrantView>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM grants WHERE user_id = $1 ORDER BY granted_at DESC, id DESC LIMIT {}",
        limit.clamp(1, MAX_PAGE)
    )))
    .bind(user.to_owned())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(decode_grant).collect()
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Asked by this user.
    pub requester: Option<String>,
    /// With a prompt to this user.
    pub approver: Option<String>,
    /// With an item in this state.
    pub state: Option<ItemStatus>,
    /// Only requests created before this request id (the previous page's last id).
    pub before: Option<String>,
    /// At most this many (1..=200).
    pub limit: u32,
}

/// The largest page.
pub const MAX_PAGE: u32 = 200;

/// A page of requests matching `filter`, newest first.
pub async fn list(store: &Store, cat: &Catalog, filter: &Filter) -> Result<Vec<RequestView>, sqlx::Error> {
    // With an approver, the walk starts from that approver's prompts (index `prompts_by_approver_request`),
    // newest request first: starting from all requests and checking each one's prompts read far more rows than
    // the page holds (a median of 362 ms at a million items; BENCHMARKS.md).
    let (mut sql, id) = match filter.approver {
        Some(_) => (
            String::from(
                "SELECT DISTINCT p.request_id AS id FROM prompts p JOIN requests r ON r.id = p.request_id WHERE 1 = 1",
            ),
            "p.request_id",
        ),
        None => (String::from("SELECT r.id AS id FROM requests r WHERE 1 = 1"), "r.id"),
    };
    let mut args: Vec<String> = Vec::new();
    let arg = |v: String, args: &mut Vec<String>| {
        args.push(v);
        format!("${}", args.len())
    };
    if let Some(a) = &filter.approver {
        let p = arg(a.clone(), &mut args);
        sql.push_str(&format!(" AND p.approver = {p}"));
    }
    if let Some(r) = &filter.requester {
        let p = arg(r.clone(), &mut args);
        sql.push_str(&format!(" AND r.requester = {p}"));
    }
    if let Some(s) = &filter.state {
        let p = arg(s.as_str().to_owned(), &mut args);
        sql.push_str(&format!(" AND EXISTS (SELECT 1 FROM items i WHERE i.request_id = r.id AND i.status = {p})"));
    }
    if let Some(b) = &filter.before {
        let p = arg(b.clone(), &mut args);
        sql.push_str(&format!(" AND {id} < {p}"));
    }
    let limit = filter.limit.clamp(1, MAX_PAGE);
    sql.push_str(&format!(" ORDER BY {id} DESC LIMIT {limit}"));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in args {
        q = q.bind(a);
    }
    let ids = q.fetch_all(store.reader()).await?;
    let mut out = Vec::with_capacity(ids.len());
    for row in &ids {
        let id: String = row.try_get("id")?;
        if let Some(v) = request(store, cat, &id).await? {
            out.push(v);
        }
    }
    Ok(out)
}
