//! SCIM resources in and out: [`normalize`] turns a POST or PUT body into the stored form, [`apply_put`]
//! checks a replacement against the stored resource, and [`render`] turns the stored form into a response.
//!
//! The stored form is plain SCIM JSON: canonical attribute names (`userName`, however the client spelled
//! it), values of the schema's types (`"False"` already read as `false`), extension attributes under their
//! URN key, a correct `schemas` array, and nothing readOnly (`id`, `meta`, `groups`) or writeOnly
//! (`password`): the server adds those when rendering, so what is stored is exactly what the client owns.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value, json};

use super::error::ScimError;
use super::filter::{AttrPath, get_ci};
use super::schema::{self, AttrDef, AttrType, Mutability, Returned};

/// The two resource types signoff serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/Users`: people, mapped to directory users.
    User,
    /// `/Groups`: groups, mapped to directory groups.
    Group,
}

impl Kind {
    /// The core schema URN, first in every resource's `schemas`.
    pub fn schema_urn(self) -> &'static str {
        schema::core_schema(self).id
    }

    /// The resource type name (`meta.resourceType`, `/ResourceTypes/{name}`).
    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    /// The endpoint under the SCIM base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "/Users",
            Kind::Group => "/Groups",
        }
    }

    /// The kind of a resource in SCIM JSON: Group when its `schemas` hold the core Group URN or its
    /// `meta.resourceType` is `Group`, User otherwise.
    pub fn of(resource: &Value) -> Kind {
        let in_schemas = get_ci(resource, "schemas").and_then(Value::as_array).is_some_and(|s| {
            s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(schema::GROUP_SCHEMA)))
        });
        let by_meta = get_ci(resource, "meta")
            .and_then(|m| get_ci(m, "resourceType"))
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("Group"));
        if in_schemas || by_meta { Kind::Group } else { Kind::User }
    }
}

/// The server-kept metadata of a resource, rendered as `meta` (RFC 7643 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// When the resource was created.
    pub created: jiff::Timestamp,
    /// When it last changed.
    pub last_modified: jiff::Timestamp,
    /// An opaque version (a weak ETag such as `W/"3"`), when the storage keeps one.
    pub version: Option<String>,
}

/// The resource's URL: `meta.location`, and the `Location` header of a 201.
pub fn location(kind: Kind, base_url: &str, id: &str) -> String {
    format!("{}{}/{id}", base_url.trim_end_matches('/'), kind.endpoint())
}

/// Validates a POST or PUT body and returns the stored form (see the module doc).
///
/// - Attribute names match case-insensitively; values must have the schema's type (400 invalidValue naming
///   the attribute), with the strings `"true"`/`"false"` accepted for booleans (Entra sends `"True"`),
///   numeric strings for integers and decimals (Entra sends every custom attribute as a string), a lone
///   value for a multi-valued attribute, and a bare string for a complex attribute with a `value` (Entra
///   sends `manager` that way).
/// - Unknown attributes, and attributes of schemas the resource type does not declare, are ignored (RFC 7644
///   §3.3); so are readOnly ones (`id`, `meta`, `groups`, `manager.displayName`) and `password`, which
///   signoff has no use for and so never stores.
/// - `userName` (User) or `displayName` (Group) must be a non-empty string.
/// - `schemas` is rebuilt: the core URN, then each extension that holds attributes.
pub fn normalize(kind: Kind, input: Value) -> Result<Value, ScimError> {
    let Value::Object(input) = input else {
        return Err(ScimError::invalid_syntax(format!("a {} must be a JSON object", kind.resource_type())));
    };
    let core = schema::core_schema(kind);
    let mut out = Map::new();
    let mut exts: BTreeMap<&'static str, Map<String, Value>> = BTreeMap::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            if !value.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                return Err(ScimError::invalid_syntax("`schemas` must be an array of URNs"));
            }
            continue;
        }
        if let Some(ext) = schema::extension(kind, &key) {
            match value {
                Value::Object(attrs) => {
                    let target = exts.entry(ext.id).or_default();
                    for (k, v) in attrs {
                        if let Some(def) = ext.attribute(&k) {
                            put(target, def, &format!("{}:{}", ext.id, def.name), v)?;
                        }
                    }
                }
                Value::Null => {}
                _ => return Err(ScimError::invalid_value(format!("`{}` must be an object", ext.id))),
            }
            continue;
        }
        if key.contains(':') {
            // A URN-qualified attribute at the top level (`urn:...:enterprise:2.0:User:department`).
            let Ok(path) = AttrPath::parse(&key) else { continue };
            let Some(r) = schema::resolve(kind, &path).filter(|_| path.urn.is_some()) else { continue };
            let target = match r.extension {
                Some(e) => exts.entry(e).or_default(),
                None => &mut out,
            };
            match r.sub {
                None => put(target, r.attr, &path.to_string(), value)?,
                Some(sub) if !r.attr.multi_valued => {
                    let obj = target.entry(r.attr.name).or_insert_with(|| json!({}));
                    if let Value::Object(obj) = obj {
                        put(obj, sub, &path.to_string(), value)?;
                    }
                }
                Some(_) => {}
            }
            continue;
        }
        let Some(def) = core.attribute(&key).or_else(|| schema::common_attribute(&key)) else { continue };
        put(&mut out, def, def.name, value)?;
    }
    for (urn, attrs) in exts {
        if !attrs.is_empty() {
            out.insert(urn.to_owned(), Value::Object(attrs));
        }
    }
    for def in core.attributes.iter().filter(|d| d.required) {
        if out.get(def.name).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
            return Err(ScimError::invalid_value(format!("`{}` is required for a {}", def.name, kind.resource_type())));
        }
    }
    set_schemas(kind, &mut out);
    Ok(Value::Object(out))
}

