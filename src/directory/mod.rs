//! The directory: who exists, who manages whom, which groups and resources there are.
//!
//! Loaded once from YAML or JSON (see [`load`]), validated as a whole, then read-only: every reference in it
//! (a manager, a group member, a resource admin) has been resolved to a user id, so the engine's lookups
//! are plain map reads and can never dangle.

mod load;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::policy::Expr;
use crate::source::Spanned;
use crate::time::{Duration, Timestamp};

pub use load::{PROVISIONED, RawDirectory, load, load_documents, load_documents_with};

/// A user's stable id (usually their email address).
pub type UserId = String;

/// A custom attribute's value: what a `custom_attributes` map in the directory may hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// Written `null` or left empty.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// Any number; integers are exact up to 2^53.
    Num(f64),
    /// Text.
    Str(String),
    /// A list of values, e.g. a reporting chain.
    List(Vec<AttrValue>),
}

/// A person who may ask for access or approve it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Stable id, unique in the directory; usually the email address.
    pub id: UserId,
    /// Email address; defaults to the id. Unique: a user may be named by either.
    pub email: String,
    /// Display name; defaults to the id.
    pub name: String,
    /// The user's manager, resolved to an id. `None` at the top of the tree.
    pub manager: Option<UserId>,
    /// Department, for rules such as "sales tools go to the sales VP".
    pub department: Option<String>,
    /// Job title (`role` in the seed's rule attributes).
    pub title: Option<String>,
    /// Grade level, for `grade_range_expression` (the staged-workflows seed).
    pub grade: Option<i64>,
    /// FULL_TIME, PART_TIME, CONTRACTOR, ...
    pub work_status: Option<String>,
    /// Given, or derived from `work_status == FULL_TIME`.
    pub is_full_time_employee: bool,
    /// Office or city.
    pub location: Option<String>,
    /// Global roles such as Helpdesk, Usermanager, Security (the approval-rounds seed).
    pub permissions: Vec<String>,
    /// Inactive users are never asked to approve.
    pub active: bool,
    /// Out of office until this instant: not asked to approve before it.
    pub out_of_office_until: Option<Timestamp>,
    /// Slack member id (`U...`), if the user is on Slack.
    pub slack_id: Option<String>,
    /// Discord user id (a snowflake, as text), if the user is on Discord.
    pub discord_id: Option<String>,
    /// Anything else the organisation tracks, readable from rules as `custom_attributes.<key>`.
    pub custom_attributes: BTreeMap<String, AttrValue>,
    /// Ids of the groups this user is a member of, derived from the groups' member lists.
    pub groups: Vec<String>,
}

impl User {
    /// Whether this user can be asked at `now`: active and not out of office.
    pub fn is_available(&self, now: Timestamp) -> bool {
        self.active && self.out_of_office_until.is_none_or(|until| until <= now)
    }

    /// Why this user cannot be asked at `now`, or `None` when they can.
    pub fn unavailable_reason(&self, now: Timestamp) -> Option<String> {
        if !self.active {
            Some("inactive".to_owned())
        } else {
            match self.out_of_office_until {
                Some(until) if until > now => Some(format!("out of office until {until}")),
                _ => None,
            }
        }
    }
}

/// How people join a group (trust models read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JoinPolicy {
    /// Anyone can join.
    Open,
    /// An owner must approve each join.
    #[default]
    OwnerApproval,
    /// Nobody joins except by an administrator.
    Closed,
}

impl JoinPolicy {
    /// The spelling used in files and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            JoinPolicy::Open => "open",
            JoinPolicy::OwnerApproval => "owner_approval",
            JoinPolicy::Closed => "closed",
        }
    }
}

/// Whether a group is listed publicly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Visible to everyone.
    Public,
    /// Visible to members only.
    #[default]
    Private,
}

impl Visibility {
    /// The spelling used in files and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// A group of users: a team, a distribution list, a security group.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Unique id.
    pub id: String,
    /// The id in the identity system it came from (Okta, Azure AD...), if different from `id`.
    pub external_id: Option<String>,
    /// The directory source (identity system) this group came from; matched against `integration_id`.
    pub source: Option<String>,
    /// Display name.
    pub name: String,
    /// Member user ids.
    pub members: Vec<UserId>,
    /// Owner user ids (approve joins under the trust models).
    pub owners: Vec<UserId>,
    /// Distribution-list manager user ids.
    pub managers: Vec<UserId>,
    /// How people join.
    pub join_policy: JoinPolicy,
    /// Whether members manage membership themselves.
    pub self_managed: bool,
    /// Public or private.
    pub visibility: Visibility,
    /// A parent group id (MOST_RESTRICTIVE auto-approves members of the parent).
    pub parent: Option<String>,
    /// Anything else, readable from rules as `group.custom_attributes.<key>`.
    pub custom_attributes: BTreeMap<String, AttrValue>,
}

