//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2): a parser, a printer and an evaluator
//! over resources in their SCIM JSON form.
//!
//! Hand-written rather than taken from a crate: `scim-filter` (0.2) pulls chrono, nom 7 and rust_decimal
//! and matches against its own structs, `scim_proto` brings kanidm's utoipa, uuid, time and url stack, and
//! `scim_v2` is a 15,000-line LALRPOP-generated parser with its own resource models; none evaluates against
//! `serde_json::Value` with RFC 7643's `caseExact` from our schema tables, and the grammar is small enough
//! that a recursive-descent parser of a few hundred lines, with column numbers in its errors, is the
//! lighter and clearer choice.
//!
//! Grammar (case-insensitive keywords; `and` binds tighter than `or`, `not` applies to a parenthesised filter):
//!
//! ```text
//! filter    = or
//! or        = and *("or" and)
//! and       = atom *("and" atom)
//! atom      = "(" filter ")" / "not" "(" filter ")" / attrPath "[" valFilter "]"
//!           / attrPath "pr" / attrPath compareOp compValue
//! attrPath  = [URI ":"] ATTRNAME ["." subAttr]
//! compValue = false / null / true / number / string      ; JSON literals
//! path      = attrPath / attrPath "[" valFilter "]" ["." subAttr]   ; PATCH only
//! ```

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use super::error::ScimError;
use super::resource::Kind;
use super::schema::{self, AttrDef, AttrType};

/// The longest filter or path accepted, in bytes: Okta and Entra send one short comparison, and a bound keeps
/// a hostile filter from building a tree too deep to evaluate or drop.
pub const MAX_FILTER_LEN: usize = 4096;

/// The deepest nesting of parentheses, `not` and value filters accepted, for the same reason.
pub const MAX_DEPTH: usize = 32;

/// An attribute path: `userName`, `name.familyName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`. Shared by filters, PATCH paths
/// and the `attributes` query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, when the path is qualified.
    pub urn: Option<String>,
    /// The attribute name, as written (matching against schemas is case-insensitive).
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub: Option<String>,
}

impl AttrPath {
    /// An unqualified path without sub-attribute.
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath { urn: None, name: name.into(), sub: None }
    }

    /// Parses a lone attribute path (one entry of `attributes=`), failing with 400 invalidValue at the column
    /// where it stops being one.
    pub fn parse(input: &str) -> Result<AttrPath, ScimError> {
        let mut p = Parser::new(input).map_err(|e| ScimError::invalid_value(e.detail))?;
        p.skip_ws();
        let path = p.attr_path().map_err(|e| e.into_scim(ScimError::invalid_value, "attribute path"))?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p
                .err("expected the end of the attribute path")
                .into_scim(ScimError::invalid_value, "attribute path"));
        }
        Ok(path)
    }

    /// Whether this path names the top-level attribute `name` of a core schema (unqualified or qualified with
    /// a core URN), without sub-attribute: how the storage layer recognises `userName`, `externalId` and
    /// `displayName` lookups.
    pub fn is(&self, name: &str) -> bool {
        self.sub.is_none()
            && self.name.eq_ignore_ascii_case(name)
            && self.urn.as_deref().is_none_or(|u| {
                u.eq_ignore_ascii_case(schema::USER_SCHEMA) || u.eq_ignore_ascii_case(schema::GROUP_SCHEMA)
            })
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator of RFC 7644 Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains (strings).
    Co,
    /// Starts with (strings).
    Sw,
    /// Ends with (strings).
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, for parsing and tests.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator as written in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }
}

