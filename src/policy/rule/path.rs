//! The attributes a rule can read, and how each is spelled in rule text.
//!
//! Names are resolved once, at parse time, into these enums: the evaluator never compares attribute names,
//! and a typo is a load-time error with a suggestion instead of a condition that is silently never true.

use std::fmt;

/// Whose user attributes a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// The person who asked: `requestor`.
    Requestor,
    /// The n-th person the access is for, 0-based: `users_requested_for[n]`. An index past the end of the
    /// request's list reads as a person whose every attribute is null.
    RequestedFor(usize),
}

/// An attribute of a person in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserField {
    /// `id`: the stable user id (usually the email).
    Id,
    /// `email_addr`, also written `email`.
    Email,
    /// `name`: display name.
    Name,
    /// `manager`: the manager's user id.
    Manager,
    /// `manager_email`: the manager's email.
    ManagerEmail,
    /// `department`.
    Department,
    /// `title`, also written `role`: the job title. The seed's table calls it `role` ("Software Engineer"),
    /// so both spellings read the same attribute; `title` is the canonical one because `role` is easily
    /// confused with the requested role (`role_canonical_name_to_provision`).
    Title,
    /// `grade`: a number.
    Grade,
    /// `work_status`: FULL_TIME, PART_TIME, CONTRACTOR, ...
    WorkStatus,
    /// `is_full_time_employee`: a boolean.
    IsFullTimeEmployee,
    /// `location`.
    Location,
    /// `is_active`: a boolean.
    IsActive,
    /// `is_out_of_office`: a boolean.
    IsOutOfOffice,
    /// `permissions`: a list of global roles (Helpdesk, Usermanager, Security, ...).
    Permissions,
    /// `groups`: a list of the ids of the groups the person belongs to.
    Groups,
    /// `slack_id`.
    SlackId,
    /// `discord_id`.
    DiscordId,
    /// `custom_attributes.<key>`: any key of the person's custom attribute map.
    Custom(String),
}

/// Every spelling of a fixed user attribute, canonical names first, for lookups and suggestions.
const USER_NAMES: &[&str] = &[
    "id",
    "email_addr",
    "name",
    "manager",
    "manager_email",
    "department",
    "title",
    "grade",
    "work_status",
    "is_full_time_employee",
    "location",
    "is_active",
    "is_out_of_office",
    "permissions",
    "groups",
    "slack_id",
    "discord_id",
    "custom_attributes",
    // aliases
    "email",
    "role",
];

impl UserField {
    /// The fixed attribute spelled `name` (canonical name or alias). `custom_attributes` is not in here: it
    /// takes a key and the parser handles it.
    pub fn from_name(name: &str) -> Option<UserField> {
        Some(match name {
            "id" => UserField::Id,
            "email_addr" | "email" => UserField::Email,
            "name" => UserField::Name,
            "manager" => UserField::Manager,
            "manager_email" => UserField::ManagerEmail,
            "department" => UserField::Department,
            "title" | "role" => UserField::Title,
            "grade" => UserField::Grade,
            "work_status" => UserField::WorkStatus,
            "is_full_time_employee" => UserField::IsFullTimeEmployee,
            "location" => UserField::Location,
            "is_active" => UserField::IsActive,
            "is_out_of_office" => UserField::IsOutOfOffice,
            "permissions" => UserField::Permissions,
            "groups" => UserField::Groups,
            "slack_id" => UserField::SlackId,
            "discord_id" => UserField::DiscordId,
            _ => return None,
        })
    }

    /// Every name a user attribute may be written with (aliases included, `custom_attributes` too).
    pub fn names() -> &'static [&'static str] {
        USER_NAMES
    }

    /// The canonical name, or `None` for a custom attribute.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            UserField::Id => "id",
            UserField::Email => "email_addr",
            UserField::Name => "name",
            UserField::Manager => "manager",
            UserField::ManagerEmail => "manager_email",
            UserField::Department => "department",
            UserField::Title => "title",
            UserField::Grade => "grade",
            UserField::WorkStatus => "work_status",
            UserField::IsFullTimeEmployee => "is_full_time_employee",
            UserField::Location => "location",
            UserField::IsActive => "is_active",
            UserField::IsOutOfOffice => "is_out_of_office",
            UserField::Permissions => "permissions",
            UserField::Groups => "groups",
            UserField::SlackId => "slack_id",
            UserField::DiscordId => "discord_id",
            UserField::Custom(_) => return None,
        })
    }
}

impl fmt::Display for UserField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserField::Custom(key) => write!(f, "custom_attributes.{key}"),
            other => f.write_str(other.name().unwrap_or_default()),
        }
    }
}

