//! One table per semantic of DESIGN.md §4, and the rules of each seed.

use super::*;

const JOHN: &str = "john@company.com";

fn run(workflow: &str) -> Run {
    Run::start(catalog(workflow, ""), JOHN, JOHN, "app", None)
}

// ---------------------------------------------------------------------------------------------------------
// Parallel N of M, number_to_deny
// ---------------------------------------------------------------------------------------------------------

const TWO_OF_THREE: &str = "parallel_expression:
  number_required: 2
  expressions:
    - user_constant_expression: { user: user1@company.com }
    - user_constant_expression: { user: user2@company.com }
    - user_constant_expression: { user: approver@company.com }";

#[test]
fn parallel_n_of_m_outcomes_follow_the_quorum() {
    // (answers in order, expected status after the last one)
    let table: &[(&[(&str, bool)], ItemStatus)] = &[
        (&[("user1@company.com", true)], ItemStatus::Requested),
        (&[("user1@company.com", true), ("user2@company.com", true)], ItemStatus::Approved),
        // one denial leaves 2 possible approvals: still open
        (&[("user1@company.com", false)], ItemStatus::Requested),
        (
            &[("user1@company.com", false), ("user2@company.com", true), ("approver@company.com", true)],
            ItemStatus::Approved,
        ),
        // two denials: the quorum of 2 can no longer be reached
        (&[("user1@company.com", false), ("user2@company.com", false)], ItemStatus::Denied),
    ];
    for (answers, expected) in table {
        let mut r = run(TWO_OF_THREE);
        for (who, yes) in *answers {
            if *yes {
                r.approve(who);
            } else {
                r.deny(who);
            }
        }
        assert_eq!(r.status(), *expected, "{answers:?}");
        if expected.is_settled() {
            assert!(r.pending().is_empty(), "nothing left pending after {answers:?}");
        }
    }
}

#[test]
fn number_to_deny_one_makes_a_single_denial_a_veto() {
    let veto = format!("{TWO_OF_THREE}\n  number_to_deny: 1");
    let mut r = run(&veto);
    r.approve("user1@company.com");
    r.deny("user2@company.com");
    assert_eq!(r.status(), ItemStatus::Denied);
    assert_eq!(r.reason(), "denied by User Two: not needed");
    assert_eq!(r.dismissed(), people(&["approver@company.com"]));
}

#[test]
fn a_leaf_group_is_denied_only_when_its_quorum_is_out_of_reach() {
    let group = "parallel_group_expression: { group: it-admins, number_required: 1 }";
    let mut r = run(group);
    r.deny("itadmin1@company.com");
    assert_eq!(r.status(), ItemStatus::Requested, "itadmin2 may still approve");
    r.deny("itadmin2@company.com");
    assert_eq!(r.status(), ItemStatus::Denied);
}

#[test]
fn group_role_owner_asks_only_owners() {
    let r = run("parallel_group_expression: { group: it-security, number_required: 1, role: OWNER }");
    assert_eq!(r.pending(), people(&["sec1@company.com"]));
}

// ---------------------------------------------------------------------------------------------------------
// Sequential, nesting
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_denial_mid_chain_denies_and_later_steps_are_never_asked() {
    let chain = "sequential_expression:
  expressions:
    - manager_expression: {}
    - user_constant_expression: { user: vp2@company.com }
    - user_constant_expression: { user: ceo@company.com }";
    let mut r = run(chain);
    r.approve("manager@company.com");
    assert_eq!(r.pending(), people(&["vp2@company.com"]));
    r.deny("vp2@company.com");
    assert_eq!(r.status(), ItemStatus::Denied);
    assert!(!r.log.iter().any(|e| matches!(e, Effect::SendPrompt { to, .. } if to == "ceo@company.com")));
}

