//! Who a leaf asks: the people an expression names, less those who cannot be asked now, and why.

use crate::catalog::Catalog;
use crate::directory::{AttrValue, Resource, User, UserId};
use crate::policy::expr::{ExprKind, GroupRole, ManagerOf, PermissionScope};
use crate::time::Timestamp;

use super::state::ItemSpec;

/// The outcome of looking up a leaf's people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Who the expression names, deduplicated, in directory order.
    pub named: Vec<UserId>,
    /// Why nobody is named, when `named` is empty ("Ana Diaz has no manager").
    pub why_none: Option<String>,
}

/// The people `kind` names for this item. Does not filter by availability or self-approval.
pub fn named(cat: &Catalog, spec: &ItemSpec, kind: &ExprKind, now: Timestamp) -> Candidates {
    let dir = &cat.directory;
    let resource = dir.resource(&spec.resource);
    let subject = |of: ManagerOf| match of {
        ManagerOf::Beneficiary => spec.beneficiary.as_str(),
        ManagerOf::Requester | ManagerOf::RequesterChain => spec.requester.as_str(),
    };
    let mut why_none = None;
    let mut people: Vec<UserId> = match kind {
        ExprKind::UserConstant { user } => vec![user.clone()],
        ExprKind::UserList { users, .. } => users.clone(),
        ExprKind::Manager { of: ManagerOf::RequesterChain } => {
            let found = dir
                .manager_chain(&spec.requester)
                .find(|m| m.is_available(now) && m.id != spec.requester && m.id != spec.beneficiary)
                .map(|m| m.id.clone());
            match found {
                Some(m) => vec![m],
                None => {
                    why_none = Some(format!("nobody above {} can be asked now", dir.name_of(&spec.requester)));
                    vec![]
                }
            }
        }
        ExprKind::Manager { of } => match dir.user(subject(*of)).and_then(|u| u.manager.clone()) {
            Some(m) => vec![m],
            None => {
                why_none = Some(format!("{} has no manager", dir.name_of(subject(*of))));
                vec![]
            }
        },
        ExprKind::SkipLevelManager { levels, of } => {
            let chain: Vec<&User> = dir.manager_chain(subject(*of)).collect();
            match chain.get((*levels as usize).saturating_sub(1)) {
                Some(m) => vec![m.id.clone()],
                None => {
                    why_none = Some(format!(
                        "{} has only {} manager(s) above them, fewer than {levels}",
                        dir.name_of(subject(*of)),
                        chain.len()
                    ));
                    vec![]
                }
            }
        }
        ExprKind::AppAdmin { .. } => match resource {
            Some(r) => {
                // A resource without admins of its own inherits its nearest ancestor's.
                let found = std::iter::once(r)
                    .chain(dir.ancestors(r))
                    .find(|x| !x.admins.is_empty())
                    .map(|x| x.admins.clone())
                    .unwrap_or_default();
                if found.is_empty() {
                    why_none = Some(format!("{} has no admins", r.name));
                }
                found
            }
            None => vec![],
        },
        ExprKind::GroupOwner { .. } => match resource {
            Some(r) => match dir.group_of(r) {
                Some(g) => {
                    if g.owners.is_empty() {
                        why_none = Some(format!("group {} has no owners", g.name));
                    }
                    g.owners.clone()
                }
                None => {
                    if r.owners.is_empty() {
                        why_none = Some(format!("{} is not a group and has no owners", r.name));
                    }
                    r.owners.clone()
                }
            },
            None => vec![],
        },
        ExprKind::GroupManager { .. } => match resource.and_then(|r| dir.group_of(r)) {
            Some(g) => {
                if g.managers.is_empty() {
                    why_none = Some(format!("group {} has no managers", g.name));
                }
                g.managers.clone()
            }
            None => {
                why_none = Some("the requested resource is not a group".to_owned());
                vec![]
            }
        },
        ExprKind::ParallelGroup { group, role, .. } => match dir.group(&group.external_id) {
            Some(g) => {
                let list = match role {
                    GroupRole::Member => &g.members,
                    GroupRole::Owner => &g.owners,
                };
                if list.is_empty() {
                    why_none = Some(format!(
                        "group {} has no {}",
                        g.name,
                        if *role == GroupRole::Owner { "owners" } else { "members" }
                    ));
                }
                list.clone()
            }
            None => {
                why_none = Some(format!("group `{}` is not in the directory", group.external_id));
                vec![]
            }
        },
        ExprKind::GradeRange { min, max, .. } => {
            let v: Vec<UserId> = dir
                .users()
                .iter()
                .filter(|u| u.grade.is_some_and(|g| min.is_none_or(|lo| g >= lo) && max.is_none_or(|hi| g <= hi)))
                .map(|u| u.id.clone())
                .collect();
            if v.is_empty() {
                why_none = Some(format!("nobody has a grade in {}", grade_range_text(*min, *max)));
            }
            v
        }
        ExprKind::Attribute { attribute, value, .. } => {
            let v: Vec<UserId> = dir
                .users()
                .iter()
                .filter(|u| u.custom_attributes.get(attribute).is_some_and(|a| attr_matches(a, value)))
                .map(|u| u.id.clone())
                .collect();
            if v.is_empty() {
                why_none = Some(format!("nobody has `{attribute}` = `{value}`"));
            }
            v
        }
        ExprKind::Permission { permission, scope, .. } => {
            let on_resource = || -> Vec<UserId> {
                resource
                    .map(|r| {
                        std::iter::once(r)
                            .chain(dir.ancestors(r))
                            .find_map(|x: &Resource| x.permissions.get(permission).filter(|h| !h.is_empty()).cloned())
                            .unwrap_or_default()
                    })
                    .unwrap_or_default()
            };
            let v = match scope {
                PermissionScope::Global => dir.permission_holders(permission).to_vec(),
                PermissionScope::Resource => on_resource(),
                PermissionScope::Any => {
                    let r = on_resource();
                    if r.is_empty() { dir.permission_holders(permission).to_vec() } else { r }
                }
            };
            if v.is_empty() {
                why_none = Some(format!("nobody holds the permission `{permission}`"));
            }
            v
        }
        // Not leaves: they name nobody.
        ExprKind::AutoApprove { .. }
        | ExprKind::AutoDeny { .. }
        | ExprKind::Reference { .. }
        | ExprKind::Sequential { .. }
        | ExprKind::Parallel { .. }
        | ExprKind::Condition { .. } => vec![],
    };
    let mut seen = std::collections::HashSet::with_capacity(people.len());
    people.retain(|p| seen.insert(p.clone()));
    Candidates { named: people, why_none }
}

