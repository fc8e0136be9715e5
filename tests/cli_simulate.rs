//! `signoff simulate` against the bundled example (`examples/`): who would be asked, step by step, as text and
//! as JSON. Every run passes `--at`, so out-of-office dates give the same answer whatever today is.

mod common;

use common::{Run, repo_root, signoff};
use serde_json::{Value, json};

/// The instant every plan is made at.
const AT: &str = "2026-11-23T12:00:00Z";

/// `signoff simulate --config examples/signoff.toml --at AT` plus `args`.
fn simulate(args: &[&str]) -> Run {
    let mut all = vec!["simulate", "--config", "examples/signoff.toml", "--at", AT];
    all.extend_from_slice(args);
    signoff(repo_root(), &all, &[])
}

/// A successful run's stdout.
fn plan(args: &[&str]) -> String {
    let run = simulate(args);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(run.stderr, "");
    run.stdout
}

/// A successful `--json` run's output.
fn plan_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = simulate(&all);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    run.json()
}

/// A person as the JSON plan names them.
fn person(id: &str, name: &str) -> Value {
    json!({ "id": id, "name": name })
}

/// Asserts a refused simulation: exit code 1, nothing on stdout, and exactly `line` on stderr.
fn assert_refused(run: &Run, line: &str) {
    assert_eq!(run.code, Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr_lines(), [line]);
}

const SALESFORCE_ADMIN_FOR_ANA: &str = "\
Ana Diaz <ana@example.com> asks for salesforce (role admin)
workflow: APP_ADMIN_THEN_MANAGER (the role `admin` names it)

in sequence [sequential_expression]
├─ step 1: APP_ADMIN [built-in or named workflow, expands to:]
│  └─ admins of Salesforce [app_admin_expression]  needs 1 of 2
│         asks: Kim Novak <kim@example.com>, Max Müller <max@example.com>
└─ step 2: MANAGER [built-in or named workflow, expands to:]
   └─ manager of Ana Diaz [manager_expression]  needs 1 of 1
          asks: Raj Patel <raj@example.com>

outcome: waits for approvers; 3 would be asked at some step: Kim Novak, Max Müller, Raj Patel
";

#[test]
fn an_admin_role_asks_the_app_admins_then_the_manager() {
    let out = plan(&["--requester", "ana@example.com", "--resource", "salesforce", "--role", "admin"]);
    assert_eq!(out, SALESFORCE_ADMIN_FOR_ANA);
}

#[test]
fn the_same_plan_as_json_has_the_workflow_the_steps_and_the_approvers() {
    let v = plan_json(&["--requester", "ana@example.com", "--resource", "salesforce", "--role", "admin"]);
    assert_eq!(v["workflow"], "APP_ADMIN_THEN_MANAGER");
    assert_eq!(v["workflow_reason"], "the role `admin` names it");
    assert_eq!(v["outcome"], "requested");
    assert_eq!(v["requester"], person("ana@example.com", "Ana Diaz"));
    assert_eq!(v["beneficiary"], person("ana@example.com", "Ana Diaz"));
    assert_eq!(v["resource"], "salesforce");
    assert_eq!(v["role"], "admin");

    let tree = &v["tree"];
    assert_eq!(tree["expression"], "sequential_expression");
    let steps = tree["children"].as_array().expect("the steps");
    assert_eq!(steps.len(), 2);

    assert_eq!(steps[0]["step"], 1);
    assert_eq!(steps[0]["expression"], "referenced_expression");
    assert_eq!(steps[0]["expands"], "APP_ADMIN");
    let admins = &steps[0]["children"][0];
    assert_eq!(admins["expression"], "app_admin_expression");
    assert_eq!(admins["required"], 1);
    assert_eq!(
        admins["asks"],
        json!([person("kim@example.com", "Kim Novak"), person("max@example.com", "Max Müller")])
    );

    assert_eq!(steps[1]["step"], 2);
    assert_eq!(steps[1]["expands"], "MANAGER");
    let manager = &steps[1]["children"][0];
    assert_eq!(manager["expression"], "manager_expression");
    assert_eq!(manager["asks"], json!([person("raj@example.com", "Raj Patel")]));

    assert_eq!(
        v["approvers"],
        json!([
            person("kim@example.com", "Kim Novak"),
            person("max@example.com", "Max Müller"),
            person("raj@example.com", "Raj Patel"),
        ])
    );
}

