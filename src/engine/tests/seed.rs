//! Every JSON example of the approvals-engine seed, parsed verbatim and run as its "User Experience" lines
//! describe.

use super::*;

const MANAGER_THEN_APP_ADMIN: &str = r#"{ "sequential_expression": { "expressions": [ { "manager_expression": {} }, { "app_admin_expression": {} } ] } }"#;

#[test]
fn sequential_manager_then_app_admin_asks_the_admin_only_after_the_manager_approved() {
    let mut run = Run::start(catalog(MANAGER_THEN_APP_ADMIN, ""), "john@company.com", "john@company.com", "app", None);
    // 1. Manager gets approval request
    assert_eq!(run.pending(), people(&["manager@company.com"]));
    // 2. Manager approves; 3. *Then* App Admin gets approval request
    run.approve("manager@company.com");
    assert_eq!(run.newly_asked(), people(&["appadmin@company.com", "appadmin2@company.com"]));
    assert_eq!(run.status(), ItemStatus::Requested);
    // 4. App Admin approves; 5. Access is granted
    run.approve("appadmin@company.com");
    assert_eq!(run.status(), ItemStatus::Approved);
    assert_eq!(run.dismissed(), people(&["appadmin2@company.com"]), "the other admin's prompt is tidied away");
    assert!(run.last.iter().any(|e| matches!(e, Effect::Grant { user, .. } if user == "john@company.com")));
    assert!(run.last.iter().any(|e| matches!(e, Effect::Webhook { event: WebhookEvent::GrantCreated, .. })));
}

const ANY_ONE_OF_THREE_VPS: &str = r#"{ "parallel_expression": { "expressions": [ { "user_constant_expression": { "user": "vp1@company.com" } }, { "user_constant_expression": { "user": "vp2@company.com" } }, { "user_constant_expression": { "user": "vp3@company.com" } } ], "number_required": 1 } }"#;

#[test]
fn parallel_one_of_three_vps_first_approval_wins_and_the_others_are_dismissed() {
    let mut run = Run::start(catalog(ANY_ONE_OF_THREE_VPS, ""), "john@company.com", "john@company.com", "app", None);
    // 1. All 3 VPs get approval request simultaneously
    assert_eq!(run.newly_asked(), people(&["vp1@company.com", "vp2@company.com", "vp3@company.com"]));
    // 2. First VP to approve completes the approval; 3. Other VPs' requests are auto-dismissed
    run.approve("vp2@company.com");
    assert_eq!(run.dismissed(), people(&["vp1@company.com", "vp3@company.com"]));
    for e in &run.last {
        if let Effect::DismissPrompt { reason, .. } = e {
            assert_eq!(
                *reason,
                DismissReason::Settled { outcome: NodeStatus::Approved, by: Some("vp2@company.com".to_owned()) },
                "the message says who settled it"
            );
        }
    }
    // 4. Access is granted
    assert_eq!(run.status(), ItemStatus::Approved);
    assert_eq!(run.reason(), "approved by Val Two");
    assert!(run.pending().is_empty());
}

const SENIOR_AUTO_ELSE_MANAGER: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "users_requested_for[0].custom_attributes.seniority_level IN [\"Director\", \"VP\", \"SVP\", \"EVP\"]" }, "expression": { "auto_approve_expression": {} } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn conditional_directors_and_above_are_auto_approved_everyone_else_asks_the_manager() {
    let cat = catalog(SENIOR_AUTO_ELSE_MANAGER, "");
    // Directors and above: Access auto-approved
    let run = Run::start(cat.clone(), "dir@company.com", "dir@company.com", "app", None);
    assert_eq!(run.status(), ItemStatus::Approved);
    assert!(run.log.iter().all(|e| !matches!(e, Effect::SendPrompt { .. })), "nobody is asked");
    // Everyone else: Manager must approve
    let run = Run::start(cat, "john@company.com", "john@company.com", "app", None);
    assert_eq!(run.pending(), people(&["manager@company.com"]));
}

