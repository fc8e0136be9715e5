//! Evaluates a parsed rule against facts.
//!
//! Evaluation cannot fail: every error was caught at parse time, and every run-time oddity (a missing
//! attribute, a string where a number was expected, a list where a string was) has a defined answer,
//! usually "false". It does not allocate in the common cases either:
//!
//! - attributes are read as borrowed [`Value`]s and literals are borrowed from the rule;
//! - `$LOWERCASE()`/`$UPPERCASE()` do not build new strings: they tag the value with a [`Case`], and
//!   comparisons of ASCII text take the mapping into account in place (mostly through
//!   `eq_ignore_ascii_case`). Non-ASCII text is mapped for real with `str::to_lowercase`/`to_uppercase`,
//!   which allocates but is exact for every script (final sigma, `ß` → `SS`, `İ`);
//! - functions of literals were folded by the parser.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ast::{CmpOp, Expr};
use super::value::{Facts, Value};

/// How deep nested lists inside fact values are followed. Rule literals are bounded by the parser's
/// nesting limit; this bounds the recursion over data a fact source hands in, so a pathological directory
/// value cannot overflow the stack. Deeper items compare unequal.
const MAX_DATA_DEPTH: usize = 32;

/// A case mapping still to be applied to a value's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Case {
    AsIs,
    Lower,
    Upper,
}

/// A value being evaluated, with the case mapping that functions asked for but that was not applied yet.
#[derive(Debug)]
pub(super) struct Ev<'a> {
    value: Value<'a>,
    case: Case,
}

impl<'a> Ev<'a> {
    #[inline]
    fn plain(value: Value<'a>) -> Self {
        Ev { value, case: Case::AsIs }
    }

    #[inline]
    fn is_true(&self) -> bool {
        matches!(self.value, Value::Bool(true))
    }

    #[inline]
    fn is_null(&self) -> bool {
        self.value.is_null()
    }

    /// The same value seen through `case`. Case mappings only touch text: numbers, booleans and null
    /// pass through unchanged, so `grade.$LOWERCASE() == 7` still compares numbers.
    #[inline]
    fn recase(self, to: Case) -> Self {
        match (&self.value, self.case) {
            (Value::Null | Value::Bool(_) | Value::Num(_), _) => self,
            (_, Case::AsIs) => Ev { value: self.value, case: to },
            (_, current) if current == to => self,
            // On ASCII text the last mapping wins, so there is nothing to apply first.
            (Value::Str(s), _) if s.is_ascii() => Ev { value: self.value, case: to },
            // `x.$UPPERCASE().$LOWERCASE()` is not always `x.$LOWERCASE()` outside ASCII ("ß" upper-cases
            // to "SS"), so apply the first mapping for real before recording the second.
            (_, current) => Ev { value: apply_case(self.value, current, 0), case: to },
        }
    }

    #[inline]
    fn view(&self) -> View<'_> {
        view(&self.value, self.case)
    }

    /// The value with its case mapping applied.
    pub fn into_value(self) -> Value<'a> {
        match self.case {
            Case::AsIs => self.value,
            case => apply_case(self.value, case, 0),
        }
    }
}

/// Applies a case mapping to text, and to the text items of lists.
fn apply_case(value: Value<'_>, case: Case, depth: usize) -> Value<'_> {
    if depth > MAX_DATA_DEPTH {
        return value;
    }
    match value {
        Value::Str(s) => {
            let mapped = match map_str(&s, case) {
                Cow::Owned(o) => Some(o),
                Cow::Borrowed(_) => None,
            };
            Value::Str(mapped.map_or(s, Cow::Owned))
        }
        Value::List(items) => Value::List(items.into_iter().map(|v| apply_case(v, case, depth + 1)).collect()),
        Value::ListRef(items) => Value::List(items.iter().map(|v| apply_case(v.reborrow(), case, depth + 1)).collect()),
        Value::Strs(items) => Value::List(items.iter().map(|s| apply_case(Value::str(s), case, depth + 1)).collect()),
        other => other,
    }
}

/// `s` mapped to `case`, borrowed when the mapping changes nothing (checked cheaply for ASCII text).
fn map_str(s: &str, case: Case) -> Cow<'_, str> {
    match case {
        Case::AsIs => Cow::Borrowed(s),
        Case::Lower if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) => Cow::Borrowed(s),
        Case::Upper if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_lowercase()) => Cow::Borrowed(s),
        Case::Lower => Cow::Owned(s.to_lowercase()),
        Case::Upper => Cow::Owned(s.to_uppercase()),
    }
}

