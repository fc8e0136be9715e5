//! Property tests of the engine's invariants over random workflows and random event sequences:
//! an item settles at most once; once settled nothing is pending; a person counts at most once per node;
//! sequence steps never run out of order; replay is deterministic; refused events change nothing.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::*;

/// People the random workflows name (all in [`DIRECTORY`]).
const PEOPLE: &[&str] = &[
    "manager@company.com",
    "vp1@company.com",
    "vp2@company.com",
    "user1@company.com",
    "user2@company.com",
    "approver@company.com",
    "sec1@company.com",
    "sec2@company.com",
    "sec3@company.com",
    "away@company.com",
    "john@company.com",
];

fn options() -> impl Strategy<Value = Json> {
    (
        prop_oneof![Just(None), Just(Some("1h")), Just(Some("3h"))],
        prop_oneof![Just("escalate"), Just("reject"), Just("remind")],
        prop_oneof![Just(None), Just(Some(1u32))],
        prop_oneof![Just("exclude"), Just("skip"), Just("allow")],
    )
        .prop_map(|(timeout, on_timeout, to_deny, self_approval)| {
            let mut o = serde_json::Map::new();
            if let Some(t) = timeout {
                o.insert("timeout".into(), json!(t));
                o.insert("on_timeout".into(), json!(on_timeout));
            }
            if let Some(d) = to_deny {
                o.insert("number_to_deny".into(), json!(d));
            }
            o.insert("self_approval".into(), json!(self_approval));
            Json::Object(o)
        })
}

fn with_options(name: &str, mut fields: Json, opts: Json) -> Json {
    if let (Json::Object(f), Json::Object(o)) = (&mut fields, opts) {
        f.extend(o);
    }
    json!({ name: fields })
}

fn leaf() -> impl Strategy<Value = Json> {
    let user = prop::sample::select(PEOPLE);
    prop_oneof![
        (user.clone(), options()).prop_map(|(u, o)| with_options("user_constant_expression", json!({"user": u}), o)),
        options().prop_map(|o| with_options("manager_expression", json!({}), o)),
        options().prop_map(|o| with_options("app_admin_expression", json!({}), o)),
        ((1u32..=3), options()).prop_map(|(n, o)| with_options(
            "parallel_group_expression",
            json!({"group": "it-security", "number_required": n}),
            o
        )),
        (prop::sample::subsequence(PEOPLE, 1..4), options()).prop_map(|(us, o)| with_options(
            "user_list_expression",
            json!({"users": us, "number_required": 1}),
            o
        )),
        Just(json!({"auto_approve_expression": {}})),
        Just(json!({"auto_deny_expression": {}})),
    ]
}

fn workflow() -> impl Strategy<Value = Json> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|es| json!({"sequential_expression": {"expressions": es}})),
            (prop::collection::vec(inner, 1..4), any::<prop::sample::Index>(), any::<bool>()).prop_map(
                |(es, k, distinct)| {
                    let n = k.index(es.len()) as u32 + 1;
                    json!({"parallel_expression": {"expressions": es, "number_required": n, "distinct_approvers": distinct}})
                }
            ),
        ]
    })
}

/// What happens next in a random run.
#[derive(Debug, Clone)]
enum Step {
    /// A person answers their own pending prompt (if any).
    Answer { who: usize, verdict: u8 },
    /// A person clicks someone else's prompt.
    Intrude { who: usize, prompt: u32 },
    /// The earliest active timer fires.
    Tick,
    /// The requester cancels.
    Cancel,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            6 => ((0..PEOPLE.len()), (0u8..4)).prop_map(|(who, verdict)| Step::Answer { who, verdict }),
            1 => ((0..PEOPLE.len()), (0u32..6)).prop_map(|(who, prompt)| Step::Intrude { who, prompt }),
            3 => Just(Step::Tick),
            1 => Just(Step::Cancel),
        ],
        0..25,
    )
}