/// A literal on the right of a comparison: a JSON scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number.
    Number(Number),
    /// A JSON string, escapes decoded.
    Str(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Str(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`.
    Compare(AttrPath, CompareOp, CompValue),
    /// `attr pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued (or complex) attribute satisfies the inner filter,
    /// whose paths are relative to that value (`emails[type eq "work" and primary eq true]`).
    ValuePath(AttrPath, Box<Filter>),
}

/// Parses a `filter` query parameter; 400 invalidFilter naming the column where it went wrong.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    let mut p = Parser::new(input).map_err(|e| ScimError::invalid_filter(e.detail))?;
    let f = p.filter().map_err(|e| e.into_scim(ScimError::invalid_filter, "filter"))?;
    Ok(f)
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Filter {
    /// Whether the resource (in its SCIM JSON form, stored or rendered) satisfies the filter. The kind comes
    /// from the resource's `schemas` (or `meta.resourceType`); see [`Filter::matches_kind`] to give it.
    pub fn matches(&self, resource: &Value) -> bool {
        self.matches_kind(Kind::of(resource), resource)
    }

    /// Whether a resource of `kind` satisfies the filter, comparing strings as the schema's `caseExact` says
    /// (attributes unknown to the schema compare case-insensitively, the RFC's default).
    pub fn matches_kind(&self, kind: Kind, resource: &Value) -> bool {
        eval(self, Ctx::Resource(kind), resource)
    }

    /// Whether one value of a complex attribute (an element of `emails`, `members`...) satisfies the filter,
    /// its paths read as sub-attributes of `parent`: how PATCH selects `emails[type eq "work"]`.
    pub fn matches_value(&self, parent: Option<&'static AttrDef>, value: &Value) -> bool {
        eval(self, Ctx::Complex(parent), value)
    }

    /// `Some((path, value))` when the filter is one `attr eq "string"` comparison: the form Okta's and Entra's
    /// existence probes take (`userName eq "ana@example.com"`), which the storage layer answers with an index
    /// lookup instead of a scan. Check the attribute with [`AttrPath::is`].
    pub fn eq_lookup(&self) -> Option<(&AttrPath, &str)> {
        match self {
            Filter::Compare(path, CompareOp::Eq, CompValue::Str(s)) => Some((path, s)),
            _ => None,
        }
    }

    /// Checks the filter against `kind`'s schemas: every attribute exists, and `gt`/`ge`/`lt`/`le` are not
    /// applied to booleans or binary values (RFC 7644 §3.4.2.2). 400 invalidFilter otherwise; the route
    /// calls this before evaluating so that a typo is an error, not an empty list.
    pub fn validate(&self, kind: Kind) -> Result<(), ScimError> {
        validate(self, kind, None)
    }
}

fn validate(f: &Filter, kind: Kind, parent: Option<&'static AttrDef>) -> Result<(), ScimError> {
    let lookup = |path: &AttrPath| -> Result<&'static AttrDef, ScimError> {
        let def = match parent {
            None => schema::attribute(kind, path),
            Some(p) => p.sub(&path.name).filter(|_| path.urn.is_none() && path.sub.is_none()),
        };
        def.ok_or_else(|| ScimError::invalid_filter(format!("the filter names an unknown attribute `{path}`")))
    };
    match f {
        Filter::Compare(path, op, value) => {
            let def = lookup(path)?;
            if op.is_ordering() && matches!(def.ty, AttrType::Boolean | AttrType::Binary) {
                return Err(ScimError::invalid_filter(format!(
                    "`{}` cannot compare `{path}`, a {} attribute",
                    op.as_str(),
                    def.ty.as_str()
                )));
            }
            if def.ty == AttrType::Complex && !matches!(value, CompValue::Null) {
                return Err(ScimError::invalid_filter(format!(
                    "`{path}` is complex: compare one of its sub-attributes or use a value filter"
                )));
            }
            Ok(())
        }
        Filter::Present(path) => lookup(path).map(|_| ()),
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate(a, kind, parent)?;
            validate(b, kind, parent)
        }
        Filter::Not(a) => validate(a, kind, parent),
        Filter::ValuePath(path, inner) => {
            let def = lookup(path)?;
            if def.ty != AttrType::Complex {
                return Err(ScimError::invalid_filter(format!("`{path}` has no sub-attributes to filter on")));
            }
            validate(inner, kind, Some(def))
        }
    }
}

