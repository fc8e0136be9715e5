//! A serde deserializer over [`Node`] trees whose every error is a [`Diagnostic`] at the node that caused it.
//!
//! Errors start without a position (serde creates them inside visitors that know nothing of nodes) and get
//! the position of the innermost node whose deserialization they pass through. So a type error points at
//! the value, an unknown key at the key, a missing key at the map, and a custom error from a `Deserialize`
//! impl (an invalid duration) at the value it was reading.

use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::slice;
use std::sync::Arc;

use serde::de::value::{BorrowedStrDeserializer, U32Deserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess, Unexpected, VariantAccess,
    Visitor,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Node, Value};
use crate::diag::{Diagnostic, Location, Pos, did_you_mean};

/// Deserializes `T` from a node. Every error is a Diagnostic at the position of the node that caused it.
///
/// Strictness is `T`'s: use `#[serde(deny_unknown_fields)]` to get "unknown key" errors. Positions are exact
/// except under `#[serde(flatten)]` and untagged enums, where serde buffers values and errors point at the
/// enclosing map or value.
pub fn from_node<T: DeserializeOwned>(file: &Arc<Path>, node: &Node) -> Result<T, Diagnostic> {
    let _file = FileGuard::set(Arc::clone(file));
    T::deserialize(NodeDe::new(node)).map_err(|e| {
        let e = e.at(node);
        let pos = e.0.pos.unwrap_or(node.pos);
        Diagnostic::at(Location::new(Arc::clone(file), pos), e.message())
    })
}

thread_local! {
    /// The file `from_node` is reading, for [`Spanned`] values to share (one `Arc` per file, not one path
    /// allocation per value). Serde's data model has no way to hand an `Arc<Path>` to a `Deserialize` impl.
    static CURRENT_FILE: RefCell<Option<Arc<Path>>> = const { RefCell::new(None) };
}

/// Sets the current file for the duration of one `from_node` call, restoring the previous one after (so a
/// `Deserialize` impl that itself calls `from_node` on another document does not confuse the outer one).
struct FileGuard(Option<Arc<Path>>);

impl FileGuard {
    fn set(file: Arc<Path>) -> Self {
        FileGuard(CURRENT_FILE.with(|c| c.replace(Some(file))))
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT_FILE.with(|c| *c.borrow_mut() = previous);
    }
}

fn current_file() -> Option<Arc<Path>> {
    CURRENT_FILE.with(|c| c.borrow().clone())
}

// ---------------------------------------------------------------------------------------------------------
// Errors

/// A deserialization error, positioned once it leaves the node it arose in.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    pos: Option<Pos>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Message(String),
    /// A wrong type, before the node that has it is known; then it becomes "expected {expected}, found
    /// {found}", `found` being the node's kind unless the visitor said what it was given. (It differs from
    /// the node's kind when serde buffered the value, under `#[serde(flatten)]`, and the error surfaces at
    /// the enclosing map.)
    InvalidType {
        expected: String,
        found: Option<&'static str>,
    },
}

impl Error {
    fn msg(message: impl Into<String>) -> Self {
        Error(Box::new(Inner { pos: None, kind: Kind::Message(message.into()) }))
    }

    fn expected(exp: &dyn Expected) -> Self {
        Error(Box::new(Inner {
            pos: None,
            kind: Kind::InvalidType { expected: plain_expected(&exp.to_string()), found: None },
        }))
    }

    /// Gives the error `node`'s position unless a deeper node already gave it one.
    fn at(mut self, node: &Node) -> Self {
        if self.0.pos.is_none() {
            self.0.pos = Some(node.pos);
            if let Kind::InvalidType { expected, found } = &self.0.kind {
                let found = found.unwrap_or_else(|| node.kind());
                self.0.kind = Kind::Message(format!("expected {expected}, found {found}"));
            }
        }
        self
    }

