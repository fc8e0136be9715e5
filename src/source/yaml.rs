//! YAML text to a [`Node`] tree, from `saphyr-parser` events.
//!
//! We drive the event iterator ourselves (rather than `Parser::load`) so that a second document, an alias
//! bomb or absurd nesting stops the parse at once with a position, instead of after building everything.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, Tag};

use super::{Failure, MAX_DEPTH, Node, Style, Value, check_duplicates};
use crate::diag::Pos;

/// How many nodes aliases may copy in one file, in total.
///
/// Each alias copies the anchored node, so nested aliases grow exponentially ("billion laughs"); real files
/// use a few small anchors. A million nodes is far beyond any honest file and still parses in well under a
/// second.
const ALIAS_BUDGET: usize = 1_000_000;

/// Parses one YAML document. An empty stream (nothing, or only comments) gives `Null`.
pub(super) fn parse(text: &str) -> Result<Node, Failure> {
    let mut builder = Builder {
        text,
        cursor: CharCursor::new(text),
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_budget: ALIAS_BUDGET,
        root: None,
        documents: 0,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| scan_failure(text, &e))?;
        if !builder.event(event, span)? {
            break;
        }
    }
    Ok(builder.root.unwrap_or_else(|| Node::new(Value::Null, Pos::new(1, 1))))
}

fn scan_failure(text: &str, e: &ScanError) -> Failure {
    let mut at = pos(e.marker());
    // saphyr reports a tab in indentation at the start of the scalar it was reading (often the line above) or
    // just past the tab; the person fixing the file wants the tab itself.
    if TAB_INDENTATION_ERRORS.contains(&e.info())
        && let Some(tab) = indentation_tab(text, e.marker().line())
    {
        at = tab;
    }
    Failure::new(at, e.info().to_owned())
}

/// saphyr's messages for a tab used as indentation.
const TAB_INDENTATION_ERRORS: &[&str] = &[
    "while scanning a plain scalar, found a tab",
    "tabs disallowed within this context (block indentation)",
    "a block scalar content cannot start with a tab",
    "tab cannot be used as indentation",
];

/// The first tab in the indentation of a line with content, from 1-based line `from_line` on.
fn indentation_tab(text: &str, from_line: usize) -> Option<Pos> {
    for (i, line) in text.lines().enumerate().skip(from_line.saturating_sub(1)) {
        let content = line.trim_start_matches([' ', '\t']);
        // A line of nothing but blanks may hold tabs.
        if content.trim().is_empty() {
            continue;
        }
        // The indentation is ASCII, so its byte index is its column.
        if let Some(col) = line[..line.len() - content.len()].find('\t') {
            return Some(Pos::new(to_u32(i + 1), to_u32(col + 1)));
        }
    }
    None
}

/// A saphyr marker (1-based line, 0-based character column) as a [`Pos`].
fn pos(m: &Marker) -> Pos {
    Pos::new(to_u32(m.line()), to_u32(m.col()).saturating_add(1))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A finished node with what alias checks need to know about it.
struct Built {
    node: Node,
    /// Nodes in the subtree, itself included.
    count: usize,
    /// Levels in the subtree: 1 for a scalar.
    height: usize,
}

/// A list or map being built.
struct Frame {
    pos: Pos,
    anchor: usize,
    count: usize,
    height: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        /// The key read, waiting for its value.
        key: Option<Node>,
        /// Values of `<<` merge keys, applied when the map ends.
        merges: Vec<Node>,
    },
}

/// Converts character indices (what saphyr markers hold) to byte offsets, moving forward through the text.
///
/// Only needed to look at the source of anchored or tagged scalars, which come in document order, so the
/// walk is linear overall. Pure-ASCII text, the common case, needs no walk at all.
struct CharCursor {
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl CharCursor {
    fn new(text: &str) -> Self {
        CharCursor { ascii: text.is_ascii(), chars: 0, bytes: 0 }
    }

    fn byte_of(&mut self, text: &str, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(text.len());
        }
        if char_index < self.chars {
            self.chars = 0;
            self.bytes = 0;
        }
        while self.chars < char_index {
            match text.get(self.bytes..).and_then(|rest| rest.chars().next()) {
                Some(c) => {
                    self.bytes += c.len_utf8();
                    self.chars += 1;
                }
                None => break,
            }
        }
        self.bytes
    }
}

