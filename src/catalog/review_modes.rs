//! Which workflow a (resource, role) gets in a resource hierarchy two levels deep, in each review mode
//! (DESIGN 2: "role's > resource's > inherited from a parent (subject to review_mode) > the risk mapping > the
//! default"; `central`: the ancestor's workflow wins; `delegate`: the resource's own).
//!
//! Each test builds a small catalog from text, as the files would give it, and asks [`Catalog::workflow_for`].

use super::*;

/// Four people, one workflow per level of the hierarchy (each asks a different person, so the black-box test
/// in `tests/review_modes.rs` can tell them apart by who was asked) and one for roles.
const PEOPLE: &str = "\
users:
  - id: ana@example.com
    manager: raj@example.com
  - id: raj@example.com
  - id: gina@example.com
  - id: paul@example.com
  - id: cara@example.com
  - id: rolf@example.com
";

const POLICIES: &str = "\
workflows:
  HQ_FLOW: { user_constant_expression: { user: gina@example.com } }
  DEPT_FLOW: { user_constant_expression: { user: paul@example.com } }
  TEAM_FLOW: { user_constant_expression: { user: cara@example.com } }
  ROLE_FLOW: { user_constant_expression: { user: rolf@example.com } }
";

/// The catalog of [`PEOPLE`], [`POLICIES`] and these resources, with the default settings (risk 0..4:
/// AUTO_APPROVE, MANAGER, APP_ADMIN, APP_ADMIN_THEN_SECURITY; default MANAGER).
fn catalog(resources: &str) -> Catalog {
    let source = CatalogSource::new(
        vec![
            ("directory/people.yaml".to_owned(), PEOPLE.to_owned()),
            ("directory/resources.yaml".to_owned(), resources.to_owned()),
        ],
        vec![("policies/workflows.yaml".to_owned(), POLICIES.to_owned())],
        crate::policy::builtin_text(),
        &Settings::default(),
    );
    Catalog::from_source(&source).unwrap_or_else(|d| panic!("the test catalog does not load:\n{d}"))
}

/// `(workflow name, reason)` for `resource` and `role`.
fn chosen(catalog: &Catalog, resource: &str, role: Option<&str>) -> (String, ChoiceReason) {
    let choice =
        catalog.workflow_for(resource, role).unwrap_or_else(|e| panic!("no workflow for {resource} {role:?}: {e}"));
    (choice.name.unwrap_or_else(|| "<inline>".to_owned()), choice.reason)
}

fn central(ancestor: &str) -> ChoiceReason {
    ChoiceReason::Central { ancestor: ancestor.to_owned() }
}

fn inherited(ancestor: &str) -> ChoiceReason {
    ChoiceReason::Inherited { ancestor: ancestor.to_owned() }
}

fn role(name: &str) -> ChoiceReason {
    ChoiceReason::Role { role: name.to_owned() }
}

/// Asserts every `(resource, role, workflow, reason)` row of a table.
fn assert_choices(catalog: &Catalog, table: &[(&str, Option<&str>, &str, ChoiceReason)]) {
    for (resource, role, workflow, reason) in table {
        assert_eq!(
            chosen(catalog, resource, *role),
            ((*workflow).to_owned(), reason.clone()),
            "resource `{resource}`, role {role:?}"
        );
    }
}

/// hq -> dept -> {team, plain}; `team` has a role with its own workflow and a role without.
fn hierarchy(hq_mode: &str, dept_mode: &str) -> String {
    format!(
        "\
resources:
  - id: hq
    kind: app
    review_mode: {hq_mode}
    workflow: HQ_FLOW
  - id: dept
    kind: app
    parent: hq
    review_mode: {dept_mode}
    workflow: DEPT_FLOW
  - id: team
    kind: app
    parent: dept
    workflow: TEAM_FLOW
    roles:
      - name: admin
        workflow: ROLE_FLOW
      - name: reader
  - id: plain
    kind: app
    parent: dept
    risk: 3
"
    )
}

#[test]
fn central_at_the_top_imposes_its_workflow_on_every_level_below_but_not_on_a_role_that_names_its_own() {
    let c = catalog(&hierarchy("central", "delegate"));
    assert_choices(
        &c,
        &[
            // The central resource itself uses its own workflow: there is nothing above it to impose one.
            ("hq", None, "HQ_FLOW", ChoiceReason::Resource),
            ("dept", None, "HQ_FLOW", central("hq")),
            ("team", None, "HQ_FLOW", central("hq")),
            ("team", Some("reader"), "HQ_FLOW", central("hq")),
            // Its own risk does not matter either.
            ("plain", None, "HQ_FLOW", central("hq")),
            // DESIGN 2 puts the role's workflow first, before review_mode is considered.
            ("team", Some("admin"), "ROLE_FLOW", role("admin")),
        ],
    );
}

