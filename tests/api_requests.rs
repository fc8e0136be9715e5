//! The request API as a client sees it: bad input is refused with a 4xx JSON `{"error": ...}` and changes
//! nothing; lists filter and page newest first; health, readiness and metrics answer (DESIGN.md section 5).

mod support;

use std::time::Duration;

use support::*;

/// The status and body of a refusal, checked for the error shape every refusal must have.
fn assert_refused(what: &str, status: u16, text: &str, expected: u16) {
    assert_eq!(status, expected, "{what}: {text}");
    let body: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    let error = body["error"].as_str().unwrap_or_else(|| panic!("{what}: no `error` string: {text}"));
    assert!(!error.is_empty(), "{what}: empty error");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{what}: only `error`: {text}");
}

/// One bad call and the status it must get.
struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    body: Option<String>,
    token: Option<&'static str>,
    content_type: Option<&'static str>,
    status: u16,
}

impl Case {
    /// `GET path` with the token.
    fn get(what: &'static str, path: impl Into<String>, status: u16) -> Case {
        Case { what, method: "GET", path: path.into(), body: None, token: Some(TOKEN), content_type: None, status }
    }

    /// `POST path` with this JSON body and the token.
    fn post(what: &'static str, path: impl Into<String>, body: serde_json::Value, status: u16) -> Case {
        Case::post_raw(what, path, &body.to_string(), status)
    }

    /// `POST path` with this raw body (labelled JSON) and the token.
    fn post_raw(what: &'static str, path: impl Into<String>, body: &str, status: u16) -> Case {
        Case { body: Some(body.to_owned()), method: "POST", ..Case::get(what, path, status) }
    }

    /// `POST path` with no body.
    fn post_empty(what: &'static str, path: impl Into<String>, status: u16) -> Case {
        Case { method: "POST", ..Case::get(what, path, status) }
    }

    /// The same call with this token (`None`: no `Authorization` header).
    fn token(self, token: Option<&'static str>) -> Case {
        Case { token, ..self }
    }

    /// The same call with this `content-type` (`""` for none at all).
    fn content_type(self, content_type: &'static str) -> Case {
        Case { content_type: Some(content_type), ..self }
    }

    fn method(self, method: &'static str) -> Case {
        Case { method, ..self }
    }
}

