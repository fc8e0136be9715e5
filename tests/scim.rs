//! SCIM 2.0 provisioning (DESIGN 7.5), driven as Okta and Microsoft Entra drive it: the probe before each create,
//! the create, profile updates in each provider's PATCH dialect, deactivation, group push with member adds and
//! removes, and the errors they must be able to parse. Then what the directory makes of it: a provisioned person
//! can ask for access and their provisioned manager is asked, a provisioned entry overrides the file's, the people
//! survive a restart, and a second replica on PostgreSQL sees a change made on the first.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use signoff::access::{Scope, TokenSpec, digest};
use support::*;

const SCIM_TOKEN: &str = "test-scim-token";
const READER_TOKEN: &str = "test-reader-token";

fn scim_app(opts: AppOptions) -> AppOptions {
    let specs = vec![
        TokenSpec { name: "okta".into(), sha256: digest(SCIM_TOKEN), scopes: vec![Scope::Scim], as_: None },
        TokenSpec { name: "reader".into(), sha256: digest(READER_TOKEN), scopes: vec![Scope::Read], as_: None },
    ];
    opts.config(move |c| {
        c.directory.scim = true;
        c.api.token = specs.clone();
    })
    .tuning(signoff::runtime::Tuning { people_poll: Duration::from_millis(100), ..test_tuning() })
}

async fn scim(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Response {
    let body = body.map(|b| b.to_string());
    app.call(method, &format!("/scim/v2{path}"), body.as_deref(), Some(SCIM_TOKEN), Some("application/scim+json")).await
}

/// Asserts a SCIM error body with this status and `scimType`.
fn assert_scim_error(what: &str, r: &Response, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(ct.starts_with("application/scim+json"), "{what}: content-type {ct}");
    let body = r.json();
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{what}: {body}");
    assert_eq!(body["status"], status.to_string(), "{what}: {body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{what}: {body}");
    assert!(!body["detail"].as_str().unwrap_or_default().is_empty(), "{what}: says why: {body}");
    assert_eq!(body["error"], body["detail"], "{what}: the API's own error field says the same: {body}");
}

fn okta_user(login: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": login,
        "name": { "givenName": given, "familyName": family },
        "emails": [{ "primary": true, "value": login, "type": "work" }],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": format!("00u{}", login.len()),
        "groups": [],
        "password": "not-stored-1!",
        "active": true
    })
}

/// Waits until the running catalog knows `user` (every replica polls the people revision).
async fn wait_for_person(app: &TestApp, user: &str, present: bool) {
    app.wait_until(
        &format!("the directory {} {user}", if present { "has" } else { "lacks" }),
        Duration::from_secs(5),
        async |app| app.runtime().catalog().directory.user(user).is_some() == present,
    )
    .await;
}

