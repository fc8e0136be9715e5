//! The audit trail proves itself (DESIGN 7.3): with `[audit] signing_key` every commit stores a signed
//! checkpoint, and `signoff audit verify` catches what the hash chain alone cannot: a chain recomputed after an
//! edit, a tail cut and the head fixed, a forged row appended with a correct hash, and (by replaying every item
//! through the engine from the trail, on the catalog snapshot each row names) items and grants edited in place.
//!
//! Each test runs real flows on the real application, stops it, tampers with the database the way someone with
//! write access (but not the key) could, and checks the verdict and what it names.

mod support;

use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePublicKey;
use signoff::audit::checkpoint::{self, Checkpoint};
use signoff::audit::keys;
use signoff::audit::verify::{Options, Place, Report, verify};
use signoff::audit::{Canonical, GENESIS};
use signoff::catalog::Catalog;
use support::*;

/// The key the apps sign with.
fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Another key, never used to sign.
fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[8; 32])
}

fn signed() -> AppOptions {
    AppOptions::new().signing_key(keys::private_base64(&signing_key()))
}

/// A workflow whose first approver times out after a second, so the item is escalated by a timer to the
/// approver's manager: replay then needs the timer row and the manager the catalog named.
const QUICK: &str = "manager_expression: { timeout: 1s, on_timeout: escalate }";

/// The requests [`run_flows`] made, by what happened to them.
struct Flows {
    approved: String,
    denied: String,
    released: String,
    cancelled: String,
    auto: String,
    escalated: String,
}

