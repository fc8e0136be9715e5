//! Reading and validating directory files.
//!
//! Files are read into spanned documents, each entry is deserialized on its own (so one bad user does not
//! hide the next one's problem), then the whole directory is validated at once: duplicate ids, unknown
//! managers, members, owners and admins, manager and parent cycles. Every problem is reported with the
//! `file:line:col` of the offending value.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    AttrValue, Directory, Group, JoinPolicy, Resource, ResourceKind, ReviewMode, Role, User, UserId, Visibility,
    WorkflowRef,
};
use crate::diag::{Diagnostic, Diagnostics, Location, did_you_mean};
use crate::policy;
use crate::source::{self, Document, Node, Spanned, Value, from_node};
use crate::time::{Duration, Timestamp};

/// Keys accepted at the top of a directory file.
const TOP_KEYS: &[&str] = &["source", "users", "groups", "resources"];

/// Loads a directory from a file or a folder of files.
pub fn load(path: &Path) -> Result<Directory, Diagnostics> {
    let docs = source::load_path(path)?;
    let result = load_documents(&docs);
    // A 10,000-user file is millions of small allocations; freeing them takes tens of milliseconds that
    // start-up need not wait for.
    std::thread::spawn(move || drop(docs));
    result
}

/// The name of the document that holds the people provisioned through SCIM (DESIGN 7.5), rendered from the
/// database in the directory file format by [`crate::people`]. Its users and groups take precedence over file
/// entries with the same id. It is kept in catalog snapshots like a file, so an audit replay sees the people
/// an item really ran with.
pub const PROVISIONED: &str = "(scim)/people.json";

/// Validates a directory from already-parsed documents (several files make one directory). A document named
/// [`PROVISIONED`] overrides the others' users and groups with the same id.
pub fn load_documents(docs: &[Document]) -> Result<Directory, Diagnostics> {
    load_documents_with(docs, false)
}

/// As [`load_documents`]. With `provisioning` (`[directory] scim = true`), a reference to a person or group that
/// does not exist is not an error but a warning ([`Directory::warnings`]): the identity provider may provision
/// them later. Until it does, the reference names nobody, so a step that needed them finds its approver
/// unavailable and its fallback runs (DESIGN 7.5).
pub fn load_documents_with(docs: &[Document], provisioning: bool) -> Result<Directory, Diagnostics> {
    let mut raw = RawDirectory { provisioning, ..RawDirectory::default() };
    let mut provisioned = RawDirectory::default();
    let mut diags = Diagnostics::new();
    for doc in docs {
        if doc.file.as_ref() == Path::new(PROVISIONED) {
            provisioned.add_document(doc, &mut diags);
        } else {
            raw.add_document(doc, &mut diags);
        }
    }
    raw.override_with(provisioned);
    let dir = raw.validate(&mut diags);
    diags.into_result(dir)
}

/// The directory as written, before references are resolved. Public so that benchmarks can time the two
/// halves of loading separately.
#[derive(Default)]
pub struct RawDirectory {
    users: Vec<RawUser>,
    /// Each group with the `source` of the file it came from.
    groups: Vec<(RawGroup, Option<String>)>,
    resources: Vec<ParsedResource>,
    /// Ids of entries that could not be read (their problem is already reported), lower-cased for users. A
    /// reference to one of them is not reported again as unknown: one typo in a user must not turn every
    /// group, manager and admin list naming that user into an error too.
    broken: Broken,
    /// Unknown people and groups are warnings (see [`load_documents_with`]).
    provisioning: bool,
}

/// See [`RawDirectory::broken`].
#[derive(Default)]
struct Broken {
    users: HashSet<String>,
    groups: HashSet<String>,
    resources: HashSet<String>,
}

/// The `id` written in an entry that could not be read, if there is one.
fn written_id(node: &Node) -> Option<String> {
    node.get("id").and_then(Node::text).map(|id| id.trim().to_owned())
}

