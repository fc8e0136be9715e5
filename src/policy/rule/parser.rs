//! Recursive-descent parser from rule text to [`Expr`], with errors that say what is wrong, where, and
//! how to write it instead.
//!
//! Grammar, loosest first (`NOT` binds tighter than comparisons, which bind tighter than `AND`, then `OR`):
//!
//! ```text
//! or       = and { ("OR" | "||") and }
//! and      = cmp { ("AND" | "&&") cmp }
//! cmp      = unary [ ("==" | "!=" | ">" | "<" | ">=" | "<=" | "IN" | "NOT" "IN") unary ]
//! unary    = ("NOT" | "!") unary | postfix
//! postfix  = primary { "." FUNC "(" [ args ] ")" }
//! primary  = "(" or ")" | list | STRING | NUMBER | "true" | "false" | "null"
//!          | FUNC "(" [ args ] ")" | path
//! list     = "[" [ literal { "," literal } [ "," ] ] "]"
//! args     = or { "," or }
//! ```
//!
//! Two shapes the grammar could accept are refused because they almost always mean something else than
//! what they say: a chained comparison (`a < b < c`), and `NOT a == b`, which by precedence compares the
//! negation of `a` with `b` — the error shows both ways to write what was meant.

use std::borrow::Cow;

use super::RuleError;
use super::ast::{CmpOp, Expr, FUNC_NAMES, Func};
use super::lexer::{LexError, Lexer, Tok, Token};
use super::path::{AttrPath, GroupField, REQUEST_PREFIX, ROOTS, RequestField, Subject, UserField};
use super::value::{NoFacts, Value};
use crate::diag::{closest, did_you_mean};

/// The deepest a rule may nest (parentheses, `NOT`, lists, function calls). Real rules nest two or three
/// levels; the limit exists so that hostile or generated input cannot overflow the stack of the parser,
/// the evaluator or the destructor, all of which recurse over the tree.
pub const MAX_DEPTH: usize = 64;

/// The keywords, for "did you mean" after a misspelt operator.
const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "IN"];

/// Parses a whole rule.
pub(super) fn parse(src: &str) -> Result<Expr, RuleError> {
    if src.trim().is_empty() {
        return Err(RuleError {
            offset: 0,
            message: "the rule is empty: write a condition, like `users_requested_for[0].department == \"Sales\"`"
                .into(),
        });
    }
    let mut p = Parser { src, lex: Lexer::new(src), peeked: None, prev: None, depth: 0 };
    let expr = p.parse_or()?;
    let t = p.bump()?;
    if t.tok != Tok::End {
        return Err(p.unexpected_after_value(&t, false));
    }
    Ok(expr)
}

/// The character offset of byte offset `byte` in `src`.
fn char_offset(src: &str, byte: usize) -> usize {
    src.get(..byte).map_or_else(|| src.chars().count(), |s| s.chars().count())
}

fn is_keyword(t: &Token<'_>, kw: &str) -> bool {
    matches!(t.tok, Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
}

fn is_not(t: &Token<'_>) -> bool {
    t.tok == Tok::Bang || is_keyword(t, "not")
}

fn is_and(t: &Token<'_>) -> bool {
    t.tok == Tok::AndAnd || is_keyword(t, "and")
}

fn is_or(t: &Token<'_>) -> bool {
    t.tok == Tok::OrOr || is_keyword(t, "or")
}

/// `true`, `false` and `null`, in any letter case.
fn literal_word(word: &str) -> Option<Value<'static>> {
    if word.eq_ignore_ascii_case("true") {
        Some(Value::Bool(true))
    } else if word.eq_ignore_ascii_case("false") {
        Some(Value::Bool(false))
    } else if word.eq_ignore_ascii_case("null") {
        Some(Value::Null)
    } else {
        None
    }
}

/// ", did you mean `x`?" when a known name is close, else "; " followed by `listing`.
fn hint<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>, listing: &str) -> String {
    let suggestion = did_you_mean(unknown, known);
    if suggestion.is_empty() { format!("; {listing}") } else { suggestion }
}

/// The operator between two operands of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Cmp(CmpOp),
    In,
    NotIn,
}

/// How a function was called, for the arity message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Method,
    Prefix,
}

