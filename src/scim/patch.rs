//! PATCH (RFC 7644 §3.5.2) as the RFC writes it and as Okta and Microsoft Entra send it.
//!
//! What the identity providers do that the RFC's examples do not:
//! - op names in any case (`Add`, `Replace`, `Remove`: Entra);
//! - booleans as the strings `"True"`/`"False"` (Entra's `{"op":"Replace","path":"active","value":"False"}`);
//! - a `value` object without `path` whose keys are themselves paths (`"name.givenName"`,
//!   `"emails[type eq \"work\"].value"`, `"urn:...:enterprise:2.0:User:department"`: Entra), or hold `id`
//!   next to the change (Okta's group rename);
//! - `remove` of `members` with a `value` list naming the members to drop (Entra) besides the filter form
//!   `members[value eq "id"]` (Okta, Entra);
//! - the manager as a bare string id (Entra) or `{"value": id}`;
//! - `add`/`replace` on `emails[type eq "work"].value` for a user with no work email yet (Entra), which
//!   creates the email with `type` work.
//!
//! Where the RFC would fail an identity provider's ordinary retry, the server is forgiving and says so here:
//! a `remove` whose filter matches nothing succeeds without change (Okta and Entra re-send removals, and a
//! 400 would show as a provisioning failure); keys of a path-less `value` object that name unknown
//! attributes, readOnly attributes (`id`, `meta`, `groups`) or `password` are skipped, as in a POST body.
//! An explicit `path` to an unknown attribute of a declared schema is 400 invalidPath, to a readOnly one
//! 400 mutability. The result is validated again with [`normalize`], so a PATCH can never store what a PUT
//! could not.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, CompValue, CompareOp, Filter, PathExpr, get_ci, parse_path};
use super::resource::{Kind, normalize, normalize_value};
use super::schema::{self, AttrDef, Mutability, PATCH_OP_SCHEMA, Resolved};

/// The three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Replace => "replace",
            Op::Remove => "remove",
        }
    }
}

/// Applies a PATCH request body to a stored resource and returns the new stored form. Operations apply in
/// order, all or nothing: the first failing one fails the request (its number is in the error's detail).
pub fn apply_patch(kind: Kind, resource: &Value, body: &Value) -> Result<Value, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax("a PATCH body must be a JSON object"));
    }
    let has_schema = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA))));
    if !has_schema {
        return Err(ScimError::invalid_syntax(format!("a PATCH body's `schemas` must contain {PATCH_OP_SCHEMA}")));
    }
    let Some(ops) = get_ci(body, "Operations").and_then(Value::as_array).filter(|o| !o.is_empty()) else {
        return Err(ScimError::invalid_syntax("a PATCH body needs a non-empty `Operations` array"));
    };
    let mut doc = normalize(kind, resource.clone())?;
    for (i, op) in ops.iter().enumerate() {
        apply_op(kind, &mut doc, op)
            .map_err(|e| ScimError { detail: format!("operation {}: {}", i + 1, e.detail), ..e })?;
    }
    normalize(kind, doc)
}

fn apply_op(kind: Kind, doc: &mut Value, op: &Value) -> Result<(), ScimError> {
    if !op.is_object() {
        return Err(ScimError::invalid_syntax("each operation must be a JSON object"));
    }
    let Some(name) = get_ci(op, "op").and_then(Value::as_str) else {
        return Err(ScimError::invalid_syntax("an operation needs `op` (add, replace or remove)"));
    };
    let op_kind = match name.to_ascii_lowercase().as_str() {
        "add" => Op::Add,
        "replace" => Op::Replace,
        "remove" => Op::Remove,
        _ => return Err(ScimError::invalid_syntax("`op` must be add, replace or remove")),
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) if schema::extension(kind, p.trim()).is_some() => {
            // A whole extension (`"path": "urn:...:enterprise:2.0:User"`): remove it, or apply its attributes.
            let urn = p.trim();
            let value = get_ci(op, "value").cloned();
            return match (op_kind, value) {
                (Op::Remove, _) => {
                    if let (Some(ext), Some(root)) = (schema::extension(kind, urn), doc.as_object_mut()) {
                        root.remove(ext.id);
                    }
                    Ok(())
                }
                (_, Some(v @ Value::Object(_))) => apply_keyed(kind, doc, op_kind, urn, v),
                _ => Err(ScimError::invalid_value(format!("{} of `{urn}` needs a `value` object", op_kind.as_str()))),
            };
        }
        Some(Value::String(p)) => Some(parse_path(p)?),
        Some(_) => return Err(ScimError::invalid_path("`path` must be a string")),
    };
    let value = get_ci(op, "value").cloned();
    match (path, op_kind) {
        (Some(path), _) => apply_path(kind, doc, op_kind, &path, value, false),
        (None, Op::Remove) => Err(ScimError::no_target("remove needs a `path`")),
        (None, _) => match value {
            Some(Value::Object(attrs)) => {
                for (key, v) in attrs {
                    apply_keyed(kind, doc, op_kind, &key, v)?;
                }
                Ok(())
            }
            _ => Err(ScimError::invalid_value(format!(
                "{} without `path` needs a `value` object of attributes",
                op_kind.as_str()
            ))),
        },
    }
}

