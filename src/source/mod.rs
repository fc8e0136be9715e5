//! Spanned YAML and JSON documents, and a serde deserializer whose every error says `file:line:col`.
//!
//! Directory and policy files are edited by people, so a wrong type, an unknown key or a missing key must be
//! reported where it is, e.g. `users.yaml:12:14: unknown key `mangaer`, did you mean `manager`?`, and so must
//! semantic errors found after deserialization (an unknown manager id). Off-the-shelf deserializers only know
//! positions while parsing, so we parse into our own tree, [`Node`], where every node keeps its position,
//! and deserialize from that tree with [`from_node`]. [`Spanned`] carries a position past deserialization.
//!
//! YAML follows the 1.2 core schema (no `yes`/`no` booleans, no timestamps); JSON may contain comments and
//! trailing commas. Both give the same tree for the same data, so the rest of `signoff` does not care which
//! one a file is written in.
//!
//! **Why not a spanned deserializer from crates.io** (compared in BENCHMARKS.md, "Spanned YAML"). serde-saphyr 2.2, a
//! maintained serde deserializer for YAML (on its own parser, granit-parser), has a `Spanned<T>` and reports the same
//! `line:col` as this module for every `manager` value of the example people and for an unknown key, a wrong type and a
//! duplicate key, but not for every error: a missing key is reported at the map's last line, where we point at its
//! first key. It still does not do the job: the policy parser (`crate::policy::parse`) and the catalog's checks walk
//! the [`Node`] tree itself (one-key expression maps, leftover keys, `file:line:col` of any node found wrong after
//! deserialization), [`Node::pos_at`] points at a character inside a quoted `rule_v2` string, which a value's start
//! position cannot, and JSON files would still need this tree. By default it also reads YAML 1.1 booleans (`active: no`
//! is accepted; `strict_booleans` turns that off), and it was slower: 2.3 to 2.5 times our time to parse and
//! deserialize `examples/directory/people.yaml`, 1.8 to 2.0 times on 1,400 people (`benches/compare/spanned-yaml`,
//! three runs).

mod de;
mod json;
mod yaml;

pub use de::{Spanned, from_node};

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, Location, Pos};

/// Deepest nesting of lists and maps we accept.
///
/// Real directory and policy files nest a handful of levels; the limit keeps the recursive parts (cloning,
/// dropping, deserializing a tree) far away from a stack overflow on hostile input.
pub const MAX_DEPTH: usize = 128;

/// The syntax of a file, chosen from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `.yaml` or `.yml`.
    Yaml,
    /// `.json`.
    Json,
}

impl Format {
    /// The format for a path's extension (case-insensitive), or `None` if it is neither YAML nor JSON.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml") {
            Some(Format::Yaml)
        } else if ext.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// A parsed file: its root node and the path every position refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file as the user named it; shared by every [`Location`] made from this document.
    pub file: Arc<Path>,
    /// The whole content. `Null` for an empty file.
    pub root: Node,
}

impl Document {
    /// Where `node` (a node of this document) is.
    pub fn location(&self, node: &Node) -> Location {
        node.location(&self.file)
    }

    /// Deserializes the whole document; see [`from_node`].
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        from_node(&self.file, &self.root)
    }
}

/// How a scalar was written. It decides how [`Node::pos_at`] maps a character of the value back to the file.
/// Lists and maps are `Plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Style {
    /// Unquoted, and every list or map.
    #[default]
    Plain,
    /// `'...'`.
    SingleQuoted,
    /// `"..."`, and every JSON string.
    DoubleQuoted,
    /// A `|` block.
    Literal,
    /// A `>` block.
    Folded,
}

