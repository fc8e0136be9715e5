//! Table tests for the rule language: the seed's rules, each operator, the null and coercion rules, and
//! every error message with its offset.

use std::collections::BTreeMap;

use super::*;

/// Facts held in maps keyed by the canonical attribute text (`department`, `custom_attributes.x`).
#[derive(Debug, Default, Clone)]
pub(super) struct MapFacts {
    users: BTreeMap<Subject, BTreeMap<String, Value<'static>>>,
    request: BTreeMap<String, Value<'static>>,
    group: BTreeMap<String, Value<'static>>,
    resource: BTreeMap<String, Value<'static>>,
}

impl MapFacts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn user(mut self, who: Subject, field: &str, v: impl Into<Value<'static>>) -> Self {
        self.users.entry(who).or_default().insert(field.to_string(), v.into());
        self
    }

    pub fn requestor(self, field: &str, v: impl Into<Value<'static>>) -> Self {
        self.user(Subject::Requestor, field, v)
    }

    pub fn target(self, field: &str, v: impl Into<Value<'static>>) -> Self {
        self.user(Subject::RequestedFor(0), field, v)
    }

    pub fn request(mut self, field: &str, v: impl Into<Value<'static>>) -> Self {
        self.request.insert(field.to_string(), v.into());
        self
    }

    pub fn group(mut self, field: &str, v: impl Into<Value<'static>>) -> Self {
        self.group.insert(field.to_string(), v.into());
        self
    }

    pub fn resource(mut self, key: &str, v: impl Into<Value<'static>>) -> Self {
        self.resource.insert(key.to_string(), v.into());
        self
    }
}

fn lookup<'a>(map: Option<&'a BTreeMap<String, Value<'static>>>, key: &str) -> Value<'a> {
    map.and_then(|m| m.get(key)).map_or(Value::Null, Value::reborrow)
}

impl Facts for MapFacts {
    fn user(&self, who: Subject, field: &UserField) -> Value<'_> {
        lookup(self.users.get(&who), &field.to_string())
    }
    fn request(&self, field: RequestField) -> Value<'_> {
        lookup(Some(&self.request), field.name())
    }
    fn group(&self, field: &GroupField) -> Value<'_> {
        lookup(Some(&self.group), &field.to_string())
    }
    fn resource_custom(&self, key: &str) -> Value<'_> {
        lookup(Some(&self.resource), key)
    }
}

