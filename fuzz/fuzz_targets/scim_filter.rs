//! The SCIM filter and attribute path parsers (`scim::parse_filter`, `scim::parse_path`, `AttrPath::parse`) on
//! arbitrary text. A filter that parses is validated against both resource types, matched against a stored user
//! and group, and printed: the printed form parses back to a filter that prints the same.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use signoff::scim::{AttrPath, Kind, normalize, parse_filter, parse_path};

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
            "displayName": "Dana Reyes",
            "title": "Engineer",
            "active": true,
            "externalId": "00u42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                { "department": "Sales", "employeeNumber": "8000", "manager": { "value": "raj" } }
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
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(filter) = parse_filter(text) {
        for (kind, resource) in resources() {
            let _ = filter.validate(*kind);
            let _ = filter.matches_kind(*kind, resource);
            let _ = filter.matches(resource);
        }
        let _ = filter.eq_lookup();
        let printed = filter.to_string();
        let back = parse_filter(&printed).unwrap_or_else(|e| panic!("printed filter {printed:?} does not parse: {e}"));
        assert_eq!(back.to_string(), printed, "the printed filter is not stable");
    }
    if let Ok(path) = parse_path(text) {
        let printed = path.to_string();
        let back = parse_path(&printed).unwrap_or_else(|e| panic!("printed path {printed:?} does not parse: {e}"));
        assert_eq!(back.to_string(), printed, "the printed path is not stable");
    }
    let _ = AttrPath::parse(text);
});
