//! The provisioned people as one directory document, in the file format (DESIGN section 2).
//!
//! The document must always load: one bad provisioning write must not stop every replica from taking the next
//! change. So what the loader would refuse is settled here, deterministically (the same rows always give the
//! same text, hence the same catalog snapshot id): a manager that is neither provisioned nor in the directory
//! files is left out by the loader (the user has no manager until there is one), a manager link that would close a cycle is dropped, an email another user already
//! has is left out (the id stands in), a group whose directory id another group already has is skipped, and a
//! member that is not a provisioned user is left out. Each is logged at the refresh.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::Stored;
use crate::scim::map::{group_fields, user_fields};

/// The document's text, and what had to be left out (for the log).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// JSON in the directory file format, `source: scim`.
    pub text: String,
    /// One line per thing left out, naming the user or group.
    pub left_out: Vec<String>,
}

/// Renders `users` and `groups` (in any order) as a directory document.
pub fn render(users: &[Stored], groups: &[Stored]) -> Rendered {
    let mut left_out = Vec::new();
    let mut fields: Vec<(String, crate::scim::map::UserFields)> =
        users.iter().map(|s| (s.id.clone(), user_fields(&s.resource))).collect();
    fields.sort_by(|a, b| a.1.user_name.to_lowercase().cmp(&b.1.user_name.to_lowercase()).then(a.0.cmp(&b.0)));

    // SCIM id, userName and externalId -> userName: `manager.value` is the manager's SCIM id (DESIGN 7.5), but
    // some providers send their own id or the login; all three are tried.
    let mut by_ref: HashMap<String, String> = HashMap::new();
    for (id, f) in &fields {
        by_ref.insert(id.clone(), f.user_name.clone());
    }
    for (_, f) in &fields {
        by_ref.entry(f.user_name.to_lowercase()).or_insert_with(|| f.user_name.clone());
        if let Some(e) = &f.external_id {
            by_ref.entry(e.clone()).or_insert_with(|| f.user_name.clone());
        }
    }
    let resolve = |r: &str| by_ref.get(r).or_else(|| by_ref.get(&r.to_lowercase())).cloned();

    let mut manager: BTreeMap<String, String> = BTreeMap::new();
    for (_, f) in &fields {
        if let Some(m) = &f.manager_scim_id {
            match resolve(m) {
                Some(name) if name.to_lowercase() != f.user_name.to_lowercase() => {
                    manager.insert(f.user_name.to_lowercase(), name);
                }
                Some(_) => left_out.push(format!("user `{}`: is named as their own manager", f.user_name)),
                // Perhaps a person of the directory files (by id or email): the loader keeps the reference when
                // one is, and drops it otherwise (`RawDirectory::override_with`).
                None => {
                    manager.insert(f.user_name.to_lowercase(), m.clone());
                }
            }
        }
    }
    // Cycles: walk each chain in order; a link back into the chain being walked is dropped.
    for (_, f) in &fields {
        let start = f.user_name.to_lowercase();
        let mut seen = HashSet::from([start.clone()]);
        let mut at = start;
        while let Some(next) = manager.get(&at).map(|m| m.to_lowercase()) {
            if !seen.insert(next.clone()) {
                manager.remove(&at);
                left_out.push(format!("user `{at}`: manager `{next}` would close a cycle"));
                break;
            }
            at = next;
        }
    }

    let mut taken: HashSet<String> = fields.iter().map(|(_, f)| f.user_name.to_lowercase()).collect();
    let mut out_users = Vec::with_capacity(fields.len());
    for (_, f) in &fields {
        let mut u = Map::new();
        u.insert("id".into(), json!(f.user_name));
        if let Some(email) = &f.email {
            let key = email.to_lowercase();
            if key == f.user_name.to_lowercase() || taken.insert(key) {
                u.insert("email".into(), json!(email));
            } else {
                left_out.push(format!("user `{}`: email `{email}` belongs to another user", f.user_name));
            }
        }
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
                u.insert(k.into(), json!(v));
            }
        };
        put("name", &f.name);
        put("department", &f.department);
        put("title", &f.title);
        put("work_status", &f.work_status);
        put("location", &f.location);
        put("slack_id", &f.slack_id);
        put("discord_id", &f.discord_id);
        if let Some(m) = manager.get(&f.user_name.to_lowercase()) {
            u.insert("manager".into(), json!(m));
        }
        if let Some(g) = f.grade {
            u.insert("grade".into(), json!(g));
        }
        if !f.permissions.is_empty() {
            u.insert("permissions".into(), json!(f.permissions));
        }
        u.insert("active".into(), json!(f.active));
        if let Some(t) = &f.out_of_office_until {
            if t.parse::<jiff::Timestamp>().is_ok() {
                u.insert("out_of_office_until".into(), json!(t));
            } else {
                left_out.push(format!("user `{}`: outOfOfficeUntil `{t}` is not a date-time", f.user_name));
            }
        }
        if let Some(n) = &f.employee_number {
            u.insert("custom_attributes".into(), json!({ "employee_number": n }));
        }
        out_users.push(Value::Object(u));
    }

    let mut gfields: Vec<(String, crate::scim::map::GroupFields)> =
        groups.iter().map(|s| (s.id.clone(), group_fields(&s.resource))).collect();
    gfields.sort_by(|a, b| a.1.directory_id.cmp(&b.1.directory_id).then(a.0.cmp(&b.0)));
    let mut group_ids = HashSet::new();
    let mut out_groups = Vec::with_capacity(gfields.len());
    for (_, g) in &gfields {
        if g.directory_id.trim().is_empty() || !group_ids.insert(g.directory_id.clone()) {
            left_out.push(format!("group `{}`: another group has this id", g.directory_id));
            continue;
        }
        let mut members = Vec::with_capacity(g.member_ids.len());
        let mut seen = HashSet::new();
        for m in &g.member_ids {
            match by_ref.get(m) {
                Some(name) if seen.insert(name.clone()) => members.push(json!(name)),
                Some(_) => {}
                None => left_out.push(format!("group `{}`: member `{m}` is not a provisioned user", g.directory_id)),
            }
        }
        out_groups.push(json!({ "id": g.directory_id, "name": g.display_name, "members": members }));
    }
    let doc = json!({ "source": "scim", "users": out_users, "groups": out_groups });
    Rendered { text: serde_json::to_string_pretty(&doc).unwrap_or_default(), left_out }
}