#[test]
fn a_risk_zero_resource_is_approved_at_once() {
    let out = plan(&["--requester", "ana@example.com", "--resource", "wiki"]);
    assert_eq!(
        out,
        "\
Ana Diaz <ana@example.com> asks for wiki
workflow: AUTO_APPROVE (risk 0 maps to it)

automatic approval [auto_approve_expression]  => approved at once
    note: approved automatically: AUTO_APPROVE: low-risk access that everyone may have

outcome: approved at once: approved automatically: AUTO_APPROVE: low-risk access that everyone may have
"
    );
    let v = plan_json(&["--requester", "ana@example.com", "--resource", "wiki"]);
    assert_eq!(v["outcome"], "approved");
    assert_eq!(v["approvers"], json!([]));
}

#[test]
fn a_full_time_employee_gets_the_vpn_at_once() {
    let out = plan(&["--requester", "ana@example.com", "--resource", "vpn"]);
    assert_eq!(
        out,
        "\
Ana Diaz <ana@example.com> asks for vpn
workflow: AUTO_APPROVE_FULL_TIME_ELSE_APP_ADMIN (the resource names it)

condition [condition_expression]  => approved at once
    note: clause 1 holds: users_requested_for[0].is_full_time_employee == true
└─ automatic approval [auto_approve_expression]  => approved at once
       note: approved automatically: full-time employee

outcome: approved at once: approved automatically: full-time employee
"
    );
}

#[test]
fn a_contractor_asking_for_the_vpn_waits_for_the_it_security_members() {
    let out = plan(&["--requester", "ben@example.com", "--resource", "vpn"]);
    assert_eq!(
        out,
        "\
Ben Okafor <ben@example.com> asks for vpn
workflow: AUTO_APPROVE_FULL_TIME_ELSE_APP_ADMIN (the resource names it)

condition [condition_expression]
    note: no clause holds: default
└─ admins of Corporate VPN [app_admin_expression]  needs 1 of 4
       asks: Sam Lee <sam@example.com>, Lee Chen <lee@example.com>, Kim Novak <kim@example.com>, Max Müller <max@example.com>

outcome: waits for approvers; 4 would be asked at some step: Sam Lee, Lee Chen, Kim Novak, Max Müller
"
    );
    let v = plan_json(&["--requester", "ben@example.com", "--resource", "vpn"]);
    assert_eq!(v["outcome"], "requested");
    let asked: Vec<&str> = v["tree"]["children"][0]["asks"]
        .as_array()
        .expect("the admins asked")
        .iter()
        .map(|p| p["id"].as_str().expect("an id"))
        .collect();
    // The VPN's admins are the `it-security` group: its members are asked.
    assert_eq!(asked, ["sam@example.com", "lee@example.com", "kim@example.com", "max@example.com"]);
}

#[test]
fn an_out_of_office_vp_is_left_out_and_the_fallback_asks_the_requesters_manager() {
    let out = plan(&["--requester", "ana@example.com", "--resource", "payroll"]);
    assert_eq!(
        out,
        "\
Ana Diaz <ana@example.com> asks for payroll
workflow: ANY_ONE_VP (the resource names it)

1 of 3 in parallel [parallel_expression]
    options: timeout 2d, on_timeout escalate
├─ Vera Stone [user_constant_expression]  needs 1 of 1
│      asks: Vera Stone <vera@example.com>
├─ Victor Hale [user_constant_expression]  needs 1 of 1
│      asks: Victor Hale <victor@example.com>
└─ Vince Ray [user_constant_expression]
       note: Vince Ray left out: out of office until 2099-01-01T00:00:00Z
       note: no available approver for Vince Ray: fallback to manager_expression
   └─ manager of Ana Diaz [manager_expression]  needs 1 of 1
          asks: Raj Patel <raj@example.com>

outcome: waits for approvers; 3 would be asked at some step: Vera Stone, Victor Hale, Raj Patel
"
    );
    let v = plan_json(&["--requester", "ana@example.com", "--resource", "payroll"]);
    let vince = &v["tree"]["children"][2];
    assert_eq!(
        vince["notes"],
        json!([
            "Vince Ray left out: out of office until 2099-01-01T00:00:00Z",
            "no available approver for Vince Ray: fallback to manager_expression",
        ])
    );
    assert_eq!(vince["children"][0]["asks"], json!([person("raj@example.com", "Raj Patel")]));
}

#[test]
fn a_manager_asking_for_a_direct_report_is_approved_at_once() {
    // Ben is junior, so the "requested by their manager" clause is the one that holds.
    let out = plan(&["--requester", "raj@example.com", "--resource", "github", "--for", "ben@example.com"]);
    assert_eq!(
        out,
        "\
Raj Patel <raj@example.com> asks for github for Ben Okafor <ben@example.com>
workflow: SENIOR_AUTO_ELSE_MANAGER (the resource names it)

condition [condition_expression]  => approved at once
    note: clause 2 holds: users_requested_for[0].manager_email == requestor.email_addr
└─ automatic approval [auto_approve_expression]  => approved at once
       note: approved automatically: requested by their manager

outcome: approved at once: approved automatically: requested by their manager
"
    );
}

