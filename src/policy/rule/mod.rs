//! `rule_v2`: the condition language of `condition_expression` clauses.
//!
//! A rule is parsed once, when policies load, and evaluated for every request the policy decides. All errors
//! surface at load time with the character where they start and, where a name is misspelt, a suggestion;
//! evaluation never fails and, in the common cases, never allocates.
//!
//! # The language
//!
//! ```text
//! users_requested_for[0].department.$LOWERCASE() == "sales".$LOWERCASE()
//! users_requested_for[0].custom_attributes.seniority_level IN ["Director", "VP", "SVP", "C-Level"]
//! requestor.email_addr.$LOWERCASE().$CONTAINS("@company.com")
//! group.self_managed == true OR group.join_policy == "open"
//! NOT (group.visibility == "private") AND users_requested_for[0].grade >= 7
//! ```
//!
//! - **Paths.** `requestor.<user attribute>`, `users_requested_for[i].<user attribute>`,
//!   `approval_request.approvable_entity.app_entity.<request attribute>`, `group.<group attribute>`,
//!   `custom_attributes.<key>` (the requested resource's). User, group and request attributes are listed
//!   on [`UserField`], [`GroupField`] and [`RequestField`]; `custom_attributes.<key>` works on users and
//!   groups too, with any key of letters, digits, `_` and `-`.
//! - **Literals.** Strings in `"..."` or `'...'` with `\"` `\'` `\\` `\n` `\t` `\r` `\uXXXX`; numbers
//!   (`7`, `-2.5`); `true`, `false`, `null`; lists of literals `["a", 1, null,]`.
//! - **Operators.** `==` `!=` `>` `<` `>=` `<=` `IN` `NOT IN`, `AND` (`&&`), `OR` (`||`), `NOT` (`!`),
//!   parentheses. Keywords and `true`/`false`/`null` are case-insensitive. `NOT` binds tighter than a
//!   comparison, which binds tighter than `AND`, then `OR`; since `NOT a == b` would therefore compare
//!   `NOT a` with `b`, it is refused: write `NOT (a == b)` (or `(NOT a) == b`).
//! - **Functions.** `x.$LOWERCASE()`, `x.$UPPERCASE()`, `x.$CONTAINS(y)`, chainable, and the prefix forms
//!   `$LOWERCASE(x)`, `$UPPERCASE(x)`, `$CONTAINS(x, y)`. Function names are case-insensitive.
//!
//! # Meaning
//!
//! - A missing attribute reads as null. Every comparison with null is false, except with the literal
//!   `null`: `x == null` holds when `x` is null, `x != null` when it is not.
//! - A string that spells a number (`"8000"`) compares numerically with a number; otherwise values of
//!   different types are unequal, and ordering them (`<`, `>=`...) is false. Strings order by code point;
//!   booleans and lists only compare with `==`/`!=`.
//! - `x IN [list]` (or a list-valued path) is membership by the same equality; `x IN "text"` is a substring
//!   test. `x NOT IN y` is its negation, except that both are false when `y` is neither a list nor a string
//!   (null included): membership in something that is not a collection has no answer. A `null` written in
//!   a list literal matches a null `x`, as `x == null` does.
//! - `$LOWERCASE`/`$UPPERCASE` map strings and the strings inside lists, and leave numbers, booleans and
//!   null as they are (so `grade.$LOWERCASE() == 7` still compares numbers). `$CONTAINS` is a substring
//!   test on a string, membership on a list, and false on anything else.
//! - `AND`, `OR` and `NOT` read their operands as conditions: a value is true only when it is the boolean
//!   `true`. A bare value is a condition too (`users_requested_for[0].is_full_time_employee`). Logic is
//!   two-valued, so `NOT (x == "a")` holds when `x` is missing while `x != "a"` does not.

mod ast;
mod eval;
mod lexer;
mod parser;
mod path;
mod value;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use parser::MAX_DEPTH;
pub use path::{AttrPath, GroupField, RequestField, Subject, UserField};
pub use value::{Facts, NoFacts, Value};

/// A parsed `rule_v2` condition: its text and the tree evaluated from it.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The text as written, for messages and for [`Rule::source`].
    source: String,
    /// The parsed tree, with names resolved and constant function calls folded.
    expr: ast::Expr,
}