/// Who was asked on a new request by `requester` for the MANAGER-governed `salesforce`.
async fn manager_asked(app: &TestApp, requester: &str) -> Vec<String> {
    let (status, body) =
        app.create_request(json!({ "requester": requester, "resource": "salesforce", "justification": "scim" })).await;
    assert_eq!(status, 201, "{body}");
    body["items"][0]["prompts"].as_array().unwrap().iter().map(|p| p["approver"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn okta_provisions_probes_updates_deactivates_and_pushes_groups() {
    for db in test_databases() {
        let app = spawn_app(scim_app(AppOptions::new().on(&db))).await;

        // Discovery, as Okta's "Test API credentials" does.
        let spc = scim(&app, "GET", "/ServiceProviderConfig", None).await;
        assert_eq!(spc.status, 200, "{}", spc.text);
        assert_eq!(spc.json()["patch"]["supported"], true);
        let types = scim(&app, "GET", "/ResourceTypes", None).await;
        assert_eq!(types.status, 200, "{}", types.text);
        assert!(types.text.contains("\"User\"") && types.text.contains("\"Group\""), "{}", types.text);
        let schemas = scim(&app, "GET", "/Schemas", None).await;
        assert!(schemas.text.contains("urn:signoff:params:scim:schemas:extension:2.0:User"), "{}", schemas.text);

        // The manager first, then the hire: probe, create, probe again.
        let probe =
            scim(&app, "GET", "/Users?filter=userName%20eq%20%22dana%40example.com%22&startIndex=1&count=100", None)
                .await;
        assert_eq!(probe.status, 200, "{}", probe.text);
        assert_eq!(probe.json()["totalResults"], 0);
        let dana = scim(&app, "POST", "/Users", Some(okta_user("dana@example.com", "Dana", "Reyes"))).await;
        assert_eq!(dana.status, 201, "{}", dana.text);
        let dana_id = dana.json()["id"].as_str().unwrap().to_owned();
        assert!(dana.headers.get("location").is_some(), "a 201 names the new resource");
        assert!(dana.json().get("password").is_none(), "a password is never returned: {}", dana.text);

        let mut hire = okta_user("new.hire@example.com", "Nia", "Hale");
        hire["schemas"] = json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:signoff:params:scim:schemas:extension:2.0:User"
        ]);
        hire["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
            json!({ "department": "Engineering", "manager": { "value": dana_id } });
        hire["urn:signoff:params:scim:schemas:extension:2.0:User"] = json!({ "slackId": "UNIA", "grade": 4 });
        let created = scim(&app, "POST", "/Users", Some(hire.clone())).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.json()["id"].as_str().unwrap().to_owned();
        let probe = scim(&app, "GET", "/Users?filter=userName%20eq%20%22NEW.HIRE%40example.com%22", None).await;
        assert_eq!(probe.json()["totalResults"], 1, "userName matches without regard to case: {}", probe.text);
        assert_eq!(probe.json()["Resources"][0]["id"], id.as_str());

        // The directory follows: the hire can ask, and their provisioned manager is the one asked.
        wait_for_person(&app, "new.hire@example.com", true).await;
        let catalog = app.runtime().catalog();
        let nia = catalog.directory.user("new.hire@example.com").unwrap();
        assert_eq!(nia.manager.as_deref(), Some("dana@example.com"));
        assert_eq!(nia.slack_id.as_deref(), Some("UNIA"));
        assert_eq!(nia.department.as_deref(), Some("Engineering"));
        assert_eq!(manager_asked(&app, "new.hire@example.com").await, vec!["dana@example.com".to_owned()]);

        // A duplicate userName, in another case: 409 uniqueness, nothing stored.
        let dup = scim(&app, "POST", "/Users", Some(okta_user("Dana@Example.com", "D", "R"))).await;
        assert_scim_error("duplicate userName", &dup, 409, Some("uniqueness"));
        assert_eq!(app.count("SELECT COUNT(*) FROM scim_users").await, 2);

        // Okta's profile update is a PUT of the whole user; its deactivation a PATCH without a path.
        let mut updated = hire.clone();
        updated["name"]["familyName"] = json!("Hale-Ortiz");
        let put = scim(&app, "PUT", &format!("/Users/{id}"), Some(updated)).await;
        assert_eq!(put.status, 200, "{}", put.text);
        assert_eq!(put.json()["name"]["familyName"], "Hale-Ortiz");
        let deactivate = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": { "active": false } }]
        });
        let patched = scim(&app, "PATCH", &format!("/Users/{id}"), Some(deactivate)).await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        assert_eq!(patched.json()["active"], false);
        app.wait_until("the hire is inactive", Duration::from_secs(5), async |app| {
            app.runtime().catalog().directory.user("new.hire@example.com").is_some_and(|u| !u.active)
        })
        .await;

        // Group push: create, add members, remove one, rename.
        let group = scim(
            &app,
            "POST",
            "/Groups",
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Payments On-Call", "members": [] })),
        )
        .await;
        assert_eq!(group.status, 201, "{}", group.text);
        let gid = group.json()["id"].as_str().unwrap().to_owned();
        let add = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "add", "path": "members", "value": [{ "value": dana_id, "display": "dana@example.com" }, { "value": id }] }]
        });
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), Some(add)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["members"].as_array().map(Vec::len), Some(2), "{}", r.text);
        let dana_now = scim(&app, "GET", &format!("/Users/{dana_id}"), None).await.json();
        assert_eq!(dana_now["groups"][0]["value"], gid.as_str(), "a user shows the groups they are in: {dana_now}");
        assert_eq!(dana_now["groups"][0]["display"], "Payments On-Call");
        let remove = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "remove", "path": format!("members[value eq \"{id}\"]") }]
        });
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), Some(remove)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["members"].as_array().map(Vec::len), Some(1), "{}", r.text);
        app.wait_until("the group in the directory", Duration::from_secs(5), async |app| {
            app.runtime()
                .catalog()
                .directory
                .group("Payments On-Call")
                .is_some_and(|g| g.members == vec!["dana@example.com".to_owned()])
        })
        .await;
        let by_name = scim(&app, "GET", "/Groups?filter=displayName%20eq%20%22payments%20on-call%22", None).await;
        assert_eq!(by_name.json()["totalResults"], 1, "{}", by_name.text);

        // Deletion: 204, then 404 with a SCIM body.
        let gone = scim(&app, "DELETE", &format!("/Groups/{gid}"), None).await;
        assert_eq!(gone.status, 204, "{}", gone.text);
        assert_scim_error("a deleted group", &scim(&app, "GET", &format!("/Groups/{gid}"), None).await, 404, None);

        // Every write is audited with the token that made it.
        let rows = app.audit_rows("scim.user.created").await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows.iter().all(|(_, d)| d["via"] == "api:okta"), "{rows:?}");
        assert_eq!(app.audit_rows("scim.user.updated").await.len(), 2);
        assert_eq!(app.audit_rows("scim.group.deleted").await.len(), 1);
        signoff_audit_verifies(&app).await;
    }
}

