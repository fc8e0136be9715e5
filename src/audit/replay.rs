//! Replaying items from the audit trail (DESIGN 7.3).
//!
//! The hash chain and the signed checkpoints protect the trail; nothing protects `items`, `grants` or
//! `item_events` from someone with write access to the database, and those rows are what the API shows and what
//! provisioning believes. So `signoff audit verify` rebuilds every item from the trail: the `requested` row
//! gives the request (requester, resource, roles, people, justification, duration) and so its items
//! ([`RequestSpec::items`]); each is started with [`engine::start`] at the row's time, and each later row of
//! kind `decision`, `timer`, `cancel` or `grant.end` becomes its [`Event`] for [`engine::apply`]. The engine is
//! deterministic (no clock, no randomness; its maps are only looked up, never iterated into its output), so the
//! result must be exactly the stored state. Any difference names the item: a status or state edited in place,
//! a grant extended, an event refused on replay (a forged row), an item that the trail never started.
//!
//! Each row names the catalog snapshot the runtime ran on ([`crate::catalog::source`]), so a directory change
//! since (a new manager, a removed approver) does not make a genuine item look tampered with. Rows written
//! before snapshots were recorded name none; those items are replayed on the current config's catalog, and a
//! mismatch says so.
//!
//! This module is the pure part: rows in, problems out. [`super::verify::verify`] reads the rows, a page of requests
//! at a time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;

use super::verify::{Place, Problems};
use crate::catalog::Catalog;
use crate::engine::{self, Decision, Event, GrantEnd, Item, ItemSpec};
use crate::request::RequestSpec;
use crate::store::{from_ms, ms};
use crate::time::Duration;

/// The kinds of audit row that start or change an item, in the order replay needs them.
pub const REPLAYED_KINDS: [&str; 6] = ["requested", "decision", "timer", "cancel", "grant.end", "unavailable"];

/// An audit row of one of [`REPLAYED_KINDS`].
#[derive(Debug, Clone)]
pub(crate) struct AuditRow {
    pub(crate) seq: i64,
    pub(crate) at: i64,
    pub(crate) request_id: String,
    pub(crate) item_id: Option<String>,
    pub(crate) kind: String,
    pub(crate) actor: Option<String>,
    /// As stored: parsed here, once.
    pub(crate) detail: String,
}

/// An `items` row.
#[derive(Debug, Clone)]
pub(crate) struct ItemRow {
    pub(crate) id: String,
    pub(crate) request_id: String,
    pub(crate) status: String,
    pub(crate) state: String,
}

/// A `grants` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantRow {
    pub(crate) id: String,
    pub(crate) request_id: String,
    pub(crate) user_id: String,
    pub(crate) resource: String,
    pub(crate) role: Option<String>,
    pub(crate) granted_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) ended_at: Option<i64>,
    pub(crate) end_reason: Option<String>,
}

/// Everything stored about one request that replay reads.
#[derive(Debug, Default)]
pub(crate) struct RequestRows {
    /// Its audit rows of [`REPLAYED_KINDS`], in chain order.
    pub(crate) audit: Vec<AuditRow>,
    pub(crate) items: Vec<ItemRow>,
    pub(crate) grants: Vec<GrantRow>,
}

/// Groups a page's rows by request id (every row of a request is in the same page).
pub(crate) fn group(audit: Vec<AuditRow>, items: Vec<ItemRow>, grants: Vec<GrantRow>) -> BTreeMap<String, RequestRows> {
    let mut by: BTreeMap<String, RequestRows> = BTreeMap::new();
    for r in audit {
        by.entry(r.request_id.clone()).or_default().audit.push(r);
    }
    for i in items {
        by.entry(i.request_id.clone()).or_default().items.push(i);
    }
    for g in grants {
        by.entry(g.request_id.clone()).or_default().grants.push(g);
    }
    for rows in by.values_mut() {
        rows.audit.sort_by_key(|r| r.seq);
    }
    by
}