/// One of each: an approval, a denial, a grant for 8h released by its holder, a cancellation, an
/// auto-approval, and an escalation by timer then an approval by the new approver. Waits until everything has
/// settled and been delivered.
async fn run_flows(app: &TestApp) -> Flows {
    let create = |body: serde_json::Value| async move { id_of(&app.create_ok(body).await) };
    let approved = create(json!({ "requester": ANA, "resource": "salesforce", "justification": "Q3" })).await;
    let denied = create(json!({ "requester": BEN, "resource": "salesforce" })).await;
    let released =
        create(json!({ "requester": ANA, "resource": "salesforce", "role": "basic_user", "duration": "8h" })).await;
    let cancelled = create(json!({ "requester": BEN, "resource": "salesforce", "role": "admin" })).await;
    let auto = create(json!({ "requester": ANA, "resource": "wiki" })).await;
    let escalated = create(json!({ "requester": ANA, "resource": "quick" })).await;
    app.wait_for_prompts(&[RAJ, KIM]).await;
    app.decide_ok(&approved, RAJ, "approve").await;
    app.decide_ok(&denied, RAJ, "deny").await;
    app.decide_ok(&released, RAJ, "approve").await;
    let (status, body) = app.release_grant(&format!("{released}-1"), Some(ANA)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.cancel(&cancelled, Some(BEN)).await;
    assert_eq!(status, 200, "{body}");
    app.wait_for_state(&escalated, "escalated").await;
    app.decide_ok(&escalated, VERA, "approve").await;
    app.wait_for_state(&auto, "approved").await;
    app.wait_for_outbox_drained().await;
    Flows { approved, denied, released, cancelled, auto, escalated }
}

/// A signed app on `db` that ran [`run_flows`] and stopped (its store stays open for tampering).
async fn finished(db: &TestDb) -> (TestApp, Flows, AppOptions) {
    let opts = signed().on(db).workflow("QUICK", QUICK);
    let mut app = spawn_app(opts.clone()).await;
    let flows = run_flows(&app).await;
    app.stop().await;
    (app, flows, opts)
}

/// Verifies with the signing key's public half (and no current catalog unless given).
async fn verify_signed(app: &TestApp) -> Report {
    verify_with(app, Some(signing_key()), None, None).await
}

async fn verify_with(
    app: &TestApp,
    key: Option<SigningKey>,
    expect_head: Option<Checkpoint>,
    current: Option<Catalog>,
) -> Report {
    let options = Options {
        key: key.map(|k| k.verifying_key()),
        earlier_keys: Vec::new(),
        expect_head,
        current_catalog: Box::new(move || current.ok_or_else(|| "no current catalog in this test".to_owned())),
    };
    verify(app.store(), options).await.unwrap_or_else(|e| panic!("[{}] verify could not run: {e}", app.db_kind))
}

fn report_text(r: &Report) -> String {
    r.lines().join("\n")
}

/// The report lists a problem at `place` whose message contains `says`.
fn assert_names(r: &Report, place: &Place, says: &str) {
    assert!(!r.is_intact(), "tampering went unnoticed:\n{}", report_text(r));
    assert!(
        r.problems.listed.iter().any(|p| &p.place == place && p.message.contains(says)),
        "expected a problem at {place} saying `{says}`:\n{}",
        report_text(r)
    );
}

fn item(request: &str) -> Place {
    Place::Item(format!("{request}-1"))
}

async fn rows(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM audit").await
}

/// Rewrites every row from `from` on with recomputed hashes, and the head: what someone with write access
/// but no key can do after editing row `from`.
async fn rechain_from(app: &TestApp, from: i64) {
    type Row = (i64, i64, Option<String>, Option<String>, String, Option<String>, String);
    let mut prev: String = if from == 1 {
        GENESIS.to_owned()
    } else {
        sqlx::query_scalar("SELECT hash FROM audit WHERE seq = $1")
            .bind(from - 1)
            .fetch_one(app.store().reader())
            .await
            .unwrap()
    };
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, at, request_id, item_id, kind, actor, detail FROM audit WHERE seq >= $1 ORDER BY seq",
    )
    .bind(from)
    .fetch_all(app.store().reader())
    .await
    .unwrap();
    for (seq, at, request_id, item_id, kind, actor, detail) in rows {
        let hash = Canonical {
            seq,
            at_ms: at,
            request_id: request_id.as_deref(),
            item_id: item_id.as_deref(),
            kind: &kind,
            actor: actor.as_deref(),
            detail: &detail,
        }
        .hash(&prev);
        sqlx::query("UPDATE audit SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(prev.clone())
            .bind(hash.clone())
            .bind(seq)
            .execute(app.store().writer())
            .await
            .unwrap();
        prev = hash;
    }
    fix_head(app).await;
}

/// Points `audit_head` at the last row, as a careful forger would.
async fn fix_head(app: &TestApp) {
    app.execute(
        "UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit), \
         hash = (SELECT hash FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)) WHERE id = 1",
    )
    .await;
}

/// The seq of the `kind` row of `request`.
async fn row_of(app: &TestApp, request: &str, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT seq FROM audit WHERE request_id = $1 AND kind = $2 ORDER BY seq LIMIT 1")
        .bind(request.to_owned())
        .bind(kind.to_owned())
        .fetch_one(app.store().reader())
        .await
        .unwrap_or_else(|e| panic!("no `{kind}` row for {request}: {e}"))
}

/// The default directory with Ana reporting to Ben instead of Raj.
fn reorganised() -> AppOptions {
    let directory = default_directory().replace(
        "  - id: ana@example.com\n    name: Ana Diaz\n    manager: raj@example.com\n",
        "  - id: ana@example.com\n    name: Ana Diaz\n    manager: ben@example.com\n",
    );
    assert_ne!(directory, default_directory(), "the reorganisation applies");
    AppOptions::new().only_directory(directory).workflow("QUICK", QUICK)
}

// ---------------------------------------------------------------------------------------------------------
// A clean trail

#[tokio::test]
async fn a_clean_trail_verifies_with_its_key_even_after_the_directory_changed() {
    for db in test_databases() {
        // Arrange: every kind of event, then Ana's manager changes (the files today are not those the items
        // ran under).
        let (app, flows, _) = finished(&db).await;
        let today = reorganised().catalog();

        // Act
        let report = verify_with(&app, Some(signing_key()), None, Some(today)).await;

        // Assert
        assert!(report.is_intact(), "[{db}]\n{}", report_text(&report));
        assert_eq!(report.rows, rows(&app).await, "[{db}]");
        assert_eq!(report.replay.items, 6, "[{db}] every item replayed:\n{}", report_text(&report));
        assert_eq!(report.replay.requests, 6, "[{db}]");
        // The timer, three decisions, a release and a cancellation (the escalation's decision included).
        assert!(report.replay.events >= 6, "[{db}] {:?}", report.replay);
        assert_eq!(report.catalogs, 1, "[{db}] replayed on the snapshot the rows name");
        let kinds: Vec<String> = sqlx::query_scalar(
            "SELECT kind FROM audit WHERE request_id IN ($1, $2, $3) AND kind IN ('cancel', 'timer', 'requested') ORDER BY seq",
        )
        .bind(flows.cancelled.clone())
        .bind(flows.auto.clone())
        .bind(flows.escalated.clone())
        .fetch_all(app.store().reader())
        .await
        .unwrap();
        assert_eq!(kinds.iter().filter(|k| *k == "cancel").count(), 1, "[{db}] {kinds:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "timer").count(), 1, "[{db}] {kinds:?}");
        assert!(!report.used_current_catalog, "[{db}] not on today's files");
        let checkpoints = app.count("SELECT COUNT(*) FROM audit_checkpoints").await;
        assert!(checkpoints >= 6, "[{db}] a checkpoint per commit: {checkpoints}");
        assert_eq!(report.checkpoints.checked, checkpoints as u64, "[{db}] every signature checked");
        assert_eq!(report.checkpoints.latest.as_ref().map(|c| c.seq), Some(report.rows), "[{db}]");
        let text = report_text(&report);
        assert!(text.starts_with(&format!("audit trail intact: {} rows", report.rows)), "{text}");
        assert!(text.contains(&format!("checked with key {}", keys::key_id(&signing_key().verifying_key()))), "{text}");
    }
}

#[tokio::test]
async fn without_snapshots_items_replay_on_the_current_catalog_and_a_directory_change_is_named() {
    // Arrange: an app whose rows name no catalog (as before snapshots were recorded).
    let mut app = spawn_app(signed().workflow("QUICK", QUICK).without_snapshot()).await;
    let flows = run_flows(&app).await;
    app.stop().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM catalogs").await, 0);

    // Act: with the same files it checks out; after the reorganisation Ana's items replay differently.
    let same = verify_with(&app, Some(signing_key()), None, Some(signed().workflow("QUICK", QUICK).catalog())).await;
    let after = verify_with(&app, Some(signing_key()), None, Some(reorganised().catalog())).await;

    // Assert
    assert!(same.is_intact(), "{}", report_text(&same));
    assert!(same.used_current_catalog);
    assert_eq!(same.replay.items, 6);
    assert_names(&after, &item(&flows.approved), "replayed with the current directory and policies");
    assert!(
        after.problems.listed.iter().all(|p| !matches!(&p.place, Place::Item(i) if i.starts_with(&flows.denied))),
        "Ben's items are not Ana's:\n{}",
        report_text(&after)
    );
}

#[tokio::test]
async fn an_edited_or_deleted_catalog_snapshot_is_named() {
    let (app, _, _) = finished(&TestDb::Sqlite).await;
    let id: String = sqlx::query_scalar("SELECT id FROM catalogs").fetch_one(app.store().reader()).await.unwrap();

    // Edited: the text no longer hashes to its id.
    app.execute("UPDATE catalogs SET source = REPLACE(source, 'raj@example.com', 'ben@example.com')").await;
    let edited = verify_signed(&app).await;
    assert_names(&edited, &Place::Catalog(id.clone()), "the snapshot was edited");

    // Deleted.
    app.execute("DELETE FROM catalogs").await;
    let deleted = verify_signed(&app).await;
    assert_names(&deleted, &Place::Catalog(id), "not stored");
    assert_eq!(deleted.replay.items, 0, "nothing replayed without its catalog");
    assert!(deleted.replay.skipped >= 6, "{:?}", deleted.replay);
}

// ---------------------------------------------------------------------------------------------------------
// Attacks on the chain

#[tokio::test]
async fn attack_1_an_edited_row_with_the_whole_chain_recomputed_is_caught_by_the_checkpoints() {
    // Arrange: the denial of Ben's request becomes an approval, every later hash and the head recomputed.
    let (app, flows, _) = finished(&TestDb::Sqlite).await;
    let k = row_of(&app, &flows.denied, "decision").await;
    app.execute(&format!(
        "UPDATE audit SET detail = REPLACE(detail, '\"verdict\":\"deny\"', '\"verdict\":\"approve\"') WHERE seq = {k}"
    ))
    .await;
    rechain_from(&app, k).await;
    assert!(
        signoff::audit::verify(app.store()).await.unwrap()
            == signoff::audit::Verdict::Intact { rows: rows(&app).await },
        "the chain alone passes"
    );

    // Act
    let report = verify_signed(&app).await;

    // Assert: the first checkpoint at or after row k no longer matches its row.
    let first: i64 =
        app.count_with("SELECT MIN(seq) FROM audit_checkpoints WHERE seq >= CAST($1 AS BIGINT)", &k.to_string()).await;
    assert_names(&report, &Place::Checkpoint(first), "the chain was rewritten after it was signed");
    // Replay sees the forged approval against the stored denial too.
    assert_names(&report, &item(&flows.denied), "replay");

    // And rewriting the checkpoints' hashes too only moves the failure to their signatures.
    app.execute("UPDATE audit_checkpoints SET hash = (SELECT hash FROM audit WHERE audit.seq = audit_checkpoints.seq)")
        .await;
    let report = verify_signed(&app).await;
    assert_names(&report, &Place::Checkpoint(first), "signature does not verify");
}

#[tokio::test]
async fn attack_2_a_cut_tail_with_the_head_fixed_is_caught_by_the_latest_checkpoint() {
    // Arrange: the last two rows go, and the head is pointed at the new last row.
    let (app, _, _) = finished(&TestDb::Sqlite).await;
    let n = rows(&app).await;
    app.execute(&format!("DELETE FROM audit WHERE seq > {}", n - 2)).await;
    fix_head(&app).await;
    assert!(
        signoff::audit::verify(app.store()).await.unwrap() == signoff::audit::Verdict::Intact { rows: n - 2 },
        "the chain alone passes"
    );

    // Act
    let report = verify_signed(&app).await;

    // Assert
    assert_names(&report, &Place::Checkpoint(n), &format!("names row {n} but the chain ends at row {}", n - 2));
}

#[tokio::test]
async fn attack_2b_a_tail_cut_back_to_a_checkpoint_passes_alone_and_fails_against_the_head_kept_elsewhere() {
    // Arrange: a finished flow; then one more request, whose signed head is printed and kept elsewhere.
    let mut app = spawn_app(signed()).await;
    let kept = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
    app.wait_for_prompts(&[RAJ]).await;
    app.decide_ok(&kept, RAJ, "approve").await;
    app.wait_for_outbox_drained().await;
    let cut_to = checkpoint::latest(app.store().reader()).await.unwrap().expect("a checkpoint").seq;
    let erased = id_of(&app.create_ok(json!({ "requester": BEN, "resource": "wiki" })).await);
    app.wait_for_state(&erased, "approved").await;
    app.wait_for_outbox_drained().await;
    app.stop().await;
    let file = app.database.as_ref().and_then(|d| d.sqlite_file()).expect("a SQLite file");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("sqlite://{}", file.display()),
        &format!("[audit]\nsigning_key = \"{}\"\n", keys::private_base64(&signing_key())),
    );
    let head = signoff_command(dir.path()).args(["audit", "head", "--config"]).arg(&config).output().unwrap();
    assert_eq!(head.status.code(), Some(0), "{}", String::from_utf8_lossy(&head.stderr));
    let head_line = String::from_utf8(head.stdout).unwrap();
    let printed: Checkpoint = serde_json::from_str(head_line.trim()).unwrap();
    assert_eq!(Some(&printed), checkpoint::latest(app.store().reader()).await.unwrap().as_ref());
    assert!(printed.seq > cut_to);
    let head_file = dir.path().join("head.json");
    std::fs::write(&head_file, &head_line).unwrap();

    // Act: everything after the earlier checkpoint goes (rows, checkpoints, and the erased request's rows),
    // and the head is fixed.
    app.execute(&format!("DELETE FROM audit WHERE seq > {cut_to}")).await;
    app.execute(&format!("DELETE FROM audit_checkpoints WHERE seq > {cut_to}")).await;
    fix_head(&app).await;
    for table in ["grants", "items", "prompts", "requests"] {
        let column = if table == "requests" { "id" } else { "request_id" };
        app.execute(&format!("DELETE FROM {table} WHERE {column} = '{erased}'")).await;
    }
    let run = |extra: &[&str]| {
        let out = signoff_command(dir.path())
            .args(["audit", "verify", "--config"])
            .arg(&config)
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let (plain, plain_out) = run(&[]);
    let (against_head, head_out) = run(&["--expect-head", head_file.to_str().unwrap()]);

    // Assert
    assert_eq!(plain, Some(0), "a cut back to a checkpoint leaves a trail that checks out alone:\n{plain_out}");
    assert_eq!(against_head, Some(1), "{head_out}");
    assert!(
        head_out.contains(&format!(
            "expected head: the chain ends at row {cut_to}, before the expected head at row {}",
            printed.seq
        )),
        "{head_out}"
    );
}

#[tokio::test]
async fn attack_3_a_forged_decision_appended_with_a_correct_hash_and_head_is_caught() {
    // Arrange: Raj has not decided Ana's request; a forger appends his approval, hashed and chained.
    let mut app = spawn_app(signed()).await;
    let pending = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
    app.wait_for_prompts(&[RAJ]).await;
    app.wait_for_outbox_drained().await;
    app.stop().await;
    let (n, prev, at): (i64, String, i64) = sqlx::query_as("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_one(app.store().reader())
        .await
        .unwrap();
    let catalog: String = sqlx::query_scalar("SELECT id FROM catalogs").fetch_one(app.store().reader()).await.unwrap();
    let detail =
        json!({ "prompt": 0, "decision": { "verdict": "approve" }, "channel": "api", "catalog": catalog }).to_string();
    let item_id = format!("{pending}-1");
    let hash = Canonical {
        seq: n + 1,
        at_ms: at + 1,
        request_id: Some(&pending),
        item_id: Some(&item_id),
        kind: "decision",
        actor: Some(RAJ),
        detail: &detail,
    }
    .hash(&prev);
    sqlx::query(
        "INSERT INTO audit (seq, at, request_id, item_id, kind, actor, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, 'decision', $5, $6, $7, $8)",
    )
    .bind(n + 1)
    .bind(at + 1)
    .bind(pending.clone())
    .bind(item_id.clone())
    .bind(RAJ)
    .bind(detail)
    .bind(prev)
    .bind(hash)
    .execute(app.store().writer())
    .await
    .unwrap();
    fix_head(&app).await;
    assert!(
        signoff::audit::verify(app.store()).await.unwrap() == signoff::audit::Verdict::Intact { rows: n + 1 },
        "the chain alone passes"
    );

    // Act
    let report = verify_signed(&app).await;

    // Assert
    assert_names(
        &report,
        &Place::Row(n + 1),
        &format!("rows {}..{} come after the latest signed checkpoint", n + 1, n + 1),
    );
    assert_names(
        &report,
        &Place::Item(item_id),
        "stored status `requested`, but the replay of its audit trail gives `approved`",
    );
}

#[tokio::test]
async fn a_forged_decision_by_someone_who_was_not_asked_is_refused_on_replay() {
    // Arrange: Ben "approves" Ana's request, which only Raj was asked to decide; the row is chained and the head
    // fixed, and (to leave only the replay to catch it) the latest checkpoint moved onto it.
    let mut app = spawn_app(signed()).await;
    let pending = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "salesforce" })).await);
    app.wait_for_prompts(&[RAJ]).await;
    app.wait_for_outbox_drained().await;
    app.stop().await;
    let (n, prev, at): (i64, String, i64) = sqlx::query_as("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_one(app.store().reader())
        .await
        .unwrap();
    let catalog: String = sqlx::query_scalar("SELECT id FROM catalogs").fetch_one(app.store().reader()).await.unwrap();
    let detail =
        json!({ "prompt": 0, "decision": { "verdict": "approve" }, "channel": "api", "catalog": catalog }).to_string();
    let item_id = format!("{pending}-1");
    let hash = Canonical {
        seq: n + 1,
        at_ms: at + 1,
        request_id: Some(&pending),
        item_id: Some(&item_id),
        kind: "decision",
        actor: Some(BEN),
        detail: &detail,
    }
    .hash(&prev);
    sqlx::query(
        "INSERT INTO audit (seq, at, request_id, item_id, kind, actor, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, 'decision', $5, $6, $7, $8)",
    )
    .bind(n + 1)
    .bind(at + 1)
    .bind(pending.clone())
    .bind(item_id.clone())
    .bind(BEN)
    .bind(detail)
    .bind(prev)
    .bind(hash)
    .execute(app.store().writer())
    .await
    .unwrap();
    fix_head(&app).await;

    // Act: no key, so only the chain and the replay speak.
    let report = verify_with(&app, None, None, None).await;

    // Assert
    assert_names(
        &report,
        &Place::Item(item_id),
        &format!(
            "the `decision` at row {} is refused on replay: this prompt is addressed to {RAJ}, not to {BEN}",
            n + 1
        ),
    );
}

