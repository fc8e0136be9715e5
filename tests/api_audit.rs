//! The audit trail: `GET /api/v1/audit?request=ID` lists a request's events in order, and the hash chain
//! catches every kind of tampering (an edited, deleted, reordered or truncated row), both through
//! `signoff::audit::verify` and through the `signoff audit verify` command (DESIGN.md section 2).

mod support;

use signoff::audit::{Canonical, Verdict, verify};
use support::*;

/// Runs one whole flow (a request, its prompt, an approval, the grant) and stops the app, so nothing
/// appends to the trail while a test tampers with it. The store stays open. Returns the request id.
async fn app_with_a_finished_flow(db: &TestDb) -> (TestApp, String) {
    let mut app = spawn_app(AppOptions::new().on(db)).await;
    let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce", "justification": "Q3" })).await);
    app.wait_for_prompts(&[RAJ]).await;
    app.decide_ok(&id, RAJ, "approve").await;
    app.wait_for_outbox_drained().await;
    app.stop().await;
    (app, id)
}

async fn audit_rows(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM audit").await
}

#[tokio::test]
async fn the_trail_of_a_request_lists_its_events_in_order() {
    for db in test_databases() {
        // Arrange
        let app = spawn_app(AppOptions::new().on(&db)).await;
        let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
        let other = id_of(&app.create_ok(json!({ "requester": BEN, "resource": "salesforce" })).await);
        app.wait_for_prompts(&[RAJ]).await;
        app.decide_ok(&id, RAJ, "approve").await;
        app.decide_ok(&other, RAJ, "deny").await;

        // Act
        let (status, trail) = app.audit(&id).await;

        // Assert
        assert_eq!(status, 200, "[{db}] {trail}");
        let events = trail["events"].as_array().unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["requested", "engine", "prompt.sent", "decision", "grant.created", "outcome"],
            "[{db}] {trail}"
        );
        assert!(events.iter().all(|e| e["request_id"] == id.as_str()), "[{db}] only this request's rows");
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "[{db}] in chain order: {seqs:?}");
        assert_eq!(events[0]["actor"], ANA);
        assert_eq!(events[2]["detail"]["approver"], RAJ);
        assert_eq!(events[3]["actor"], RAJ);
        assert_eq!(events[3]["detail"]["decision"]["verdict"], "approve");
        assert_eq!(events[5]["detail"]["status"], "approved");
        assert!(events.iter().all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64)));
        let whole = app.get("/api/v1/audit").await.json();
        assert_eq!(whole["events"].as_array().unwrap().len() as i64, audit_rows(&app).await, "[{db}] the whole trail");
        assert_eq!(verify(app.store()).await.unwrap(), Verdict::Intact { rows: audit_rows(&app).await });
    }
}

/// One way of tampering with the stored trail, and the row `verify` must then point at.
struct Tampering {
    what: &'static str,
    /// SQL run against the stopped app's database; `{k}` is a middle row, `{n}` the last row.
    sql: &'static str,
    /// The row reported, as a function of (k, n).
    reported: fn(i64, i64) -> i64,
    /// Words the report must contain.
    says: &'static str,
}

const TAMPERINGS: &[Tampering] = &[
    Tampering {
        what: "an edited detail",
        sql: "UPDATE audit SET detail = '{\"forged\":true}' WHERE seq = {k}",
        reported: |k, _| k,
        says: "edited",
    },
    Tampering {
        what: "a deleted middle row",
        sql: "DELETE FROM audit WHERE seq = {k}",
        reported: |k, _| k + 1,
        says: "missing",
    },
    Tampering {
        what: "two rows swapped",
        sql: "UPDATE audit SET seq = -1 WHERE seq = {k}; UPDATE audit SET seq = {k} WHERE seq = {k} + 1; \
              UPDATE audit SET seq = {k} + 1 WHERE seq = -1",
        reported: |k, _| k,
        says: "reordered",
    },
    Tampering {
        what: "a deleted last row",
        sql: "DELETE FROM audit WHERE seq = {n}",
        reported: |_, n| n,
        says: "at the end were deleted",
    },
];