/// One value of a document and where it was written.
///
/// Equality compares values only (positions, styles and spellings are ignored), so a YAML and a JSON
/// document with the same data are equal.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value starts: the first character of a scalar (the opening quote of a quoted one), the first
    /// key of a block map, the `-` of a block list, the bracket of a flow collection; for a value left empty
    /// (`manager:`), the colon; for an alias, the `*`.
    pub pos: Pos,
    /// Just past the end of the value, when known (else equal to `pos`).
    pub end: Pos,
    /// How a scalar was written.
    pub style: Style,
    /// The scalar's spelling in the file when it is not a string (`0x1F`, `1.50`, `True`, `~`), so that a
    /// number can still be read into a `String` field as written. `None` for strings, collections and
    /// JSON `true`/`false`/`null`, whose spelling is their value.
    raw: Option<Box<str>>,
    /// For a quoted scalar written differently from its value (an escape such as `\"`, or `''`): the text
    /// between the quotes as written, so that [`Node::pos_at`] counts columns of the file, not of the value.
    /// `None` otherwise, which is the common case.
    quoted: Option<Box<str>>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// A value in the core data model shared by YAML and JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing at all.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in an `i64`. (Larger ones become a `Float`, keeping their spelling.)
    Int(i64),
    /// Any other number, including `.inf` and `.nan` in YAML.
    Float(f64),
    /// Any other scalar, and every quoted one.
    Str(String),
    /// A list, in order.
    Seq(Vec<Node>),
    /// A map, in the order written. Keys are scalars and unique.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A node with no recorded spelling, for building trees in code.
    pub fn new(value: Value, pos: Pos) -> Node {
        Node { value, pos, end: pos, style: Style::Plain, raw: None, quoted: None }
    }

    /// Where this node is, in `file` (the document's path).
    pub fn location(&self, file: &Arc<Path>) -> Location {
        Location { file: Arc::clone(file), pos: self.pos }
    }

    /// The value of `key` if this is a map with a string key `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// The string if this is a string scalar (not a number's spelling; see [`Node::text`] for that).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries if this is a map.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items if this is a list.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is `null` (or an empty value).
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Whether this is a scalar (not a list or map).
    pub fn is_scalar(&self) -> bool {
        !matches!(self.value, Value::Seq(_) | Value::Map(_))
    }

    /// A scalar as it was written (`8000`, `0x1F`, `True`, `hello`); `None` for lists and maps.
    ///
    /// This is what lets `cost_center: 8000` fill a `String` field: people do not quote ids that look like
    /// numbers, and they should not have to.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        if let Some(raw) = &self.raw {
            return Some(Cow::Borrowed(raw));
        }
        Some(match &self.value {
            Value::Str(s) => Cow::Borrowed(s.as_str()),
            Value::Null => Cow::Borrowed("null"),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Float(f) => Cow::Owned(f.to_string()),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    /// What kind of value this is, for messages: "expected a list, found a string".
    pub fn kind(&self) -> &'static str {
        self.value.kind()
    }

    /// Position of the character at `char_offset` inside a string scalar's value, for pointing into a rule
    /// expression embedded in a string.
    ///
    /// Exact for plain and quoted single-line scalars (escapes included), and for literal (`|`) blocks with
    /// uniform indentation; best effort otherwise (folded text, quoted text over several lines, aliases).
    /// Never panics, whatever the offset.
    pub fn pos_at(&self, char_offset: usize) -> Pos {
        let offset = u32::try_from(char_offset).unwrap_or(u32::MAX);
        match self.style {
            Style::Plain => Pos::new(self.pos.line, self.pos.col.saturating_add(offset)),
            Style::SingleQuoted | Style::DoubleQuoted => {
                let written = match &self.quoted {
                    Some(src) if !src.contains('\n') => written_offset(src, self.style, char_offset),
                    _ => offset,
                };
                Pos::new(self.pos.line, self.pos.col.saturating_add(1).saturating_add(written))
            }
            Style::Literal | Style::Folded => {
                // The position is that of the block's first content character; each line of the value is one
                // line of the file at the same indentation.
                let Some(text) = self.as_str() else {
                    return self.pos;
                };
                let mut line = self.pos.line;
                let mut col_in_line = 0u32;
                for c in text.chars().take(char_offset) {
                    if c == '\n' {
                        line = line.saturating_add(1);
                        col_in_line = 0;
                    } else {
                        col_in_line = col_in_line.saturating_add(1);
                    }
                }
                Pos::new(line, self.pos.col.saturating_add(col_in_line))
            }
        }
    }
}

/// How many characters of `src`, the text between the quotes of a quoted scalar as written, spell the first
/// `char_offset` characters of its value: an escape (`\"`, `\n`, `\u00e9`, a JSON surrogate pair) is one
/// character of the value but several in the file, and so is `''` in single quotes.
fn written_offset(src: &str, style: Style, char_offset: usize) -> u32 {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut decoded = 0;
    while decoded < char_offset && i < chars.len() {
        i += match (style, chars[i], chars.get(i + 1)) {
            (Style::DoubleQuoted, '\\', Some('x')) => 4,
            (Style::DoubleQuoted, '\\', Some('U')) => 10,
            (Style::DoubleQuoted, '\\', Some('u')) => {
                let hex: String = chars.iter().skip(i + 2).take(4).collect();
                let high = u32::from_str_radix(&hex, 16).is_ok_and(|c| (0xD800..0xDC00).contains(&c));
                let low_follows = chars.get(i + 6) == Some(&'\\') && chars.get(i + 7) == Some(&'u');
                if high && low_follows { 12 } else { 6 }
            }
            (Style::DoubleQuoted, '\\', Some(_)) => 2,
            (Style::SingleQuoted, '\'', Some('\'')) => 2,
            _ => 1,
        };
        decoded += 1;
    }
    let past_end = char_offset.saturating_sub(decoded);
    u32::try_from(i.min(chars.len()).saturating_add(past_end)).unwrap_or(u32::MAX)
}