/// A resource as written, with the parts read by hand (its workflow and roles) already parsed.
struct ParsedResource {
    raw: RawResource,
    workflow: Option<WorkflowRef>,
    roles: Vec<Role>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: Spanned<String>,
    email: Option<Spanned<String>>,
    name: Option<String>,
    manager: Option<Spanned<String>>,
    department: Option<String>,
    title: Option<String>,
    grade: Option<i64>,
    work_status: Option<String>,
    is_full_time_employee: Option<bool>,
    location: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    active: Option<bool>,
    out_of_office_until: Option<Spanned<String>>,
    slack_id: Option<String>,
    discord_id: Option<String>,
    #[serde(default)]
    custom_attributes: BTreeMap<String, AttrValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: Spanned<String>,
    external_id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    members: Vec<Spanned<String>>,
    #[serde(default)]
    owners: Vec<Spanned<String>>,
    #[serde(default)]
    managers: Vec<Spanned<String>>,
    #[serde(default)]
    join_policy: JoinPolicy,
    #[serde(default)]
    self_managed: bool,
    #[serde(default)]
    visibility: Visibility,
    parent: Option<Spanned<String>>,
    #[serde(default)]
    custom_attributes: BTreeMap<String, AttrValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    id: Spanned<String>,
    #[serde(default)]
    kind: ResourceKind,
    name: Option<String>,
    #[serde(default)]
    admins: Vec<Spanned<String>>,
    #[serde(default)]
    owners: Vec<Spanned<String>>,
    /// Read from the node by hand (a role is a name or a map with its own workflow).
    #[serde(default)]
    #[allow(dead_code)]
    roles: IgnoredAny,
    /// Read from the node by hand (a name or an inline expression).
    #[serde(default)]
    #[allow(dead_code)]
    workflow: IgnoredAny,
    risk: Option<Spanned<i64>>,
    parent: Option<Spanned<String>>,
    #[serde(default)]
    review_mode: ReviewMode,
    group: Option<Spanned<String>>,
    #[serde(default)]
    permissions: BTreeMap<String, Vec<Spanned<String>>>,
    max_duration: Option<Duration>,
    #[serde(default)]
    custom_attributes: BTreeMap<String, AttrValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    workflow: IgnoredAny,
}

impl RawDirectory {
    /// Puts `over`'s users and groups in place of this directory's entries for the same people and groups: a
    /// user whose id or email is one of `over`'s ids or emails, a group whose id or external id is one of
    /// `over`'s. `over`'s entries come first, so an email both name resolves to `over`'s user.
    fn override_with(&mut self, over: RawDirectory) {
        if over.users.is_empty() && over.groups.is_empty() {
            return;
        }
        let people: HashSet<String> = over
            .users
            .iter()
            .flat_map(|u| std::iter::once(&u.id.value).chain(u.email.as_ref().map(|e| &e.value)))
            .map(|k| k.trim().to_lowercase())
            .collect();
        let same_person = |u: &RawUser| {
            people.contains(&u.id.value.trim().to_lowercase())
                || u.email.as_ref().is_some_and(|e| people.contains(&e.value.trim().to_lowercase()))
        };
        let files = std::mem::take(&mut self.users);
        self.users = over.users;
        self.users.extend(files.into_iter().filter(|u| !same_person(u)));
        // A provisioned person's manager may be provisioned later, or live in the files: a reference to nobody
        // is dropped (no manager until there is one) rather than failing the whole directory.
        let known: HashSet<String> = self
            .users
            .iter()
            .flat_map(|u| std::iter::once(&u.id.value).chain(u.email.as_ref().map(|e| &e.value)))
            .map(|k| k.trim().to_lowercase())
            .collect();
        for u in self.users.iter_mut() {
            if u.id.loc.file.as_ref() == Path::new(PROVISIONED)
                && u.manager.as_ref().is_some_and(|m| !known.contains(&m.value.trim().to_lowercase()))
            {
                u.manager = None;
            }
        }
        let groups: HashSet<&str> = over
            .groups
            .iter()
            .flat_map(|(g, _)| std::iter::once(g.id.value.as_str()).chain(g.external_id.as_deref()))
            .collect();
        let same_group = |g: &RawGroup| {
            groups.contains(g.id.value.as_str()) || g.external_id.as_deref().is_some_and(|e| groups.contains(e))
        };
        let files: Vec<_> = std::mem::take(&mut self.groups).into_iter().filter(|(g, _)| !same_group(g)).collect();
        self.groups = over.groups;
        self.groups.extend(files);
        self.broken.users.extend(over.broken.users);
        self.broken.groups.extend(over.broken.groups);
    }

