//! `signoff check`, driven as a user would: a config, a directory and policies on disk, the built binary, and
//! the exact lines it prints. Every problem is one `file:line:col: message` line on stderr, the last line
//! counts them, and the exit code is 1.

mod common;

use common::{Fixture, repo_root, signoff};

#[test]
fn the_bundled_example_passes_and_says_what_it_read() {
    let run = signoff(repo_root(), &["check", "--config", "examples/signoff.toml"], &[]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout_lines(), ["ok: 14 users, 6 groups, 22 resources, 14 workflows (+20 built-in)"]);
    assert_eq!(run.stderr, "");
}

/// The README with every run of whitespace (line breaks included) made one space.
fn readme() -> String {
    let text = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_readme_counts_the_built_in_workflows_check_counts() {
    let run = signoff(repo_root(), &["check", "--config", "examples/signoff.toml"], &[]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let line = run.stdout_lines()[0].to_owned();
    let counted = line
        .rsplit_once("(+")
        .and_then(|(_, rest)| rest.strip_suffix(" built-in)"))
        .unwrap_or_else(|| panic!("no built-in count in {line:?}"));
    let readme = readme();
    let pieces: Vec<&str> = readme.split(" built-in workflows").collect();
    assert!(pieces.len() > 1, "the README no longer says how many built-in workflows there are");
    for before in &pieces[..pieces.len() - 1] {
        let word = before.rsplit(' ').next().unwrap_or_default();
        if word.bytes().all(|b| b.is_ascii_digit()) {
            assert_eq!(word, counted, "the README says {word} built-in workflows, `signoff check` counts {counted}");
        }
    }
    assert!(readme.contains(&format!("The {counted} built-in workflows")), "the README does not say {counted}");
}

/// Every file under `examples/directory` and `examples/policies`, as one text.
fn example_files() -> String {
    let mut text = String::new();
    for dir in ["examples/directory", "examples/policies"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
            text.push('\n');
        }
    }
    text
}

#[test]
fn the_examples_use_every_expression_and_node_option_the_readme_lists() {
    let readme = readme();
    let examples = example_files();
    // A key as YAML (`name:`) or JSON (`"name"`) writes it; a comment mentioning it does not count.
    let used = |key: &str| {
        examples.lines().any(|l| {
            let code = l.split_once(" #").map_or(l, |(c, _)| c);
            !code.trim_start().starts_with('#')
                && (code.contains(&format!("{key}:")) || code.contains(&format!("\"{key}\"")))
        })
    };
    for name in signoff::policy::parse::EXPRESSION_NAMES {
        assert!(readme.contains(&format!("`{name}`")), "the README's Policies section does not list `{name}`");
        assert!(used(name), "no example uses `{name}`");
    }
    // The options any node may carry, as the README lists them (their values in parentheses left out).
    let options = readme
        .split_once("Any node may carry ")
        .and_then(|(_, rest)| rest.split_once(". The "))
        .map(|(list, _)| list.to_owned())
        .expect("the README's list of node options");
    let mut names = Vec::new();
    let mut depth = 0;
    for (i, piece) in options.split('`').enumerate() {
        depth += piece.matches('(').count();
        depth -= piece.matches(')').count().min(depth);
        if i % 2 == 1 && depth == 0 {
            names.push(piece.to_owned());
        }
    }
    assert!(names.len() >= 9, "read too few options from the README: {names:?}");
    for name in &names {
        assert!(used(name), "no example uses the option `{name}`");
    }
}

#[test]
fn the_small_fixture_the_other_tests_break_is_valid() {
    let run = Fixture::valid().check();
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout_lines(), ["ok: 2 users, 1 group, 1 resource, 1 workflow (+20 built-in)"]);
}

// ---------------------------------------------------------------------------------------------------------
// Syntax

#[test]
fn a_tab_in_yaml_indentation_is_reported_at_the_tab() {
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "source: okta\nusers:\n  - id: ana@example.com\n    name: Ana Diaz\n\tmanager: raj@example.com\n",
    );
    f.check().assert_problems(&["directory/people.yaml:5:1: while scanning a plain scalar, found a tab"]);
}

