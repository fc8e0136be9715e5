//! The approval picture of `/requests/{id}` (`signoff::web::picture::item_svg`): how long drawing takes for
//! a 3-step item (manager escalated, 2 of 3 in parallel with one dismissed, a director pending) and for a
//! quorum of 100 among a group of 1,000 members where 60 answered (50 drawn one by one, the rest counted).
//!
//! The items are built by running the engine in memory, with fixed ids and timestamps; only the drawing is
//! timed. Run with `cargo bench --bench picture` (wall clock) or `BENCH_CLOCK=cpu cargo bench --bench
//! picture` (CPU time of the measuring thread; see `benches/common/clock.rs`).

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::measurement::{Measurement, WallTime};
use criterion::{Criterion, Throughput};

use signoff::catalog::Catalog;
use signoff::engine::{self, Decision, Event, Item, ItemSpec, ItemStatus};
use signoff::time::Timestamp;
use signoff::web::picture::item_svg;

#[path = "common/catalog.rs"]
mod catalog;
#[path = "common/clock.rs"]
mod clock;

/// Members of the big group.
const MEMBERS: usize = 1_000;
const REQUESTER: &str = "requester@example.com";

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;

fn at(hours: i64) -> Timestamp {
    Timestamp::from_second(T0 + hours * 3600).expect("a valid instant")
}

fn member(i: usize) -> String {
    format!("m{i:04}@example.com")
}

fn directory_yaml() -> String {
    let mut y = String::with_capacity(200 * MEMBERS);
    y.push_str("source: okta\nusers:\n");
    y.push_str("  - { id: ceo@example.com, name: Chief Executive }\n");
    y.push_str("  - { id: vp@example.com, name: Vice President, manager: ceo@example.com }\n");
    y.push_str("  - { id: boss@example.com, name: Big Boss, manager: vp@example.com }\n");
    y.push_str("  - { id: dir@example.com, name: Dee Director, manager: vp@example.com }\n");
    let _ = writeln!(y, "  - {{ id: {REQUESTER}, name: Requester Person, manager: boss@example.com }}");
    for p in ["one", "two", "three"] {
        let _ = writeln!(y, "  - {{ id: {p}@example.com, name: Approver {p}, manager: vp@example.com }}");
    }
    for i in 0..MEMBERS {
        let _ = writeln!(y, "  - {{ id: {}, name: Member {i:04}, manager: boss@example.com }}", member(i));
    }
    y.push_str("groups:\n  - id: big\n    name: Big Group\n    members:\n");
    for i in 0..MEMBERS {
        let _ = writeln!(y, "      - {}", member(i));
    }
    y.push_str(
        "resources:\n  - { id: chain, name: Three steps, workflow: CHAIN }\n  \
         - { id: quorum, name: Quorum of a hundred, workflow: QUORUM }\n",
    );
    y
}

const POLICIES_YAML: &str = "workflows:
  CHAIN:
    sequential_expression:
      expressions:
        - manager_expression: { timeout: 24h }
        - parallel_expression:
            number_required: 2
            expressions:
              - user_constant_expression: { user: one@example.com }
              - user_constant_expression: { user: two@example.com }
              - user_constant_expression: { user: three@example.com }
        - user_constant_expression: { user: dir@example.com, timeout: 2d }
  QUORUM:
    parallel_group_expression: { group: big, number_required: 100 }
";

fn start(cat: &Catalog, resource: &str) -> Item {
    let spec = ItemSpec {
        request: "req-0001".to_owned(),
        item: format!("item-{resource}"),
        requester: REQUESTER.to_owned(),
        beneficiary: REQUESTER.to_owned(),
        co_beneficiaries: Vec::new(),
        resource: resource.to_owned(),
        role: None,
        justification: Some("benchmark".to_owned()),
        duration: None,
    };
    engine::start(cat, spec, at(0)).expect("item starts").item
}

fn decide(cat: &Catalog, item: &Item, who: &str, decision: Decision, hour: i64) -> Item {
    let prompt = item.pending_prompt_of(who).unwrap_or_else(|| panic!("{who} is not asked")).id;
    let event = Event::Decide { prompt, by: who.to_owned(), decision, channel: "web".to_owned(), at: at(hour) };
    engine::apply(cat, item, &event).expect("decision accepted").0
}

fn approve() -> Decision {
    Decision::Approve { duration: None, comment: None }
}

/// Manager silent for a day (escalated to the VP, who approves), two of three approve, the director waits.
fn three_steps(cat: &Catalog) -> Item {
    let mut item = start(cat, "chain");
    let timeout = item.active_timers().next().expect("the manager's timeout").clone();
    item = engine::apply(cat, &item, &Event::TimerFired { timer: timeout.id, at: timeout.due }).expect("fires").0;
    item = decide(cat, &item, "vp@example.com", approve(), 25);
    item = decide(cat, &item, "one@example.com", approve(), 26);
    item = decide(cat, &item, "two@example.com", approve(), 27);
    assert_eq!(item.pending_prompts().map(|p| p.approver.as_str()).collect::<Vec<_>>(), ["dir@example.com"]);
    item
}

/// 55 approvals and 5 denials among the 1,000 asked; 940 still pending.
fn quorum(cat: &Catalog) -> Item {
    let mut item = start(cat, "quorum");
    for i in 0..60 {
        let d = if i < 55 { approve() } else { Decision::Deny { comment: Some("not now".to_owned()) } };
        item = decide(cat, &item, &member(i), d, 1);
    }
    assert_eq!(item.status, ItemStatus::Requested);
    item
}

fn picture_benches<M: Measurement>(c: &mut Criterion<M>) {
    let cat = catalog::catalog(&directory_yaml(), POLICIES_YAML);
    let names = |id: &str| cat.directory.name_of(id).to_owned();
    let now = at(30);
    let mut g = c.benchmark_group("picture");
    clock::tune(&mut g, 10);
    g.throughput(Throughput::Elements(1));
    let chain = three_steps(&cat);
    g.bench_function("item_svg/3_steps", |b| b.iter(|| item_svg(black_box(&chain), &names, now)));
    let big = quorum(&cat);
    g.bench_function("item_svg/quorum_1000", |b| b.iter(|| item_svg(black_box(&big), &names, now)));
    g.finish();
    eprintln!(
        "sizes: 3_steps {} bytes, quorum_1000 {} bytes",
        item_svg(&chain, &names, now).len(),
        item_svg(&big, &names, now).len()
    );
}

fn main() {
    clock::main_with(picture_benches::<WallTime>, picture_benches::<clock::ThreadCpuTime>);
}