struct Builder<'t> {
    text: &'t str,
    cursor: CharCursor,
    stack: Vec<Frame>,
    /// Anchored nodes by saphyr's anchor id (a redefined name gets a new id).
    anchors: HashMap<usize, Built>,
    alias_budget: usize,
    root: Option<Node>,
    documents: u32,
}

impl Builder<'_> {
    /// Handles one event; `false` when the stream has ended.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool, Failure> {
        match event {
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(false),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Failure::new(pos(&span.start), "only one YAML document per file"));
                }
            }
            Event::Alias(id) => {
                let (copy, count, height) = match self.anchors.get(&id) {
                    Some(built) => (&built.node, built.count, built.height),
                    None => {
                        return Err(Failure::new(pos(&span.start), "this alias refers to the node that contains it"));
                    }
                };
                if count > self.alias_budget {
                    return Err(Failure::new(
                        pos(&span.start),
                        "aliases expand to too many nodes (more than a million)",
                    ));
                }
                if self.stack.len() + height > MAX_DEPTH {
                    return Err(too_deep(pos(&span.start)));
                }
                self.alias_budget -= count;
                let mut node = copy.clone();
                // The use site is where a wrong type was written; nodes inside keep their anchored positions.
                node.pos = pos(&span.start);
                node.end = pos(&span.end);
                self.attach(Built { node, count, height })?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                let node = self.scalar(value, style, anchor, tag.as_deref(), span)?;
                self.finish(Built { node, count: 1, height: 1 }, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "seq", &span)?;
                self.open(anchor, &span, FrameKind::Seq(Vec::new()))?;
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_deref(), "map", &span)?;
                self.open(anchor, &span, FrameKind::Map { entries: Vec::new(), key: None, merges: Vec::new() })?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(&span)?,
        }
        Ok(true)
    }

    fn open(&mut self, anchor: usize, span: &Span, kind: FrameKind) -> Result<(), Failure> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(pos(&span.start)));
        }
        self.stack.push(Frame { pos: pos(&span.start), anchor, count: 1, height: 1, kind });
        Ok(())
    }

    fn close(&mut self, span: &Span) -> Result<(), Failure> {
        let Some(frame) = self.stack.pop() else {
            return Err(Failure::new(pos(&span.start), "unexpected end of a list or map"));
        };
        let value = match frame.kind {
            FrameKind::Seq(items) => Value::Seq(items),
            FrameKind::Map { mut entries, key, merges } => {
                if let Some(key) = key {
                    // saphyr always sends a value, if only an empty one; this is defensive.
                    entries.push((key, Node::new(Value::Null, pos(&span.start))));
                }
                check_duplicates(&entries)?;
                merge(&mut entries, merges);
                Value::Map(entries)
            }
        };
        let node = Node { value, pos: frame.pos, end: pos(&span.end), style: Style::Plain, raw: None, quoted: None };
        self.finish(Built { node, count: frame.count, height: frame.height }, frame.anchor)
    }

    /// Records a finished node under its anchor, if any, then hands it to its parent.
    fn finish(&mut self, built: Built, anchor: usize) -> Result<(), Failure> {
        if anchor > 0 {
            self.anchors.insert(anchor, Built { node: built.node.clone(), count: built.count, height: built.height });
        }
        self.attach(built)
    }

    fn attach(&mut self, built: Built) -> Result<(), Failure> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(built.node);
            return Ok(());
        };
        frame.count = frame.count.saturating_add(built.count);
        frame.height = frame.height.max(built.height + 1);
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(built.node),
            FrameKind::Map { entries, key, merges } => match key.take() {
                None => {
                    if !built.node.is_scalar() {
                        return Err(Failure::new(
                            built.node.pos,
                            format!("a map key must be a string or a number, not {}", built.node.kind()),
                        ));
                    }
                    *key = Some(built.node);
                }
                Some(k) if is_merge_key(&k) => {
                    let ok = match &built.node.value {
                        Value::Map(_) => true,
                        Value::Seq(items) => items.iter().all(|i| i.as_map().is_some()),
                        _ => false,
                    };
                    if !ok {
                        return Err(Failure::new(
                            built.node.pos,
                            format!("the merge key `<<` takes a map or a list of maps, not {}", built.node.kind()),
                        ));
                    }
                    merges.push(built.node);
                }
                Some(k) => entries.push((k, built.node)),
            },
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        value: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<Node, Failure> {
        // With an anchor or tag, saphyr's span starts at `&name`/`!tag`; errors and `pos_at` want the value.
        let start = if anchor > 0 || tag.is_some() { self.content_start(&span) } else { pos(&span.start) };
        let style = match style {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::SingleQuoted,
            ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
            ScalarStyle::Literal => Style::Literal,
            ScalarStyle::Folded => Style::Folded,
        };
        let resolved = match tag {
            None if style == Style::Plain => resolve_plain(&value),
            None => Value::Str(String::new()),
            Some(tag) => resolve_tagged(&value, tag).map_err(|m| Failure::new(start, m))?,
        };
        let quoted = match style {
            Style::SingleQuoted | Style::DoubleQuoted => self.quoted_source(&span, style, &value),
            _ => None,
        };
        let (value, raw) = match resolved {
            // Strings are the common case: move the text in, no spelling to keep.
            Value::Str(_) => (Value::Str(value.into_owned()), None),
            other => (other, Some(Box::from(&*value))),
        };
        Ok(Node { value, pos: start, end: pos(&span.end), style, raw, quoted })
    }

    /// The text between the quotes of a quoted scalar as written, when it is not simply `value` (it has
    /// escapes or `''`).
    fn quoted_source(&mut self, span: &Span, style: Style, value: &str) -> Option<Box<str>> {
        let text = self.text;
        let from = self.cursor.byte_of(text, span.start.index());
        let to = self.cursor.byte_of(text, span.end.index());
        let source = text.get(from..to)?;
        let quote = if style == Style::DoubleQuoted { '"' } else { '\'' };
        // Past any `&anchor` or `!tag` before the opening quote.
        let inner = source.get(source.find(quote)? + 1..)?.strip_suffix(quote)?;
        (inner != value).then(|| Box::from(inner))
    }

    /// Where a scalar's own text starts, past any `&anchor` and `!tag` (and spaces, line breaks and comments
    /// between them) at the start of its span.
    fn content_start(&mut self, span: &Span) -> Pos {
        let text = self.text;
        let from = self.cursor.byte_of(text, span.start.index());
        let to = self.cursor.byte_of(text, span.end.index());
        let Some(source) = text.get(from..to) else {
            return pos(&span.start);
        };
        let mut line = to_u32(span.start.line());
        let mut col = to_u32(span.start.col());
        let mut chars = source.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                '&' | '!' => {
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() {
                            break;
                        }
                        chars.next();
                        col = col.saturating_add(1);
                    }
                }
                ' ' | '\t' => {
                    chars.next();
                    col = col.saturating_add(1);
                }
                '\r' => {
                    chars.next();
                }
                '\n' => {
                    chars.next();
                    line = line.saturating_add(1);
                    col = 0;
                }
                '#' => {
                    while chars.peek().is_some_and(|&c| c != '\n') {
                        chars.next();
                    }
                }
                _ => break,
            }
        }
        Pos::new(line, col.saturating_add(1))
    }
}