impl Rule {
    /// Parses `src`. Every problem is reported here, with its character offset.
    pub fn parse(src: &str) -> Result<Rule, RuleError> {
        Ok(Rule { source: src.to_string(), expr: parser::parse(src)? })
    }

    /// Whether the rule holds for `facts`. Never fails: missing or odd facts make comparisons false.
    pub fn eval<F: Facts + ?Sized>(&self, facts: &F) -> bool {
        self.expr.test(facts)
    }

    /// The text the rule was parsed from, exactly as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every attribute path the rule reads, in the order written and without repeats, so that
    /// `signoff simulate` can show the facts that decided a clause.
    pub fn paths(&self) -> Vec<AttrPath> {
        let mut out = Vec::new();
        self.expr.collect_paths(&mut out);
        out
    }

    /// The rule in canonical form: canonical attribute names (`email_addr` for `email`, `title` for
    /// `role`), upper-case keywords, method-style functions, constant calls folded
    /// (`"Sales".$LOWERCASE()` becomes `"sales"`) and only the parentheses the structure needs. It parses
    /// back to the same rule.
    pub fn canonical(&self) -> String {
        self.expr.to_string()
    }
}

/// Two rules are equal when their text is: the text is what a person wrote and reviews.
impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Rule {}

impl std::hash::Hash for Rule {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::parse(s)
    }
}

impl AttrPath {
    /// The value of this attribute in `facts`, as the evaluator reads it.
    #[inline]
    pub fn read<'f, F: Facts + ?Sized>(&self, facts: &'f F) -> Value<'f> {
        match self {
            AttrPath::User(who, field) => facts.user(*who, field),
            AttrPath::Request(field) => facts.request(*field),
            AttrPath::Group(field) => facts.group(field),
            AttrPath::ResourceCustom(key) => facts.resource_custom(key),
        }
    }
}

/// What is wrong with a rule, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// The CHARACTER offset (not byte) in the rule text where the problem starts; the text's length in
    /// characters when the problem is that the rule ends too early.
    pub offset: usize,
    /// What is wrong, naming the offending text and, where it helps, how to write it.
    pub message: String,
}

/// Widest excerpt [`RuleError::render`] shows; longer lines are cut around the offset.
const EXCERPT_WIDTH: usize = 100;

impl RuleError {
    /// Two lines: the line of `src` where the problem is, and a caret under the offending character.
    /// Long lines are cut to a window around the caret, marked with `…`.
    pub fn render(&self, src: &str) -> String {
        let chars: Vec<char> = src.chars().collect();
        let off = self.offset.min(chars.len());
        let start = chars[..off].iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
        let mut end = chars[off..].iter().position(|&c| c == '\n').map_or(chars.len(), |i| off + i);
        if end > start && chars[end - 1] == '\r' && off < end {
            end -= 1;
        }
        let line = &chars[start..end];
        let col = off - start;
        let (from, to) = if line.len() <= EXCERPT_WIDTH {
            (0, line.len())
        } else {
            let from = col.saturating_sub(EXCERPT_WIDTH / 2).min(line.len() - EXCERPT_WIDTH);
            (from, from + EXCERPT_WIDTH)
        };
        let mut text = String::new();
        let mut caret = String::new();
        if from > 0 {
            text.push('…');
            caret.push(' ');
        }
        for (i, &c) in line[from..to].iter().enumerate() {
            // Tabs are kept in both lines so the caret lines up whatever the tab width; other control
            // characters would move the cursor, so they print as spaces.
            let shown = if c == '\t' || !c.is_control() { c } else { ' ' };
            text.push(shown);
            if from + i < col {
                caret.push(if c == '\t' { '\t' } else { ' ' });
            }
        }
        if to < line.len() {
            text.push('…');
        }
        caret.push('^');
        format!("{text}\n{caret}")
    }

    /// The 1-based line and column (in characters) of the problem within `src`, for a
    /// `file:line:col` report when the rule is a multi-line block of its own.
    pub fn pos(&self, src: &str) -> crate::diag::Pos {
        let byte = src.char_indices().nth(self.offset).map_or(src.len(), |(b, _)| b);
        crate::diag::Pos::of_offset(src, byte)
    }
}