const IT_SECURITY_ANY_TWO: &str = r#"{ "parallel_group_expression": { "group": { "external_id": "00gq0p1j6jGsb0ZCO2p8", "integration_id": "okta" }, "number_required": 2, "role": "MEMBER" } }"#;

#[test]
fn approval_group_two_of_eight_the_first_two_complete_it_and_six_are_dismissed() {
    let mut run = Run::start(catalog(IT_SECURITY_ANY_TWO, ""), "john@company.com", "john@company.com", "app", None);
    // 2. All 8 IT Security team members get approval request
    assert_eq!(run.newly_asked().len(), 8);
    // 3. First 2 team members to approve complete the requirement
    run.approve("sec3@company.com");
    assert_eq!(run.status(), ItemStatus::Requested);
    assert!(run.dismissed().is_empty());
    run.approve("sec7@company.com");
    // 4. Other 6 team members' requests are auto-dismissed; 5. Access is granted automatically
    assert_eq!(run.dismissed().len(), 6);
    assert_eq!(run.status(), ItemStatus::Approved);
}

const ROLE_BASED: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision.$LOWERCASE() == \"basic_user\".$LOWERCASE()" }, "expression": { "manager_expression": {} } }, { "condition": { "rule_v2": "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision.$LOWERCASE() == \"admin\".$LOWERCASE()" }, "expression": { "sequential_expression": { "expressions": [ { "manager_expression": {} }, { "user_constant_expression": { "user": "vp-it@company.com" } } ] } } } ], "default_expression": { "auto_deny_expression": {} } } }"#;

#[test]
fn role_based_basic_asks_the_manager_admin_asks_manager_then_vp_others_are_denied() {
    let cat = catalog(ROLE_BASED, "");
    // User requests Basic role → Manager approves
    let mut run = Run::start(cat.clone(), "john@company.com", "john@company.com", "app", Some("basic_user"));
    assert_eq!(run.pending(), people(&["manager@company.com"]));
    run.approve("manager@company.com");
    assert_eq!(run.status(), ItemStatus::Approved);
    // User requests Admin role → Manager approves, then VP must approve
    let mut run = Run::start(cat.clone(), "john@company.com", "john@company.com", "app", Some("admin"));
    run.approve("manager@company.com");
    assert_eq!(run.pending(), people(&["vp-it@company.com"]));
    run.approve("vp-it@company.com");
    assert_eq!(run.status(), ItemStatus::Approved);
    // User requests any other role → Auto-denied
    let run = Run::start(cat, "john@company.com", "john@company.com", "app", Some("other"));
    assert_eq!(run.status(), ItemStatus::Denied);
    assert!(run.log.iter().any(|e| matches!(e, Effect::Webhook { event: WebhookEvent::ItemDenied, .. })));
}

const ZOOM_TIERS: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision.$LOWERCASE() == \"zoom_basic\".$LOWERCASE()" }, "expression": { "auto_approve_expression": {} } }, { "condition": { "rule_v2": "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision.$LOWERCASE() == \"zoom_pro\".$LOWERCASE()" }, "expression": { "manager_expression": {} } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn use_case_free_and_paid_tiers_basic_is_automatic_pro_asks_the_manager() {
    let cat = catalog(ZOOM_TIERS, "");
    assert_eq!(
        Run::start(cat.clone(), "john@company.com", "john@company.com", "app", Some("zoom_basic")).status(),
        ItemStatus::Approved
    );
    let run = Run::start(cat, "john@company.com", "john@company.com", "app", Some("zoom_pro"));
    assert_eq!(run.pending(), people(&["manager@company.com"]));
}

const CONTRACTORS: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "users_requested_for[0].is_full_time_employee == true" }, "expression": { "auto_approve_expression": {} } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn use_case_contractor_restrictions_employees_automatic_contractors_ask_the_manager() {
    let cat = catalog(CONTRACTORS, "");
    assert_eq!(
        Run::start(cat.clone(), "john@company.com", "john@company.com", "app", None).status(),
        ItemStatus::Approved
    );
    let run = Run::start(cat, "jane@company.com", "jane@company.com", "app", None);
    assert_eq!(run.pending(), people(&["manager@company.com"]));
}