/// How many approvals a leaf needs.
pub fn required(kind: &ExprKind) -> u32 {
    match kind {
        ExprKind::AppAdmin { number_required }
        | ExprKind::GroupOwner { number_required }
        | ExprKind::GroupManager { number_required }
        | ExprKind::ParallelGroup { number_required, .. }
        | ExprKind::UserList { number_required, .. }
        | ExprKind::GradeRange { number_required, .. }
        | ExprKind::Attribute { number_required, .. }
        | ExprKind::Permission { number_required, .. } => (*number_required).max(1),
        _ => 1,
    }
}

/// A human label for a leaf: `manager of Ana Diaz`, `admins of Salesforce`, `members of IT Security`.
pub fn label(cat: &Catalog, spec: &ItemSpec, kind: &ExprKind) -> String {
    let dir = &cat.directory;
    let resource = dir.resource(&spec.resource);
    let rname = resource.map_or(spec.resource.as_str(), |r| r.name.as_str());
    let of = |o: &ManagerOf| match o {
        ManagerOf::Beneficiary => dir.name_of(&spec.beneficiary),
        ManagerOf::Requester | ManagerOf::RequesterChain => dir.name_of(&spec.requester),
    };
    let gname = || resource.and_then(|r| dir.group_of(r)).map_or_else(|| rname.to_owned(), |g| g.name.clone());
    match kind {
        ExprKind::UserConstant { user } => dir.name_of(user).to_owned(),
        ExprKind::UserList { users, number_required } => {
            format!("{number_required} of {}", users.iter().map(|u| dir.name_of(u)).collect::<Vec<_>>().join(", "))
        }
        ExprKind::Manager { of: o } => format!("manager of {}", of(o)),
        ExprKind::SkipLevelManager { levels, of: o } => format!("level-{levels} manager of {}", of(o)),
        ExprKind::AppAdmin { .. } => format!("admins of {rname}"),
        ExprKind::GroupOwner { .. } => format!("owners of {}", gname()),
        ExprKind::GroupManager { .. } => format!("managers of {}", gname()),
        ExprKind::ParallelGroup { group, role, .. } => {
            let name = dir.group(&group.external_id).map_or(group.external_id.as_str(), |g| g.name.as_str());
            match role {
                GroupRole::Member => format!("members of {name}"),
                GroupRole::Owner => format!("owners of {name}"),
            }
        }
        ExprKind::GradeRange { min, max, .. } => format!("grades {}", grade_range_text(*min, *max)),
        ExprKind::Attribute { attribute, value, .. } => format!("people with {attribute} = {value}"),
        ExprKind::Permission { permission, .. } => format!("holders of {permission}"),
        ExprKind::AutoApprove { .. } => "automatic approval".to_owned(),
        ExprKind::AutoDeny { .. } => "automatic denial".to_owned(),
        ExprKind::Reference { name, .. } => name.clone(),
        ExprKind::Sequential { .. } => "in sequence".to_owned(),
        ExprKind::Parallel { expressions, number_required } => {
            format!("{} of {} in parallel", number_required.unwrap_or(expressions.len() as u32), expressions.len())
        }
        ExprKind::Condition { .. } => "condition".to_owned(),
    }
}

fn grade_range_text(min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        (Some(a), None) => format!("{a} and above"),
        (None, Some(b)) => format!("up to {b}"),
        (None, None) => "any".to_owned(),
    }
}

/// Whether an attribute value equals `want`, or contains it when it is a list. Numbers compare by their
/// text so that `cost_center: 8000` matches `value: "8000"`.
fn attr_matches(a: &AttrValue, want: &str) -> bool {
    match a {
        AttrValue::Str(s) => s == want,
        AttrValue::Num(n) => want.parse::<f64>().is_ok_and(|w| w == *n),
        AttrValue::Bool(b) => want.parse::<bool>().is_ok_and(|w| w == *b),
        AttrValue::List(items) => items.iter().any(|i| attr_matches(i, want)),
        AttrValue::Null => false,
    }
}

/// Why `user` cannot be asked at `now`, if they cannot.
pub fn unavailable(cat: &Catalog, user: &str, now: Timestamp) -> Option<String> {
    match cat.directory.user(user) {
        Some(u) => u.unavailable_reason(now),
        None => Some("not in the directory".to_owned()),
    }
}