#[tokio::test]
async fn bad_requests_get_a_4xx_json_error_and_write_nothing() {
    for db in test_databases() {
        // Arrange: one request waiting for Raj, one already approved.
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let pending = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        let settled = id_of(&app.create_ok(json!({ "requester": BEN, "resource": "salesforce" })).await);
        app.decide_ok(&settled, RAJ, "approve").await;
        app.wait_for_outbox_drained().await;
        let before = app.row_counts().await;
        let create = "/api/v1/requests";
        let decide = format!("/api/v1/requests/{pending}/decisions");
        let cancel = format!("/api/v1/requests/{pending}/cancel");
        let ok_request = json!({ "requester": ANA, "resource": "salesforce" });
        let with = |field: &str, value: serde_json::Value| {
            let mut body = ok_request.clone();
            body[field] = value;
            body
        };
        let approve = json!({ "approver": RAJ, "verdict": "approve" });
        let cases = vec![
            // Creating a request.
            Case::post_raw("malformed JSON", create, r#"{"requester": "#, 400),
            Case::post_raw("an empty body", create, "", 400),
            Case::post("no content type", create, ok_request.clone(), 415).content_type(""),
            Case::post("a body over 64 KiB", create, with("justification", json!("x".repeat(70 * 1024))), 413),
            Case::post_raw("a JSON array", create, "[]", 422),
            Case::post("a number for requester", create, with("requester", json!(5)), 422),
            Case::post("a list for resource", create, with("resource", json!(["salesforce"])), 422),
            Case::post("an unknown field", create, with("colour", json!("red")), 422),
            Case::post("no resource", create, json!({ "requester": ANA }), 422),
            Case::post("no requester", create, json!({ "resource": "salesforce" }), 422),
            Case::post("an empty requester", create, with("requester", json!(" ")), 400),
            Case::post("an unknown requester", create, with("requester", json!("zed@example.com")), 422),
            Case::post("a requester with a NUL byte", create, with("requester", json!("ana\u{0}")), 422),
            Case::post("an unknown resource", create, with("resource", json!("salesforse")), 422),
            Case::post("an unknown role", create, with("role", json!("root")), 422),
            Case::post("an unknown person it is for", create, with("for", json!([BEN, "zed@example.com"])), 422),
            Case::post("a duration without a unit", create, with("duration", json!("12")), 422),
            Case::post("a duration in parsecs", create, with("duration", json!("5 parsecs")), 422),
            Case::post("a negative duration", create, with("duration", json!("-1h")), 422),
            Case::post("a duration of a thousand years", create, with("duration", json!("52000w")), 422),
            Case::post("a zero duration", create, with("duration", json!("0")), 400),
            Case::post("no token", create, ok_request.clone(), 401).token(None),
            Case::post("a wrong token", create, ok_request.clone(), 401).token(Some("nope")),
            Case::post("an empty token", create, ok_request.clone(), 401).token(Some("")),
            // Deciding.
            Case::post("a decision with no token", &decide, approve.clone(), 401).token(None),
            Case::post("a decision on an unknown request", "/api/v1/requests/req_nope/decisions", approve.clone(), 404),
            Case::post("a decision on a NUL byte", "/api/v1/requests/req_%00/decisions", approve.clone(), 404),
            Case::post(
                "a decision by an unknown person",
                &decide,
                json!({ "approver": "zed@example.com", "verdict": "approve" }),
                422,
            ),
            Case::post("an unknown verdict", &decide, json!({ "approver": RAJ, "verdict": "maybe" }), 422),
            Case::post("a decision without a verdict", &decide, json!({ "approver": RAJ }), 422),
            Case::post("an escalation to nobody", &decide, json!({ "approver": RAJ, "verdict": "escalate" }), 400),
            Case::post(
                "a denial with a duration",
                &decide,
                json!({ "approver": RAJ, "verdict": "deny", "duration": "1h" }),
                400,
            ),
            Case::post(
                "an approval with a `to`",
                &decide,
                json!({ "approver": RAJ, "verdict": "approve", "to": VERA }),
                400,
            ),
            Case::post(
                "an approval for zero time",
                &decide,
                json!({ "approver": RAJ, "verdict": "approve", "duration": "0" }),
                400,
            ),
            // Cancelling.
            Case::post_empty("a cancellation of an unknown request", "/api/v1/requests/req_nope/cancel", 404),
            Case::post_empty("a cancellation of a NUL byte", "/api/v1/requests/%00/cancel", 404),
            Case::post_raw("a cancellation with malformed JSON", &cancel, "{", 400),
            Case::post("a cancellation by an unknown person", &cancel, json!({ "by": "zed@example.com" }), 422),
            // Reading.
            Case::get("an unknown request", "/api/v1/requests/req_nope", 404),
            Case::get("a very long request id", format!("/api/v1/requests/{}", "r".repeat(4000)), 404),
            Case::get("a request id with odd bytes", "/api/v1/requests/%00%27%22;--", 404),
            Case::get("a list with limit=0", "/api/v1/requests?limit=0", 400),
            Case::get("a list with limit=201", "/api/v1/requests?limit=201", 400),
            Case::get("a list with limit=-1", "/api/v1/requests?limit=-1", 400),
            Case::get("a list with an unknown state", "/api/v1/requests?state=pending", 400),
            Case::get("a list with an unknown parameter", "/api/v1/requests?sort=asc", 400),
            Case::get("a list by an unknown requester", "/api/v1/requests?requester=zed@example.com", 422),
            Case::get("a list by a NUL byte", "/api/v1/requests?requester=ana%00", 422),
            Case::get("a list before a NUL byte", "/api/v1/requests?before=%00", 400),
            Case::get("a list with no token", "/api/v1/requests", 401).token(None),
            Case::get("the audit of an unknown request", "/api/v1/audit?request=req_nope", 404),
            Case::get("the audit of a NUL byte", "/api/v1/audit?request=%00", 404),
            Case::get("the audit with limit=0", "/api/v1/audit?limit=0", 400),
            // Grants.
            Case::get("an unknown grant", "/api/v1/grants/nope", 404),
            Case::get("a grant id with a NUL byte", "/api/v1/grants/%00", 404),
            Case::post_empty("a release of an unknown grant", "/api/v1/grants/nope/release", 404),
            Case::post_empty("a release of a NUL byte", "/api/v1/grants/a%00b/release", 404),
            Case::post(
                "a release by an unknown person",
                format!("/api/v1/grants/{settled}-1/release"),
                json!({ "by": "zed@example.com" }),
                422,
            ),
            // Routing.
            Case::get("an unknown route", "/api/v1/nothing-here", 404),
            Case::get("a wrong method", format!("/api/v1/requests/{pending}"), 405).method("DELETE"),
        ];

        for c in &cases {
            // Act
            let r = app.call(c.method, &c.path, c.body.as_deref(), c.token, c.content_type).await;

            // Assert
            let what = format!("[{db}] {}", c.what);
            assert!(r.status < 500, "{what}: a 5xx: {} {}", r.status, r.text);
            assert_refused(&what, r.status, &r.text, c.status);
            if c.status == 401 {
                assert_eq!(r.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{what}");
            }
            assert_eq!(app.row_counts().await, before, "{what}: wrote something");
        }
        assert_eq!(app.request_view(&pending).await["state"], "requested", "[{db}]");
    }
}

#[tokio::test]
async fn a_refused_decision_changes_nothing_but_is_audited() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let pending = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        let settled = id_of(&app.create_ok(json!({ "requester": BEN, "resource": "salesforce" })).await);
        app.decide_ok(&settled, RAJ, "approve").await;
        app.wait_for_outbox_drained().await;

        for (what, id, who, expected) in [
            ("someone who is not an approver", &pending, KIM, 403),
            ("a decision on a settled item", &settled, RAJ, 409),
        ] {
            let before = app.row_counts().await;
            let refused_before =
                app.count_with("SELECT COUNT(*) FROM audit WHERE request_id = $1 AND kind = 'refused'", id).await;

            // Act
            let r = app
                .post(&format!("/api/v1/requests/{id}/decisions"), &json!({"approver": who, "verdict": "approve"}))
                .await;

            // Assert: only the refusal itself is recorded (DESIGN.md section 2: every refused callback).
            assert_refused(&format!("[{db}] {what}"), r.status, &r.text, expected);
            let after = app.row_counts().await;
            assert_eq!(RowCounts { audit: before.audit, ..after }, before, "[{db}] {what}: only the audit grows");
            assert_eq!(after.audit, before.audit + 1, "[{db}] {what}");
            let refused =
                app.count_with("SELECT COUNT(*) FROM audit WHERE request_id = $1 AND kind = 'refused'", id).await;
            assert_eq!(refused, refused_before + 1, "[{db}] {what}");
        }
        let (status, body) = app.decide(&settled, RAJ, "deny").await;
        assert_eq!(status, 409, "[{db}] {body}");
        assert!(
            body["error"].as_str().unwrap().contains("Raj Patel")
                || body["error"].as_str().unwrap().contains("approved"),
            "[{db}] says who settled it: {body}"
        );
        assert_eq!(app.request_view(&settled).await["state"], "approved");
        assert_eq!(app.request_view(&pending).await["state"], "requested");
    }
}