fn check_invariants(item: &Item, settled_effects: usize) -> Result<(), TestCaseError> {
    prop_assert!(settled_effects <= 1, "settled {settled_effects} times");
    if item.status.is_settled() {
        prop_assert_eq!(item.pending_prompts().count(), 0, "a prompt is pending after settlement");
        prop_assert!(item.outcome.is_some());
        prop_assert!(item.active_timers().all(|t| t.kind == TimerKind::GrantExpiry));
    }
    for n in &item.nodes {
        if let Body::Leaf { slots, required, .. } = &n.body {
            let mut live = HashSet::new();
            for s in slots {
                if matches!(s.state, SlotState::Pending | SlotState::Approved | SlotState::Denied) {
                    prop_assert!(live.insert(&s.person), "{} counts twice in one node", s.person);
                }
            }
            let approved = slots.iter().filter(|s| s.state == SlotState::Approved).count() as u32;
            if n.status == NodeStatus::Approved {
                prop_assert!(approved >= *required || n.inherited.deferred);
            }
        }
        if let Body::Sequential { children, .. } = &n.body {
            for w in children.windows(2) {
                let (prev, next) = (&item.nodes[w[0] as usize], &item.nodes[w[1] as usize]);
                prop_assert_eq!(prev.status, NodeStatus::Approved, "a step started before the previous one approved");
                prop_assert!(prev.settled_at.is_some_and(|t| t <= next.started_at));
            }
        }
    }
    // Every pending prompt still has a pending slot (otherwise it should have been dismissed).
    for p in item.pending_prompts() {
        let waiting = p.links.iter().any(|&(n, s)| {
            matches!(&item.nodes[n as usize].body, Body::Leaf { slots, .. } if slots[s as usize].state == SlotState::Pending)
        });
        prop_assert!(waiting, "prompt {} is pending with nothing to answer", p.id);
    }
    Ok(())
}

/// The number of cases: `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    // 300 cases by default (a few seconds in a debug build); `PROPTEST_CASES=N` runs more.
    #![proptest_config(ProptestConfig { cases: cases(300), ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_workflows_and_events(wf in workflow(), steps in steps(), requester in 0..3usize) {
        let text = serde_json::to_string(&wf).unwrap();
        // Some random workflows are invalid (e.g. number_required above the group's size is fine, but a
        // user list naming only the requester is not a load error); skip those that do not load.
        let Ok(cat) = try_catalog(&text, "") else { return Ok(()) };
        let requester = ["john@company.com", "manager@company.com", "sec1@company.com"][requester];
        let mut run = Run::start(cat, requester, "john@company.com", "app", None);
        let count_settled = |log: &[Effect]| log.iter().filter(|e| matches!(e, Effect::Settled { .. })).count();
        check_invariants(&run.item, count_settled(&run.log))?;
        let mut clock = t0();
        for step in steps {
            clock = Duration::parse("10m").unwrap().after(clock);
            let before = run.item.clone();
            let result = match step {
                Step::Answer { who, verdict } => {
                    let who = PEOPLE[who];
                    let Some(p) = run.item.pending_prompt_of(who).map(|p| p.id) else { continue };
                    let decision = match verdict {
                        0 | 1 => Decision::Approve { duration: None, comment: None },
                        2 => Decision::Deny { comment: None },
                        _ => Decision::Escalate { to: "cto@company.com".to_owned(), comment: None },
                    };
                    run.try_apply(Event::Decide { prompt: p, by: who.to_owned(), decision, channel: "api".into(), at: clock })
                }
                Step::Intrude { who, prompt } => run.try_apply(Event::Decide {
                    prompt,
                    by: PEOPLE[who].to_owned(),
                    decision: Decision::Approve { duration: None, comment: None },
                    channel: "slack".into(),
                    at: clock,
                }),
                Step::Tick => {
                    let Some(t) = run.item.active_timers().min_by_key(|t| (t.due, t.id)).cloned() else { continue };
                    clock = clock.max(t.due);
                    run.try_apply(Event::TimerFired { timer: t.id, at: clock })
                }
                Step::Cancel => run.try_apply(Event::Cancel { by: requester.to_owned(), reason: None, at: clock }),
            };
            if result.is_err() {
                prop_assert_eq!(&run.item, &before, "a refused event changed the state");
            }
            check_invariants(&run.item, count_settled(&run.log))?;
        }
        // The state survives storage: JSON and back gives the same state.
        let json = serde_json::to_string(&run.item).unwrap();
        let back: Item = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(&back, &run.item);
        // Replay gives the same state.
        let mut replay = start(&run.cat, run.item.spec.clone(), t0()).unwrap().item;
        for e in &run.events {
            replay = apply(&run.cat, &replay, e).unwrap().0;
        }
        prop_assert_eq!(replay, run.item);
    }
}