impl Value {
    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a floating-point number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// A problem found while parsing one file, before it is given the file's name.
#[derive(Debug)]
struct Failure {
    pos: Pos,
    message: String,
}

impl Failure {
    fn new(pos: Pos, message: impl Into<String>) -> Failure {
        Failure { pos, message: message.into() }
    }
}

/// Parses `text` as the content of `file`. Every error names a line and column of `file`.
pub fn parse_str(file: Arc<Path>, text: &str, format: Format) -> Result<Document, Diagnostic> {
    let parsed = match format {
        Format::Yaml => yaml::parse(text),
        Format::Json => json::parse(text),
    };
    match parsed {
        Ok(root) => Ok(Document { file, root }),
        Err(f) => Err(Diagnostic::at(Location { file, pos: f.pos }, f.message)),
    }
}

/// Reads and parses one file, its format chosen from its extension.
pub fn load_file(path: &Path) -> Result<Document, Diagnostic> {
    load_file_with_text(path).map(|(doc, _)| doc)
}

/// As [`load_file`], also returning the text the document was parsed from.
pub fn load_file_with_text(path: &Path) -> Result<(Document, String), Diagnostic> {
    let Some(format) = Format::from_path(path) else {
        return Err(Diagnostic::file(path, "unsupported file type: expected a .yaml, .yml or .json file"));
    };
    let text = fs::read_to_string(path).map_err(|e| Diagnostic::file(path, format!("cannot read: {e}")))?;
    let doc = parse_str(Arc::from(path), &text, format)?;
    Ok((doc, text))
}

/// Parsed documents and the text of each, in the same order: what [`load_path_with_text`] read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The documents.
    pub docs: Vec<Document>,
    /// `(name, text)` of each document, the name as its positions give it.
    pub texts: Vec<(String, String)>,
}

/// A file, or a folder: every .yaml/.yml/.json in it, recursively, in sorted path order. Other files are
/// ignored, and so are hidden entries (names starting with `.`), which keeps out editor and VCS folders and
/// the `..data` copies Kubernetes puts next to a mounted ConfigMap, which would otherwise load twice.
///
/// An empty folder or a missing path is an error naming the path. Every file is parsed even after an error,
/// so one run reports the errors of all of them.
pub fn load_path(path: &Path) -> Result<Vec<Document>, Diagnostics> {
    load_path_with_text(path).map(|loaded| loaded.docs)
}

/// As [`load_path`], also keeping each file's text: the catalog keeps what it was built from, so that the same
/// catalog can be rebuilt later from a stored copy ([`crate::catalog::source`]).
pub fn load_path_with_text(path: &Path) -> Result<Loaded, Diagnostics> {
    let meta = fs::metadata(path).map_err(|e| {
        let message =
            if e.kind() == std::io::ErrorKind::NotFound { "not found".to_owned() } else { format!("cannot read: {e}") };
        Diagnostics::from(Diagnostic::file(path, message))
    })?;
    if !meta.is_dir() {
        return load_file_with_text(path)
            .map(|(doc, text)| Loaded { texts: vec![(doc.file.display().to_string(), text)], docs: vec![doc] })
            .map_err(Diagnostics::from);
    }

    let mut errors = Diagnostics::new();
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    collect_files(path, &mut files, &mut errors, &mut visited);
    files.sort();
    if files.is_empty() && errors.is_empty() {
        errors.push(Diagnostic::file(path, "no .yaml, .yml or .json files in this folder"));
    }
    let mut loaded = Loaded { docs: Vec::with_capacity(files.len()), texts: Vec::with_capacity(files.len()) };
    for file in &files {
        match load_file_with_text(file) {
            Ok((doc, text)) => {
                loaded.texts.push((doc.file.display().to_string(), text));
                loaded.docs.push(doc);
            }
            Err(d) => errors.push(d),
        }
    }
    errors.into_result(loaded)
}

/// Adds the YAML and JSON files under `dir` to `files`. `visited` holds the canonical folders already walked,
/// so a symbolic link back to a parent cannot loop forever.
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Diagnostics, visited: &mut HashSet<PathBuf>) {
    if let Ok(canonical) = fs::canonicalize(dir)
        && !visited.insert(canonical)
    {
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(Diagnostic::file(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(Diagnostic::file(dir, format!("cannot read folder: {e}")));
                continue;
            }
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `fs::metadata` follows symbolic links, so a linked file or folder counts as what it points to.
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => collect_files(&path, files, errors, visited),
            Ok(meta) if meta.is_file() && Format::from_path(&path).is_some() => files.push(path),
            Ok(_) => {}
            Err(e) => errors.push(Diagnostic::file(&path, format!("cannot read: {e}"))),
        }
    }
}