/// Rewrites `schemas`: the core URN, then each extension whose object is present.
fn set_schemas(kind: Kind, out: &mut Map<String, Value>) {
    let mut schemas = vec![Value::String(kind.schema_urn().to_owned())];
    for ext in schema::extensions(kind) {
        if out.contains_key(ext.id) {
            schemas.push(Value::String(ext.id.to_owned()));
        }
    }
    out.insert("schemas".to_owned(), Value::Array(schemas));
}

/// Stores `value` under `def.name` in `target` once validated, or removes the attribute for a null or empty
/// value; readOnly attributes and `password` are skipped.
fn put(target: &mut Map<String, Value>, def: &'static AttrDef, name: &str, value: Value) -> Result<(), ScimError> {
    if def.mutability == Mutability::ReadOnly || def.mutability == Mutability::WriteOnly {
        return Ok(());
    }
    match normalize_value(def, name, value)? {
        Some(v) => target.insert(def.name.to_owned(), v),
        None => target.remove(def.name),
    };
    Ok(())
}

/// Validates and converts one attribute value against its definition; `None` when the value is null or
/// empty (an unassigned attribute, RFC 7643 §2.5). `name` is how errors name the attribute. PATCH uses this
/// to convert values before it stores them, so a filter in a later operation sees typed values.
pub(crate) fn normalize_value(def: &AttrDef, name: &str, value: Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        return single(def, name, value);
    }
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = single(def, name, item)? {
            out.push(v);
        }
    }
    if out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count() > 1 {
        return Err(ScimError::invalid_value(format!("at most one value of `{name}` may be primary")));
    }
    Ok(if out.is_empty() { None } else { Some(Value::Array(out)) })
}