#[inline]
fn map_byte(b: u8, case: Case) -> u8 {
    match case {
        Case::AsIs => b,
        Case::Lower => b.to_ascii_lowercase(),
        Case::Upper => b.to_ascii_uppercase(),
    }
}

/// Whether `b` seen through `cb` is left unchanged by `ca`: the condition for any text seen through `ca` to
/// equal it. For ASCII, `map(x, ca) == map(b, cb)` then holds exactly when `x` equals `b` ignoring case,
/// which the standard library compares quickly; that is how the comparisons below avoid mapping bytes.
fn fixed_under(b: &[u8], cb: Case, ca: Case) -> bool {
    b.iter().all(|&x| {
        let m = map_byte(x, cb);
        map_byte(m, ca) == m
    })
}

/// `a` seen through `ca` equals `b` seen through `cb`.
#[inline]
pub(super) fn str_eq(a: &str, ca: Case, b: &str, cb: Case) -> bool {
    if a.is_ascii() && b.is_ascii() {
        match (ca, cb) {
            (Case::AsIs, Case::AsIs) => a == b,
            (Case::AsIs, _) => fixed_under(a.as_bytes(), ca, cb) && a.eq_ignore_ascii_case(b),
            _ => fixed_under(b.as_bytes(), cb, ca) && a.eq_ignore_ascii_case(b),
        }
    } else if ca == Case::AsIs && cb == Case::AsIs {
        a == b
    } else {
        map_str(a, ca) == map_str(b, cb)
    }
}

/// Lexicographic order of `a` through `ca` and `b` through `cb` (by code point, which is UTF-8 byte order).
pub(super) fn str_cmp(a: &str, ca: Case, b: &str, cb: Case) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes().map(|x| map_byte(x, ca)).cmp(b.bytes().map(|y| map_byte(y, cb)))
    } else {
        map_str(a, ca).cmp(&map_str(b, cb))
    }
}

/// Whether `hay` through `hc` contains `needle` through `nc`.
pub(super) fn str_contains(hay: &str, hc: Case, needle: &str, nc: Case) -> bool {
    if hc == Case::AsIs && nc == Case::AsIs {
        return hay.contains(needle);
    }
    if !(hay.is_ascii() && needle.is_ascii()) {
        return map_str(hay, hc).contains(map_str(needle, nc).as_ref());
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    if hc == Case::AsIs {
        // A constant or unmapped haystack searched for a mapped needle: rare, compare byte by byte.
        return h.windows(n.len()).any(|w| w.iter().zip(n).all(|(x, y)| *x == map_byte(*y, nc)));
    }
    fixed_under(n, nc, hc) && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The number a string spells, for comparing custom attributes that arrive as text (`"8000"`) with
/// numbers. Surrounding whitespace is ignored; `inf`, `NaN` and the like are not numbers here.
pub(super) fn parse_num(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A borrowed, copyable view of a value and its pending case mapping: what comparisons work on.
#[derive(Debug, Clone, Copy)]
enum View<'v> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'v str, Case),
    List(Items<'v>, Case),
}

/// The items of a list, in either borrowed shape.
#[derive(Debug, Clone, Copy)]
enum Items<'v> {
    Values(&'v [Value<'v>]),
    Strs(&'v [String]),
}

impl<'v> Items<'v> {
    #[inline]
    fn len(self) -> usize {
        match self {
            Items::Values(v) => v.len(),
            Items::Strs(v) => v.len(),
        }
    }

    #[inline]
    fn get(self, i: usize, case: Case) -> View<'v> {
        match self {
            Items::Values(v) => v.get(i).map_or(View::Null, |x| view(x, case)),
            Items::Strs(v) => v.get(i).map_or(View::Null, |s| View::Str(s, case)),
        }
    }
}