/// A list of strings.
pub(super) fn strs(items: &[&'static str]) -> Value<'static> {
    Value::List(items.iter().map(|s| Value::str(s)).collect())
}

/// A manager (the requestor) asking access for Bob, a Sales director, with every kind of value around.
pub(super) fn office() -> MapFacts {
    MapFacts::new()
        .requestor("id", "maria@company.com")
        .requestor("email_addr", "maria@company.com")
        .requestor("department", "Sales")
        .requestor("grade", 9)
        .requestor("is_active", true)
        .requestor("permissions", strs(&["Helpdesk", "Usermanager"]))
        .target("id", "bob@company.com")
        .target("email_addr", "Bob@Company.com")
        .target("name", "Bob Stone")
        .target("manager", "maria@company.com")
        .target("manager_email", "maria@company.com")
        .target("department", "Sales")
        .target("title", "Software Engineer")
        .target("grade", 7)
        .target("work_status", "FULL_TIME")
        .target("is_full_time_employee", true)
        .target("location", "San Francisco")
        .target("is_active", true)
        .target("is_out_of_office", false)
        .target("groups", strs(&["g-sales", "g-all"]))
        .target("slack_id", "U123")
        .target("custom_attributes.seniority_level", "Director")
        .target("custom_attributes.cost_center", "8000")
        .target("custom_attributes.cost-center", "8000")
        .target("custom_attributes.2fa_enrolled", true)
        .target("custom_attributes.clearance_level", "Secret")
        .target("custom_attributes.tags", strs(&["VPN", "Remote"]))
        .target("custom_attributes.reporting_chain", strs(&["maria@company.com", "vp-sales@company.com"]))
        .target("custom_attributes.bonus", 2.5)
        .target("custom_attributes.name_with_quote", "O'Brien \"Bob\"")
        .user(Subject::RequestedFor(1), "department", "Engineering")
        .request("name", "Salesforce")
        .request("id", "app-salesforce")
        .request("kind", "app")
        .request("risk", 2)
        .request("role_canonical_name_to_provision", "Admin")
        .request("justification", "Quarterly close")
        .group("id", "g-sales")
        .group("name", "Sales Team")
        .group("join_policy", "open")
        .group("self_managed", false)
        .group("visibility", "private")
        .group("members", strs(&["bob@company.com", "maria@company.com"]))
        .group("owners", strs(&["maria@company.com"]))
        .group("custom_attributes.tier", "1")
        .resource("data_class", "confidential")
        .resource("tier", 3)
}

#[track_caller]
fn rule(src: &str) -> Rule {
    match Rule::parse(src) {
        Ok(r) => r,
        Err(e) => panic!("`{src}` should parse, got: {e}\n{}", e.render(src)),
    }
}

#[track_caller]
fn check_table(facts: &MapFacts, table: &[(&str, bool)]) {
    let mut failures = Vec::new();
    for (src, expected) in table {
        let got = rule(src).eval(facts);
        if got != *expected {
            failures.push(format!("`{src}`: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every `rule_v2` string in the approvals-engine seed, with facts that match it and facts that do not.
#[test]
fn every_seed_rule_parses_and_decides_as_the_seed_describes() {
    let sales_director = office();
    let engineer = MapFacts::new()
        .target("department", "ENGINEERING")
        .target("custom_attributes.seniority_level", "Senior")
        .target("is_full_time_employee", false)
        .target("is_active", false)
        .target("title", "software ENGINEER")
        .target("location", "san francisco")
        .target("work_status", "CONTRACTOR")
        .target("email_addr", "test@company.com")
        .target("manager_email", "someone@company.com")
        .requestor("email_addr", "someone@else.org")
        .request("role_canonical_name_to_provision", "Basic_User");
    let zoom_pro = MapFacts::new().request("role_canonical_name_to_provision", "ZOOM_PRO");
    let exec = MapFacts::new().target("custom_attributes.seniority_level", "SVP");
    let self_request = MapFacts::new().target("email_addr", "x@company.com").requestor("email_addr", "x@company.com");

    let role = "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision";
    let table: Vec<(String, MapFacts, MapFacts)> = vec![
        // Workflow examples (JSON `rule_v2` fields).
        (
            r#"users_requested_for[0].custom_attributes.seniority_level IN ["Director", "VP", "SVP", "EVP"]"#.into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (format!(r#"{role}.$LOWERCASE() == "basic_user".$LOWERCASE()"#), engineer.clone(), sales_director.clone()),
        (format!(r#"{role}.$LOWERCASE() == "admin".$LOWERCASE()"#), sales_director.clone(), engineer.clone()),
        (
            format!(r#"{role}.$LOWERCASE() == "zoom_basic".$LOWERCASE()"#),
            MapFacts::new().request("role_canonical_name_to_provision", "zoom_basic"),
            zoom_pro.clone(),
        ),
        (format!(r#"{role}.$LOWERCASE() == "zoom_pro".$LOWERCASE()"#), zoom_pro.clone(), engineer.clone()),
        ("users_requested_for[0].is_full_time_employee == true".into(), sales_director.clone(), engineer.clone()),
        (
            r#"users_requested_for[0].department.$LOWERCASE() == "sales".$LOWERCASE()"#.into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (
            r#"users_requested_for[0].department.$LOWERCASE() == "engineering".$LOWERCASE()"#.into(),
            engineer.clone(),
            sales_director.clone(),
        ),
        (
            r#"users_requested_for[0].custom_attributes.seniority_level IN ["Director", "VP", "SVP", "C-Level"]"#
                .into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (
            "users_requested_for[0].manager_email == requestor.email_addr".into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (
            r#"users_requested_for[0].custom_attributes.seniority_level IN ["Senior", "Staff", "Principal"]"#.into(),
            engineer.clone(),
            sales_director.clone(),
        ),
        (
            r#"users_requested_for[0].custom_attributes.seniority_level IN ["VP", "SVP", "C-Level"]"#.into(),
            exec.clone(),
            sales_director.clone(),
        ),
        (
            format!(r#"{role}.$LOWERCASE() == "basic".$LOWERCASE()"#),
            MapFacts::new().request("role_canonical_name_to_provision", "BASIC"),
            engineer.clone(),
        ),
        // Condition syntax examples.
        (
            r#"users_requested_for[0].role.$LOWERCASE() == "software engineer".$LOWERCASE()"#.into(),
            engineer.clone(),
            MapFacts::new(),
        ),
        (
            r#"users_requested_for[0].location.$LOWERCASE() == "san francisco".$LOWERCASE()"#.into(),
            sales_director.clone(),
            MapFacts::new(),
        ),
        (
            r#"users_requested_for[0].department IN ["Engineering", "IT", "DevOps", "Data Science"]"#.into(),
            MapFacts::new().target("department", "IT"),
            engineer.clone(),
        ),
        (
            r#"users_requested_for[0].work_status IN ["FULL_TIME", "PART_TIME"]"#.into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (
            r#"users_requested_for[0].department.$LOWERCASE() IN ["engineering", "it", "devops"]"#.into(),
            engineer.clone(),
            sales_director.clone(),
        ),
        ("users_requested_for[0].is_full_time_employee != false".into(), sales_director.clone(), engineer.clone()),
        ("users_requested_for[0].is_active == true".into(), sales_director.clone(), engineer.clone()),
        (
            r#"requestor.email_addr.$LOWERCASE() == "manager@company.com".$LOWERCASE()"#.into(),
            MapFacts::new().requestor("email_addr", "Manager@Company.com"),
            sales_director.clone(),
        ),
        (
            r#"requestor.email_addr.$LOWERCASE().$CONTAINS("@company.com")"#.into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (
            "users_requested_for[0].email_addr == requestor.email_addr".into(),
            self_request.clone(),
            sales_director.clone(),
        ),
        (
            "requestor.email_addr IN users_requested_for[0].custom_attributes.reporting_chain".into(),
            sales_director.clone(),
            engineer.clone(),
        ),
        (
            format!(r#"{role} IN ["admin", "super_admin", "owner"]"#),
            MapFacts::new().request("role_canonical_name_to_provision", "super_admin"),
            sales_director.clone(),
        ),
        // Debugging section.
        (r#"users_requested_for[0].email_addr == "test@company.com""#.into(), engineer.clone(), sales_director.clone()),
    ];
    for (src, yes, no) in &table {
        let r = rule(src);
        assert!(r.eval(yes), "`{src}` should match");
        assert!(!r.eval(no), "`{src}` should not match");
    }
}

/// The seed's template placeholder is not a rule; loading it must say so rather than never match.
#[test]
fn the_seed_placeholder_condition_is_rejected_with_a_hint() {
    let err = Rule::parse("CONDITION_HERE").unwrap_err();
    assert_eq!(err.offset, 0);
    assert!(err.message.starts_with("unknown name `CONDITION_HERE`"), "{err}");
}

#[test]
fn the_examples_of_the_brief_parse_and_decide() {
    let f = office();
    check_table(
        &f,
        &[
            ("group.self_managed == true OR group.join_policy == \"open\"", true),
            ("NOT (group.visibility == \"private\") AND users_requested_for[0].grade >= 7", false),
            ("NOT (group.visibility == \"public\") AND users_requested_for[0].grade >= 7", true),
            (
                "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision IN [\"admin\", \"super_admin\", \"owner\"]",
                false,
            ),
            (
                "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision.$LOWERCASE() IN [\"admin\", \"super_admin\", \"owner\"]",
                true,
            ),
        ],
    );
}

#[test]
fn comparison_operators_follow_type_rules() {
    let f = office();
    check_table(
        &f,
        &[
            // numbers
            ("users_requested_for[0].grade == 7", true),
            ("users_requested_for[0].grade == 7.0", true),
            ("users_requested_for[0].grade != 7", false),
            ("users_requested_for[0].grade > 6", true),
            ("users_requested_for[0].grade > 7", false),
            ("users_requested_for[0].grade >= 7", true),
            ("users_requested_for[0].grade < 7.5", true),
            ("users_requested_for[0].grade <= 6", false),
            ("users_requested_for[0].grade > -1", true),
            ("users_requested_for[0].custom_attributes.bonus == 2.5", true),
            ("requestor.grade > users_requested_for[0].grade", true),
            // strings
            ("users_requested_for[0].department == \"Sales\"", true),
            ("users_requested_for[0].department == \"sales\"", false),
            ("users_requested_for[0].department != \"sales\"", true),
            ("users_requested_for[0].department > \"Engineering\"", true),
            ("users_requested_for[0].department < \"Engineering\"", false),
            ("users_requested_for[0].department >= \"Sales\"", true),
            ("users_requested_for[0].department <= \"Sales\"", true),
            ("users_requested_for[0].department == 'Sales'", true),
            // booleans: equality only
            ("users_requested_for[0].is_full_time_employee == true", true),
            ("users_requested_for[0].is_full_time_employee != true", false),
            ("users_requested_for[0].is_full_time_employee > false", false),
            ("users_requested_for[0].is_full_time_employee <= true", false),
            // different types are unequal and unordered
            ("users_requested_for[0].department == 7", false),
            ("users_requested_for[0].department != 7", true),
            ("users_requested_for[0].department > 7", false),
            ("users_requested_for[0].is_full_time_employee == \"true\"", false),
            ("users_requested_for[0].groups == \"g-sales\"", false),
            // lists compare item by item
            ("users_requested_for[0].groups == [\"g-sales\", \"g-all\"]", true),
            ("users_requested_for[0].groups == [\"g-all\", \"g-sales\"]", false),
            ("users_requested_for[0].groups != [\"g-all\"]", true),
            ("users_requested_for[0].groups > [\"a\"]", false),
            // two paths
            ("users_requested_for[0].department == requestor.department", true),
            ("users_requested_for[0].department == users_requested_for[1].department", false),
        ],
    );
}

#[test]
fn numeric_strings_compare_numerically_with_numbers_only() {
    let f = office();
    check_table(
        &f,
        &[
            ("users_requested_for[0].custom_attributes.cost_center == 8000", true),
            ("users_requested_for[0].custom_attributes.cost_center == 8000.0", true),
            ("users_requested_for[0].custom_attributes.cost_center > 7999", true),
            ("users_requested_for[0].custom_attributes.cost_center < 10000", true),
            ("users_requested_for[0].custom_attributes.cost_center != 8000", false),
            ("users_requested_for[0].custom_attributes.cost_center IN [1000, 8000]", true),
            ("users_requested_for[0].custom_attributes.cost_center == \"8000\"", true),
            ("users_requested_for[0].custom_attributes.cost_center == \"8000.0\"", false),
            // string against string stays textual: "8000" < "9" by code point
            ("users_requested_for[0].custom_attributes.cost_center < \"9\"", true),
            ("users_requested_for[0].grade == \"7\"", true),
            ("users_requested_for[0].grade == \" 7 \"", true),
            ("users_requested_for[0].grade == \"seven\"", false),
            ("users_requested_for[0].grade != \"seven\"", true),
            ("users_requested_for[0].grade < \"seven\"", false),
            ("group.custom_attributes.tier == 1", true),
            ("custom_attributes.tier == \"3\"", true),
            ("custom_attributes.tier >= \"3\"", true),
        ],
    );
}

#[test]
fn missing_attributes_are_null_and_only_null_literals_match_them() {
    let f = office();
    check_table(
        &f,
        &[
            ("users_requested_for[0].discord_id == \"x\"", false),
            ("users_requested_for[0].discord_id != \"x\"", false),
            ("users_requested_for[0].discord_id > 1", false),
            ("users_requested_for[0].discord_id <= 1", false),
            ("users_requested_for[0].discord_id == null", true),
            ("users_requested_for[0].discord_id != null", false),
            ("null == users_requested_for[0].discord_id", true),
            ("users_requested_for[0].slack_id == null", false),
            ("users_requested_for[0].slack_id != null", true),
            ("users_requested_for[0].discord_id == users_requested_for[0].custom_attributes.missing", false),
            ("users_requested_for[0].discord_id != users_requested_for[0].custom_attributes.missing", false),
            ("users_requested_for[5].email_addr == null", true),
            ("users_requested_for[5].email_addr == \"\"", false),
            ("approval_request.approvable_entity.app_entity.duration_seconds == null", true),
            ("approval_request.approvable_entity.app_entity.duration_seconds > 0", false),
            ("group.parent == null", true),
            ("null == null", true),
            ("null != null", false),
            ("NULL == Null", true),
            ("users_requested_for[0].discord_id.$LOWERCASE() == null", true),
            // a bare null or missing value is not a true condition, and NOT of it is
            ("users_requested_for[0].discord_id", false),
            ("NOT users_requested_for[0].discord_id", true),
            ("NOT (users_requested_for[0].discord_id == \"x\")", true),
            ("null > 1", false),
            ("users_requested_for[0].grade > null", false),
        ],
    );
}

#[test]
fn in_and_not_in_test_membership_and_substrings() {
    let f = office();
    check_table(
        &f,
        &[
            ("users_requested_for[0].department IN [\"Sales\", \"IT\"]", true),
            ("users_requested_for[0].department IN [\"sales\", \"IT\"]", false),
            ("users_requested_for[0].department NOT IN [\"sales\", \"IT\"]", true),
            ("users_requested_for[0].department not in [\"Sales\"]", false),
            ("users_requested_for[0].department IN []", false),
            ("users_requested_for[0].department NOT IN []", true),
            ("users_requested_for[0].grade IN [1, 7, 9]", true),
            ("users_requested_for[0].grade IN [\"7\"]", true),
            ("\"g-all\" IN users_requested_for[0].groups", true),
            ("\"g-eng\" IN users_requested_for[0].groups", false),
            ("\"g-eng\" NOT IN users_requested_for[0].groups", true),
            ("requestor.email_addr IN group.members", true),
            ("requestor.email_addr IN group.owners", true),
            ("users_requested_for[0].email_addr IN group.owners", false),
            // substring
            ("\"Fran\" IN users_requested_for[0].location", true),
            ("\"fran\" IN users_requested_for[0].location", false),
            ("\"fran\" IN users_requested_for[0].location.$LOWERCASE()", true),
            ("\"fran\" NOT IN users_requested_for[0].location", true),
            ("users_requested_for[0].department IN \"Sales and Marketing\"", true),
            ("7 IN \"a7\"", false),
            // the right side is not a collection: no answer, both false
            ("\"x\" IN users_requested_for[0].grade", false),
            ("\"x\" NOT IN users_requested_for[0].grade", false),
            ("\"x\" IN users_requested_for[0].discord_id", false),
            ("\"x\" NOT IN users_requested_for[0].discord_id", false),
            // a null item
            ("users_requested_for[0].discord_id IN [\"a\"]", false),
            ("users_requested_for[0].discord_id NOT IN [\"a\"]", true),
            ("users_requested_for[0].discord_id IN [\"a\", null]", true),
            ("users_requested_for[0].discord_id NOT IN [\"a\", null]", false),
            ("users_requested_for[0].discord_id IN \"abc\"", false),
            // nested lists and mixed types
            ("users_requested_for[0].groups IN [[\"g-sales\", \"g-all\"], []]", true),
            ("true IN [1, \"true\", true]", true),
            ("requestor.is_active IN [false]", false),
            // case-insensitive keywords
            ("users_requested_for[0].department In [\"Sales\"]", true),
            ("users_requested_for[0].department nOt In [\"Sales\"]", false),
        ],
    );
}

#[test]
fn functions_map_case_and_test_containment() {
    let f = office();
    check_table(
        &f,
        &[
            ("users_requested_for[0].department.$LOWERCASE() == \"sales\"", true),
            ("users_requested_for[0].department.$UPPERCASE() == \"SALES\"", true),
            ("users_requested_for[0].department.$UPPERCASE() == \"Sales\"", false),
            ("users_requested_for[0].department.$lowercase() == \"sales\"", true),
            ("$LOWERCASE(users_requested_for[0].department) == \"sales\"", true),
            ("$UPPERCASE(users_requested_for[0].department) == $UPPERCASE(\"sAlEs\")", true),
            (
                "users_requested_for[0].department.$LOWERCASE() == users_requested_for[0].department.$UPPERCASE().$LOWERCASE()",
                true,
            ),
            ("users_requested_for[0].department.$UPPERCASE().$LOWERCASE().$UPPERCASE() == \"SALES\"", true),
            ("users_requested_for[0].email_addr.$LOWERCASE() == requestor.email_addr.$LOWERCASE()", false),
            ("users_requested_for[0].email_addr.$LOWERCASE() == users_requested_for[0].id", true),
            ("users_requested_for[0].email_addr.$UPPERCASE() == users_requested_for[0].id.$UPPERCASE()", true),
            ("users_requested_for[0].department.$LOWERCASE() > \"rat\"", true),
            ("users_requested_for[0].department.$UPPERCASE() > \"rat\"", false),
            // lists are mapped item by item
            ("\"vpn\" IN users_requested_for[0].custom_attributes.tags.$LOWERCASE()", true),
            ("\"vpn\" IN users_requested_for[0].custom_attributes.tags", false),
            ("users_requested_for[0].custom_attributes.tags.$UPPERCASE() == [\"VPN\", \"REMOTE\"]", true),
            ("users_requested_for[0].department.$LOWERCASE() IN [\"SALES\"].$LOWERCASE()", true),
            // numbers, booleans and null pass through
            ("users_requested_for[0].grade.$LOWERCASE() == 7", true),
            ("users_requested_for[0].is_active.$UPPERCASE() == true", true),
            ("users_requested_for[0].is_active.$UPPERCASE()", true),
            // $CONTAINS: substring, membership, otherwise false
            ("users_requested_for[0].email_addr.$CONTAINS(\"@Company\")", true),
            ("users_requested_for[0].email_addr.$CONTAINS(\"@company\")", false),
            ("users_requested_for[0].email_addr.$LOWERCASE().$CONTAINS(\"@company.com\")", true),
            ("users_requested_for[0].email_addr.$CONTAINS(\"@COMPANY.COM\".$LOWERCASE())", false),
            ("users_requested_for[0].email_addr.$UPPERCASE().$CONTAINS(\"@company.com\".$UPPERCASE())", true),
            ("$CONTAINS(users_requested_for[0].email_addr, \"Bob\")", true),
            ("users_requested_for[0].groups.$CONTAINS(\"g-all\")", true),
            ("users_requested_for[0].groups.$CONTAINS(\"g-none\")", false),
            ("requestor.permissions.$CONTAINS(\"Helpdesk\")", true),
            ("[\"a\", \"b\"].$CONTAINS(\"b\")", true),
            ("users_requested_for[0].grade.$CONTAINS(7)", false),
            ("users_requested_for[0].discord_id.$CONTAINS(\"x\")", false),
            ("users_requested_for[0].email_addr.$CONTAINS(7)", false),
            ("users_requested_for[0].email_addr.$CONTAINS(\"Bob\") == true", true),
            ("users_requested_for[0].email_addr.$CONTAINS(\"Zed\") == false", true),
            ("NOT users_requested_for[0].email_addr.$CONTAINS(\"Zed\")", true),
            // functions of a whole condition
            ("(users_requested_for[0].grade > 1).$LOWERCASE() == true", true),
            ("$CONTAINS(\"abc\", \"b\")", true),
            ("$CONTAINS(\"abc\", \"B\".$LOWERCASE()) AND true", true),
        ],
    );
}

#[test]
fn non_ascii_text_maps_case_exactly() {
    let f = MapFacts::new().target("location", "MÜNCHEN").target("name", "Straße").target("department", "ΟΔΟΣ");
    check_table(
        &f,
        &[
            ("users_requested_for[0].location.$LOWERCASE() == \"münchen\"", true),
            ("users_requested_for[0].location.$LOWERCASE().$CONTAINS(\"ünch\")", true),
            ("users_requested_for[0].name.$UPPERCASE() == \"STRASSE\"", true),
            ("users_requested_for[0].name.$UPPERCASE().$LOWERCASE() == \"strasse\"", true),
            // Greek final sigma follows `str::to_lowercase`
            ("users_requested_for[0].department.$LOWERCASE() == \"οδος\"", true),
            ("users_requested_for[0].location > \"MUNCHEN\"", true),
        ],
    );
}

#[test]
fn precedence_is_not_then_comparison_then_and_then_or() {
    let t = "users_requested_for[0].is_active";
    let f = office();
    check_table(
        &f,
        &[
            // AND binds tighter than OR
            ("true OR false AND false", true),
            ("(true OR false) AND false", false),
            ("false AND false OR true", true),
            ("false AND (false OR true)", false),
            // NOT binds tighter than AND/OR
            ("NOT false AND false", false),
            ("NOT (false AND false)", true),
            ("NOT true OR true", true),
            ("NOT (true OR true)", false),
            ("NOT NOT true", true),
            ("!!true", true),
            ("!false && !false", true),
            ("false || !false", true),
            // comparisons bind tighter than AND/OR
            ("users_requested_for[0].grade == 7 AND users_requested_for[0].department == \"Sales\"", true),
            (
                "users_requested_for[0].grade == 8 OR users_requested_for[0].department == \"Sales\" AND requestor.grade == 9",
                true,
            ),
            (
                "(users_requested_for[0].grade == 8 OR users_requested_for[0].department == \"Sales\") AND requestor.grade == 1",
                false,
            ),
            // NOT of a value compared, written unambiguously
            ("(NOT users_requested_for[0].is_active) == false", true),
            ("users_requested_for[0].is_active == NOT false", true),
            ("users_requested_for[0].is_active == (NOT false)", true),
            // keyword case
            ("true and true", true),
            ("false Or true", true),
            ("not false", true),
            ("TRUE AND True", true),
        ],
    );
    assert!(rule(t).eval(&f));
}

#[test]
fn string_escapes_are_read() {
    let f = office();
    check_table(
        &f,
        &[
            (r#"users_requested_for[0].custom_attributes.name_with_quote == "O'Brien \"Bob\"""#, true),
            (r#"users_requested_for[0].custom_attributes.name_with_quote == 'O\'Brien "Bob"'"#, true),
            (r#"users_requested_for[0].custom_attributes.name_with_quote == 'O\u0027Brien \u0022Bob\u0022'"#, true),
            (r#""a\\b" == 'a\\b'"#, true),
            (
                r#""a\nb" == "a
b""#,
                true,
            ),
            (r#""\t" == "	""#, true),
            (r#""\u00e9" == "é""#, true),
            (r#""\u00E9" == "é""#, true),
            (r#""\uD83D\uDE00" == "😀""#, true),
            (r#""caf\u00e9".$UPPERCASE() == "CAFÉ""#, true),
            (r#""" == ''"#, true),
        ],
    );
}

#[test]
fn custom_attribute_keys_take_dashes_digits_and_keyword_names() {
    let f = office()
        .target("custom_attributes.and", "x")
        .target("custom_attributes.IN", "y")
        .group("custom_attributes.cost-center", 5);
    check_table(
        &f,
        &[
            ("users_requested_for[0].custom_attributes.cost-center == 8000", true),
            ("users_requested_for[0].custom_attributes.2fa_enrolled == true", true),
            ("users_requested_for[0].custom_attributes.2fa_enrolled", true),
            ("users_requested_for[0].custom_attributes.and == \"x\" and true", true),
            ("users_requested_for[0].custom_attributes.IN IN [\"y\"]", true),
            ("users_requested_for[0].custom_attributes.cost-center>-1", true),
            ("group.custom_attributes.cost-center == 5", true),
            ("custom_attributes.data_class == \"confidential\"", true),
            ("custom_attributes.data_class.$UPPERCASE() == \"CONFIDENTIAL\"", true),
            ("users_requested_for[0].custom_attributes. seniority_level == \"Director\"", true),
        ],
    );
}

#[test]
fn every_attribute_name_and_alias_reads_its_field() {
    let f = office().requestor("title", "Director of Sales").group("managers", strs(&["m@company.com"]));
    check_table(
        &f,
        &[
            ("requestor.id == \"maria@company.com\"", true),
            ("requestor.email == requestor.email_addr", true),
            ("users_requested_for[0].name == \"Bob Stone\"", true),
            ("users_requested_for[0].manager == requestor.id", true),
            ("users_requested_for[0].role == \"Software Engineer\"", true),
            ("users_requested_for[0].title == users_requested_for[0].role", true),
            ("requestor.title == \"Director of Sales\"", true),
            ("users_requested_for[0].work_status == \"FULL_TIME\"", true),
            ("users_requested_for[0].is_out_of_office == false", true),
            ("users_requested_for[0].slack_id == \"U123\"", true),
            ("users_requested_for[1].department == \"Engineering\"", true),
            ("approval_request.approvable_entity.app_entity.name == \"Salesforce\"", true),
            ("approval_request.approvable_entity.app_entity.id == \"app-salesforce\"", true),
            ("approval_request.approvable_entity.app_entity.kind == \"app\"", true),
            ("approval_request.approvable_entity.app_entity.risk >= 2", true),
            ("approval_request.approvable_entity.app_entity.justification.$CONTAINS(\"close\")", true),
            ("group.id == \"g-sales\"", true),
            ("group.name == \"Sales Team\"", true),
            ("group.self_managed == false", true),
            ("group.visibility == \"private\"", true),
            ("\"m@company.com\" IN group.managers", true),
        ],
    );
}

#[test]
fn whitespace_is_free_between_tokens() {
    let f = office();
    check_table(
        &f,
        &[
            ("users_requested_for [ 0 ] . department . $LOWERCASE ( ) == \"sales\"", true),
            ("\n  users_requested_for[0].grade>=7\n\tAND\r\n requestor.grade==9  ", true),
            ("users_requested_for[0].department==\"Sales\"&&requestor.grade==9", true),
            ("(true)", true),
            ("((((false))))", false),
        ],
    );
}

/// Each error: the text, the character offset where the problem starts, and the exact message.
#[test]
fn errors_name_the_problem_and_its_character_offset() {
    let long = "x".repeat(50);
    let long_rule = format!("requestor.email == \"a\" {long}");
    let huge = format!("requestor.grade > {}", "9".repeat(400));
    let cases: Vec<(&str, usize, String)> = vec![
        // empty
        ("", 0, "the rule is empty: write a condition, like `users_requested_for[0].department == \"Sales\"`".into()),
        ("  \n\t ", 0, "the rule is empty: write a condition, like `users_requested_for[0].department == \"Sales\"`".into()),
        // strings
        ("requestor.name == \"Bob", 18, "unterminated string: this `\"` is never closed".into()),
        ("requestor.name == 'Bob", 18, "unterminated string: this `'` is never closed".into()),
        ("requestor.name == \"Bob\\", 18, "unterminated string: this `\"` is never closed".into()),
        ("requestor.name == \"a\\qb\"", 20, "unknown escape `\\q` in a string; use `\\\"`, `\\'`, `\\\\`, `\\n`, `\\t` or `\\uXXXX`".into()),
        ("\"é\\u12\" == x", 2, "`\\u` needs four hex digits, like `\\u00e9`".into()),
        ("\"\\uD83D\" == x", 1, "`\\uD83D` starts a surrogate pair; follow it with a low surrogate like `\\uDE00`".into()),
        ("\"\\uDE00\" == x", 1, "`\\uDE00` is half of a surrogate pair, not a character".into()),
        // characters and operators
        ("requestor.name = \"Bob\"", 15, "`=` is not an operator; write `==` to compare".into()),
        ("requestor.name <> \"Bob\"", 15, "`<>` is not an operator; write `!=` for \"not equal\"".into()),
        ("true & false", 5, "`&` is not an operator; write `&&` or `AND`".into()),
        ("true | false", 5, "`|` is not an operator; write `||` or `OR`".into()),
        ("requestor.grade > - 1", 18, "`-` must be followed by digits, like `-1`".into()),
        ("requestor.name == #x", 18, "unexpected character `#`".into()),
        ("\"ü\" == ö", 7, "unexpected character `ö`".into()),
        ("requestor.name == “Bob”", 18, "`“` is a typographic quote; strings use straight quotes, `\"` or `'`".into()),
        ("requestor.grade > 12abc", 18, "`12abc` is not a number".into()),
        ("requestor.grade > 1.", 20, "expected a function after `.`, like `.$LOWERCASE()`, found the end of the rule".into()),
        (&huge, 18, format!("number `{}` is too large", "9".repeat(400))),
        ("$ == 1", 0, "expected a function name after `$`, like `$LOWERCASE`".into()),
        // missing operands and unexpected tokens
        ("requestor.name ==", 17, "expected a value after `==`, found the end of the rule".into()),
        ("== \"Bob\"", 0, "expected a value, found `==`".into()),
        ("requestor.name == \"a\" AND", 25, "expected a value after `AND`, found the end of the rule".into()),
        ("requestor.name == \"a\" AND OR true", 26, "expected a value after `AND`, found `OR`".into()),
        ("requestor.name == \"a\" or", 24, "expected a value after `or`, found the end of the rule".into()),
        ("NOT", 3, "expected a value after `NOT`, found the end of the rule".into()),
        ("()", 1, "expected a value after `(`, found `)`".into()),
        ("requestor.grade IN", 18, "expected a value after `IN`, found the end of the rule".into()),
        ("requestor.name == ,", 18, "expected a value after `==`, found `,`".into()),
        ("requestor.name == AND", 18, "expected a value after `==`, found `AND`".into()),
        // trailing garbage
        ("requestor.name == \"a\" \"b\"", 22, "unexpected `\"b\"` after a complete condition; join conditions with AND or OR".into()),
        ("true false", 5, "unexpected `false` after a complete condition; join conditions with AND or OR".into()),
        ("true ANDD false", 5, "unexpected `ANDD`, did you mean `AND`?".into()),
        (&long_rule, 23, format!("unexpected `{}...` after a complete condition; join conditions with AND or OR", "x".repeat(37))),
        ("requestor.name NOT \"a\"", 15, "`NOT` after a value must be followed by `IN`, as in `x NOT IN [\"a\"]`; to negate a condition, write `AND NOT (...)`".into()),
        // parentheses and brackets
        ("(true", 0, "unbalanced brackets: this `(` is never closed".into()),
        ("((true) AND false", 0, "unbalanced brackets: this `(` is never closed".into()),
        ("true)", 4, "unbalanced brackets: this `)` has no matching `(`".into()),
        ("(true false)", 6, "expected `)`, AND or OR, found `false`".into()),
        ("requestor.grade IN [1, 2", 19, "unbalanced brackets: this `[` is never closed".into()),
        ("requestor.grade IN [1 2]", 22, "expected `,` or `]` in the list, found `2`".into()),
        ("requestor.grade IN [,]", 20, "expected a list item or `]`, found `,`".into()),
        ("requestor.grade IN [1,,]", 22, "expected a list item or `]`, found `,`".into()),
        ("requestor.grade IN [requestor.grade]", 20, "list items must be literals (strings, numbers, true, false, null or lists), found `requestor`".into()),
        ("$CONTAINS(\"a\", \"b\"", 9, "unbalanced brackets: this `(` is never closed".into()),
        // comparisons
        ("1 < 2 < 3", 6, "comparisons do not chain: join them with AND, like `a > 1 AND a < 5`".into()),
        ("NOT requestor.grade == 7", 0, "`NOT` applies only to the value right after it, not to the comparison: write `NOT (a == b)` to negate the comparison, or `(NOT a) == b` to compare the negated value".into()),
        ("true AND !requestor.is_active == true", 9, "`!` applies only to the value right after it, not to the comparison: write `! (a == b)` to negate the comparison, or `(! a) == b` to compare the negated value".into()),
        ("requestor.grade IN 7", 19, "`IN` needs a list or a string on its right, like `x IN [\"a\", \"b\"]`".into()),
        ("requestor.grade NOT IN null", 23, "`NOT IN` needs a list or a string on its right, like `x NOT IN [\"a\", \"b\"]`".into()),
        // unknown names, with and without suggestions
        ("requester.email_addr == \"a\"", 0, "unknown name `requester`, did you mean `requestor`?".into()),
        ("Requestor.email_addr == \"a\"", 0, "unknown name `Requestor`, did you mean `requestor`?".into()),
        ("ture", 0, "unknown name `ture`, did you mean `true`?".into()),
        ("requestor.name == sales", 18, "unknown name `sales`; a path starts with `requestor`, `users_requested_for[i]`, `approval_request`, `group` or `custom_attributes`, and text needs quotes: \"sales\"".into()),
        ("users_requested_for[0].departmnt == \"x\"", 23, "unknown attribute `departmnt` of a user, did you mean `department`?".into()),
        ("requestor.emial == \"x\"", 10, "unknown attribute `emial` of a user, did you mean `email`?".into()),
        ("requestor.zzz == \"x\"", 10, "unknown attribute `zzz` of a user; a user has id, email_addr, name, manager, manager_email, department, title, grade, work_status, is_full_time_employee, location, is_active, is_out_of_office, permissions, groups, slack_id, discord_id and custom_attributes.<key>".into()),
        ("group.visiblity == \"x\"", 6, "unknown attribute `visiblity` of the group, did you mean `visibility`?".into()),
        ("approval_request.approvable_entity.app_entity.nme == \"x\"", 46, "unknown attribute `nme` of the requested item, did you mean `name`?".into()),
        ("approval_request.approvable_entity.app_entity.role == \"x\"", 46, "unknown attribute `role` of the requested item, did you mean `role_canonical_name_to_provision`?".into()),
        ("approval_request.approvable_entty.app_entity.name == \"x\"", 17, "unknown attribute `approvable_entty` of `approval_request`, did you mean `approvable_entity`?".into()),
        ("approval_request.approvable_entity.entity.name == \"x\"", 35, "unknown attribute `entity` of `approval_request.approvable_entity`, did you mean `app_entity`?".into()),
        ("approval_request.name == \"x\"", 17, "unknown attribute `name` of `approval_request`; request attributes are written `approval_request.approvable_entity.app_entity.<attribute>`".into()),
        ("requestor.name.$LOWERCAES() == \"x\"", 15, "unknown function `$LOWERCAES`, did you mean `$LOWERCASE`?".into()),
        ("$LOWER(requestor.name) == \"x\"", 0, "unknown function `$LOWER`, did you mean `$LOWERCASE`?".into()),
        ("requestor.name.$TRIM() == \"x\"", 15, "unknown function `$TRIM`; the functions are $LOWERCASE, $UPPERCASE and $CONTAINS".into()),
        // paths that stop early or go on too far
        ("requestor == \"x\"", 10, "`requestor` is not a value by itself: pick an attribute, like `requestor.email_addr`".into()),
        ("requestor.$LOWERCASE() == \"x\"", 10, "`requestor` is not a value by itself: pick an attribute before calling a function, like `requestor.email_addr.$LOWERCASE()`".into()),
        ("requestor.5", 10, "expected an attribute name after `requestor.`, found `5`".into()),
        ("group", 5, "`group` is not a value by itself: pick an attribute, like `group.name`".into()),
        ("approval_request", 16, "`approval_request` is not a value by itself: pick an attribute, like `approval_request.approvable_entity.app_entity.name`".into()),
        ("requestor.department.name == \"x\"", 21, "`requestor.department` has no attribute `name`: only a function can follow it, like `.$LOWERCASE()`".into()),
        ("\"a\".b", 4, "`\"a\"` has no attribute `b`: only a function can follow it, like `.$LOWERCASE()`".into()),
        ("requestor.name.$LOWERCASE", 25, "expected `(` after `$LOWERCASE`: functions are called like `x.$LOWERCASE()`".into()),
        ("requestor.custom_attributes == 1", 28, "`requestor.custom_attributes` needs a key, like `requestor.custom_attributes.cost_center`".into()),
        ("requestor.custom_attributes. == 1", 29, "expected a custom attribute name after `custom_attributes.`, like `custom_attributes.cost_center`".into()),
        ("custom_attributes", 17, "`custom_attributes` needs a key, like `custom_attributes.cost_center`".into()),
        // indexes
        ("users_requested_for.department == \"x\"", 19, "`users_requested_for` needs an index, like `users_requested_for[0]`".into()),
        ("users_requested_for[-1].department == \"x\"", 20, "bad index `-1`: an index is a whole number from 0, like `users_requested_for[0]`".into()),
        ("users_requested_for[1.5].department == \"x\"", 20, "bad index `1.5`: an index is a whole number from 0, like `users_requested_for[0]`".into()),
        ("users_requested_for[i].department == \"x\"", 20, "bad index: expected a whole number from 0, like `users_requested_for[0]`, found `i`".into()),
        ("users_requested_for[].department == \"x\"", 20, "bad index: expected a whole number from 0, like `users_requested_for[0]`, found `]`".into()),
        ("users_requested_for[0", 19, "unbalanced brackets: this `[` is never closed".into()),
        ("users_requested_for[0 1]", 22, "expected `]` after the index, found `1`".into()),
        ("users_requested_for[99999999999999999999999].name", 20, "index `99999999999999999999999` is too large".into()),
        ("users_requested_for[0] == \"x\"", 23, "`users_requested_for[0]` is not a value by itself: pick an attribute, like `users_requested_for[0].email_addr`".into()),
        // function arity
        ("requestor.name.$LOWERCASE(\"x\") == \"x\"", 15, "`$LOWERCASE` takes no arguments when called on a value, like `x.$LOWERCASE()`".into()),
        ("requestor.name.$CONTAINS()", 15, "`$CONTAINS` takes one argument when called on a value, like `x.$CONTAINS(\"@company.com\")`".into()),
        ("requestor.name.$CONTAINS(\"a\", \"b\")", 15, "`$CONTAINS` takes one argument when called on a value, like `x.$CONTAINS(\"@company.com\")`".into()),
        ("$UPPERCASE() == \"x\"", 0, "`$UPPERCASE` takes one argument, like `$UPPERCASE(requestor.department)`".into()),
        ("$CONTAINS(requestor.name)", 0, "`$CONTAINS` takes two arguments, like `$CONTAINS(requestor.email_addr, \"@company.com\")`".into()),
        ("$CONTAINS(requestor.name \"a\")", 25, "expected `,` or `)` after an argument of `$CONTAINS`, found `\"a\"`".into()),
        ("$CONTAINS(requestor.name, )", 26, "expected a value after `,`, found `)`".into()),
    ];
    let mut failures = Vec::new();
    for (src, offset, message) in &cases {
        match Rule::parse(src) {
            Ok(_) => failures.push(format!("`{src}` parsed, expected an error")),
            Err(e) => {
                if e.offset != *offset || e.message != *message {
                    failures.push(format!(
                        "`{src}`\n  expected {offset}: {message}\n  got      {}: {}",
                        e.offset, e.message
                    ));
                }
                assert!(e.offset <= src.chars().count());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nesting_is_limited_to_max_depth() {
    let ok = format!("{}true{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(rule(&ok).eval(&NoFacts));
    let deep = format!("{}true{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    let e = Rule::parse(&deep).unwrap_err();
    assert_eq!(e.offset, MAX_DEPTH);
    assert_eq!(
        e.message,
        "the rule nests too deeply: more than 64 levels of parentheses, NOT, lists and function calls"
    );

    let nots = format!("{}true", "NOT ".repeat(MAX_DEPTH));
    assert!(rule(&nots).eval(&NoFacts));
    let e = Rule::parse(&format!("{}true", "NOT ".repeat(MAX_DEPTH + 1))).unwrap_err();
    assert_eq!(e.offset, 4 * MAX_DEPTH);

    let e = Rule::parse(&format!("{}true", "!".repeat(100_000))).unwrap_err();
    assert_eq!(e.offset, MAX_DEPTH);

    let lists = format!("1 IN {}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(Rule::parse(&lists).unwrap_err().offset, 5 + MAX_DEPTH);

    let chain = format!("requestor.name{}", ".$LOWERCASE()".repeat(MAX_DEPTH + 1));
    let e = Rule::parse(&chain).unwrap_err();
    assert_eq!(e.offset, 14 + 13 * MAX_DEPTH + 1);

    let calls = format!("{}requestor.name{}", "$LOWERCASE(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert_eq!(Rule::parse(&calls).unwrap_err().offset, 11 * MAX_DEPTH);

    // Hostile input far past the limit fails fast instead of overflowing the stack.
    let hostile = "(".repeat(1_000_000);
    assert_eq!(Rule::parse(&hostile).unwrap_err().offset, MAX_DEPTH);
}

#[test]
fn long_flat_rules_are_fine() {
    let clause = "users_requested_for[0].department == \"x\"";
    let many = vec![clause; 10_000].join(" OR ");
    let r = rule(&many);
    assert!(!r.eval(&office()));
    assert_eq!(r.paths().len(), 1);
}

#[test]
fn canonical_text_normalises_spelling_and_parses_back() {
    let cases = [
        (
            "users_requested_for[0].department.$LOWERCASE() == \"Sales\".$LOWERCASE()",
            "users_requested_for[0].department.$LOWERCASE() == \"sales\"",
        ),
        (
            "requestor.email and users_requested_for[1].role != 'x'",
            "requestor.email_addr AND users_requested_for[1].title != \"x\"",
        ),
        ("a_b_c", ""),
        ("true || false && !true", "true OR false AND NOT true"),
        ("(true OR false) AND false", "(true OR false) AND false"),
        ("(true AND false) OR false", "true AND false OR false"),
        ("((true OR false)) OR false", "(true OR false) OR false"),
        ("$CONTAINS(requestor.permissions, 'Helpdesk')", "requestor.permissions.$CONTAINS(\"Helpdesk\")"),
        ("$LOWERCASE(requestor.name == \"x\")", "(requestor.name == \"x\").$LOWERCASE()"),
        ("(NOT requestor.is_active) == false", "(NOT requestor.is_active) == false"),
        ("requestor.is_active == NOT false", "requestor.is_active == (NOT false)"),
        ("NOT (a_b == 1)", ""),
        ("NOT (requestor.grade == 1)", "NOT (requestor.grade == 1)"),
        ("null == requestor.grade", "requestor.grade == null"),
        ("requestor.grade not in [1, -2.5, 3.0,]", "requestor.grade NOT IN [1, -2.5, 3]"),
        ("\"a\\\"b\\\\c\\nd\\u0001é\"", "\"a\\\"b\\\\c\\nd\\u0001é\""),
        ("'it''s'", ""),
        (
            "custom_attributes.cost-center IN ['a', \"B\"].$LOWERCASE()",
            "custom_attributes.cost-center IN [\"a\", \"b\"]",
        ),
        (
            "group.custom_attributes.x == approval_request.approvable_entity.app_entity.role_canonical_name_to_provision",
            "group.custom_attributes.x == approval_request.approvable_entity.app_entity.role_canonical_name_to_provision",
        ),
        ("$CONTAINS('abc', 'b')", "true"),
        ("-0 == 0", "-0 == 0"),
    ];
    for (src, expected) in cases {
        match Rule::parse(src) {
            Ok(r) => {
                assert_eq!(r.canonical(), expected, "canonical of `{src}`");
                let again = rule(&r.canonical());
                assert_eq!(again.expr, r.expr, "`{}` parses back to the same tree", r.canonical());
                assert_eq!(again.canonical(), r.canonical());
            }
            Err(_) => assert_eq!(expected, "", "`{src}` should parse"),
        }
    }
}

#[test]
fn paths_lists_every_attribute_read_once_in_order() {
    let r = rule(
        "users_requested_for[0].email == requestor.email_addr OR requestor.email IN group.members \
         AND approval_request.approvable_entity.app_entity.risk > custom_attributes.max_risk \
         AND users_requested_for[2].custom_attributes.cost-center != null",
    );
    let shown: Vec<String> = r.paths().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "users_requested_for[0].email_addr",
            "requestor.email_addr",
            "group.members",
            "approval_request.approvable_entity.app_entity.risk",
            "custom_attributes.max_risk",
            "users_requested_for[2].custom_attributes.cost-center",
        ]
    );
    assert_eq!(r.paths()[0], AttrPath::User(Subject::RequestedFor(0), UserField::Email));
    assert!(rule("\"a\".$LOWERCASE() == 'a'").paths().is_empty());
    // Each printed path parses back to itself.
    for p in r.paths() {
        let again = rule(&format!("{p} == 1"));
        assert_eq!(again.paths(), [p]);
    }
    // And reads its value.
    assert_eq!(r.paths()[0].read(&office()), Value::str("Bob@Company.com"));
}

#[test]
fn rules_compare_by_text_and_keep_their_source() {
    let src = "  requestor.grade   >  1 ";
    let a = rule(src);
    assert_eq!(a.source(), src);
    assert_eq!(a.to_string(), src);
    assert_eq!(a, rule(src));
    assert_ne!(a, rule("requestor.grade > 1"));
    let parsed: Rule = src.parse().unwrap();
    assert_eq!(parsed, a);
    let cloned = a.clone();
    assert_eq!(cloned.canonical(), "requestor.grade > 1");
}

#[test]
fn render_shows_the_line_and_a_caret_under_the_offset() {
    let src = "requestor.name == \"Bob";
    let e = Rule::parse(src).unwrap_err();
    assert_eq!(e.to_string(), "unterminated string: this `\"` is never closed");
    assert_eq!(e.render(src), "requestor.name == \"Bob\n                  ^");

    let src = "true AND\n\trequestor.departmnt == 1";
    let e = Rule::parse(src).unwrap_err();
    assert_eq!(e.render(src), "\trequestor.departmnt == 1\n\t          ^");
    assert_eq!(e.pos(src), crate::diag::Pos::new(2, 12));

    let src = "é == ";
    let e = Rule::parse(src).unwrap_err();
    assert_eq!(e.offset, 0);
    assert_eq!(e.render(src), "é == \n^");

    let src = "true AND";
    let e = Rule::parse(src).unwrap_err();
    assert_eq!(e.render(src), "true AND\n        ^");

    let long = format!("{} == 1 #", vec!["requestor.grade"; 20].join(" == 1 AND "));
    let e = Rule::parse(&long).unwrap_err();
    let shown = e.render(&long);
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines[0].starts_with('…') && lines[0].ends_with('#'), "{shown}");
    assert_eq!(lines[0].chars().count(), 101);
    assert_eq!(lines[1].chars().count(), lines[0].chars().count());
    assert!(lines[1].ends_with('^'));
}

/// A fact source over plain structs, as signoff's directory has it: borrowed strings and string lists.
#[test]
fn struct_backed_facts_hand_out_borrowed_values() {
    struct Person {
        email: String,
        groups: Vec<String>,
        custom: Vec<(String, Value<'static>)>,
    }
    struct Ctx {
        people: Vec<Person>,
    }
    impl Facts for Ctx {
        fn user(&self, who: Subject, field: &UserField) -> Value<'_> {
            let i = match who {
                Subject::Requestor => 0,
                Subject::RequestedFor(i) => i + 1,
            };
            let Some(p) = self.people.get(i) else {
                return Value::Null;
            };
            match field {
                UserField::Email => Value::from(&p.email),
                UserField::Groups => Value::from(&p.groups),
                UserField::Custom(k) => {
                    p.custom.iter().find(|(key, _)| key == k).map_or(Value::Null, |(_, v)| v.reborrow())
                }
                _ => Value::Null,
            }
        }
        fn request(&self, _: RequestField) -> Value<'_> {
            Value::Null
        }
        fn group(&self, _: &GroupField) -> Value<'_> {
            Value::Null
        }
        fn resource_custom(&self, _: &str) -> Value<'_> {
            Value::Null
        }
    }
    let ctx = Ctx {
        people: vec![
            Person { email: "A@x.com".into(), groups: vec!["admins".into()], custom: vec![] },
            Person {
                email: "b@x.com".into(),
                groups: vec![],
                custom: vec![("chain".into(), Value::List(vec![Value::from("a@x.com".to_string())]))],
            },
        ],
    };
    assert!(rule("\"admins\" IN requestor.groups").eval(&ctx));
    assert!(rule("requestor.email.$LOWERCASE() IN users_requested_for[0].custom_attributes.chain").eval(&ctx));
    assert!(!rule("requestor.email IN users_requested_for[0].custom_attributes.chain").eval(&ctx));
    assert!(rule("users_requested_for[1].email == null").eval(&ctx));
    // `eval` takes unsized fact sources too.
    let dynamic: &dyn Facts = &ctx;
    assert!(rule("requestor.groups.$CONTAINS('admins')").eval(dynamic));
}

#[test]
fn values_convert_and_compare_structurally() {
    let owned = vec!["a".to_string(), "b".to_string()];
    let strs_view = Value::from(&owned);
    let list = Value::List(vec![Value::from("a"), Value::from("b")]);
    assert_eq!(strs_view, list);
    assert_eq!(list.reborrow(), list);
    assert_eq!(strs_view.clone().into_owned(), list);
    assert_ne!(list, Value::List(vec![Value::from("a")]));
    assert_eq!(Value::from(None::<&str>), Value::Null);
    assert_eq!(Value::from(Some(3)), Value::Num(3.0));
    assert_eq!(Value::from(7u32), Value::Num(7.0));
    assert_eq!(Value::from(true).as_str(), None);
    assert_eq!(Value::from("x").as_str(), Some("x"));
    assert!(Value::default().is_null());
    assert_eq!(list.list_len(), Some(2));
    assert_eq!(list.list_item(1), Some(Value::str("b")));
    assert_eq!(Value::Num(1.0).list_item(0), None);
}