fn too_deep(at: Pos) -> Failure {
    Failure::new(at, format!("lists and maps are nested more than {MAX_DEPTH} levels deep"))
}

fn is_merge_key(key: &Node) -> bool {
    key.style == Style::Plain && key.as_str() == Some("<<")
}

/// Applies `<<` merge keys: entries of the merged maps whose keys the map does not already have are
/// appended, earlier merged maps winning over later ones, as YAML's merge key type specifies.
fn merge(entries: &mut Vec<(Node, Node)>, merges: Vec<Node>) {
    if merges.is_empty() {
        return;
    }
    let mut sources = Vec::new();
    for m in merges {
        match m.value {
            Value::Map(map) => sources.push(map),
            Value::Seq(items) => sources.extend(items.into_iter().filter_map(|i| match i.value {
                Value::Map(map) => Some(map),
                _ => None,
            })),
            _ => {}
        }
    }
    let mut seen: std::collections::HashSet<String> =
        entries.iter().filter_map(|(k, _)| k.text().map(|t| key_id(k, &t))).collect();
    for source in sources {
        for (k, v) in source {
            let Some(id) = k.text().map(|t| key_id(&k, &t)) else {
                continue;
            };
            if seen.insert(id) {
                entries.push((k, v));
            }
        }
    }
}