#[inline]
fn view<'v>(v: &'v Value<'_>, case: Case) -> View<'v> {
    match v {
        Value::Null => View::Null,
        Value::Bool(b) => View::Bool(*b),
        Value::Num(n) => View::Num(*n),
        Value::Str(s) => View::Str(s, case),
        Value::List(items) => View::List(Items::Values(items), case),
        Value::ListRef(items) => View::List(Items::Values(items), case),
        Value::Strs(items) => View::List(Items::Strs(items), case),
    }
}

/// Rule equality: null equals nothing; a numeric string equals its number; otherwise values of different
/// types are unequal; lists are equal item by item.
#[inline]
fn eq(a: View<'_>, b: View<'_>, depth: usize) -> bool {
    match (a, b) {
        (View::Null, _) | (_, View::Null) => false,
        (View::Bool(x), View::Bool(y)) => x == y,
        (View::Num(x), View::Num(y)) => x == y,
        (View::Num(n), View::Str(s, _)) | (View::Str(s, _), View::Num(n)) => parse_num(s) == Some(n),
        (View::Str(x, cx), View::Str(y, cy)) => str_eq(x, cx, y, cy),
        (View::List(x, cx), View::List(y, cy)) => {
            depth < MAX_DATA_DEPTH
                && x.len() == y.len()
                && (0..x.len()).all(|i| eq(x.get(i, cx), y.get(i, cy), depth + 1))
        }
        _ => false,
    }
}

/// Rule ordering: numbers (and numeric strings against numbers) numerically, strings lexicographically;
/// anything else is unordered.
#[inline]
fn order(a: View<'_>, b: View<'_>) -> Option<Ordering> {
    match (a, b) {
        (View::Num(x), View::Num(y)) => x.partial_cmp(&y),
        (View::Num(x), View::Str(s, _)) => parse_num(s).and_then(|y| x.partial_cmp(&y)),
        (View::Str(s, _), View::Num(y)) => parse_num(s).and_then(|x| x.partial_cmp(&y)),
        (View::Str(x, cx), View::Str(y, cy)) => Some(str_cmp(x, cx, y, cy)),
        _ => None,
    }
}