    /// Adds one file's users, groups and resources; problems go to `diags`.
    pub fn add_document(&mut self, doc: &Document, diags: &mut Diagnostics) {
        let file = &doc.file;
        let root = &doc.root;
        let entries = match &root.value {
            Value::Null => return,
            Value::Map(entries) => entries,
            _ => {
                diags.push(Diagnostic::at(
                    root.location(file),
                    format!(
                        "a directory file holds a map with `users`, `groups` and `resources`, found {}",
                        root.kind()
                    ),
                ));
                return;
            }
        };
        let mut source_name = None;
        for (key, value) in entries {
            let Some(k) = key.as_str() else {
                diags.push(Diagnostic::at(key.location(file), "keys must be strings"));
                continue;
            };
            match k {
                "source" => match value.as_str() {
                    Some(s) => source_name = Some(s.to_owned()),
                    None => diags.push(Diagnostic::at(
                        value.location(file),
                        format!("`source` is the identity system's name, a string; found {}", value.kind()),
                    )),
                },
                "users" | "groups" | "resources" => {}
                other => diags.push(Diagnostic::at(
                    key.location(file),
                    format!(
                        "unknown key `{other}`{}",
                        or_expected(&did_you_mean(other, TOP_KEYS.iter().copied()), TOP_KEYS)
                    ),
                )),
            }
        }
        for node in list(file, root.get("users"), "users", diags) {
            match from_node::<RawUser>(file, node) {
                Ok(u) => self.users.push(u),
                Err(d) => {
                    self.broken.users.extend(written_id(node).map(|id| id.to_lowercase()));
                    diags.push(d);
                }
            }
        }
        for node in list(file, root.get("groups"), "groups", diags) {
            match from_node::<RawGroup>(file, node) {
                Ok(g) => self.groups.push((g, source_name.clone())),
                Err(d) => {
                    self.broken.groups.extend(written_id(node));
                    diags.push(d);
                }
            }
        }
        for node in list(file, root.get("resources"), "resources", diags) {
            let raw = match from_node::<RawResource>(file, node) {
                Ok(r) => r,
                Err(d) => {
                    self.broken.resources.extend(written_id(node));
                    diags.push(d);
                    continue;
                }
            };
            let workflow = workflow_field(file, node.get("workflow"), diags);
            let mut roles = Vec::new();
            for role_node in list(file, node.get("roles"), "roles", diags) {
                if let Some(name) = role_node.as_str() {
                    roles.push(Role { name: name.to_owned(), workflow: None });
                    continue;
                }
                match from_node::<RawRole>(file, role_node) {
                    Ok(r) => roles
                        .push(Role { name: r.name, workflow: workflow_field(file, role_node.get("workflow"), diags) }),
                    Err(d) => diags.push(d),
                }
            }
            self.resources.push(ParsedResource { raw, workflow, roles });
        }
    }