#[tokio::test]
async fn verify_reports_each_kind_of_tampering_at_the_right_row() {
    for db in test_databases() {
        for t in TAMPERINGS {
            // Arrange
            let (app, _) = app_with_a_finished_flow(&db).await;
            let n = audit_rows(&app).await;
            let k = n / 2;
            assert!(k >= 2 && k + 1 < n, "[{db}] the flow leaves a few rows: {n}");
            assert_eq!(verify(app.store()).await.unwrap(), Verdict::Intact { rows: n }, "[{db}] intact before");

            // Act
            let sql = t.sql.replace("{k}", &k.to_string()).replace("{n}", &n.to_string());
            app.execute(&sql).await;

            // Assert
            match verify(app.store()).await.unwrap() {
                Verdict::Broken { seq, problem } => {
                    assert_eq!(seq, (t.reported)(k, n), "[{db}] {}: {problem}", t.what);
                    assert!(problem.contains(t.says), "[{db}] {}: {problem}", t.what);
                }
                intact => panic!("[{db}] {} went unnoticed: {intact:?}", t.what),
            }
        }
    }
}

#[tokio::test]
async fn an_edited_row_with_a_recomputed_hash_is_caught_at_the_next_row() {
    for db in test_databases() {
        // Arrange: the forger rewrites row k's detail and its hash, but cannot fix every later row.
        let (app, _) = app_with_a_finished_flow(&db).await;
        let k = audit_rows(&app).await / 2;
        let (at, request_id, item_id, kind, actor, prev): (
            i64,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            String,
        ) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT at, request_id, item_id, kind, actor, prev_hash FROM audit WHERE seq = {k}"
        )))
        .fetch_one(app.store().reader())
        .await
        .unwrap();
        let forged = r#"{"forged":true}"#;
        let hash = Canonical {
            seq: k,
            at_ms: at,
            request_id: request_id.as_deref(),
            item_id: item_id.as_deref(),
            kind: &kind,
            actor: actor.as_deref(),
            detail: forged,
        }
        .hash(&prev);

        // Act
        app.execute(&format!("UPDATE audit SET detail = '{forged}', hash = '{hash}' WHERE seq = {k}")).await;

        // Assert
        match verify(app.store()).await.unwrap() {
            Verdict::Broken { seq, problem } => assert_eq!(seq, k + 1, "[{db}] {problem}"),
            intact => panic!("[{db}] went unnoticed: {intact:?}"),
        }
    }
}

#[tokio::test]
async fn the_audit_verify_command_exits_1_and_names_the_row_after_tampering() {
    // The command reads a config file; this runs on the SQLite file the app used.
    let (app, _) = app_with_a_finished_flow(&TestDb::Sqlite).await;
    let file = app.database.as_ref().and_then(|d| d.sqlite_file()).expect("a SQLite file");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("sqlite://{}", file.display()), "");
    let run = || {
        let out = signoff_command(dir.path()).args(["audit", "verify", "--config"]).arg(&config).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), stdout.into_owned(), stderr.into_owned())
    };
    let n = audit_rows(&app).await;
    let (code, stdout, stderr) = run();
    assert_eq!(code, Some(0), "intact first: {stdout}{stderr}");
    assert_eq!(stdout.lines().next(), Some(format!("audit trail intact: {n} rows").as_str()), "{stdout}");

    // Act
    app.execute("UPDATE audit SET actor = 'mallory@example.com' WHERE seq = 3").await;
    let (code, stdout, stderr) = run();

    // Assert
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.starts_with("audit trail NOT intact: 1 problem"), "{stdout}{stderr}");
    assert!(stdout.lines().any(|l| l == "row 3: its content was edited (hash mismatch)"), "{stdout}{stderr}");
}