/// `signoff audit verify` passes: the chain holds, and every item replays on the catalog its rows name, which
/// includes the provisioned people it ran with.
async fn signoff_audit_verifies(app: &TestApp) {
    let options = signoff::audit::verify::Options {
        key: None,
        earlier_keys: Vec::new(),
        expect_head: None,
        current_catalog: Box::new(|| Err("no current catalog in this test".to_owned())),
    };
    let report = signoff::audit::verify::verify(app.store(), options).await.unwrap();
    assert!(report.is_intact(), "[{}] audit verify: {}", app.db_kind, report.lines().join("\n"));
}

#[tokio::test]
async fn entra_probes_creates_and_patches_in_its_own_dialect() {
    for db in test_databases() {
        let app = spawn_app(scim_app(AppOptions::new().on(&db))).await;

        // Entra's connection test: a filter on an id that cannot exist.
        let probe =
            scim(&app, "GET", "/Users?filter=userName%20eq%20%22ab1e9c47-5f0b-4b0a-9d3c-0c9b8e0e7f7a%22", None).await;
        assert_eq!(probe.status, 200, "{}", probe.text);
        assert_eq!(probe.json()["totalResults"], 0);
        assert_eq!(probe.json()["Resources"], json!([]));

        let boss = scim(
            &app,
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "externalId": "boss", "userName": "omar@example.com", "active": true,
                "emails": [{ "primary": true, "type": "work", "value": "omar@example.com" }],
                "displayName": "Omar Haddad"
            })),
        )
        .await;
        assert_eq!(boss.status, 201, "{}", boss.text);
        let boss_id = boss.json()["id"].as_str().unwrap().to_owned();
        let user = scim(
            &app,
            "POST",
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "pia", "userName": "pia@example.com", "active": true,
                "displayName": "Pia Lund",
                "name": { "formatted": "Pia Lund", "familyName": "Lund", "givenName": "Pia" },
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Finance" }
            })),
        )
        .await;
        assert_eq!(user.status, 201, "{}", user.text);
        let id = user.json()["id"].as_str().unwrap().to_owned();

        // Entra's PATCH: capitalised ops, a filtered path, a bare manager id, booleans as strings.
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                { "op": "Add", "path": "emails[type eq \"work\"].value", "value": "pia.lund@example.com" },
                { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": boss_id },
                { "op": "Replace", "path": "title", "value": "Controller" }
            ]
        });
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), Some(patch)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        wait_for_person(&app, "pia@example.com", true).await;
        app.wait_until("Pia's manager is Omar", Duration::from_secs(5), async |app| {
            app.runtime().catalog().directory.user("pia@example.com").and_then(|u| u.manager.clone()).as_deref()
                == Some("omar@example.com")
        })
        .await;
        let pia = app.runtime().catalog().directory.user("pia@example.com").cloned().unwrap();
        assert_eq!(pia.email, "pia.lund@example.com");
        assert_eq!(pia.title.as_deref(), Some("Controller"));
        assert_eq!(manager_asked(&app, "pia@example.com").await, vec!["omar@example.com".to_owned()]);

        let off = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "path": "active", "value": "False" }]
        });
        let r = scim(&app, "PATCH", &format!("/Users/{id}"), Some(off)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["active"], false, "\"False\" is a boolean: {}", r.text);

        // Group with members, then Entra's removal with a value list.
        let g = scim(
            &app,
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "finance-approvers",
                "displayName": "Finance Approvers", "members": [{ "value": boss_id }, { "value": id }]
            })),
        )
        .await;
        assert_eq!(g.status, 201, "{}", g.text);
        let gid = g.json()["id"].as_str().unwrap().to_owned();
        let remove = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Remove", "path": "members", "value": [{ "value": id }] }]
        });
        let r = scim(&app, "PATCH", &format!("/Groups/{gid}"), Some(remove)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.wait_until("the group's directory id is its externalId", Duration::from_secs(5), async |app| {
            app.runtime()
                .catalog()
                .directory
                .group("finance-approvers")
                .is_some_and(|g| g.members == vec!["omar@example.com".to_owned()] && g.name == "Finance Approvers")
        })
        .await;

        // DELETE of a user: gone from SCIM and from the directory.
        assert_eq!(scim(&app, "DELETE", &format!("/Users/{id}"), None).await.status, 204);
        wait_for_person(&app, "pia@example.com", false).await;
    }
}

