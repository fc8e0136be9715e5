//! SCIM PATCH (`scim::apply_patch`) with an arbitrary JSON body, applied to a stored user and a stored group.
//! Besides "never panics": a patch that applies gives a resource that is still an object with its `schemas`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use signoff::scim::{Kind, apply_patch, normalize};

fn resources() -> &'static [(Kind, Value); 2] {
    static R: OnceLock<[(Kind, Value); 2]> = OnceLock::new();
    R.get_or_init(|| {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "dana@example.com",
            "name": { "givenName": "Dana", "familyName": "Reyes" },
            "emails": [{ "primary": true, "value": "dana@example.com", "type": "work" },
                       { "value": "d@home.example", "type": "home" }],
            "phoneNumbers": [{ "value": "+1 555 0100", "type": "work" }],
            "displayName": "Dana Reyes",
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                { "department": "Sales", "manager": { "value": "raj" } }
        });
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Ops",
            "members": [{ "value": "dana", "display": "Dana" }, { "value": "raj" }]
        });
        [
            (Kind::User, normalize(Kind::User, user).expect("the user normalizes")),
            (Kind::Group, normalize(Kind::Group, group).expect("the group normalizes")),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    for (kind, resource) in resources() {
        match apply_patch(*kind, resource, &body) {
            Ok(patched) => {
                assert!(patched.is_object(), "a patched resource that is not an object");
                assert!(patched.get("schemas").is_some_and(Value::is_array), "a patched resource without schemas");
                let again = normalize(*kind, patched.clone()).expect("a stored form that does not normalize");
                assert_eq!(again, patched, "a patched resource that is not in stored form");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