    /// Resolves every reference and checks the whole; returns the directory even when `diags` got
    /// problems (the caller decides), so that one run reports everything.
    pub fn validate(self, diags: &mut Diagnostics) -> Directory {
        // With provisioning, references to nobody go here instead of `diags`.
        let later: std::cell::RefCell<Vec<Diagnostic>> = std::cell::RefCell::default();
        let unknown = |d: Diagnostic, diags: &mut Diagnostics| {
            if self.provisioning {
                later.borrow_mut().push(Diagnostic {
                    message: format!("{} (not provisioned yet: asked once it is)", d.message),
                    ..d
                });
            } else {
                diags.push(d);
            }
        };
        // Users first: everything else refers to them.
        let mut user_at: HashMap<String, Location> = HashMap::with_capacity(self.users.len() * 2);
        let mut index: HashMap<String, usize> = HashMap::with_capacity(self.users.len() * 2);
        for (i, u) in self.users.iter().enumerate() {
            let id = u.id.value.trim();
            if id.is_empty() {
                diags.push(Diagnostic::at(u.id.loc.clone(), "a user id cannot be empty"));
                continue;
            }
            let key = id.to_lowercase();
            if let Some(first) = user_at.get(&key) {
                diags.push(Diagnostic::at(
                    u.id.loc.clone(),
                    format!("duplicate user id `{id}` (first defined at {first})"),
                ));
                continue;
            }
            user_at.insert(key.clone(), u.id.loc.clone());
            index.insert(key, i);
        }
        for (i, u) in self.users.iter().enumerate() {
            let Some(email) = &u.email else { continue };
            let key = email.value.trim().to_lowercase();
            match index.get(&key) {
                Some(&j) if j != i => diags.push(Diagnostic::at(
                    email.loc.clone(),
                    format!(
                        "duplicate user email `{}` (already used by `{}` at {})",
                        email.value, self.users[j].id.value, self.users[j].id.loc
                    ),
                )),
                Some(_) => {}
                None => {
                    index.insert(key, i);
                }
            }
        }
        let resolve_user = |r: &Spanned<String>, what: &str, diags: &mut Diagnostics| -> Option<UserId> {
            let key = r.value.trim().to_lowercase();
            match index.get(&key) {
                Some(&i) => Some(self.users[i].id.value.trim().to_owned()),
                None if self.broken.users.contains(&key) => None,
                None => {
                    unknown(
                        Diagnostic::at(
                            r.loc.clone(),
                            format!("unknown {what} `{}`: no user has this id or email", r.value),
                        ),
                        diags,
                    );
                    None
                }
            }
        };

        let mut users: Vec<User> = Vec::with_capacity(self.users.len());
        for u in &self.users {
            let id = u.id.value.trim().to_owned();
            let manager = u.manager.as_ref().and_then(|m| resolve_user(m, "manager", diags));
            if manager.as_deref() == Some(id.as_str())
                && let Some(m) = &u.manager
            {
                diags.push(Diagnostic::at(m.loc.clone(), format!("`{id}` cannot be their own manager")));
            }
            let out_of_office_until = u.out_of_office_until.as_ref().and_then(|s| match parse_instant(&s.value) {
                Ok(t) => Some(t),
                Err(e) => {
                    diags.push(Diagnostic::at(s.loc.clone(), e));
                    None
                }
            });
            let is_fte = u
                .is_full_time_employee
                .unwrap_or_else(|| u.work_status.as_deref().is_some_and(|w| w.eq_ignore_ascii_case("FULL_TIME")));
            users.push(User {
                email: u.email.as_ref().map_or_else(|| id.clone(), |e| e.value.trim().to_owned()),
                name: u.name.clone().unwrap_or_else(|| id.clone()),
                manager,
                department: u.department.clone(),
                title: u.title.clone(),
                grade: u.grade,
                work_status: u.work_status.clone(),
                is_full_time_employee: is_fte,
                location: u.location.clone(),
                permissions: u.permissions.clone(),
                active: u.active.unwrap_or(true),
                out_of_office_until,
                slack_id: u.slack_id.clone(),
                discord_id: u.discord_id.clone(),
                custom_attributes: u.custom_attributes.clone(),
                groups: Vec::new(),
                id,
            });
        }
        check_manager_cycles(&users, &self.users, diags);

        // Groups.
        let mut group_at: HashMap<String, (usize, Location)> = HashMap::new();
        for (i, (g, _)) in self.groups.iter().enumerate() {
            if let Some((_, first)) = group_at.get(&g.id.value) {
                diags.push(Diagnostic::at(
                    g.id.loc.clone(),
                    format!("duplicate group id `{}` (first defined at {first})", g.id.value),
                ));
                continue;
            }
            group_at.insert(g.id.value.clone(), (i, g.id.loc.clone()));
            if let Some(e) = &g.external_id {
                group_at.entry(e.clone()).or_insert((i, g.id.loc.clone()));
            }
        }
        let group_ids: Vec<&str> = self.groups.iter().map(|(g, _)| g.id.value.as_str()).collect();
        let mut groups = Vec::with_capacity(self.groups.len());
        for (g, source) in &self.groups {
            let mut resolve_all = |list: &[Spanned<String>], what: &str| -> Vec<UserId> {
                let mut out = Unique::with_capacity(list.len());
                for r in list {
                    if let Some(id) = resolve_user(r, what, diags) {
                        out.push(id);
                    }
                }
                out.into_vec()
            };
            let members = resolve_all(&g.members, "member");
            let owners = resolve_all(&g.owners, "owner");
            let managers = resolve_all(&g.managers, "manager");
            let parent = g.parent.as_ref().and_then(|p| {
                if group_at.contains_key(&p.value) {
                    Some(group_at[&p.value].0)
                } else if self.broken.groups.contains(&p.value) {
                    None
                } else {
                    diags.push(Diagnostic::at(
                        p.loc.clone(),
                        format!(
                            "unknown parent group `{}`{}",
                            p.value,
                            did_you_mean(&p.value, group_ids.iter().copied())
                        ),
                    ));
                    None
                }
            });
            groups.push(Group {
                id: g.id.value.clone(),
                external_id: g.external_id.clone(),
                source: source.clone(),
                name: g.name.clone().unwrap_or_else(|| g.id.value.clone()),
                members,
                owners,
                managers,
                join_policy: g.join_policy,
                self_managed: g.self_managed,
                visibility: g.visibility,
                parent: parent.map(|i| self.groups[i].0.id.value.clone()),
                custom_attributes: g.custom_attributes.clone(),
            });
        }
        check_parent_cycles(self.groups.iter().map(|(g, _)| (&g.id, g.parent.as_ref())), "group", diags);
        let user_pos: HashMap<String, usize> = users.iter().enumerate().map(|(i, u)| (u.id.clone(), i)).collect();
        for g in &groups {
            for m in &g.members {
                if let Some(&i) = user_pos.get(m.as_str()) {
                    users[i].groups.push(g.id.clone());
                }
            }
        }

        // Resources.
        let mut resource_at: HashMap<String, Location> = HashMap::new();
        for ParsedResource { raw: r, .. } in &self.resources {
            if let Some(first) = resource_at.get(r.id.value.as_str()) {
                diags.push(Diagnostic::at(
                    r.id.loc.clone(),
                    format!("duplicate resource id `{}` (first defined at {first})", r.id.value),
                ));
            } else {
                resource_at.insert(r.id.value.clone(), r.id.loc.clone());
            }
        }
        let resource_ids: Vec<String> = self.resources.iter().map(|p| p.raw.id.value.clone()).collect();
        // A principal in an admin or owner list is a user or a group (expanded to its members).
        let principals = |list: &[Spanned<String>], what: &str, diags: &mut Diagnostics| -> Vec<UserId> {
            let mut out = Unique::with_capacity(list.len());
            for p in list {
                let found: Vec<UserId> = if let Some(&i) = index.get(&p.value.trim().to_lowercase()) {
                    vec![self.users[i].id.value.trim().to_owned()]
                } else if let Some(&(gi, _)) = group_at.get(&p.value) {
                    groups[gi].members.clone()
                } else if self.broken.users.contains(&p.value.trim().to_lowercase())
                    || self.broken.groups.contains(&p.value)
                {
                    Vec::new()
                } else {
                    unknown(
                        Diagnostic::at(
                            p.loc.clone(),
                            format!(
                                "unknown {what} `{}`: no user or group has this id{}",
                                p.value,
                                did_you_mean(&p.value, group_ids.iter().copied())
                            ),
                        ),
                        diags,
                    );
                    Vec::new()
                };
                for id in found {
                    out.push(id);
                }
            }
            out.into_vec()
        };
        // Kept for the cycle check below, which reports at the `parent` value like the group check does.
        let parent_links: Vec<(Spanned<String>, Option<Spanned<String>>)> =
            self.resources.iter().map(|p| (p.raw.id.clone(), p.raw.parent.clone())).collect();
        let mut resources = Vec::with_capacity(self.resources.len());
        for ParsedResource { raw: r, workflow, roles } in self.resources {
            let admins = principals(&r.admins, "admin", diags);
            let owners = principals(&r.owners, "owner", diags);
            let permissions = r
                .permissions
                .iter()
                .map(|(name, holders)| (name.clone(), principals(holders, "permission holder", diags)))
                .collect();
            let risk = r.risk.as_ref().and_then(|risk| {
                if (0..=4).contains(&risk.value) {
                    Some(risk.value as u8)
                } else {
                    diags.push(Diagnostic::at(
                        risk.loc.clone(),
                        format!("risk must be 0, 1, 2, 3 or 4, found {}", risk.value),
                    ));
                    None
                }
            });
            if let Some(p) = &r.parent
                && !resource_at.contains_key(p.value.as_str())
                && !self.broken.resources.contains(&p.value)
            {
                diags.push(Diagnostic::at(
                    p.loc.clone(),
                    format!(
                        "unknown parent resource `{}`{}",
                        p.value,
                        did_you_mean(&p.value, resource_ids.iter().map(String::as_str))
                    ),
                ));
            }
            if r.kind == ResourceKind::Group {
                let wanted = r.group.as_ref().map_or(r.id.value.as_str(), |g| g.value.as_str());
                if !group_at.contains_key(wanted) && !self.broken.groups.contains(wanted) {
                    let loc = r.group.as_ref().map_or(r.id.loc.clone(), |g| g.loc.clone());
                    unknown(
                        Diagnostic::at(
                            loc,
                            format!(
                                "resource `{}` of kind group names unknown group `{wanted}`{}",
                                r.id.value,
                                did_you_mean(wanted, group_ids.iter().copied())
                            ),
                        ),
                        diags,
                    );
                }
            } else if let Some(g) = &r.group {
                diags.push(Diagnostic::at(
                    g.loc.clone(),
                    format!("`group` applies only to resources of kind group; `{}` is {}", r.id.value, r.kind.as_str()),
                ));
            }
            resources.push(Resource {
                id: r.id.value.clone(),
                kind: r.kind,
                name: r.name.clone().unwrap_or_else(|| r.id.value.clone()),
                admins,
                owners,
                roles,
                workflow,
                risk,
                parent: r.parent.as_ref().map(|p| p.value.clone()),
                review_mode: r.review_mode,
                group: r.group.as_ref().map(|g| g.value.clone()),
                permissions,
                max_duration: r.max_duration,
                custom_attributes: r.custom_attributes.clone(),
            });
        }
        check_parent_cycles(parent_links.iter().map(|(id, parent)| (id, parent.as_ref())), "resource", diags);

        let mut directory = Directory::from_parts(users, groups, resources);
        directory.warnings = later.into_inner();
        directory
    }
}