    fn message(&self) -> String {
        match &self.0.kind {
            Kind::Message(m) => m.clone(),
            Kind::InvalidType { expected, found: Some(found) } => format!("expected {expected}, found {found}"),
            Kind::InvalidType { expected, found: None } => format!("expected {expected}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.pos {
            Some(pos) => write!(f, "{pos}: {}", self.message()),
            None => f.write_str(&self.message()),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::msg(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        // In YAML's words ("a list", not "sequence"), and without the value: the position shows it.
        let found = match unexp {
            Unexpected::Bool(_) => Some("a boolean"),
            Unexpected::Unsigned(_) | Unexpected::Signed(_) => Some("an integer"),
            Unexpected::Float(_) => Some("a floating-point number"),
            Unexpected::Char(_) | Unexpected::Str(_) => Some("a string"),
            Unexpected::Unit | Unexpected::Option => Some("null"),
            Unexpected::Seq => Some("a list"),
            Unexpected::Map => Some("a map"),
            _ => None,
        };
        Error(Box::new(Inner {
            pos: None,
            kind: Kind::InvalidType { expected: plain_expected(&exp.to_string()), found },
        }))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::msg(format!("invalid value {}, expected {}", describe(&unexp), plain_expected(&exp.to_string())))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        let items = if len == 1 { "item" } else { "items" };
        Error::msg(format!("expected {}, found {len} {items}", plain_expected(&exp.to_string())))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::msg(format!("unknown value `{variant}`{}", suggestion(variant, expected, "no value is accepted here")))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Error::msg(format!("unknown key `{field}`{}", suggestion(field, expected, "no key is accepted here")))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::msg(format!("missing key `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::msg(format!("duplicate key `{field}`"))
    }
}

/// ", did you mean `x`?" for a likely typo, else the accepted names, so the message always says what to write.
fn suggestion(unknown: &str, expected: &[&str], none: &str) -> String {
    if expected.is_empty() {
        return format!(": {none}");
    }
    let hint = did_you_mean(unknown, expected.iter().copied());
    if !hint.is_empty() {
        return hint;
    }
    let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    if list.len() == 1 {
        format!(", expected {}", list.join(""))
    } else {
        format!(", expected one of {}", list.join(", "))
    }
}

/// Serde's names for what a visitor expects, in the words of a YAML/JSON author.
fn plain_expected(exp: &str) -> String {
    let plain = match exp {
        "a sequence" => "a list",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "f32" | "f64" => "a number",
        "unit" => "null",
        "a borrowed string" => "a string",
        "path string" => "a path",
        _ => {
            if exp.starts_with("struct ") {
                "a map"
            } else if exp.starts_with("tuple struct ") || exp.starts_with("tuple variant") {
                "a list"
            } else if exp.starts_with("unit struct ") {
                "null"
            } else if let Some(n) =
                exp.strip_prefix("a tuple of size ").or_else(|| exp.strip_prefix("an array of length "))
            {
                return format!("a list of {n} items");
            } else {
                exp
            }
        }
    };
    plain.to_owned()
}

fn describe(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Bool(b) => format!("`{b}`"),
        Unexpected::Unsigned(n) => format!("`{n}`"),
        Unexpected::Signed(n) => format!("`{n}`"),
        Unexpected::Float(n) => format!("`{n}`"),
        Unexpected::Char(c) => format!("`{c}`"),
        Unexpected::Str(s) => format!("`{s}`"),
        Unexpected::Unit => "null".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Map => "a map".to_owned(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The deserializer

/// Deserializes one node. `key` is set for map keys, which in JSON are always strings: a key then also
/// reads as a number or boolean from its text (`{"1": ...}` into a `HashMap<u32, _>`).
#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    key: bool,
}

impl<'a> NodeDe<'a> {
    fn new(node: &'a Node) -> Self {
        NodeDe { node, key: false }
    }

    fn key(node: &'a Node) -> Self {
        NodeDe { node, key: true }
    }

    /// The node as an integer: an `Int`, a `Float` spelled as an integer too large for i64, or (for a key)
    /// a string that spells one.
    fn integer(&self, exp: &dyn Expected) -> Result<i128, Error> {
        let text = match &self.node.value {
            Value::Int(i) => return Ok(i128::from(*i)),
            Value::Float(_) => self.node.raw.as_deref().filter(|r| super::yaml::is_int_literal(r)),
            Value::Str(s) if self.key => Some(s.as_str()).filter(|s| super::yaml::is_int_literal(s)),
            _ => None,
        };
        let Some(text) = text else {
            return Err(Error::expected(exp));
        };
        parse_i128(text).ok_or_else(|| Error::msg(format!("`{text}` is out of range")))
    }

    fn float(&self, exp: &dyn Expected) -> Result<f64, Error> {
        match &self.node.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Str(s) if self.key => match super::yaml::resolve_plain(s) {
                Value::Int(i) => Ok(i as f64),
                Value::Float(f) => Ok(f),
                _ => Err(Error::expected(exp)),
            },
            _ => Err(Error::expected(exp)),
        }
    }
}

fn parse_i128(text: &str) -> Option<i128> {
    if let Some(d) = text.strip_prefix("0x") {
        return i128::from_str_radix(d, 16).ok();
    }
    if let Some(d) = text.strip_prefix("0o") {
        return i128::from_str_radix(d, 8).ok();
    }
    text.parse().ok()
}

/// Runs a deserializer body and positions its error at the node.
macro_rules! positioned {
    ($self:ident, $body:expr) => {{
        let node = $self.node;
        let result: Result<_, Error> = $body;
        result.map_err(|e| e.at(node))
    }};
}

macro_rules! integer_method {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            positioned!(self, {
                match self.integer(&visitor) {
                    Ok(n) => match <$ty>::try_from(n) {
                        Ok(v) => visitor.$visit(v),
                        Err(_) => Err(Error::msg(format!(
                            "`{}` is out of range: expected a whole number from {} to {}",
                            self.node.text().unwrap_or_default(),
                            <$ty>::MIN,
                            <$ty>::MAX
                        ))),
                    },
                    Err(e) => Err(e),
                }
            })
        }
    };
}

// Implemented for any `'de` and never borrowing from the tree: `from_node` asks for `DeserializeOwned`, so
// nothing could keep such a borrow anyway.
impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, {
            match &self.node.value {
                Value::Null => visitor.visit_unit(),
                Value::Bool(b) => visitor.visit_bool(*b),
                Value::Int(i) => visitor.visit_i64(*i),
                Value::Float(f) => visitor.visit_f64(*f),
                Value::Str(s) => visitor.visit_str(s),
                Value::Seq(_) => seq(self, visitor),
                Value::Map(_) => map(self, visitor),
            }
        })
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, {
            match &self.node.value {
                Value::Bool(b) => visitor.visit_bool(*b),
                Value::Str(s) if self.key && (s == "true" || s == "false") => visitor.visit_bool(s == "true"),
                _ => Err(Error::expected(&visitor)),
            }
        })
    }

    integer_method!(deserialize_i8, visit_i8, i8);
    integer_method!(deserialize_i16, visit_i16, i16);
    integer_method!(deserialize_i32, visit_i32, i32);
    integer_method!(deserialize_i64, visit_i64, i64);
    integer_method!(deserialize_i128, visit_i128, i128);
    integer_method!(deserialize_u8, visit_u8, u8);
    integer_method!(deserialize_u16, visit_u16, u16);
    integer_method!(deserialize_u32, visit_u32, u32);
    integer_method!(deserialize_u64, visit_u64, u64);
    integer_method!(deserialize_u128, visit_u128, u128);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, {
            match self.float(&visitor) {
                Ok(f) => visitor.visit_f32(f as f32),
                Err(e) => Err(e),
            }
        })
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, {
            match self.float(&visitor) {
                Ok(f) => visitor.visit_f64(f),
                Err(e) => Err(e),
            }
        })
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, {
            match self.node.text() {
                Some(t) if !self.node.is_null() => {
                    let mut chars = t.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => visitor.visit_char(c),
                        _ => Err(de::Error::invalid_value(Unexpected::Str(&t), &visitor)),
                    }
                }
                _ => Err(Error::expected(&visitor)),
            }
        })
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, text(self, visitor))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, text(self, visitor))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, {
            match &self.node.value {
                Value::Str(s) => visitor.visit_bytes(s.as_bytes()),
                Value::Seq(_) => seq(self, visitor),
                _ => Err(Error::expected(&visitor)),
            }
        })
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, { if self.node.is_null() { visitor.visit_none() } else { visitor.visit_some(self) } })
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, { if self.node.is_null() { visitor.visit_unit() } else { Err(Error::expected(&visitor)) } })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, visitor.visit_newtype_struct(self))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, seq(self, visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, map(self, visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        positioned!(self, {
            if name == SPANNED_NAME && fields == SPANNED_FIELDS {
                visitor.visit_map(SpannedAccess { de: self, step: 0 })
            } else {
                map(self, visitor)
            }
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        positioned!(self, {
            match &self.node.value {
                Value::Map(entries) => match entries.as_slice() {
                    [(variant, content)] => visitor.visit_enum(EnumDe { variant, content: Some(content) }),
                    _ => Err(Error::msg(format!(
                        "expected {} (alone, or as the only key of a map), found a map with {} keys",
                        OneOf(variants),
                        entries.len()
                    ))),
                },
                Value::Seq(_) | Value::Null => Err(Error::expected(&OneOf(variants))),
                _ => visitor.visit_enum(EnumDe { variant: self.node, content: None }),
            }
        })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        positioned!(self, text(self, visitor))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

// Bodies shared by several trait methods, positioned by their callers.

/// A list, refusing items the visitor left unread (a tuple given too many).
fn seq<'de, V: Visitor<'de>>(de: NodeDe<'_>, visitor: V) -> Result<V::Value, Error> {
    let Value::Seq(items) = &de.node.value else {
        return Err(Error::expected(&visitor));
    };
    let mut access = SeqDe { iter: items.iter(), taken: 0 };
    let value = visitor.visit_seq(&mut access)?;
    let left = access.iter.len();
    if left > 0 {
        return Err(Error::msg(format!("too many items: expected {}, found {}", access.taken, access.taken + left)));
    }
    Ok(value)
}

/// A map; the visitor reads every entry.
fn map<'de, V: Visitor<'de>>(de: NodeDe<'_>, visitor: V) -> Result<V::Value, Error> {
    let Value::Map(entries) = &de.node.value else {
        return Err(Error::expected(&visitor));
    };
    visitor.visit_map(MapDe { iter: entries.iter(), value: None })
}

/// A scalar's text, for strings and identifiers: `cost_center: 8000` reads as `"8000"`. A null value is
/// refused: `name:` left empty is a missing value, not the text "null".
fn text<'de, V: Visitor<'de>>(de: NodeDe<'_>, visitor: V) -> Result<V::Value, Error> {
    match &de.node.value {
        Value::Str(s) => visitor.visit_str(s),
        // As a key, `null:` or `~:` is a name like any other.
        Value::Null if !de.key => Err(Error::expected(&visitor)),
        Value::Seq(_) | Value::Map(_) => Err(Error::expected(&visitor)),
        _ => match de.node.text() {
            Some(t) => visitor.visit_str(&t),
            None => Err(Error::expected(&visitor)),
        },
    }
}

/// "one of `a`, `b`", what an enum expects: serde's own text is the Rust type name.
struct OneOf(&'static [&'static str]);

impl Expected for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one of ")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{v}`")?;
        }
        Ok(())
    }
}