/// One key of a path-less `value` object: an attribute, a path, or an extension URN holding attributes.
fn apply_keyed(kind: Kind, doc: &mut Value, op: Op, key: &str, v: Value) -> Result<(), ScimError> {
    if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(key)) {
        return Ok(());
    }
    if let Some(ext) = schema::extension(kind, key) {
        if let Value::Object(attrs) = v {
            for (k, x) in attrs {
                let Ok(mut path) = parse_path(&k) else { continue };
                if path.attr.urn.is_none() {
                    path.attr.urn = Some(ext.id.to_owned());
                    apply_path(kind, doc, op, &path, Some(x), true)?;
                }
            }
        }
        return Ok(());
    }
    match parse_path(key) {
        Ok(path) => apply_path(kind, doc, op, &path, Some(v), true),
        Err(_) => Ok(()),
    }
}

/// Whether the path is qualified by a URN that is none of `kind`'s schemas (a custom extension the client
/// knows and signoff does not): such attributes are ignored, as in a POST body.
fn undeclared_schema(kind: Kind, attr: &AttrPath) -> bool {
    attr.urn
        .as_deref()
        .is_some_and(|u| !u.eq_ignore_ascii_case(kind.schema_urn()) && schema::extension(kind, u).is_none())
}

/// Applies one operation at `path`. `lenient` for keys of a path-less value object: unknown and readOnly
/// attributes are skipped there instead of failing.
fn apply_path(
    kind: Kind,
    doc: &mut Value,
    op: Op,
    path: &PathExpr,
    value: Option<Value>,
    lenient: bool,
) -> Result<(), ScimError> {
    let Some(r) = schema::resolve(kind, &path.attr) else {
        if lenient || undeclared_schema(kind, &path.attr) {
            return Ok(());
        }
        return Err(ScimError::invalid_path(format!(
            "`{}` is not an attribute of a {}",
            path.attr,
            kind.resource_type()
        )));
    };
    let target = r.target();
    if r.attr.mutability == Mutability::ReadOnly || target.mutability == Mutability::ReadOnly {
        if lenient {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("`{}` is readOnly", path.attr)));
    }
    if target.mutability == Mutability::WriteOnly {
        // `password`: accepted and discarded (see `normalize`).
        return Ok(());
    }
    if path.filter.is_some() && !r.attr.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "`{}` is not multi-valued, so it takes no value filter",
            r.attr.name
        )));
    }
    if op != Op::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("{} of `{}` needs a `value`", op.as_str(), path.attr)));
    }
    let Value::Object(root) = doc else {
        return Err(ScimError::invalid_syntax("the resource is not a JSON object"));
    };
    let container = match r.extension {
        None => root,
        Some(urn) => {
            let slot = root.entry(urn.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot {
                Value::Object(m) => m,
                _ => return Ok(()),
            }
        }
    };
    let shown = path.attr.to_string();
    match (&path.filter, r.sub) {
        (None, None) => whole_attribute(container, r, op, value, &shown),
        (None, Some(sub)) => sub_attribute(container, r, sub, op, value, &shown),
        (Some(filter), sub) => filtered(container, r, filter, sub, op, value, &shown),
    }
}

/// Two values of a multi-valued attribute are the same when their `value` sub-attributes are equal (the
/// member id, the email address), or when they are equal as a whole.
fn same_item(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

/// Merges the sub-attributes of `new` into `old` (both complex values).
fn merge(old: &mut Value, new: Value) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => o.extend(n),
        (old, new) => *old = new,
    }
}

fn check_immutable(def: &AttrDef, old: Option<&Value>, new: Option<&Value>, shown: &str) -> Result<(), ScimError> {
    if def.mutability == Mutability::Immutable && old.is_some() && old != new {
        return Err(ScimError::mutability(format!("`{shown}` is immutable and already set")));
    }
    Ok(())
}