/// An attribute of the item being requested, under `approval_request.approvable_entity.app_entity.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestField {
    /// `name`: the resource's display name (`Salesforce`).
    Name,
    /// `id`: the resource's id.
    Id,
    /// `kind`: app, group, data or action.
    Kind,
    /// `risk`: the resource's risk, a number 0..4.
    Risk,
    /// `role_canonical_name_to_provision`: the requested role, or null when none was asked for.
    Role,
    /// `duration_seconds`: how long the access is asked for, or null for "no end".
    DurationSeconds,
    /// `justification`: the requester's reason.
    Justification,
}

const REQUEST_FIELDS: &[(&str, RequestField)] = &[
    ("name", RequestField::Name),
    ("id", RequestField::Id),
    ("kind", RequestField::Kind),
    ("risk", RequestField::Risk),
    ("role_canonical_name_to_provision", RequestField::Role),
    ("duration_seconds", RequestField::DurationSeconds),
    ("justification", RequestField::Justification),
];

impl RequestField {
    /// The attribute spelled `name`.
    pub fn from_name(name: &str) -> Option<RequestField> {
        REQUEST_FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Every request attribute name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        REQUEST_FIELDS.iter().map(|(n, _)| *n)
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        REQUEST_FIELDS.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| *n)
    }
}

impl fmt::Display for RequestField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An attribute of the requested group (for trust models whose resource is a directory group).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupField {
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `join_policy`: open, owner_approval or closed.
    JoinPolicy,
    /// `self_managed`: a boolean.
    SelfManaged,
    /// `visibility`: public or private.
    Visibility,
    /// `parent`: the parent group's id, or null.
    Parent,
    /// `members`: a list of user ids.
    Members,
    /// `owners`: a list of user ids.
    Owners,
    /// `managers`: a list of user ids (a distribution list's managers).
    Managers,
    /// `custom_attributes.<key>`.
    Custom(String),
}

const GROUP_NAMES: &[&str] = &[
    "id",
    "name",
    "join_policy",
    "self_managed",
    "visibility",
    "parent",
    "members",
    "owners",
    "managers",
    "custom_attributes",
];

impl GroupField {
    /// The fixed attribute spelled `name` (`custom_attributes` is handled by the parser).
    pub fn from_name(name: &str) -> Option<GroupField> {
        Some(match name {
            "id" => GroupField::Id,
            "name" => GroupField::Name,
            "join_policy" => GroupField::JoinPolicy,
            "self_managed" => GroupField::SelfManaged,
            "visibility" => GroupField::Visibility,
            "parent" => GroupField::Parent,
            "members" => GroupField::Members,
            "owners" => GroupField::Owners,
            "managers" => GroupField::Managers,
            _ => return None,
        })
    }

    /// Every group attribute name, `custom_attributes` included.
    pub fn names() -> &'static [&'static str] {
        GROUP_NAMES
    }

    /// The canonical name, or `None` for a custom attribute.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            GroupField::Id => "id",
            GroupField::Name => "name",
            GroupField::JoinPolicy => "join_policy",
            GroupField::SelfManaged => "self_managed",
            GroupField::Visibility => "visibility",
            GroupField::Parent => "parent",
            GroupField::Members => "members",
            GroupField::Owners => "owners",
            GroupField::Managers => "managers",
            GroupField::Custom(_) => return None,
        })
    }
}

impl fmt::Display for GroupField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupField::Custom(key) => write!(f, "custom_attributes.{key}"),
            other => f.write_str(other.name().unwrap_or_default()),
        }
    }
}

/// One attribute a rule reads. `Display` prints its canonical path text, which parses back to the same path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrPath {
    /// `requestor.<field>` or `users_requested_for[i].<field>`.
    User(Subject, UserField),
    /// `approval_request.approvable_entity.app_entity.<field>`.
    Request(RequestField),
    /// `group.<field>`.
    Group(GroupField),
    /// `custom_attributes.<key>` at the top level: the requested resource's custom attributes.
    ResourceCustom(String),
}

/// The prefix every request attribute is written under.
pub(super) const REQUEST_PREFIX: &str = "approval_request.approvable_entity.app_entity";

/// The names a path may start with, for suggestions.
pub(super) const ROOTS: &[&str] =
    &["requestor", "users_requested_for", "approval_request", "group", "custom_attributes"];

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrPath::User(Subject::Requestor, field) => write!(f, "requestor.{field}"),
            AttrPath::User(Subject::RequestedFor(i), field) => {
                write!(f, "users_requested_for[{i}].{field}")
            }
            AttrPath::Request(field) => write!(f, "{REQUEST_PREFIX}.{field}"),
            AttrPath::Group(field) => write!(f, "group.{field}"),
            AttrPath::ResourceCustom(key) => write!(f, "custom_attributes.{key}"),
        }
    }
}

/// Whether `c` may appear in a custom attribute key: letters, digits, `_` and `-` (keys such as
/// `cost-center` or `2fa_enrolled` come from HR systems as they are).
pub(super) fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}