#[test]
fn delegate_lets_each_level_use_its_own_and_inherit_the_nearest_ancestors_only_when_it_has_none() {
    let c = catalog(&hierarchy("delegate", "delegate"));
    assert_choices(
        &c,
        &[
            ("hq", None, "HQ_FLOW", ChoiceReason::Resource),
            ("dept", None, "DEPT_FLOW", ChoiceReason::Resource),
            ("team", None, "TEAM_FLOW", ChoiceReason::Resource),
            ("team", Some("reader"), "TEAM_FLOW", ChoiceReason::Resource),
            ("team", Some("admin"), "ROLE_FLOW", role("admin")),
            // No workflow of its own: the nearest ancestor's (dept), not the top's, and before its own risk.
            ("plain", None, "DEPT_FLOW", inherited("dept")),
        ],
    );
}

#[test]
fn delegate_inheritance_skips_a_level_that_names_no_workflow() {
    let c = catalog(
        "\
resources:
  - id: hq
    kind: app
    workflow: HQ_FLOW
  - id: dept
    kind: app
    parent: hq
  - id: team
    kind: app
    parent: dept
",
    );
    assert_choices(&c, &[("dept", None, "HQ_FLOW", inherited("hq")), ("team", None, "HQ_FLOW", inherited("hq"))]);
}

#[test]
fn central_in_the_middle_governs_its_subtree_only() {
    let mut resources = hierarchy("delegate", "central");
    resources.push_str("  - id: sibling\n    kind: app\n    parent: hq\n    workflow: TEAM_FLOW\n");
    resources.push_str("  - id: orphan\n    kind: app\n    parent: hq\n");
    let c = catalog(&resources);
    assert_choices(
        &c,
        &[
            ("hq", None, "HQ_FLOW", ChoiceReason::Resource),
            ("dept", None, "DEPT_FLOW", ChoiceReason::Resource),
            ("team", None, "DEPT_FLOW", central("dept")),
            ("team", Some("reader"), "DEPT_FLOW", central("dept")),
            ("team", Some("admin"), "ROLE_FLOW", role("admin")),
            ("plain", None, "DEPT_FLOW", central("dept")),
            // Beside dept, not below it: hq delegates.
            ("sibling", None, "TEAM_FLOW", ChoiceReason::Resource),
            ("orphan", None, "HQ_FLOW", inherited("hq")),
        ],
    );
}

#[test]
fn with_two_central_levels_the_topmost_wins() {
    let c = catalog(&hierarchy("central", "central"));
    assert_choices(
        &c,
        &[
            ("dept", None, "HQ_FLOW", central("hq")),
            ("team", None, "HQ_FLOW", central("hq")),
            ("plain", None, "HQ_FLOW", central("hq")),
        ],
    );
}

#[test]
fn a_central_ancestor_without_a_workflow_imposes_nothing() {
    let c = catalog(
        "\
resources:
  - id: hq
    kind: app
    review_mode: central
    risk: 0
  - id: dept
    kind: app
    parent: hq
    workflow: DEPT_FLOW
  - id: team
    kind: app
    parent: dept
    workflow: TEAM_FLOW
",
    );
    assert_choices(
        &c,
        &[
            ("team", None, "TEAM_FLOW", ChoiceReason::Resource),
            ("dept", None, "DEPT_FLOW", ChoiceReason::Resource),
            ("hq", None, "AUTO_APPROVE", ChoiceReason::Risk { risk: 0 }),
        ],
    );
}

#[test]
fn risk_is_the_resources_own_else_the_nearest_ancestors_and_the_default_comes_last() {
    let c = catalog(
        "\
resources:
  - id: hq
    kind: app
    risk: 2
  - id: dept
    kind: app
    parent: hq
  - id: team
    kind: app
    parent: dept
  - id: risky-team
    kind: app
    parent: dept
    risk: 3
  - id: loner
    kind: app
  - id: flows
    kind: app
    workflow: HQ_FLOW
  - id: low-risk-team
    kind: app
    parent: flows
    risk: 0
",
    );
    assert_choices(
        &c,
        &[
            ("team", None, "APP_ADMIN", ChoiceReason::Risk { risk: 2 }),
            ("dept", None, "APP_ADMIN", ChoiceReason::Risk { risk: 2 }),
            ("risky-team", None, "APP_ADMIN_THEN_SECURITY", ChoiceReason::Risk { risk: 3 }),
            ("loner", None, "MANAGER", ChoiceReason::Default),
            // An inherited workflow comes before the resource's own risk.
            ("low-risk-team", None, "HQ_FLOW", inherited("flows")),
        ],
    );
}

#[test]
fn an_unknown_role_is_refused_and_a_role_on_a_resource_without_roles_changes_nothing() {
    let c = catalog(&hierarchy("central", "delegate"));
    assert!(matches!(c.workflow_for("team", Some("root")), Err(LookupError::UnknownRole { .. })));
    assert_eq!(chosen(&c, "dept", Some("anything")), ("HQ_FLOW".to_owned(), central("hq")));
}

#[test]
fn every_reason_reads_as_a_sentence() {
    assert_eq!(central("hq").to_string(), "`hq` reviews centrally and imposes its workflow");
    assert_eq!(inherited("dept").to_string(), "inherited from `dept`");
    assert_eq!(role("admin").to_string(), "the role `admin` names it");
    assert_eq!(ChoiceReason::Risk { risk: 2 }.to_string(), "risk 2 maps to it");
}