/// Writes the filter back in the grammar above, with parentheses exactly where precedence needs them, so
/// that parsing the text gives the same tree.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => {
                write_operand(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(a, b) => {
                write_operand(f, a, false)?;
                f.write_str(" or ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, x: &Filter, parens: bool) -> fmt::Result {
    if parens { write!(f, "({x})") } else { write!(f, "{x}") }
}

/// A PATCH `path` (RFC 7644 §3.5.2): an attribute path, optionally with a value filter and a sub-attribute
/// after it (`emails[type eq "work"].value`, `members[value eq "2819c223"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PathExpr {
    /// The attribute; its `sub` is the sub-attribute, written before the filter or after it.
    pub attr: AttrPath,
    /// The value filter selecting some values of a multi-valued attribute.
    pub filter: Option<Filter>,
}

/// Parses a PATCH `path`; 400 invalidPath naming the column where it went wrong.
pub fn parse_path(input: &str) -> Result<PathExpr, ScimError> {
    let mut p = Parser::new(input).map_err(|e| ScimError::invalid_path(e.detail))?;
    p.path().map_err(|e| e.into_scim(ScimError::invalid_path, "path"))
}

impl fmt::Display for PathExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.attr),
            Some(filter) => {
                if let Some(urn) = &self.attr.urn {
                    write!(f, "{urn}:")?;
                }
                write!(f, "{}[{filter}]", self.attr.name)?;
                if let Some(sub) = &self.attr.sub {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------------

/// A parse failure: where (a 0-based character column) and what was expected.
struct ParseError {
    pos: usize,
    detail: String,
}

impl ParseError {
    fn into_scim(self, make: fn(String) -> ScimError, what: &str) -> ScimError {
        make(format!("invalid {what} at column {}: {}", self.pos + 1, self.detail))
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset of the next unread character.
    pos: usize,
    /// Current nesting of parentheses, `not` and value filters.
    depth: usize,
}

type PResult<T> = Result<T, ParseError>;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$'
}

fn is_path_char(c: char) -> bool {
    is_name_char(c) || c == ':' || c == '.'
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> PResult<Self> {
        if src.len() > MAX_FILTER_LEN {
            return Err(ParseError { pos: 0, detail: format!("longer than {MAX_FILTER_LEN} bytes") });
        }
        Ok(Parser { src, pos: 0, depth: 0 })
    }

    /// An error at the current position; the column counts characters, not bytes.
    fn err(&self, detail: impl Into<String>) -> ParseError {
        self.err_at(self.pos, detail)
    }

    fn err_at(&self, byte_pos: usize, detail: impl Into<String>) -> ParseError {
        let col = self.src.get(..byte_pos).map_or(byte_pos, |s| s.chars().count());
        ParseError { pos: col, detail: detail.into() }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Skips whitespace; whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
        self.pos > start
    }

    /// Reads a run of characters satisfying `pred`.
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| pred(c)) {
            self.pos += c.len_utf8();
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    /// A short, safe description of what is at the current position, for errors: never the contents of a
    /// string literal, which may be a secret.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the input".to_owned(),
            Some('"') => "a string".to_owned(),
            Some(c) if is_path_char(c) => {
                let word: String = self.rest().chars().take_while(|&c| is_path_char(c)).take(40).collect();
                format!("`{word}`")
            }
            Some(c) => format!("`{c}`"),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn expect(&mut self, c: char, what: &str) -> PResult<()> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected {what}, found {}", self.found())))
        }
    }

    /// A whole filter: the input must end after it.
    fn filter(&mut self) -> PResult<Filter> {
        let f = self.or(false)?;
        self.skip_ws();
        match self.peek() {
            None => Ok(f),
            Some(')') => Err(self.err("unmatched `)`")),
            Some(']') => Err(self.err("unmatched `]`")),
            Some(_) => Err(self.err(format!("expected `and`, `or` or the end of the filter, found {}", self.found()))),
        }
    }

    /// Tries to read the keyword `kw` (case-insensitive, followed by whitespace or `(`); leaves the position
    /// unchanged when it is not there.
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        let word = self.take_while(|c| c.is_ascii_alphabetic());
        if word.eq_ignore_ascii_case(kw) && self.peek().is_some_and(|c| c.is_whitespace() || c == '(') {
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn or(&mut self, in_value: bool) -> PResult<Filter> {
        let mut left = self.and(in_value)?;
        while self.keyword("or") {
            let right = self.and(in_value)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, in_value: bool) -> PResult<Filter> {
        let mut left = self.atom(in_value)?;
        while self.keyword("and") {
            let right = self.atom(in_value)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self, in_value: bool) -> PResult<Filter> {
        self.skip_ws();
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.enter()?;
                let f = self.or(in_value)?;
                self.expect(')', "`)`")?;
                self.depth -= 1;
                Ok(f)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '$' => {
                let start = self.pos;
                let word = self.take_while(|c| c.is_ascii_alphabetic());
                if word.eq_ignore_ascii_case("not") {
                    self.skip_ws();
                    if self.peek() == Some('(') {
                        self.pos += 1;
                        self.enter()?;
                        let f = self.or(in_value)?;
                        self.expect(')', "`)`")?;
                        self.depth -= 1;
                        return Ok(Filter::Not(Box::new(f)));
                    }
                }
                self.pos = start;
                self.attr_expr(in_value)
            }
            _ => Err(self.err(format!("expected an attribute name, `(` or `not`, found {}", self.found()))),
        }
    }

    /// `attrPath "[" valFilter "]"`, `attrPath pr` or `attrPath op value`.
    fn attr_expr(&mut self, in_value: bool) -> PResult<Filter> {
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            if in_value {
                return Err(self.err("a value filter cannot hold another value filter"));
            }
            if path.sub.is_some() {
                return Err(self.err("a value filter follows an attribute, not a sub-attribute"));
            }
            self.pos += 1;
            self.enter()?;
            let inner = self.or(true)?;
            self.expect(']', "`]`")?;
            self.depth -= 1;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        if !self.skip_ws() {
            return Err(self.err(format!("expected a space and an operator after `{path}`, found {}", self.found())));
        }
        let op_pos = self.pos;
        let word = self.take_while(|c| c.is_ascii_alphabetic());
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::ALL.into_iter().find(|op| word.eq_ignore_ascii_case(op.as_str())) else {
            self.pos = op_pos;
            return Err(self.err(format!(
                "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after `{path}`, found {}",
                self.found()
            )));
        };
        self.skip_ws();
        let value = self.value()?;
        Ok(Filter::Compare(path, op, value))
    }

    /// `[URI ":"] ATTRNAME ["." subAttr]`.
    fn attr_path(&mut self) -> PResult<AttrPath> {
        let start = self.pos;
        let token = self.take_while(is_path_char);
        if token.is_empty() {
            return Err(self.err(format!("expected an attribute name, found {}", self.found())));
        }
        let (urn, rest, rest_pos) = match token.rfind(':') {
            Some(i) => (Some(&token[..i]), &token[i + 1..], start + i + 1),
            None => (None, token, start),
        };
        if urn.is_some_and(str::is_empty) {
            return Err(self.err_at(start, "expected a schema URN before `:`"));
        }
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        check_name(name).map_err(|d| self.err_at(rest_pos, d))?;
        if let Some(s) = sub {
            check_name(s).map_err(|d| self.err_at(rest_pos + name.len() + 1, d))?;
        }
        Ok(AttrPath { urn: urn.map(str::to_owned), name: name.to_owned(), sub: sub.map(str::to_owned) })
    }

    /// A JSON literal: string, number, `true`, `false` or `null` (keywords in any case).
    fn value(&mut self) -> PResult<CompValue> {
        let start = self.pos;
        match self.peek() {
            Some('"') => {
                let bytes = self.src.as_bytes();
                let mut i = self.pos + 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(self.err_at(start, "unterminated string")),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let literal = self.src.get(start..=i).unwrap_or("");
                let s: String = serde_json::from_str(literal)
                    .map_err(|_| self.err_at(start, "invalid string (bad escape or control character)"))?;
                self.pos = i + 1;
                Ok(CompValue::Str(s))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let text = self.take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
                let mut n: Number = serde_json::from_str(text).map_err(|_| self.err_at(start, "invalid number"))?;
                // serde_json's fast float parsing may be off by one unit in the last place; std's is exact,
                // which keeps print/parse round trips exact.
                if n.is_f64()
                    && let Some(exact) = text.parse::<f64>().ok().and_then(Number::from_f64)
                {
                    n = exact;
                }
                Ok(CompValue::Number(n))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.take_while(|c| c.is_ascii_alphanumeric());
                if word.eq_ignore_ascii_case("true") {
                    Ok(CompValue::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Ok(CompValue::Bool(false))
                } else if word.eq_ignore_ascii_case("null") {
                    Ok(CompValue::Null)
                } else {
                    Err(self.err_at(
                        start,
                        format!("expected a value (a quoted string, a number, true, false or null), found `{word}`"),
                    ))
                }
            }
            _ => Err(self.err(format!(
                "expected a value (a quoted string, a number, true, false or null), found {}",
                self.found()
            ))),
        }
    }

    /// A PATCH path: `attrPath`, or `attrPath "[" valFilter "]" ["." subAttr]`, and nothing after it.
    fn path(&mut self) -> PResult<PathExpr> {
        self.skip_ws();
        let mut attr = self.attr_path()?;
        let mut filter = None;
        if self.peek() == Some('[') {
            if attr.sub.is_some() {
                return Err(self.err("a value filter follows an attribute, not a sub-attribute"));
            }
            self.pos += 1;
            self.enter()?;
            filter = Some(self.or(true)?);
            self.expect(']', "`]`")?;
            self.depth -= 1;
            if self.peek() == Some('.') {
                self.pos += 1;
                let start = self.pos;
                let sub = self.take_while(is_name_char);
                check_name(sub).map_err(|d| self.err_at(start, d))?;
                attr.sub = Some(sub.to_owned());
            }
        }
        self.skip_ws();
        if !self.at_end() {
            return Err(self.err(format!("expected the end of the path, found {}", self.found())));
        }
        Ok(PathExpr { attr, filter })
    }
}

/// ATTRNAME = ALPHA *(nameChar), and `$ref`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("expected an attribute name".to_owned()),
        Some(c) if c.is_ascii_alphabetic() || (c == '$' && name.eq_ignore_ascii_case("$ref")) => {
            if chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                Ok(())
            } else {
                Err("an attribute name holds only letters, digits, `_` and `-`".to_owned())
            }
        }
        Some(_) => Err("an attribute name starts with a letter".to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------------

/// What paths are relative to: a whole resource, or one value of a complex attribute (inside `[...]`).
#[derive(Clone, Copy)]
enum Ctx {
    Resource(Kind),
    Complex(Option<&'static AttrDef>),
}

/// The member of a JSON object whose key equals `key` case-insensitively (RFC 7643 §2.1: attribute names
/// are case-insensitive), preferring an exact match.
pub(crate) fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The attribute a path names in `v` (before taking the sub-attribute), with its definition when known.
fn attribute_value<'v>(
    ctx: Ctx,
    path: &AttrPath,
    v: &'v Value,
) -> (Option<&'static AttrDef>, Option<&'static AttrDef>, Option<&'v Value>) {
    match ctx {
        Ctx::Resource(kind) => {
            let resolved = schema::resolve(kind, &AttrPath { sub: None, ..path.clone() });
            let container = match (resolved.and_then(|r| r.extension), path.urn.as_deref()) {
                (Some(ext), _) => get_ci(v, ext),
                (None, Some(urn)) if schema::extension(kind, urn).is_none() && !is_core(urn) => get_ci(v, urn),
                (None, _) => Some(v),
            };
            let attr = resolved.map(|r| r.attr);
            let sub = attr.zip(path.sub.as_deref()).and_then(|(a, s)| a.sub(s));
            (attr, sub, container.and_then(|c| get_ci(c, &path.name)))
        }
        Ctx::Complex(parent) => {
            let attr = parent.and_then(|p| p.sub(&path.name));
            (attr, None, get_ci(v, &path.name))
        }
    }
}

fn is_core(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(schema::USER_SCHEMA) || urn.eq_ignore_ascii_case(schema::GROUP_SCHEMA)
}

/// The values a comparison looks at: every value of a multi-valued attribute, the sub-attribute of each
/// when the path has one, and the `value` sub-attribute of complex values otherwise (`emails co "x"`).
fn comparable<'v>(attr: &'v Value, sub: Option<&str>, out: &mut Vec<&'v Value>) {
    let one = |item: &'v Value, out: &mut Vec<&'v Value>| {
        let picked = match sub {
            Some(s) => get_ci(item, s),
            None if item.is_object() => get_ci(item, "value"),
            None => Some(item),
        };
        match picked {
            Some(Value::Array(items)) => out.extend(items.iter()),
            Some(x) => out.push(x),
            None => {}
        }
    };
    match attr {
        Value::Array(items) => items.iter().for_each(|i| one(i, out)),
        other => one(other, out),
    }
}

/// RFC 7644 `pr`: a non-null value that is not an empty string, array or object.
fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(non_empty),
        Value::Object(o) => o.values().any(non_empty),
        _ => true,
    }
}