/// The catalogs rows name, built from their snapshots, and the current config's catalog for rows that name
/// none. `None`: it could not be had, which whoever filled the cache reported once.
#[derive(Default)]
pub(crate) struct Catalogs {
    pub(crate) by_id: HashMap<String, Option<Arc<Catalog>>>,
    pub(crate) current: Option<Option<Arc<Catalog>>>,
}

/// Why rows without a catalog id are replayed on today's files, added to a mismatch they may explain.
const CURRENT_NOTE: &str = " (replayed with the current directory and policies: its rows were written before catalog \
     snapshots were recorded, so a directory or policy change since then also shows here)";

impl Catalogs {
    /// The catalog a row names and whether it is the current config's. `Err(None)`: it could not be had
    /// (already reported); `Err(Some(why))`: it was never looked for, to be reported at the row.
    fn of(&self, named: Option<&str>) -> Result<(Arc<Catalog>, bool), Option<String>> {
        match named {
            Some(id) => match self.by_id.get(id) {
                Some(Some(c)) => Ok((c.clone(), false)),
                Some(None) => Err(None),
                None => Err(Some(format!("names catalog snapshot {id}, which was not read"))),
            },
            None => match &self.current {
                Some(Some(c)) => Ok((c.clone(), true)),
                Some(None) => Err(None),
                None => Err(Some("names no catalog snapshot, and the current catalog was not read".to_owned())),
            },
        }
    }
}

/// The catalog id an audit row's detail names, if any, found without parsing the whole detail: the reader uses
/// it to load snapshots before a page is replayed. Replay itself reads the parsed detail, and a row whose
/// catalog this missed is reported there, so a detail written to mislead this scan cannot skip a check.
pub(crate) fn catalog_id(detail: &str) -> Option<String> {
    const KEY: &str = "\"catalog\":\"";
    let at = detail.find(KEY)?;
    let rest = &detail[at + KEY.len()..];
    if rest.contains(KEY) {
        // Ambiguous (the key appears twice): parse.
        return serde_json::from_str::<serde_json::Value>(detail).ok()?.get("catalog")?.as_str().map(str::to_owned);
    }
    rest.find('"').map(|end| rest[..end].to_owned())
}

/// What replay counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Requests whose items were rebuilt.
    pub requests: u64,
    /// Items rebuilt and compared.
    pub items: u64,
    /// Events applied.
    pub events: u64,
    /// Items not replayed because the catalog their rows name could not be had (reported once per catalog).
    pub skipped: u64,
}

/// `requested` detail: `{resource, items, request: {roles, for, justification, duration}, catalog?}`. Fields
/// this does not name (other details a row may carry) are ignored.
#[derive(Deserialize)]
struct RequestedDetail {
    resource: String,
    items: usize,
    request: RequestBody,
    #[serde(default)]
    catalog: Option<String>,
}

#[derive(Deserialize)]
struct RequestBody {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, rename = "for")]
    beneficiaries: Vec<String>,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    duration: Option<String>,
}

#[derive(Deserialize)]
struct DecisionDetail {
    prompt: u32,
    decision: Decision,
    channel: String,
    #[serde(default)]
    catalog: Option<String>,
}

#[derive(Deserialize)]
struct TimerDetail {
    timer: u32,
    #[serde(default)]
    catalog: Option<String>,
}

#[derive(Deserialize)]
struct CancelDetail {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    catalog: Option<String>,
}

#[derive(Deserialize)]
struct UnavailableDetail {
    user: String,
    reason: String,
    #[serde(default)]
    catalog: Option<String>,
}

#[derive(Deserialize)]
struct GrantEndDetail {
    how: GrantEnd,
    #[serde(default)]
    catalog: Option<String>,
}

/// One item being rebuilt.
struct Replayed {
    item: Item,
    /// Some row of it named no catalog, so it ran on the current config's.
    current: bool,
    /// Replay stopped (a refused or unreadable event, a missing catalog): it is not compared.
    stopped: bool,
}