struct SeqDe<'a> {
    iter: slice::Iter<'a, Node>,
    taken: usize,
}

impl<'de> SeqAccess<'de> for SeqDe<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some(node) => {
                self.taken += 1;
                seed.deserialize(NodeDe::new(node)).map(Some).map_err(|e| e.at(node))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe<'a> {
    iter: slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for MapDe<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(NodeDe::key(key)).map(Some).map_err(|e| e.at(key))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(node) => seed.deserialize(NodeDe::new(node)).map_err(|e| e.at(node)),
            None => Err(Error::msg("a map value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An enum written as `variant` or `{variant: content}`.
struct EnumDe<'a> {
    variant: &'a Node,
    content: Option<&'a Node>,
}

impl<'de, 'a> EnumAccess<'de> for EnumDe<'a> {
    type Error = Error;
    type Variant = VariantDe<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantDe<'a>), Error> {
        let value = seed.deserialize(NodeDe::key(self.variant)).map_err(|e| e.at(self.variant))?;
        Ok((value, VariantDe { variant: self.variant, content: self.content }))
    }
}

struct VariantDe<'a> {
    variant: &'a Node,
    content: Option<&'a Node>,
}

impl VariantDe<'_> {
    fn needs_content(&self) -> Error {
        let name = self.variant.text().unwrap_or_default();
        Error::msg(format!("`{name}` needs a value: write it as `{name}: ...`")).at(self.variant)
    }
}