#[tokio::test]
async fn after_a_key_rotation_older_checkpoints_are_counted_not_checked_and_the_latest_must_be_the_new_keys() {
    // Arrange: one app signs with the first key, a second on the same database with another.
    let second = rotated().await;
    let old = second.count("SELECT COUNT(*) FROM audit_checkpoints WHERE key_id = (SELECT key_id FROM audit_checkpoints ORDER BY seq LIMIT 1)").await;

    // Act
    let with_new = verify_with(&second, Some(other_key()), None, None).await;
    let with_old = verify_with(&second, Some(signing_key()), None, None).await;

    // Assert
    assert!(with_new.is_intact(), "{}", report_text(&with_new));
    assert_eq!(with_new.checkpoints.other_key, old as u64, "{}", report_text(&with_new));
    assert!(with_new.checkpoints.checked > 0);
    assert!(
        report_text(&with_new).contains(&format!("{old} under other keys not checked")),
        "{}",
        report_text(&with_new)
    );
    assert_eq!(with_new.replay.items, 2);
    let latest = with_new.checkpoints.latest.as_ref().map(|c| c.seq).unwrap();
    assert_names(&with_old, &Place::Checkpoint(latest), "not by the given key");
}

/// A trail signed with [`signing_key`], then (a second app on the same database) with [`other_key`]: the
/// second app, stopped.
async fn rotated() -> TestApp {
    let mut first = spawn_app(signed()).await;
    let a = id_of(&first.create_ok(json!({ "requester": ANA, "resource": "wiki" })).await);
    first.wait_for_state(&a, "approved").await;
    first.stop().await;
    let database = first.database.clone().expect("a database");
    let mut second =
        spawn_app(AppOptions::new().database(database).signing_key(keys::private_base64(&other_key()))).await;
    let b = id_of(&second.create_ok(json!({ "requester": BEN, "resource": "wiki" })).await);
    second.wait_for_state(&b, "approved").await;
    second.stop().await;
    second
}