#[test]
fn a_tab_before_a_list_item_is_reported_at_the_tab() {
    let f = Fixture::valid();
    f.write("directory/people.yaml", "users:\n\t- id: ana@example.com\n");
    f.check().assert_problems(&["directory/people.yaml:2:1: tabs disallowed within this context (block indentation)"]);
}

#[test]
fn bad_yaml_indentation_is_reported_where_the_block_breaks() {
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    name: Ana Diaz\n   manager: raj@example.com\n",
    );
    f.check().assert_problems(&[
        "directory/people.yaml:4:4: while parsing a block collection, did not find expected '-' indicator",
    ]);
}

#[test]
fn malformed_json_is_reported_where_the_comma_is_missing() {
    let f = Fixture::valid();
    f.write(
        "directory/more.json",
        "{\n  \"users\": [\n    { \"id\": \"sam@example.com\" \"name\": \"Sam Lee\" }\n  ]\n}\n",
    );
    // Column 30 is just after `"sam@example.com"`, where the comma belongs.
    f.check().assert_problems(&["directory/more.json:3:30: expected comma"]);
}

#[test]
fn an_unterminated_json_object_is_reported_at_its_opening_brace() {
    let f = Fixture::valid();
    f.write("policies/more.json", "{\n  \"workflows\": {\n    \"X\": { \"manager_expression\": {} }\n");
    f.check().assert_problems(&["policies/more.json:2:16: unterminated object"]);
}

#[test]
fn malformed_toml_config_is_reported_at_its_line_and_column() {
    let f = Fixture::valid();
    f.write("signoff.toml", "[directory]\npath = \"directory\"\n\n[policies\npath = \"policies\"\n");
    f.check().assert_problems(&["signoff.toml:4:10: unclosed table, expected `]`"]);
}

#[test]
fn an_unquoted_toml_string_is_reported_at_the_value() {
    let f = Fixture::valid();
    f.write("signoff.toml", "[directory]\npath = directory\n");
    f.check().assert_problems(&["signoff.toml:2:8: string values must be quoted, expected literal string"]);
}

// ---------------------------------------------------------------------------------------------------------
// Unknown keys and names

#[test]
fn a_misspelt_key_in_a_user_suggests_manager() {
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    mangaer: raj@example.com\n  - id: raj@example.com\n",
    );
    f.check().assert_problems(&["directory/people.yaml:3:5: unknown key `mangaer`, did you mean `manager`?"]);
}

#[test]
fn an_unknown_key_in_a_resource_lists_the_keys_a_resource_takes() {
    let f = Fixture::valid();
    f.write("directory/resources.yaml", "resources:\n  - id: wiki\n    colour: blue\n");
    f.check().assert_problems(&[
        "directory/resources.yaml:3:5: unknown key `colour`, expected one of `id`, `kind`, `name`, `admins`, \
         `owners`, `roles`, `workflow`, `risk`, `parent`, `review_mode`, `group`, `permissions`, `max_duration`, \
         `custom_attributes`",
    ]);
}

#[test]
fn a_misspelt_option_in_an_expression_suggests_timeout() {
    let f = Fixture::valid();
    f.write("policies/workflows.yaml", "workflows:\n  SLOW:\n    manager_expression: { timout: 48h }\n");
    f.check().assert_problems(&[
        "policies/workflows.yaml:3:27: unknown key `timout` in `manager_expression`, did you mean `timeout`?",
    ]);
}

#[test]
fn a_misspelt_key_in_the_config_suggests_listen() {
    let f = Fixture::valid();
    f.write("signoff.toml", &format!("[server]\nlistne = \"127.0.0.1:9000\"\n\n{}", common::CONFIG));
    f.check().assert_problems(&["signoff.toml:2:1: unknown key `listne` in [server], did you mean `listen`?"]);
}

#[test]
fn an_unknown_expression_name_suggests_the_closest_one() {
    let f = Fixture::valid();
    f.write("policies/workflows.yaml", "workflows:\n  BOSS:\n    manger_expression: {}\n");
    f.check().assert_problems(&[
        "policies/workflows.yaml:3:5: unknown expression `manger_expression`, did you mean `manager_expression`?",
    ]);
}

// ---------------------------------------------------------------------------------------------------------
// Wrong types and values

