//! Engine throughput on a 1,000-member group: `start` (1,000 prompts), one `apply` that does not settle,
//! the `apply` that completes a quorum and dismisses the 998 leftovers, 1,000 approvals in a row on a
//! 1000-of-1000 item, and the JSON round trip of the 1,000-prompt state the runtime stores after each event.
//!
//! Everything is built in memory and is deterministic: fixed ids, fixed timestamps, no clock.
//!
//! Run with `cargo bench --bench engine` (wall clock) or `BENCH_CLOCK=cpu cargo bench --bench engine` (CPU
//! time of the measuring thread; see `benches/common/clock.rs`).

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, Criterion, Throughput};

use signoff::catalog::Catalog;
use signoff::engine::{self, Decision, Event, Item, ItemSpec, ItemStatus, PromptState};
use signoff::time::Timestamp;

#[path = "common/catalog.rs"]
mod catalog;
#[path = "common/clock.rs"]
mod clock;

/// Members of the big group.
const MEMBERS: usize = 1_000;
/// The requester (not a member of the group, so nobody is left out by the self-approval rule).
const REQUESTER: &str = "requester@example.com";
/// Resource whose workflow needs 2 of the 1,000 members.
const QUORUM_2: &str = "app-quorum-2";
/// Resource whose workflow needs all 1,000 members.
const QUORUM_ALL: &str = "app-quorum-all";

/// 2026-01-01T00:00:00Z: the item starts here; decisions come a minute later.
const T0: i64 = 1_767_225_600;

fn member(i: usize) -> String {
    format!("m{i:04}@example.com")
}

fn at(secs_after_t0: i64) -> Timestamp {
    Timestamp::from_second(T0 + secs_after_t0).expect("a valid instant")
}

/// A directory with a small management chain, the requester, a group `big` of 1,000 members and two
/// resources whose workflows ask that group.
fn directory_yaml() -> String {
    let mut y = String::with_capacity(200 * MEMBERS);
    y.push_str("source: okta\nusers:\n");
    y.push_str("  - id: ceo@example.com\n    name: Chief Executive\n    work_status: FULL_TIME\n");
    y.push_str("  - id: boss@example.com\n    name: Big Boss\n    manager: ceo@example.com\n");
    let _ = writeln!(
        y,
        "  - id: {REQUESTER}\n    name: Requester Person\n    manager: boss@example.com\n    department: Engineering"
    );
    for i in 0..MEMBERS {
        let _ = writeln!(
            y,
            "  - id: {}\n    name: Member {i:04}\n    manager: boss@example.com\n    department: Security\n    slack_id: U{i:06}",
            member(i)
        );
    }
    y.push_str("groups:\n  - id: big\n    name: Big Group\n    owners: [boss@example.com]\n    members:\n");
    for i in 0..MEMBERS {
        let _ = writeln!(y, "      - {}", member(i));
    }
    let _ = write!(
        y,
        "resources:\n  - id: {QUORUM_2}\n    name: Quorum of two\n    workflow: BIG_TWO\n  \
         - id: {QUORUM_ALL}\n    name: Everybody agrees\n    workflow: BIG_ALL\n"
    );
    y
}

const POLICIES_YAML: &str = "workflows:
  BIG_TWO:
    parallel_group_expression: { group: big, number_required: 2 }
  BIG_ALL:
    parallel_group_expression: { group: big, number_required: 1000 }
";

fn spec(resource: &str) -> ItemSpec {
    ItemSpec {
        request: "req-0001".to_owned(),
        item: format!("item-{resource}"),
        requester: REQUESTER.to_owned(),
        beneficiary: REQUESTER.to_owned(),
        co_beneficiaries: Vec::new(),
        resource: resource.to_owned(),
        role: None,
        justification: Some("benchmark".to_owned()),
        duration: None,
    }
}

fn start(cat: &Catalog, resource: &str) -> Item {
    let started = engine::start(cat, spec(resource), at(0)).expect("item starts");
    assert_eq!(started.item.prompts.len(), MEMBERS, "one prompt per member");
    assert_eq!(started.item.status, ItemStatus::Requested);
    started.item
}

/// The approval of prompt `i` by its approver (prompts are created in member order).
fn approve(item: &Item, i: usize) -> Event {
    let p = &item.prompts[i];
    Event::Decide {
        prompt: p.id,
        by: p.approver.clone(),
        decision: Decision::Approve { duration: None, comment: None },
        channel: "slack".to_owned(),
        at: at(60 + i as i64),
    }
}

fn apply(cat: &Catalog, item: &Item, event: &Event) -> Item {
    engine::apply(cat, item, event).expect("event accepted").0
}