async fn verify_rotated(app: &TestApp, current: SigningKey, earlier: &[SigningKey]) -> Report {
    let options = Options {
        key: Some(current.verifying_key()),
        earlier_keys: earlier.iter().map(SigningKey::verifying_key).collect(),
        expect_head: None,
        current_catalog: Box::new(|| Err("no current catalog in this test".to_owned())),
    };
    verify(app.store(), options).await.unwrap_or_else(|e| panic!("[{}] verify could not run: {e}", app.db_kind))
}

#[tokio::test]
async fn with_the_earlier_key_every_checkpoint_of_a_rotated_trail_is_checked_and_a_forged_old_one_is_named() {
    // Arrange
    let app = rotated().await;
    let old_id = keys::key_id(&signing_key().verifying_key());
    let first_old = app.count(&format!("SELECT MIN(seq) FROM audit_checkpoints WHERE key_id = '{old_id}'")).await;
    let total = app.count("SELECT COUNT(*) FROM audit_checkpoints").await as u64;

    // Act 1: the intact trail, with both keys, and with the keys the wrong way round.
    let both = verify_rotated(&app, other_key(), &[signing_key()]).await;
    let reversed = verify_rotated(&app, signing_key(), &[other_key()]).await;
    // Act 2: the oldest checkpoint's signature swapped for a real signature of another checkpoint.
    app.execute(&format!(
        "UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints WHERE key_id <> '{old_id}' \
         ORDER BY seq LIMIT 1) WHERE seq = {first_old}"
    ))
    .await;
    let forged_new_key_only = verify_rotated(&app, other_key(), &[]).await;
    let forged_both = verify_rotated(&app, other_key(), &[signing_key()]).await;

    // Assert: every signature checked, and said so.
    assert!(both.is_intact(), "{}", report_text(&both));
    assert_eq!((both.checkpoints.checked, both.checkpoints.other_key), (total, 0), "{}", report_text(&both));
    assert!(
        report_text(&both).contains(&format!("and earlier key {old_id}, 0 under other keys")),
        "{}",
        report_text(&both)
    );
    // The latest must be under the current key, whatever else is given: a retired key signs nothing new.
    let latest = both.checkpoints.latest.as_ref().map(|c| c.seq).unwrap();
    assert_names(&reversed, &Place::Checkpoint(latest), "not by the given key");
    // Without the earlier key the forgery is only counted; with it, it is named.
    assert!(forged_new_key_only.is_intact(), "{}", report_text(&forged_new_key_only));
    assert_names(&forged_both, &Place::Checkpoint(first_old), "its signature does not verify");
    assert_eq!(forged_both.problems.total, 1, "{}", report_text(&forged_both));
}

