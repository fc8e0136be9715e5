//! JSON text to a [`Node`] tree, from the `jsonc-parser` AST.
//!
//! The AST has byte ranges; a [`LineIndex`] built once per file turns them into lines and columns by binary
//! search, so positions cost O(log lines) per node instead of a rescan of the text.

use jsonc_parser::ast::{self, ObjectPropName};
use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};

use super::{Failure, MAX_DEPTH, Node, Style, Value, check_duplicates};
use crate::diag::Pos;

/// Parses one JSON value. Comments and trailing commas are allowed (people annotate config files);
/// everything else JSON5 would add (single quotes, bare keys, hex, `Infinity`) is refused so that a `.json`
/// file stays JSON. An empty file gives `Null`.
pub(super) fn parse(text: &str) -> Result<Node, Failure> {
    // A byte-order mark is invisible in editors, so columns are counted without it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut index = LineIndex::new(text);
    let options = ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let parsed = parse_to_ast(text, &CollectOptions::default(), &options)
        .map_err(|e| Failure::new(index.pos(e.range().start), lower_first(&e.kind().to_string())))?;
    match parsed.value {
        None => Ok(Node::new(Value::Null, Pos::new(1, 1))),
        Some(value) => convert(value, &mut index, 0),
    }
}

/// The parser's messages start with a capital; ours, which follow `file:line:col: `, do not.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn convert(value: ast::Value<'_>, index: &mut LineIndex<'_>, depth: usize) -> Result<Node, Failure> {
    let mut quoted = None;
    let (value, range, style, raw) = match value {
        ast::Value::StringLit(s) => {
            // The text between the quotes, kept only when escapes make it differ from the value.
            let inner = index.text.get(s.range.start + 1..s.range.end.saturating_sub(1)).unwrap_or_default();
            quoted = (inner != s.value).then(|| Box::from(inner));
            (Value::Str(s.value.into_owned()), s.range, Style::DoubleQuoted, None)
        }
        ast::Value::NumberLit(n) => (number(n.value), n.range, Style::Plain, Some(n.value.into())),
        ast::Value::BooleanLit(b) => (Value::Bool(b.value), b.range, Style::Plain, None),
        ast::Value::NullKeyword(n) => (Value::Null, n.range, Style::Plain, None),
        ast::Value::Array(a) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep(index.pos(a.range.start)));
            }
            let mut items = Vec::with_capacity(a.elements.len());
            for element in a.elements {
                items.push(convert(element, index, depth + 1)?);
            }
            (Value::Seq(items), a.range, Style::Plain, None)
        }
        ast::Value::Object(o) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep(index.pos(o.range.start)));
            }
            let mut entries = Vec::with_capacity(o.properties.len());
            for prop in o.properties {
                let (name, range) = match prop.name {
                    ObjectPropName::String(s) => (s.value.into_owned(), s.range),
                    ObjectPropName::Word(w) => (w.value.to_owned(), w.range),
                };
                let key = Node {
                    value: Value::Str(name),
                    pos: index.pos(range.start),
                    end: index.pos(range.end),
                    style: Style::DoubleQuoted,
                    raw: None,
                    quoted: None,
                };
                let value = convert(prop.value, index, depth + 1)?;
                entries.push((key, value));
            }
            check_duplicates(&entries)?;
            (Value::Map(entries), o.range, Style::Plain, None)
        }
    };
    Ok(Node { value, pos: index.pos(range.start), end: index.pos(range.end), style, raw, quoted })
}

/// A JSON number: an `Int` when it is an integer that fits in i64, else a `Float` (its spelling is kept
/// by the caller, so a large id still reads exactly into a `String` or `u64`).
fn number(text: &str) -> Value {
    if !text.contains(['.', 'e', 'E'])
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    Value::Float(text.parse::<f64>().unwrap_or(f64::NAN))
}

fn too_deep(at: Pos) -> Failure {
    Failure::new(at, format!("arrays and objects are nested more than {MAX_DEPTH} levels deep"))
}

/// Byte offsets to 1-based lines and character columns.
///
/// Line starts are found once; a column is the number of characters between the line start and the offset.
/// For non-ASCII text that count resumes from the previous lookup when it was earlier on the same line,
/// which keeps a minified one-line file linear (nodes are converted in text order).
pub(super) struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
    ascii: bool,
    /// The last lookup on a non-ASCII text: (byte offset, line index, 0-based column).
    last: (usize, usize, usize),
}

impl<'t> LineIndex<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1));
        LineIndex { text, starts, ascii: text.is_ascii(), last: (0, 0, 0) }
    }

    pub(super) fn pos(&mut self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let line_start = self.starts.get(line).copied().unwrap_or(0);
        let col = if self.ascii {
            offset - line_start
        } else {
            let (last_offset, last_line, last_col) = self.last;
            let (from, base) = if last_line == line && last_offset >= line_start && last_offset <= offset {
                (last_offset, last_col)
            } else {
                (line_start, 0)
            };
            let col = base + self.text.get(from..offset).map_or(0, |s| s.chars().count());
            self.last = (offset, line, col);
            col
        };
        Pos::new(u32::try_from(line + 1).unwrap_or(u32::MAX), u32::try_from(col + 1).unwrap_or(u32::MAX))
    }
}