#[tokio::test]
async fn scim_errors_are_scim_shaped_and_change_nothing() {
    let app = spawn_app(scim_app(AppOptions::new())).await;
    let path = |p: &str| format!("/scim/v2{p}");

    let r = app.call("GET", &path("/Users"), None, None, None).await;
    assert_scim_error("no token", &r, 401, None);
    let r = app.call("GET", &path("/Users"), None, Some("wrong"), None).await;
    assert_scim_error("a wrong token", &r, 401, None);
    let r = app
        .call(
            "POST",
            &path("/Users"),
            Some(&okta_user("x@example.com", "X", "Y").to_string()),
            Some(READER_TOKEN),
            None,
        )
        .await;
    assert_scim_error("a token without the scim scope", &r, 403, None);
    let r = scim(&app, "GET", "/Users?filter=userName%20eq", None).await;
    assert_scim_error("a broken filter", &r, 400, Some("invalidFilter"));
    let r = scim(&app, "GET", "/Users?filter=nosuchattr%20eq%20%22x%22", None).await;
    assert_scim_error("a filter on an unknown attribute", &r, 400, Some("invalidFilter"));
    let r = app.call("POST", &path("/Users"), Some("{not json"), Some(SCIM_TOKEN), Some("application/scim+json")).await;
    assert_scim_error("a body that is not JSON", &r, 400, Some("invalidSyntax"));
    let r = scim(
        &app,
        "POST",
        "/Users",
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "active": true })),
    )
    .await;
    assert_scim_error("no userName", &r, 400, Some("invalidValue"));
    let r = scim(&app, "GET", "/Users/01jdoesnotexist", None).await;
    assert_scim_error("an unknown id", &r, 404, None);
    let r = scim(
        &app,
        "PATCH",
        "/Users/01jdoesnotexist",
        Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [] })),
    )
    .await;
    assert_scim_error("PATCH of an unknown id", &r, 404, None);
    let r = scim(&app, "DELETE", "/Groups/01jdoesnotexist", None).await;
    assert_scim_error("DELETE of an unknown id", &r, 404, None);
    let r = scim(&app, "GET", "/Users?count=ten", None).await;
    assert_scim_error("a count that is not a number", &r, 400, Some("invalidValue"));
    assert_eq!(app.count("SELECT COUNT(*) FROM scim_users").await, 0, "nothing stored");
    assert_eq!(app.count("SELECT revision FROM people_revision").await, 0, "nothing changed");

    // Without `[directory] scim = true` there is no SCIM at all.
    let off = spawn_app(AppOptions::new()).await;
    let r = off.call("GET", "/scim/v2/Users", None, Some(TOKEN), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
}