#[test]
fn a_grade_that_is_not_a_number_is_reported_at_the_value() {
    let f = Fixture::valid();
    f.write("directory/people.yaml", "users:\n  - id: ana@example.com\n    grade: high\n  - id: raj@example.com\n");
    f.check().assert_problems(&["directory/people.yaml:3:12: expected an integer, found a string"]);
}

#[test]
fn a_number_required_written_as_text_is_reported_at_the_value() {
    let f = Fixture::valid();
    f.write(
        "policies/workflows.yaml",
        "workflows:\n  BOTH:\n    parallel_expression:\n      expressions:\n        - manager_expression: {}\n        \
         - app_admin_expression: {}\n      number_required: \"two\"\n",
    );
    f.check().assert_problems(&[
        "policies/workflows.yaml:7:24: `number_required`: expected a non-negative integer, found a string",
    ]);
}

#[test]
fn a_timeout_with_an_unknown_unit_is_rejected() {
    let f = Fixture::valid();
    f.write("policies/workflows.yaml", "workflows:\n  SLOW:\n    manager_expression: { timeout: 48x }\n");
    f.check().assert_problems(&[
        "policies/workflows.yaml:3:36: `timeout`: invalid duration `48x`: unknown unit `x`: use s, m, h, d or w",
    ]);
}

#[test]
fn a_max_duration_without_a_unit_is_rejected() {
    let f = Fixture::valid();
    f.write("policies/workflows.yaml", "workflows:\n  SHORT:\n    manager_expression: { max_duration: 5 }\n");
    f.check().assert_problems(&[
        "policies/workflows.yaml:3:41: `max_duration`: `5` has no unit: write `5s`, `5m`, `5h` or `5d`",
    ]);
}

#[test]
fn a_resource_max_duration_without_a_unit_is_rejected() {
    let f = Fixture::valid();
    f.write("directory/resources.yaml", "resources:\n  - id: wiki\n    max_duration: 5\n");
    f.check().assert_problems(&["directory/resources.yaml:3:19: `5` has no unit: write `5s`, `5m`, `5h` or `5d`"]);
}

// ---------------------------------------------------------------------------------------------------------
// rule_v2: the column points into the rule text, at the offending token.

#[test]
fn a_malformed_rule_in_single_quotes_points_at_the_offending_token() {
    let f = Fixture::valid();
    // The rule starts at column 34 (after the quote at 33); the second `>` is its 18th character, so column 51.
    let policy = "workflows:
  GRADED:
    condition_expression:
      clauses:
        - condition: { rule_v2: 'requestor.grade >> 5' }
          expression: { auto_approve_expression: {} }
";
    f.write("policies/workflows.yaml", policy);
    f.check()
        .assert_problems(&["policies/workflows.yaml:5:51: invalid rule_v2: expected a value after `>`, found `>`\n\
         requestor.grade >> 5\n                 ^"]);
}

#[test]
fn an_unclosed_parenthesis_in_a_plain_rule_points_at_the_parenthesis() {
    let f = Fixture::valid();
    // The plain rule starts at column 22; the `(` is its fifth character, so column 26.
    let policy = "workflows:
  GRADED:
    condition_expression:
      clauses:
        - condition:
            rule_v2: NOT (requestor.grade > 5 AND requestor.department == \"Sales\"
          expression: { auto_approve_expression: {} }
";
    f.write("policies/workflows.yaml", policy);
    let run = f.check();
    run.assert_problems(&[
        "policies/workflows.yaml:6:26: invalid rule_v2: unbalanced brackets: this `(` is never closed\n\
         NOT (requestor.grade > 5 AND requestor.department == \"Sales\"\n    ^",
    ]);
}

#[test]
fn a_malformed_rule_with_escaped_quotes_in_yaml_counts_the_backslashes() {
    let f = Fixture::valid();
    // The rule text starts at column 23. In the value, the second `>` is at offset 53, but each `\"` is two
    // characters in the file, so it is at column 23 + 53 + 2 = 78.
    let policy = r#"workflows:
  GRADED:
    condition_expression:
      clauses:
        - condition:
            rule_v2: "requestor.department == \"Sales\" AND requestor.grade >> 5"
          expression: { auto_approve_expression: {} }
"#;
    f.write("policies/workflows.yaml", policy);
    f.check().assert_problems(&[
        "policies/workflows.yaml:6:78: invalid rule_v2: expected a value after `>`, found `>`\n\
         requestor.department == \"Sales\" AND requestor.grade >> 5\n                                                     ^",
    ]);
}

#[test]
fn a_malformed_rule_in_json_counts_the_escaped_quotes() {
    let f = Fixture::valid();
    // The rule text starts at column 23 of line 6. In the value, the second `>` is at offset 53; the two `\"`
    // add two characters in the file, so it is at column 23 + 53 + 2 = 78.
    let policy = r#"{
  "workflows": {
    "GRADED": {
      "condition_expression": {
        "clauses": [ { "condition": {
          "rule_v2": "requestor.department == \"Sales\" AND requestor.grade >> 5" },
          "expression": { "auto_approve_expression": {} } } ]
      }
    }
  }
}
"#;
    f.write("policies/more.json", policy);
    f.check().assert_problems(&[
        "policies/more.json:6:78: invalid rule_v2: expected a value after `>`, found `>`\n\
         requestor.department == \"Sales\" AND requestor.grade >> 5\n                                                     ^",
    ]);
}

