//! A request and its items: one requester asks for one or more roles of a resource for one or more people;
//! each (person, resource, role) becomes its own item with its own approval and outcome (the
//! approval-rounds seed: "a separate subprocess is always run for every role").

use crate::directory::UserId;
use crate::engine::ItemSpec;
use crate::time::Duration;

/// What someone asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// The request's id (runtime-assigned).
    pub id: String,
    /// Who asks.
    pub requester: UserId,
    /// The resource.
    pub resource: String,
    /// Roles asked for; empty means the resource itself, with no role.
    pub roles: Vec<String>,
    /// People the access is for; empty means the requester.
    pub beneficiaries: Vec<UserId>,
    /// Why.
    pub justification: Option<String>,
    /// For how long; `None` for no end.
    pub duration: Option<Duration>,
}

impl RequestSpec {
    /// One item per (person, role), in the order given: people outer, roles inner. Item ids are the
    /// request id with a 1-based suffix, so they are stable, readable and safe in URLs (`req_7-2`).
    pub fn items(&self) -> Vec<ItemSpec> {
        let people: Vec<UserId> = if self.beneficiaries.is_empty() {
            vec![self.requester.clone()]
        } else {
            let mut seen = Vec::with_capacity(self.beneficiaries.len());
            for b in &self.beneficiaries {
                if !seen.contains(b) {
                    seen.push(b.clone());
                }
            }
            seen
        };
        let roles: Vec<Option<String>> = if self.roles.is_empty() {
            vec![None]
        } else {
            let mut seen: Vec<Option<String>> = Vec::with_capacity(self.roles.len());
            for r in &self.roles {
                if !seen.iter().any(|s| s.as_deref() == Some(r.as_str())) {
                    seen.push(Some(r.clone()));
                }
            }
            seen
        };
        let mut out = Vec::with_capacity(people.len() * roles.len());
        for person in &people {
            for role in &roles {
                out.push(ItemSpec {
                    request: self.id.clone(),
                    item: format!("{}-{}", self.id, out.len() + 1),
                    requester: self.requester.clone(),
                    beneficiary: person.clone(),
                    co_beneficiaries: people.iter().filter(|p| *p != person).cloned().collect(),
                    resource: self.resource.clone(),
                    role: role.clone(),
                    justification: self.justification.clone(),
                    duration: self.duration,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(beneficiaries: &[&str], roles: &[&str]) -> RequestSpec {
        RequestSpec {
            id: "r1".to_owned(),
            requester: "ana".to_owned(),
            resource: "db".to_owned(),
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
            beneficiaries: beneficiaries.iter().map(|s| (*s).to_owned()).collect(),
            justification: None,
            duration: None,
        }
    }

    #[test]
    fn a_request_for_nobody_in_particular_is_for_the_requester() {
        let items = spec(&[], &[]).items();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].beneficiary, "ana");
        assert_eq!(items[0].role, None);
        assert_eq!(items[0].item, "r1-1");
    }

    #[test]
    fn several_people_and_roles_split_into_one_item_each() {
        let items = spec(&["bo", "cy", "bo"], &["read", "write"]).items();
        let pairs: Vec<(&str, Option<&str>)> =
            items.iter().map(|i| (i.beneficiary.as_str(), i.role.as_deref())).collect();
        assert_eq!(pairs, [("bo", Some("read")), ("bo", Some("write")), ("cy", Some("read")), ("cy", Some("write"))]);
        assert_eq!(items[0].co_beneficiaries, ["cy"]);
        assert_eq!(items[3].item, "r1-4");
    }
}