/// Replays one request's items from its audit rows and compares them with the stored items and grants.
pub(crate) fn request(id: &str, rows: &RequestRows, catalogs: &Catalogs, problems: &mut Problems, counts: &mut Counts) {
    let item = |id: &str| Place::Item(id.to_owned());
    let requested: Vec<&AuditRow> = rows.audit.iter().filter(|r| r.kind == "requested").collect();
    let Some(start) = requested.first() else {
        // Nothing in the trail started this request: every stored item and grant of it is unaccounted for.
        for i in &rows.items {
            problems.push(item(&i.id), "is stored, but the audit trail never started it (no `requested` row)");
        }
        for g in &rows.grants {
            if !rows.items.iter().any(|i| i.id == g.id) {
                problems.push(item(&g.id), "has a grant row, but the audit trail never started it");
            }
        }
        for r in &rows.audit {
            problems
                .push(Place::Row(r.seq), format!("`{}` for request {id}, which no `requested` row started", r.kind));
        }
        return;
    };
    if let Some(second) = requested.get(1) {
        problems.push(Place::Row(second.seq), format!("a second `requested` row for request {id}"));
        return;
    }
    counts.requests += 1;
    let detail: RequestedDetail = match serde_json::from_str(&start.detail) {
        Ok(d) => d,
        Err(e) => {
            problems.push(Place::Row(start.seq), format!("its `requested` detail cannot be read: {e}"));
            return;
        }
    };
    let Some(requester) = start.actor.clone() else {
        problems.push(Place::Row(start.seq), "a `requested` row without a requester");
        return;
    };
    let duration = match detail.request.duration.as_deref().map(Duration::parse).transpose() {
        Ok(d) => d,
        Err(e) => {
            problems.push(Place::Row(start.seq), format!("its requested duration cannot be read: {e}"));
            return;
        }
    };
    let spec = RequestSpec {
        id: id.to_owned(),
        requester,
        resource: detail.resource,
        roles: detail.request.roles,
        beneficiaries: detail.request.beneficiaries,
        justification: detail.request.justification,
        duration,
    };
    let specs: Vec<ItemSpec> = spec.items();
    if specs.len() != detail.items {
        problems.push(
            Place::Row(start.seq),
            format!("it records {} items but its request makes {}", detail.items, specs.len()),
        );
    }
    let (catalog, current) = match catalogs.of(detail.catalog.as_deref()) {
        Ok(c) => c,
        Err(why) => {
            if let Some(why) = why {
                problems.push(Place::Row(start.seq), why);
            }
            counts.skipped += specs.len() as u64;
            return;
        }
    };
    let at = from_ms(start.at);
    let mut replayed: BTreeMap<String, Replayed> = BTreeMap::new();
    for s in specs {
        let item_id = s.item.clone();
        match engine::start(&catalog, s, at) {
            Ok(started) => {
                replayed.insert(item_id, Replayed { item: started.item, current, stopped: false });
            }
            Err(e) => {
                let note = if current { CURRENT_NOTE } else { "" };
                problems.push(item(&item_id), format!("cannot start on replay: {e}{note}"));
            }
        }
    }

    // The events, in chain order.
    for r in rows.audit.iter().filter(|r| r.kind != "requested") {
        let Some(item_id) = &r.item_id else {
            problems.push(Place::Row(r.seq), format!("a `{}` row for request {id} that names no item", r.kind));
            continue;
        };
        let Some(state) = replayed.get_mut(item_id) else {
            problems.push(Place::Row(r.seq), format!("names item {item_id}, which request {id} does not have"));
            continue;
        };
        if state.stopped {
            continue;
        }
        let (event, named) = match event(r) {
            Ok(e) => e,
            Err(e) => {
                problems.push(Place::Row(r.seq), format!("its `{}` detail cannot be read: {e}", r.kind));
                state.stopped = true;
                continue;
            }
        };
        let (catalog, current) = match catalogs.of(named.as_deref()) {
            Ok(c) => c,
            Err(why) => {
                if let Some(why) = why {
                    problems.push(Place::Row(r.seq), why);
                }
                counts.skipped += 1;
                state.stopped = true;
                continue;
            }
        };
        state.current |= current;
        match engine::apply(&catalog, &state.item, &event) {
            Ok((next, _)) => {
                state.item = next;
                counts.events += 1;
            }
            Err(refusal) => {
                let note = if state.current { CURRENT_NOTE } else { "" };
                problems.push(
                    item(item_id),
                    format!("the `{}` at row {} is refused on replay: {refusal}{note}", r.kind, r.seq),
                );
                state.stopped = true;
            }
        }
    }

    // The stored items against the replay.
    let stored: HashMap<&str, &ItemRow> = rows.items.iter().map(|i| (i.id.as_str(), i)).collect();
    for i in &rows.items {
        if !replayed.contains_key(&i.id) {
            problems.push(item(&i.id), format!("is stored, but request {id}'s `requested` row does not make it"));
        }
    }
    let grants: HashMap<&str, &GrantRow> = rows.grants.iter().map(|g| (g.id.as_str(), g)).collect();
    for g in &rows.grants {
        if !replayed.contains_key(&g.id) {
            problems.push(item(&g.id), format!("has a grant row, but request {id} does not make this item"));
        }
    }
    for (item_id, r) in &replayed {
        if r.stopped {
            continue;
        }
        counts.items += 1;
        let note = if r.current { CURRENT_NOTE } else { "" };
        let Some(row) = stored.get(item_id.as_str()) else {
            problems.push(item(item_id), format!("is started by row {} but is not stored{note}", start.seq));
            continue;
        };
        compare_item(item_id, row, &r.item, note, problems);
        compare_grant(item_id, grants.get(item_id.as_str()).copied(), &r.item, note, problems);
    }
}