/// Options of a node that waits: any mix of a timeout, what happens then, and a reminder interval.
fn waiting_options() -> impl Strategy<Value = (Json, Vec<u64>)> {
    (
        prop_oneof![Just(None), Just(Some(3600u64)), Just(Some(3 * 3600))],
        prop_oneof![Just("escalate"), Just("reject"), Just("remind")],
        prop_oneof![Just(None), Just(Some(900u64)), Just(Some(3600)), Just(Some(2 * 3600))],
    )
        .prop_map(|(timeout, on_timeout, remind)| {
            let mut o = serde_json::Map::new();
            // The intervals at which this node's options may remind: remind_every, and a timeout that reminds.
            let mut intervals = Vec::new();
            if let Some(t) = timeout {
                o.insert("timeout".into(), json!(format!("{t}s")));
                o.insert("on_timeout".into(), json!(on_timeout));
                if on_timeout == "remind" {
                    intervals.push(t);
                }
            }
            if let Some(r) = remind {
                o.insert("remind_every".into(), json!(format!("{r}s")));
                intervals.push(r);
            }
            (Json::Object(o), intervals)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(200), ..ProptestConfig::default() })]

    /// However a node and the node above it combine timeouts, `on_timeout` (escalation included) and
    /// `remind_every`, a silent approver gets at most one reminder per interval: no prompt is reminded twice less
    /// than the shortest interval apart, over many intervals.
    #[test]
    fn a_silent_approver_gets_one_reminder_per_interval(
        (leaf_opts, leaf_intervals) in waiting_options(),
        (outer_opts, outer_intervals) in waiting_options(),
        wrapper in 0u8..3,
        people in prop::sample::subsequence(&["user1@company.com", "user2@company.com", "sec1@company.com"][..], 1..=3),
    ) {
        let leaf = with_options("user_list_expression", json!({ "users": people, "number_required": 1 }), leaf_opts);
        let wf = match wrapper {
            0 => leaf,
            1 => with_options("parallel_expression", json!({ "expressions": [leaf], "number_required": 1 }), outer_opts),
            _ => with_options("sequential_expression", json!({ "expressions": [leaf] }), outer_opts),
        };
        let intervals: Vec<u64> = leaf_intervals.into_iter().chain(if wrapper == 0 { vec![] } else { outer_intervals }).collect();
        let text = serde_json::to_string(&wf).unwrap();
        let Ok(cat) = try_catalog(&text, "") else { return Ok(()) };
        let mut run = Run::start(cat, "john@company.com", "john@company.com", "app", None);
        let mut reminded: std::collections::HashMap<u32, Vec<Timestamp>> = Default::default();
        // Fire timers in due order, well past the longest interval many times over (the item may expire first).
        for _ in 0..80 {
            let Some(t) = run.item.active_timers().min_by_key(|t| (t.due, t.id)).cloned() else { break };
            let effects = run.try_apply(Event::TimerFired { timer: t.id, at: t.due }).map_err(|r| TestCaseError::fail(format!("{r}")))?;
            for e in effects {
                if let Effect::Notify { notice: Notice::Reminder { prompt, .. }, .. } = e {
                    reminded.entry(prompt).or_default().push(t.due);
                }
            }
        }
        if intervals.is_empty() {
            prop_assert!(reminded.is_empty(), "reminders with no reminder option: {:?}", reminded);
        }
        let shortest = intervals.iter().copied().min().unwrap_or(u64::MAX);
        for (prompt, times) in &reminded {
            for w in times.windows(2) {
                let gap = w[1].duration_since(w[0]).as_secs();
                prop_assert!(gap >= shortest as i64, "prompt {} reminded {}s apart (shortest interval {}s): {:?}\n{}", prompt, gap, shortest, times, text);
            }
        }
    }
}

#[test]
fn break_glass_reminds_every_fifteen_minutes_once() {
    // The bundled example: timeout 1h, on_timeout remind, remind_every 15m. Reminders came twice at every hour.
    let cat = catalog("manager_expression: { timeout: 1h, on_timeout: remind, remind_every: 15m }", "");
    let mut run = Run::start(cat, "john@company.com", "john@company.com", "app", None);
    let mut at = Vec::new();
    while at.len() < 12 {
        let t = run.item.active_timers().min_by_key(|t| (t.due, t.id)).cloned().expect("a timer");
        for e in run.try_apply(Event::TimerFired { timer: t.id, at: t.due }).unwrap() {
            if let Effect::Notify { notice: Notice::Reminder { .. }, .. } = e {
                at.push(t.due.duration_since(t0()).as_secs() / 60);
            }
        }
    }
    assert_eq!(at, (1..=12).map(|i| i * 15).collect::<Vec<_>>());
}