fn single(def: &AttrDef, name: &str, value: Value) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| ScimError::invalid_value(format!("`{name}` must be {what}"));
    let v = match (def.ty, value) {
        (_, Value::Null) => return Ok(None),
        (AttrType::Complex, Value::Object(m)) => {
            let mut out = Map::new();
            for (k, x) in m {
                let Some(sub) = def.sub(&k) else { continue };
                if sub.mutability == Mutability::ReadOnly && !def.mutability_is_read_only() {
                    continue;
                }
                if let Some(y) = normalize_value(sub, &format!("{name}.{}", sub.name), x)? {
                    out.insert(sub.name.to_owned(), y);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        (AttrType::Complex, Value::String(s)) if def.sub("value").is_some() => json!({ "value": s }),
        (AttrType::Complex, _) => return Err(wrong("an object")),
        (AttrType::String | AttrType::Reference | AttrType::Binary, v @ Value::String(_)) => v,
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => return Err(wrong("a string")),
        (AttrType::Boolean, v @ Value::Bool(_)) => v,
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (AttrType::Boolean, _) => return Err(wrong("a boolean (true or false)")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        (AttrType::Integer, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Value::Number(i.into()),
            Err(_) => return Err(wrong("an integer")),
        },
        (AttrType::Integer, _) => return Err(wrong("an integer")),
        (AttrType::Decimal, v @ Value::Number(_)) => v,
        (AttrType::Decimal, Value::String(s)) => match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => return Err(wrong("a number")),
        },
        (AttrType::Decimal, _) => return Err(wrong("a number")),
        (AttrType::DateTime, Value::String(s)) if s.parse::<jiff::Timestamp>().is_ok() => Value::String(s),
        (AttrType::DateTime, _) => return Err(wrong("a date-time with an offset, such as 2026-12-01T00:00:00Z")),
    };
    Ok(Some(v))
}

impl AttrDef {
    /// Whether the attribute itself is readOnly: then its readOnly sub-attributes are what it holds, not
    /// something to drop.
    fn mutability_is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

/// Validates a PUT body and returns the new stored form: a full replacement of what the client owns
/// (RFC 7644 §3.5.1). An immutable attribute that already has a value must keep it (400 mutability);
/// readOnly attributes are the server's and are not taken from the body.
pub fn apply_put(kind: Kind, existing: &Value, input: Value) -> Result<Value, ScimError> {
    let new = normalize(kind, input)?;
    let scopes = std::iter::once((None, schema::core_schema(kind).attributes))
        .chain(schema::extensions(kind).iter().map(|e| (Some(e.id), e.attributes)));
    for (ext, attrs) in scopes {
        let old_scope = match ext {
            Some(urn) => get_ci(existing, urn),
            None => Some(existing),
        };
        let new_scope = match ext {
            Some(urn) => new.get(urn),
            None => Some(&new),
        };
        for def in attrs.iter().filter(|d| d.mutability == Mutability::Immutable) {
            let old = old_scope.and_then(|s| get_ci(s, def.name));
            let now = new_scope.and_then(|s| s.get(def.name));
            if old.is_some() && old != now {
                return Err(ScimError::mutability(format!("`{}` is immutable and already set", def.name)));
            }
        }
    }
    Ok(new)
}

/// One entry of `attributes` or `excludedAttributes`, resolved against the schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selector {
    /// A whole extension, named by its URN.
    Extension(&'static str),
    /// An attribute (and maybe one sub-attribute) of the core schema or of an extension.
    Attr { ext: Option<&'static str>, attr: &'static str, sub: Option<&'static str> },
}

/// Reads a comma-separated attribute list; entries that do not parse or name nothing are skipped, as a
/// list naming an attribute the resource lacks simply returns less.
fn selectors(kind: Kind, list: &str) -> Vec<Selector> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|item| {
            if let Some(ext) = schema::extension(kind, item) {
                return Some(Selector::Extension(ext.id));
            }
            let r = schema::resolve(kind, &AttrPath::parse(item).ok()?)?;
            Some(Selector::Attr { ext: r.extension, attr: r.attr.name, sub: r.sub.map(|s| s.name) })
        })
        .collect()
}

/// The response form of a stored resource: its attributes with `id`, `meta` and `schemas` added, filtered by
/// `returned` (`password` never appears) and by the `attributes` / `excludedAttributes` query parameters of
/// RFC 7644 §3.9 (comma-separated paths such as `userName,name.givenName,urn:...:enterprise:2.0:User:manager`;
/// `attributes` wins when both are given, and `id` and `schemas` are always returned).
pub fn render(
    kind: Kind,
    stored: &Value,
    id: &str,
    meta: &Meta,
    base_url: &str,
    attributes: Option<&str>,
    excluded: Option<&str>,
) -> Value {
    let wanted = attributes.map(|a| selectors(kind, a));
    let excluded = if wanted.is_some() { Vec::new() } else { excluded.map(|e| selectors(kind, e)).unwrap_or_default() };
    let sel = Selection { wanted: wanted.as_deref(), excluded: &excluded };
    let mut out = Map::new();
    for def in schema::COMMON_ATTRIBUTES.iter().chain(schema::core_schema(kind).attributes) {
        if def.name == "id" || def.name == "meta" {
            continue;
        }
        if let Some(v) = get_ci(stored, def.name).and_then(|v| sel.project(def, None, v)) {
            out.insert(def.name.to_owned(), v);
        }
    }
    out.insert("id".to_owned(), Value::String(id.to_owned()));
    let meta_def = schema::common_attribute("meta");
    let meta_json = json!({
        "resourceType": kind.resource_type(),
        "created": meta.created.to_string(),
        "lastModified": meta.last_modified.to_string(),
        "location": location(kind, base_url, id),
    });
    let mut meta_json = match meta_def.and_then(|d| sel.project(d, None, &meta_json)) {
        Some(m) => m,
        None => Value::Null,
    };
    if let (Some(v), Some(m)) = (&meta.version, meta_json.as_object_mut()) {
        m.insert("version".to_owned(), Value::String(v.clone()));
    }
    if !meta_json.is_null() {
        out.insert("meta".to_owned(), meta_json);
    }
    for ext in schema::extensions(kind) {
        let Some(obj) = get_ci(stored, ext.id) else { continue };
        let whole = sel.wanted.is_some_and(|w| w.contains(&Selector::Extension(ext.id)));
        if sel.excluded.contains(&Selector::Extension(ext.id)) {
            continue;
        }
        let ext_sel = Selection { wanted: if whole { None } else { sel.wanted }, excluded: sel.excluded };
        let mut m = Map::new();
        for def in ext.attributes {
            if let Some(v) = get_ci(obj, def.name).and_then(|v| ext_sel.project(def, Some(ext.id), v)) {
                m.insert(def.name.to_owned(), v);
            }
        }
        if !m.is_empty() {
            out.insert(ext.id.to_owned(), Value::Object(m));
        }
    }
    set_schemas(kind, &mut out);
    Value::Object(out)
}

/// The `attributes` and `excludedAttributes` lists in force while rendering.
struct Selection<'a> {
    wanted: Option<&'a [Selector]>,
    excluded: &'a [Selector],
}

impl Selection<'_> {
    /// The part of attribute `def`'s value `v` to return, or `None` to leave the attribute out.
    fn project(&self, def: &'static AttrDef, ext: Option<&'static str>, v: &Value) -> Option<Value> {
        match def.returned {
            Returned::Never => return None,
            Returned::Always => return Some(v.clone()),
            Returned::Default | Returned::Request => {}
        }
        let mine = |s: &&Selector| matches!(s, Selector::Attr { ext: e, attr, .. } if *e == ext && *attr == def.name);
        let subs_of = |list: &[Selector]| -> Vec<&'static str> {
            list.iter()
                .filter(mine)
                .filter_map(|s| match s {
                    Selector::Attr { sub, .. } => *sub,
                    Selector::Extension(_) => None,
                })
                .collect()
        };
        let whole = |list: &[Selector]| list.iter().filter(mine).any(|s| matches!(s, Selector::Attr { sub: None, .. }));
        let mut v = strip_never(def, v.clone());
        match self.wanted {
            Some(w) if whole(w) => {}
            Some(w) => {
                let keep = subs_of(w);
                if keep.is_empty() {
                    return None;
                }
                v = retain_subs(v, |name| keep.contains(&name))?;
            }
            None if def.returned == Returned::Request => return None,
            None => {}
        }
        if whole(self.excluded) {
            return None;
        }
        let drop = subs_of(self.excluded);
        if !drop.is_empty() {
            v = retain_subs(v, |name| !drop.contains(&name))?;
        }
        Some(v)
    }
}

