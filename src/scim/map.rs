//! What the directory reads from a stored SCIM resource (DESIGN 7.5), with no database in sight: the
//! directory integration turns these fields into `directory::User` and `directory::Group`, resolving the
//! SCIM ids (manager, members) to user ids itself.

use serde_json::Value;

use super::filter::get_ci;
use super::schema::{ENTERPRISE_USER_SCHEMA, SIGNOFF_USER_SCHEMA};

/// The directory's view of a SCIM User.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFields {
    /// `userName`: the directory user id.
    pub user_name: String,
    /// `externalId`: the identity provider's own id, kept for lookups and audit.
    pub external_id: Option<String>,
    /// The primary email's value, else the first email's.
    pub email: Option<String>,
    /// `name.formatted`, else `givenName familyName`, else `displayName`.
    pub name: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `active`; a User without it is active (Okta and Entra create users without saying so).
    pub active: bool,
    /// The enterprise extension's `manager.value`: the manager's SCIM id, not yet a user id.
    pub manager_scim_id: Option<String>,
    /// The enterprise extension's `department`.
    pub department: Option<String>,
    /// The enterprise extension's `employeeNumber`.
    pub employee_number: Option<String>,
    /// signoff's extension: Slack member id.
    pub slack_id: Option<String>,
    /// signoff's extension: Discord user id.
    pub discord_id: Option<String>,
    /// signoff's extension: grade level.
    pub grade: Option<i64>,
    /// signoff's extension: FULL_TIME, PART_TIME, CONTRACTOR, ...
    pub work_status: Option<String>,
    /// signoff's extension: office or city.
    pub location: Option<String>,
    /// signoff's extension: global permissions (Helpdesk, Security...).
    pub permissions: Vec<String>,
    /// signoff's extension: out of office until this RFC 3339 instant.
    pub out_of_office_until: Option<String>,
}

/// The directory's view of a SCIM Group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupFields {
    /// The directory group id: `externalId` when given, else `displayName` (DESIGN 7.5), so a policy can
    /// name the group by what the identity provider calls it.
    pub directory_id: String,
    /// `displayName`: the directory group's name.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The SCIM ids (`members[].value`) of the members, users or nested groups, in order, without repeats.
    pub member_ids: Vec<String>,
}