#[tokio::test]
async fn unusual_but_valid_text_is_stored_and_read_back_as_given() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let odd = "nul \u{0} quote ' \" backslash \\ emoji \u{1F510} newline \n rtl \u{202E}";

        // Act
        let view = app.create_ok(json!({ "requester": ANA, "resource": "salesforce", "justification": odd })).await;
        let id = id_of(&view);
        let (status, decided) =
            app.decide_with(&id, json!({ "approver": RAJ, "verdict": "deny", "comment": odd })).await;

        // Assert
        assert_eq!(status, 200, "[{db}] {decided}");
        assert_eq!(item(&decided)["decisions"][0]["comment"], odd, "[{db}]");
        assert_eq!(app.request_view(&id).await["state"], "denied");
        let (status, trail) = app.audit(&id).await;
        assert_eq!(status, 200, "[{db}] {trail}");
        assert_eq!(trail["events"][0]["detail"]["request"]["justification"], odd, "[{db}]");
    }
}

#[tokio::test]
async fn lists_filter_by_requester_approver_and_state_and_page_newest_first() {
    for db in test_databases() {
        // Arrange: five requests by Ana (one approved), two by Ben (one denied); Raj approves for both.
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let mut ana = Vec::new();
        let mut ben = Vec::new();
        for i in 0..7 {
            let who = if i % 3 == 2 { BEN } else { ANA };
            let id = id_of(&app.create_ok(json!({ "requester": who, "resource": "salesforce" })).await);
            if who == ANA {
                ana.push(id)
            } else {
                ben.push(id)
            }
            // Ids order by creation time to the millisecond.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        app.decide_ok(&ana[1], RAJ, "approve").await;
        app.decide_ok(&ben[0], RAJ, "deny").await;
        let ids = |page: &serde_json::Value| -> Vec<String> {
            page["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
        };
        let newest_first = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>();

        // Act and assert: filters.
        let (status, all) = app.list("").await;
        assert_eq!(status, 200, "[{db}] {all}");
        assert_eq!(ids(&all).len(), 7);
        let created: Vec<jiff::Timestamp> = all["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["created_at"].as_str().unwrap().parse().unwrap())
            .collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "[{db}] newest first: {created:?}");
        assert_eq!(all["next"], serde_json::Value::Null, "[{db}] one page");
        assert_eq!(ids(&app.list(&format!("requester={ANA}")).await.1), newest_first(&ana));
        assert_eq!(ids(&app.list(&format!("requester={BEN}")).await.1), newest_first(&ben));
        assert_eq!(ids(&app.list(&format!("approver={RAJ}")).await.1).len(), 7);
        assert!(ids(&app.list(&format!("approver={KIM}")).await.1).is_empty());
        assert_eq!(ids(&app.list("state=approved").await.1), [ana[1].clone()]);
        assert_eq!(ids(&app.list("state=denied").await.1), [ben[0].clone()]);
        assert_eq!(ids(&app.list("state=requested").await.1).len(), 5);
        assert!(ids(&app.list(&format!("requester={BEN}&state=approved")).await.1).is_empty());
        assert_eq!(ids(&app.list(&format!("requester={ANA}&approver={RAJ}&state=approved")).await.1), [ana[1].clone()]);
        let (_, page) = app.list(&format!("requester={ANA}&state=")).await;
        assert_eq!(ids(&page).len(), 5, "[{db}] an empty filter is no filter");

        // Pagination: pages of two, following `next`.
        let mut seen = Vec::new();
        let mut query = format!("requester={ANA}&limit=2");
        for _ in 0..5 {
            let (status, page) = app.list(&query).await;
            assert_eq!(status, 200, "[{db}] {page}");
            let got = ids(&page);
            assert!(got.len() <= 2);
            seen.extend(got);
            match page["next"].as_str() {
                Some(next) => query = format!("requester={ANA}&limit=2&before={next}"),
                None => break,
            }
        }
        assert_eq!(seen, newest_first(&ana), "[{db}] every request once, newest first");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_a_token() {
    for db in test_databases() {
        // Arrange: some traffic, one approved item.
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        app.decide_ok(&id, RAJ, "approve").await;
        app.get_request(&id).await;

        // Act
        let health = app.call("GET", "/healthz", None, None, None).await;
        let ready = app.call("GET", "/readyz", None, None, None).await;
        let metrics = app.call("GET", "/metrics", None, None, None).await;

        // Assert
        assert_eq!((health.status, health.json()), (200, json!({ "status": "ok" })), "[{db}]");
        assert_eq!((ready.status, ready.json()), (200, json!({ "status": "ready" })), "[{db}]");
        assert_eq!(metrics.status, 200);
        let text = &metrics.text;
        // Counted by the committer as items change (not at each scrape): one approved, nothing else.
        assert!(text.contains("signoff_items{state=\"approved\"} 1\n"), "[{db}] {text}");
        assert!(text.contains("signoff_items{state=\"requested\"} 0\n"), "[{db}] {text}");
        assert!(text.contains("signoff_http_request_duration_seconds_bucket{"), "[{db}] {text}");
        assert!(text.contains("route=\"/api/v1/requests/{id}/decisions\""), "[{db}] labelled by route template");
        assert!(text.contains("signoff_outbox_backlog"), "[{db}]");
    }
}

#[tokio::test]
async fn a_create_retried_with_the_same_idempotency_key_returns_the_first_request() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let body = json!({"requester": "ana@example.com", "resource": "wiki", "justification": "retry me"});

        // Act: the same create twice (an answer lost on the way), then a different body with the same key.
        let (first, a) = app.create_with_key(body.clone(), "k-1").await;
        let (second, b) = app.create_with_key(body.clone(), "k-1").await;
        let (other, c) =
            app.create_with_key(json!({"requester": "ana@example.com", "resource": "salesforce"}), "k-1").await;

        // Assert
        assert_eq!((first, second), (201, 200), "[{db}] {a} {b}");
        assert_eq!(a["id"], b["id"], "[{db}] one request, not two");
        assert_eq!(b["justification"], "retry me", "[{db}]");
        assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 1, "[{db}]");
        assert_eq!(other, 400, "[{db}] {c}");
        assert!(c["error"].as_str().unwrap_or("").contains("Idempotency-Key"), "[{db}] {c}");
    }
}