/// `text` if it already suggests something, else the list of accepted keys.
fn or_expected(suggestion: &str, known: &[&str]) -> String {
    if suggestion.is_empty() {
        format!("; expected one of {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
    } else {
        suggestion.to_owned()
    }
}

/// The elements of an optional list node; anything but a list (or absence/null) is reported.
fn list<'a>(file: &Arc<Path>, node: Option<&'a Node>, what: &str, diags: &mut Diagnostics) -> &'a [Node] {
    match node.map(|n| (&n.value, n)) {
        None | Some((Value::Null, _)) => &[],
        Some((Value::Seq(items), _)) => items,
        Some((_, n)) => {
            diags.push(Diagnostic::at(n.location(file), format!("`{what}` must be a list, found {}", n.kind())));
            &[]
        }
    }
}

/// A `workflow:` field: a name or an inline expression.
fn workflow_field(file: &Arc<Path>, node: Option<&Node>, diags: &mut Diagnostics) -> Option<WorkflowRef> {
    let node = node?;
    match &node.value {
        Value::Null => None,
        Value::Str(name) => Some(WorkflowRef::Named(Spanned { value: name.clone(), loc: node.location(file) })),
        Value::Map(_) => match policy::parse_expr(file, node) {
            Ok(e) => Some(WorkflowRef::Inline(Box::new(e))),
            Err(d) => {
                diags.0.extend(d.0);
                None
            }
        },
        _ => {
            diags.push(Diagnostic::at(
                node.location(file),
                format!("`workflow` is a workflow name or an expression, found {}", node.kind()),
            ));
            None
        }
    }
}