fn eval(f: &Filter, ctx: Ctx, v: &Value) -> bool {
    match f {
        Filter::And(a, b) => eval(a, ctx, v) && eval(b, ctx, v),
        Filter::Or(a, b) => eval(a, ctx, v) || eval(b, ctx, v),
        Filter::Not(a) => !eval(a, ctx, v),
        Filter::Present(path) => {
            let (_, _, attr) = attribute_value(ctx, path, v);
            match (attr, &path.sub) {
                (None, _) => false,
                (Some(a), None) => non_empty(a),
                (Some(a), Some(sub)) => {
                    let mut vals = Vec::new();
                    comparable(a, Some(sub), &mut vals);
                    vals.into_iter().any(non_empty)
                }
            }
        }
        Filter::Compare(path, op, lit) => {
            let (attr_def, sub_def, attr) = attribute_value(ctx, path, v);
            let def = if path.sub.is_some() { sub_def } else { attr_def.map(|a| a.sub("value").unwrap_or(a)) };
            let mut vals = Vec::new();
            if let Some(a) = attr {
                comparable(a, path.sub.as_deref(), &mut vals);
            }
            let eq = |vals: &[&Value]| -> bool {
                if *lit == CompValue::Null {
                    vals.iter().all(|x| x.is_null())
                } else {
                    vals.iter().any(|x| compare(def, CompareOp::Eq, x, lit))
                }
            };
            match op {
                CompareOp::Eq => eq(&vals),
                CompareOp::Ne => !eq(&vals),
                _ => vals.iter().any(|x| compare(def, *op, x, lit)),
            }
        }
        Filter::ValuePath(path, inner) => {
            let (attr_def, _, attr) = attribute_value(ctx, path, v);
            let inner_ctx = Ctx::Complex(attr_def);
            match attr {
                Some(Value::Array(items)) => items.iter().any(|i| eval(inner, inner_ctx, i)),
                Some(one @ Value::Object(_)) => eval(inner, inner_ctx, one),
                _ => false,
            }
        }
    }
}