#[tokio::test]
async fn paging_follows_start_index_and_count() {
    let app = spawn_app(scim_app(AppOptions::new())).await;
    for i in 0..7 {
        let r = scim(&app, "POST", "/Users", Some(okta_user(&format!("p{i}@example.com"), "P", &i.to_string()))).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let page = scim(&app, "GET", "/Users?startIndex=3&count=2", None).await.json();
    assert_eq!(page["totalResults"], 7);
    assert_eq!(page["startIndex"], 3);
    assert_eq!(page["itemsPerPage"], 2);
    let all: Vec<Value> = scim(&app, "GET", "/Users", None).await.json()["Resources"].as_array().unwrap().clone();
    assert_eq!(page["Resources"][0]["id"], all[2]["id"], "the third of the whole list");
    let only = scim(&app, "GET", "/Users?count=0", None).await.json();
    assert_eq!(only["totalResults"], 7);
    assert_eq!(only["Resources"], json!([]));
    let names = scim(&app, "GET", "/Users?attributes=userName&count=1", None).await.json();
    let first = names["Resources"][0].as_object().unwrap();
    assert!(first.contains_key("userName") && first.contains_key("id") && !first.contains_key("name"), "{first:?}");
}

#[tokio::test]
async fn a_provisioned_person_overrides_the_file_and_survives_a_restart() {
    for db in test_databases() {
        let database = std::sync::Arc::new(db.create().await);
        let opts = || scim_app(AppOptions::new().database(database.clone()));
        let mut app = spawn_app(opts()).await;
        assert_eq!(manager_asked(&app, ANA).await, vec![RAJ.to_owned()], "the file says Raj");

        // Ana provisioned with Sam (a file user) as her manager: the provisioned entry wins.
        let sam = scim(&app, "POST", "/Users", Some(okta_user(SAM, "Sam", "Reed"))).await;
        let sam_id = sam.json()["id"].as_str().unwrap().to_owned();
        let mut ana = okta_user(ANA, "Ana", "Diaz");
        ana["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({ "manager": { "value": sam_id } });
        let r = scim(&app, "POST", "/Users", Some(ana)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        app.wait_until("Ana's manager is Sam", Duration::from_secs(5), async |app| {
            app.runtime().catalog().directory.user(ANA).and_then(|u| u.manager.clone()).as_deref() == Some(SAM)
        })
        .await;
        assert_eq!(manager_asked(&app, ANA).await, vec![SAM.to_owned()]);
        app.stop().await;

        // A restart: the provisioned people are there from the first request on.
        let app = spawn_app(opts()).await;
        assert_eq!(
            app.runtime().catalog().directory.user(ANA).and_then(|u| u.manager.clone()).as_deref(),
            Some(SAM),
            "[{}] provisioned people survive a restart",
            db
        );
        assert_eq!(manager_asked(&app, ANA).await, vec![SAM.to_owned()]);
        let listed = scim(&app, "GET", "/Users", None).await.json();
        assert_eq!(listed["totalResults"], 2, "SCIM lists what was provisioned, not the file: {listed}");
    }
}

#[tokio::test]
async fn a_second_replica_on_postgres_sees_a_change_made_on_the_first() {
    let Some(db) = test_databases().into_iter().find(|d| matches!(d, TestDb::Postgres { .. })) else {
        eprintln!("skipped: {POSTGRES_URL_VAR} is not set, so the two-replica SCIM test did not run");
        return;
    };
    let database = std::sync::Arc::new(db.create().await);
    let a = spawn_app(scim_app(AppOptions::new().database(database.clone()))).await;
    let b = spawn_app(scim_app(AppOptions::new().database(database.clone()))).await;
    let r = scim(&a, "POST", "/Users", Some(okta_user("quinn@example.com", "Quinn", "Abe"))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let started = std::time::Instant::now();
    wait_for_person(&b, "quinn@example.com", true).await;
    eprintln!("replica B saw the new person after {:.2}s", started.elapsed().as_secs_f64());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let got = scim(&b, "GET", &format!("/Users/{id}"), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(scim(&b, "DELETE", &format!("/Users/{id}"), None).await.status, 204);
    wait_for_person(&a, "quinn@example.com", false).await;
}

#[tokio::test]
async fn a_deactivated_approver_is_dismissed_and_their_part_asked_again() {
    for db in test_databases() {
        let app = spawn_app(scim_app(AppOptions::new().on(&db))).await;
        // Raj, Ana's manager in the files, is provisioned (his manager Vera stays a file person).
        let mut raj = okta_user(RAJ, "Raj", "Patel");
        raj["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({ "manager": { "value": VERA } });
        let r = scim(&app, "POST", "/Users", Some(raj)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let raj_id = r.json()["id"].as_str().unwrap().to_owned();
        app.wait_until("Raj provisioned, reporting to Vera", Duration::from_secs(5), async |app| {
            app.runtime().catalog().directory.user(RAJ).and_then(|u| u.manager.clone()).as_deref() == Some(VERA)
        })
        .await;
        let (status, view) =
            app.create_request(json!({ "requester": ANA, "resource": "salesforce", "justification": "leaver" })).await;
        assert_eq!(status, 201, "{view}");
        let id = id_of(&view);
        assert_eq!(prompt_approvers(&view, "pending"), vec![RAJ.to_owned()]);

        // Okta deactivates Raj: his prompt is dismissed and the step asks the requester's next manager.
        let off = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "value": { "active": false } }]
        });
        assert_eq!(scim(&app, "PATCH", &format!("/Users/{raj_id}"), Some(off)).await.status, 200);
        app.wait_until("Vera asked in Raj's place", Duration::from_secs(5), async |app| {
            let v = app.request_view(&id).await;
            prompt_approvers(&v, "pending") == vec![VERA.to_owned()]
                && prompt_approvers(&v, "dismissed") == vec![RAJ.to_owned()]
        })
        .await;
        let view = app.request_view(&id).await;
        let dismissed =
            item(&view)["prompts"].as_array().unwrap().iter().find(|p| p["approver"] == RAJ).unwrap().clone();
        assert!(
            dismissed["how"].as_str().unwrap_or_default().contains("no longer available (deactivated)"),
            "{dismissed}"
        );
        let rows = app.audit_rows("unavailable").await;
        assert_eq!(rows.len(), 1, "one re-ask, however many replicas saw the change: {rows:?}");
        assert_eq!(rows[0].1["reason"], "deactivated");
        app.wait_until("Ana told", Duration::from_secs(5), async |app| {
            app.notifications_to(ANA).iter().any(|n| format!("{} {}", n.title, n.body).contains("no longer available"))
        })
        .await;

        // Vera approves; the item settles, and the trail replays the re-ask exactly.
        let r = app.decide(&id, VERA, "approve").await;
        assert_eq!(r.0, 200, "{}", r.1);
        app.wait_for_state(&id, "approved").await;
        signoff_audit_verifies(&app).await;
    }
}

#[tokio::test]
async fn a_leaver_whose_step_can_still_be_decided_is_only_dismissed() {
    let app = spawn_app(scim_app(AppOptions::new())).await;
    let r = scim(&app, "POST", "/Users", Some(okta_user(KIM, "Kim", "Lee"))).await;
    let kim_id = r.json()["id"].as_str().unwrap().to_owned();
    wait_for_person(&app, KIM, true).await;
    // The admin role asks either admin (Kim or Max): one answer is enough.
    let (status, view) = app
        .create_request(json!({ "requester": ANA, "resource": "salesforce", "roles": ["admin"], "justification": "x" }))
        .await;
    assert_eq!(status, 201, "{view}");
    let id = id_of(&view);
    assert_eq!(prompt_approvers(&view, "pending"), vec![KIM.to_owned(), MAX.to_owned()]);

    // (A DELETE would bring back Kim's entry in the files: provisioned entries only take precedence over them.)
    let off = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "Replace", "path": "active", "value": "False" }]
    });
    assert_eq!(scim(&app, "PATCH", &format!("/Users/{kim_id}"), Some(off)).await.status, 200);
    app.wait_until("Kim's prompt dismissed", Duration::from_secs(5), async |app| {
        prompt_approvers(&app.request_view(&id).await, "dismissed") == vec![KIM.to_owned()]
    })
    .await;
    let view = app.request_view(&id).await;
    assert_eq!(prompt_approvers(&view, "pending"), vec![MAX.to_owned()], "Max can still decide; nobody else is asked");
    let rows = app.audit_rows("unavailable").await;
    assert_eq!(rows[0].1["reason"], "deactivated", "{rows:?}");
    signoff_audit_verifies(&app).await;
}