// ---------------------------------------------------------------------------------------------------------
// References that lead nowhere

#[test]
fn an_unknown_manager_is_reported_at_the_reference() {
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    manager: rja@example.com\n  - id: raj@example.com\n",
    );
    f.check().assert_problems(&[
        "directory/people.yaml:3:14: unknown manager `rja@example.com`: no user has this id or email",
    ]);
}

#[test]
fn an_unknown_group_member_is_reported_at_the_member() {
    let f = Fixture::valid();
    f.write("directory/groups.yaml", "groups:\n  - id: admins\n    members: [raj@example.com, sam@example.com]\n");
    f.check().assert_problems(&[
        "directory/groups.yaml:3:32: unknown member `sam@example.com`: no user has this id or email",
    ]);
}

#[test]
fn an_unknown_group_owner_is_reported_at_the_owner() {
    let f = Fixture::valid();
    f.write("directory/groups.yaml", "groups:\n  - id: admins\n    members: [raj@example.com]\n    owners: [zed]\n");
    f.check().assert_problems(&["directory/groups.yaml:4:14: unknown owner `zed`: no user has this id or email"]);
}

#[test]
fn an_unknown_resource_owner_is_reported_at_the_owner() {
    let f = Fixture::valid();
    f.write("directory/resources.yaml", "resources:\n  - id: wiki\n    owners: [ana@example.com, zed]\n");
    f.check().assert_problems(&["directory/resources.yaml:3:31: unknown owner `zed`: no user or group has this id"]);
}

#[test]
fn an_unknown_admin_suggests_the_group_that_was_meant() {
    let f = Fixture::valid();
    f.write("directory/resources.yaml", "resources:\n  - id: wiki\n    admins: [raj@example.com, admns]\n");
    f.check().assert_problems(&[
        "directory/resources.yaml:3:31: unknown admin `admns`: no user or group has this id, did you mean `admins`?",
    ]);
}

#[test]
fn an_unknown_workflow_on_a_resource_suggests_the_closest_name() {
    let f = Fixture::valid();
    f.write("directory/resources.yaml", "resources:\n  - id: wiki\n    workflow: TWO_STEP\n");
    f.check()
        .assert_problems(&["directory/resources.yaml:3:15: unknown workflow `TWO_STEP`, did you mean `TWO_STEPS`?"]);
}

#[test]
fn an_unknown_workflow_on_a_role_suggests_the_closest_name() {
    let f = Fixture::valid();
    f.write(
        "directory/resources.yaml",
        "resources:\n  - id: wiki\n    roles:\n      - name: editor\n        workflow: APP_ADMN\n",
    );
    f.check()
        .assert_problems(&["directory/resources.yaml:5:19: unknown workflow `APP_ADMN`, did you mean `APP_ADMIN`?"]);
}

#[test]
fn an_unknown_user_in_a_user_constant_expression_suggests_the_closest_user() {
    let f = Fixture::valid();
    f.write("policies/more.yaml", "workflows:\n  ANNA:\n    user_constant_expression: { user: anna@example.com }\n");
    // Reported at the expression that names the user.
    f.check()
        .assert_problems(&["policies/more.yaml:3:5: unknown user `anna@example.com`, did you mean `ana@example.com`?"]);
}