/// One comparison of a stored value with a literal, by the attribute's type and `caseExact`.
fn compare(def: Option<&AttrDef>, op: CompareOp, actual: &Value, lit: &CompValue) -> bool {
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (actual, lit) {
        (Value::String(a), CompValue::Str(b)) => {
            if def.is_some_and(|d| d.ty == AttrType::DateTime)
                && let (Ok(x), Ok(y)) = (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>())
            {
                return ordered(op, x.cmp(&y));
            }
            let (a, b) = if case_exact { (a.clone(), b.clone()) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordered(op, a.cmp(&b)),
            }
        }
        (Value::Bool(a), CompValue::Bool(b)) => matches!(op, CompareOp::Eq | CompareOp::Ne) && ordered(op, a.cmp(b)),
        (Value::Number(a), CompValue::Number(b)) => {
            let ord = match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => Some(x.cmp(&y)),
                _ => a.as_f64().zip(b.as_f64()).and_then(|(x, y)| x.partial_cmp(&y)),
            };
            ord.is_some_and(|o| ordered(op, o))
        }
        _ => false,
    }
}

fn ordered(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn cmp(path: AttrPath, op: CompareOp, v: CompValue) -> Filter {
        Filter::Compare(path, op, v)
    }

    fn s(x: &str) -> CompValue {
        CompValue::Str(x.to_owned())
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "Ana@Example.com",
            "externalId": "00uAbC",
            "name": {"givenName": "Ana", "familyName": "Diaz"},
            "title": "",
            "active": true,
            "emails": [
                {"value": "ana@home.example", "type": "home"},
                {"value": "Ana@Example.com", "type": "work", "primary": true},
            ],
            ENTERPRISE: {"department": "Engineering", "manager": {"value": "m1"}},
            "urn:signoff:params:scim:schemas:extension:2.0:User": {"grade": 5, "outOfOfficeUntil": "2026-12-01T00:00:00Z"},
        })
    }

    fn matches(filter: &str, v: &Value) -> bool {
        parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(v)
    }

    #[test]
    fn okta_user_name_probe_is_an_eq_lookup() {
        let f = parse(r#"userName eq "ana@example.com""#).expect("parses");
        let (path, value) = f.eq_lookup().expect("an eq lookup");
        assert!(path.is("userName") && !path.is("externalId"));
        assert_eq!(value, "ana@example.com");
        let f = parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#).expect("parses");
        assert!(f.eq_lookup().is_some_and(|(p, _)| p.is("username")));
        assert!(parse(r#"userName ne "x""#).expect("parses").eq_lookup().is_none());
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let a = || cmp(AttrPath::new("a"), CompareOp::Eq, CompValue::Number(1.into()));
        let b = || cmp(AttrPath::new("b"), CompareOp::Eq, CompValue::Number(2.into()));
        let c = || Filter::Present(AttrPath::new("c"));
        assert_eq!(
            parse("a eq 1 or b eq 2 and c pr").expect("parses"),
            Filter::Or(Box::new(a()), Box::new(Filter::And(Box::new(b()), Box::new(c()))))
        );
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c pr").expect("parses"),
            Filter::And(Box::new(Filter::Or(Box::new(a()), Box::new(b()))), Box::new(c()))
        );
    }

    #[test]
    fn keywords_and_literals_are_case_insensitive() {
        let f = parse(r#"userName EQ "x" AND NOT (active Eq TRUE) Or title Pr"#).expect("parses");
        assert_eq!(f.to_string(), r#"userName eq "x" and not (active eq true) or title pr"#);
    }

    #[test]
    fn value_paths_urns_sub_attributes_and_escapes_parse() {
        let f = parse(r#"emails[type eq "work" and primary eq true] and name.familyName sw "D\u00edaz\n""#)
            .expect("parses");
        let Filter::And(vp, fam) = f else { panic!("and expected") };
        assert!(matches!(*vp, Filter::ValuePath(ref p, _) if p.name == "emails"));
        assert_eq!(
            *fam,
            cmp(
                AttrPath { urn: None, name: "name".into(), sub: Some("familyName".into()) },
                CompareOp::Sw,
                s("Díaz\n")
            )
        );
        let f = parse(&format!(r#"{ENTERPRISE}:department eq "Eng""#)).expect("parses");
        assert_eq!(
            f,
            cmp(
                AttrPath { urn: Some(ENTERPRISE.into()), name: "department".into(), sub: None },
                CompareOp::Eq,
                s("Eng")
            )
        );
        let f = parse(&format!("{ENTERPRISE}:manager.value eq null")).expect("parses");
        assert_eq!(f.to_string(), format!("{ENTERPRISE}:manager.value eq null"));
        assert!(parse(r#"members[$ref ew "/Users/1"]"#).is_ok());
        assert!(parse("grade ge -1.5e3").is_ok());
    }

    #[test]
    fn errors_name_the_column_and_never_echo_values() {
        let cases = [
            (r#"userName xx "a""#, "column 10", "expected an operator"),
            ("userName eq", "column 12", "expected a value"),
            (r#"(userName pr"#, "column 13", "expected `)`"),
            (r#"userName eq "abc"#, "column 13", "unterminated string"),
            (r#"userName pr)"#, "column 12", "unmatched `)`"),
            (r#"userName eq "a" xor title pr"#, "column 17", "expected `and`, `or`"),
            (r#"emails[value[type pr]]"#, "column 13", "cannot hold another value filter"),
            ("1abc pr", "column 1", "expected an attribute name"),
            ("userName eq 01", "column 13", "invalid number"),
            ("userName eq tru", "column 13", "found `tru`"),
        ];
        for (input, col, what) in cases {
            let e = parse(input).expect_err(input);
            assert_eq!((e.status, e.scim_type), (400, Some(super::super::ScimType::InvalidFilter)), "{input}");
            assert!(e.detail.contains(col) && e.detail.contains(what), "{input}: {}", e.detail);
        }
        let e = parse(r#"password eq "hunter2" hunter3"#).expect_err("trailing junk");
        assert!(!e.detail.contains("hunter2"), "{}", e.detail);
        let e = parse(&format!("{}a pr", "(".repeat(40))).expect_err("too deep");
        assert!(e.detail.contains("nested"), "{}", e.detail);
    }

    #[test]
    fn strings_compare_as_the_schema_says() {
        let u = user();
        assert!(matches(r#"userName eq "ana@example.com""#, &u), "userName is caseExact=false");
        assert!(matches(r#"emails.value eq "ANA@EXAMPLE.COM""#, &u));
        assert!(!matches(r#"externalId eq "00uabc""#, &u), "externalId is caseExact=true");
        assert!(matches(r#"externalId eq "00uAbC""#, &u));
        assert!(matches(r#"name.familyName co "IA" and name.givenName sw "a" and userName ew ".COM""#, &u));
        assert!(matches(r#"userName ne "lee@example.com""#, &u));
        assert!(!matches(r#"userName ne "ana@example.com""#, &u));
    }

    #[test]
    fn multi_valued_attributes_match_any_value_and_value_filters_one_value() {
        let u = user();
        assert!(matches(r#"emails co "home""#, &u));
        assert!(matches(r#"emails[type eq "work" and primary eq true]"#, &u));
        assert!(!matches(r#"emails[type eq "home" and primary eq true]"#, &u));
        assert!(matches(r#"emails[TYPE eq "WORK"]"#, &u));
        let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops",
                       "members": [{"value": "u1"}, {"value": "u2"}]});
        assert!(matches(r#"members[value eq "u2"]"#, &g));
        assert!(matches(r#"displayName eq "ops""#, &g));
    }

    #[test]
    fn presence_numbers_dates_booleans_and_extensions() {
        let u = user();
        assert!(matches("name pr and emails pr and active pr", &u));
        assert!(!matches("title pr", &u), "an empty string is not present");
        assert!(!matches("nickName pr", &u));
        assert!(matches("active eq true and not (active eq false)", &u));
        assert!(matches("grade gt 4 and grade le 5 and grade lt 5.5", &u));
        assert!(!matches(r#"outOfOfficeUntil gt "2026-11-30T23:00:00-02:00""#, &u), "instants, not text");
        assert!(matches(r#"outOfOfficeUntil ge "2026-11-30T23:00:00Z""#, &u));
        assert!(matches(r#"department eq "engineering""#, &u));
        assert!(matches(&format!(r#"{ENTERPRISE}:manager.value eq "m1""#), &u));
        assert!(matches("nickName eq null", &u));
        assert!(!matches("active gt false", &u), "booleans have no order");
    }

    #[test]
    fn validate_rejects_unknown_attributes_and_ordering_on_booleans() {
        use super::super::Kind;
        assert!(parse(r#"emails[type eq "work"] and userName pr"#).expect("parses").validate(Kind::User).is_ok());
        let e = parse(r#"nope eq "x""#).expect("parses").validate(Kind::User).expect_err("unknown");
        assert!(e.detail.contains("`nope`"), "{}", e.detail);
        assert!(parse("active gt true").expect("parses").validate(Kind::User).is_err());
        assert!(parse(r#"emails[nope eq "x"]"#).expect("parses").validate(Kind::User).is_err());
        assert!(parse(r#"members[value eq "x"]"#).expect("parses").validate(Kind::Group).is_ok());
        assert!(parse(r#"userName eq "x""#).expect("parses").validate(Kind::Group).is_err());
    }

    #[test]
    fn patch_paths_parse_with_filters_and_trailing_sub_attributes() {
        let p = parse_path(r#"emails[type eq "work"].value"#).expect("parses");
        assert_eq!(p.attr, AttrPath { urn: None, name: "emails".into(), sub: Some("value".into()) });
        assert_eq!(p.filter, Some(cmp(AttrPath::new("type"), CompareOp::Eq, s("work"))));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
        let p = parse_path(r#"members[value eq "2819c223"]"#).expect("parses");
        assert!(p.attr.sub.is_none() && p.filter.is_some());
        let p = parse_path(&format!("{ENTERPRISE}:manager")).expect("parses");
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE));
        let e = parse_path(r#"emails[type eq "work"] junk"#).expect_err("junk");
        assert_eq!(e.scim_type, Some(super::super::ScimType::InvalidPath));
        assert!(e.detail.contains("column 24"), "{}", e.detail);
        assert!(parse_path("name.givenName.x").is_err());
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,6}"
    }

    fn attr_path(with_sub: bool) -> impl Strategy<Value = AttrPath> {
        let urn = prop::option::of(prop::sample::select(vec![
            "urn:ietf:params:scim:schemas:core:2.0:User".to_owned(),
            ENTERPRISE.to_owned(),
        ]));
        let sub = if with_sub { prop::option::of(name()).boxed() } else { Just(None).boxed() };
        (urn, name(), sub).prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    fn comp_value() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            Just(CompValue::Null),
            any::<bool>().prop_map(CompValue::Bool),
            any::<i64>().prop_map(|i| CompValue::Number(i.into())),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(CompValue::Number)),
            any::<String>().prop_map(CompValue::Str),
        ]
    }

    fn leaf(urn_paths: bool) -> BoxedStrategy<Filter> {
        let path = if urn_paths {
            attr_path(true).boxed()
        } else {
            (name(), prop::option::of(name())).prop_map(|(n, sub)| AttrPath { urn: None, name: n, sub }).boxed()
        };
        prop_oneof![
            path.clone().prop_map(Filter::Present),
            (path, prop::sample::select(CompareOp::ALL.to_vec()), comp_value())
                .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
        ]
        .boxed()
    }

    fn tree(leaf: BoxedStrategy<Filter>, value_paths: bool) -> impl Strategy<Value = Filter> {
        leaf.prop_recursive(4, 24, 2, move |inner| {
            let mut options = vec![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))).boxed(),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))).boxed(),
                inner.prop_map(|a| Filter::Not(Box::new(a))).boxed(),
            ];
            if value_paths {
                options.push(
                    (attr_path(false), tree(leaf_plain(), false))
                        .prop_map(|(p, f)| Filter::ValuePath(p, Box::new(f)))
                        .boxed(),
                );
            }
            prop::strategy::Union::new(options)
        })
    }

    fn leaf_plain() -> BoxedStrategy<Filter> {
        leaf(false)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn printed_filters_parse_back_to_the_same_tree(f in tree(leaf(true), true)) {
            let text = f.to_string();
            let back = parse(&text);
            prop_assert_eq!(back.as_ref().ok(), Some(&f), "{} -> {:?}", text, back);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(input in any::<String>()) {
            let _ = parse(&input);
            let _ = parse_path(&input);
            let _ = AttrPath::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_filter_like_text(
            input in r#"[a-zA-Z.:$\[\]()" \\0-9\-]{0,40}"#,
        ) {
            if let Ok(f) = parse(&input) {
                let _ = f.matches(&user());
                prop_assert_eq!(parse(&f.to_string()).ok(), Some(f));
            }
            let _ = parse_path(&input);
        }
    }
}