#[test]
fn a_senior_engineer_asked_for_by_their_manager_is_approved_by_the_seniority_clause_first() {
    let v = plan_json(&["--requester", "raj@example.com", "--resource", "github", "--for", "ana@example.com"]);
    assert_eq!(v["outcome"], "approved");
    assert_eq!(v["outcome_reason"], "approved automatically: senior engineer (for 90d)");
    assert_eq!(v["beneficiary"], person("ana@example.com", "Ana Diaz"));
}

#[test]
fn a_requester_who_would_approve_their_own_access_is_left_out_and_the_fallback_applies() {
    // Salesforce asks the manager; Ben's manager is Raj, who is the one asking.
    let out = plan(&["--requester", "raj@example.com", "--resource", "salesforce", "--for", "ben@example.com"]);
    assert_eq!(
        out,
        "\
Raj Patel <raj@example.com> asks for salesforce for Ben Okafor <ben@example.com>
workflow: MANAGER (the resource names it)

manager of Ben Okafor [manager_expression]
    note: Raj Patel left out: the requester cannot approve their own access
    note: no available approver for manager of Ben Okafor: fallback to manager_expression
└─ manager of Raj Patel [manager_expression]  needs 1 of 1
       asks: Vera Stone <vera@example.com>

outcome: waits for approvers; 1 would be asked at some step: Vera Stone
"
    );
    let v = plan_json(&["--requester", "raj@example.com", "--resource", "salesforce", "--for", "ben@example.com"]);
    assert_eq!(v["approvers"], json!([person("vera@example.com", "Vera Stone")]));
}

#[test]
fn an_approval_round_the_requester_belongs_to_is_skipped() {
    let out = plan(&["--requester", "kim@example.com", "--resource", "role-change", "--for", "ana@example.com"]);
    assert_eq!(
        out,
        "\
Kim Novak <kim@example.com> asks for role-change for Ana Diaz <ana@example.com>
workflow: APPROVAL_ROUNDS (the resource names it)

in sequence [sequential_expression]
    options: self_approval skip
├─ step 1: holders of Helpdesk [permission_expression]  => approved at once
│      note: skipped: the requester Kim Novak is an approver of this step (self_approval: skip)
├─ step 2: manager of Ana Diaz [manager_expression]  needs 1 of 1
│      asks: Raj Patel <raj@example.com>
└─ step 3: holders of Usermanager [permission_expression]  needs 1 of 1
       asks: Raj Patel <raj@example.com>

outcome: waits for approvers; 1 would be asked at some step: Raj Patel
"
    );
    let v = plan_json(&["--requester", "kim@example.com", "--resource", "role-change", "--for", "ana@example.com"]);
    let helpdesk = &v["tree"]["children"][0];
    assert_eq!(helpdesk["step"], 1);
    assert_eq!(helpdesk["result"], "approved");
    assert!(helpdesk.get("asks").is_none(), "nobody is asked in a skipped round: {helpdesk}");
}

#[test]
fn several_people_and_roles_give_one_plan_each_separated_by_a_line() {
    let out = plan(&[
        "--requester",
        "raj@example.com",
        "--resource",
        "zoom",
        "--for",
        "ana@example.com",
        "--for",
        "ben@example.com",
        "--role",
        "zoom_basic",
        "--role",
        "zoom_pro",
    ]);
    let separator = "-".repeat(72);
    let plans: Vec<&str> = out.split(&format!("\n{separator}\n\n")).collect();
    assert_eq!(plans.len(), 4, "four plans:\n{out}");
    let heads: Vec<&str> = plans.iter().map(|p| p.lines().next().expect("a first line")).collect();
    assert_eq!(
        heads,
        [
            "Raj Patel <raj@example.com> asks for zoom (role zoom_basic) for Ana Diaz <ana@example.com>",
            "Raj Patel <raj@example.com> asks for zoom (role zoom_pro) for Ana Diaz <ana@example.com>",
            "Raj Patel <raj@example.com> asks for zoom (role zoom_basic) for Ben Okafor <ben@example.com>",
            "Raj Patel <raj@example.com> asks for zoom (role zoom_pro) for Ben Okafor <ben@example.com>",
        ]
    );
    let outcomes: Vec<&str> = out.lines().filter(|l| l.starts_with("outcome: ")).collect();
    assert_eq!(
        outcomes,
        [
            "outcome: approved at once: approved automatically: free tier",
            "outcome: waits for approvers; 1 would be asked at some step: Vera Stone",
            "outcome: approved at once: approved automatically: free tier",
            "outcome: waits for approvers; 1 would be asked at some step: Vera Stone",
        ]
    );
    // Exactly the separator line, with a blank line on each side.
    assert_eq!(out.lines().filter(|l| *l == separator).count(), 3);
    assert!(
        out.contains(&format!("outcome: approved at once: approved automatically: free tier\n\n{separator}\n\nRaj"))
    );
}

