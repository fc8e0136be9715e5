//! The parsed form of a rule, and its canonical text.
//!
//! The canonical text (`Display`) is what `signoff simulate` and error reports show: one spelling per
//! attribute, upper-case keywords, method-style functions, and just the parentheses the structure needs.
//! It parses back to the same tree, which the property tests check.

use std::fmt::{self, Display, Write};

use super::path::AttrPath;
use super::value::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Lt => "<",
            CmpOp::Ge => ">=",
            CmpOp::Le => "<=",
        }
    }
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Lowercase,
    Uppercase,
    Contains,
}

/// Function names as written after `$`, for lookups and suggestions.
pub(super) const FUNC_NAMES: &[&str] = &["$LOWERCASE", "$UPPERCASE", "$CONTAINS"];

impl Func {
    /// The function called `name` (without `$`), in any letter case.
    pub fn from_name(name: &str) -> Option<Func> {
        if name.eq_ignore_ascii_case("LOWERCASE") {
            Some(Func::Lowercase)
        } else if name.eq_ignore_ascii_case("UPPERCASE") {
            Some(Func::Uppercase)
        } else if name.eq_ignore_ascii_case("CONTAINS") {
            Some(Func::Contains)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Lowercase => "$LOWERCASE",
            Func::Uppercase => "$UPPERCASE",
            Func::Contains => "$CONTAINS",
        }
    }
}

/// A node of a parsed rule. Every node is an expression with a value; conditions are the nodes whose value
/// is a boolean, and a condition holds only when its value is `true`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    /// A literal, or a function of literals folded at parse time (`"Sales".$LOWERCASE()` is stored as
    /// `"sales"`), so evaluation never lowercases a constant.
    Lit(Value<'static>),
    /// An attribute read from the facts.
    Path(AttrPath),
    /// `x.$LOWERCASE()`.
    Lower(Box<Expr>),
    /// `x.$UPPERCASE()`.
    Upper(Box<Expr>),
    /// `haystack.$CONTAINS(needle)`.
    Contains(Box<Expr>, Box<Expr>),
    /// `NOT x`: true unless `x` is true.
    Not(Box<Expr>),
    /// `a AND b AND ...`, at least two.
    And(Vec<Expr>),
    /// `a OR b OR ...`, at least two.
    Or(Vec<Expr>),
    /// `a == b` and the other comparisons, where neither side is the literal `null`.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `item IN set`, `item NOT IN set`.
    In { negated: bool, item: Box<Expr>, set: Box<Expr> },
    /// `x == null` (`negated`: `x != null`): the one comparison with null that can be true.
    IsNull { negated: bool, operand: Box<Expr> },
}

/// Binding strength, loosest first; a child printed where a tighter level is needed gets parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Or,
    And,
    Cmp,
    Unary,
    Postfix,
}

impl Expr {
    fn level(&self) -> Level {
        match self {
            Expr::Or(_) => Level::Or,
            Expr::And(_) => Level::And,
            Expr::Cmp(..) | Expr::In { .. } | Expr::IsNull { .. } => Level::Cmp,
            Expr::Not(_) => Level::Unary,
            Expr::Lit(_) | Expr::Path(_) | Expr::Lower(_) | Expr::Upper(_) | Expr::Contains(..) => Level::Postfix,
        }
    }

    /// Whether this is a literal (constant folding leaves function calls on literals as literals).
    pub fn is_lit(&self) -> bool {
        matches!(self, Expr::Lit(_))
    }

    /// Appends every attribute path this expression reads, in reading order, without repeats.
    pub fn collect_paths(&self, out: &mut Vec<AttrPath>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Path(p) => {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Expr::Lower(x) | Expr::Upper(x) | Expr::Not(x) => x.collect_paths(out),
            Expr::IsNull { operand, .. } => operand.collect_paths(out),
            Expr::Contains(a, b) | Expr::Cmp(_, a, b) => {
                a.collect_paths(out);
                b.collect_paths(out);
            }
            Expr::In { item, set, .. } => {
                item.collect_paths(out);
                set.collect_paths(out);
            }
            Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| x.collect_paths(out)),
        }
    }

    /// Writes `self`, in parentheses if it binds more loosely than `min`.
    fn write_at(&self, f: &mut fmt::Formatter<'_>, min: Level) -> fmt::Result {
        if self.level() < min {
            f.write_char('(')?;
            self.fmt(f)?;
            f.write_char(')')
        } else {
            self.fmt(f)
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Lit(v) => write_value(f, v),
            Expr::Path(p) => p.fmt(f),
            Expr::Lower(x) => {
                x.write_at(f, Level::Postfix)?;
                f.write_str(".$LOWERCASE()")
            }
            Expr::Upper(x) => {
                x.write_at(f, Level::Postfix)?;
                f.write_str(".$UPPERCASE()")
            }
            Expr::Contains(h, n) => {
                h.write_at(f, Level::Postfix)?;
                f.write_str(".$CONTAINS(")?;
                n.fmt(f)?;
                f.write_char(')')
            }
            Expr::Not(x) => {
                f.write_str("NOT ")?;
                x.write_at(f, Level::Unary)
            }
            Expr::And(xs) | Expr::Or(xs) => {
                let (sep, min) =
                    if matches!(self, Expr::And(_)) { (" AND ", Level::Cmp) } else { (" OR ", Level::And) };
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    x.write_at(f, min)?;
                }
                Ok(())
            }
            // Operands of a comparison are printed at postfix level: `NOT` beside a comparison always gets
            // parentheses, because the parser refuses the ambiguous `NOT a == b`.
            Expr::Cmp(op, a, b) => {
                a.write_at(f, Level::Postfix)?;
                write!(f, " {} ", op.symbol())?;
                b.write_at(f, Level::Postfix)
            }
            Expr::In { negated, item, set } => {
                item.write_at(f, Level::Postfix)?;
                f.write_str(if *negated { " NOT IN " } else { " IN " })?;
                set.write_at(f, Level::Postfix)
            }
            Expr::IsNull { negated, operand } => {
                operand.write_at(f, Level::Postfix)?;
                f.write_str(if *negated { " != null" } else { " == null" })
            }
        }
    }
}

/// A literal as rule text.
pub(super) fn write_value(f: &mut impl Write, v: &Value<'_>) -> fmt::Result {
    match v {
        Value::Null => f.write_str("null"),
        Value::Bool(b) => write!(f, "{b}"),
        // `{}` on f64 never uses exponent notation and round-trips exactly, so it reads back the same.
        Value::Num(n) => write!(f, "{n}"),
        Value::Str(s) => write_string(f, s),
        list => {
            f.write_char('[')?;
            let n = list.list_len().unwrap_or(0);
            for i in 0..n {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if let Some(item) = list.list_item(i) {
                    write_value(f, &item)?;
                }
            }
            f.write_char(']')
        }
    }
}

/// A double-quoted string literal with the escapes the lexer reads.
fn write_string(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(f, "\\u{unit:04X}")?;
                }
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}