/// A key's identity for merging: its kind and value, so `1` and `"1"` stay different keys.
fn key_id(key: &Node, text: &str) -> String {
    match &key.value {
        Value::Int(i) => format!("i{i}"),
        Value::Float(f) => format!("f{}", f.to_bits()),
        Value::Bool(b) => format!("b{b}"),
        Value::Null => "n".to_owned(),
        _ => format!("s{text}"),
    }
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str, span: &Span) -> Result<(), Failure> {
    match tag {
        None => Ok(()),
        Some(t) if t.is_yaml_core_schema() && t.suffix == expected => Ok(()),
        Some(t) if is_non_specific(t) => Ok(()),
        Some(t) => Err(Failure::new(pos(&span.start), format!("unsupported tag `{}`", tag_name(t)))),
    }
}

/// `!` alone: "not a plain scalar", which for us means a string.
fn is_non_specific(t: &Tag) -> bool {
    (t.handle == "!" && t.suffix.is_empty()) || (t.handle.is_empty() && t.suffix == "!")
}

fn tag_name(t: &Tag) -> String {
    if t.is_yaml_core_schema() { format!("!!{}", t.suffix) } else { format!("{}{}", t.handle, t.suffix) }
}

/// A scalar with an explicit tag: `!!str` forces a string; `!!int`, `!!float`, `!!bool`, `!!null` require
/// the text to be one. Other tags mean nothing to `signoff`, so they are refused rather than ignored.
fn resolve_tagged(text: &str, tag: &Tag) -> Result<Value, String> {
    if is_non_specific(tag) {
        return Ok(Value::Str(String::new()));
    }
    let name = tag_name(tag);
    if !tag.is_yaml_core_schema() {
        return Err(format!("unsupported tag `{name}`"));
    }
    let resolved = resolve_plain(text);
    let ok = match (tag.suffix.as_str(), &resolved) {
        ("str", _) => return Ok(Value::Str(String::new())),
        ("int", Value::Int(_)) | ("bool", Value::Bool(_)) | ("null", Value::Null) => true,
        ("float", Value::Float(_)) => true,
        ("float", Value::Int(i)) => return Ok(Value::Float(*i as f64)),
        // An integer too large for i64 resolves to a float but is still an integer.
        ("int", Value::Float(_)) => is_int_literal(text),
        ("int" | "float" | "bool" | "null", _) => false,
        _ => return Err(format!("unsupported tag `{name}`")),
    };
    if ok { Ok(resolved) } else { Err(format!("`{text}` is not a valid `{name}`")) }
}

/// Resolves an unquoted scalar by the YAML 1.2 core schema. Anything that is not null, a boolean or a number
/// is a string (the returned `Str` is empty: the caller moves the text in, saving a copy).
pub(super) fn resolve_plain(s: &str) -> Value {
    let Some(&first) = s.as_bytes().first() else {
        return Value::Null;
    };
    // Fast path: most scalars are words, which can only be strings.
    if !matches!(first, b'0'..=b'9' | b'+' | b'-' | b'.' | b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F') {
        return Value::Str(String::new());
    }
    match s {
        "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(digits) = s.strip_prefix("0x") {
        return radix_int(digits, 16);
    }
    if let Some(digits) = s.strip_prefix("0o") {
        return radix_int(digits, 8);
    }
    if is_decimal_int(s) {
        return match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => s.parse::<f64>().map_or(Value::Str(String::new()), Value::Float),
        };
    }
    if is_float(s) {
        return s.parse::<f64>().map_or(Value::Str(String::new()), Value::Float);
    }
    Value::Str(String::new())
}

/// `0x`/`0o` digits: an `Int`, a `Float` if too large for i64, a string if not all digits of the radix.
fn radix_int(digits: &str, radix: u32) -> Value {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Value::Str(String::new());
    }
    match i64::from_str_radix(digits, radix) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Float(
            digits.chars().fold(0.0, |acc, c| acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))),
        ),
    }
}

/// `[-+]?[0-9]+`
fn is_decimal_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is an integer literal of the core schema (decimal, `0x` or `0o`).
pub(super) fn is_int_literal(s: &str) -> bool {
    if let Some(d) = s.strip_prefix("0x") {
        return !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(d) = s.strip_prefix("0o") {
        return !d.is_empty() && d.chars().all(|c| c.is_digit(8));
    }
    is_decimal_int(s)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`, checked by hand because Rust's
/// float parser also accepts `inf`, `nan` and `infinity`, which YAML spells differently.
fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}
