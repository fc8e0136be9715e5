//! Review modes as a requester meets them (DESIGN 2): a resource in `review_mode: central` imposes its workflow
//! on every descendant; in `delegate` (the default) descendants use their own and inherit the nearest
//! ancestor's only when they have none. A role's own workflow comes first, the risk mapping after inheritance.
//!
//! The test writes its own directory and policy files to a temporary folder, starts the application on them
//! (loaded by `Catalog::load`, as `signoff serve` loads them), asks for access through `POST /api/v1/requests`,
//! and reads each request back: which workflow was chosen, who was asked, and why (the audit trail).

mod support;

use std::time::Instant;

use support::*;

/// Each level's workflow asks a different person, so who was asked shows which workflow won.
const PEOPLE: &str = "\
users:
  - id: ana@example.com
    manager: raj@example.com
  - id: raj@example.com
  - id: kim@example.com
  - id: gina@example.com
  - id: paul@example.com
  - id: cara@example.com
  - id: rolf@example.com
  - id: lena@example.com
  - id: mona@example.com
";

const WORKFLOWS: &str = "\
workflows:
  HQ_FLOW: { user_constant_expression: { user: gina@example.com } }
  DEPT_FLOW: { user_constant_expression: { user: paul@example.com } }
  TEAM_FLOW: { user_constant_expression: { user: cara@example.com } }
  ROLE_FLOW: { user_constant_expression: { user: rolf@example.com } }
  LAB_FLOW: { user_constant_expression: { user: lena@example.com } }
  MID_FLOW: { user_constant_expression: { user: mona@example.com } }
";

/// Three trees, each two levels deep:
/// - `hq` (central) -> `dept` (delegate, own workflow) -> `team` (own workflow; role `admin` has its own);
/// - `lab` (delegate) -> `lab-dept` (central) -> `lab-team`; `lab` -> `lab-own` (own workflow);
///   `lab` -> `lab-bare` (none) -> `lab-bare-team` (none);
/// - `vault` (risk 2, no workflow) -> `vault-shelf` -> `vault-box`.
const RESOURCES: &str = "\
resources:
  - id: hq
    kind: app
    review_mode: central
    workflow: HQ_FLOW
  - id: dept
    kind: app
    parent: hq
    review_mode: delegate
    workflow: DEPT_FLOW
  - id: team
    kind: app
    parent: dept
    workflow: TEAM_FLOW
    roles:
      - name: admin
        workflow: ROLE_FLOW
      - name: reader

  - id: lab
    kind: app
    workflow: LAB_FLOW
  - id: lab-dept
    kind: app
    parent: lab
    review_mode: central
    workflow: MID_FLOW
  - id: lab-team
    kind: app
    parent: lab-dept
    workflow: TEAM_FLOW
  - id: lab-own
    kind: app
    parent: lab
    workflow: TEAM_FLOW
  - id: lab-bare
    kind: app
    parent: lab
  - id: lab-bare-team
    kind: app
    parent: lab-bare

  - id: vault
    kind: app
    admins: [kim@example.com]
    risk: 2
  - id: vault-shelf
    kind: app
    parent: vault
    admins: [kim@example.com]
  - id: vault-box
    kind: app
    parent: vault-shelf
    admins: [kim@example.com]
";

/// One request and what must come of it.
struct Case {
    resource: &'static str,
    role: Option<&'static str>,
    workflow: &'static str,
    asked: &'static str,
    /// The reason as the audit trail words it.
    why: &'static str,
}