/// A scalar key's identity, for finding duplicate keys without allocating.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum KeyRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'a str),
    /// Lists and maps are never keys (the parsers refuse them); each counts as distinct.
    Other(usize),
}

fn key_ref(node: &Node, index: usize) -> KeyRef<'_> {
    match &node.value {
        Value::Null => KeyRef::Null,
        Value::Bool(b) => KeyRef::Bool(*b),
        Value::Int(i) => KeyRef::Int(*i),
        Value::Float(f) => KeyRef::Float(f.to_bits()),
        Value::Str(s) => KeyRef::Str(s),
        Value::Seq(_) | Value::Map(_) => KeyRef::Other(index),
    }
}

/// Maps above this size are checked for duplicate keys by sorting rather than by comparing every pair.
const SMALL_MAP: usize = 16;

/// Refuses a map with a repeated key, pointing at the second occurrence (the earliest one, if several).
fn check_duplicates(entries: &[(Node, Node)]) -> Result<(), Failure> {
    let duplicate = if entries.len() <= SMALL_MAP {
        (1..entries.len()).find_map(|j| {
            let kj = key_ref(&entries[j].0, j);
            (0..j).find(|&i| key_ref(&entries[i].0, i) == kj).map(|i| (i, j))
        })
    } else {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| key_ref(&entries[a].0, a).cmp(&key_ref(&entries[b].0, b)).then(a.cmp(&b)));
        // Sorting by (key, index) puts each run of equal keys together, original first, then its first repeat.
        // Only a run's first pair can improve `best` (later pairs of the run have larger indices), so `a` is
        // always the original when `best` changes.
        let mut best: Option<(usize, usize)> = None;
        for w in order.windows(2) {
            let (a, b) = (w[0], w[1]);
            if key_ref(&entries[a].0, a) == key_ref(&entries[b].0, b) && best.is_none_or(|(_, j)| b < j) {
                best = Some((a, b));
            }
        }
        best
    };
    match duplicate {
        None => Ok(()),
        Some((first, second)) => {
            let key = &entries[second].0;
            let text = key.text().unwrap_or(Cow::Borrowed("?"));
            Err(Failure::new(key.pos, format!("duplicate key `{text}` (first at line {})", entries[first].0.pos.line)))
        }
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(name: &str) -> Arc<Path> {
        Arc::from(Path::new(name))
    }

    fn yaml(text: &str) -> Document {
        parse_str(file("t.yaml"), text, Format::Yaml).unwrap()
    }

    fn json(text: &str) -> Document {
        parse_str(file("t.json"), text, Format::Json).unwrap()
    }

    fn yaml_err(text: &str) -> String {
        parse_str(file("t.yaml"), text, Format::Yaml).unwrap_err().to_string()
    }

    fn json_err(text: &str) -> String {
        parse_str(file("t.json"), text, Format::Json).unwrap_err().to_string()
    }

    fn at(node: &Node) -> (u32, u32) {
        (node.pos.line, node.pos.col)
    }

    const USERS_YAML: &str = "\
users:
  - id: alice
    name: Alice Martin
    age: 41
    score: 1.5
    admin: true
    manager: null
    tags: [a, \"b c\"]
  - id: bob
    tags: []
    meta: {}
";

    const USERS_JSON: &str = r#"{
  "users": [
    {"id": "alice", "name": "Alice Martin", "age": 41, "score": 1.5, "admin": true,
     "manager": null, "tags": ["a", "b c"]},
    {"id": "bob", "tags": [], "meta": {}}
  ]
}"#;

    #[test]
    fn yaml_and_json_give_the_same_tree() {
        let y = yaml(USERS_YAML);
        let j = json(USERS_JSON);
        assert_eq!(y.root, j.root);
        let users = y.root.get("users").and_then(Node::as_seq).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].get("age").unwrap().value, Value::Int(41));
        assert_eq!(users[0].get("score").unwrap().value, Value::Float(1.5));
        assert_eq!(users[0].get("admin").unwrap().value, Value::Bool(true));
        assert!(users[0].get("manager").unwrap().is_null());
        assert_eq!(users[1].get("id").and_then(Node::as_str), Some("bob"));
        // A different value is a different tree.
        assert_ne!(y.root, yaml("users: []").root);
    }

    #[test]
    fn yaml_positions_are_exact_for_nested_values() {
        let doc = yaml("users:\n  - id: alice\n    manager: bob\n    tags: [x, 'y']\n");
        let (key, users) = &doc.root.as_map().unwrap()[0];
        assert_eq!(at(key), (1, 1));
        assert_eq!(at(users), (2, 3));
        let alice = &users.as_seq().unwrap()[0];
        assert_eq!(at(alice), (2, 5));
        assert_eq!(at(&alice.as_map().unwrap()[0].0), (2, 5));
        assert_eq!(at(alice.get("id").unwrap()), (2, 9));
        assert_eq!(at(alice.get("manager").unwrap()), (3, 14));
        let tags = alice.get("tags").unwrap();
        assert_eq!(at(tags), (4, 11));
        assert_eq!(at(&tags.as_seq().unwrap()[0]), (4, 12));
        let y = &tags.as_seq().unwrap()[1];
        assert_eq!((at(y), y.style), ((4, 15), Style::SingleQuoted));
        assert_eq!(y.end, Pos::new(4, 18));
        assert_eq!(alice.get("id").unwrap().location(&doc.file).to_string(), "t.yaml:2:9");
    }

    #[test]
    fn yaml_columns_count_characters_not_bytes() {
        let doc = yaml("name: \"é\"\nx: [é, ü]\n");
        let x = doc.root.get("x").and_then(Node::as_seq).unwrap();
        assert_eq!(at(&x[1]), (2, 8));
    }

    #[test]
    fn json_positions_are_exact_for_nested_values() {
        let doc = json(
            "{\n  \"users\": [\n    {\"id\": \"alice\", \"manager\": \"bob\"},\n    {\"id\": \"é\", \"n\": 1}\n  ]\n}",
        );
        assert_eq!(at(&doc.root), (1, 1));
        let (key, users) = &doc.root.as_map().unwrap()[0];
        assert_eq!(at(key), (2, 3));
        assert_eq!(at(users), (2, 12));
        let items = users.as_seq().unwrap();
        assert_eq!(at(&items[0]), (3, 5));
        assert_eq!(at(&items[0].as_map().unwrap()[0].0), (3, 6));
        assert_eq!(at(items[0].get("id").unwrap()), (3, 12));
        assert_eq!(at(&items[0].as_map().unwrap()[1].0), (3, 21));
        assert_eq!(at(items[0].get("manager").unwrap()), (3, 32));
        // After a two-byte character, columns still count characters.
        assert_eq!(at(items[1].get("id").unwrap()), (4, 12));
        assert_eq!(at(&items[1].as_map().unwrap()[1].0), (4, 17));
        assert_eq!(at(items[1].get("n").unwrap()), (4, 22));
    }

    #[test]
    fn json_columns_on_a_long_non_ascii_line_stay_exact() {
        let mut text = String::from("[");
        for i in 0..500 {
            text.push_str(&format!("\"é{i}\","));
        }
        text.push_str("1]");
        let doc = json(&text);
        let items = doc.root.as_seq().unwrap();
        // Each item before the last is `"é<i>",`; count characters up to item 499.
        let before: usize = (0..499).map(|i| format!("\"é{i}\",").chars().count()).sum();
        assert_eq!(items[499].pos, Pos::new(1, before as u32 + 2));
        assert_eq!(at(&items[500]), (1, text.chars().count() as u32 - 1));
    }

    #[test]
    fn yaml_scalars_follow_the_core_schema() {
        let doc = yaml(
            "\
hex: 0x1F
oct: 0o17
neg: -12
plus: +3
exp: 1.5e3
dot: .5
inf: .inf
ninf: -.Inf
nan: .nan
tilde: ~
nul: null
empty:
bool: True
quoted_bool: \"true\"
quoted_int: '12'
tagged: !!str 12
tagged_int: !!int \"12\"
timestamp: 2026-12-01T00:00:00Z
yes: yes
underscore: 1_000
big: 99999999999999999999
version: 1.2.3
",
        );
        let v = |k: &str| doc.root.get(k).unwrap().value.clone();
        assert_eq!(v("hex"), Value::Int(31));
        assert_eq!(v("oct"), Value::Int(15));
        assert_eq!(v("neg"), Value::Int(-12));
        assert_eq!(v("plus"), Value::Int(3));
        assert_eq!(v("exp"), Value::Float(1500.0));
        assert_eq!(v("dot"), Value::Float(0.5));
        assert_eq!(v("inf"), Value::Float(f64::INFINITY));
        assert_eq!(v("ninf"), Value::Float(f64::NEG_INFINITY));
        assert!(matches!(v("nan"), Value::Float(f) if f.is_nan()));
        assert_eq!(v("tilde"), Value::Null);
        assert_eq!(v("nul"), Value::Null);
        assert_eq!(v("empty"), Value::Null);
        assert_eq!(v("bool"), Value::Bool(true));
        assert_eq!(v("quoted_bool"), Value::Str("true".into()));
        assert_eq!(v("quoted_int"), Value::Str("12".into()));
        assert_eq!(v("tagged"), Value::Str("12".into()));
        assert_eq!(v("tagged_int"), Value::Int(12));
        assert_eq!(v("timestamp"), Value::Str("2026-12-01T00:00:00Z".into()));
        assert_eq!(v("yes"), Value::Str("yes".into()));
        assert_eq!(v("underscore"), Value::Str("1_000".into()));
        assert_eq!(v("big"), Value::Float(1e20));
        assert_eq!(v("version"), Value::Str("1.2.3".into()));
        // The spelling survives for every non-string scalar.
        let text = |k: &str| doc.root.get(k).unwrap().text().unwrap().into_owned();
        assert_eq!(text("hex"), "0x1F");
        assert_eq!(text("big"), "99999999999999999999");
        assert_eq!(text("bool"), "True");
        assert_eq!(text("tilde"), "~");
        // A tagged scalar's position is its text, not the tag.
        assert_eq!(at(doc.root.get("tagged").unwrap()), (16, 15));
    }

    #[test]
    fn kinds_name_values_in_plain_words() {
        let doc = yaml("[~, true, 1, 1.5, s, [], {}]");
        let kinds: Vec<_> = doc.root.as_seq().unwrap().iter().map(Node::kind).collect();
        assert_eq!(
            kinds,
            ["null", "a boolean", "an integer", "a floating-point number", "a string", "a list", "a map"]
        );
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        assert_eq!(yaml_err("id: a\nname: x\nid: b\n"), "t.yaml:3:1: duplicate key `id` (first at line 1)");
        assert_eq!(
            yaml_err("users:\n  - id: a\n    n: 1\n    n: 2\n"),
            "t.yaml:4:5: duplicate key `n` (first at line 3)"
        );
        assert_eq!(json_err("{\"id\": 1,\n \"id\": 2}"), "t.json:2:2: duplicate key `id` (first at line 1)");
        // Same value, different spelling: still the same key.
        assert_eq!(yaml_err("1: a\n0x1: b\n"), "t.yaml:2:1: duplicate key `0x1` (first at line 1)");
        // `1` and `"1"` are different keys.
        assert!(parse_str(file("t.yaml"), "1: a\n'1': b\n", Format::Yaml).is_ok());
    }

    #[test]
    fn duplicate_keys_in_large_maps_report_the_earliest_repeat() {
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("k{i}: {i}\n"));
        }
        text.push_str("k30: again\nk5: again\n");
        assert_eq!(yaml_err(&text), "t.yaml:41:1: duplicate key `k30` (first at line 31)");
    }

    #[test]
    fn a_second_document_is_an_error() {
        assert_eq!(yaml_err("a: 1\n---\nb: 2\n"), "t.yaml:2:1: only one YAML document per file");
        // One explicit document, with an end marker, is fine.
        assert_eq!(yaml("---\na: 1\n...\n").root.get("a").unwrap().value, Value::Int(1));
    }

    #[test]
    fn empty_files_give_a_null_root() {
        assert!(yaml("").root.is_null());
        assert!(yaml("# only a comment\n").root.is_null());
        assert!(json("").root.is_null());
        assert!(json("  // nothing\n").root.is_null());
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let doc = yaml("base: &b {x: 1, y: [2]}\nother: *b\n");
        let base = doc.root.get("base").unwrap();
        let other = doc.root.get("other").unwrap();
        assert_eq!(base, other);
        // The copy is placed where the alias is written.
        assert_eq!(at(other), (2, 8));
        // A scalar alias.
        let doc = yaml("a: &n 5\nb: *n\n");
        assert_eq!(doc.root.get("b").unwrap().value, Value::Int(5));
        assert_eq!(at(doc.root.get("a").unwrap()), (1, 7));
    }

    #[test]
    fn merge_keys_add_missing_entries() {
        let doc = yaml("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n");
        let d = doc.root.get("d").unwrap();
        assert_eq!(d.get("x").unwrap().value, Value::Int(1));
        assert_eq!(d.get("y").unwrap().value, Value::Int(3));
        assert_eq!(d.as_map().unwrap().len(), 2);
        let doc = yaml("a: &a {x: 1}\nb: &b {x: 2, z: 3}\nc:\n  <<: [*a, *b]\n");
        let c = doc.root.get("c").unwrap();
        assert_eq!(c.get("x").unwrap().value, Value::Int(1));
        assert_eq!(c.get("z").unwrap().value, Value::Int(3));
        assert_eq!(
            yaml_err("a:\n  <<: 5\n"),
            "t.yaml:2:7: the merge key `<<` takes a map or a list of maps, not an integer"
        );
    }

    #[test]
    fn alias_errors_have_positions() {
        assert!(yaml_err("a: *nope\n").starts_with("t.yaml:1:4: "));
        assert_eq!(yaml_err("a: &a [1, *a]\n"), "t.yaml:1:11: this alias refers to the node that contains it");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = yaml_err(&text);
        assert!(err.contains("aliases expand to too many nodes"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        // saphyr has its own, higher, limit on flow nesting.
        assert_eq!(yaml_err(&deep), "t.yaml:1:256: recursion limit exceeded");
        let deep_block: String = (0..300).map(|i| format!("{}- \n", " ".repeat(i * 2))).collect();
        let err = yaml_err(&deep_block);
        assert!(err.contains("nested more than 128 levels"), "{err}");
        assert_eq!(
            yaml_err(&format!("{}{}", "[".repeat(200), "]".repeat(200))),
            "t.yaml:1:129: lists and maps are nested more than 128 levels deep"
        );
        let err = json_err(&deep);
        assert!(err.starts_with("t.json:1:"), "{err}");
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_str(file("t.json"), &fine, Format::Json).is_ok());
        let err = json_err(&format!("{}{}", "[".repeat(200), "]".repeat(200)));
        assert_eq!(err, "t.json:1:129: arrays and objects are nested more than 128 levels deep");
    }

    #[test]
    fn yaml_syntax_errors_carry_saphyr_positions() {
        // A tab in indentation is reported at the tab, not where saphyr noticed it.
        assert_eq!(yaml_err("a:\n\tb: 1\n"), "t.yaml:2:1: tabs disallowed within this context (block indentation)");
        assert_eq!(yaml_err("- a: x\n  \tb: 1\n"), "t.yaml:2:3: while scanning a plain scalar, found a tab");
        assert_eq!(yaml_err("a: [1, 2\nb: 3\n"), "t.yaml:2:2: illegal placement of ':' indicator");
        assert_eq!(yaml_err("a: 1\n b: 2\n"), "t.yaml:2:3: mapping values are not allowed in this context");
    }

    #[test]
    fn json_syntax_errors_carry_positions() {
        assert_eq!(json_err("{\"a\": 1,,\n}"), "t.json:1:9: unexpected token in object");
        assert_eq!(json_err("{\n  \"a\": 1\n  \"b\": 2\n}"), "t.json:2:9: expected comma");
        assert_eq!(json_err("{a: 1}"), "t.json:1:2: expected string for object property");
        assert_eq!(json_err("[0x10]"), "t.json:1:2: hexadecimal numbers are not allowed");
        assert_eq!(json_err("[1] [2]"), "t.json:1:5: text cannot contain more than one JSON value");
        assert!(json_err("{\"a\": \"x").starts_with("t.json:1:7: "));
        // Comments and trailing commas are accepted.
        let doc = json("{\n  // who\n  \"a\": [1, 2,], /* x */\n}");
        assert_eq!(doc.root.get("a").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn keys_must_be_scalars_and_tags_known() {
        assert_eq!(yaml_err("? [a]\n: 1\n"), "t.yaml:1:3: a map key must be a string or a number, not a list");
        assert_eq!(yaml_err("a: !foo x\n"), "t.yaml:1:9: unsupported tag `!foo`");
        assert_eq!(yaml_err("a: !!int x\n"), "t.yaml:1:10: `x` is not a valid `!!int`");
        assert_eq!(yaml_err("a: !!set {x: 1}\n"), "t.yaml:1:4: unsupported tag `!!set`");
    }

    #[test]
    fn pos_at_points_into_string_values() {
        let doc = yaml(
            "plain: amount > 10\nquoted: \"amount > 10\"\nsingle: 'amount > 10'\nanchored: &r amount > 10\nblock: |\n  a\n  bc\n",
        );
        let pos_at = |k: &str, i: usize| doc.root.get(k).unwrap().pos_at(i);
        assert_eq!(pos_at("plain", 7), Pos::new(1, 15));
        assert_eq!(pos_at("quoted", 7), Pos::new(2, 17));
        assert_eq!(pos_at("single", 0), Pos::new(3, 10));
        assert_eq!(pos_at("anchored", 7), Pos::new(4, 21));
        assert_eq!(pos_at("block", 3), Pos::new(7, 4));
        // Out-of-range offsets do not panic.
        let _ = pos_at("plain", usize::MAX);
        let _ = pos_at("block", usize::MAX);
        let doc = json("{\"rule\": \"amount > 10\"}");
        assert_eq!(doc.root.get("rule").unwrap().pos_at(7), Pos::new(1, 18));
    }

    #[test]
    fn pos_at_counts_escapes_as_they_are_written() {
        // The value is `a == "x" > 1`; its `>` (value offset 9) is two characters further right in the file.
        let doc = yaml("r: \"a == \\\"x\\\" > 1\"\ns: 'it''s > 1'\nt: \"\\u00e9 > 1\"\n");
        assert_eq!(doc.root.get("r").unwrap().pos_at(9), Pos::new(1, 16));
        assert_eq!(doc.root.get("s").unwrap().pos_at(5), Pos::new(2, 11));
        assert_eq!(doc.root.get("t").unwrap().pos_at(2), Pos::new(3, 12));
        let doc = json("{\"r\": \"a == \\\"x\\\" > 1\", \"e\": \"\\ud83d\\ude00 > 1\"}");
        assert_eq!(doc.root.get("r").unwrap().pos_at(9), Pos::new(1, 19));
        assert_eq!(doc.root.get("e").unwrap().pos_at(2), Pos::new(1, 44));
        let _ = doc.root.get("r").unwrap().pos_at(usize::MAX);
    }

    #[test]
    fn format_comes_from_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.yaml")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.YML")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("yaml")), None);
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn load_path_reads_a_folder_recursively_in_sorted_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "b.yaml", "name: b\n");
        write(dir, "a/x.json", "{\"name\": \"x\"}");
        write(dir, "a/c.yml", "name: c\n");
        write(dir, "a/deeper/d.yaml", "name: d\n");
        write(dir, "notes.txt", "not: [yaml\n");
        write(dir, ".hidden/e.yaml", "name: e\n");
        write(dir, ".swap.yaml", "name: swap\n");
        let docs = load_path(dir).unwrap();
        let names: Vec<_> = docs.iter().map(|d| d.root.get("name").and_then(Node::as_str).unwrap()).collect();
        assert_eq!(names, ["c", "d", "x", "b"]);
        assert_eq!(&*docs[0].file, dir.join("a/c.yml"));
        // A single file works too.
        let one = load_path(&dir.join("b.yaml")).unwrap();
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn load_path_reports_every_broken_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "a.yaml", "a: [1\n");
        write(dir, "b.json", "{\"id\": 1, \"id\": 2}");
        write(dir, "c.yaml", "fine: true\n");
        let errors = load_path(dir).unwrap_err();
        assert_eq!(errors.0.len(), 2);
        let b = dir.join("b.json");
        assert_eq!(errors.0[1].to_string(), format!("{}:1:11: duplicate key `id` (first at line 1)", b.display()));
    }

    #[test]
    fn empty_folders_and_missing_paths_are_errors_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "readme.txt", "hi");
        let errors = load_path(tmp.path()).unwrap_err();
        assert_eq!(
            errors.to_string(),
            format!("{}: no .yaml, .yml or .json files in this folder", tmp.path().display())
        );
        let missing = tmp.path().join("nope");
        assert_eq!(load_path(&missing).unwrap_err().to_string(), format!("{}: not found", missing.display()));
        let err = load_file(&missing.with_extension("yaml")).unwrap_err().to_string();
        assert!(err.contains("nope.yaml: cannot read: "), "{err}");
        let err = load_file(&tmp.path().join("readme.txt")).unwrap_err().to_string();
        assert!(err.ends_with("readme.txt: unsupported file type: expected a .yaml, .yml or .json file"));
    }

    /// A valid document with a bit of everything, for mutation.
    const SAMPLE: &str = "\
users: &u
  - id: alice
    name: \"Alice\"
    tags: [a, 'b', 1, 2.5, ~]
    meta: {x: 1, y: |
      text
    }