/// Removes sub-attributes whose `returned` is `never`.
fn strip_never(def: &'static AttrDef, v: Value) -> Value {
    if def.sub_attributes.iter().all(|s| s.returned != Returned::Never) {
        return v;
    }
    retain_subs(v.clone(), |name| def.sub(name).is_none_or(|s| s.returned != Returned::Never)).unwrap_or(v)
}

/// Keeps only the sub-attributes `keep` accepts, in a complex value or in each value of a multi-valued one;
/// `None` when nothing is left.
fn retain_subs(v: Value, keep: impl Fn(&str) -> bool) -> Option<Value> {
    let one = |x: Value| -> Option<Value> {
        match x {
            Value::Object(m) => {
                let m: Map<String, Value> = m.into_iter().filter(|(k, _)| keep(k)).collect();
                (!m.is_empty()).then_some(Value::Object(m))
            }
            other => Some(other),
        }
    };
    match v {
        Value::Array(items) => {
            let items: Vec<Value> = items.into_iter().filter_map(one).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => one(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::ScimType;

    const ENTERPRISE: &str = schema::ENTERPRISE_USER_SCHEMA;
    const SIGNOFF: &str = schema::SIGNOFF_USER_SCHEMA;

    fn meta() -> Meta {
        Meta {
            created: "2026-01-02T03:04:05Z".parse().expect("timestamp"),
            last_modified: "2026-02-03T04:05:06Z".parse().expect("timestamp"),
            version: None,
        }
    }

    /// An Okta-style create body, with the extras clients send back: id, meta, groups, a password.
    fn okta_user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "id": "client-chosen",
            "meta": {"resourceType": "User"},
            "UserName": "ana@example.com",
            "name": {"givenName": "Ana", "familyName": "Diaz"},
            "emails": {"primary": true, "value": "ana@example.com", "type": "work"},
            "password": "hunter2",
            "active": "True",
            "groups": [{"value": "g1"}],
            "favouriteColour": "blue",
            "urn:example:unknown:2.0:User": {"x": 1},
            ENTERPRISE: {"department": "Eng", "manager": {"value": "m1", "displayName": "Raj"}},
            "urn:signoff:params:scim:schemas:extension:2.0:User:grade": "5",
        })
    }

    #[test]
    fn normalize_canonicalises_coerces_and_drops_what_the_client_does_not_own() {
        let u = normalize(Kind::User, okta_user()).expect("valid");
        assert_eq!(
            u,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, SIGNOFF],
                "userName": "ana@example.com",
                "name": {"givenName": "Ana", "familyName": "Diaz"},
                "emails": [{"primary": true, "value": "ana@example.com", "type": "work"}],
                "active": true,
                ENTERPRISE: {"department": "Eng", "manager": {"value": "m1"}},
                SIGNOFF: {"grade": 5},
            })
        );
        assert_eq!(normalize(Kind::User, u.clone()), Ok(u), "normalize is idempotent");
    }

    #[test]
    fn normalize_errors_name_the_attribute_and_not_the_value() {
        let cases = [
            (Kind::User, json!({"name": {"givenName": "x"}}), ScimType::InvalidValue, "`userName` is required"),
            (Kind::User, json!({"userName": "  "}), ScimType::InvalidValue, "`userName` is required"),
            (Kind::Group, json!({"members": []}), ScimType::InvalidValue, "`displayName` is required"),
            (
                Kind::User,
                json!({"userName": "a", "active": "yes-secret"}),
                ScimType::InvalidValue,
                "`active` must be a boolean",
            ),
            (Kind::User, json!({"userName": 7}), ScimType::InvalidValue, "`userName` must be a string"),
            (
                Kind::User,
                json!({"userName": "a", "name": "secret"}),
                ScimType::InvalidValue,
                "`name` must be an object",
            ),
            (
                Kind::User,
                json!({"userName": "a", "emails": [{"value": 1}]}),
                ScimType::InvalidValue,
                "`emails.value` must be a string",
            ),
            (
                Kind::User,
                json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": "True"}]}),
                ScimType::InvalidValue,
                "at most one value of `emails`",
            ),
            (
                Kind::User,
                json!({"userName": "a", SIGNOFF: {"grade": "five-secret"}}),
                ScimType::InvalidValue,
                "grade` must be an integer",
            ),
            (
                Kind::User,
                json!({"userName": "a", SIGNOFF: {"outOfOfficeUntil": "tomorrow-secret"}}),
                ScimType::InvalidValue,
                "outOfOfficeUntil` must be a date-time",
            ),
            (Kind::User, json!({"userName": "a", ENTERPRISE: "secret"}), ScimType::InvalidValue, "must be an object"),
            (Kind::User, json!(["secret"]), ScimType::InvalidSyntax, "must be a JSON object"),
            (
                Kind::User,
                json!({"userName": "a", "schemas": "secret"}),
                ScimType::InvalidSyntax,
                "`schemas` must be an array",
            ),
        ];
        for (kind, body, t, detail) in cases {
            let e = normalize(kind, body.clone()).expect_err(&body.to_string());
            assert_eq!((e.status, e.scim_type), (400, Some(t)), "{body}");
            assert!(e.detail.contains(detail), "{body}: {}", e.detail);
            assert!(!e.detail.contains("secret"), "{body}: {}", e.detail);
        }
    }

    #[test]
    fn render_adds_id_meta_and_never_returns_the_password() {
        let mut stored = normalize(Kind::User, okta_user()).expect("valid");
        if let Some(o) = stored.as_object_mut() {
            o.insert("password".into(), json!("hunter2"));
        }
        let out = render(Kind::User, &stored, "u-1", &meta(), "https://x/scim/v2/", None, None);
        assert_eq!(out["id"], "u-1");
        assert_eq!(
            out["meta"],
            json!({"resourceType": "User", "created": "2026-01-02T03:04:05Z",
                   "lastModified": "2026-02-03T04:05:06Z", "location": "https://x/scim/v2/Users/u-1"})
        );
        assert!(out.get("password").is_none());
        assert_eq!(out[ENTERPRISE]["department"], "Eng");
        let versioned =
            render(Kind::User, &stored, "u-1", &Meta { version: Some("W/\"3\"".into()), ..meta() }, "b", None, None);
        assert_eq!(versioned["meta"]["version"], "W/\"3\"");
    }

    #[test]
    fn render_applies_attributes_and_excluded_attributes() {
        let stored = normalize(Kind::User, okta_user()).expect("valid");
        let r = |a: Option<&str>, e: Option<&str>| render(Kind::User, &stored, "u-1", &meta(), "b", a, e);
        let only = r(
            Some(
                "userName, name.familyName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,password",
            ),
            None,
        );
        assert_eq!(
            only,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "id": "u-1",
                "userName": "ana@example.com",
                "name": {"familyName": "Diaz"},
                "emails": [{"value": "ana@example.com"}],
                ENTERPRISE: {"department": "Eng"},
            })
        );
        let whole_ext = r(Some(&format!("{SIGNOFF},meta")), None);
        assert_eq!(whole_ext[SIGNOFF], json!({"grade": 5}));
        assert_eq!(whole_ext["meta"]["resourceType"], "User");
        assert!(whole_ext.get("userName").is_none());
        let without = r(None, Some("emails,name.givenName,id,meta,urn:signoff:params:scim:schemas:extension:2.0:User"));
        assert_eq!(without["id"], "u-1", "id is returned always");
        assert!(without.get("emails").is_none() && without.get("meta").is_none() && without.get(SIGNOFF).is_none());
        assert_eq!(without["name"], json!({"familyName": "Diaz"}));
        assert_eq!(without["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]));
    }

    #[test]
    fn put_replaces_everything_the_client_owns() {
        let existing = normalize(Kind::User, okta_user()).expect("valid");
        let put =
            apply_put(Kind::User, &existing, json!({"userName": "ana@example.com", "title": "CTO"})).expect("valid");
        assert_eq!(
            put,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ana@example.com", "title": "CTO"})
        );
        let g = normalize(Kind::Group, json!({"displayName": "Ops", "members": [{"value": "u1"}]})).expect("valid");
        let put =
            apply_put(Kind::Group, &g, json!({"displayName": "Ops", "members": [{"value": "u2"}]})).expect("valid");
        assert_eq!(put["members"], json!([{"value": "u2"}]));
        assert!(apply_put(Kind::Group, &g, json!({"members": []})).is_err());
    }

    #[test]
    fn the_kind_of_a_resource_comes_from_its_schemas_or_meta() {
        assert_eq!(Kind::of(&json!({"schemas": [schema::GROUP_SCHEMA]})), Kind::Group);
        assert_eq!(Kind::of(&json!({"meta": {"resourceType": "Group"}})), Kind::Group);
        assert_eq!(Kind::of(&json!({"userName": "a"})), Kind::User);
    }
}