#[tokio::test]
async fn the_command_takes_earlier_keys_and_refuses_them_without_a_current_key() {
    // Arrange
    let app = rotated().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&app, dir.path(), "");
    let new = keys::public_base64(&other_key().verifying_key());
    let old = keys::public_base64(&signing_key().verifying_key());

    // Act
    let (both, both_out) = verify_command(dir.path(), &config, &["--public-key", &new, "--earlier-key", &old]);
    let (alone, alone_out) = verify_command(dir.path(), &config, &["--earlier-key", &old]);
    let (garbage, garbage_out) =
        verify_command(dir.path(), &config, &["--public-key", &new, "--earlier-key", "not-a-key"]);

    // Assert
    assert_eq!(both, Some(0), "{both_out}");
    let old_id = keys::key_id(&signing_key().verifying_key());
    assert!(both_out.contains(&format!("and earlier key {old_id}, 0 under other keys not checked")), "{both_out}");
    assert_eq!(alone, Some(1), "{alone_out}");
    assert!(alone_out.contains("--earlier-key needs the current key too"), "{alone_out}");
    assert_eq!(garbage, Some(1), "{garbage_out}");
    assert!(garbage_out.contains("--earlier-key: must be an Ed25519 public key"), "{garbage_out}");
}

// ---------------------------------------------------------------------------------------------------------
// Attacks on state