copy: *u
merged:
  <<: {k: v}
  n: 0x10
";

    const SAMPLE_JSON: &str = r#"{"users": [{"id": "alice", "n": 1.5e3, "t": [true, null, -0]}], "s": "\u00e9\n"}"#;

    fn mutate(text: &str, edits: &[(usize, u8, char)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for &(at, op, c) in edits {
            if chars.is_empty() {
                chars.push(c);
                continue;
            }
            let i = at % chars.len();
            match op % 3 {
                0 => chars.insert(i, c),
                1 => {
                    chars.remove(i);
                }
                _ => chars[i] = c,
            }
        }
        chars.into_iter().collect()
    }

    fn interesting_char() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                ' ', '\t', '\n', '\r', ':', '-', '[', ']', '{', '}', ',', '"', '\'', '&', '*', '!', '|', '>', '#', '%',
                '@', '`', '?', '<', '\\', '0', 'x', 'é', '\u{feff}', '\u{0}',
            ]),
            any::<char>(),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = parse_str(file("t.yaml"), &text, Format::Yaml);
            let _ = parse_str(file("t.json"), &text, Format::Json);
        }

        #[test]
        fn parse_never_panics_on_mutated_documents(
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), interesting_char()), 1..8)
        ) {
            for (sample, format) in [(SAMPLE, Format::Yaml), (SAMPLE_JSON, Format::Json), (USERS_JSON, Format::Yaml)] {
                let text = mutate(sample, &edits);
                if let Ok(doc) = parse_str(file("t"), &text, format) {
                    for node in doc.root.as_seq().into_iter().flatten() {
                        let _ = node.pos_at(3);
                    }
                    let _ = doc.deserialize::<serde_json::Value>();
                }
            }
        }
    }
}