#[test]
fn prompts_say_where_the_step_stands_in_its_chain() {
    let r = run("sequential_expression:
  expressions:
    - referenced_expression: { name: APP_ADMIN }
    - manager_expression: {}");
    let ctx = r
        .log
        .iter()
        .find_map(|e| match e {
            Effect::SendPrompt { context, .. } => Some(context.clone()),
            _ => None,
        })
        .expect("a prompt");
    assert_eq!(ctx.step, Some((1, 2, "APP_ADMIN".to_owned())));
    assert_eq!((ctx.required, ctx.asked), (1, 2));
    assert_eq!(ctx.label, "admins of The App");
}

#[test]
fn nested_parallel_of_a_chain_and_a_person_waits_for_both() {
    let nested = "parallel_expression:
  expressions:
    - sequential_expression:
        expressions:
          - manager_expression: {}
          - user_constant_expression: { user: vp1@company.com }
    - user_constant_expression: { user: cto@company.com }";
    let mut r = run(nested);
    assert_eq!(r.pending(), people(&["cto@company.com", "manager@company.com"]));
    r.approve("cto@company.com");
    r.approve("manager@company.com");
    assert_eq!(r.pending(), people(&["vp1@company.com"]));
    assert_eq!(r.status(), ItemStatus::Requested);
    r.approve("vp1@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
}

#[test]
fn a_branch_that_decides_at_start_spares_its_siblings_any_prompt() {
    // 1 of 2 where one branch auto-approves: nobody is asked at all.
    let r = run("parallel_expression:
  number_required: 1
  expressions:
    - auto_approve_expression: {}
    - manager_expression: {}");
    assert_eq!(r.status(), ItemStatus::Approved);
    assert!(!r.log.iter().any(|e| matches!(e, Effect::SendPrompt { .. })));
}

// ---------------------------------------------------------------------------------------------------------
// A person counts once: per node, per source, or once overall
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_person_named_twice_in_one_list_counts_once() {
    let r = run(
        "user_list_expression: { users: [user1@company.com, user1@company.com, user2@company.com], number_required: 2 }",
    );
    assert_eq!(r.pending(), people(&["user1@company.com", "user2@company.com"]));
    let mut r = r;
    r.approve("user1@company.com");
    assert_eq!(r.status(), ItemStatus::Requested, "one person, one approval");
}

const TWO_SOURCES: &str = "parallel_expression:
  expressions:
    - permission_expression: { permission: Security, scope: global }
    - parallel_group_expression: { group: it-security, number_required: 1, role: OWNER }";

#[test]
fn a_person_in_two_sources_gets_one_prompt_and_counts_for_both() {
    // sec1 holds Security and owns it-security: the review-flows seed's steward in several sources.
    let mut r = run(TWO_SOURCES);
    let to_sec1 =
        r.log.iter().filter(|e| matches!(e, Effect::SendPrompt { to, .. } if to == "sec1@company.com")).count();
    assert_eq!(to_sec1, 1, "one message, not one per source");
    r.approve("sec1@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
    assert_eq!(r.dismissed(), people(&["sec2@company.com"]));
}

#[test]
fn with_distinct_approvers_one_person_counts_once_across_the_node() {
    let distinct = format!("{TWO_SOURCES}\n  distinct_approvers: true");
    let mut r = run(&distinct);
    r.approve("sec1@company.com");
    assert_eq!(r.status(), ItemStatus::Requested, "sec1 satisfies one source only");
    assert_eq!(r.pending(), people(&["sec2@company.com"]));
    r.approve("sec2@company.com");
    // sec2 holds Security, sec1 owns the group: both sources are met by two different people.
    assert_eq!(r.status(), ItemStatus::Approved);
}

#[test]
fn with_distinct_approvers_a_source_only_one_person_can_serve_fails_when_they_are_needed_twice() {
    // Both sources can only be met by sec1: two distinct people are impossible.
    let only_sec1 = "parallel_expression:
  distinct_approvers: true
  expressions:
    - user_constant_expression: { user: sec1@company.com }
    - parallel_group_expression: { group: it-security, number_required: 1, role: OWNER }";
    let r = run(only_sec1);
    // Known at start: nobody is asked for an approval that could never be complete.
    assert_eq!(r.status(), ItemStatus::Denied);
    assert!(r.reason().contains("distinct_approvers"), "{}", r.reason());
    assert!(!r.log.iter().any(|e| matches!(e, Effect::SendPrompt { .. })));
}

// ---------------------------------------------------------------------------------------------------------
// Self-approval
// ---------------------------------------------------------------------------------------------------------

#[test]
fn self_approval_exclude_leaves_the_requester_out_and_falls_back() {
    // manager@ asks for themselves; the approver list names them: excluded, so the other is asked.
    let mut r = Run::start(
        catalog("user_list_expression: { users: [manager@company.com, user1@company.com] }", ""),
        "manager@company.com",
        "manager@company.com",
        "app",
        None,
    );
    assert_eq!(r.pending(), people(&["user1@company.com"]));
    let notes = &r.item.nodes[0].notes;
    assert!(notes.iter().any(|n| n.contains("Mo Manager left out: the requester")), "{notes:?}");
    // And when they are the only one, the default fallback (their own manager) is asked.
    r = Run::start(
        catalog("user_constant_expression: { user: manager@company.com }", ""),
        "manager@company.com",
        "manager@company.com",
        "app",
        None,
    );
    assert_eq!(r.pending(), people(&["vp1@company.com"]));
}

#[test]
fn self_approval_skip_approves_the_step_when_the_requester_is_a_candidate() {
    let r = Run::start(
        catalog("user_list_expression: { users: [manager@company.com, user1@company.com], self_approval: skip }", ""),
        "manager@company.com",
        JOHN,
        "app",
        None,
    );
    assert_eq!(r.status(), ItemStatus::Approved);
    assert!(r.reason().contains("self_approval: skip"), "{}", r.reason());
}

#[test]
fn self_approval_allow_asks_the_requester_like_anyone_else() {
    let mut r = Run::start(
        catalog("user_constant_expression: { user: manager@company.com, self_approval: allow }", ""),
        "manager@company.com",
        "manager@company.com",
        "app",
        None,
    );
    assert_eq!(r.pending(), people(&["manager@company.com"]));
    r.approve("manager@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
}

#[test]
fn the_beneficiary_cannot_approve_their_own_access_either() {
    // Jane asks for John; John is the named approver: left out, fallback to Jane's manager.
    let r = Run::start(
        catalog("user_constant_expression: { user: john@company.com }", ""),
        "jane@company.com",
        JOHN,
        "app",
        None,
    );
    assert_eq!(r.pending(), people(&["manager@company.com"]));
}

// ---------------------------------------------------------------------------------------------------------
// Availability and fallback
// ---------------------------------------------------------------------------------------------------------

#[test]
fn out_of_office_and_inactive_people_are_not_asked() {
    let r = run("user_list_expression: { users: [away@company.com, gone@company.com, user1@company.com] }");
    assert_eq!(r.pending(), people(&["user1@company.com"]));
    let notes = r.item.nodes[0].notes.join("\n");
    assert!(notes.contains("Al Away left out: out of office until 2099-01-01T00:00:00Z"), "{notes}");
    assert!(notes.contains("Gil Gone left out: inactive"), "{notes}");
}

#[test]
fn with_no_available_approver_the_default_fallback_is_the_requesters_manager_who_is_told() {
    let r = Run::start(
        catalog("user_constant_expression: { user: away@company.com }", ""),
        "jane@company.com",
        JOHN,
        "app",
        None,
    );
    assert_eq!(r.pending(), people(&["manager@company.com"]), "Jane's manager");
    assert!(
        r.notices_to("manager@company.com").iter().any(|n| matches!(n, Notice::FallbackAssigned { .. })),
        "the manager is told why the ask landed on them"
    );
    let ctx = r.log.iter().find_map(|e| match e {
        Effect::SendPrompt { context, .. } => Some(context.clone()),
        _ => None,
    });
    assert!(ctx.and_then(|c| c.fallback_for).is_some_and(|f| f.contains("no available approver for Al Away")));
}

#[test]
fn the_default_fallback_skips_an_unavailable_manager_and_asks_the_next_one_up() {
    // Uma's manager (Al) is out of office: the ask goes to Al's manager.
    let r = Run::start(
        catalog("user_constant_expression: { user: gone@company.com }", ""),
        "under-away@company.com",
        "under-away@company.com",
        "app",
        None,
    );
    assert_eq!(r.pending(), people(&["vp3@company.com"]));
}

#[test]
fn fallback_none_denies_with_no_approver_available_and_tells_requester_and_admins() {
    let r = run("user_constant_expression: { user: away@company.com, fallback: none }");
    assert_eq!(r.status(), ItemStatus::Denied);
    assert_eq!(r.reason(), "no approver available for Al Away");
    for who in [JOHN, "appadmin@company.com", "appadmin2@company.com"] {
        assert!(r.notices_to(who).iter().any(|n| matches!(n, Notice::NoApprover { .. })), "{who} is told");
    }
}

#[test]
fn an_explicit_fallback_expression_is_asked_instead() {
    let r = run("parallel_group_expression:
  group: it-admins
  number_required: 3
  fallback: { user_constant_expression: { user: vp-it@company.com } }");
    // Only 2 admins exist for a quorum of 3: the fallback runs.
    assert_eq!(r.pending(), people(&["vp-it@company.com"]));
}

#[test]
fn a_fallback_with_nobody_available_does_not_fall_back_again() {
    // orphan has no manager: the default fallback (requester's manager) finds nobody and stops there.
    let r = Run::start(
        catalog("user_constant_expression: { user: away@company.com }", ""),
        "orphan@company.com",
        "orphan@company.com",
        "app",
        None,
    );
    assert_eq!(r.status(), ItemStatus::Denied);
    assert!(r.reason().starts_with("no approver available"), "{}", r.reason());
}

// ---------------------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------------------

#[test]
fn timeout_escalate_asks_the_silent_approvers_manager_then_on_up_then_expires() {
    // The staged-workflows seed: escalate to the next reporting manager after the turnaround time.
    let mut r = run("user_constant_expression: { user: user1@company.com, timeout: 48h }");
    r.fire_until(at("48h"));
    assert_eq!(r.pending(), people(&["vp2@company.com"]), "user1's manager");
    assert_eq!(r.status(), ItemStatus::Escalated);
    assert!(r.log.iter().any(|e| matches!(e,
        Effect::DismissPrompt { to, reason: DismissReason::Escalated { to: Some(t), .. }, .. }
            if to == "user1@company.com" && t == "vp2@company.com")));
    assert!(r.notices_to(JOHN).iter().any(|n| matches!(n, Notice::Escalated { .. })), "the requester is told");
    r.fire_until(at("96h"));
    assert_eq!(r.pending(), people(&["ceo@company.com"]));
    r.fire_until(at("144h"));
    assert_eq!(r.status(), ItemStatus::Expired);
    assert!(r.pending().is_empty());
    assert!(r.notices_to(JOHN).iter().any(|n| matches!(n, Notice::Outcome { status: ItemStatus::Expired, .. })));
    assert!(r.reason().contains("nobody left to escalate to"), "{}", r.reason());
}

#[test]
fn an_answer_from_the_escalated_approver_settles_the_item() {
    let mut r = run("user_constant_expression: { user: user1@company.com, timeout: 48h }");
    r.fire_until(at("48h"));
    r.try_decide_at("vp2@company.com", Decision::Approve { duration: None, comment: None }, at("50h")).unwrap();
    assert_eq!(r.status(), ItemStatus::Approved);
    assert!(r.item.active_timers().next().is_none(), "no timer left running");
}

#[test]
fn timeout_reject_denies_after_the_turnaround_time() {
    let mut r = run("manager_expression: { timeout: 24h, on_timeout: reject }");
    r.fire_until(at("23h"));
    assert_eq!(r.status(), ItemStatus::Requested);
    r.fire_until(at("24h"));
    assert_eq!(r.status(), ItemStatus::Denied);
    assert_eq!(r.reason(), "no decision within 1d");
    assert!(r.log.iter().any(|e| matches!(e, Effect::DismissPrompt { reason: DismissReason::TimedOut { .. }, .. })));
}

#[test]
fn timeout_remind_and_remind_every_nudge_silent_approvers_without_deciding() {
    let mut r = run("manager_expression: { timeout: 1h, on_timeout: remind, remind_every: 15m }");
    r.fire_until(at("1h"));
    let reminders = r.notices_to("manager@company.com").iter().filter(|n| matches!(n, Notice::Reminder { .. })).count();
    // 15m, 30m, 45m and 1h: one nudge per interval (the timeout at 1h adds no second one), still waiting.
    assert_eq!(reminders, 4);
    assert_eq!(r.status(), ItemStatus::Requested);
}

#[test]
fn a_zero_timeout_never_fires() {
    let r = run("manager_expression: { timeout: 0 }");
    assert!(r.item.active_timers().next().is_none());
}

#[test]
fn the_configured_default_timeout_applies_to_leaves_without_one() {
    let mut cat = catalog("manager_expression: {}", "");
    cat.settings.default_timeout = Some(Duration::parse("72h").unwrap());
    let mut r = Run::start(cat, JOHN, JOHN, "app", None);
    assert_eq!(r.item.active_timers().count(), 1);
    r.fire_until(at("72h"));
    assert_eq!(r.pending(), people(&["vp1@company.com"]));
}

#[test]
fn timeout_on_a_group_escalates_each_silent_member_once_per_manager() {
    let mut r = run("parallel_group_expression: { group: it-admins, number_required: 1, timeout: 8h }");
    r.fire_until(at("8h"));
    // Both admins report to vp-it: one new prompt, one notice to the requester.
    assert_eq!(r.pending(), people(&["vp-it@company.com"]));
    let escalation_notices = r.notices_to(JOHN).iter().filter(|n| matches!(n, Notice::Escalated { .. })).count();
    assert_eq!(escalation_notices, 1);
}

// ---------------------------------------------------------------------------------------------------------
// Supervisor escalation (the supervisor-escalation seed)
// ---------------------------------------------------------------------------------------------------------

#[test]
fn supervisor_escalation_moves_the_decision_to_the_chosen_person_and_records_the_path() {
    let mut r = run("manager_expression: {}");
    assert_eq!(r.status(), ItemStatus::Requested);
    r.try_decide_at(
        "manager@company.com",
        Decision::Escalate { to: "cto@company.com".to_owned(), comment: Some("your call".to_owned()) },
        at("1h"),
    )
    .unwrap();
    assert_eq!(r.status(), ItemStatus::Escalated);
    assert_eq!(r.pending(), people(&["cto@company.com"]));
    let ctx = r.last.iter().find_map(|e| match e {
        Effect::SendPrompt { context, .. } => Some(context.clone()),
        _ => None,
    });
    assert_eq!(
        ctx.and_then(|c| c.replaces),
        Some(("manager@company.com".to_owned(), "handed on by Mo Manager".to_owned()))
    );
    r.approve("cto@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
    let path: Vec<(&str, &Verdict)> = r.item.decisions.iter().map(|d| (d.by.as_str(), &d.verdict)).collect();
    assert_eq!(path.len(), 2);
    assert_eq!(path[0], ("manager@company.com", &Verdict::Escalate { to: "cto@company.com".to_owned() }));
    assert_eq!(path[1].0, "cto@company.com");
}

#[test]
fn escalation_refusals_say_why() {
    let mut r = run("manager_expression: {}");
    let cases = [
        ("nobody@company.com", "not in the directory"),
        ("manager@company.com", "that is you"),
        ("away@company.com", "out of office"),
        (JOHN, "cannot approve their own access"),
    ];
    for (to, why) in cases {
        let err = r
            .try_decide_at("manager@company.com", Decision::Escalate { to: to.to_owned(), comment: None }, at("1h"))
            .unwrap_err();
        assert!(err.to_string().contains(why), "{to}: {err}");
    }
    let mut r = run("manager_expression: { allow_escalate: false }");
    let err = r
        .try_decide_at(
            "manager@company.com",
            Decision::Escalate { to: "cto@company.com".to_owned(), comment: None },
            at("1h"),
        )
        .unwrap_err();
    assert_eq!(err, Refusal::EscalationNotAllowed);
}

// ---------------------------------------------------------------------------------------------------------
// Durations and grants
// ---------------------------------------------------------------------------------------------------------

fn with_duration(workflow: &str, d: &str) -> Run {
    let cat = catalog(workflow, "");
    Run::start_spec(
        cat,
        ItemSpec {
            request: "r1".to_owned(),
            item: "r1/1".to_owned(),
            requester: JOHN.to_owned(),
            beneficiary: JOHN.to_owned(),
            co_beneficiaries: vec![],
            resource: "app".to_owned(),
            role: None,
            justification: None,
            duration: Some(Duration::parse(d).unwrap()),
        },
    )
}

#[test]
fn the_grant_lasts_the_shortest_duration_any_approver_picked() {
    let mut r = with_duration(
        "parallel_expression:
  expressions:
    - user_constant_expression: { user: user1@company.com }
    - user_constant_expression: { user: user2@company.com }",
        "8h",
    );
    r.try_decide_at(
        "user1@company.com",
        Decision::Approve { duration: Some(Duration::parse("4h").unwrap()), comment: None },
        at("1h"),
    )
    .unwrap();
    r.try_decide_at(
        "user2@company.com",
        Decision::Approve { duration: Some(Duration::parse("2h").unwrap()), comment: None },
        at("1h"),
    )
    .unwrap();
    let g = r.item.grant.clone().expect("granted");
    assert_eq!(g.duration, Some(Duration::parse("2h").unwrap()));
    assert_eq!(g.expires_at, Some(at("3h")));
}

#[test]
fn an_approver_cannot_approve_for_longer_than_asked_or_allowed() {
    let mut r = with_duration("manager_expression: { max_duration: 4h }", "8h");
    let err = r
        .try_decide_at(
            "manager@company.com",
            Decision::Approve { duration: Some(Duration::parse("6h").unwrap()), comment: None },
            at("1h"),
        )
        .unwrap_err();
    assert_eq!(
        err,
        Refusal::DurationTooLong { asked: Duration::parse("6h").unwrap(), max: Duration::parse("4h").unwrap() }
    );
    // Approving without picking gives the node's limit.
    r.approve("manager@company.com");
    assert_eq!(r.item.grant.as_ref().and_then(|g| g.duration), Some(Duration::parse("4h").unwrap()));
}

#[test]
fn auto_approval_may_carry_a_duration_and_a_justification() {
    let r = run("auto_approve_expression: { justification: public data, duration: 30d }");
    assert_eq!(r.status(), ItemStatus::Approved);
    assert_eq!(r.reason(), "approved automatically: public data (for 30d)");
    assert_eq!(r.item.grant.as_ref().and_then(|g| g.expires_at), Some(at("30d")));
}

#[test]
fn grant_expiry_ends_the_grant_calls_the_webhook_and_tells_the_holder() {
    let mut r = with_duration("manager_expression: {}", "8h");
    r.approve("manager@company.com");
    assert_eq!(r.item.grant.as_ref().and_then(|g| g.expires_at), Some(at("9h")));
    r.fire_until(at("9h"));
    assert_eq!(r.item.grant.as_ref().and_then(|g| g.ended), Some((GrantEnd::Expired, at("9h"))));
    assert!(r.last.iter().any(|e| matches!(e, Effect::Webhook { event: WebhookEvent::GrantEnded, .. })));
    assert!(r.notices_to(JOHN).iter().any(|n| matches!(n, Notice::GrantEnded { how: GrantEnd::Expired })));
}

#[test]
fn a_grant_released_early_ends_once_and_its_expiry_timer_is_cancelled() {
    let mut r = with_duration("manager_expression: {}", "8h");
    r.approve("manager@company.com");
    r.try_apply(Event::EndGrant { by: JOHN.to_owned(), how: GrantEnd::Released, at: at("2h") }).unwrap();
    assert!(r.item.active_timers().next().is_none());
    let again = r.try_apply(Event::EndGrant { by: JOHN.to_owned(), how: GrantEnd::Released, at: at("3h") });
    assert_eq!(again.unwrap_err(), Refusal::NoActiveGrant);
}

// ---------------------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------------------

#[test]
fn the_requester_and_the_beneficiary_each_hear_the_outcome_once() {
    let mut r = Run::start(catalog("manager_expression: {}", ""), "jane@company.com", JOHN, "app", None);
    r.approve("manager@company.com");
    for who in ["jane@company.com", JOHN] {
        let outcomes = r.notices_to(who).iter().filter(|n| matches!(n, Notice::Outcome { .. })).count();
        assert_eq!(outcomes, 1, "{who}");
    }
    // Asking for yourself: one notice, not two.
    let mut r = run("manager_expression: {}");
    r.approve("manager@company.com");
    assert_eq!(r.notices_to(JOHN).iter().filter(|n| matches!(n, Notice::Outcome { .. })).count(), 1);
}

// ---------------------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------------------

#[test]
fn only_the_prompts_approver_may_answer_it() {
    let mut r = run("manager_expression: {}");
    let prompt = r.item.pending_prompt_of("manager@company.com").unwrap().id;
    let err = r
        .try_apply(Event::Decide {
            prompt,
            by: "vp1@company.com".to_owned(),
            decision: Decision::Approve { duration: None, comment: None },
            channel: "slack".to_owned(),
            at: at("1h"),
        })
        .unwrap_err();
    assert_eq!(
        err,
        Refusal::NotTheApprover { approver: "manager@company.com".to_owned(), by: "vp1@company.com".to_owned() }
    );
    assert_eq!(r.status(), ItemStatus::Requested);
}

#[test]
fn a_click_after_settlement_changes_nothing_and_says_who_settled_it_and_when() {
    let mut r = run(ANY_ONE);
    r.approve("user1@company.com");
    let before = r.item.clone();
    let err = r.try_decide_at("user2@company.com", Decision::Deny { comment: None }, at("2h")).unwrap_err();
    assert_eq!(
        err,
        Refusal::AlreadySettled {
            how: "approved by User One".to_owned(),
            by: Some("user1@company.com".to_owned()),
            at: at("1h")
        }
    );
    assert_eq!(r.item, before);
    let err = r.try_decide_at("user1@company.com", Decision::Deny { comment: None }, at("2h")).unwrap_err();
    assert!(matches!(err, Refusal::AlreadySettled { ref how, .. } if how == "you approved it"), "{err}");
}

const ANY_ONE: &str = "parallel_expression:
  number_required: 1
  expressions:
    - user_constant_expression: { user: user1@company.com }
    - user_constant_expression: { user: user2@company.com }";

#[test]
fn an_unknown_prompt_is_refused() {
    let mut r = run("manager_expression: {}");
    let err = r
        .try_apply(Event::Decide {
            prompt: 99,
            by: "manager@company.com".to_owned(),
            decision: Decision::Deny { comment: None },
            channel: "api".to_owned(),
            at: at("1h"),
        })
        .unwrap_err();
    assert_eq!(err, Refusal::UnknownPrompt { prompt: 99 });
}

#[test]
fn only_the_requester_may_cancel_and_cancelling_dismisses_every_prompt() {
    let mut r = run(ANY_ONE);
    let err =
        r.try_apply(Event::Cancel { by: "user1@company.com".to_owned(), reason: None, at: at("1h") }).unwrap_err();
    assert!(matches!(err, Refusal::NotTheRequester { .. }));
    r.try_apply(Event::Cancel { by: JOHN.to_owned(), reason: Some("no longer needed".to_owned()), at: at("1h") })
        .unwrap();
    assert_eq!(r.status(), ItemStatus::Cancelled);
    assert_eq!(r.dismissed(), people(&["user1@company.com", "user2@company.com"]));
    assert!(r.last.iter().all(|e| !matches!(e, Effect::Webhook { .. })), "nothing to deprovision");
    let err = r.try_apply(Event::Cancel { by: JOHN.to_owned(), reason: None, at: at("2h") }).unwrap_err();
    assert!(matches!(err, Refusal::ItemSettled { status: ItemStatus::Cancelled, .. }));
}

// ---------------------------------------------------------------------------------------------------------
// The seeds' rules
// ---------------------------------------------------------------------------------------------------------

#[test]
fn staged_workflow_user_list_then_grade_range_then_skip_level_with_escalation_and_rejection() {
    let staged = "sequential_expression:
  expressions:
    - user_list_expression: { users: [user1@company.com, user2@company.com], timeout: 24h }
    - grade_range_expression: { min: 10, max: 10, number_required: 2 }
    - skip_level_manager_expression: { levels: 2, timeout: 24h, on_timeout: reject }";
    let mut r = run(staged);
    assert_eq!(r.pending(), people(&["user1@company.com", "user2@company.com"]));
    // Stage 1 goes unanswered: both are escalated to their manager vp2 (one prompt).
    r.fire_until(at("24h"));
    assert_eq!(r.pending(), people(&["vp2@company.com"]));
    r.try_decide_at("vp2@company.com", Decision::Approve { duration: None, comment: None }, at("25h")).unwrap();
    // Stage 2: everyone of grade 10 (the VPs), two of them.
    assert_eq!(
        r.pending(),
        people(&["vp-it@company.com", "vp-sales@company.com", "vp1@company.com", "vp2@company.com", "vp3@company.com"])
    );
    r.try_decide_at("vp1@company.com", Decision::Approve { duration: None, comment: None }, at("26h")).unwrap();
    r.try_decide_at("vp3@company.com", Decision::Approve { duration: None, comment: None }, at("26h")).unwrap();
    // Stage 3: John's skip-level manager (vp1); nobody answers within 24h: rejected.
    assert_eq!(r.pending(), people(&["vp1@company.com"]));
    r.fire_until(at("60h"));
    assert_eq!(r.status(), ItemStatus::Denied);
    assert_eq!(r.reason(), "no decision within 1d");
}

#[test]
fn supervisor_escalation_states_requested_escalated_then_accepted_or_rejected() {
    for approve in [true, false] {
        let mut r = run("manager_expression: {}");
        assert_eq!(r.status(), ItemStatus::Requested);
        r.try_decide_at(
            "manager@company.com",
            Decision::Escalate { to: "vp3@company.com".to_owned(), comment: None },
            at("1h"),
        )
        .unwrap();
        assert_eq!(r.status(), ItemStatus::Escalated);
        if approve {
            r.approve("vp3@company.com");
            assert_eq!(r.status(), ItemStatus::Approved);
        } else {
            r.deny("vp3@company.com");
            assert_eq!(r.status(), ItemStatus::Denied);
        }
    }
}

#[test]
fn approval_rounds_each_run_in_turn_and_a_round_is_skipped_for_its_own_candidate() {
    let rounds = "sequential_expression:
  self_approval: skip
  expressions:
    - permission_expression: { permission: Helpdesk, scope: global }
    - manager_expression: {}
    - permission_expression: { permission: Usermanager, scope: global }";
    // appadmin (a Helpdesk holder) submits for John: the Helpdesk round is skipped.
    let mut r = Run::start(catalog(rounds, ""), "appadmin@company.com", JOHN, "app", None);
    assert_eq!(r.pending(), people(&["manager@company.com"]), "the helpdesk round was skipped");
    // The manager (also the only Usermanager) approves the manager round; the user-administration round
    // then names the manager, who is not the submitter: they are asked again for that round.
    r.approve("manager@company.com");
    assert_eq!(r.pending(), people(&["manager@company.com"]));
    r.approve("manager@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
}

#[test]
fn review_flow_all_sources_one_steward_from_each_and_one_denial_denies() {
    let stewards = "parallel_expression:
  number_to_deny: 1
  expressions:
    - permission_expression: { permission: Security, scope: global }
    - parallel_group_expression: { group: it-security, number_required: 1, role: OWNER }
    - user_constant_expression: { user: approver@company.com }";
    // sec1 (Security and owner) approves for two sources at once; approver completes the third.
    let mut r = run(stewards);
    r.approve("sec1@company.com");
    assert_eq!(r.status(), ItemStatus::Requested);
    r.approve("approver@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
    // Once sec1 met the Security source, sec2's prompt is no longer needed.
    let mut r = run(stewards);
    r.approve("sec1@company.com");
    assert!(!r.pending().contains(&"sec2@company.com".to_owned()), "sec2's source is already met by sec1");
    // A single denial denies the whole request.
    r.deny("approver@company.com");
    assert_eq!(r.status(), ItemStatus::Denied);
}

#[test]
fn group_trust_models_read_the_groups_properties() {
    let cases = [
        // (workflow, resource, requester, expected status, expected askees)
        ("STANDARD_TRUST_MODEL", "open-list", JOHN, ItemStatus::Approved, vec![]),
        ("STANDARD_TRUST_MODEL", "closed-list", JOHN, ItemStatus::Requested, vec!["dir@company.com"]),
        // John is in open-list, the parent of closed-list: MOST_RESTRICTIVE lets him in.
        ("MOST_RESTRICTIVE_TRUST_MODEL", "closed-list", JOHN, ItemStatus::Approved, vec![]),
        (
            "MOST_RESTRICTIVE_TRUST_MODEL",
            "closed-list",
            "jane@company.com",
            ItemStatus::Requested,
            vec!["dir@company.com"],
        ),
        ("LEAST_RESTRICTIVE_TRUST_MODEL", "open-list", "jane@company.com", ItemStatus::Approved, vec![]),
        (
            "LEAST_RESTRICTIVE_TRUST_MODEL",
            "closed-list",
            "jane@company.com",
            ItemStatus::Requested,
            vec!["dir@company.com"],
        ),
        ("GSUITE_OPEN_OR_OWNER", "open-list", "jane@company.com", ItemStatus::Approved, vec![]),
        ("GET_DL_MANAGER_APPROVAL", "closed-list", "jane@company.com", ItemStatus::Requested, vec!["vp1@company.com"]),
        (
            "MANAGER_THEN_DL_OWNER",
            "closed-list",
            "jane@company.com",
            ItemStatus::Requested,
            vec!["manager@company.com"],
        ),
    ];
    for (workflow, resource, who, status, asked) in cases {
        let r = Run::start(
            catalog(&format!("referenced_expression: {{ name: {workflow} }}"), ""),
            who,
            who,
            resource,
            None,
        );
        assert_eq!((r.status(), r.pending()), (status, people(&asked)), "{workflow} on {resource} for {who}");
    }
}

#[test]
fn trust_model_with_fallback_to_manager_asks_the_manager_when_no_owner_is_available() {
    // closed-list's only owner is dir@; when dir@ is the requester, they are excluded and the fallback runs.
    let r = Run::start(
        catalog("referenced_expression: { name: MOST_RESTRICTIVE_WITH_FALLBACK_TO_MANAGER }", ""),
        "dir@company.com",
        "dir@company.com",
        "closed-list",
        None,
    );
    assert_eq!(r.pending(), people(&["vp1@company.com"]));
    let plain = Run::start(
        catalog("referenced_expression: { name: MOST_RESTRICTIVE_TRUST_MODEL }", ""),
        "dir@company.com",
        "dir@company.com",
        "closed-list",
        None,
    );
    assert_eq!(plain.status(), ItemStatus::Denied, "no fallback in the plain model");
}

// ---------------------------------------------------------------------------------------------------------
// State: serialization and replay
// ---------------------------------------------------------------------------------------------------------

#[test]
fn state_round_trips_through_json_and_replaying_the_events_gives_the_same_state() {
    let mut r = run("sequential_expression:
  expressions:
    - parallel_group_expression: { group: it-security, number_required: 2, timeout: 24h }
    - manager_expression: {}");
    r.approve("sec1@company.com");
    r.fire_until(at("24h"));
    r.try_decide_at("vp-it@company.com", Decision::Approve { duration: None, comment: None }, at("25h")).unwrap();
    r.try_decide_at("manager@company.com", Decision::Approve { duration: None, comment: None }, at("26h")).unwrap();
    assert_eq!(r.status(), ItemStatus::Approved);

    let json = serde_json::to_string(&r.item).unwrap();
    let back: Item = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.item);

    let mut replay = start(&r.cat, r.item.spec.clone(), t0()).unwrap().item;
    for e in &r.events {
        replay = apply(&r.cat, &replay, e).unwrap().0;
    }
    assert_eq!(replay, r.item);
}

#[test]
fn a_step_up_step_is_decided_only_from_the_web() {
    // `step_up` on a chain passes down to every step; the prompt says so, for chat to offer only the link.
    let mut r = run("sequential_expression: { step_up: true, expressions: [ manager_expression: {} ] }");
    let ctx = r.last.iter().find_map(|e| match e {
        Effect::SendPrompt { context, .. } => Some(context.clone()),
        _ => None,
    });
    assert!(ctx.is_some_and(|c| c.step_up));
    for channel in ["api", "slack", "discord"] {
        let prompt = r.item.pending_prompt_of("manager@company.com").unwrap().id;
        let err = r
            .try_apply(Event::Decide {
                prompt,
                by: "manager@company.com".to_owned(),
                decision: Decision::Approve { duration: None, comment: None },
                channel: channel.to_owned(),
                at: at("1h"),
            })
            .unwrap_err();
        assert_eq!(err, Refusal::StepUpRequired { channel: channel.to_owned() });
    }
    assert_eq!(r.status(), ItemStatus::Requested);
    let prompt = r.item.pending_prompt_of("manager@company.com").unwrap().id;
    r.try_apply(Event::Decide {
        prompt,
        by: "manager@company.com".to_owned(),
        decision: Decision::Approve { duration: None, comment: None },
        channel: crate::engine::WEB_CHANNEL.to_owned(),
        at: at("1h"),
    })
    .unwrap();
    assert_eq!(r.status(), ItemStatus::Approved);

    // Without the option, every channel decides.
    let mut r = run("manager_expression: {}");
    assert!(r.last.iter().all(|e| !matches!(e, Effect::SendPrompt { context, .. } if context.step_up)));
    r.approve("manager@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
}