/// An instant written as RFC 3339 (`2026-12-01T00:00:00Z`) or as a date (`2026-12-01`, midnight UTC).
pub(crate) fn parse_instant(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>()
        && let Ok(t) = d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
    {
        return Ok(t.timestamp());
    }
    Err(format!("invalid instant `{text}`: write it as `2026-12-01T00:00:00Z` or `2026-12-01`"))
}

/// Reports each manager cycle once, at the manager field of the user where the walk met it.
fn check_manager_cycles(users: &[User], raw: &[RawUser], diags: &mut Diagnostics) {
    // A duplicate id is reported elsewhere; references resolve to the first definition, so the walk does too.
    let mut pos: HashMap<String, usize> = HashMap::with_capacity(users.len());
    for (i, u) in users.iter().enumerate() {
        pos.entry(u.id.to_lowercase()).or_insert(i);
    }
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; users.len()];
    for start in 0..users.len() {
        if state[start] != 0 {
            continue;
        }
        let mut path = Vec::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            match state[i] {
                0 => {
                    state[i] = 1;
                    path.push(i);
                    cur = users[i].manager.as_deref().and_then(|m| pos.get(&m.to_lowercase()).copied());
                }
                1 => {
                    let from = path.iter().position(|&p| p == i).unwrap_or(0);
                    let names: Vec<&str> =
                        path[from..].iter().chain(std::iter::once(&i)).map(|&p| users[p].id.as_str()).collect();
                    // Report at the manager field of the last user on the cycle (the one that closes it).
                    let last = path[path.len() - 1];
                    if let Some(m) = raw.get(last).and_then(|r| r.manager.as_ref()) {
                        diags.push(Diagnostic::at(m.loc.clone(), format!("manager cycle: {}", names.join(" -> "))));
                    }
                    break;
                }
                _ => break,
            }
        }
        for p in path {
            state[p] = 2;
        }
    }
}