#[test]
fn an_unknown_user_from_another_name_is_not_passed_off_as_a_typo() {
    let f = Fixture::valid();
    f.write("policies/more.yaml", "workflows:\n  BOB:\n    user_constant_expression: { user: bob@example.com }\n");
    // `bob` is not a misspelt `raj` just because both are at example.com.
    f.check().assert_problems(&["policies/more.yaml:3:5: unknown user `bob@example.com`"]);
}

#[test]
fn an_unknown_group_in_a_parallel_group_expression_suggests_the_closest_group() {
    let f = Fixture::valid();
    f.write(
        "policies/more.yaml",
        "workflows:\n  ADMINS:\n    parallel_group_expression: { group: admns, number_required: 1 }\n",
    );
    f.check().assert_problems(&["policies/more.yaml:3:5: unknown group `admns`, did you mean `admins`?"]);
}

#[test]
fn an_integration_id_that_is_not_the_directory_source_is_rejected() {
    let f = Fixture::valid();
    f.write(
        "policies/more.yaml",
        "workflows:\n  ADMINS:\n    parallel_group_expression:\n      group: { external_id: admins, integration_id: azure }\n",
    );
    f.check().assert_problems(&[
        "policies/more.yaml:3:5: group `admins` comes from the directory source `okta`, not `azure`",
    ]);
}

// ---------------------------------------------------------------------------------------------------------
// Cycles and duplicates

#[test]
fn a_manager_cycle_is_reported_once_where_it_closes() {
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    manager: raj@example.com\n  - id: raj@example.com\n    \
         manager: ana@example.com\n",
    );
    f.check().assert_problems(&[
        "directory/people.yaml:5:14: manager cycle: ana@example.com -> raj@example.com -> ana@example.com",
    ]);
}

#[test]
fn a_resource_parent_cycle_is_reported_at_the_parent_that_closes_it() {
    let f = Fixture::valid();
    f.write("directory/resources.yaml", "resources:\n  - id: wiki\n    parent: crm\n  - id: crm\n    parent: wiki\n");
    f.check().assert_problems(&["directory/resources.yaml:5:13: resource parent cycle: wiki -> crm -> wiki"]);
}

#[test]
fn a_group_parent_cycle_is_reported_at_the_parent_that_closes_it() {
    let f = Fixture::valid();
    f.write("directory/groups.yaml", "groups:\n  - id: admins\n    parent: staff\n  - id: staff\n    parent: admins\n");
    f.check().assert_problems(&["directory/groups.yaml:5:13: group parent cycle: admins -> staff -> admins"]);
}

#[test]
fn duplicate_user_ids_are_reported_whatever_their_case() {
    let f = Fixture::valid();
    f.write("directory/team.yaml", "users:\n  - id: Ana@Example.com\n");
    f.check().assert_problems(&[
        "directory/team.yaml:2:9: duplicate user id `Ana@Example.com` (first defined at directory/people.yaml:3:9)",
    ]);
}

#[test]
fn duplicate_group_ids_are_reported_with_the_first_definition() {
    let f = Fixture::valid();
    f.write("directory/team.yaml", "groups:\n  - id: admins\n");
    f.check().assert_problems(&[
        "directory/team.yaml:2:9: duplicate group id `admins` (first defined at directory/groups.yaml:3:9)",
    ]);
}

#[test]
fn duplicate_resource_ids_are_reported_with_the_first_definition() {
    let f = Fixture::valid();
    f.write("directory/team.yaml", "resources:\n  - id: wiki\n    workflow: MANAGER\n");
    f.check().assert_problems(&[
        "directory/team.yaml:2:9: duplicate resource id `wiki` (first defined at directory/resources.yaml:2:9)",
    ]);
}

#[test]
fn cycles_are_still_found_when_an_id_is_also_duplicated() {
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    manager: raj@example.com\n  - id: raj@example.com\n    \
         manager: ana@example.com\n  - id: ana@example.com\n",
    );
    f.check().assert_problems(&[
        "directory/people.yaml:5:14: manager cycle: ana@example.com -> raj@example.com -> ana@example.com",
        "directory/people.yaml:6:9: duplicate user id `ana@example.com` (first defined at directory/people.yaml:2:9)",
    ]);
}