struct Parser<'s> {
    src: &'s str,
    lex: Lexer<'s>,
    /// The next token, once looked at. Lexed lazily so that a custom attribute key, which has its own
    /// grammar, is never lexed ahead of time with the ordinary one.
    peeked: Option<Token<'s>>,
    /// The text of the last token consumed, for "expected a value after `==`".
    prev: Option<&'s str>,
    /// Current nesting, checked against [`MAX_DEPTH`].
    depth: usize,
}

impl<'s> Parser<'s> {
    fn error(&self, at: usize, message: impl Into<String>) -> RuleError {
        RuleError { offset: char_offset(self.src, at), message: message.into() }
    }

    fn lex_error(&self, e: LexError) -> RuleError {
        self.error(e.at, e.message)
    }

    fn peek(&mut self) -> Result<&Token<'s>, RuleError> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex.next_token().map_err(|e| self.lex_error(e))?,
        };
        Ok(self.peeked.insert(t))
    }

    fn bump(&mut self) -> Result<Token<'s>, RuleError> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex.next_token().map_err(|e| self.lex_error(e))?,
        };
        if t.tok != Tok::End {
            self.prev = Some(&self.src[t.start..t.end]);
        }
        Ok(t)
    }

    /// Whether the next token is `tok`, and where it starts.
    fn peek_is(&mut self, tok: &Tok<'_>) -> Result<(bool, usize), RuleError> {
        let t = self.peek()?;
        Ok((t.tok == *tok, t.start))
    }

    /// A token as a message names it: its text in backticks (shortened), or "the end of the rule".
    fn describe(&self, t: &Token<'_>) -> String {
        if t.tok == Tok::End {
            return "the end of the rule".into();
        }
        let text = &self.src[t.start..t.end];
        if text.chars().count() > 40 {
            let short: String = text.chars().take(37).collect();
            format!("`{short}...`")
        } else {
            format!("`{text}`")
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), RuleError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(
                at,
                format!(
                    "the rule nests too deeply: more than {MAX_DEPTH} levels of parentheses, NOT, lists and function calls"
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn unclosed(&self, open: usize, what: &str) -> RuleError {
        self.error(open, format!("unbalanced brackets: this `{what}` is never closed"))
    }

    fn parse_or(&mut self) -> Result<Expr, RuleError> {
        let first = self.parse_and()?;
        if !is_or(self.peek()?) {
            return Ok(first);
        }
        let mut items = vec![first];
        while is_or(self.peek()?) {
            self.bump()?;
            items.push(self.parse_and()?);
        }
        Ok(Expr::Or(items))
    }

    fn parse_and(&mut self) -> Result<Expr, RuleError> {
        let first = self.parse_cmp()?;
        if !is_and(self.peek()?) {
            return Ok(first);
        }
        let mut items = vec![first];
        while is_and(self.peek()?) {
            self.bump()?;
            items.push(self.parse_cmp()?);
        }
        Ok(Expr::And(items))
    }

    /// The comparison operator that comes next, if any, without consuming it.
    fn peek_op(&mut self) -> Result<Option<(Op, usize)>, RuleError> {
        let t = self.peek()?;
        let start = t.start;
        let op = match t.tok {
            Tok::EqEq => Op::Cmp(CmpOp::Eq),
            Tok::NotEq => Op::Cmp(CmpOp::Ne),
            Tok::Gt => Op::Cmp(CmpOp::Gt),
            Tok::Lt => Op::Cmp(CmpOp::Lt),
            Tok::Ge => Op::Cmp(CmpOp::Ge),
            Tok::Le => Op::Cmp(CmpOp::Le),
            Tok::Ident(w) if w.eq_ignore_ascii_case("in") => Op::In,
            Tok::Ident(w) if w.eq_ignore_ascii_case("not") => {
                // `NOT IN` needs a second token of lookahead: copy the lexer, which sits just after `NOT`.
                let mut ahead = self.lex;
                match ahead.next_token() {
                    Ok(next) if is_keyword(&next, "in") => Op::NotIn,
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some((op, start)))
    }

    fn parse_cmp(&mut self) -> Result<Expr, RuleError> {
        let (lhs_start, lhs_end, lhs_is_not) = {
            let t = self.peek()?;
            (t.start, t.end, is_not(t))
        };
        let lhs_not = lhs_is_not.then(|| self.src[lhs_start..lhs_end].to_uppercase());
        let lhs = self.parse_unary()?;
        let Some((op, _)) = self.peek_op()? else {
            return Ok(lhs);
        };
        if let Some(not) = lhs_not {
            return Err(self.error(
                lhs_start,
                format!(
                    "`{not}` applies only to the value right after it, not to the comparison: write `{not} (a == b)` to negate the comparison, or `({not} a) == b` to compare the negated value"
                ),
            ));
        }
        self.bump()?;
        if op == Op::NotIn {
            self.bump()?;
        }
        let rhs_start = self.peek()?.start;
        let rhs = self.parse_unary()?;
        if let Some((_, at)) = self.peek_op()? {
            return Err(self.error(at, "comparisons do not chain: join them with AND, like `a > 1 AND a < 5`"));
        }
        self.build_cmp(op, lhs, rhs, rhs_start)
    }

    fn build_cmp(&self, op: Op, lhs: Expr, rhs: Expr, rhs_start: usize) -> Result<Expr, RuleError> {
        let is_null = |e: &Expr| matches!(e, Expr::Lit(Value::Null));
        Ok(match op {
            Op::Cmp(c @ (CmpOp::Eq | CmpOp::Ne)) if is_null(&lhs) || is_null(&rhs) => {
                let operand = if is_null(&rhs) { lhs } else { rhs };
                Expr::IsNull { negated: c == CmpOp::Ne, operand: Box::new(operand) }
            }
            Op::Cmp(c) => Expr::Cmp(c, Box::new(lhs), Box::new(rhs)),
            Op::In | Op::NotIn => {
                if let Expr::Lit(v) = &rhs
                    && !matches!(v, Value::Str(_))
                    && v.list_len().is_none()
                {
                    let name = if op == Op::In { "IN" } else { "NOT IN" };
                    return Err(self.error(
                        rhs_start,
                        format!("`{name}` needs a list or a string on its right, like `x {name} [\"a\", \"b\"]`"),
                    ));
                }
                Expr::In { negated: op == Op::NotIn, item: Box::new(lhs), set: Box::new(rhs) }
            }
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, RuleError> {
        if is_not(self.peek()?) {
            let t = self.bump()?;
            self.enter(t.start)?;
            let operand = self.parse_unary()?;
            self.leave();
            return Ok(Expr::Not(Box::new(operand)));
        }
        self.parse_postfix()
    }

    fn parse_postfix(&mut self) -> Result<Expr, RuleError> {
        let start = self.peek()?.start;
        let mut expr = self.parse_primary()?;
        let mut levels = 0;
        loop {
            let (is_dot, dot_at) = self.peek_is(&Tok::Dot)?;
            if !is_dot {
                break;
            }
            self.bump()?;
            let t = self.bump()?;
            let name = match t.tok {
                Tok::Func(name) => name,
                Tok::Ident(attr) => {
                    let receiver = self.src[start..dot_at].trim_end();
                    return Err(self.error(
                        t.start,
                        format!(
                            "`{receiver}` has no attribute `{attr}`: only a function can follow it, like `.$LOWERCASE()`"
                        ),
                    ));
                }
                _ => {
                    return Err(self.error(
                        t.start,
                        format!("expected a function after `.`, like `.$LOWERCASE()`, found {}", self.describe(&t)),
                    ));
                }
            };
            let func = self.func(name, t.start)?;
            self.enter(t.start)?;
            levels += 1;
            let mut args = vec![expr];
            args.extend(self.call_args(func)?);
            expr = self.make_call(func, args, Style::Method, t.start)?;
        }
        for _ in 0..levels {
            self.leave();
        }
        Ok(expr)
    }

    fn func(&self, name: &str, at: usize) -> Result<Func, RuleError> {
        Func::from_name(name).ok_or_else(|| {
            let written = format!("${name}");
            self.error(
                at,
                format!(
                    "unknown function `{written}`{}",
                    hint(
                        &written,
                        FUNC_NAMES.iter().copied(),
                        "the functions are $LOWERCASE, $UPPERCASE and $CONTAINS"
                    )
                ),
            )
        })
    }

    /// `( [args] )` after a function name.
    fn call_args(&mut self, func: Func) -> Result<Vec<Expr>, RuleError> {
        let (is_open, at) = self.peek_is(&Tok::LParen)?;
        if !is_open {
            let name = func.name();
            return Err(self.error(at, format!("expected `(` after `{name}`: functions are called like `x.{name}()`")));
        }
        self.bump()?;
        let mut args = Vec::new();
        if self.peek_is(&Tok::RParen)?.0 {
            self.bump()?;
            return Ok(args);
        }
        loop {
            args.push(self.parse_or()?);
            let t = self.bump()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(args),
                Tok::End => return Err(self.unclosed(at, "(")),
                _ => {
                    return Err(self.error(
                        t.start,
                        format!(
                            "expected `,` or `)` after an argument of `{}`, found {}",
                            func.name(),
                            self.describe(&t)
                        ),
                    ));
                }
            }
        }
    }

    /// A call node, folded to a literal when every argument is one.
    fn make_call(&self, func: Func, args: Vec<Expr>, style: Style, at: usize) -> Result<Expr, RuleError> {
        let mut it = args.into_iter();
        let call = match (func, it.next(), it.next(), it.next()) {
            (Func::Lowercase, Some(x), None, None) => Expr::Lower(Box::new(x)),
            (Func::Uppercase, Some(x), None, None) => Expr::Upper(Box::new(x)),
            (Func::Contains, Some(h), Some(n), None) => Expr::Contains(Box::new(h), Box::new(n)),
            _ => {
                let name = func.name();
                let message = match (func, style) {
                    (Func::Contains, Style::Method) => {
                        format!("`{name}` takes one argument when called on a value, like `x.{name}(\"@company.com\")`")
                    }
                    (_, Style::Method) => {
                        format!("`{name}` takes no arguments when called on a value, like `x.{name}()`")
                    }
                    (Func::Contains, Style::Prefix) => {
                        format!("`{name}` takes two arguments, like `{name}(requestor.email_addr, \"@company.com\")`")
                    }
                    (_, Style::Prefix) => {
                        format!("`{name}` takes one argument, like `{name}(requestor.department)`")
                    }
                };
                return Err(self.error(at, message));
            }
        };
        let constant = match &call {
            Expr::Lower(x) | Expr::Upper(x) => x.is_lit(),
            Expr::Contains(h, n) => h.is_lit() && n.is_lit(),
            _ => false,
        };
        Ok(if constant { Expr::Lit(call.value(&NoFacts).into_value().into_owned()) } else { call })
    }

    fn expected_value(&self, prev: Option<&str>, t: &Token<'_>) -> RuleError {
        let found = self.describe(t);
        self.error(
            t.start,
            match prev {
                Some(p) => format!("expected a value after `{p}`, found {found}"),
                None => format!("expected a value, found {found}"),
            },
        )
    }

    fn parse_primary(&mut self) -> Result<Expr, RuleError> {
        let prev = self.prev;
        let t = self.bump()?;
        match t.tok {
            Tok::LParen => {
                self.enter(t.start)?;
                let e = self.parse_or()?;
                self.leave();
                let close = self.bump()?;
                match close.tok {
                    Tok::RParen => Ok(e),
                    Tok::End => Err(self.unclosed(t.start, "(")),
                    _ => Err(self.unexpected_after_value(&close, true)),
                }
            }
            Tok::LBracket => Ok(Expr::Lit(self.list(t.start)?)),
            Tok::Str(s) => Ok(Expr::Lit(Value::Str(Cow::Owned(s)))),
            Tok::Num(text) => Ok(Expr::Lit(Value::Num(self.number(text, t.start)?))),
            Tok::Func(name) => {
                let func = self.func(name, t.start)?;
                self.enter(t.start)?;
                let args = self.call_args(func)?;
                self.leave();
                self.make_call(func, args, Style::Prefix, t.start)
            }
            Tok::Ident(word) => {
                if let Some(v) = literal_word(word) {
                    Ok(Expr::Lit(v))
                } else if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word)) {
                    Err(self.expected_value(prev, &t))
                } else {
                    self.path(word, t.start)
                }
            }
            _ => Err(self.expected_value(prev, &t)),
        }
    }

    fn number(&self, text: &str, at: usize) -> Result<f64, RuleError> {
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(self.error(at, format!("number `{text}` is too large"))),
        }
    }

    /// The rest of a list literal whose `[` was at `open`.
    fn list(&mut self, open: usize) -> Result<Value<'static>, RuleError> {
        self.enter(open)?;
        let mut items = Vec::new();
        loop {
            let t = self.bump()?;
            let literal = match t.tok {
                Tok::RBracket => break,
                Tok::End => return Err(self.unclosed(open, "[")),
                Tok::Comma => return Err(self.error(t.start, "expected a list item or `]`, found `,`")),
                Tok::Str(ref s) => Some(Value::Str(Cow::Owned(s.clone()))),
                Tok::Num(text) => Some(Value::Num(self.number(text, t.start)?)),
                Tok::LBracket => Some(self.list(t.start)?),
                Tok::Ident(word) => literal_word(word),
                _ => None,
            };
            let Some(item) = literal else {
                return Err(self.error(
                    t.start,
                    format!(
                        "list items must be literals (strings, numbers, true, false, null or lists), found {}",
                        self.describe(&t)
                    ),
                ));
            };
            items.push(item);
            let t = self.bump()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RBracket => break,
                Tok::End => return Err(self.unclosed(open, "[")),
                _ => {
                    return Err(
                        self.error(t.start, format!("expected `,` or `]` in the list, found {}", self.describe(&t)))
                    );
                }
            }
        }
        self.leave();
        Ok(Value::List(items))
    }

    /// The error for a token that cannot follow a complete value: at the top level (`in_parens` false)
    /// or where a `)` was expected.
    fn unexpected_after_value(&self, t: &Token<'_>, in_parens: bool) -> RuleError {
        let found = self.describe(t);
        let keyword_typo = match t.tok {
            Tok::Ident(w) => closest(w, KEYWORDS.iter().copied()),
            _ => None,
        };
        let message = if t.tok == Tok::RParen && !in_parens {
            "unbalanced brackets: this `)` has no matching `(`".to_string()
        } else if is_not(t) {
            "`NOT` after a value must be followed by `IN`, as in `x NOT IN [\"a\"]`; to negate a condition, write `AND NOT (...)`".to_string()
        } else if let Some(k) = keyword_typo {
            format!("unexpected {found}, did you mean `{k}`?")
        } else if in_parens {
            format!("expected `)`, AND or OR, found {found}")
        } else {
            format!("unexpected {found} after a complete condition; join conditions with AND or OR")
        };
        self.error(t.start, message)
    }

    fn path(&mut self, root: &'s str, at: usize) -> Result<Expr, RuleError> {
        let path = match root {
            "requestor" => AttrPath::User(Subject::Requestor, self.user_field("requestor")?),
            "users_requested_for" => {
                let i = self.index()?;
                let owner = format!("users_requested_for[{i}]");
                AttrPath::User(Subject::RequestedFor(i), self.user_field(&owner)?)
            }
            "approval_request" => {
                self.segment("approval_request", "approvable_entity")?;
                self.segment("approval_request.approvable_entity", "app_entity")?;
                AttrPath::Request(self.request_field()?)
            }
            "group" => AttrPath::Group(self.group_field()?),
            "custom_attributes" => AttrPath::ResourceCustom(self.custom_key("custom_attributes")?),
            _ => {
                let known = ROOTS.iter().copied().chain(["true", "false", "null"]);
                let message = format!(
                    "unknown name `{root}`{}",
                    hint(
                        root,
                        known,
                        &format!(
                            "a path starts with `requestor`, `users_requested_for[i]`, `approval_request`, `group` or `custom_attributes`, and text needs quotes: \"{root}\""
                        ),
                    )
                );
                return Err(self.error(at, message));
            }
        };
        Ok(Expr::Path(path))
    }

    /// `.name` after `owner`, which is not a value by itself; `example` shows a complete path.
    fn attr_name(&mut self, owner: &str, example: &str) -> Result<(&'s str, usize), RuleError> {
        let (is_dot, at) = self.peek_is(&Tok::Dot)?;
        if !is_dot {
            return Err(
                self.error(at, format!("`{owner}` is not a value by itself: pick an attribute, like `{example}`"))
            );
        }
        self.bump()?;
        let t = self.bump()?;
        match t.tok {
            Tok::Ident(name) => Ok((name, t.start)),
            Tok::Func(_) => Err(self.error(
                t.start,
                format!("`{owner}` is not a value by itself: pick an attribute before calling a function, like `{example}.$LOWERCASE()`"),
            )),
            _ => Err(self.error(
                t.start,
                format!("expected an attribute name after `{owner}.`, found {}", self.describe(&t)),
            )),
        }
    }

    fn user_field(&mut self, owner: &str) -> Result<UserField, RuleError> {
        let (name, at) = self.attr_name(owner, &format!("{owner}.email_addr"))?;
        if name == "custom_attributes" {
            return Ok(UserField::Custom(self.custom_key(&format!("{owner}.custom_attributes"))?));
        }
        UserField::from_name(name).ok_or_else(|| {
            self.error(
                at,
                format!(
                    "unknown attribute `{name}` of a user{}",
                    hint(
                        name,
                        UserField::names().iter().copied(),
                        "a user has id, email_addr, name, manager, manager_email, department, title, grade, work_status, is_full_time_employee, location, is_active, is_out_of_office, permissions, groups, slack_id, discord_id and custom_attributes.<key>"
                    )
                ),
            )
        })
    }

    fn request_field(&mut self) -> Result<RequestField, RuleError> {
        let (name, at) = self.attr_name(REQUEST_PREFIX, &format!("{REQUEST_PREFIX}.name"))?;
        RequestField::from_name(name).ok_or_else(|| {
            self.error(
                at,
                format!(
                    "unknown attribute `{name}` of the requested item{}",
                    hint(
                        name,
                        RequestField::names(),
                        "it has name, id, kind, risk, role_canonical_name_to_provision, duration_seconds and justification"
                    )
                ),
            )
        })
    }

    fn group_field(&mut self) -> Result<GroupField, RuleError> {
        let (name, at) = self.attr_name("group", "group.name")?;
        if name == "custom_attributes" {
            return Ok(GroupField::Custom(self.custom_key("group.custom_attributes")?));
        }
        GroupField::from_name(name).ok_or_else(|| {
            self.error(
                at,
                format!(
                    "unknown attribute `{name}` of the group{}",
                    hint(
                        name,
                        GroupField::names().iter().copied(),
                        "a group has id, name, join_policy, self_managed, visibility, parent, members, owners, managers and custom_attributes.<key>"
                    )
                ),
            )
        })
    }

    /// The fixed segments of `approval_request.approvable_entity.app_entity`.
    fn segment(&mut self, owner: &str, expected: &str) -> Result<(), RuleError> {
        let (name, at) = self.attr_name(owner, &format!("{REQUEST_PREFIX}.name"))?;
        if name == expected {
            return Ok(());
        }
        Err(self.error(
            at,
            format!(
                "unknown attribute `{name}` of `{owner}`{}",
                hint(name, [expected], &format!("request attributes are written `{REQUEST_PREFIX}.<attribute>`"))
            ),
        ))
    }

    /// `.key` after `owner` (which ends in `custom_attributes`), the key read with its own grammar.
    fn custom_key(&mut self, owner: &str) -> Result<String, RuleError> {
        let (is_dot, at) = self.peek_is(&Tok::Dot)?;
        if !is_dot {
            return Err(self.error(at, format!("`{owner}` needs a key, like `{owner}.cost_center`")));
        }
        self.bump()?;
        // The `.` was the peeked token, so nothing after it has been lexed yet.
        let key = self.lex.key().map_err(|e| self.lex_error(e))?;
        self.prev = Some(key);
        Ok(key.to_string())
    }

    /// `[n]` after `users_requested_for`.
    fn index(&mut self) -> Result<usize, RuleError> {
        let (is_open, at) = self.peek_is(&Tok::LBracket)?;
        if !is_open {
            return Err(self.error(at, "`users_requested_for` needs an index, like `users_requested_for[0]`"));
        }
        self.bump()?;
        let t = self.bump()?;
        let i = match t.tok {
            Tok::Num(text) if text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse::<usize>().map_err(|_| self.error(t.start, format!("index `{text}` is too large")))?
            }
            Tok::Num(text) => {
                return Err(self.error(
                    t.start,
                    format!("bad index `{text}`: an index is a whole number from 0, like `users_requested_for[0]`"),
                ));
            }
            Tok::End => return Err(self.unclosed(at, "[")),
            _ => {
                return Err(self.error(
                    t.start,
                    format!(
                        "bad index: expected a whole number from 0, like `users_requested_for[0]`, found {}",
                        self.describe(&t)
                    ),
                ));
            }
        };
        let t = self.bump()?;
        match t.tok {
            Tok::RBracket => Ok(i),
            Tok::End => Err(self.unclosed(at, "[")),
            _ => Err(self.error(t.start, format!("expected `]` after the index, found {}", self.describe(&t)))),
        }
    }
}
