//! An approver who can no longer be asked (DESIGN 7.5): the event the runtime gives the engine when the
//! directory says someone was deactivated, removed or went out of office while their prompt waited.

use super::*;

const JOHN: &str = "john@company.com";

fn run(workflow: &str) -> Run {
    Run::start(catalog(workflow, ""), JOHN, JOHN, "app", None)
}

fn leaves(r: &mut Run, who: &str) -> Result<Vec<Effect>, Refusal> {
    r.try_apply(Event::Unavailable { user: who.to_owned(), reason: "deactivated".to_owned(), at: at("30m") })
}

const ANY_ONE_OF_THREE: &str = "user_list_expression:
  users: [user1@company.com, user2@company.com, approver@company.com]
  number_required: 1";

#[test]
fn when_the_others_can_still_decide_the_leaver_is_only_dismissed() {
    let mut r = run(ANY_ONE_OF_THREE);
    let effects = leaves(&mut r, "user1@company.com").unwrap();
    assert_eq!(r.dismissed(), people(&["user1@company.com"]));
    assert_eq!(r.pending(), people(&["approver@company.com", "user2@company.com"]));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::DismissPrompt { reason: DismissReason::Unavailable { reason }, .. }
            if reason == "deactivated")),
        "the dismissal says why: {effects:?}"
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::SendPrompt { .. })), "nobody new is asked: {effects:?}");
    assert_eq!(r.status(), ItemStatus::Requested);
    r.approve("user2@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
}

#[test]
fn when_the_quorum_is_out_of_reach_the_fallback_is_asked_in_their_place() {
    // Everyone of three must approve: one leaving leaves two, short of three. The default fallback is the
    // requester's manager, asked in the same step; the requester hears of it.
    let all = "user_list_expression:\n  users: [user1@company.com, user2@company.com, approver@company.com]\n  number_required: 3";
    let mut r = run(all);
    r.approve("user2@company.com");
    leaves(&mut r, "user1@company.com").unwrap();
    assert_eq!(r.newly_asked(), people(&["manager@company.com"]));
    assert_eq!(r.pending(), people(&["approver@company.com", "manager@company.com"]));
    assert!(
        r.notices_to(JOHN).iter().any(|n| matches!(n, Notice::Escalated { from, to: Some(to), reason }
            if from == "user1@company.com" && to == "manager@company.com" && reason.contains("no longer available"))),
        "the requester is told: {:?}",
        r.notices_to(JOHN)
    );
    r.approve("approver@company.com");
    r.approve("manager@company.com");
    assert_eq!(r.status(), ItemStatus::Approved);
}

#[test]
fn with_fallback_none_a_step_left_without_enough_approvers_fails() {
    let none = "user_list_expression:\n  users: [user1@company.com, user2@company.com]\n  number_required: 2\n  fallback: none";
    let mut r = run(none);
    leaves(&mut r, "user2@company.com").unwrap();
    assert_eq!(r.status(), ItemStatus::Denied);
    assert!(r.pending().is_empty(), "nothing left pending once it failed");
    assert!(r.reason().contains("no longer available"), "{}", r.reason());
}

#[test]
fn someone_not_waited_for_or_a_settled_item_changes_nothing() {
    let mut r = run(ANY_ONE_OF_THREE);
    assert_eq!(
        leaves(&mut r, "vp1@company.com").unwrap_err(),
        Refusal::NothingPending { user: "vp1@company.com".to_owned() }
    );
    r.approve("user1@company.com");
    assert!(matches!(leaves(&mut r, "user2@company.com").unwrap_err(), Refusal::ItemSettled { .. }));
}

#[test]
fn a_leaver_in_a_sequence_is_replaced_in_the_running_step_only() {
    // Manager, then the app admins. The manager is deactivated while asked: the runtime swaps in the catalog that
    // says so, then gives the engine the event. The requester's next available manager up (the VP) takes the step,
    // and the admins are asked after it as before.
    let seq = "sequential_expression:\n  expressions:\n    - manager_expression: {}\n    - app_admin_expression: {}";
    let mut r = run(seq);
    assert_eq!(r.pending(), people(&["manager@company.com"]));
    let deactivated = DIRECTORY.replace(
        "{ id: manager@company.com, name: Mo Manager,",
        "{ id: manager@company.com, name: Mo Manager, active: false,",
    );
    r.cat = catalog_over(&deactivated, seq);
    leaves(&mut r, "manager@company.com").unwrap();
    assert_eq!(r.pending(), people(&["vp1@company.com"]));
    r.approve("vp1@company.com");
    assert_eq!(r.pending(), people(&["appadmin2@company.com", "appadmin@company.com"]), "the next step starts");
}