/// `path` names a whole attribute: `active`, `name`, `members`, `urn:...:manager`.
fn whole_attribute(
    container: &mut Map<String, Value>,
    r: Resolved,
    op: Op,
    value: Option<Value>,
    shown: &str,
) -> Result<(), ScimError> {
    let attr = r.attr;
    let name = attr.name;
    if op == Op::Remove {
        check_immutable(attr, container.get(name), None, shown)?;
        match (attr.multi_valued, value) {
            (true, Some(v)) if !v.is_null() => {
                // Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]}.
                let drop = normalize_value(attr, shown, v)?.and_then(|v| v.as_array().cloned()).unwrap_or_default();
                if let Some(Value::Array(items)) = container.get_mut(name) {
                    items.retain(|item| !drop.iter().any(|d| same_item(item, d)));
                }
            }
            _ => {
                container.remove(name);
            }
        }
        return Ok(());
    }
    let new = normalize_value(attr, shown, value.unwrap_or(Value::Null))?;
    // Setting an immutable attribute for the first time is allowed: `check_immutable` looks at the old value.
    check_immutable(attr, container.get(name), new.as_ref(), shown)?;
    let Some(new) = new else {
        if op == Op::Replace {
            container.remove(name);
        }
        return Ok(());
    };
    match (op, attr.multi_valued, container.get_mut(name)) {
        (Op::Add, true, Some(Value::Array(items))) => {
            for item in new.as_array().cloned().unwrap_or_default() {
                if is_primary(&item) {
                    items.iter_mut().filter_map(Value::as_object_mut).for_each(|o| {
                        o.remove("primary");
                    });
                }
                match items.iter_mut().find(|i| same_item(i, &item)) {
                    Some(existing) => merge(existing, item),
                    None => items.push(item),
                }
            }
        }
        (_, false, Some(old)) if !attr.sub_attributes.is_empty() && old.is_object() => merge(old, new),
        _ => {
            container.insert(name.to_owned(), new);
        }
    }
    Ok(())
}

/// `path` names a sub-attribute without a filter: `name.givenName`, `urn:...:manager.value`, or
/// `emails.value` (every email).
fn sub_attribute(
    container: &mut Map<String, Value>,
    r: Resolved,
    sub: &'static AttrDef,
    op: Op,
    value: Option<Value>,
    shown: &str,
) -> Result<(), ScimError> {
    let new = match op {
        Op::Remove => None,
        _ => normalize_value(sub, shown, value.unwrap_or(Value::Null))?,
    };
    let name = r.attr.name;
    if r.attr.multi_valued {
        let items = match container.get_mut(name) {
            Some(Value::Array(items)) => items,
            _ => {
                if let Some(v) = new {
                    container.insert(name.to_owned(), Value::Array(vec![object([(sub.name, v)])]));
                }
                return Ok(());
            }
        };
        for item in items.iter_mut() {
            set_sub(item, sub, new.clone(), shown)?;
        }
        items.retain(|i| i.as_object().is_some_and(|o| !o.is_empty()));
        return Ok(());
    }
    match container.get_mut(name) {
        Some(obj @ Value::Object(_)) => set_sub(obj, sub, new, shown)?,
        _ => {
            if let Some(v) = new {
                container.insert(name.to_owned(), object([(sub.name, v)]));
            }
        }
    }
    Ok(())
}

fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Sets (or with `None` removes) one sub-attribute of a complex value.
fn set_sub(item: &mut Value, sub: &'static AttrDef, new: Option<Value>, shown: &str) -> Result<(), ScimError> {
    let Value::Object(obj) = item else { return Ok(()) };
    check_immutable(sub, obj.get(sub.name), new.as_ref(), shown)?;
    match new {
        Some(v) => obj.insert(sub.name.to_owned(), v),
        None => obj.remove(sub.name),
    };
    Ok(())
}

/// The sub-attribute values a filter made only of `eq` comparisons joined by `and` pins down
/// (`type eq "work"`), from which `add`/`replace` create a value when none matches; `None` for any other
/// filter.
fn eq_conditions(attr: &AttrDef, f: &Filter) -> Option<Vec<(&'static str, Value)>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, lit) if p.urn.is_none() && p.sub.is_none() => {
            let sub = attr.sub(&p.name)?;
            let v = match lit {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return None,
            };
            Some(vec![(sub.name, v)])
        }
        Filter::And(a, b) => {
            let mut conds = eq_conditions(attr, a)?;
            conds.extend(eq_conditions(attr, b)?);
            Some(conds)
        }
        _ => None,
    }
}

