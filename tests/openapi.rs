//! `GET /api/v1/openapi.json` (DESIGN 7.7): public, OpenAPI 3.1, describes every `/api/v1` route the router
//! serves, and what the routes really answer matches what it describes.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::*;

/// Every route served under `/api/v1`, by method and template. A route added to the router without its
/// `#[utoipa::path]` (or one documented but not served) fails the tests below; add it here when you add it there.
const API_ROUTES: [(&str, &str); 9] = [
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/requests"),
    ("GET", "/api/v1/requests"),
    ("GET", "/api/v1/requests/{id}"),
    ("POST", "/api/v1/requests/{id}/decisions"),
    ("POST", "/api/v1/requests/{id}/cancel"),
    ("GET", "/api/v1/grants/{id}"),
    ("POST", "/api/v1/grants/{id}/release"),
    ("GET", "/api/v1/audit"),
];

/// The document, fetched without a token.
async fn document(app: &TestApp) -> Value {
    let r = app.call("GET", "/api/v1/openapi.json", None, None, None).await;
    assert_eq!(r.status, 200, "the document is public: {}", r.text);
    let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("the document is not JSON ({e}): {}", r.text))
}

/// `(method, path)` of every operation the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item is an object");
            methods
                .keys()
                .filter(|m| ["get", "put", "post", "delete", "patch", "head", "options"].contains(&m.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Validates `body` against the schema `doc` gives for `method path` answering `status`, and fails when that
/// status is not described at all.
fn assert_conforms(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let op = &doc["paths"][path][method.to_lowercase()];
    let response = &op["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {path} answered {status}, which the document does not describe: {body}");
    let mut schema = response["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} {status}: no JSON schema described");
    // The schema refers to `#/components/...`: give it the document's components to resolve them against.
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the described schema does not compile: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status}: the answer does not match its schema: {errors:#?}\n{body:#}");
}

#[tokio::test]
async fn the_openapi_document_is_public_openapi_3_1_and_describes_every_api_route() {
    let app = spawn_app(AppOptions::new()).await;

    let doc = document(&app).await;

    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "version: {}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string(), "info: {}", doc["info"]);
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((bearer["type"].as_str(), bearer["scheme"].as_str()), (Some("http"), Some("bearer")), "{bearer}");
    let described: BTreeSet<(String, String)> =
        operations(&doc).into_iter().filter(|(_, p)| p.starts_with("/api/v1/")).collect();
    let served: BTreeSet<(String, String)> =
        API_ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(described, served, "the document's /api/v1 operations and the routes served differ");
    // Neither SCIM (its own discovery) nor the chat callbacks (platform-facing) are described; health is.
    let all = operations(&doc);
    assert!(all.iter().all(|(_, p)| !p.starts_with("/scim") && !p.starts_with("/slack") && !p.starts_with("/discord")));
    assert!(all.contains(&("GET".to_owned(), "/healthz".to_owned())));
    assert!(all.contains(&("GET".to_owned(), "/readyz".to_owned())));
    for (method, path) in &all {
        let op = &doc["paths"][path][method.to_lowercase()];
        let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let public = path == "/api/v1/openapi.json" || !path.starts_with("/api/v1/");
        assert_eq!(secured, !public, "{method} {path}: bearer requirement");
        if secured {
            for status in ["401", "403", "413", "503"] {
                let schema = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
            }
        }
    }
}

#[tokio::test]
async fn every_documented_api_route_is_served_and_answers_as_documented() {
    // Arrange: a request Raj approved (so it has a grant, prompts and decisions), and one still pending.
    let app = spawn_app(AppOptions::new()).await;
    let doc = document(&app).await;
    let approved = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
    let view = app.decide_ok(&approved, RAJ, "approve").await;
    let grant = view["items"][0]["grant"]["id"].as_str().unwrap_or_else(|| panic!("no grant in {view}")).to_owned();
    let pending = id_of(&app.create_ok(json!({ "requester": BEN, "resource": "salesforce" })).await);
    let to_cancel = id_of(&app.create_ok(json!({ "requester": BEN, "resource": "salesforce" })).await);

    // Act and assert: each operation, called with a valid token on real ids, is routed (not 404 or 405) and
    // answers a status and a body its description allows. Mutations go last, so the reads see the data first.
    let mut ops: Vec<(String, String)> = operations(&doc).into_iter().collect();
    ops.sort_by_key(|(m, _)| m == "POST");
    for (method, path) in ops {
        let id = match path.as_str() {
            p if p.starts_with("/api/v1/grants/") => &grant,
            "/api/v1/requests/{id}/cancel" => &to_cancel,
            _ => &pending,
        };
        let url = path.replace("{id}", id);
        let body = match (method.as_str(), path.as_str()) {
            ("POST", "/api/v1/requests") => Some(json!({ "requester": ANA, "resource": "salesforce" }).to_string()),
            ("POST", "/api/v1/requests/{id}/decisions") => {
                Some(json!({ "approver": RAJ, "verdict": "deny" }).to_string())
            }
            ("POST", _) => Some("{}".to_owned()),
            _ => None,
        };
        let r = app.call(&method, &url, body.as_deref(), Some(TOKEN), None).await;
        assert!(![0, 404, 405].contains(&r.status), "{method} {url} is not served: {} {}", r.status, r.text);
        assert!(r.status < 300, "{method} {url}: {} {}", r.status, r.text);
        assert_conforms(&doc, &method, &path, r.status, &r.json());
    }
}

#[tokio::test]
async fn a_real_request_and_real_refusals_match_their_documented_schemas() {
    let app = spawn_app(AppOptions::new()).await;
    let doc = document(&app).await;
    let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce", "justification": "q3" })).await);
    app.decide_ok(&id, RAJ, "approve").await;

    // The request, approved: items, prompts, decisions and a grant.
    let (status, view) = app.get_request(&id).await;
    assert_eq!(status, 200, "{view}");
    assert_conforms(&doc, "GET", "/api/v1/requests/{id}", 200, &view);

    // Refusals: an unknown id, no token, a decision on a settled request.
    let (status, body) = app.get_request("req_nope").await;
    assert_conforms(&doc, "GET", "/api/v1/requests/{id}", status, &body);
    let r = app.call("GET", &format!("/api/v1/requests/{id}"), None, None, None).await;
    assert_conforms(&doc, "GET", "/api/v1/requests/{id}", r.status, &r.json());
    let (status, body) = app.decide(&id, RAJ, "deny").await;
    assert_eq!(status, 409, "{body}");
    assert_conforms(&doc, "POST", "/api/v1/requests/{id}/decisions", status, &body);

    // Health and readiness.
    for path in ["/healthz", "/readyz"] {
        let r = app.call("GET", path, None, None, None).await;
        assert_conforms(&doc, "GET", path, r.status, &r.json());
    }
}