#[test]
fn a_reference_cycle_between_two_workflows_is_reported() {
    let f = Fixture::valid();
    f.write(
        "policies/workflows.yaml",
        "workflows:\n  TWO_STEPS:\n    sequential_expression:\n      expressions:\n        - manager_expression: {}\n        \
         - referenced_expression: { name: BACK }\n  BACK:\n    referenced_expression: { name: TWO_STEPS }\n",
    );
    f.check().assert_problems(&["policies/workflows.yaml:8:5: reference cycle: TWO_STEPS -> BACK -> TWO_STEPS"]);
}

#[test]
fn number_required_above_the_number_of_expressions_is_rejected() {
    let f = Fixture::valid();
    f.write(
        "policies/workflows.yaml",
        "workflows:\n  BOTH:\n    parallel_expression:\n      expressions:\n        - manager_expression: {}\n        \
         - app_admin_expression: {}\n      number_required: 3\n",
    );
    f.check().assert_problems(&[
        "policies/workflows.yaml:7:24: number_required is 3 but the node has 2 expression(s); it must be between 1 \
         and 2",
    ]);
}

// ---------------------------------------------------------------------------------------------------------
// Several problems, paths, the environment

#[test]
fn several_problems_are_all_reported_in_file_order_and_counted() {
    // Raj's entry is broken (`grade: high`): the groups naming him are not reported on top of that.
    let f = Fixture::valid();
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    manager: rja@example.com\n  - id: raj@example.com\n    grade: high\n",
    );
    f.write("directory/groups.yaml", "groups:\n  - id: admins\n    members: [raj@example.com, sam@example.com]\n");
    f.write(
        "directory/resources.yaml",
        "resources:\n  - id: wiki\n    risk: 7\n    colour: blue\n  - id: crm\n    risk: 9\n",
    );
    f.check().assert_problems(&[
        "directory/groups.yaml:3:32: unknown member `sam@example.com`: no user has this id or email",
        "directory/people.yaml:3:14: unknown manager `rja@example.com`: no user has this id or email",
        "directory/people.yaml:5:12: expected an integer, found a string",
        "directory/resources.yaml:4:5: unknown key `colour`, expected one of `id`, `kind`, `name`, `admins`, \
         `owners`, `roles`, `workflow`, `risk`, `parent`, `review_mode`, `group`, `permissions`, `max_duration`, \
         `custom_attributes`",
        "directory/resources.yaml:6:11: risk must be 0, 1, 2, 3 or 4, found 9",
    ]);
}

#[test]
fn a_user_entry_with_a_mistake_is_reported_once_not_again_at_every_reference_to_it() {
    let f = Fixture::valid();
    // Raj is Ana's manager, the admins' member and owner; only his own entry is wrong.
    f.write(
        "directory/people.yaml",
        "users:\n  - id: ana@example.com\n    manager: raj@example.com\n  - id: raj@example.com\n    \
         mangaer: vera@example.com\n",
    );
    f.check().assert_problems(&["directory/people.yaml:5:5: unknown key `mangaer`, did you mean `manager`?"]);
}

#[test]
fn ten_problems_are_counted_in_the_last_line() {
    let f = Fixture::valid();
    let mut people = String::from("users:\n  - id: raj@example.com\n");
    for i in 0..10 {
        people.push_str(&format!("  - id: u{i}@example.com\n    manager: nobody{i}@example.com\n"));
    }
    f.write("directory/people.yaml", &people);
    let run = f.check();
    assert_eq!(run.code, Some(1));
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 11, "stderr:\n{}", run.stderr);
    assert_eq!(
        lines[0],
        "directory/people.yaml:4:14: unknown manager `nobody0@example.com`: no user has this id or email"
    );
    assert_eq!(
        lines[9],
        "directory/people.yaml:22:14: unknown manager `nobody9@example.com`: no user has this id or email"
    );
    assert_eq!(lines[10], "10 problems found");
}

#[test]
fn paths_in_messages_start_from_the_config_files_folder_as_given() {
    let f = Fixture::empty();
    f.write("conf/signoff.toml", "[directory]\npath = \"people\"\n")
        .write("conf/people/users.yaml", "users:\n  - id: ana@example.com\n    mangaer: raj@example.com\n");
    let run = signoff(f.path(), &["check", "--config", "conf/signoff.toml"], &[]);
    run.assert_problems(&["conf/people/users.yaml:3:5: unknown key `mangaer`, did you mean `manager`?"]);
}