#[inline]
fn compare(op: CmpOp, a: View<'_>, b: View<'_>) -> bool {
    match op {
        CmpOp::Eq => eq(a, b, 0),
        CmpOp::Ne => !matches!(a, View::Null) && !matches!(b, View::Null) && !eq(a, b, 0),
        CmpOp::Gt => order(a, b) == Some(Ordering::Greater),
        CmpOp::Lt => order(a, b) == Some(Ordering::Less),
        CmpOp::Ge => matches!(order(a, b), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Le => matches!(order(a, b), Some(Ordering::Less | Ordering::Equal)),
    }
}

/// Membership: `item` in a list (by rule equality) or a substring of a string. `None` when `set` is
/// neither, which makes both `IN` and `NOT IN` false: there is no answer to give.
///
/// A null item is a member only of a list written in the rule with a `null` in it (`x IN ["a", null]`),
/// the same exception that makes `x == null` true.
#[inline]
fn member(set: View<'_>, item: View<'_>, set_is_literal: bool) -> Option<bool> {
    match set {
        View::List(items, case) => Some(if matches!(item, View::Null) {
            set_is_literal && (0..items.len()).any(|i| matches!(items.get(i, case), View::Null))
        } else {
            (0..items.len()).any(|i| eq(items.get(i, case), item, 0))
        }),
        View::Str(hay, hc) => Some(match item {
            View::Str(needle, nc) => str_contains(hay, hc, needle, nc),
            _ => false,
        }),
        _ => None,
    }
}

impl Expr {
    /// Whether this expression, as a condition, holds: its value is `true`.
    pub(super) fn test<F: Facts + ?Sized>(&self, facts: &F) -> bool {
        match self {
            Expr::Or(xs) => xs.iter().any(|x| x.test(facts)),
            Expr::And(xs) => xs.iter().all(|x| x.test(facts)),
            Expr::Not(x) => !x.test(facts),
            Expr::Cmp(op, a, b) => {
                let (a, b) = (a.value(facts), b.value(facts));
                compare(*op, a.view(), b.view())
            }
            Expr::In { negated, item, set } => {
                let (i, s) = (item.value(facts), set.value(facts));
                member(s.view(), i.view(), set.is_lit()).is_some_and(|found| found != *negated)
            }
            Expr::IsNull { negated, operand } => operand.value(facts).is_null() != *negated,
            Expr::Lit(_) | Expr::Path(_) | Expr::Lower(_) | Expr::Upper(_) | Expr::Contains(..) => {
                self.value(facts).is_true()
            }
        }
    }

    /// The value of this expression.
    pub(super) fn value<'a, F: Facts + ?Sized>(&'a self, facts: &'a F) -> Ev<'a> {
        match self {
            Expr::Lit(v) => Ev::plain(v.reborrow()),
            Expr::Path(p) => Ev::plain(p.read(facts)),
            Expr::Lower(x) => x.value(facts).recase(Case::Lower),
            Expr::Upper(x) => x.value(facts).recase(Case::Upper),
            Expr::Contains(hay, needle) => {
                let (h, n) = (hay.value(facts), needle.value(facts));
                Ev::plain(Value::Bool(member(h.view(), n.view(), hay.is_lit()).unwrap_or(false)))
            }
            Expr::Not(_) | Expr::And(_) | Expr::Or(_) | Expr::Cmp(..) | Expr::In { .. } | Expr::IsNull { .. } => {
                Ev::plain(Value::Bool(self.test(facts)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CASES: [Case; 3] = [Case::AsIs, Case::Lower, Case::Upper];

    fn mapped(s: &str, c: Case) -> String {
        match c {
            Case::AsIs => s.to_string(),
            Case::Lower => s.to_lowercase(),
            Case::Upper => s.to_uppercase(),
        }
    }

    /// Text that mixes ASCII letters with characters whose case mapping is special.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "A", "b", "B", "z", "Z", "@", "-", "1", "ß", "K", "İ", "Σ", "é", "É", "ǅ", "",
            ]),
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// The allocation-free comparisons agree with comparing the mapped strings.
        #[test]
        fn lazy_case_mapping_agrees_with_std(a in text(), b in text(), ca in 0..3usize, cb in 0..3usize) {
            let (ca, cb) = (CASES[ca], CASES[cb]);
            let (ma, mb) = (mapped(&a, ca), mapped(&b, cb));
            prop_assert_eq!(str_eq(&a, ca, &b, cb), ma == mb);
            prop_assert_eq!(str_cmp(&a, ca, &b, cb), ma.cmp(&mb));
            prop_assert_eq!(str_contains(&a, ca, &b, cb), ma.contains(mb.as_str()));
        }
    }

    #[test]
    fn numeric_strings_parse_and_words_do_not() {
        assert_eq!(parse_num(" 8000 "), Some(8000.0));
        assert_eq!(parse_num("-2.5"), Some(-2.5));
        assert_eq!(parse_num("1e3"), Some(1000.0));
        assert_eq!(parse_num("inf"), None);
        assert_eq!(parse_num("NaN"), None);
        assert_eq!(parse_num("1e999"), None);
        assert_eq!(parse_num(""), None);
        assert_eq!(parse_num("12abc"), None);
    }

    #[test]
    fn deeply_nested_fact_lists_compare_without_overflowing() {
        let mut a = Value::List(vec![Value::Num(1.0)]);
        for _ in 0..1_000 {
            a = Value::List(vec![a]);
        }
        let b = a.clone();
        assert!(!eq(view(&a, Case::AsIs), view(&b, Case::AsIs), 0));
        let lowered = apply_case(a, Case::Lower, 0);
        assert!(lowered.list_len().is_some());
    }
}
