//! What `rule_v2` conditions read: the directory's view of the requester, the people the access is for,
//! the requested resource and role, and the requested group.

use std::borrow::Cow;

use crate::catalog::Catalog;
use crate::directory::{AttrValue, Group, Resource, User};
use crate::policy::rule::{Facts, GroupField, RequestField, Subject, UserField, Value};
use crate::time::Timestamp;

use super::state::ItemSpec;

/// The facts of one item, borrowed from the catalog.
///
/// `users_requested_for[0]` is the item's own beneficiary: a request for several people splits into one
/// item each, and a rule about "the person the access is for" must read that item's person. The request's
/// other beneficiaries follow from index 1.
pub struct RuleFacts<'a> {
    cat: &'a Catalog,
    spec: &'a ItemSpec,
    requester: Option<&'a User>,
    requested_for: Vec<Option<&'a User>>,
    resource: Option<&'a Resource>,
    group: Option<&'a Group>,
    now: Timestamp,
}

impl<'a> RuleFacts<'a> {
    /// The facts of `spec` at `now`.
    pub fn new(cat: &'a Catalog, spec: &'a ItemSpec, now: Timestamp) -> Self {
        let dir = &cat.directory;
        let resource = dir.resource(&spec.resource);
        let requested_for =
            std::iter::once(&spec.beneficiary).chain(spec.co_beneficiaries.iter()).map(|id| dir.user(id)).collect();
        RuleFacts {
            cat,
            spec,
            requester: dir.user(&spec.requester),
            requested_for,
            resource,
            group: resource.and_then(|r| dir.group_of(r)),
            now,
        }
    }
}

fn opt_str(s: &Option<String>) -> Value<'_> {
    s.as_deref().map_or(Value::Null, Value::str)
}

/// A directory attribute as a rule value; lists are copied, scalars borrowed.
pub(crate) fn attr(a: &AttrValue) -> Value<'_> {
    match a {
        AttrValue::Null => Value::Null,
        AttrValue::Bool(b) => Value::Bool(*b),
        AttrValue::Num(n) => Value::Num(*n),
        AttrValue::Str(s) => Value::Str(Cow::Borrowed(s)),
        AttrValue::List(items) => Value::List(items.iter().map(attr).collect()),
    }
}

impl Facts for RuleFacts<'_> {
    fn user(&self, who: Subject, field: &UserField) -> Value<'_> {
        let user = match who {
            Subject::Requestor => self.requester,
            Subject::RequestedFor(i) => self.requested_for.get(i).copied().flatten(),
        };
        let Some(u) = user else { return Value::Null };
        match field {
            UserField::Id => Value::str(&u.id),
            UserField::Email => Value::str(&u.email),
            UserField::Name => Value::str(&u.name),
            UserField::Manager => opt_str(&u.manager),
            UserField::ManagerEmail => u
                .manager
                .as_deref()
                .and_then(|m| self.cat.directory.user(m))
                .map_or(Value::Null, |m| Value::str(&m.email)),
            UserField::Department => opt_str(&u.department),
            UserField::Title => opt_str(&u.title),
            UserField::Grade => u.grade.map_or(Value::Null, |g| Value::Num(g as f64)),
            UserField::WorkStatus => opt_str(&u.work_status),
            UserField::IsFullTimeEmployee => Value::Bool(u.is_full_time_employee),
            UserField::Location => opt_str(&u.location),
            UserField::IsActive => Value::Bool(u.active),
            UserField::IsOutOfOffice => Value::Bool(u.out_of_office_until.is_some_and(|t| t > self.now)),
            UserField::Permissions => Value::Strs(&u.permissions),
            UserField::Groups => Value::Strs(&u.groups),
            UserField::SlackId => opt_str(&u.slack_id),
            UserField::DiscordId => opt_str(&u.discord_id),
            UserField::Custom(key) => u.custom_attributes.get(key).map_or(Value::Null, attr),
        }
    }

    fn request(&self, field: RequestField) -> Value<'_> {
        match field {
            RequestField::Name => self.resource.map_or(Value::Null, |r| Value::str(&r.name)),
            RequestField::Id => Value::str(&self.spec.resource),
            RequestField::Kind => self.resource.map_or(Value::Null, |r| Value::str(r.kind.as_str())),
            RequestField::Risk => self
                .resource
                .and_then(|r| std::iter::once(r).chain(self.cat.directory.ancestors(r)).find_map(|x| x.risk))
                .map_or(Value::Null, |r| Value::Num(f64::from(r))),
            RequestField::Role => opt_str(&self.spec.role),
            RequestField::DurationSeconds => self.spec.duration.map_or(Value::Null, |d| Value::Num(d.as_secs() as f64)),
            RequestField::Justification => opt_str(&self.spec.justification),
        }
    }

    fn group(&self, field: &GroupField) -> Value<'_> {
        let Some(g) = self.group else { return Value::Null };
        match field {
            GroupField::Id => Value::str(&g.id),
            GroupField::Name => Value::str(&g.name),
            GroupField::JoinPolicy => Value::str(g.join_policy.as_str()),
            GroupField::SelfManaged => Value::Bool(g.self_managed),
            GroupField::Visibility => Value::str(g.visibility.as_str()),
            GroupField::Parent => opt_str(&g.parent),
            GroupField::Members => Value::Strs(&g.members),
            GroupField::Owners => Value::Strs(&g.owners),
            GroupField::Managers => Value::Strs(&g.managers),
            GroupField::Custom(key) => g.custom_attributes.get(key).map_or(Value::Null, attr),
        }
    }

    fn resource_custom(&self, key: &str) -> Value<'_> {
        self.resource.and_then(|r| r.custom_attributes.get(key)).map_or(Value::Null, attr)
    }
}