/// What kind of thing a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// An application (Salesforce, a production database).
    #[default]
    App,
    /// Membership of a directory group.
    Group,
    /// A data product or asset.
    Data,
    /// A privileged action.
    Action,
}

impl ResourceKind {
    /// The spelling used in files and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::App => "app",
            ResourceKind::Group => "group",
            ResourceKind::Data => "data",
            ResourceKind::Action => "action",
        }
    }
}

/// Whether a resource's workflow governs its descendants (the review-flows seed's configuration modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReviewMode {
    /// This resource's workflow applies to every descendant, overriding theirs ("in the request form").
    Central,
    /// Descendants use their own workflow and inherit this one only when they have none.
    #[default]
    Delegate,
}

/// A workflow as a resource or role names it: a name from the policies, or an expression written inline.
#[derive(Debug, Clone)]
pub enum WorkflowRef {
    /// A named workflow (built-in or from the policy files).
    Named(Spanned<String>),
    /// An expression written in place.
    Inline(Box<Expr>),
}

impl WorkflowRef {
    /// A short description for plans and audit: the name, or `inline`.
    pub fn describe(&self) -> String {
        match self {
            WorkflowRef::Named(n) => n.value.clone(),
            WorkflowRef::Inline(_) => "inline".to_owned(),
        }
    }
}

/// A role one can ask for within a resource.
#[derive(Debug, Clone)]
pub struct Role {
    /// The role's canonical name (`role_canonical_name_to_provision` in rules).
    pub name: String,
    /// The role's own workflow, which wins over everything else.
    pub workflow: Option<WorkflowRef>,
}

/// Something one can ask access to.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Unique id.
    pub id: String,
    /// What it is.
    pub kind: ResourceKind,
    /// Display name (`app_entity.name` in rules).
    pub name: String,
    /// Administrators (groups expanded to their members).
    pub admins: Vec<UserId>,
    /// Owners (groups expanded to their members).
    pub owners: Vec<UserId>,
    /// Roles one can ask for; empty means the resource has no roles.
    pub roles: Vec<Role>,
    /// The resource's own workflow.
    pub workflow: Option<WorkflowRef>,
    /// Risk 0..4, mapped to a workflow by `[policies.risk]` when nothing else applies; inherited from the parent.
    pub risk: Option<u8>,
    /// Parent resource id; workflows are inherited down the hierarchy.
    pub parent: Option<String>,
    /// How this resource's workflow relates to its descendants'.
    pub review_mode: ReviewMode,
    /// For kind `group`: the directory group it grants membership of.
    pub group: Option<String>,
    /// Per-resource permissions: permission name -> holders (groups expanded).
    pub permissions: BTreeMap<String, Vec<UserId>>,
    /// The longest grant this resource allows.
    pub max_duration: Option<Duration>,
    /// Anything else, readable from rules as `custom_attributes.<key>`.
    pub custom_attributes: BTreeMap<String, AttrValue>,
}

impl Resource {
    /// The role named `name`, if the resource has it.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// The whole directory, validated, with indexes for the lookups the engine makes.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<User>,
    groups: Vec<Group>,
    resources: Vec<Resource>,
    /// id or email (lower-cased) -> index in `users`.
    user_index: HashMap<String, usize>,
    /// Slack member id -> index in `users`.
    slack_index: HashMap<String, usize>,
    /// Discord user id -> index in `users`.
    discord_index: HashMap<String, usize>,
    /// id or external id -> index in `groups`.
    group_index: HashMap<String, usize>,
    /// id -> index in `resources`.
    resource_index: HashMap<String, usize>,
    /// Global permission name -> holders, in directory order.
    permission_holders: HashMap<String, Vec<UserId>>,
    /// References to people or groups not provisioned yet (only with `[directory] scim`), each naming the file,
    /// line and column: `signoff check` and `serve` print them.
    warnings: Vec<crate::diag::Diagnostic>,
}