#[test]
fn several_items_as_json_are_an_array_of_plans() {
    let v = plan_json(&[
        "--requester",
        "raj@example.com",
        "--resource",
        "salesforce",
        "--for",
        "ana@example.com",
        "--for",
        "ben@example.com",
        "--role",
        "admin",
        "--role",
        "basic_user",
    ]);
    let items = v.as_array().expect("an array, one plan per item");
    let summary: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|p| {
            (
                p["beneficiary"]["id"].as_str().expect("a beneficiary"),
                p["role"].as_str().expect("a role"),
                p["workflow"].as_str().expect("a workflow"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ana@example.com", "admin", "APP_ADMIN_THEN_MANAGER"),
            ("ana@example.com", "basic_user", "MANAGER"),
            ("ben@example.com", "admin", "APP_ADMIN_THEN_MANAGER"),
            ("ben@example.com", "basic_user", "MANAGER"),
        ]
    );
    assert!(items.iter().all(|p| p["requester"] == person("raj@example.com", "Raj Patel")));
}

#[test]
fn an_unknown_resource_suggests_the_closest_one() {
    let run = simulate(&["--requester", "ana@example.com", "--resource", "salesforse"]);
    assert_refused(&run, "error: unknown resource `salesforse`, did you mean `salesforce`?");
}

#[test]
fn an_unknown_role_lists_the_roles_the_resource_has() {
    let run = simulate(&["--requester", "ana@example.com", "--resource", "salesforce", "--role", "owner"]);
    assert_refused(&run, "error: resource `salesforce` has no role `owner`; it has `basic_user`, `admin`");
}

#[test]
fn an_unknown_requester_is_refused_with_a_suggestion() {
    let run = simulate(&["--requester", "anna@example.com", "--resource", "salesforce"]);
    assert_refused(&run, "error: --requester: unknown user `anna@example.com`, did you mean `ana@example.com`?");
}

#[test]
fn an_unknown_person_the_access_is_for_is_refused() {
    let run = simulate(&["--requester", "ana@example.com", "--resource", "salesforce", "--for", "nobody@example.com"]);
    assert_refused(&run, "error: --for: unknown user `nobody@example.com`");
}

#[test]
fn a_requester_may_be_named_by_email_in_any_case() {
    let out = plan(&["--requester", "ANA@example.com", "--resource", "salesforce", "--role", "admin"]);
    assert_eq!(out, SALESFORCE_ADMIN_FOR_ANA);
}

#[test]
fn svg_draws_the_same_plan_as_a_picture_and_still_prints_the_text() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("plan.svg");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let out =
        plan(&["--requester", "ana@example.com", "--resource", "salesforce", "--role", "admin", "--svg", file_arg]);
    assert_eq!(out, SALESFORCE_ADMIN_FOR_ANA, "the text plan is printed as without --svg");
    let svg = std::fs::read_to_string(&file).expect("the picture was written");
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("role"), Some("img"));
    assert!(!svg.contains("style") && !svg.contains("<script"), "{svg}");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect())
        .collect();
    for expected in [
        "Plan: salesforce, role admin for Ana Diaz",
        "Step 1 of 2: admins of Salesforce",
        "workflow APP_ADMIN",
        "needs 1 of 2",
        "Kim Novak",
        "Max Müller",
        "Step 2 of 2: manager of Ana Diaz",
        "Raj Patel",
        "would be asked",
        "would wait for approvers: 3 asked at some step",
    ] {
        assert!(texts.iter().any(|t| t == expected), "{expected:?} not in {texts:#?}");
    }
    let desc = doc.descendants().find(|n| n.has_tag_name("desc")).and_then(|n| n.text()).expect("a description");
    assert!(desc.contains("Raj Patel: would be asked"), "{desc}");
}

#[test]
fn an_svg_file_that_cannot_be_written_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("no-such-folder").join("plan.svg");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let run = simulate(&["--requester", "ana@example.com", "--resource", "salesforce", "--svg", file_arg]);
    assert_eq!(run.code, Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "", "no plan is printed when its picture could not be written");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("error: cannot write the picture to `{file_arg}`: ")), "{}", lines[0]);
}