/// The event an audit row records, and the catalog snapshot it names.
fn event(r: &AuditRow) -> Result<(Event, Option<String>), String> {
    let at = from_ms(r.at);
    let actor = || r.actor.clone().ok_or_else(|| "the row names no actor".to_owned());
    let read = |e: serde_json::Error| e.to_string();
    Ok(match r.kind.as_str() {
        "decision" => {
            let d: DecisionDetail = serde_json::from_str(&r.detail).map_err(read)?;
            (Event::Decide { prompt: d.prompt, by: actor()?, decision: d.decision, channel: d.channel, at }, d.catalog)
        }
        "timer" => {
            let d: TimerDetail = serde_json::from_str(&r.detail).map_err(read)?;
            (Event::TimerFired { timer: d.timer, at }, d.catalog)
        }
        "cancel" => {
            let d: CancelDetail = serde_json::from_str(&r.detail).map_err(read)?;
            (Event::Cancel { by: actor()?, reason: d.reason, at }, d.catalog)
        }
        "unavailable" => {
            let d: UnavailableDetail = serde_json::from_str(&r.detail).map_err(read)?;
            (Event::Unavailable { user: d.user, reason: d.reason, at }, d.catalog)
        }
        "grant.end" => {
            let d: GrantEndDetail = serde_json::from_str(&r.detail).map_err(read)?;
            (Event::EndGrant { by: actor()?, how: d.how, at }, d.catalog)
        }
        other => return Err(format!("`{other}` is not an event")),
    })
}

/// The `items` row against the replayed item: its `status` column, and its `state` JSON read back whole.
fn compare_item(id: &str, row: &ItemRow, replayed: &Item, note: &str, problems: &mut Problems) {
    let place = || Place::Item(id.to_owned());
    if row.status != replayed.status.as_str() {
        problems.push(
            place(),
            format!(
                "stored status `{}`, but the replay of its audit trail gives `{}`{note}",
                row.status,
                replayed.status.as_str()
            ),
        );
        return;
    }
    // Fast path: the stored text is exactly what signoff writes for the replayed item (serializing is a few
    // times cheaper than reading the text back). Anything else is read back and compared whole, so a state
    // merely written differently (reformatted, keys reordered) is not reported.
    if serde_json::to_string(replayed).is_ok_and(|text| text == row.state) {
        return;
    }
    match serde_json::from_str::<Item>(&row.state) {
        Err(e) => problems.push(place(), format!("its stored state cannot be read: {e}")),
        Ok(stored) if stored != *replayed => {
            let (path, a, b) = first_difference(&stored, replayed);
            problems.push(
                place(),
                format!(
                    "stored state differs from the replay of its audit trail at `{path}`: stored {a}, replay {b}{note}"
                ),
            );
        }
        Ok(_) => {}
    }
}

