//! The `rule_v2` condition parser (`Rule::parse`) on arbitrary text. An error points inside the text; a rule
//! evaluates without panicking against facts with odd values everywhere, and its canonical form parses back to
//! itself (`Rule::canonical` promises it parses back to the same rule).
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use signoff::policy::rule::{GroupField, NoFacts, RequestField, Rule, Subject, UserField, Value};

/// Facts where each attribute reads as one of a few values of every type, chosen by its name.
struct OddFacts;

const STRS: &[String] = &[];

fn pick(name: &str) -> Value<'static> {
    match name.len() % 7 {
        0 => Value::Null,
        1 => Value::Bool(true),
        2 => Value::Num(7.0),
        3 => Value::Str(Cow::Borrowed("Sales")),
        4 => Value::Str(Cow::Borrowed("8000")),
        5 => Value::List(vec![Value::Str(Cow::Borrowed("VP")), Value::Num(f64::NAN), Value::Null]),
        _ => Value::Strs(STRS),
    }
}

impl signoff::policy::rule::Facts for OddFacts {
    fn user(&self, _: Subject, field: &UserField) -> Value<'_> {
        pick(&format!("{field:?}"))
    }
    fn request(&self, field: RequestField) -> Value<'_> {
        pick(field.name())
    }
    fn group(&self, field: &GroupField) -> Value<'_> {
        pick(&format!("{field:?}"))
    }
    fn resource_custom(&self, key: &str) -> Value<'_> {
        pick(key)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    match Rule::parse(src) {
        Err(e) => {
            assert!(e.offset <= src.chars().count(), "offset {} past the end", e.offset);
            assert!(!e.message.is_empty(), "an error with no message");
            let _ = e.render(src);
            let _ = e.pos(src);
        }
        Ok(rule) => {
            let _ = rule.eval(&NoFacts);
            let _ = rule.eval(&OddFacts);
            let _ = rule.paths();
            let canonical = rule.canonical();
            let back = Rule::parse(&canonical)
                .unwrap_or_else(|e| panic!("canonical form {canonical:?} does not parse: {}", e.message));
            assert_eq!(back.canonical(), canonical, "the canonical form is not stable");
            assert_eq!(back.eval(&OddFacts), rule.eval(&OddFacts), "the canonical form means something else");
        }
    }
});