const DEPARTMENTS: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "users_requested_for[0].department.$LOWERCASE() == \"sales\".$LOWERCASE()" }, "expression": { "user_constant_expression": { "user": "vp-sales@company.com" } } }, { "condition": { "rule_v2": "users_requested_for[0].department.$LOWERCASE() == \"engineering\".$LOWERCASE()" }, "expression": { "user_constant_expression": { "user": "cto@company.com" } } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn use_case_department_specific_approvers() {
    let cat = catalog(DEPARTMENTS, "");
    assert_eq!(
        Run::start(cat.clone(), "jane@company.com", "jane@company.com", "app", None).pending(),
        people(&["vp-sales@company.com"])
    );
    assert_eq!(
        Run::start(cat.clone(), "john@company.com", "john@company.com", "app", None).pending(),
        people(&["cto@company.com"])
    );
    // Neither department: the manager (user1's is vp2).
    assert_eq!(
        Run::start(cat, "user1@company.com", "user1@company.com", "app", None).pending(),
        people(&["vp2@company.com"])
    );
}

const TIERED_SENIORITY: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "users_requested_for[0].custom_attributes.seniority_level IN [\"Director\", \"VP\", \"SVP\", \"C-Level\"]" }, "expression": { "auto_approve_expression": {} } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn use_case_tiered_approval_by_seniority() {
    let cat = catalog(TIERED_SENIORITY, "");
    assert_eq!(
        Run::start(cat.clone(), "dir@company.com", "dir@company.com", "app", None).status(),
        ItemStatus::Approved
    );
    assert_eq!(
        Run::start(cat, "jane@company.com", "jane@company.com", "app", None).pending(),
        people(&["manager@company.com"])
    );
}

const ANY_IT_ADMIN: &str = r#"{ "parallel_group_expression": { "group": { "external_id": "00gIT8AdminGroup", "integration_id": "okta" }, "number_required": 1, "role": "MEMBER" } }"#;

#[test]
fn use_case_any_it_admin_one_answer_settles_it() {
    let mut run = Run::start(catalog(ANY_IT_ADMIN, ""), "john@company.com", "john@company.com", "app", None);
    assert_eq!(run.pending(), people(&["itadmin1@company.com", "itadmin2@company.com"]));
    run.approve("itadmin2@company.com");
    assert_eq!(run.status(), ItemStatus::Approved);
    assert_eq!(run.dismissed(), people(&["itadmin1@company.com"]));
}

const FOR_SOMEONE_ELSE: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "users_requested_for[0].manager_email == requestor.email_addr" }, "expression": { "auto_approve_expression": {} } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn use_case_a_manager_requesting_for_a_direct_report_is_auto_approved() {
    let cat = catalog(FOR_SOMEONE_ELSE, "");
    assert_eq!(
        Run::start(cat.clone(), "manager@company.com", "john@company.com", "app", None).status(),
        ItemStatus::Approved
    );
    // Someone else asking for John: John's manager decides.
    assert_eq!(
        Run::start(cat, "jane@company.com", "john@company.com", "app", None).pending(),
        people(&["manager@company.com"])
    );
}