/// The `grants` row (there is one exactly when the replay has a grant) against the replayed grant.
fn compare_grant(id: &str, row: Option<&GrantRow>, replayed: &Item, note: &str, problems: &mut Problems) {
    let place = || Place::Item(id.to_owned());
    match (row, &replayed.grant) {
        (None, None) => {}
        (Some(_), None) => {
            problems.push(place(), format!("has a grant row, but the replay of its audit trail gives no grant{note}"))
        }
        (None, Some(_)) => problems
            .push(place(), format!("the replay of its audit trail gives a grant, but no grant row is stored{note}")),
        (Some(row), Some(g)) => {
            let expected = GrantRow {
                id: id.to_owned(),
                request_id: replayed.spec.request.clone(),
                user_id: replayed.spec.beneficiary.clone(),
                resource: replayed.spec.resource.clone(),
                role: replayed.spec.role.clone(),
                granted_at: ms(g.granted_at),
                expires_at: g.expires_at.map(ms),
                ended_at: g.ended.map(|(_, at)| ms(at)),
                end_reason: g.ended.map(|(how, _)| how.as_str().to_owned()),
            };
            if *row != expected {
                let time = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| from_ms(v).to_string());
                let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
                let fields = [
                    ("user", row.user_id.clone(), expected.user_id.clone()),
                    ("resource", row.resource.clone(), expected.resource.clone()),
                    ("role", text(&row.role), text(&expected.role)),
                    ("granted_at", time(Some(row.granted_at)), time(Some(expected.granted_at))),
                    ("expires_at", time(row.expires_at), time(expected.expires_at)),
                    ("ended_at", time(row.ended_at), time(expected.ended_at)),
                    ("end_reason", text(&row.end_reason), text(&expected.end_reason)),
                ];
                let differ: Vec<String> = fields
                    .iter()
                    .filter(|(_, a, b)| a != b)
                    .map(|(name, a, b)| format!("{name} is {a}, the replay gives {b}"))
                    .collect();
                problems.push(place(), format!("its grant row differs from the replay: {}{note}", differ.join("; ")));
            }
        }
    }
}

/// Where two items first differ, as a JSON path and the two values there (shortened).
fn first_difference(stored: &Item, replayed: &Item) -> (String, String, String) {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, path: &mut String) -> Option<(String, String)> {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, va) in x {
                    let len = path.len();
                    path.push_str(if path.is_empty() { "" } else { "." });
                    path.push_str(k);
                    let found = match y.get(k) {
                        Some(vb) => walk(va, vb, path),
                        None => Some((short(va), "nothing".to_owned())),
                    };
                    if found.is_some() {
                        return found;
                    }
                    path.truncate(len);
                }
                y.iter().find(|(k, _)| !x.contains_key(*k)).map(|(k, vb)| {
                    path.push_str(if path.is_empty() { "" } else { "." });
                    path.push_str(k);
                    ("nothing".to_owned(), short(vb))
                })
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if let Some(found) = walk(va, vb, path) {
                        return Some(found);
                    }
                    path.truncate(len);
                }
                (x.len() != y.len()).then(|| (format!("{} entries", x.len()), format!("{} entries", y.len())))
            }
            _ => (a != b).then(|| (short(a), short(b))),
        }
    }
    fn short(v: &serde_json::Value) -> String {
        let s = v.to_string();
        if s.chars().count() > 80 { format!("{}...", s.chars().take(77).collect::<String>()) } else { s }
    }
    let a = serde_json::to_value(stored).unwrap_or_default();
    let b = serde_json::to_value(replayed).unwrap_or_default();
    let mut path = String::new();
    match walk(&a, &b, &mut path) {
        Some((x, y)) => (if path.is_empty() { "(the whole item)".to_owned() } else { path }, x, y),
        None => ("(a value that JSON does not show)".to_owned(), "-".to_owned(), "-".to_owned()),
    }
}
