//! The values a rule reads and produces, and the trait through which it reads them.

use std::borrow::Cow;

use super::path::{GroupField, RequestField, Subject, UserField};

/// A value handed to or produced by the evaluator.
///
/// Borrowed wherever it can be: a fact source hands out views of its own storage (`Str(Cow::Borrowed)`,
/// `ListRef`, `Strs`), so reading an attribute and comparing it with a literal allocates nothing.
///
/// Lists come in three shapes rather than one `Cow<[Value]>`: `Cow<'a, [Value<'a>]>` would make `Value`
/// invariant in `'a` (through `<[Value] as ToOwned>::Owned`), and a fact source that stores `Value<'static>`
/// could then not hand out a borrowed `Value<'_>` without copying. With these variants `Value` is covariant,
/// and [`Value::reborrow`] is free.
#[derive(Debug, Clone, Default)]
pub enum Value<'a> {
    /// Missing or empty. Every missing attribute reads as null.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number. Integers are exact up to 2^53, far beyond any grade, risk or duration.
    Num(f64),
    /// Text.
    Str(Cow<'a, str>),
    /// A list built for this read.
    List(Vec<Value<'a>>),
    /// A list borrowed from the fact source's storage.
    ListRef(&'a [Value<'a>]),
    /// A list of strings borrowed as the directory stores them (group ids, permissions, emails).
    Strs(&'a [String]),
}

impl<'a> Value<'a> {
    /// A borrowed string.
    #[inline]
    pub fn str(s: &'a str) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    /// Whether this is null.
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A view of this value that borrows instead of owning: no allocation, whatever the variant.
    #[inline]
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Num(n) => Value::Num(*n),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::List(items) => Value::ListRef(items),
            Value::ListRef(items) => Value::ListRef(items),
            Value::Strs(items) => Value::Strs(items),
        }
    }

    /// An owned copy that no longer borrows from anything.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Num(n) => Value::Num(n),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::List(items) => Value::List(items.into_iter().map(Value::into_owned).collect()),
            Value::ListRef(items) => Value::List(items.iter().map(|v| v.clone().into_owned()).collect()),
            Value::Strs(items) => Value::List(items.iter().map(|s| Value::Str(Cow::Owned(s.clone()))).collect()),
        }
    }

    /// The items of a list, whatever its shape; `None` for anything else.
    pub fn list_len(&self) -> Option<usize> {
        match self {
            Value::List(items) => Some(items.len()),
            Value::ListRef(items) => Some(items.len()),
            Value::Strs(items) => Some(items.len()),
            _ => None,
        }
    }

    /// The `i`-th item of a list (as a borrowed value), or `None` past the end or for a non-list.
    pub fn list_item(&self, i: usize) -> Option<Value<'_>> {
        match self {
            Value::List(items) => items.get(i).map(Value::reborrow),
            Value::ListRef(items) => items.get(i).map(Value::reborrow),
            Value::Strs(items) => items.get(i).map(|s| Value::str(s)),
            _ => None,
        }
    }
}

/// Structural equality, used by tests and constant folding: lists are equal when their items are,
/// whichever shape holds them. (Rule semantics — nulls, number/string coercion — live in the evaluator.)
impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Num(a), Value::Num(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (a, b) => match (a.list_len(), b.list_len()) {
                (Some(n), Some(m)) => n == m && (0..n).all(|i| a.list_item(i) == b.list_item(i)),
                _ => false,
            },
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }
}

impl<'a> From<Cow<'a, str>> for Value<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value<'_> {
    fn from(n: f64) -> Self {
        Value::Num(n)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Num(n as f64)
    }
}

impl From<i32> for Value<'_> {
    fn from(n: i32) -> Self {
        Value::Num(f64::from(n))
    }
}

impl From<u32> for Value<'_> {
    fn from(n: u32) -> Self {
        Value::Num(f64::from(n))
    }
}

impl From<u64> for Value<'_> {
    fn from(n: u64) -> Self {
        Value::Num(n as f64)
    }
}

impl<'a> From<Vec<Value<'a>>> for Value<'a> {
    fn from(items: Vec<Value<'a>>) -> Self {
        Value::List(items)
    }
}

impl<'a> From<&'a [Value<'a>]> for Value<'a> {
    fn from(items: &'a [Value<'a>]) -> Self {
        Value::ListRef(items)
    }
}

impl<'a> From<&'a [String]> for Value<'a> {
    fn from(items: &'a [String]) -> Self {
        Value::Strs(items)
    }
}

impl<'a> From<&'a Vec<String>> for Value<'a> {
    fn from(items: &'a Vec<String>) -> Self {
        Value::Strs(items)
    }
}

/// `None` reads as null, so optional directory fields convert directly.
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// What the evaluator reads. signoff implements it over its directory and the request being decided;
/// tests implement it over maps.
///
/// Every method answers [`Value::Null`] for anything it does not have (an unknown custom key, an index past
/// the end of `users_requested_for`, a request without a group). Return borrowed values where you can:
/// the evaluator never needs to own them.
pub trait Facts {
    /// An attribute of the requester or of one of the people the access is for.
    fn user(&self, who: Subject, field: &UserField) -> Value<'_>;
    /// An attribute of the requested item.
    fn request(&self, field: RequestField) -> Value<'_>;
    /// An attribute of the requested group (null when the request is not for a group).
    fn group(&self, field: &GroupField) -> Value<'_>;
    /// A custom attribute of the requested resource.
    fn resource_custom(&self, key: &str) -> Value<'_>;
}

/// Facts with nothing in them: every attribute is null. Useful to evaluate constant parts of a rule and
/// as the "unknown person" baseline in `signoff simulate`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFacts;

impl Facts for NoFacts {
    fn user(&self, _: Subject, _: &UserField) -> Value<'_> {
        Value::Null
    }
    fn request(&self, _: RequestField) -> Value<'_> {
        Value::Null
    }
    fn group(&self, _: &GroupField) -> Value<'_> {
        Value::Null
    }
    fn resource_custom(&self, _: &str) -> Value<'_> {
        Value::Null
    }
}

/// Compile-time proof that `Value` is covariant: a stored `Value<'static>` can be handed out as a
/// shorter-lived `Value<'a>` without copying.
#[allow(dead_code)]
fn value_is_covariant<'a>(v: &'a Value<'static>) -> Value<'a> {
    v.reborrow()
}

#[allow(dead_code)]
fn static_value_shortens<'a>(v: Value<'static>) -> Value<'a> {
    v
}