/// `path` has a value filter: `members[value eq "id"]`, `emails[type eq "work"].value`.
fn filtered(
    container: &mut Map<String, Value>,
    r: Resolved,
    filter: &Filter,
    sub: Option<&'static AttrDef>,
    op: Op,
    value: Option<Value>,
    shown: &str,
) -> Result<(), ScimError> {
    let attr = r.attr;
    let element_def = AttrDef { multi_valued: false, ..*attr };
    let new = match (op, sub) {
        (Op::Remove, _) => None,
        (_, Some(sub)) => normalize_value(sub, shown, value.unwrap_or(Value::Null))?,
        (_, None) => normalize_value(&element_def, shown, value.unwrap_or(Value::Null))?,
    };
    let mut items = match container.remove(attr.name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let hits: Vec<usize> =
        items.iter().enumerate().filter(|(_, i)| filter.matches_value(Some(attr), i)).map(|(n, _)| n).collect();
    let result = (|| {
        if hits.is_empty() {
            if op == Op::Remove {
                return Ok(());
            }
            let Some(conds) = eq_conditions(attr, filter) else {
                return Err(ScimError::no_target(format!("no value of `{}` matches the filter", attr.name)));
            };
            let mut created = Value::Object(conds.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            match (sub, new) {
                (Some(sub), Some(v)) => set_sub(&mut created, sub, Some(v), shown)?,
                (None, Some(v)) => merge(&mut created, v),
                (_, None) => return Ok(()),
            }
            items.push(created);
            return Ok(());
        }
        for &n in hits.iter().rev() {
            let Some(item) = items.get_mut(n) else { continue };
            match (op, sub) {
                (Op::Remove, None) => {
                    items.remove(n);
                }
                (_, Some(sub)) => set_sub(item, sub, new.clone(), shown)?,
                (_, None) => match new.clone() {
                    Some(v) => merge(item, v),
                    None => {
                        items.remove(n);
                    }
                },
            }
        }
        items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
        Ok(())
    })();
    if !items.is_empty() {
        container.insert(attr.name.to_owned(), Value::Array(items));
    }
    result
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::scim::ScimType;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        normalize(
            Kind::User,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "test.user@okta.local",
                "name": {"givenName": "Test", "familyName": "User"},
                "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
                "active": true,
            }),
        )
        .expect("valid user")
    }

    fn group() -> Value {
        normalize(
            Kind::Group,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Test SCIMv2",
                "members": [{"value": "u1", "display": "one@okta.local"}, {"value": "u2"}],
            }),
        )
        .expect("valid group")
    }

    fn patch(ops: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    }

    fn members(g: &Value) -> Vec<&str> {
        g["members"].as_array().into_iter().flatten().filter_map(|m| m["value"].as_str()).collect()
    }

    #[test]
    fn okta_deactivates_a_user_with_a_pathless_replace() {
        let body = patch(json!([{"op": "replace", "value": {"active": false}}]));
        let out = apply_patch(Kind::User, &user(), &body).expect("applies");
        assert_eq!(out["active"], false);
        assert_eq!(out["userName"], "test.user@okta.local");
    }

    #[test]
    fn okta_renames_a_group_ignoring_the_id_it_sends_along() {
        let body = patch(json!([{"op": "replace", "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
                                                               "displayName": "Test SCIMv2 renamed"}}]));
        let out = apply_patch(Kind::Group, &group(), &body).expect("applies");
        assert_eq!(out["displayName"], "Test SCIMv2 renamed");
        assert!(out.get("id").is_none());
    }

    #[test]
    fn okta_adds_and_removes_members() {
        let add = patch(json!([{"op": "add", "path": "members",
                                "value": [{"value": "u3", "display": "three@okta.local"}, {"value": "u1"}]}]));
        let out = apply_patch(Kind::Group, &group(), &add).expect("adds");
        assert_eq!(members(&out), ["u1", "u2", "u3"], "merged without duplicates");
        let remove = patch(json!([{"op": "remove", "path": "members[value eq \"u2\"]"}]));
        let out = apply_patch(Kind::Group, &out, &remove).expect("removes");
        assert_eq!(members(&out), ["u1", "u3"]);
        let again = apply_patch(Kind::Group, &out, &remove).expect("removing a non-member changes nothing");
        assert_eq!(again, out);
        let replace = patch(json!([{"op": "replace", "path": "members", "value": [{"value": "u9"}]}]));
        assert_eq!(members(&apply_patch(Kind::Group, &out, &replace).expect("replaces")), ["u9"]);
    }

    #[test]
    fn entra_replaces_with_capitalised_ops_and_string_booleans() {
        let body = patch(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        ]));
        let out = apply_patch(Kind::User, &user(), &body).expect("applies");
        assert_eq!(out["active"], false);
        assert_eq!(out["name"], json!({"givenName": "Test", "familyName": "updatedFamilyName"}));
        assert_eq!(out["emails"], json!([{"primary": true, "value": "updatedEmail@microsoft.com", "type": "work"}]));
    }

    #[test]
    fn entra_adds_a_work_email_and_attributes_keyed_by_path() {
        let u = normalize(Kind::User, json!({"userName": "Test_User_ab6490ee@testuser.com"})).expect("valid");
        let body = patch(json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "Test_User_fd0ea19b@testuser.com"},
            {"op": "Add", "value": {
                "displayName": "Test User",
                "name.givenName": "Test",
                "nickName": "Tester",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
                "urn:ietf:params:scim:schemas:extension:CustomExtension:2.0:User:costCode": "x",
            }},
        ]));
        let out = apply_patch(Kind::User, &u, &body).expect("applies");
        assert_eq!(out["emails"], json!([{"type": "work", "value": "Test_User_fd0ea19b@testuser.com"}]));
        assert_eq!((&out["displayName"], &out["name"]["givenName"]), (&json!("Test User"), &json!("Test")));
        assert_eq!(out[ENTERPRISE]["department"], "Sales");
        assert_eq!(out["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]));
    }

    #[test]
    fn entra_sets_and_removes_the_manager() {
        let path = format!("{ENTERPRISE}:manager");
        let body = patch(json!([{"op": "Add", "path": path, "value": "26118915-6090-4610-87e4-49d8ca9f808d"}]));
        let out = apply_patch(Kind::User, &user(), &body).expect("bare string");
        assert_eq!(out[ENTERPRISE]["manager"], json!({"value": "26118915-6090-4610-87e4-49d8ca9f808d"}));
        let body = patch(json!([{"op": "replace", "path": path, "value": {"value": "m2"}}]));
        let out = apply_patch(Kind::User, &out, &body).expect("object");
        assert_eq!(out[ENTERPRISE]["manager"]["value"], "m2");
        let body = patch(json!([{"op": "Remove", "path": path}]));
        let out = apply_patch(Kind::User, &out, &body).expect("removes");
        assert!(out.get(ENTERPRISE).is_none(), "{out}");
    }

    #[test]
    fn entra_removes_members_with_a_value_list_and_adds_with_one() {
        let body = patch(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}]));
        let out = apply_patch(Kind::Group, &group(), &body).expect("removes");
        assert_eq!(members(&out), ["u2"]);
        let body = patch(json!([{"op": "Add", "path": "members", "value": [{"value": "u7"}]}]));
        assert_eq!(members(&apply_patch(Kind::Group, &out, &body).expect("adds")), ["u2", "u7"]);
        let body = patch(json!([{"op": "Replace", "path": "displayName", "value": "renamed"}]));
        assert_eq!(apply_patch(Kind::Group, &out, &body).expect("renames")["displayName"], "renamed");
    }

    #[test]
    fn a_new_primary_email_demotes_the_old_one() {
        let body = patch(json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "primary": true}]}]));
        let out = apply_patch(Kind::User, &user(), &body).expect("applies");
        assert_eq!(out["emails"].as_array().map(|e| e.iter().filter(|e| e["primary"] == true).count()), Some(1));
        assert_eq!(out["emails"][1]["value"], "b@x");
    }

    #[test]
    fn errors_use_the_rfc_keywords() {
        let u = user();
        let cases = [
            (json!({"Operations": [{"op": "replace", "value": {"active": false}}]}), ScimType::InvalidSyntax),
            (patch(json!([])), ScimType::InvalidSyntax),
            (patch(json!([{"op": "frobnicate", "path": "active"}])), ScimType::InvalidSyntax),
            (patch(json!([{"op": "remove"}])), ScimType::NoTarget),
            (
                patch(
                    json!([{"op": "replace", "path": "emails[type eq \"home\" or primary eq false].value", "value": "x"}]),
                ),
                ScimType::NoTarget,
            ),
            (patch(json!([{"op": "replace", "path": "nope", "value": 1}])), ScimType::InvalidPath),
            (patch(json!([{"op": "replace", "path": "emails[type eq", "value": 1}])), ScimType::InvalidPath),
            (patch(json!([{"op": "replace", "path": "title[type eq \"x\"]", "value": 1}])), ScimType::InvalidPath),
            (patch(json!([{"op": "replace", "path": "active", "value": "maybe"}])), ScimType::InvalidValue),
            (patch(json!([{"op": "add", "path": "title"}])), ScimType::InvalidValue),
            (patch(json!([{"op": "remove", "path": "userName"}])), ScimType::InvalidValue),
            (patch(json!([{"op": "replace", "path": "groups", "value": []}])), ScimType::Mutability),
            (patch(json!([{"op": "replace", "path": "id", "value": "x"}])), ScimType::Mutability),
        ];
        for (body, expected) in cases {
            let e = apply_patch(Kind::User, &u, &body).expect_err(&body.to_string());
            assert_eq!((e.status, e.scim_type), (400, Some(expected)), "{body}: {}", e.detail);
        }
        let g = group();
        let body = patch(json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u5"}]));
        let e = apply_patch(Kind::Group, &g, &body).expect_err("members.value is immutable");
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        assert!(e.detail.starts_with("operation 1:"), "{}", e.detail);
    }

    #[test]
    fn a_whole_extension_can_be_replaced_and_removed() {
        let body =
            patch(json!([{"op": "replace", "path": ENTERPRISE, "value": {"department": "Ops", "costCenter": "8000"}}]));
        let out = apply_patch(Kind::User, &user(), &body).expect("replaces");
        assert_eq!(out[ENTERPRISE], json!({"department": "Ops", "costCenter": "8000"}));
        let out =
            apply_patch(Kind::User, &out, &patch(json!([{"op": "remove", "path": ENTERPRISE}]))).expect("removes");
        assert!(out.get(ENTERPRISE).is_none());
        assert_eq!(out["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
    }

    #[test]
    fn passwords_are_accepted_and_never_stored() {
        let body = patch(json!([{"op": "replace", "value": {"password": "hunter2"}},
                                {"op": "replace", "path": "password", "value": "hunter3"}]));
        let out = apply_patch(Kind::User, &user(), &body).expect("applies");
        assert!(!out.to_string().contains("hunter"));
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            prop::sample::select(vec!["True", "false", "x", "", "u1", "2026-01-01T00:00:00Z", "5"])
                .prop_map(|s| json!(s)),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "value",
            "type",
            "primary",
            "active",
            "userName",
            "displayName",
            "members",
            "emails",
            "name",
            "name.givenName",
            "manager",
            "id",
            "schemas",
            "display",
            ENTERPRISE,
            "urn:x:y:z",
            "emails[type eq \"work\"].value",
            "grade",
            "$ref",
        ])
        .prop_map(str::to_owned)
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn op() -> impl Strategy<Value = Value> {
        let name = prop::sample::select(vec!["add", "Replace", "REMOVE", "copy", ""]);
        let path = prop::option::of(prop_oneof![
            prop::sample::select(vec![
                "members",
                "members[value eq \"u1\"]",
                "members[value eq \"u1\"].display",
                "emails",
                "emails[type eq \"work\"].value",
                "emails[type eq \"work\" or primary eq true]",
                "emails.value",
                "name",
                "name.givenName",
                "active",
                "userName",
                "displayName",
                "groups",
                "id",
                "password",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                "urn:signoff:params:scim:schemas:extension:2.0:User:permissions",
                "members[",
            ])
            .prop_map(|s| json!(s)),
            any::<String>().prop_map(Value::String),
            json_leaf(),
        ]);
        (name, path, prop::option::of(json_value())).prop_map(|(name, path, value)| {
            let mut o = Map::new();
            o.insert("op".into(), json!(name));
            if let Some(p) = path {
                o.insert("path".into(), p);
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn patch_never_panics_and_its_result_is_stable(ops in prop::collection::vec(prop_oneof![op(), json_value()], 1..4)) {
            let body = patch(Value::Array(ops));
            for (kind, resource) in [(Kind::User, user()), (Kind::Group, group())] {
                if let Ok(out) = apply_patch(kind, &resource, &body) {
                    prop_assert_eq!(normalize(kind, out.clone()).ok(), Some(out));
                }
            }
        }
    }
}