impl<'de> VariantAccess<'de> for VariantDe<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.content {
            None => Ok(()),
            Some(node) if node.is_null() => Ok(()),
            Some(node) => {
                let name = self.variant.text().unwrap_or_default();
                Err(Error::msg(format!("`{name}` takes no value, found {}", node.kind())).at(node))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.content {
            Some(node) => seed.deserialize(NodeDe::new(node)).map_err(|e| e.at(node)),
            None => Err(self.needs_content()),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.content {
            Some(node) => NodeDe::new(node).deserialize_seq(visitor),
            None => Err(self.needs_content()),
        }
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        match self.content {
            Some(node) => NodeDe::new(node).deserialize_map(visitor),
            None => Err(self.needs_content()),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Spanned

/// The struct name by which `Spanned` asks our deserializer for a position, as the `toml` crate does. No
/// real struct is called this, and the field names make an accidental match impossible.
const SPANNED_NAME: &str = "$__signoff_private_Spanned";
const SPANNED_LINE: &str = "$__signoff_private_line";
const SPANNED_COL: &str = "$__signoff_private_col";
const SPANNED_VALUE: &str = "$__signoff_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_LINE, SPANNED_COL, SPANNED_VALUE];

/// Hands `Spanned`'s visitor the node's line, column and value as a three-entry map.
struct SpannedAccess<'a> {
    de: NodeDe<'a>,
    step: u8,
}

impl<'de> MapAccess<'de> for SpannedAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let key = match self.step {
            0 => SPANNED_LINE,
            1 => SPANNED_COL,
            2 => SPANNED_VALUE,
            _ => return Ok(None),
        };
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let step = self.step;
        self.step = step.saturating_add(1);
        match step {
            0 => seed.deserialize(U32Deserializer::new(self.de.node.pos.line)),
            1 => seed.deserialize(U32Deserializer::new(self.de.node.pos.col)),
            2 => seed.deserialize(self.de),
            _ => Err(Error::msg("no more values")),
        }
    }
}

/// A value with the place it came from.
///
/// Deserializing `Spanned<T>` through [`from_node`] records the node's location, so checks made after
/// deserialization (an unknown manager id, a cycle) can still say `file:line:col`. Derefs to `T` and
/// serializes as `T`; equality, ordering, hashing and `Debug` look at the value only, so a `Spanned<String>`
/// works as a map key and compares equal to the same text from another file.
///
/// Other deserializers cannot provide a position, so `Spanned` can only be read through `from_node` (and
/// not inside `#[serde(flatten)]` or untagged enums, where serde buffers the input).
#[derive(Clone)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub loc: Location,
}

impl<T> Spanned<T> {
    /// A value at `loc`.
    pub fn new(value: T, loc: Location) -> Self {
        Spanned { value, loc }
    }

    /// The value, without its place.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Spanned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: PartialOrd> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: Hash> Hash for Spanned<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, SpannedVisitor(PhantomData))
    }
}

struct SpannedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value with a position")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
        let unsupported = || {
            de::Error::custom(
                "a position cannot be recorded here (positions need `signoff::source::from_node`, \
                 outside `#[serde(flatten)]` and untagged enums)",
            )
        };
        let file = current_file().ok_or_else(unsupported)?;
        if map.next_key_seed(MagicKey(SPANNED_LINE))?.is_none() {
            return Err(unsupported());
        }
        let line: u32 = map.next_value()?;
        if map.next_key_seed(MagicKey(SPANNED_COL))?.is_none() {
            return Err(unsupported());
        }
        let col: u32 = map.next_value()?;
        if map.next_key_seed(MagicKey(SPANNED_VALUE))?.is_none() {
            return Err(unsupported());
        }
        let value: T = map.next_value()?;
        Ok(Spanned { value, loc: Location { file, pos: Pos::new(line, col) } })
    }
}