#[test]
fn a_config_naming_a_missing_directory_says_which_setting_names_it() {
    let f = Fixture::valid();
    f.write("signoff.toml", "[directory]\npath = \"nowhere\"\n\n[policies]\npath = \"policies\"\n");
    f.check().assert_problems(&[
        "nowhere: not found: `[directory] path` should name a YAML or JSON file or a folder of them",
    ]);
}

#[test]
fn a_missing_config_file_is_reported() {
    let f = Fixture::empty();
    f.check().assert_problems(&["signoff.toml: config file not found"]);
}

#[test]
fn an_unknown_default_workflow_from_the_environment_names_the_variable() {
    let run = Fixture::valid().check_with_env(&[("SIGNOFF_POLICIES_DEFAULT", "NOPE")]);
    run.assert_problems(&["environment variable SIGNOFF_POLICIES_DEFAULT: unknown workflow `NOPE`"]);
}

#[test]
fn the_environment_overrides_the_bundled_examples_default_workflow() {
    let run =
        signoff(repo_root(), &["check", "--config", "examples/signoff.toml"], &[("SIGNOFF_POLICIES_DEFAULT", "NOPE")]);
    run.assert_problems(&["environment variable SIGNOFF_POLICIES_DEFAULT: unknown workflow `NOPE`"]);
}

#[test]
fn an_unknown_workflow_in_the_config_file_is_reported_where_it_is_written() {
    let f = Fixture::valid();
    f.write("signoff.toml", &format!("{}\n[policies.risk]\n3 = \"APP_ADMIN_THEN_SECURTY\"\n", common::CONFIG));
    f.check().assert_problems(&[
        "signoff.toml:9:5: unknown workflow `APP_ADMIN_THEN_SECURTY`, did you mean `APP_ADMIN_THEN_SECURITY`?",
    ]);
}

// ---------------------------------------------------------------------------------------------------------
// API tokens (DESIGN 7.1)

