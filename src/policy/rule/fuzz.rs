//! Property tests: whatever the input, parsing never panics and reports an offset inside the text; whatever
//! parses evaluates without panicking and survives a round trip through its canonical text.
//!
//! The case count is `PROPTEST_CASES` (default [`DEFAULT_CASES`], a few seconds in a debug build). For a
//! long run: `PROPTEST_CASES=1000000 cargo test --release --lib policy::rule::fuzz`.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::tests::{MapFacts, office, strs};
use super::*;

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 2_000;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        // Failures are shrunk and printed; saving them to files would litter the source tree that this
        // module is copied between.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Fact sources with nothing, with everything, and with odd values in every place (numbers where strings
/// are expected, nested lists, non-ASCII text).
fn fact_sources() -> Vec<MapFacts> {
    let odd = MapFacts::new()
        .requestor("email_addr", 5)
        .requestor("department", strs(&["a", "B"]))
        .requestor("grade", "  12 ")
        .target("department", "ΣΊΣΥΦΟΣ")
        .target("email_addr", "İstanbul@X")
        .target("grade", f64::NAN)
        .target("groups", Value::List(vec![Value::List(vec![Value::Null]), Value::Bool(true)]))
        .target("custom_attributes.seniority_level", Value::Null)
        .group("members", "not a list")
        .request("risk", "high");
    vec![MapFacts::new(), office(), odd]
}

/// Checks the properties for one input.
fn check(src: &str, facts: &[MapFacts]) -> Result<(), TestCaseError> {
    match Rule::parse(src) {
        Err(e) => {
            prop_assert!(e.offset <= src.chars().count(), "offset {} past the end of {:?}", e.offset, src);
            prop_assert!(!e.message.is_empty());
            let _ = e.render(src);
        }
        Ok(rule) => {
            for f in facts {
                let _ = rule.eval(f);
            }
            let again = Rule::parse(rule.source());
            prop_assert!(again.as_ref().is_ok_and(|a| a.expr == rule.expr));
            let canonical = rule.canonical();
            match Rule::parse(&canonical) {
                Ok(back) => {
                    prop_assert_eq!(&back.expr, &rule.expr, "canonical {:?} of {:?}", canonical, src);
                    prop_assert_eq!(back.canonical(), canonical);
                    for f in facts {
                        prop_assert_eq!(back.eval(f), rule.eval(f));
                    }
                }
                Err(e) => {
                    prop_assert!(false, "canonical {:?} of {:?} fails: {}", canonical, src, e)
                }
            }
            let _ = rule.paths();
        }
    }
    Ok(())
}

/// Pieces of the grammar, valid and broken, for token soups.
const TOKENS: &[&str] = &[
    "requestor",
    "users_requested_for",
    "approval_request",
    "approvable_entity",
    "app_entity",
    "role_canonical_name_to_provision",
    "group",
    "custom_attributes",
    "email_addr",
    "email",
    "department",
    "grade",
    "groups",
    "members",
    "cost-center",
    "2fa",
    "seniority_level",
    "departmnt",
    ".",
    "[",
    "]",
    "0",
    "1",
    "-2.5",
    "99999999999999999999999",
    "(",
    ")",
    ",",
    "==",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "=",
    "<>",
    "IN",
    "in",
    "NOT",
    "not",
    "AND",
    "OR",
    "&&",
    "||",
    "!",
    "&",
    "|",
    "-",
    "$",
    "true",
    "FALSE",
    "null",
    "$LOWERCASE",
    "$UPPERCASE",
    "$CONTAINS",
    "$lowercase",
    "$NOPE",
    "\"Sales\"",
    "'x'",
    "\"",
    "'",
    "\"a\\\"b\"",
    "\"\\u00e9\"",
    "\"\\uD83D\\uDE00\"",
    "\"\\uD83D\"",
    "\"\\q\"",
    "\\",
    "é",
    "İ",
    "😀",
    "\n",
    "\t",
    "#",
];

/// Larger, well-formed pieces, so that a fair share of soups parse and reach evaluation and the round trip.
const CHUNKS: &[&str] = &[
    "requestor.email_addr",
    "users_requested_for[0].department",
    "users_requested_for[1].grade",
    "users_requested_for[0].custom_attributes.seniority_level",
    "users_requested_for[0].groups",
    "approval_request.approvable_entity.app_entity.role_canonical_name_to_provision",
    "group.members",
    "custom_attributes.tier",
    ".$LOWERCASE()",
    ".$UPPERCASE()",
    ".$CONTAINS(\"a\")",
    "$CONTAINS(",
    "$LOWERCASE(",
    "== \"Sales\"",
    "!= 7",
    ">= 7",
    "IN [\"Director\", \"VP\"]",
    "NOT IN [1, null,]",
    " AND ",
    " OR ",
    "NOT ",
    "(",
    ")",
    "== null",
    "== true",
];

fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![prop::sample::select(TOKENS), prop::sample::select(CHUNKS),];
    prop::collection::vec((piece, prop::sample::select(&["", " "][..])), 0..24)
        .prop_map(|parts| parts.into_iter().flat_map(|(t, sep)| [t, sep]).collect::<String>())
}

/// A path a rule may read, as text.
fn path_text() -> impl Strategy<Value = String> {
    let user_field = prop::sample::select(vec![
        "id",
        "email_addr",
        "email",
        "department",
        "role",
        "grade",
        "is_active",
        "groups",
        "custom_attributes.seniority_level",
        "custom_attributes.cost_center",
        "custom_attributes.reporting_chain",
        "custom_attributes.tags",
    ]);
    prop_oneof![
        user_field.clone().prop_map(|f| format!("requestor.{f}")),
        (0..3usize, user_field).prop_map(|(i, f)| format!("users_requested_for[{i}].{f}")),
        prop::sample::select(vec!["name", "risk", "role_canonical_name_to_provision", "duration_seconds"])
            .prop_map(|f| format!("approval_request.approvable_entity.app_entity.{f}")),
        prop::sample::select(vec!["name", "self_managed", "members", "custom_attributes.tier"])
            .prop_map(|f| format!("group.{f}")),
        Just("custom_attributes.tier".to_string()),
    ]
}

fn literal_text() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        "[a-zA-Z ÄéΣ\"'\\\\]{0,8}".prop_map(|s| format!("{s:?}")),
        (-1000i64..1000).prop_map(|n| n.to_string()),
        (-1000.0f64..1000.0).prop_map(|n| format!("{n:.3}")),
        prop::sample::select(vec!["true", "false", "null", "TRUE", "Null"]).prop_map(String::from),
    ];
    prop_oneof![
        3 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
    ]
}

/// A value: a path or literal, maybe run through functions.
fn value_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![2 => path_text(), 1 => literal_text()];
    (atom, prop::collection::vec(0..5usize, 0..3), literal_text()).prop_map(|(mut v, funcs, arg)| {
        for f in funcs {
            v = match f {
                0 => format!("{v}.$LOWERCASE()"),
                1 => format!("{v}.$UPPERCASE()"),
                2 => format!("$LOWERCASE({v})"),
                3 => format!("{v}.$CONTAINS({arg})"),
                _ => format!("$CONTAINS({v}, {arg})"),
            };
        }
        v
    })
}

/// What may stand right of `IN`: a path (maybe case-mapped), a list literal or a string literal. Other
/// literals are refused by the parser, and functions of literals fold into literals.
fn in_set_text() -> impl Strategy<Value = String> {
    prop_oneof![
        path_text(),
        path_text().prop_map(|p| format!("{p}.$LOWERCASE()")),
        prop::collection::vec(literal_text(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
        "[a-zA-Z ]{0,6}".prop_map(|s| format!("{s:?}")),
    ]
}

/// A well-formed rule, as text.
fn rule_text() -> impl Strategy<Value = String> {
    let cmp = prop::sample::select(vec!["==", "!=", ">", "<", ">=", "<="]);
    let member = prop::sample::select(vec!["IN", "NOT IN", "not in", "In"]);
    let leaf = prop_oneof![
        (value_text(), cmp, value_text()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (value_text(), member, in_set_text()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        value_text(),
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec![" AND ", " OR ", " && ", " || ", " and "]), inner.clone())
                .prop_map(|(a, join, b)| format!("{a}{join}{b}")),
            inner.clone().prop_map(|a| format!("NOT ({a})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics_the_parser(src in any::<String>()) {
        check(&src, &fact_sources())?;
    }

    #[test]
    fn token_soups_never_panic_and_round_trip_when_they_parse(src in token_soup()) {
        check(&src, &fact_sources())?;
    }

    #[test]
    fn well_formed_rules_parse_evaluate_and_round_trip(src in rule_text()) {
        prop_assert!(Rule::parse(&src).is_ok(), "{:?} should parse: {:?}", src, Rule::parse(&src).err());
        check(&src, &fact_sources())?;
    }
}