/// Accepts exactly one key name, so a map that merely looks like `Spanned`'s is refused, not misread.
struct MagicKey(&'static str);

impl<'de> DeserializeSeed<'de> for MagicKey {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for MagicKey {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v == self.0 {
            Ok(())
        } else {
            Err(E::custom(
                "a position cannot be recorded here (positions need `signoff::source::from_node`, \
                 outside `#[serde(flatten)]` and untagged enums)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Deserialize;

    use super::*;
    use crate::source::{Format, parse_str};
    use crate::time::Duration;

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename_all = "snake_case")]
    enum Status {
        #[default]
        Active,
        Closed,
        OnLeave,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct User {
        id: Spanned<String>,
        name: String,
        manager: Option<Spanned<String>>,
        #[serde(default)]
        cost_center: Option<String>,
        #[serde(default)]
        status: Status,
        #[serde(default)]
        delegate_after: Option<Duration>,
        #[serde(default)]
        level: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Directory {
        users: Vec<User>,
    }

    fn read<T: DeserializeOwned>(name: &str, text: &str) -> Result<T, String> {
        let format = Format::from_path(Path::new(name)).unwrap();
        let doc = parse_str(Arc::from(Path::new(name)), text, format).map_err(|d| d.to_string())?;
        doc.deserialize::<T>().map_err(|d| d.to_string())
    }

    fn yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        read("users.yaml", text)
    }

    fn json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        read("users.json", text)
    }

    const DIRECTORY: &str = "\
users:
  - id: alice
    name: Alice
    cost_center: 8000
  - id: bob
    name: Bob
    manager: alice
    status: on_leave
    delegate_after: 48h
    level: 3
";

    #[test]
    fn a_directory_deserializes_with_spans_on_every_id() {
        let dir: Directory = yaml(DIRECTORY).unwrap();
        assert_eq!(dir.users[1].name, "Bob");
        assert_eq!(dir.users.len(), 2);
        let (alice, bob) = (&dir.users[0], &dir.users[1]);
        assert_eq!(alice.id.as_str(), "alice");
        assert_eq!(alice.id.loc.to_string(), "users.yaml:2:9");
        assert_eq!(bob.id.loc.to_string(), "users.yaml:5:9");
        let manager = bob.manager.as_ref().unwrap();
        assert_eq!((manager.value.as_str(), manager.loc.to_string().as_str()), ("alice", "users.yaml:7:14"));
        assert!(Arc::ptr_eq(&alice.id.loc.file, &manager.loc.file), "one shared path per file");
        assert_eq!(alice.cost_center.as_deref(), Some("8000"));
        assert_eq!(bob.status, Status::OnLeave);
        assert_eq!(bob.delegate_after, Some(Duration::from_hours(48)));
        assert_eq!(bob.level, 3);
        assert_eq!(alice.manager, None);
    }

    #[test]
    fn spans_work_the_same_in_json() {
        let dir: Directory = json(
            "{\"users\": [\n  {\"id\": \"alice\", \"name\": \"A\"},\n  {\"id\": \"bob\", \"name\": \"B\", \"manager\": \"alice\"}\n]}",
        )
        .unwrap();
        assert_eq!(dir.users[0].id.loc.to_string(), "users.json:2:10");
        assert_eq!(dir.users[1].manager.as_ref().unwrap().loc.to_string(), "users.json:3:41");
    }

    #[test]
    fn spanned_compares_by_value_and_serializes_as_the_value() {
        let a = Spanned::new("x".to_owned(), Location::new(Path::new("a.yaml"), Pos::new(1, 1)));
        let b = Spanned::new("x".to_owned(), Location::new(Path::new("b.yaml"), Pos::new(9, 9)));
        assert_eq!(a, b);
        let mut set = std::collections::HashSet::new();
        set.insert(a.clone());
        assert!(set.contains(&b));
        assert_eq!(format!("{a:?}"), "\"x\"");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"x\"");
        assert_eq!(a.len(), 1);
        // Outside `from_node` there is no position to record: an error, not a panic or a made-up place.
        assert!(serde_json::from_str::<Spanned<String>>("\"x\"").is_err());
        let err = serde_json::from_str::<Spanned<String>>("{\"a\": 1}").unwrap_err().to_string();
        assert!(err.contains("a position cannot be recorded here"), "{err}");
    }

    #[test]
    fn spanned_map_keys_and_scalars_at_the_root() {
        let map: BTreeMap<Spanned<String>, u32> = yaml("a: 1\nb: 2\n").unwrap();
        let keys: Vec<_> = map.keys().map(|k| k.loc.pos).collect();
        assert_eq!(keys, [Pos::new(1, 1), Pos::new(2, 1)]);
        let root: Spanned<Vec<u32>> = yaml("- 1\n- 2\n").unwrap();
        assert_eq!((root.value.as_slice(), root.loc.pos), (&[1, 2][..], Pos::new(1, 1)));
    }

    #[test]
    fn unknown_keys_suggest_the_closest_key() {
        let text = "users:\n  - id: alice\n    name: A\n    mangaer: bob\n";
        assert_eq!(
            yaml::<Directory>(text).unwrap_err(),
            "users.yaml:4:5: unknown key `mangaer`, did you mean `manager`?"
        );
        assert_eq!(
            json::<Directory>("{\"users\": [{\"id\": \"a\", \"name\": \"A\", \"mangaer\": \"b\"}]}").unwrap_err(),
            "users.json:1:37: unknown key `mangaer`, did you mean `manager`?"
        );
    }

    #[test]
    fn unknown_keys_without_a_close_match_list_the_accepted_keys() {
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    zzz: 1\n").unwrap_err(),
            "users.yaml:4:5: unknown key `zzz`, expected one of `id`, `name`, `manager`, \
             `cost_center`, `status`, `delegate_after`, `level`"
        );
        assert_eq!(
            yaml::<Directory>("people: []\n").unwrap_err(),
            "users.yaml:1:1: unknown key `people`, expected `users`"
        );
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Empty {}
        assert_eq!(yaml::<Empty>("x: 1\n").unwrap_err(), "users.yaml:1:1: unknown key `x`: no key is accepted here");
    }

    #[test]
    fn unknown_enum_values_suggest_the_closest_value() {
        let text = "users:\n  - id: a\n    name: A\n    status: closd\n";
        assert_eq!(
            yaml::<Directory>(text).unwrap_err(),
            "users.yaml:4:13: unknown value `closd`, did you mean `closed`?"
        );
        let text = "users:\n  - id: a\n    name: A\n    status: gone\n";
        assert_eq!(
            yaml::<Directory>(text).unwrap_err(),
            "users.yaml:4:13: unknown value `gone`, expected one of `active`, `closed`, `on_leave`"
        );
    }

    #[test]
    fn wrong_types_name_what_was_expected_and_found() {
        assert_eq!(yaml::<Directory>("users: alice\n").unwrap_err(), "users.yaml:1:8: expected a list, found a string");
        assert_eq!(
            yaml::<Directory>("users:\n  - alice\n").unwrap_err(),
            "users.yaml:2:5: expected a map, found a string"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: [a]\n    name: A\n").unwrap_err(),
            "users.yaml:2:9: expected a string, found a list"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name:\n").unwrap_err(),
            "users.yaml:3:9: expected a string, found null"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    level: high\n").unwrap_err(),
            "users.yaml:4:12: expected a non-negative integer, found a string"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    level: 1.5\n").unwrap_err(),
            "users.yaml:4:12: expected a non-negative integer, found a floating-point number"
        );
        assert_eq!(
            json::<Vec<bool>>("[true, \"yes\"]").unwrap_err(),
            "users.json:1:8: expected a boolean, found a string"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    status: [closed]\n").unwrap_err(),
            "users.yaml:4:13: expected one of `active`, `closed`, `on_leave`, found a list"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    status: ~\n").unwrap_err(),
            "users.yaml:4:13: expected one of `active`, `closed`, `on_leave`, found null"
        );
    }

    #[test]
    fn integers_out_of_range_say_the_range() {
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    level: 300\n").unwrap_err(),
            "users.yaml:4:12: `300` is out of range: expected a whole number from 0 to 255"
        );
        assert_eq!(
            yaml::<Directory>("users:\n  - id: a\n    name: A\n    level: -1\n").unwrap_err(),
            "users.yaml:4:12: `-1` is out of range: expected a whole number from 0 to 255"
        );
        assert_eq!(
            json::<Vec<i64>>("[1, 99999999999999999999]").unwrap_err(),
            "users.json:1:5: `99999999999999999999` is out of range: expected a whole number from \
             -9223372036854775808 to 9223372036854775807"
        );
        // Larger than i64 but fine for u64: read exactly from the spelling.
        assert_eq!(json::<Vec<u64>>("[18446744073709551615]").unwrap(), [u64::MAX]);
        assert_eq!(yaml::<Vec<u8>>("[0x10, 0o17, +5]").unwrap(), [16, 15, 5]);
    }

    #[test]
    fn missing_keys_point_at_the_map() {
        assert_eq!(
            yaml::<Directory>("users:\n  - name: A\n    level: 1\n").unwrap_err(),
            "users.yaml:2:5: missing key `id`"
        );
        assert_eq!(
            json::<Directory>("{\"users\": [\n  {\"name\": \"A\"}]}").unwrap_err(),
            "users.json:2:3: missing key `id`"
        );
    }

    #[test]
    fn custom_errors_from_deserialize_impls_point_at_the_value() {
        let text = "users:\n  - id: a\n    name: A\n    delegate_after: 48x\n";
        assert_eq!(
            yaml::<Directory>(text).unwrap_err(),
            "users.yaml:4:21: invalid duration `48x`: unknown unit `x`: use s, m, h, d or w"
        );
        let text = "users:\n  - id: a\n    name: A\n    delegate_after: 48\n";
        assert_eq!(
            yaml::<Directory>(text).unwrap_err(),
            "users.yaml:4:21: `48` has no unit: write `48s`, `48m`, `48h` or `48d`"
        );
    }

    #[derive(Debug, Deserialize)]
    struct Ids {
        cost_center: String,
        discord_id: String,
        hex: String,
        ratio: String,
        flag: String,
    }

    #[test]
    fn string_fields_accept_any_scalar_as_written() {
        let ids: Ids =
            yaml("cost_center: 8000\ndiscord_id: 310000000000000001\nhex: 0x1F\nratio: 1.50\nflag: True\n").unwrap();
        assert_eq!(
            (
                ids.cost_center.as_str(),
                ids.discord_id.as_str(),
                ids.hex.as_str(),
                ids.ratio.as_str(),
                ids.flag.as_str()
            ),
            ("8000", "310000000000000001", "0x1F", "1.50", "True")
        );
        let ids: Ids = json(
            "{\"cost_center\": 8000, \"discord_id\": 3100000000000000000001, \"hex\": \"0x1F\", \
             \"ratio\": 1.50, \"flag\": true}",
        )
        .unwrap();
        assert_eq!(ids.discord_id, "3100000000000000000001");
        assert_eq!(ids.ratio, "1.50");
        assert_eq!(ids.flag, "true");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    enum Action {
        Approve,
        Notify(String),
        Escalate { to: String, after: Duration },
        Pair(u32, u32),
    }

    #[test]
    fn enums_are_strings_or_single_key_maps() {
        let actions: Vec<Action> =
            yaml("- approve\n- notify: ops\n- escalate: {to: cfo, after: 48h}\n- pair: [1, 2]\n- approve: ~\n")
                .unwrap();
        assert_eq!(
            actions,
            [
                Action::Approve,
                Action::Notify("ops".into()),
                Action::Escalate { to: "cfo".into(), after: Duration::from_hours(48) },
                Action::Pair(1, 2),
                Action::Approve,
            ]
        );
        assert_eq!(
            yaml::<Vec<Action>>("- notify\n").unwrap_err(),
            "users.yaml:1:3: `notify` needs a value: write it as `notify: ...`"
        );
        assert_eq!(
            yaml::<Vec<Action>>("- approve: yes\n").unwrap_err(),
            "users.yaml:1:12: `approve` takes no value, found a string"
        );
        assert_eq!(
            yaml::<Vec<Action>>("- {notify: a, approve: ~}\n").unwrap_err(),
            "users.yaml:1:3: expected one of `approve`, `notify`, `escalate`, `pair` (alone, or as the \
             only key of a map), found a map with 2 keys"
        );
        assert_eq!(
            yaml::<Vec<Action>>("- escalate: {to: cfo, afterr: 1h}\n").unwrap_err(),
            "users.yaml:1:23: unknown key `afterr`, did you mean `after`?"
        );
        assert_eq!(
            yaml::<Vec<Action>>("- escalat: {to: cfo}\n").unwrap_err(),
            "users.yaml:1:3: unknown value `escalat`, did you mean `escalate`?"
        );
    }

    #[test]
    fn tuples_options_units_chars_and_floats() {
        assert_eq!(yaml::<(u32, String)>("[1, a]").unwrap(), (1, "a".to_owned()));
        assert_eq!(
            yaml::<(u32, String)>("[1, a, 3]").unwrap_err(),
            "users.yaml:1:1: too many items: expected 2, found 3"
        );
        assert_eq!(
            yaml::<(u32, String)>("[1]").unwrap_err(),
            "users.yaml:1:1: expected a list of 2 items, found 1 item"
        );
        assert_eq!(yaml::<Vec<Option<u32>>>("[1, ~, null, ]").unwrap(), [Some(1), None, None]);
        assert_eq!(yaml::<Vec<()>>("[~, null]").unwrap(), [(), ()]);
        assert_eq!(yaml::<Vec<char>>("[a, '1']").unwrap(), ['a', '1']);
        assert_eq!(yaml::<Vec<char>>("[ab]").unwrap_err(), "users.yaml:1:2: invalid value `ab`, expected a character");
        assert_eq!(yaml::<Vec<f64>>("[1, 2.5, -.inf]").unwrap(), [1.0, 2.5, f64::NEG_INFINITY]);
        assert_eq!(yaml::<[u8; 2]>("[1, 2]").unwrap(), [1, 2]);
    }

    #[test]
    fn map_keys_read_as_the_key_type() {
        let m: HashMap<u32, String> = json("{\"1\": \"a\", \"20\": \"b\"}").unwrap();
        assert_eq!(m[&20], "b");
        let m: BTreeMap<String, u32> = yaml("1: 2\ntrue: 3\n0x10: 4\n").unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["0x10", "1", "true"]);
        let m: BTreeMap<String, u8> = yaml("null: 1\nx: 2\n").unwrap();
        assert_eq!(m["null"], 1);
        let m: HashMap<bool, u8> = json("{\"true\": 1}").unwrap();
        assert_eq!(m[&true], 1);
        assert_eq!(
            json::<HashMap<u32, u8>>("{\"x\": 1}").unwrap_err(),
            "users.json:1:2: expected a non-negative integer, found a string"
        );
    }

    #[test]
    fn deserialize_any_is_typed() {
        let v: serde_json::Value = yaml("a: [1, -2, 1.5, true, ~, s]\nb: {c: d}\n").unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, -2, 1.5, true, null, "s"], "b": {"c": "d"}}));
        let j: serde_json::Value = json("{\"users\": [{\"tags\": [\"a\", \"b c\"], \"n\": -0}]}").unwrap();
        assert_eq!(j["users"][0]["tags"][1], "b c");
    }

    #[test]
    fn ignored_fields_are_skipped() {
        #[derive(Deserialize)]
        struct Loose {
            id: String,
        }
        let l: Loose = yaml("id: a\nanything: [1, {x: y}]\n").unwrap();
        assert_eq!(l.id, "a");
    }

    #[test]
    fn flattened_structs_still_work_with_the_enclosing_position() {
        #[derive(Debug, Deserialize)]
        struct Inner {
            level: u8,
        }
        #[derive(Debug, Deserialize)]
        struct Outer {
            id: String,
            #[serde(flatten)]
            inner: Inner,
        }
        let o: Outer = yaml("id: a\nlevel: 2\n").unwrap();
        assert_eq!((o.id.as_str(), o.inner.level), ("a", 2));
        // serde buffers flattened values, so the error can only point at the map; it still names the
        // value's kind, not the map's.
        assert_eq!(
            yaml::<Outer>("id: a\nlevel: x\n").unwrap_err(),
            "users.yaml:1:1: expected a non-negative integer, found a string"
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct BigUser {
        id: Spanned<String>,
        name: String,
        email: String,
        manager: Option<Spanned<String>>,
        department: String,
        title: String,
        cost_center: String,
        location: String,
        status: Status,
        discord_id: String,
        slack: String,
        approval_limit: u64,
        delegate_after: Duration,
        roles: Vec<String>,
        aliases: Vec<Spanned<String>>,
    }

    /// Release-mode load figures for a 10,000-user directory (about 16 lines per user in YAML).
    /// Run with `cargo test --release -- --ignored --nocapture load_figures`.
    #[test]
    #[ignore = "timing, run by hand in release mode"]
    fn load_figures() {
        use std::fmt::Write as _;
        use std::time::Instant;
        const USERS: usize = 10_000;
        let mut y = String::from("users:\n");
        let mut j = String::from("{\"users\": [\n");
        for i in 0..USERS {
            let m = i.saturating_sub(1);
            let _ = write!(
                y,
                "  - id: user{i:05}\n    name: User Number {i}\n    email: user{i}@example.com\n    \
                 manager: user{m:05}\n    department: engineering\n    title: Senior Engineer\n    \
                 cost_center: {}\n    location: Paris\n    status: active\n    discord_id: 3100000000{i:08}\n    \
                 slack: U{i:06}\n    approval_limit: 5000\n    delegate_after: 48h\n    \
                 roles: [approver, requester]\n    aliases:\n      - u{i}\n",
                8000 + i % 100
            );
            let _ = write!(
                j,
                "  {{\"id\": \"user{i:05}\", \"name\": \"User Number {i}\", \"email\": \"user{i}@example.com\",\n   \
                 \"manager\": \"user{m:05}\", \"department\": \"engineering\", \"title\": \"Senior Engineer\",\n   \
                 \"cost_center\": {}, \"location\": \"Paris\", \"status\": \"active\", \"discord_id\": 3100000000{i:08},\n   \
                 \"slack\": \"U{i:06}\", \"approval_limit\": 5000, \"delegate_after\": \"48h\",\n   \
                 \"roles\": [\"approver\", \"requester\"], \"aliases\": [\"u{i}\"]}}{}\n",
                8000 + i % 100,
                if i + 1 < USERS { "," } else { "" }
            );
        }
        j.push_str("]}\n");
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in [("users.yaml", &y), ("users.json", &j)] {
            let path = tmp.path().join(name);
            std::fs::write(&path, text).unwrap();
            let mut best = (f64::MAX, f64::MAX);
            for _ in 0..5 {
                let start = Instant::now();
                let doc = crate::source::load_file(&path).unwrap();
                let parsed = start.elapsed().as_secs_f64() * 1000.0;
                #[derive(Deserialize)]
                struct Dir {
                    users: Vec<BigUser>,
                }
                let dir: Dir = doc.deserialize().unwrap();
                let total = start.elapsed().as_secs_f64() * 1000.0;
                assert_eq!(dir.users.len(), USERS);
                best = (best.0.min(parsed), best.1.min(total));
            }
            println!(
                "{name}: {} lines, {} KiB: load_file {:.1} ms, load_file + from_node {:.1} ms",
                text.lines().count(),
                text.len() / 1024,
                best.0,
                best.1
            );
        }
    }

    proptest! {
        #[test]
        fn deserializing_never_panics(text in "\\PC{0,120}") {
            for name in ["f.yaml", "f.json"] {
                let _ = read::<Directory>(name, &text);
                let _ = read::<serde_json::Value>(name, &text);
                let _ = read::<Vec<Action>>(name, &text);
                let _ = read::<HashMap<u8, (char, Option<f32>)>>(name, &text);
            }
        }
    }
}