#[tokio::test]
async fn attack_4_a_denied_item_turned_approved_in_place_is_named() {
    for db in test_databases() {
        // Arrange
        let (app, flows, opts) = finished(&db).await;
        let denied = format!("{}-1", flows.denied);

        // Act 1: the status column alone.
        app.execute(&format!("UPDATE items SET status = 'approved' WHERE id = '{denied}'")).await;
        let by_status = verify_signed(&app).await;

        // Act 2: the state JSON too, so that the API shows an approval.
        app.execute(&format!(
            "UPDATE items SET state = REPLACE(state, '\"status\":\"denied\"', '\"status\":\"approved\"') WHERE id = '{denied}'"
        ))
        .await;
        let view = signoff::runtime::view::request(app.store(), &opts.catalog(), &flows.denied).await.unwrap().unwrap();
        assert_eq!(view.state.as_str(), "approved", "[{db}] the API would now show an approval");
        let by_state = verify_signed(&app).await;

        // Act 3: only the state JSON (status column put back).
        app.execute(&format!("UPDATE items SET status = 'denied' WHERE id = '{denied}'")).await;
        let state_only = verify_signed(&app).await;

        // Assert
        let place = Place::Item(denied);
        assert_names(&by_status, &place, "stored status `approved`, but the replay of its audit trail gives `denied`");
        assert_names(&by_state, &place, "stored status `approved`");
        assert_names(&state_only, &place, "stored state differs from the replay of its audit trail at `");
        assert!(
            report_text(&state_only).contains(r#"stored "approved", replay "denied""#),
            "{}",
            report_text(&state_only)
        );
        for r in [&by_status, &by_state, &state_only] {
            assert_eq!(r.problems.total, 1, "[{db}] only that item:\n{}", report_text(r));
        }
    }
}

#[tokio::test]
async fn attack_5_an_extended_or_reopened_grant_is_named() {
    // Arrange: the 8h grant that was released.
    let (app, flows, _) = finished(&TestDb::Sqlite).await;
    let grant = format!("{}-1", flows.released);
    let month_ms = 30 * 86_400_000_i64;

    // Act 1: thirty more days.
    app.execute(&format!("UPDATE grants SET expires_at = expires_at + {month_ms} WHERE id = '{grant}'")).await;
    let extended = verify_signed(&app).await;
    // Act 2: put back, but never ended.
    app.execute(&format!(
        "UPDATE grants SET expires_at = expires_at - {month_ms}, ended_at = NULL, end_reason = NULL WHERE id = '{grant}'"
    ))
    .await;
    let reopened = verify_signed(&app).await;
    // Act 3: a grant for an approved item deleted, and one made up for a denied item.
    app.execute(&format!(
        "UPDATE grants SET id = '{}-1', request_id = '{}' WHERE id = '{grant}'",
        flows.denied, flows.denied
    ))
    .await;
    let moved = verify_signed(&app).await;

    // Assert
    assert_names(&extended, &Place::Item(grant.clone()), "its grant row differs from the replay: expires_at is");
    assert_eq!(extended.problems.total, 1, "{}", report_text(&extended));
    assert_names(&reopened, &Place::Item(grant.clone()), "ended_at is none, the replay gives");
    assert_names(
        &moved,
        &Place::Item(grant),
        "the replay of its audit trail gives a grant, but no grant row is stored",
    );
    assert_names(&moved, &item(&flows.denied), "has a grant row, but the replay of its audit trail gives no grant");
}

// ---------------------------------------------------------------------------------------------------------
// Keys and the command line

/// A config on the app's SQLite file (no directory: replay uses the stored snapshots), plus `extra`.
fn config_for(app: &TestApp, dir: &Path, extra: &str) -> std::path::PathBuf {
    let file = app.database.as_ref().and_then(|d| d.sqlite_file()).expect("a SQLite file");
    write_config(dir, &format!("sqlite://{}", file.display()), extra)
}

fn verify_command(dir: &Path, config: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = signoff_command(dir).args(["audit", "verify", "--config"]).arg(config).args(extra).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn the_command_verifies_with_the_public_key_alone_and_refuses_a_wrong_key() {
    // Arrange: a config without the private key.
    let (app, _, _) = finished(&TestDb::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&app, dir.path(), "");
    let public = keys::public_base64(&signing_key().verifying_key());
    let pem_file = dir.path().join("audit.pub.pem");
    std::fs::write(&pem_file, signing_key().verifying_key().to_public_key_pem(Default::default()).unwrap()).unwrap();
    let wrong = keys::public_base64(&other_key().verifying_key());

    // Act
    let (by_base64, base64_out) = verify_command(dir.path(), &config, &["--public-key", &public]);
    let (by_pem_file, pem_out) = verify_command(dir.path(), &config, &["--public-key", pem_file.to_str().unwrap()]);
    let (by_wrong, wrong_out) = verify_command(dir.path(), &config, &["--public-key", &wrong]);
    let (no_key, no_key_out) = verify_command(dir.path(), &config, &[]);
    let (garbage, garbage_out) = verify_command(dir.path(), &config, &["--public-key", "not-a-key"]);

    // Assert
    let id = keys::key_id(&signing_key().verifying_key());
    assert_eq!(by_base64, Some(0), "{base64_out}");
    assert!(base64_out.contains(&format!("checked with key {id}")), "{base64_out}");
    assert!(base64_out.contains("items of 6 requests replayed"), "{base64_out}");
    assert_eq!(by_pem_file, Some(0), "{pem_out}");
    assert_eq!(by_wrong, Some(1), "{wrong_out}");
    assert!(
        wrong_out.contains(&format!(
            "the latest checkpoint is signed by key {id}, not by the given key {}",
            keys::key_id(&other_key().verifying_key())
        )),
        "{wrong_out}"
    );
    assert!(wrong_out.contains("under other keys not checked"), "{wrong_out}");
    assert_eq!(no_key, Some(0), "{no_key_out}");
    assert!(no_key_out.contains("signatures were NOT checked"), "{no_key_out}");
    assert_eq!(garbage, Some(1), "{garbage_out}");
    assert!(garbage_out.contains("--public-key: must be an Ed25519 public key"), "{garbage_out}");
}

#[tokio::test]
async fn a_trail_written_without_the_key_fails_verification_with_the_key() {
    // Arrange: an app that never signed.
    let mut app = spawn_app(AppOptions::new()).await;
    let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "wiki" })).await);
    app.wait_for_state(&id, "approved").await;
    app.stop().await;

    // Act
    let unsigned = verify_with(&app, None, None, None).await;
    let signed = verify_signed(&app).await;

    // Assert
    assert!(unsigned.is_intact(), "{}", report_text(&unsigned));
    assert_names(&signed, &Place::Row(1), "no signed checkpoint covers the trail");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&app, dir.path(), "");
    let head = signoff_command(dir.path()).args(["audit", "head", "--config"]).arg(&config).output().unwrap();
    assert_eq!(head.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&head.stderr).contains("no signed checkpoint yet"), "{head:?}");
}