#[test]
fn basic_expressions_of_the_reference_behave_as_named() {
    let cases: [(&str, &str, &[&str], ItemStatus); 6] = [
        (r#"{ "auto_approve_expression": {} }"#, "auto approve", &[], ItemStatus::Approved),
        (r#"{ "auto_deny_expression": {} }"#, "auto deny", &[], ItemStatus::Denied),
        (
            r#"{ "user_constant_expression": { "user": "approver@company.com" } }"#,
            "specific user",
            &["approver@company.com"],
            ItemStatus::Requested,
        ),
        (r#"{ "manager_expression": {} }"#, "manager", &["manager@company.com"], ItemStatus::Requested),
        (
            r#"{ "app_admin_expression": {} }"#,
            "app admin",
            &["appadmin2@company.com", "appadmin@company.com"],
            ItemStatus::Requested,
        ),
        (
            r#"{ "referenced_expression": { "name": "Name_Of_Other_Workflow" } }"#,
            "reference",
            &["user1@company.com"],
            ItemStatus::Requested,
        ),
    ];
    let more = "  Name_Of_Other_Workflow:\n    user_constant_expression: { user: user1@company.com }\n";
    for (expr, what, asked, status) in cases {
        let run = Run::start(catalog(expr, more), "john@company.com", "john@company.com", "app", None);
        assert_eq!(run.pending(), people(asked), "{what}");
        assert_eq!(run.status(), status, "{what}");
    }
}

#[test]
fn combining_expressions_of_the_reference_behave_as_named() {
    let sequential = r#"{ "sequential_expression": { "expressions": [ { "manager_expression": {} }, { "app_admin_expression": {} } ] } }"#;
    let mut run = Run::start(catalog(sequential, ""), "john@company.com", "john@company.com", "app", None);
    assert_eq!(run.pending(), people(&["manager@company.com"]));
    run.approve("manager@company.com");
    assert_eq!(run.pending(), people(&["appadmin2@company.com", "appadmin@company.com"]));

    let parallel = r#"{ "parallel_expression": { "expressions": [ { "user_constant_expression": { "user": "user1@company.com" } }, { "user_constant_expression": { "user": "user2@company.com" } } ], "number_required": 1 } }"#;
    let mut run = Run::start(catalog(parallel, ""), "john@company.com", "john@company.com", "app", None);
    assert_eq!(run.pending(), people(&["user1@company.com", "user2@company.com"]));
    run.approve("user1@company.com");
    assert_eq!(run.status(), ItemStatus::Approved);
}

#[test]
fn the_reference_templates_with_placeholders_are_refused_with_a_clear_error() {
    // The seed's templates carry placeholders; loading them must fail with a position, not a panic.
    let condition = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "CONDITION_HERE" }, "expression": { "auto_approve_expression": {} } } ], "default_expression": { "manager_expression": {} } } }"#;
    let err = try_catalog(condition, "").unwrap_err().to_string();
    assert!(err.starts_with("test-workflow:1:"), "{err}");
    assert!(err.contains("invalid rule_v2"), "{err}");

    let group = r#"{ "parallel_group_expression": { "group": { "external_id": "GROUP_ID_HERE", "integration_id": "INTEGRATION_ID_HERE" }, "number_required": 1, "role": "MEMBER" } }"#;
    let err = try_catalog(group, "").unwrap_err().to_string();
    assert!(err.contains("unknown group `GROUP_ID_HERE`"), "{err}");
}

/// The seed's "Combining Conditions with AND" example, with its `//` comments (JSON with comments is
/// accepted), laid out on several lines as in the original document.
const AND_BY_NESTING: &str = r#"{ "condition_expression": { "clauses": [ { "condition": {
  // First condition: Department is Engineering
  "rule_v2": "users_requested_for[0].department.$LOWERCASE() == \"engineering\".$LOWERCASE()" }, "expression": {
  // If engineering, check second condition
  "condition_expression": { "clauses": [ { "condition": {
  // Second condition: Seniority is senior+
  "rule_v2": "users_requested_for[0].custom_attributes.seniority_level IN [\"Senior\", \"Staff\", \"Principal\"]" }, "expression": { "auto_approve_expression": {} } } ], "default_expression": { "manager_expression": {} } } } } ], "default_expression": { "manager_expression": {} } } }"#;

#[test]
fn and_by_nesting_senior_engineers_auto_junior_engineers_and_others_ask_the_manager() {
    let cat = catalog(AND_BY_NESTING, "");
    // Senior+ Engineering: Auto-approve
    assert_eq!(
        Run::start(cat.clone(), "john@company.com", "john@company.com", "app", None).status(),
        ItemStatus::Approved
    );
    // Junior Engineering (a Director is not in the senior list): Manager approval
    assert_eq!(
        Run::start(cat.clone(), "dir@company.com", "dir@company.com", "app", None).pending(),
        people(&["vp1@company.com"])
    );
    // All other departments: Manager approval
    assert_eq!(
        Run::start(cat, "jane@company.com", "jane@company.com", "app", None).pending(),
        people(&["manager@company.com"])
    );
}