/// A non-empty string at `key` in `v`.
fn text(v: Option<&Value>, key: &str) -> Option<String> {
    v.and_then(|v| get_ci(v, key)).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

/// Reads the directory fields of a stored (normalized) SCIM User; tolerant of odd casing and missing parts.
pub fn user_fields(user: &Value) -> UserFields {
    let emails = get_ci(user, "emails").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let email_of = |e: &Value| text(Some(e), "value");
    let email = emails
        .iter()
        .find(|e| get_ci(e, "primary").is_some_and(|p| p == &Value::Bool(true)))
        .and_then(email_of)
        .or_else(|| emails.iter().find_map(email_of));
    let name_obj = get_ci(user, "name");
    let given_family: Vec<String> = ["givenName", "familyName"].iter().filter_map(|k| text(name_obj, k)).collect();
    let name = text(name_obj, "formatted")
        .or_else(|| (!given_family.is_empty()).then(|| given_family.join(" ")))
        .or_else(|| text(Some(user), "displayName"));
    let enterprise = get_ci(user, ENTERPRISE_USER_SCHEMA);
    let signoff = get_ci(user, SIGNOFF_USER_SCHEMA);
    let grade = signoff.and_then(|s| get_ci(s, "grade")).and_then(|g| match g {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let permissions = signoff
        .and_then(|s| get_ci(s, "permissions"))
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    UserFields {
        user_name: text(Some(user), "userName").unwrap_or_default(),
        external_id: text(Some(user), "externalId"),
        email,
        name,
        title: text(Some(user), "title"),
        active: get_ci(user, "active").and_then(Value::as_bool).unwrap_or(true),
        manager_scim_id: text(enterprise.and_then(|e| get_ci(e, "manager")), "value"),
        department: text(enterprise, "department"),
        employee_number: text(enterprise, "employeeNumber"),
        slack_id: text(signoff, "slackId"),
        discord_id: text(signoff, "discordId"),
        grade,
        work_status: text(signoff, "workStatus"),
        location: text(signoff, "location"),
        permissions,
        out_of_office_until: text(signoff, "outOfOfficeUntil"),
    }
}

/// Reads the directory fields of a stored (normalized) SCIM Group.
pub fn group_fields(group: &Value) -> GroupFields {
    let display_name = text(Some(group), "displayName").unwrap_or_default();
    let external_id = text(Some(group), "externalId");
    let mut member_ids: Vec<String> = Vec::new();
    for m in get_ci(group, "members").and_then(Value::as_array).into_iter().flatten() {
        if let Some(id) = text(Some(m), "value")
            && !member_ids.contains(&id)
        {
            member_ids.push(id);
        }
    }
    GroupFields {
        directory_id: external_id.clone().unwrap_or_else(|| display_name.clone()),
        display_name,
        external_id,
        member_ids,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_full_user_maps_to_every_directory_field() {
        let u = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        ENTERPRISE_USER_SCHEMA, SIGNOFF_USER_SCHEMA],
            "userName": "ana@example.com",
            "externalId": "00u1",
            "name": {"givenName": "Ana", "familyName": "Diaz"},
            "displayName": "Ana D.",
            "title": "Engineer",
            "active": false,
            "emails": [{"value": "ana@home.example", "type": "home"},
                       {"value": "ana@example.com", "type": "work", "primary": true}],
            ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m-1"}, "department": "Eng", "employeeNumber": "42"},
            SIGNOFF_USER_SCHEMA: {"slackId": "U0ANA", "discordId": "310", "grade": 5, "workStatus": "FULL_TIME",
                                   "location": "Lisbon", "permissions": ["Helpdesk"],
                                   "outOfOfficeUntil": "2026-12-01T00:00:00Z"},
        });
        let f = user_fields(&u);
        assert_eq!(f.user_name, "ana@example.com");
        assert_eq!(f.external_id.as_deref(), Some("00u1"));
        assert_eq!(f.email.as_deref(), Some("ana@example.com"));
        assert_eq!(f.name.as_deref(), Some("Ana Diaz"));
        assert!(!f.active);
        assert_eq!(f.manager_scim_id.as_deref(), Some("m-1"));
        assert_eq!((f.department.as_deref(), f.employee_number.as_deref()), (Some("Eng"), Some("42")));
        assert_eq!((f.slack_id.as_deref(), f.discord_id.as_deref(), f.grade), (Some("U0ANA"), Some("310"), Some(5)));
        assert_eq!(f.permissions, vec!["Helpdesk"]);
        assert_eq!(f.out_of_office_until.as_deref(), Some("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn a_minimal_user_is_active_and_named_by_display_name_or_first_email() {
        let f = user_fields(&json!({"userName": "lee", "displayName": "Lee", "emails": [{"value": "lee@x"}]}));
        assert!(f.active);
        assert_eq!((f.name.as_deref(), f.email.as_deref()), (Some("Lee"), Some("lee@x")));
        let f = user_fields(&json!({"userName": "kim", "name": {"formatted": "Kim K", "givenName": "Kim"}}));
        assert_eq!(f.name.as_deref(), Some("Kim K"));
    }

    #[test]
    fn a_group_is_named_by_external_id_else_display_name() {
        let g = json!({"displayName": "IT Security", "members": [{"value": "u1"}, {"value": "u2"}, {"value": "u1"}]});
        let f = group_fields(&g);
        assert_eq!(f.directory_id, "IT Security");
        assert_eq!(f.member_ids, vec!["u1", "u2"]);
        let f = group_fields(&json!({"displayName": "IT Security", "externalId": "it-security"}));
        assert_eq!((f.directory_id.as_str(), f.external_id.as_deref()), ("it-security", Some("it-security")));
    }
}