#[test]
fn legacy_tokens_pass_with_a_warning_that_they_can_act_as_anyone() {
    let f = Fixture::valid();
    f.write("signoff.toml", &format!("{}\n[api]\ntokens = [\"s3cret-one\", \"s3cret-two\"]\n", common::CONFIG));
    let run = f.check();
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(run.stderr_lines().len(), 1, "{}", run.stderr);
    let warning = run.stderr_lines()[0];
    assert!(
        warning.starts_with("signoff.toml:9:1: warning: 2 legacy `[api] tokens` can do everything and act as anyone"),
        "{warning}"
    );
    assert!(!run.stderr.contains("s3cret"), "no token in the output: {}", run.stderr);
    // From the environment, the warning names the variable.
    let run = Fixture::valid().check_with_env(&[("SIGNOFF_API_TOKENS", "from-env")]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert!(run.stderr.starts_with("environment variable SIGNOFF_API_TOKENS: warning:"), "{}", run.stderr);
}

#[test]
fn a_token_acting_for_someone_not_in_the_directory_is_an_error_at_its_table() {
    let f = Fixture::valid();
    let sha = "ab".repeat(32);
    f.write(
        "signoff.toml",
        &format!(
            "{}\n[[api.token]]\nname = \"cli\"\nsha256 = \"{sha}\"\nscopes = [\"decide\"]\nas = \"anna@example.com\"\n",
            common::CONFIG
        ),
    );
    f.check().assert_problems(&[
        "signoff.toml:8:1: token `cli` acts as `anna@example.com`, who is not in the directory, did you mean `ana@example.com`?",
    ]);
}

#[test]
fn token_new_prints_a_token_once_and_a_block_that_accepts_it() {
    let run = signoff(
        repo_root(),
        &["token", "new", "--name", "ana-cli", "--scopes", "request,read", "--as", "ana@example.com"],
        &[],
    );
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let lines = run.stdout_lines();
    let token = lines[1].strip_prefix("# ").expect("the token on the second line");
    assert!(token.starts_with("so_") && token.len() > 40, "{token}");
    let block = lines[2..].join("\n");
    assert!(block.starts_with("[[api.token]]\nname = \"ana-cli\"\n"), "{block}");
    assert!(
        block.contains("scopes = [\"request\", \"read\"]") && block.contains("as = \"ana@example.com\""),
        "{block}"
    );
    let sha = hex_sha256(token);
    assert!(block.contains(&format!("sha256 = \"{sha}\"")), "the block holds the token's SHA-256: {block}");
    // A narrow scope without a person is refused with the reason.
    let run = signoff(repo_root(), &["token", "new", "--name", "x", "--scopes", "decide"], &[]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("scope `decide` acts as the token's own person"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no token is printed when the block is refused: {}", run.stdout);
}

fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

// ---------------------------------------------------------------------------------------------------------
// People provisioned through SCIM (DESIGN 7.5)

#[test]
fn with_scim_a_person_or_group_not_provisioned_yet_is_a_warning_not_an_error() {
    let resources = "\
resources:
  - id: wiki
    kind: app
    admins: [admins, nova@example.com]
    workflow: TWO_STEPS
  - id: payroll
    kind: group
    group: payroll-approvers
";
    let manager_later = "\
source: okta
users:
  - id: ana@example.com
    manager: raj@example.com
  - id: raj@example.com
    manager: vp@example.com
";
    // Without SCIM, each is an error at its place.
    let f = Fixture::valid();
    f.write("directory/resources.yaml", resources).write("directory/people.yaml", manager_later);
    f.check().assert_problems(&[
        "directory/people.yaml:6:14: unknown manager `vp@example.com`: no user has this id or email",
        "directory/resources.yaml:4:22: unknown admin `nova@example.com`: no user or group has this id",
        "directory/resources.yaml:8:12: resource `payroll` of kind group names unknown group `payroll-approvers`",
    ]);

    // With SCIM, the same files pass, and each reference is a warning naming its place.
    let f = Fixture::valid();
    f.write(
        "signoff.toml",
        "[directory]\npath = \"directory\"\nscim = true\n\n[policies]\npath = \"policies\"\ndefault = \"MANAGER\"\n",
    )
    .write("directory/resources.yaml", resources)
    .write("directory/people.yaml", manager_later);
    let run = f.check();
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout_lines(), ["ok: 2 users, 1 group, 2 resources, 1 workflow (+20 built-in)"]);
    assert_eq!(
        run.stderr_lines(),
        [
            "warning: directory/people.yaml:6:14: unknown manager `vp@example.com`: no user has this id or email \
             (not provisioned yet: asked once it is)",
            "warning: directory/resources.yaml:4:22: unknown admin `nova@example.com`: no user or group has this id \
             (not provisioned yet: asked once it is)",
            "warning: directory/resources.yaml:8:12: resource `payroll` of kind group names unknown group \
             `payroll-approvers` (not provisioned yet: asked once it is)",
        ]
    );
}

#[test]
fn with_scim_a_workflow_naming_someone_not_provisioned_yet_is_a_warning() {
    let workflows = "\
workflows:
  TWO_STEPS:
    sequential_expression:
      expressions:
        - manager_expression: { timeout: 48h }
        - user_constant_expression: { user: ghost@example.com }
";
    let f = Fixture::valid();
    f.write("policies/workflows.yaml", workflows);
    let run = f.check();
    assert_eq!(run.code, Some(1), "without SCIM it is an error:\n{}", run.stderr);
    assert!(run.stderr.contains("policies/workflows.yaml:6:"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown user `ghost@example.com`"), "{}", run.stderr);

    f.write(
        "signoff.toml",
        "[directory]\npath = \"directory\"\nscim = true\n\n[policies]\npath = \"policies\"\ndefault = \"MANAGER\"\n",
    );
    let run = f.check();
    assert_eq!(run.code, Some(0), "with SCIM it passes:\n{}", run.stderr);
    let warning =
        run.stderr_lines().into_iter().find(|l| l.contains("ghost@example.com")).unwrap_or_default().to_owned();
    assert!(warning.starts_with("warning: policies/workflows.yaml:6:"), "{}", run.stderr);
    assert!(warning.ends_with("(not provisioned yet: asked once it is)"), "{}", run.stderr);
}