fn engine_benches<M: Measurement>(c: &mut Criterion<M>) {
    let cat = catalog::catalog(&directory_yaml(), POLICIES_YAML);
    let two = start(&cat, QUORUM_2);
    let all = start(&cat, QUORUM_ALL);

    // Sanity checks outside the timed parts: the settling approval does settle and dismisses 998 prompts.
    let first = approve(&two, 0);
    let second = approve(&two, 1);
    let after_first = apply(&cat, &two, &first);
    assert_eq!(after_first.status, ItemStatus::Requested);
    let (settled, fx) = engine::apply(&cat, &after_first, &second).expect("second approval accepted");
    assert_eq!(settled.status, ItemStatus::Approved);
    let dismissed = settled.prompts.iter().filter(|p| matches!(p.state, PromptState::Dismissed { .. })).count();
    assert_eq!(dismissed, MEMBERS - 2);
    assert!(fx.len() > MEMBERS - 2, "one DismissPrompt effect per leftover prompt");
    let all_events: Vec<Event> = (0..MEMBERS).map(|i| approve(&all, i)).collect();
    let mut check = all.clone();
    for e in &all_events {
        check = apply(&cat, &check, e);
    }
    assert_eq!(check.status, ItemStatus::Approved);

    let mut g = c.benchmark_group("engine_1000_members");
    clock::tune(&mut g, 10);

    g.throughput(Throughput::Elements(1));
    g.bench_function("start_2_of_1000", |b| {
        b.iter(|| engine::start(&cat, black_box(spec(QUORUM_2)), at(0)).expect("item starts"))
    });
    g.bench_function("start_1000_of_1000", |b| {
        b.iter(|| engine::start(&cat, black_box(spec(QUORUM_ALL)), at(0)).expect("item starts"))
    });

    // Reference point: `apply` takes the state by reference and clones it; this is that clone alone.
    g.bench_function("clone_item_1000_prompts", |b| b.iter(|| black_box(&two).clone()));

    g.bench_function("apply_approve_non_settling", |b| {
        b.iter_batched(
            || two.clone(),
            |item| engine::apply(&cat, &item, black_box(&first)).expect("accepted"),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("apply_approve_settling", |b| {
        b.iter_batched(
            || after_first.clone(),
            |item| engine::apply(&cat, &item, black_box(&second)).expect("accepted"),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("apply_approve_first_of_1000_of_1000", |b| {
        b.iter_batched(
            || all.clone(),
            |item| engine::apply(&cat, &item, black_box(&all_events[0])).expect("accepted"),
            BatchSize::SmallInput,
        )
    });

    g.throughput(Throughput::Elements(MEMBERS as u64));
    g.sample_size(20);
    g.bench_function("apply_1000_approvals_1000_of_1000", |b| {
        b.iter_batched(
            || all.clone(),
            |mut item| {
                for e in &all_events {
                    item = apply(&cat, &item, black_box(e));
                }
                item
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("item_state_json_1000_prompts");
    clock::tune(&mut g, 10);
    let bytes = serde_json::to_vec(&two).expect("serializes");
    let settled_bytes = serde_json::to_vec(&settled).expect("serializes");
    // Positions of policy expressions are not serialized (`Expr::loc` is `serde(skip)`), so compare the
    // re-serialized bytes rather than the items.
    let back: Item = serde_json::from_slice(&bytes).expect("deserializes");
    assert!(serde_json::to_vec(&back).expect("serializes") == bytes, "the JSON round trip is stable");
    eprintln!(
        "item state JSON: {} bytes started (1,000 pending prompts), {} bytes settled (998 dismissed)",
        bytes.len(),
        settled_bytes.len()
    );
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("serialize_started", |b| b.iter(|| serde_json::to_vec(black_box(&two)).expect("serializes")));
    g.bench_function("deserialize_started", |b| {
        b.iter(|| serde_json::from_slice::<Item>(black_box(&bytes)).expect("deserializes"))
    });
    g.bench_function("roundtrip_started", |b| {
        b.iter(|| {
            let v = serde_json::to_vec(black_box(&two)).expect("serializes");
            serde_json::from_slice::<Item>(&v).expect("deserializes")
        })
    });
    g.throughput(Throughput::Bytes(settled_bytes.len() as u64));
    g.bench_function("roundtrip_settled", |b| {
        b.iter(|| {
            let v = serde_json::to_vec(black_box(&settled)).expect("serializes");
            serde_json::from_slice::<Item>(&v).expect("deserializes")
        })
    });
    g.finish();
}

fn main() {
    clock::main_with(engine_benches::<WallTime>, engine_benches::<clock::ThreadCpuTime>);
}
