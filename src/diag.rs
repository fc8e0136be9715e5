//! Diagnostics that point at a place in a file: `path:line:col: message`.
//!
//! Every error a person can fix by editing a file (config, directory, policies) carries the place it was
//! found, so `signoff check` can print lines an editor jumps to. Errors that have no file (an environment
//! variable, a missing folder) carry whatever names the culprit instead.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A line and column in a text file, both 1-based, the column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters (not bytes).
    pub col: u32,
}

impl Pos {
    /// A position from 1-based line and column.
    pub const fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }

    /// The position of a byte offset in `text`, counting columns in characters.
    pub fn of_offset(text: &str, offset: usize) -> Pos {
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() as u32 + 1;
        Pos { line, col }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A place in a named file. Cheap to clone: the path is shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as the user named it (relative paths stay relative, so messages stay short).
    pub file: Arc<Path>,
    /// Where in the file.
    pub pos: Pos,
}

impl Location {
    /// A location in `file` at `pos`.
    pub fn new(file: impl Into<Arc<Path>>, pos: Pos) -> Self {
        Location { file: file.into(), pos }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.pos)
    }
}

/// Where a problem was found: a place in a file, a whole file, or something else that names it
/// (an environment variable, a command-line flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line and column in a file.
    At(Location),
    /// A file as a whole (it could not be read, or it is empty).
    File(PathBuf),
    /// Anything else, named as the user would recognise it, e.g. `environment variable SIGNOFF_SERVER_LISTEN`.
    Named(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::At(loc) => loc.fmt(f),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Named(name) => f.write_str(name),
        }
    }
}

/// One problem a person can fix, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub origin: Origin,
    /// What is wrong, in a sentence that names the offending value.
    pub message: String,
}

impl Diagnostic {
    /// A problem at a line and column of a file.
    pub fn at(loc: Location, message: impl Into<String>) -> Self {
        Diagnostic { origin: Origin::At(loc), message: message.into() }
    }

    /// A problem with a whole file.
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic { origin: Origin::File(path.into()), message: message.into() }
    }

    /// A problem with something that is not a file, named by `what`.
    pub fn named(what: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { origin: Origin::Named(what.into()), message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Several problems, reported together so that one `signoff check` run shows them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No problems yet.
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    /// Records a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else the recorded problems sorted by place.
    pub fn into_result<T>(mut self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            self.0.sort_by_key(|d| origin_key(&d.origin));
            self.0.dedup();
            Err(self)
        }
    }
}

fn origin_key(o: &Origin) -> (String, Pos) {
    match o {
        Origin::At(l) => (l.file.display().to_string(), l.pos),
        Origin::File(p) => (p.display().to_string(), Pos::default()),
        Origin::Named(n) => (n.clone(), Pos::default()),
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            d.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The known name closest to `unknown`, if one is close enough to be a likely typo.
///
/// Used for "unknown key `timout`, did you mean `timeout`?" everywhere a name is looked up.
pub fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = unknown.to_lowercase();
    known
        .into_iter()
        .map(|k| (similarity(&lower, &k.to_lowercase()), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// How alike two lower-cased names are, from 0 to 1. Email addresses in one domain share most of their
/// characters, which would make `bob@example.com` look like a typo of `raj@example.com`; for those, only the
/// parts before the `@` are compared.
fn similarity(a: &str, b: &str) -> f64 {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((a_local, a_domain)), Some((b_local, b_domain))) if a_domain == b_domain => {
            strsim::jaro_winkler(a_local, b_local)
        }
        _ => strsim::jaro_winkler(a, b),
    }
}

/// `", did you mean `x`?"` when a close known name exists, else the empty string.
pub fn did_you_mean<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    match closest(unknown, known) {
        Some(k) => format!(", did you mean `{k}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_character_columns() {
        let text = "ab\ncdé\nf";
        assert_eq!(Pos::of_offset(text, 0), Pos::new(1, 1));
        assert_eq!(Pos::of_offset(text, 3), Pos::new(2, 1));
        // 'é' is two bytes; the column after it counts one character.
        assert_eq!(Pos::of_offset(text, 7), Pos::new(2, 4));
        assert_eq!(Pos::of_offset(text, 8), Pos::new(3, 1));
    }

    #[test]
    fn closest_suggests_a_likely_typo_and_nothing_for_noise() {
        let known = ["timeout", "on_timeout", "fallback"];
        assert_eq!(closest("timout", known), Some("timeout"));
        assert_eq!(closest("zzzz", known), None);
    }

    #[test]
    fn emails_in_one_domain_are_compared_by_what_comes_before_the_at() {
        let known = ["raj@example.com", "ana@example.com", "ben@example.com"];
        assert_eq!(closest("anna@example.com", known), Some("ana@example.com"));
        assert_eq!(closest("ana@exmple.com", known), Some("ana@example.com"));
        assert_eq!(closest("bob@example.com", known), None);
        assert_eq!(closest("nobody@example.com", known), None);
    }

    #[test]
    fn diagnostics_print_file_line_col_then_message() {
        let d = Diagnostic::at(Location::new(Path::new("dir/users.yaml"), Pos::new(3, 14)), "unknown manager `x`");
        assert_eq!(d.to_string(), "dir/users.yaml:3:14: unknown manager `x`");
    }
}