impl Directory {
    /// Builds the indexes over already-validated parts. Used by the loader.
    pub(crate) fn from_parts(users: Vec<User>, groups: Vec<Group>, resources: Vec<Resource>) -> Self {
        let mut user_index = HashMap::with_capacity(users.len() * 2);
        let mut slack_index = HashMap::new();
        let mut discord_index = HashMap::new();
        let mut permission_holders: HashMap<String, Vec<UserId>> = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            user_index.insert(u.id.to_lowercase(), i);
            user_index.entry(u.email.to_lowercase()).or_insert(i);
            if let Some(s) = &u.slack_id {
                slack_index.insert(s.clone(), i);
            }
            if let Some(d) = &u.discord_id {
                discord_index.insert(d.clone(), i);
            }
            for p in &u.permissions {
                permission_holders.entry(p.clone()).or_default().push(u.id.clone());
            }
        }
        let mut group_index = HashMap::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            group_index.insert(g.id.clone(), i);
            if let Some(e) = &g.external_id {
                group_index.entry(e.clone()).or_insert(i);
            }
        }
        let resource_index = resources.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        Directory {
            users,
            groups,
            resources,
            user_index,
            slack_index,
            discord_index,
            group_index,
            resource_index,
            permission_holders,
            warnings: Vec::new(),
        }
    }

    /// Adds warnings found while checking the policies against this directory (workflows naming someone not
    /// provisioned yet).
    pub(crate) fn add_warnings(&mut self, more: Vec<crate::diag::Diagnostic>) {
        self.warnings.extend(more);
    }

    /// References to people or groups that do not exist yet (see [`load_documents_with`]).
    pub fn warnings(&self) -> &[crate::diag::Diagnostic] {
        &self.warnings
    }

    /// Every user, in file order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Every group, in file order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Every resource, in file order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Every resource, mutably: the catalog resolves user references inside inline workflows.
    pub(crate) fn resources_mut(&mut self) -> impl Iterator<Item = &mut Resource> {
        self.resources.iter_mut()
    }

    /// The user with this id or email (case-insensitive).
    pub fn user(&self, id_or_email: &str) -> Option<&User> {
        self.user_index
            .get(id_or_email)
            .or_else(|| self.user_index.get(&id_or_email.to_lowercase()))
            .map(|&i| &self.users[i])
    }

    /// The user with this Slack member id.
    pub fn user_by_slack(&self, slack_id: &str) -> Option<&User> {
        self.slack_index.get(slack_id).map(|&i| &self.users[i])
    }

    /// The user with this Discord user id.
    pub fn user_by_discord(&self, discord_id: &str) -> Option<&User> {
        self.discord_index.get(discord_id).map(|&i| &self.users[i])
    }

    /// The display name of a user id, or the id itself when unknown.
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.user(id).map_or(id, |u| u.name.as_str())
    }

    /// The group with this id or external id.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.group_index.get(id).map(|&i| &self.groups[i])
    }

    /// The resource with this id.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.resource_index.get(id).map(|&i| &self.resources[i])
    }

    /// The resource's ancestors, nearest first. Cycles were rejected at load, so this ends.
    pub fn ancestors<'a>(&'a self, resource: &'a Resource) -> impl Iterator<Item = &'a Resource> + 'a {
        let mut next = resource.parent.as_deref();
        std::iter::from_fn(move || {
            let r = self.resource(next?)?;
            next = r.parent.as_deref();
            Some(r)
        })
    }

    /// The directory group a resource of kind `group` grants membership of.
    pub fn group_of(&self, resource: &Resource) -> Option<&Group> {
        if resource.kind != ResourceKind::Group {
            return None;
        }
        self.group(resource.group.as_deref().unwrap_or(&resource.id))
    }

    /// Holders of a global permission (e.g. `Security`), in directory order.
    pub fn permission_holders(&self, permission: &str) -> &[UserId] {
        self.permission_holders.get(permission).map_or(&[], Vec::as_slice)
    }

    /// The user's manager chain, nearest first. Cycles were rejected at load, so this ends.
    pub fn manager_chain<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a User> + 'a {
        let mut next = self.user(user).and_then(|u| u.manager.as_deref());
        std::iter::from_fn(move || {
            let m = self.user(next?)?;
            next = m.manager.as_deref();
            Some(m)
        })
    }
}