#[tokio::test]
async fn an_admin_not_provisioned_yet_is_unavailable_until_provisioned() {
    let settings = signoff::catalog::Settings { provisioning: true, ..Default::default() };
    let app = spawn_app(scim_app(AppOptions::new()).settings(settings).directory(
        "resources:\n  - id: vault\n    kind: app\n    admins: [nova@example.com]\n    workflow: APP_ADMIN\n",
    ))
    .await;
    // Nova is named but not provisioned: the step has no available approver, and its fallback (Ana's manager) runs.
    let (status, view) =
        app.create_request(json!({ "requester": ANA, "resource": "vault", "justification": "x" })).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(prompt_approvers(&view, "pending"), vec![RAJ.to_owned()], "{view}");

    let r = scim(&app, "POST", "/Users", Some(okta_user("nova@example.com", "Nova", "Quist"))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.wait_until("Nova is an admin of vault", Duration::from_secs(5), async |app| {
        app.runtime()
            .catalog()
            .directory
            .resource("vault")
            .is_some_and(|r| r.admins == vec!["nova@example.com".to_owned()])
    })
    .await;
    let (_, view) = app.create_request(json!({ "requester": ANA, "resource": "vault", "justification": "y" })).await;
    assert_eq!(prompt_approvers(&view, "pending"), vec!["nova@example.com".to_owned()], "{view}");
}

#[tokio::test]
async fn going_out_of_office_in_the_files_reroutes_open_work_at_the_reload() {
    let folder = tempfile::tempdir().unwrap();
    let (dir, pol) = (folder.path().join("directory"), folder.path().join("policies"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&pol).unwrap();
    std::fs::write(dir.join("people.yaml"), default_directory()).unwrap();
    std::fs::write(pol.join("workflows.yaml"), DEFAULT_POLICIES).unwrap();
    let app = spawn_app(AppOptions::new().files(&dir, &pol)).await;
    let (status, view) =
        app.create_request(json!({ "requester": ANA, "resource": "salesforce", "justification": "x" })).await;
    assert_eq!(status, 201, "{view}");
    let id = id_of(&view);
    assert_eq!(prompt_approvers(&view, "pending"), vec![RAJ.to_owned()]);

    // Raj goes out of office in the file; the reload (SIGHUP, or `signoff reload`) re-routes his prompt.
    let away = default_directory().replace(
        &format!("  - id: {RAJ}\n"),
        &format!("  - id: {RAJ}\n    out_of_office_until: 2099-01-01T00:00:00Z\n"),
    );
    assert_ne!(away, default_directory(), "the file changed");
    std::fs::write(dir.join("people.yaml"), away).unwrap();
    let mut config = signoff::config::Config::default();
    config.directory.path = dir.clone();
    config.policies.path = Some(pol.clone());
    app.runtime().reload_files(&config).await.expect("the reload");
    app.wait_until("Vera asked in Raj's place", Duration::from_secs(5), async |app| {
        let v = app.request_view(&id).await;
        prompt_approvers(&v, "pending") == vec![VERA.to_owned()]
            && prompt_approvers(&v, "dismissed") == vec![RAJ.to_owned()]
    })
    .await;
    let rows = app.audit_rows("unavailable").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1["reason"].as_str().unwrap().starts_with("out of office until 2099-01-01"), "{rows:?}");
    signoff_audit_verifies(&app).await;
}

#[tokio::test]
async fn a_new_manager_is_the_one_a_later_escalation_reaches() {
    let app = spawn_app(scim_app(AppOptions::new()).workflow(
        "QUICK_ASK",
        &format!("user_constant_expression: {{ user: {RAJ}, timeout: 2s, on_timeout: escalate }}"),
    ))
    .await;
    // Raj is provisioned reporting to Vera; his prompt goes out.
    let mut raj = okta_user(RAJ, "Raj", "Patel");
    raj["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({ "manager": { "value": VERA } });
    let r = scim(&app, "POST", "/Users", Some(raj)).await;
    let raj_id = r.json()["id"].as_str().unwrap().to_owned();
    wait_for_person(&app, RAJ, true).await;
    let (status, view) =
        app.create_request(json!({ "requester": ANA, "resource": "quick-ask", "justification": "x" })).await;
    assert_eq!(status, 201, "{view}");
    let id = id_of(&view);

    // While the prompt waits, Raj's manager becomes Sam (Entra's bare manager id form).
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": SAM }]
    });
    assert_eq!(scim(&app, "PATCH", &format!("/Users/{raj_id}"), Some(patch)).await.status, 200);
    app.wait_until("Raj reports to Sam", Duration::from_secs(5), async |app| {
        app.runtime().catalog().directory.user(RAJ).and_then(|u| u.manager.clone()).as_deref() == Some(SAM)
    })
    .await;

    // Nobody answers: the escalation reaches Sam, not Vera.
    app.wait_until("the escalation", Duration::from_secs(10), async |app| {
        !prompt_approvers(&app.request_view(&id).await, "pending").contains(&RAJ.to_owned())
    })
    .await;
    let view = app.request_view(&id).await;
    assert_eq!(prompt_approvers(&view, "pending"), vec![SAM.to_owned()], "{view}");
    signoff_audit_verifies(&app).await;
}