const CASES: &[Case] = &[
    // Central at the top: its workflow wins one and two levels down, whatever they name.
    Case { resource: "hq", role: None, workflow: "HQ_FLOW", asked: "gina@example.com", why: "the resource names it" },
    Case {
        resource: "dept",
        role: None,
        workflow: "HQ_FLOW",
        asked: "gina@example.com",
        why: "`hq` reviews centrally and imposes its workflow",
    },
    Case {
        resource: "team",
        role: Some("reader"),
        workflow: "HQ_FLOW",
        asked: "gina@example.com",
        why: "`hq` reviews centrally and imposes its workflow",
    },
    // A role that names its own workflow comes first (DESIGN 2: "role's > resource's > inherited").
    Case {
        resource: "team",
        role: Some("admin"),
        workflow: "ROLE_FLOW",
        asked: "rolf@example.com",
        why: "the role `admin` names it",
    },
    // Delegate at the top, central in the middle.
    Case { resource: "lab", role: None, workflow: "LAB_FLOW", asked: "lena@example.com", why: "the resource names it" },
    Case {
        resource: "lab-dept",
        role: None,
        workflow: "MID_FLOW",
        asked: "mona@example.com",
        why: "the resource names it",
    },
    Case {
        resource: "lab-team",
        role: None,
        workflow: "MID_FLOW",
        asked: "mona@example.com",
        why: "`lab-dept` reviews centrally and imposes its workflow",
    },
    Case {
        resource: "lab-own",
        role: None,
        workflow: "TEAM_FLOW",
        asked: "cara@example.com",
        why: "the resource names it",
    },
    Case {
        resource: "lab-bare-team",
        role: None,
        workflow: "LAB_FLOW",
        asked: "lena@example.com",
        why: "inherited from `lab`",
    },
    // No workflow anywhere up the tree: the nearest risk, through the default mapping (2: APP_ADMIN).
    Case {
        resource: "vault-box",
        role: None,
        workflow: "APP_ADMIN",
        asked: "kim@example.com",
        why: "risk 2 maps to it",
    },
];

#[tokio::test]
async fn each_level_of_a_hierarchy_gets_the_workflow_its_review_mode_gives_it() {
    // Arrange: the files, and the application loading them.
    let folder = tempfile::tempdir().expect("a temporary folder");
    let write = |rel: &str, text: &str| {
        let path = folder.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("creating the folder");
        std::fs::write(path, text).expect("writing the file");
    };
    write("directory/people.yaml", PEOPLE);
    write("directory/resources.yaml", RESOURCES);
    write("policies/workflows.yaml", WORKFLOWS);
    for db in test_databases() {
        let mut app =
            spawn_app(AppOptions::new().on(&db).files(folder.path().join("directory"), folder.path().join("policies")))
                .await;

        for case in CASES {
            // Act
            let mut body = json!({ "requester": "ana@example.com", "resource": case.resource });
            if let Some(role) = case.role {
                body["role"] = json!(role);
            }
            let (status, created) = app.create_request(body).await;
            assert_eq!(status, 201, "[{db}] {}: {created}", case.resource);
            let id = id_of(&created);

            // Assert: the request read back names the workflow and asks that one person.
            let what = format!("[{db}] {} {:?}", case.resource, case.role);
            let view = asked_view(&app, &id, &what).await;
            let item = &view["items"][0];
            assert_eq!(item["workflow"], case.workflow, "{what}: {view}");
            assert_eq!(item["state"], "requested", "{what}: {view}");
            let approvers: Vec<&str> =
                item["prompts"].as_array().unwrap().iter().map(|p| p["approver"].as_str().unwrap()).collect();
            assert_eq!(approvers, [case.asked], "{what}: {view}");
            let (status, trail) = app.audit(&id).await;
            assert_eq!(status, 200, "{what}: {trail}");
            let expected = format!("workflow {} ({})", case.workflow, case.why);
            assert!(trail.to_string().contains(&expected), "{what}: the trail says `{expected}`: {trail}");
        }
        app.stop().await;
    }
}

/// The request once its first prompt is recorded.
async fn asked_view(app: &TestApp, id: &str, what: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, view) = app.get_request(id).await;
        assert_eq!(status, 200, "{what}: {view}");
        if view["items"][0]["prompts"].as_array().is_some_and(|p| !p.is_empty()) {
            return view;
        }
        assert!(started.elapsed() < WAIT, "{what}: nobody was asked within {WAIT:?}: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