#[tokio::test]
async fn keygen_prints_a_working_key_pair_and_head_prints_the_latest_checkpoint() {
    // Act
    let dir = tempfile::tempdir().unwrap();
    let out = signoff_command(dir.path()).args(["audit", "keygen"]).output().unwrap();

    // Assert
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let private =
        text.lines().find_map(|l| l.strip_prefix("SIGNOFF_AUDIT_SIGNING_KEY=")).expect("the private key line");
    let public = text.lines().last().expect("the public key line");
    let key = keys::signing_key(private).expect("a usable signing key");
    assert_eq!(keys::public_base64(&key.verifying_key()), public);
    assert!(text.contains(&keys::key_id(&key.verifying_key())));

    // And an app signs with it; `audit head` prints what it signed last.
    let mut app = spawn_app(AppOptions::new().signing_key(private)).await;
    let id = id_of(&app.create_ok(json!({ "requester": ANA, "resource": "wiki" })).await);
    app.wait_for_state(&id, "approved").await;
    app.stop().await;
    let config = config_for(&app, dir.path(), "");
    let head = signoff_command(dir.path()).args(["audit", "head", "--config"]).arg(&config).output().unwrap();
    assert_eq!(head.status.code(), Some(0), "{}", String::from_utf8_lossy(&head.stderr));
    let printed: Checkpoint = serde_json::from_slice(&head.stdout).unwrap();
    assert_eq!(printed.seq, rows(&app).await);
    printed.verify(&key.verifying_key()).unwrap();
    let (code, out) = verify_command(dir.path(), &config, &["--public-key", public]);
    assert_eq!(code, Some(0), "{out}");

    // The head just printed is in the chain; a head with another hash, or a signature that is not the key's, is not.
    let kept = dir.path().join("head.json");
    std::fs::write(&kept, &head.stdout).unwrap();
    let (code, out) =
        verify_command(dir.path(), &config, &["--public-key", public, "--expect-head", kept.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("expected head: found in the chain"), "{out}");
    let rehashed = Checkpoint { hash: "0".repeat(64), ..printed.clone() };
    std::fs::write(&kept, rehashed.to_line()).unwrap();
    let (code, out) =
        verify_command(dir.path(), &config, &["--public-key", public, "--expect-head", kept.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("expected head: row {} has hash", printed.seq)), "{out}");
    assert!(out.contains("expected head: its signature does not verify"), "{out}");
    std::fs::write(&kept, "not json").unwrap();
    let (code, out) = verify_command(dir.path(), &config, &["--expect-head", kept.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is not the JSON line `signoff audit head` prints"), "{out}");
}