/// Reports parent cycles in a list of (id, parent) pairs.
fn check_parent_cycles<'a>(
    items: impl Iterator<Item = (&'a Spanned<String>, Option<&'a Spanned<String>>)>,
    what: &str,
    diags: &mut Diagnostics,
) {
    let items: Vec<_> = items.collect();
    // A duplicate id is reported elsewhere; references resolve to the first definition, so the walk does too.
    let mut pos: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, (id, _)) in items.iter().enumerate() {
        pos.entry(id.value.as_str()).or_insert(i);
    }
    let mut state = vec![0u8; items.len()];
    for start in 0..items.len() {
        if state[start] != 0 {
            continue;
        }
        let mut path = Vec::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            match state[i] {
                0 => {
                    state[i] = 1;
                    path.push(i);
                    cur = items[i].1.and_then(|p| pos.get(p.value.as_str()).copied());
                }
                1 => {
                    let from = path.iter().position(|&p| p == i).unwrap_or(0);
                    let names: Vec<&str> =
                        path[from..].iter().chain(std::iter::once(&i)).map(|&p| items[p].0.value.as_str()).collect();
                    let last = path[path.len() - 1];
                    if let Some(p) = items[last].1 {
                        diags.push(Diagnostic::at(
                            p.loc.clone(),
                            format!("{what} parent cycle: {}", names.join(" -> ")),
                        ));
                    }
                    break;
                }
                _ => break,
            }
        }
        for p in path {
            state[p] = 2;
        }
    }
}

impl<'de> Deserialize<'de> for AttrValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AttrValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number, boolean, null or list")
            }
            fn visit_unit<E>(self) -> Result<AttrValue, E> {
                Ok(AttrValue::Null)
            }
            fn visit_none<E>(self) -> Result<AttrValue, E> {
                Ok(AttrValue::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<AttrValue, D::Error> {
                AttrValue::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<AttrValue, E> {
                Ok(AttrValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<AttrValue, E> {
                Ok(AttrValue::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<AttrValue, E> {
                Ok(AttrValue::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<AttrValue, E> {
                Ok(AttrValue::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<AttrValue, E> {
                Ok(AttrValue::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<AttrValue, E> {
                Ok(AttrValue::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AttrValue, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(AttrValue::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of user ids in first-seen order without repeats. Groups are large (a company-wide group holds every
/// user), so the repeat check is a hash lookup: a linear `Vec::contains` made loading a 10,000-member group
/// quadratic, most of a 10,000-user directory's load time.
struct Unique {
    seen: HashSet<UserId>,
    order: Vec<UserId>,
}

impl Unique {
    fn with_capacity(n: usize) -> Unique {
        Unique { seen: HashSet::with_capacity(n), order: Vec::with_capacity(n) }
    }

    fn push(&mut self, id: UserId) {
        if self.seen.insert(id.clone()) {
            self.order.push(id);
        }
    }

    fn into_vec(self) -> Vec<UserId> {
        self.order
    }
}

#[cfg(test)]
mod tests {
    use super::Unique;

    #[test]
    fn unique_keeps_the_first_occurrence_of_each_id_in_order() {
        let mut u = Unique::with_capacity(4);
        for id in ["kim", "max", "kim", "sam", "max"] {
            u.push(id.to_owned());
        }
        assert_eq!(u.into_vec(), ["kim", "max", "sam"]);
    }
}
