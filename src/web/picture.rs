//! The approval path as a picture: an SVG drawn by the server from an item's state ([`item_svg`], for
//! `/requests/{id}`) or from a plan ([`plan_svg`], for `signoff simulate --svg FILE`).
//!
//! Pure: the item (or plan), a function that turns a user id into a display name, and "now" go in; a
//! string comes out. No I/O, no clock, no catalog: the page handler reads those and passes them in, and the
//! tests and the benchmark drive the same function with in-memory items.
//!
//! What it shows: every step top to bottom, in order (a sequence as numbered steps joined by arrows, steps
//! not started yet included), a parallel step with its "N of M", the branch a condition took, the fallback a
//! step without approvers used, and for every person asked a mark and a text label (asked and pending,
//! approved, denied, dismissed and why, escalated to whom, no longer available, timed out); the due times of
//! pending timeouts and reminders; the outcome and the grant's end.
//!
//! Why it looks the way it does:
//! - It is embedded inline in pages served with a strict Content-Security-Policy (DESIGN 7.6: no
//!   `unsafe-inline`), so it carries no `style` attribute, no `<style>` element, no script and no event
//!   handler: colours and sizes are SVG presentation attributes, which the page's own stylesheet may
//!   override through the class names below.
//! - Colour is never the only cue: every mark has a text label beside it, and frames that are not running
//!   (not started, not needed, planned) have a dashed border. Every colour used for text or marks has a
//!   contrast of at least 4.5:1 against white (WCAG AA for text), and the picture paints its own white
//!   background so that holds on a dark page too.
//! - It has `role="img"`, a `<title>` and a `<desc>` that says the whole path in words, tied to the root
//!   with `aria-labelledby`, so a screen reader gets the path without reading coordinates.
//! - It scales to a phone: a `viewBox` and `width="100%"`, one column, no side-by-side boxes that would
//!   shrink the text. Sizes come from the content: long names are truncated with the full text in a
//!   `<title>` child, long notes wrap.
//! - A group quorum of 1,000 stays readable and fast: people who answered, escalated or left are shown one
//!   by one (up to [`MAX_ROWS`] per step); the rest are counted on one line each ("+ 940 more asked,
//!   pending"). The work is linear in the number of slots, with names looked up only for the people shown.
//!
//! Class names, for the page's CSS (each element also has presentation attributes, so none is required):
//!
//! | class | on |
//! | --- | --- |
//! | `signoff-path` | the root `<svg>` |
//! | `sp-bg` | the white background rectangle |
//! | `sp-title`, `sp-sub` | the header: what is asked, who asked, the workflow |
//! | `sp-outcome` + `sp-look-{state}` | the header's outcome line |
//! | `sp-frame` + `sp-frame-{state}` | the rectangle of a step |
//! | `sp-heading`, `sp-badge` | a step's heading and its state word |
//! | `sp-count` | a step's "needs N of M: a approved, ..." line |
//! | `sp-note` | notes: condition taken, fallback used, workflow expanded, people left out |
//! | `sp-due` | due times of pending timeouts and reminders, the grant's end |
//! | `sp-arrow` | the arrow between two steps of a sequence |
//! | `sp-person` | a person's row (a `<g>`) |
//! | `sp-mark` + `sp-mark-{mark}` | the mark before a person (decorative, `aria-hidden`) |
//! | `sp-name`, `sp-state` + `sp-state-{mark}` | a person's name, and their state in words |
//! | `sp-more` | a line counting people not shown one by one |
//!
//! `{state}` is one of `approved`, `denied`, `waiting`, `expired`, `closed`, `not-started`, `planned`;
//! `{mark}` one of `pending`, `approved`, `denied`, `dismissed`, `escalated`, `unavailable`, `timed-out`,
//! `planned`, `more`.

use std::fmt::Write as _;

use crate::engine::plan::{PlanNode, PlanView};
use crate::engine::{
    Body, DismissReason, Item, ItemStatus, NodeId, NodeStatus, PassKind, PromptState, Slot, SlotState, TimerKind,
    Verdict,
};
use crate::policy::expr::{Expr, ExprKind, ManagerOf, OnTimeout};
use crate::time::Timestamp;

/// Width of the picture in user units. Narrow on purpose: on a phone the picture is scaled down to the
/// screen's width, and a narrow drawing keeps the text large.
const WIDTH: f64 = 480.0;
/// Margin around everything.
const MARGIN: f64 = 8.0;
/// Inset of a nested frame from its parent, on each side.
const INSET: f64 = 10.0;
/// Padding inside a frame.
const PAD: f64 = 10.0;
/// Font sizes: headings and names, then notes and states.
const FONT: f64 = 14.0;
const SMALL: f64 = 12.5;
/// Line heights for those sizes.
const LINE: f64 = 19.0;
const SMALL_LINE: f64 = 17.0;
/// Vertical gap between two sibling frames, room for the arrow in a sequence.
const GAP: f64 = 18.0;
/// Horizontal room for a person's mark.
const MARK_ROOM: f64 = 24.0;
/// A step with at most this many people shows every one of them.
const SHOW_ALL: usize = 12;
/// Most people shown one by one in a step; the rest are counted.
pub const MAX_ROWS: usize = 50;
/// Wrapped notes and states stop after this many lines (the rest is in the line's `<title>`).
const MAX_WRAP: usize = 3;

const TEXT: &str = "#1f2328";
const MUTED: &str = "#57606a";
const WHITE: &str = "#ffffff";
const FONTS: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

/// The picture of an item's approval path, as it stands at `now`.
///
/// `names` turns a user id into the name to show (the page passes the catalog's `name_of`); it is called
/// only for the people drawn one by one, so a 1,000-member step costs a few dozen lookups, not a thousand.
/// `now` turns due times into "in 3h" and "overdue"; it does not change what the item says.
pub fn item_svg(item: &Item, names: &impl Fn(&str) -> String, now: Timestamp) -> String {
    let cx = ItemCx { item, names, now };
    let section = cx.section();
    render(&format!("signoff-path-{}", id_part(&item.spec.item)), &[section])
}

/// The picture of what a plan would do (`signoff simulate --svg FILE`): who each step would ask, what each
/// built-in expands to, where a fallback or a self-approval rule applies.
pub fn plan_svg(plan: &PlanView) -> String {
    plans_svg(std::slice::from_ref(plan))
}

/// Several plans (a request for several roles or people is one item each) in one picture, one after another.
pub fn plans_svg(plans: &[PlanView]) -> String {
    let sections: Vec<Section> = plans.iter().map(plan_section).collect();
    let first =
        plans.first().map(|p| format!("{}-{}", p.resource, p.role.as_deref().unwrap_or(""))).unwrap_or_default();
    render(&format!("signoff-plan-{}", id_part(&first)), &sections)
}

// ---------------------------------------------------------------------------------------------------------
// What is drawn, independent of where it came from
// ---------------------------------------------------------------------------------------------------------

/// A step's state, which picks its colour, its border and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Approved,
    Denied,
    Waiting,
    Expired,
    Closed,
    NotStarted,
    Planned,
}

impl Look {
    fn class(self) -> &'static str {
        match self {
            Look::Approved => "approved",
            Look::Denied => "denied",
            Look::Waiting => "waiting",
            Look::Expired => "expired",
            Look::Closed => "closed",
            Look::NotStarted => "not-started",
            Look::Planned => "planned",
        }
    }

    /// Text and border colour; each is at least 4.5:1 against white.
    fn colour(self) -> &'static str {
        match self {
            Look::Approved => "#1a7f37",
            Look::Denied | Look::Expired => "#cf222e",
            Look::Waiting | Look::Planned => "#0969da",
            Look::Closed | Look::NotStarted => MUTED,
        }
    }

    /// Frames that are not running get a dashed border: a cue that does not depend on colour.
    fn dashed(self) -> bool {
        matches!(self, Look::Closed | Look::NotStarted | Look::Planned)
    }
}

/// The mark before a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pending,
    Approved,
    Denied,
    Dismissed,
    Escalated,
    Unavailable,
    TimedOut,
    Planned,
    More,
}

impl Mark {
    fn class(self) -> &'static str {
        match self {
            Mark::Pending => "pending",
            Mark::Approved => "approved",
            Mark::Denied => "denied",
            Mark::Dismissed => "dismissed",
            Mark::Escalated => "escalated",
            Mark::Unavailable => "unavailable",
            Mark::TimedOut => "timed-out",
            Mark::Planned => "planned",
            Mark::More => "more",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Mark::Pending | Mark::Planned => "#0969da",
            Mark::Approved => "#1a7f37",
            Mark::Denied => "#cf222e",
            Mark::Dismissed | Mark::More => MUTED,
            Mark::Escalated => "#9a6700",
            Mark::Unavailable => "#8250df",
            Mark::TimedOut => "#bc4c00",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Note,
    Due,
    Count,
}

impl LineKind {
    fn class(self) -> &'static str {
        match self {
            LineKind::Note => "sp-note",
            LineKind::Due => "sp-due",
            LineKind::Count => "sp-count",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            LineKind::Note => MUTED,
            LineKind::Due => "#9a6700",
            LineKind::Count => TEXT,
        }
    }
}

#[derive(Debug, Clone)]
struct Line {
    kind: LineKind,
    text: String,
}

fn note(text: impl Into<String>) -> Line {
    Line { kind: LineKind::Note, text: text.into() }
}

fn due(text: impl Into<String>) -> Line {
    Line { kind: LineKind::Due, text: text.into() }
}

/// One person, or one line counting several.
#[derive(Debug, Clone)]
struct Row {
    mark: Mark,
    /// `None` for a counting line.
    name: Option<String>,
    text: String,
}

/// One step (a node of the workflow, with the pass-through nodes above it folded into its notes).
#[derive(Debug, Clone)]
struct Frame {
    heading: String,
    look: Look,
    badge: String,
    lines: Vec<Line>,
    rows: Vec<Row>,
    children: Vec<Frame>,
    /// Children are steps of a sequence: drawn with arrows between them.
    sequence: bool,
}

/// One item or plan: a header and its root step.
#[derive(Debug, Clone)]
struct Section {
    title: String,
    sub: Vec<String>,
    outcome: (Look, String),
    footer: Vec<Line>,
    root: Frame,
}

// ---------------------------------------------------------------------------------------------------------
// From an item
// ---------------------------------------------------------------------------------------------------------

struct ItemCx<'a, F> {
    item: &'a Item,
    names: &'a F,
    now: Timestamp,
}

impl<F: Fn(&str) -> String> ItemCx<'_, F> {
    fn name(&self, id: &str) -> String {
        (self.names)(id)
    }

    fn section(&self) -> Section {
        let item = self.item;
        let spec = &item.spec;
        let role = spec.role.as_ref().map(|r| format!(", role {r}")).unwrap_or_default();
        let title = format!("{}{role} for {}", spec.resource, self.name(&spec.beneficiary));
        let mut sub = vec![format!("asked by {} on {}", self.name(&spec.requester), when(item.created_at))];
        sub.push(format!(
            "workflow {} ({})",
            item.workflow.as_deref().unwrap_or("written inline"),
            item.workflow_reason
        ));
        if let Some(j) = spec.justification.as_deref().filter(|j| !j.trim().is_empty()) {
            sub.push(format!("why: {}", j.trim()));
        }
        let outcome = match (&item.outcome, item.status) {
            (Some(o), _) => (look_of_item(o.status), format!("{}: {}", o.status, o.reason)),
            (None, ItemStatus::Escalated) => (Look::Waiting, "escalated: waiting for approvers".to_owned()),
            (None, _) => (Look::Waiting, "waiting for approvers".to_owned()),
        };
        let mut footer = Vec::new();
        if let Some(g) = &item.grant {
            footer.push(match (&g.ended, g.expires_at) {
                (Some((how, at)), _) => due(format!("access {} on {}", how.as_str(), when(*at))),
                (None, Some(end)) => due(format!("access until {} ({})", when(end), relative(self.now, end))),
                (None, None) => due(format!("access since {}, no end date", when(g.granted_at))),
            });
        }
        let root = if item.nodes.is_empty() {
            Frame {
                heading: "no steps".to_owned(),
                look: Look::NotStarted,
                badge: "not started".to_owned(),
                lines: Vec::new(),
                rows: Vec::new(),
                children: Vec::new(),
                sequence: false,
            }
        } else {
            self.frame(0, String::new(), Vec::new())
        };
        Section { title, sub, outcome, footer, root }
    }

    /// The frame of node `id`. Pass-through nodes (a named workflow, a condition, a fallback) are folded into
    /// the frame of the node they lead to, as notes: one box per step keeps deep workflows readable.
    fn frame(&self, id: NodeId, prefix: String, mut lines: Vec<Line>) -> Frame {
        let node = self.item.node(id);
        lines.extend(self.due_lines(id));
        if let Body::Pass { pass, child: Some(child) } = &node.body {
            match pass {
                PassKind::Reference { name } => lines.push(note(format!("workflow {name}"))),
                PassKind::Condition { clause, rule } => {
                    let of = match &node.expr.kind {
                        ExprKind::Condition { clauses, .. } => clauses.len(),
                        _ => 0,
                    };
                    lines.push(note(match (clause, rule) {
                        (Some(k), Some(r)) => format!("condition: clause {} of {of} holds ({r}): this branch", k + 1),
                        (Some(k), None) => format!("condition: clause {} of {of} holds: this branch", k + 1),
                        (None, _) if of == 1 => "condition: its clause does not hold: the default branch".to_owned(),
                        (None, _) => format!("condition: none of the {of} clauses holds: the default branch"),
                    }));
                }
                PassKind::Fallback { reason } => {
                    for n in node.notes.iter().filter(|n| !n.starts_with(reason.as_str())) {
                        lines.push(note(n.clone()));
                    }
                    lines.push(note(format!("fallback used for {}: {reason}", node.label)));
                }
            }
            return self.frame(*child, prefix, lines);
        }
        let look = look_of_node(node.status);
        // One named person: their name as `names` gives it, like every other name in the picture.
        let label = match &node.expr.kind {
            ExprKind::UserConstant { user } => self.name(user),
            _ => node.label.clone(),
        };
        let mut frame = Frame {
            heading: format!("{prefix}{label}"),
            look,
            badge: badge_of_node(node.status).to_owned(),
            lines,
            rows: Vec::new(),
            children: Vec::new(),
            sequence: false,
        };
        match &node.body {
            // A pass-through node with its child is folded above; without one it only has its notes.
            Body::Auto | Body::Pass { .. } => {
                frame.lines.extend(node.notes.iter().map(|n| note(n.clone())));
            }
            Body::Sequential { children, total } => {
                frame.heading = format!("{prefix}{total} steps in order");
                frame.sequence = true;
                for (k, &c) in children.iter().enumerate() {
                    frame.children.push(self.frame(c, format!("Step {} of {total}: ", k + 1), Vec::new()));
                }
                if let ExprKind::Sequential { expressions } = &node.expr.kind {
                    let never = node.status.is_settled() || self.item.status.is_settled();
                    for (k, e) in expressions.iter().enumerate().skip(children.len()) {
                        frame.children.push(unstarted(
                            format!("Step {} of {total}: {}", k + 1, expr_label(e, self.names)),
                            never,
                        ));
                    }
                }
            }
            Body::Parallel { children, required, to_deny, distinct } => {
                let statuses: Vec<NodeStatus> = children.iter().map(|&c| self.item.node(c).status).collect();
                let approved = statuses.iter().filter(|s| **s == NodeStatus::Approved).count();
                let failed = statuses.iter().filter(|s| s.is_failed()).count();
                let mut count = format!("{required} must approve: {approved} approved, {failed} denied");
                if let Some(d) = to_deny {
                    count.push_str(&format!("; {d} denial{} end it", if *d == 1 { "" } else { "s" }));
                }
                if *distinct {
                    count.push_str("; one person counts once");
                }
                frame.lines.insert(0, Line { kind: LineKind::Count, text: count });
                frame.lines.extend(node.notes.iter().map(|n| note(n.clone())));
                for &c in children {
                    let child = self.frame(c, String::new(), Vec::new());
                    match inline(child) {
                        Ok(row) => frame.rows.push(row),
                        Err(child) => frame.children.push(child),
                    }
                }
                if let ExprKind::Parallel { expressions, .. } = &node.expr.kind {
                    for e in expressions.iter().skip(children.len()) {
                        frame.children.push(unstarted(expr_label(e, self.names), true));
                    }
                }
            }
            Body::Leaf { required, to_deny, slots } => {
                let (rows, tally) = self.rows(slots);
                // "needs 1 of 1" says nothing the one row does not.
                let one = *required == 1 && slots.len() == 1;
                let mut count = format!("needs {} of {}", thousands(*required as usize), thousands(tally.asked));
                let parts = tally.words();
                if !parts.is_empty() {
                    count.push_str(": ");
                    count.push_str(&parts.join(", "));
                }
                if let Some(d) = to_deny {
                    count.push_str(&format!("; {d} denial{} end it", if *d == 1 { "" } else { "s" }));
                }
                if !one {
                    frame.lines.insert(0, Line { kind: LineKind::Count, text: count });
                }
                let said = frame.lines.iter().any(|l| l.text.starts_with("fallback used"));
                if let Some(fb) = node.inherited.fallback_for.as_ref().filter(|_| !said) {
                    frame.lines.push(note(format!("asked as the fallback for {fb}")));
                }
                frame.lines.extend(node.notes.iter().map(|n| note(n.clone())));
                frame.rows = rows;
            }
        }
        frame
    }

    /// Due times of the node's pending timers, in the words of what happens then.
    fn due_lines(&self, id: NodeId) -> Vec<Line> {
        let node = self.item.node(id);
        self.item
            .timers
            .iter()
            .filter(|t| t.active && t.node == Some(id))
            .filter_map(|t| {
                let at = format!("{} ({})", when(t.due), relative(self.now, t.due));
                let text = match t.kind {
                    TimerKind::Timeout => match node.expr.options.on_timeout.unwrap_or_default() {
                        OnTimeout::Escalate => format!("escalates at {at} to each silent approver's manager"),
                        OnTimeout::Reject => format!("due {at}, then denied"),
                        OnTimeout::Remind => format!("due {at}, then a reminder"),
                    },
                    TimerKind::Remind => format!("next reminder {at}"),
                    TimerKind::GrantExpiry => return None,
                };
                Some(due(text))
            })
            .collect()
    }

    /// The rows of a leaf: everyone when few, else those who did something one by one and the rest counted.
    fn rows(&self, slots: &[Slot]) -> (Vec<Row>, Tally) {
        let mut tally = Tally::default();
        for s in slots {
            tally.add(s.state);
        }
        let notable = |s: &Slot| !matches!(s.state, SlotState::Pending | SlotState::Closed) || s.replaces.is_some();
        // Denials, escalations and departures are few and decide the step: they are always drawn (up to the
        // cap); approvals fill the rows left.
        let decisive = slots.iter().filter(|s| notable(s) && s.state != SlotState::Approved).count().min(MAX_ROWS);
        let approvals_room = MAX_ROWS - decisive;
        let mut rows = Vec::new();
        if slots.len() <= SHOW_ALL {
            rows.extend(slots.iter().map(|s| self.row(slots, s)));
            return (rows, tally);
        }
        let mut more_answered = Tally::default();
        let mut pending = 0usize;
        // Dismissals are grouped by reason; almost always one reason ("approved by X") for all of them.
        let mut closed: Vec<(Option<&DismissReason>, usize)> = Vec::new();
        let (mut approvals_shown, mut others_shown) = (0usize, 0usize);
        for s in slots {
            if notable(s) {
                let room = if s.state == SlotState::Approved {
                    approvals_shown += 1;
                    approvals_shown <= approvals_room
                } else {
                    others_shown += 1;
                    others_shown <= decisive
                };
                if room {
                    rows.push(self.row(slots, s));
                } else {
                    more_answered.add(s.state);
                }
                continue;
            }
            if s.state == SlotState::Pending {
                pending += 1;
                continue;
            }
            let reason = match &self.item.prompts[s.prompt as usize].state {
                PromptState::Dismissed { reason, .. } => Some(reason),
                _ => None,
            };
            match closed.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => closed.push((reason, 1)),
            }
        }
        let more = |text: String| Row { mark: Mark::More, name: None, text };
        if more_answered.total() > 0 {
            rows.push(more(format!(
                "+ {} more: {}",
                thousands(more_answered.total()),
                more_answered.words().join(", ")
            )));
        }
        if pending > 0 {
            rows.push(Row {
                mark: Mark::Pending,
                name: None,
                text: format!("+ {} more asked, pending", thousands(pending)),
            });
        }
        for (reason, n) in closed {
            let text = match reason {
                Some(r) => self.dismissal(r).1,
                None => "not needed: the step was decided".to_owned(),
            };
            rows.push(Row { mark: Mark::Dismissed, name: None, text: format!("+ {} more {text}", thousands(n)) });
        }
        (rows, tally)
    }

    /// One person's row: their mark, name and what happened, in words.
    fn row(&self, slots: &[Slot], s: &Slot) -> Row {
        let prompt = &self.item.prompts[s.prompt as usize];
        let decision = self.item.decisions.iter().rev().find(|d| d.prompt == s.prompt);
        let comment = decision
            .and_then(|d| d.comment.as_deref())
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| format!(": {c}"));
        let (mark, mut text) = match s.state {
            SlotState::Pending => {
                let mut t = format!("asked {}, pending", when(prompt.sent_at));
                if prompt.reminders > 0 {
                    t.push_str(&format!(", reminded {}×", prompt.reminders));
                }
                (Mark::Pending, t)
            }
            SlotState::Approved => {
                let mut t = match &prompt.state {
                    PromptState::Answered { at, .. } => format!("approved {}", when(*at)),
                    _ => "approved".to_owned(),
                };
                if let Some(Verdict::Approve { duration: Some(d) }) = decision.map(|d| &d.verdict) {
                    t.push_str(&format!(" for {d}"));
                }
                t.push_str(comment.as_deref().unwrap_or(""));
                (Mark::Approved, t)
            }
            SlotState::Denied => {
                let mut t = match &prompt.state {
                    PromptState::Answered { at, .. } => format!("denied {}", when(*at)),
                    _ => "denied".to_owned(),
                };
                t.push_str(comment.as_deref().unwrap_or(""));
                (Mark::Denied, t)
            }
            SlotState::Escalated | SlotState::Exhausted | SlotState::Closed | SlotState::Unavailable => {
                match &prompt.state {
                    PromptState::Answered { verdict: Verdict::Escalate { to }, at } => {
                        (Mark::Escalated, format!("handed on to {} {}", self.name(to), when(*at)))
                    }
                    PromptState::Dismissed { reason, .. } => self.dismissal(reason),
                    PromptState::Answered { verdict, .. } => {
                        (Mark::Dismissed, format!("not needed here: {} in another step", verdict.past_tense()))
                    }
                    PromptState::Pending => match s.state {
                        SlotState::Unavailable => (Mark::Unavailable, "no longer available".to_owned()),
                        SlotState::Escalated => (Mark::Escalated, "escalated".to_owned()),
                        SlotState::Exhausted => (Mark::TimedOut, "timed out, nobody left to ask".to_owned()),
                        _ => (Mark::Dismissed, "not needed here: the step was decided".to_owned()),
                    },
                }
            }
        };
        if let Some(from) = &s.replaces {
            // The slot it replaces is the same person's earlier slot in this step: left, or escalated.
            let left = slots.iter().any(|o| o.person == *from && o.state == SlotState::Unavailable);
            if left {
                text.push_str(&format!("; fallback in place of {}", self.name(from)));
            } else {
                text.push_str(&format!("; escalated from {}", self.name(from)));
            }
        }
        Row { mark, name: Some(self.name(&s.person)), text }
    }

    /// A dismissed prompt's mark and words.
    fn dismissal(&self, reason: &DismissReason) -> (Mark, String) {
        let by = |b: &Option<String>| b.as_ref().map(|b| format!(" by {}", self.name(b))).unwrap_or_default();
        match reason {
            DismissReason::Settled { outcome, by: b } => (
                Mark::Dismissed,
                match outcome {
                    NodeStatus::Approved => format!("dismissed: not needed, the step was approved{}", by(b)),
                    other => format!("dismissed: the step was {}{}", other.word(), by(b)),
                },
            ),
            DismissReason::ItemSettled { outcome, by: b } => {
                (Mark::Dismissed, format!("dismissed: the request was {outcome}{}", by(b)))
            }
            DismissReason::Escalated { to: Some(t), after } => {
                (Mark::Escalated, format!("no answer within {after}: escalated to {}", self.name(t)))
            }
            DismissReason::Escalated { to: None, after } => {
                (Mark::TimedOut, format!("no answer within {after}; nobody above to escalate to"))
            }
            DismissReason::TimedOut { after } => (Mark::TimedOut, format!("timed out after {after}")),
            DismissReason::Cancelled { by: b } => {
                (Mark::Dismissed, format!("dismissed: cancelled by {}", self.name(b)))
            }
            DismissReason::Unavailable { reason } => (Mark::Unavailable, format!("no longer available ({reason})")),
        }
    }
}

/// Counts of a leaf's slots by state, for its "needs N of M" line.
#[derive(Debug, Default)]
struct Tally {
    asked: usize,
    approved: usize,
    denied: usize,
    pending: usize,
    dismissed: usize,
    escalated: usize,
    unavailable: usize,
    timed_out: usize,
}

impl Tally {
    fn add(&mut self, s: SlotState) {
        let field = match s {
            SlotState::Pending => &mut self.pending,
            SlotState::Approved => &mut self.approved,
            SlotState::Denied => &mut self.denied,
            SlotState::Escalated => &mut self.escalated,
            SlotState::Exhausted => &mut self.timed_out,
            SlotState::Closed => &mut self.dismissed,
            SlotState::Unavailable => &mut self.unavailable,
        };
        *field += 1;
        // "of M" counts the people who can (or could) answer: an escalated or departed person's place is
        // taken by whoever was asked instead, who is counted in their own slot.
        if !matches!(s, SlotState::Escalated | SlotState::Unavailable) {
            self.asked += 1;
        }
    }

    fn total(&self) -> usize {
        self.approved + self.denied + self.pending + self.dismissed + self.escalated + self.unavailable + self.timed_out
    }

    fn words(&self) -> Vec<String> {
        [
            (self.approved, "approved"),
            (self.denied, "denied"),
            (self.pending, "pending"),
            (self.dismissed, "dismissed"),
            (self.escalated, "escalated"),
            (self.unavailable, "no longer available"),
            (self.timed_out, "timed out"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{} {w}", thousands(n)))
        .collect()
    }
}

/// A branch that is one person with nothing else to say becomes a row of its parallel step rather than a box
/// of its own: "2 of 3" then reads as three rows, not three boxes repeating each name.
fn inline(f: Frame) -> Result<Row, Frame> {
    let simple = f.lines.is_empty() && f.children.is_empty() && f.rows.len() == 1 && f.rows[0].name.is_some();
    if !simple {
        return Err(f);
    }
    let Frame { heading, mut rows, .. } = f;
    let mut row = rows.remove(0);
    if row.name.as_deref() != Some(heading.as_str()) {
        row.text = format!("{heading}: {}", row.text);
    }
    Ok(row)
}

fn unstarted(heading: String, never: bool) -> Frame {
    Frame {
        heading,
        look: Look::NotStarted,
        badge: if never { "not needed" } else { "not started yet" }.to_owned(),
        lines: Vec::new(),
        rows: Vec::new(),
        children: Vec::new(),
        sequence: false,
    }
}

/// A short name for a step not started yet (the engine's labels exist only for started nodes, and this
/// module reads no catalog): who it will ask, in words.
fn expr_label(e: &Expr, names: &impl Fn(&str) -> String) -> String {
    let of = |o: &ManagerOf| match o {
        ManagerOf::Beneficiary => "the person's",
        ManagerOf::Requester | ManagerOf::RequesterChain => "the requester's",
    };
    match &e.kind {
        ExprKind::UserConstant { user } => names(user),
        ExprKind::UserList { users, number_required } => {
            format!("{number_required} of {}", users.iter().map(|u| names(u)).collect::<Vec<_>>().join(", "))
        }
        ExprKind::Manager { of: o } => format!("{} manager", of(o)),
        ExprKind::SkipLevelManager { levels, of: o } => format!("{} level-{levels} manager", of(o)),
        ExprKind::AppAdmin { .. } => "the app's admins".to_owned(),
        ExprKind::GroupOwner { .. } => "the group's owners".to_owned(),
        ExprKind::GroupManager { .. } => "the list's managers".to_owned(),
        ExprKind::Reference { name, .. } => name.clone(),
        ExprKind::Sequential { expressions } => format!("{} steps in order", expressions.len()),
        ExprKind::Parallel { expressions, number_required } => {
            format!("{} of {} in parallel", number_required.unwrap_or(expressions.len() as u32), expressions.len())
        }
        ExprKind::Condition { .. } => "condition".to_owned(),
        ExprKind::ParallelGroup { group, number_required, .. } => {
            format!("{number_required} of group {}", group.external_id)
        }
        ExprKind::GradeRange { number_required, .. } => format!("{number_required} by grade"),
        ExprKind::Attribute { attribute, value, .. } => format!("people with {attribute} = {value}"),
        ExprKind::Permission { permission, .. } => format!("holders of {permission}"),
        ExprKind::AutoApprove { .. } => "automatic approval".to_owned(),
        ExprKind::AutoDeny { .. } => "automatic denial".to_owned(),
    }
}

fn look_of_node(s: NodeStatus) -> Look {
    match s {
        NodeStatus::Pending => Look::Waiting,
        NodeStatus::Approved => Look::Approved,
        NodeStatus::Denied => Look::Denied,
        NodeStatus::Expired => Look::Expired,
        NodeStatus::Closed => Look::Closed,
    }
}

fn look_of_item(s: ItemStatus) -> Look {
    match s {
        ItemStatus::Requested | ItemStatus::Escalated => Look::Waiting,
        ItemStatus::Approved => Look::Approved,
        ItemStatus::Denied => Look::Denied,
        ItemStatus::Expired => Look::Expired,
        ItemStatus::Cancelled => Look::Closed,
    }
}

fn badge_of_node(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Pending => "waiting",
        NodeStatus::Approved => "approved",
        NodeStatus::Denied => "denied",
        NodeStatus::Expired => "expired",
        NodeStatus::Closed => "not needed",
    }
}

// ---------------------------------------------------------------------------------------------------------
// From a plan
// ---------------------------------------------------------------------------------------------------------

fn plan_section(p: &PlanView) -> Section {
    let role = p.role.as_ref().map(|r| format!(", role {r}")).unwrap_or_default();
    let title = format!("Plan: {}{role} for {}", p.resource, p.beneficiary.name);
    let sub = vec![
        format!("asked by {} <{}>", p.requester.name, p.requester.id),
        format!("workflow {} ({})", p.workflow.as_deref().unwrap_or("written inline"), p.workflow_reason),
    ];
    let outcome = match p.outcome.as_str() {
        "requested" => {
            (Look::Planned, format!("would wait for approvers: {} asked at some step", thousands(p.approvers.len())))
        }
        other => (
            match other {
                "approved" => Look::Approved,
                "expired" => Look::Expired,
                _ => Look::Denied,
            },
            format!("{other} at once{}", p.outcome_reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()),
        ),
    };
    Section { title, sub, outcome, footer: Vec::new(), root: plan_frame(&p.tree, String::new(), Vec::new()) }
}

fn plan_frame(n: &PlanNode, prefix: String, mut lines: Vec<Line>) -> Frame {
    lines.extend(option_lines(n));
    if let (Some(name), [only]) = (&n.expands, n.children.as_slice()) {
        lines.push(note(format!("workflow {name}")));
        lines.extend(n.notes.iter().map(|t| note(t.clone())));
        return plan_frame(only, prefix, lines);
    }
    let (look, badge) = match n.result.as_str() {
        "approved" => (Look::Approved, "approved at once"),
        "denied" => (Look::Denied, "denied at once"),
        "expired" => (Look::Expired, "expired"),
        _ => (Look::Planned, if n.asks.is_empty() { "" } else { "would ask" }),
    };
    let sequence = n.expression == "sequential_expression";
    let heading =
        if sequence { format!("{prefix}{} steps in order", n.children.len()) } else { format!("{prefix}{}", n.label) };
    let mut frame =
        Frame { heading, look, badge: badge.to_owned(), lines, rows: Vec::new(), children: Vec::new(), sequence };
    if let Some(r) = n.required
        && n.result == "asks"
        && !(r == 1 && n.asks.len() == 1)
    {
        frame.lines.insert(
            0,
            Line {
                kind: LineKind::Count,
                text: format!("needs {} of {}", thousands(r as usize), thousands(n.asks.len())),
            },
        );
    }
    frame.lines.extend(n.notes.iter().map(|t| note(t.clone())));
    // A plan has no answers yet: the first few people, then a count.
    let shown = n.asks.len().min(SHOW_ALL);
    for p in &n.asks[..shown] {
        frame.rows.push(Row { mark: Mark::Planned, name: Some(p.name.clone()), text: "would be asked".to_owned() });
    }
    if n.asks.len() > shown {
        frame.rows.push(Row {
            mark: Mark::More,
            name: None,
            text: format!("+ {} more would be asked", thousands(n.asks.len() - shown)),
        });
    }
    let steps = n.children.len();
    for c in &n.children {
        let prefix = match c.step {
            Some(s) => format!("Step {s} of {steps}: "),
            None => String::new(),
        };
        let child = plan_frame(c, prefix, Vec::new());
        match n.expression.as_str() {
            "parallel_expression" => match inline(child) {
                Ok(row) => frame.rows.push(row),
                Err(child) => frame.children.push(child),
            },
            _ => frame.children.push(child),
        }
    }
    frame
}

/// A plan node's timing options in words (a plan has no timers yet, only how long each step may wait).
fn option_lines(n: &PlanNode) -> Vec<Line> {
    let o = &n.options;
    let mut out = Vec::new();
    if let Some(t) = o.timeout.filter(|t| !t.is_zero()) {
        out.push(due(match o.on_timeout.unwrap_or_default() {
            OnTimeout::Escalate => format!("waits up to {t}, then escalates to each silent approver's manager"),
            OnTimeout::Reject => format!("waits up to {t}, then denied"),
            OnTimeout::Remind => format!("waits up to {t}, then a reminder"),
        }));
    }
    if let Some(r) = o.remind_every.filter(|r| !r.is_zero()) {
        out.push(due(format!("reminds every {r}")));
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------------------

/// The whole picture: sizes are computed while drawing (each frame's height is known once its content is
/// drawn, so its content is drawn into its own buffer first and the frame's rectangle put before it).
fn render(id: &str, sections: &[Section]) -> String {
    let mut body = String::with_capacity(8 * 1024);
    let mut y = MARGIN;
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            y += GAP;
        }
        y = draw_section(s, y, &mut body);
    }
    let height = (y + MARGIN).ceil();
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"signoff-path\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" \
         preserveAspectRatio=\"xMinYMin meet\" font-family=\"{FONTS}\" font-size=\"{FONT}\" fill=\"{TEXT}\">"
    );
    let _ = write!(out, "<title id=\"{id}-title\">");
    let title = sections.iter().map(|s| format!("{}: {}", s.title, s.outcome.1)).collect::<Vec<_>>().join("; ");
    escape_into(&mut out, &format!("Approval path: {title}"));
    let _ = write!(out, "</title><desc id=\"{id}-desc\">");
    let mut desc = String::new();
    for s in sections {
        describe_section(s, &mut desc);
    }
    escape_into(&mut out, desc.trim_end());
    out.push_str("</desc>");
    let _ =
        write!(out, "<rect class=\"sp-bg\" x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"{WHITE}\"/>");
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

fn draw_section(s: &Section, mut y: f64, out: &mut String) -> f64 {
    let w = WIDTH - 2.0 * MARGIN;
    y += FONT + 2.0;
    text(out, MARGIN, y, FONT + 2.0, "sp-title", TEXT, true, &s.title, w);
    for sub in &s.sub {
        for line in wrap(sub, w, SMALL, MAX_WRAP).0 {
            y += SMALL_LINE;
            text(out, MARGIN, y, SMALL, "sp-sub", MUTED, false, &line, w);
        }
    }
    let (look, words) = &s.outcome;
    y += LINE + 2.0;
    let (lines, cut) = wrap(words, w, FONT, MAX_WRAP);
    for (k, line) in lines.iter().enumerate() {
        if k > 0 {
            y += LINE;
        }
        let class = format!("sp-outcome sp-look-{}", look.class());
        text_titled(out, MARGIN, y, FONT, &class, look.colour(), true, line, cut.then_some(words.as_str()));
    }
    y += 10.0;
    y = draw_frame(&s.root, MARGIN, y, w, out);
    for l in &s.footer {
        for line in wrap(&l.text, w, SMALL, MAX_WRAP).0 {
            y += SMALL_LINE;
            text(out, MARGIN, y, SMALL, l.kind.class(), l.kind.colour(), false, &line, w);
        }
    }
    y
}

/// Draws a frame with its top-left corner at (x, y) and width w; returns the y of its bottom edge.
fn draw_frame(f: &Frame, x: f64, y: f64, w: f64, out: &mut String) -> f64 {
    let mut inner = String::new();
    let left = x + PAD;
    let room = w - 2.0 * PAD;
    let mut cy = y + PAD + FONT - 2.0;
    // The heading, and the state word at the right in the state's colour.
    let badge_w = if f.badge.is_empty() { 0.0 } else { text_width(&f.badge, SMALL, true) + 12.0 };
    text(&mut inner, left, cy, FONT, "sp-heading", TEXT, true, &f.heading, room - badge_w);
    if !f.badge.is_empty() {
        let _ = write!(
            inner,
            "<text class=\"sp-badge\" x=\"{}\" y=\"{}\" font-size=\"{SMALL}\" font-weight=\"700\" \
             text-anchor=\"end\" fill=\"{}\">",
            num(x + w - PAD),
            num(cy),
            f.look.colour()
        );
        escape_into(&mut inner, &f.badge);
        inner.push_str("</text>");
    }
    for l in &f.lines {
        let (lines, cut) = wrap(&l.text, room, SMALL, MAX_WRAP);
        for line in &lines {
            cy += SMALL_LINE;
            text_titled(
                &mut inner,
                left,
                cy,
                SMALL,
                l.kind.class(),
                l.kind.colour(),
                false,
                line,
                cut.then_some(l.text.as_str()),
            );
        }
    }
    for r in &f.rows {
        cy += LINE + 2.0;
        cy = draw_row(r, left, cy, room, &mut inner);
    }
    let mut bottom = cy + PAD;
    for (k, c) in f.children.iter().enumerate() {
        let top = bottom + if k == 0 { 8.0 } else { GAP };
        if f.sequence && k > 0 {
            // An arrow from the previous step down to this one.
            let ax = x + INSET + 22.0;
            let _ = write!(
                inner,
                "<path class=\"sp-arrow\" d=\"M{} {}V{}M{} {}l4 -6h-8z\" stroke=\"{MUTED}\" stroke-width=\"1.5\" \
                 fill=\"{MUTED}\" aria-hidden=\"true\"/>",
                num(ax),
                num(bottom),
                num(top - 1.0),
                num(ax),
                num(top),
            );
        }
        bottom = draw_frame(c, x + INSET, top, w - 2.0 * INSET, &mut inner);
    }
    if !f.children.is_empty() {
        bottom += PAD;
    }
    let h = bottom - y;
    let dash = if f.look.dashed() { " stroke-dasharray=\"5 3\"" } else { "" };
    let _ = write!(
        out,
        "<rect class=\"sp-frame sp-frame-{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{WHITE}\" \
         stroke=\"{}\" stroke-width=\"{}\"{dash}/>",
        f.look.class(),
        num(x),
        num(y),
        num(w),
        num(h),
        f.look.colour(),
        if f.look == Look::Waiting { "2.5" } else { "1.5" },
    );
    out.push_str(&inner);
    bottom
}

/// Draws a person's row whose first baseline is `y`; returns the last baseline.
fn draw_row(r: &Row, x: f64, mut y: f64, room: f64, out: &mut String) -> f64 {
    let _ = write!(out, "<g class=\"sp-person\">");
    mark(out, r.mark, x + 8.0, y - 4.5);
    let tx = x + MARK_ROOM;
    let avail = room - MARK_ROOM;
    let colour = r.mark.colour();
    match &r.name {
        None => {
            let (lines, cut) = wrap(&r.text, avail, SMALL, MAX_WRAP);
            for (k, line) in lines.iter().enumerate() {
                if k > 0 {
                    y += SMALL_LINE;
                }
                text_titled(out, tx, y, SMALL, "sp-more", TEXT, false, line, cut.then_some(r.text.as_str()));
            }
        }
        Some(name) => {
            // The name takes at most 45% of the row; the state follows it, or wraps below it when long.
            let name_w = text(out, tx, y, FONT, "sp-name", TEXT, true, name, avail * 0.45);
            let after = tx + name_w + 8.0;
            let rest = tx + avail - after;
            if text_width(&r.text, SMALL, false) <= rest {
                text(
                    out,
                    after,
                    y,
                    SMALL,
                    &format!("sp-state sp-state-{}", r.mark.class()),
                    colour,
                    false,
                    &r.text,
                    rest,
                );
            } else {
                let (lines, cut) = wrap(&r.text, avail, SMALL, MAX_WRAP);
                for line in &lines {
                    y += SMALL_LINE;
                    let class = format!("sp-state sp-state-{}", r.mark.class());
                    text_titled(out, tx, y, SMALL, &class, colour, false, line, cut.then_some(r.text.as_str()));
                }
            }
        }
    }
    out.push_str("</g>");
    y
}

/// A person's mark: a small circle with a glyph, centred at (cx, cy). Decorative: the words say the same.
fn mark(out: &mut String, m: Mark, cx: f64, cy: f64) {
    let c = m.colour();
    let _ = write!(
        out,
        "<g class=\"sp-mark sp-mark-{}\" transform=\"translate({} {})\" aria-hidden=\"true\">",
        m.class(),
        num(cx),
        num(cy)
    );
    let (filled, glyph) = match m {
        Mark::Approved => (true, "M-3.5 0.2L-1 2.7L3.6 -2.6"),
        Mark::Denied => (true, "M-3 -3L3 3M3 -3L-3 3"),
        Mark::Dismissed => (true, "M-3.5 0H3.5"),
        Mark::Escalated => (true, "M0 4V-3.5M-3 -0.8L0 -3.8L3 -0.8"),
        Mark::Unavailable => (true, "M-3 3L3 -3"),
        Mark::TimedOut => (true, "M0 -3.8V0L2.8 1.8"),
        Mark::Pending => (false, "M0 -3.8V0L2.8 1.8"),
        Mark::Planned => (false, ""),
        Mark::More => (false, "M-3.2 0H-2.8M-0.2 0H0.2M2.8 0H3.2"),
    };
    if filled {
        let _ = write!(out, "<circle r=\"7\" fill=\"{c}\"/>");
    } else {
        let dash = if m == Mark::Planned { " stroke-dasharray=\"2.5 2\"" } else { "" };
        let _ = write!(out, "<circle r=\"6.2\" fill=\"{WHITE}\" stroke=\"{c}\" stroke-width=\"1.6\"{dash}/>");
    }
    if !glyph.is_empty() {
        let stroke = if filled { WHITE } else { c };
        let _ = write!(
            out,
            "<path d=\"{glyph}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.8\" stroke-linecap=\"round\" \
             stroke-linejoin=\"round\"/>"
        );
    }
    out.push_str("</g>");
}

/// One line of text at (x, y), truncated to `max` user units with the full text in a `<title>` child.
/// Returns the width drawn (estimated).
#[allow(clippy::too_many_arguments)]
fn text(out: &mut String, x: f64, y: f64, size: f64, class: &str, fill: &str, bold: bool, s: &str, max: f64) -> f64 {
    let (shown, cut) = truncate(s, max, size, bold);
    text_titled(out, x, y, size, class, fill, bold, &shown, cut.then_some(s));
    text_width(&shown, size, bold)
}

#[allow(clippy::too_many_arguments)]
fn text_titled(
    out: &mut String,
    x: f64,
    y: f64,
    size: f64,
    class: &str,
    fill: &str,
    bold: bool,
    shown: &str,
    full: Option<&str>,
) {
    let weight = if bold { " font-weight=\"600\"" } else { "" };
    let _ = write!(
        out,
        "<text class=\"{class}\" x=\"{}\" y=\"{}\" font-size=\"{size}\" fill=\"{fill}\"{weight}>",
        num(x),
        num(y)
    );
    if let Some(full) = full {
        out.push_str("<title>");
        escape_into(out, full);
        out.push_str("</title>");
    }
    escape_into(out, shown);
    out.push_str("</text>");
}

// ---------------------------------------------------------------------------------------------------------
// The words for screen readers
// ---------------------------------------------------------------------------------------------------------

fn describe_section(s: &Section, out: &mut String) {
    let _ = write!(out, "{}, {}. Outcome: {}. ", s.title, s.sub.join(", "), s.outcome.1);
    describe_frame(&s.root, out);
    for l in &s.footer {
        let _ = write!(out, "{}. ", l.text);
    }
}

fn describe_frame(f: &Frame, out: &mut String) {
    out.push_str(&f.heading);
    if !f.badge.is_empty() {
        let _ = write!(out, " ({})", f.badge);
    }
    out.push_str(". ");
    for l in &f.lines {
        let _ = write!(out, "{}. ", l.text);
    }
    for r in &f.rows {
        match &r.name {
            Some(n) => {
                let _ = write!(out, "{n}: {}. ", r.text);
            }
            None => {
                let _ = write!(out, "{}. ", r.text);
            }
        }
    }
    for c in &f.children {
        describe_frame(c, out);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------------------

/// Appends `s` escaped for XML text and attribute values. Characters XML 1.0 does not allow (control
/// characters other than tab and newlines) become U+FFFD, so a stray byte in a directory name cannot make the
/// page's SVG malformed.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// An estimate of how wide `s` is drawn: there is no font metrics here, so it errs wide (a truncated name
/// beats text running out of its box).
fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    let units: f64 = s.chars().map(char_units).sum();
    units * size * if bold { 1.1 } else { 1.0 }
}

fn char_units(c: char) -> f64 {
    // Tuned on DejaVu Sans (what a Linux rasteriser falls back to, and wider than system-ui fonts).
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'I' | ' ' => 0.32,
        'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' => 0.42,
        'm' | 'w' | 'M' | 'W' | '@' => 0.92,
        'A'..='Z' => 0.72,
        c if c.is_ascii() => 0.62,
        // CJK and other wide scripts, emoji.
        c if (c as u32) >= 0x1100 => 1.0,
        _ => 0.62,
    }
}

/// `s` cut to fit `max` with an ellipsis, and whether it was cut.
fn truncate(s: &str, max: f64, size: f64, bold: bool) -> (String, bool) {
    if text_width(s, size, bold) <= max {
        return (s.to_owned(), false);
    }
    let budget = max - text_width("…", size, bold);
    let mut used = 0.0;
    let mut out = String::new();
    for c in s.chars() {
        let w = char_units(c) * size * if bold { 1.1 } else { 1.0 };
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    let mut out = out.trim_end().to_owned();
    out.push('…');
    (out, true)
}

/// `s` broken into lines of at most `max` wide (at spaces; a word longer than a line is cut), at most
/// `lines` of them; and whether anything was left out.
fn wrap(s: &str, max: f64, size: f64, lines: usize) -> (Vec<String>, bool) {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let candidate = if cur.is_empty() { word.to_owned() } else { format!("{cur} {word}") };
        if text_width(&candidate, size, false) <= max {
            cur = candidate;
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur = if text_width(word, size, false) > max { truncate(word, max, size, false).0 } else { word.to_owned() };
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    if out.len() > lines {
        out.truncate(lines);
        let last = out.pop().unwrap_or_default();
        out.push(truncate(&format!("{last} …"), max, size, false).0);
        return (out, true);
    }
    let cut = out.iter().any(|l| l.ends_with('…'));
    (out, cut)
}

/// A coordinate with at most one decimal: smaller output, and stable text for tests.
fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 { format!("{}", r as i64) } else { format!("{r:.1}") }
}

/// An instant as people read it on the page: `2026-12-05 14:00 UTC`.
fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// How far `t` is from `now`: `in 2d 3h`, `in 25m`, `overdue`.
fn relative(now: Timestamp, t: Timestamp) -> String {
    let secs = t.duration_since(now).as_secs();
    if secs <= 0 {
        return "overdue".to_owned();
    }
    // Two units at most, rounded up to the minute: "in 1d 23h" reads better than "in 1d23h59m12s".
    let mins = (secs as u64).div_ceil(60);
    let (d, h, m) = (mins / 1440, (mins / 60) % 24, mins % 60);
    let text = match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    };
    format!("in {text}")
}

/// `1000` as `1,000`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A string safe as (part of) an XML id: ASCII letters, digits and `-`.
fn id_part(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(64).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "x".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    //! Items built by running the engine (the engine's own test harness: its test company, catalogs and
    //! `Run`), drawn, parsed back as XML and read the way a person or a screen reader would.

    use super::*;
    use crate::engine::tests::{DIRECTORY, Run, at, catalog, catalog_over};
    use crate::engine::{Decision, Event};

    const JOHN: &str = "john@company.com";

    /// The directory's names, as the page passes them.
    fn names_of(r: &Run) -> impl Fn(&str) -> String + '_ {
        |id: &str| r.cat.directory.name_of(id).to_owned()
    }

    fn draw(r: &Run, now: Timestamp) -> String {
        let svg = item_svg(&r.item, &names_of(r), now);
        assert_safe(&svg);
        svg
    }

    /// What the page's Content-Security-Policy and an XML parser demand: well-formed, no styles, no scripts,
    /// no event handlers; and the accessible name and description wired to the root.
    fn assert_safe(svg: &str) {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
        assert_eq!(root.attribute("role"), Some("img"));
        assert_eq!(root.attribute("width"), Some("100%"));
        assert!(root.attribute("viewBox").is_some_and(|v| v.starts_with(&format!("0 0 {WIDTH} "))));
        let ids: Vec<&str> = root.attribute("aria-labelledby").expect("aria-labelledby").split(' ').collect();
        assert_eq!(ids.len(), 2);
        for (id, tag) in ids.iter().zip(["title", "desc"]) {
            let el = doc.descendants().find(|n| n.attribute("id") == Some(*id)).expect("labelled element");
            assert_eq!(el.tag_name().name(), tag);
            assert!(el.text().is_some_and(|t| t.len() > 20), "{tag} says something");
        }
        for n in doc.descendants().filter(|n| n.is_element()) {
            let tag = n.tag_name().name();
            assert!(!matches!(tag, "style" | "script" | "foreignObject" | "a"), "<{tag}> in {svg}");
            for a in n.attributes() {
                assert_ne!(a.name(), "style", "style attribute on <{tag}>");
                assert!(!a.name().starts_with("on"), "event handler {} on <{tag}>", a.name());
                assert!(!a.value().contains("javascript:"), "{}", a.value());
            }
        }
        assert!(!svg.contains("style="), "no style attribute at all");
    }

    /// Every person row: (name, mark class, state words). Counting rows have an empty name.
    fn rows(svg: &str) -> Vec<(String, String, String)> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed");
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("sp-person"))
            .map(|g| {
                let mark = g
                    .children()
                    .find(|c| c.attribute("class").is_some_and(|c| c.starts_with("sp-mark ")))
                    .and_then(|c| c.attribute("class"))
                    .map(|c| c.trim_start_matches("sp-mark sp-mark-").to_owned())
                    .expect("a mark");
                let full = |n: roxmltree::Node<'_, '_>| {
                    // The full text: the `<title>` child when the drawn text was cut, else the text.
                    n.children()
                        .find(|c| c.has_tag_name("title"))
                        .and_then(|t| t.text())
                        .or_else(|| n.children().find(|c| c.is_text()).and_then(|t| t.text()))
                        .unwrap_or("")
                        .to_owned()
                };
                let texts: Vec<roxmltree::Node<'_, '_>> = g.children().filter(|c| c.has_tag_name("text")).collect();
                let name = texts
                    .iter()
                    .find(|t| t.attribute("class") == Some("sp-name"))
                    .map(|t| full(*t))
                    .unwrap_or_default();
                let mut words: Vec<String> = Vec::new();
                for t in texts.iter().filter(|t| t.attribute("class") != Some("sp-name")) {
                    let w = full(*t);
                    if !words.contains(&w) {
                        words.push(w);
                    }
                }
                (name, mark, words.join(" "))
            })
            .collect()
    }

    fn row_of<'a>(rows: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
        rows.iter().find(|r| r.0 == name).unwrap_or_else(|| panic!("no row for {name}: {rows:#?}"))
    }

    /// All the text a reader sees (text elements, not titles), one string per element.
    fn texts(svg: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed");
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect::<String>())
            .collect()
    }

    fn desc(svg: &str) -> String {
        let doc = roxmltree::Document::parse(svg).expect("well-formed");
        doc.descendants().find(|n| n.has_tag_name("desc")).and_then(|n| n.text()).unwrap_or("").to_owned()
    }

    /// Whether the drawn text holds `needle`; lines wrapped at spaces are joined back with one space.
    fn has_text(svg: &str, needle: &str) -> bool {
        texts(svg).join(" ").contains(needle)
    }

    fn decide(r: &mut Run, who: &str, decision: Decision, when: &str) {
        r.try_decide_at(who, decision, at(when)).unwrap_or_else(|e| panic!("{who}: {e}"));
    }

    fn approve(r: &mut Run, who: &str, when: &str) {
        decide(r, who, Decision::Approve { duration: None, comment: None }, when);
    }

    /// Manager (escalated after a day), then 2 of 3 in parallel, then a director with two days to answer.
    const CHAIN: &str = "sequential_expression:
  expressions:
    - manager_expression: { timeout: 24h }
    - parallel_expression:
        number_required: 2
        expressions:
          - user_constant_expression: { user: user1@company.com }
          - user_constant_expression: { user: user2@company.com }
          - user_constant_expression: { user: approver@company.com }
    - user_constant_expression: { user: dir@company.com, timeout: 2d }";

    /// The 3-step example: the manager is silent for a day and the VP above answers; two of three approve and
    /// the third's prompt is dismissed; the director is asked and due in two days.
    fn three_steps() -> Run {
        let mut r = Run::start(catalog(CHAIN, ""), JOHN, JOHN, "app", None);
        r.fire_until(at("24h"));
        approve(&mut r, "vp1@company.com", "25h");
        approve(&mut r, "user1@company.com", "26h");
        approve(&mut r, "user2@company.com", "27h");
        assert_eq!(r.pending(), ["dir@company.com"]);
        r
    }

    #[test]
    fn a_three_step_chain_shows_each_step_the_escalation_the_quorum_and_what_is_due() {
        let r = three_steps();
        let svg = draw(&r, at("30h"));
        for step in ["Step 1 of 3: manager of John Doe", "Step 2 of 3: 2 of 3 in parallel", "Step 3 of 3: Dee Director"]
        {
            assert!(has_text(&svg, step), "{step} in {:#?}", texts(&svg));
        }
        assert!(has_text(&svg, "2 must approve: 2 approved, 0 denied"), "{:#?}", texts(&svg));
        let rows = rows(&svg);
        let mo = row_of(&rows, "Mo Manager");
        assert_eq!((mo.1.as_str(), mo.2.as_str()), ("escalated", "no answer within 1d: escalated to Val One"));
        let val = row_of(&rows, "Val One");
        assert_eq!(val.1, "approved");
        assert_eq!(val.2, "approved 2026-11-24 10:00 UTC; escalated from Mo Manager");
        assert_eq!(row_of(&rows, "User One").2, "approved 2026-11-24 11:00 UTC");
        let ap = row_of(&rows, "Ap Prover");
        assert_eq!(ap.1, "dismissed");
        assert_eq!(ap.2, "dismissed: not needed, the step was approved by User Two");
        let dee = row_of(&rows, "Dee Director");
        assert_eq!((dee.1.as_str(), dee.2.as_str()), ("pending", "asked 2026-11-24 12:00 UTC, pending"));
        assert!(
            has_text(&svg, "escalates at 2026-11-26 12:00 UTC (in 1d 21h) to each silent approver's manager"),
            "{:#?}",
            texts(&svg)
        );
        assert!(has_text(&svg, "escalated: waiting for approvers"));
        // The description says the same in words, for a screen reader.
        let d = desc(&svg);
        for words in ["Step 2 of 3: 2 of 3 in parallel (approved)", "Ap Prover: dismissed", "Dee Director: asked"] {
            assert!(d.contains(words), "{words:?} in {d}");
        }
        // Three step frames in a sequence frame: two arrows between them.
        assert_eq!(svg.matches("class=\"sp-arrow\"").count(), 2);
    }

    /// `docs/picture-example.svg` is what the 3-step example draws today: the test fails when the drawing
    /// changes and the file was not regenerated (`SIGNOFF_REGENERATE=1 cargo test --lib web::picture`).
    #[test]
    fn the_documented_example_is_up_to_date() {
        let r = three_steps();
        let svg = draw(&r, at("30h"));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/picture-example.svg");
        if std::env::var_os("SIGNOFF_REGENERATE").is_some() {
            std::fs::write(&path, format!("{svg}\n")).expect("write the example");
        }
        let on_disk = std::fs::read_to_string(&path).expect("docs/picture-example.svg exists");
        // Not assert_eq!: a mismatch would print two whole pictures.
        assert!(
            on_disk.trim_end() == svg,
            "docs/picture-example.svg is stale: SIGNOFF_REGENERATE=1 cargo test --lib web::picture"
        );
    }

    #[test]
    fn a_denial_ends_the_path_and_every_text_is_escaped() {
        let mut r = Run::start(catalog(CHAIN, ""), JOHN, JOHN, "app", None);
        approve(&mut r, "manager@company.com", "1h");
        let comment = "<b>no</b> & \"never\"";
        decide(&mut r, "user1@company.com", Decision::Deny { comment: Some(comment.to_owned()) }, "2h");
        decide(&mut r, "user2@company.com", Decision::Deny { comment: None }, "3h");
        assert_eq!(r.status(), ItemStatus::Denied);
        let evil = "O'Brien <script>alert(\"x\")</script> & Co";
        let names =
            |id: &str| if id == "user1@company.com" { evil.to_owned() } else { r.cat.directory.name_of(id).to_owned() };
        let svg = item_svg(&r.item, &names, at("4h"));
        assert_safe(&svg);
        assert!(!svg.contains("<script") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("O&#39;Brien &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"), "{svg}");
        let rows = rows(&svg);
        let u1 = row_of(&rows, evil);
        assert_eq!(u1.1, "denied");
        assert_eq!(u1.2, format!("denied 2026-11-23 11:00 UTC: {comment}"));
        assert_eq!(row_of(&rows, "User Two").2, "denied 2026-11-23 12:00 UTC");
        assert_eq!(row_of(&rows, "Ap Prover").2, "dismissed: the step was denied by User Two");
        let t = texts(&svg);
        assert!(has_text(&svg, "denied: denied by User Two"), "{t:#?}");
        // The third step was never reached: shown, dashed, and said to be not needed.
        assert!(t.iter().any(|l| l == "Step 3 of 3: Dee Director"), "{t:#?}");
        assert!(svg.contains("sp-frame sp-frame-not-started"));
        assert!(desc(&svg).contains("Step 3 of 3: Dee Director (not needed)"));
    }

    const BY_DEPARTMENT: &str = r#"{ "condition_expression": { "clauses": [ { "condition": { "rule_v2": "requestor.department == \"Engineering\"" }, "expression": { "manager_expression": {} } } ], "default_expression": { "app_admin_expression": {} } } }"#;

    #[test]
    fn a_condition_shows_the_branch_it_took() {
        let r = Run::start(catalog(BY_DEPARTMENT, ""), JOHN, JOHN, "app", None);
        let svg = draw(&r, at("1h"));
        let t = texts(&svg);
        assert!(
            has_text(&svg, r#"condition: clause 1 of 1 holds (requestor.department == "Engineering"): this branch"#),
            "{t:#?}"
        );
        assert!(t.iter().any(|l| l == "manager of John Doe"), "{t:#?}");
        assert_eq!(row_of(&rows(&svg), "Mo Manager").1, "pending");

        let jane = Run::start(catalog(BY_DEPARTMENT, ""), "jane@company.com", "jane@company.com", "app", None);
        let svg = draw(&jane, at("1h"));
        assert!(has_text(&svg, "condition: its clause does not hold: the default branch"), "{:#?}", texts(&svg));
        assert!(has_text(&svg, "admins of The App"));
        assert!(has_text(&svg, "needs 1 of 2: 2 pending"), "{:#?}", texts(&svg));
    }

    #[test]
    fn a_leaver_is_marked_and_the_fallback_asked_in_their_place_is_named() {
        let all = "user_list_expression:\n  users: [user1@company.com, user2@company.com, approver@company.com]\n  number_required: 3";
        let mut r = Run::start(catalog(all, ""), JOHN, JOHN, "app", None);
        approve(&mut r, "user2@company.com", "1h");
        r.try_apply(Event::Unavailable {
            user: "user1@company.com".to_owned(),
            reason: "deactivated".to_owned(),
            at: at("2h"),
        })
        .expect("accepted");
        let svg = draw(&r, at("3h"));
        let rows = rows(&svg);
        let u1 = row_of(&rows, "User One");
        assert_eq!((u1.1.as_str(), u1.2.as_str()), ("unavailable", "no longer available (deactivated)"));
        let mo = row_of(&rows, "Mo Manager");
        assert_eq!(mo.1, "pending");
        assert_eq!(mo.2, "asked 2026-11-23 11:00 UTC, pending; fallback in place of User One");
        assert!(has_text(&svg, "needs 3 of 3: 1 approved, 2 pending, 1 no longer available"), "{:#?}", texts(&svg));
    }

    #[test]
    fn a_step_without_approvers_shows_who_was_left_out_and_the_fallback_used() {
        let r =
            Run::start(catalog("user_constant_expression: { user: away@company.com }", ""), JOHN, JOHN, "app", None);
        let svg = draw(&r, at("1h"));
        let t = texts(&svg);
        assert!(has_text(&svg, "Al Away left out: out of office until 2099-01-01"), "{t:#?}");
        assert!(has_text(&svg, "fallback used for Al Away: no available approver for Al Away"), "{t:#?}");
        assert!(t.iter().any(|l| l == "manager of John Doe"), "{t:#?}");
        assert_eq!(row_of(&rows(&svg), "Mo Manager").1, "pending");
    }

    #[test]
    fn a_step_rejected_on_timeout_shows_who_timed_out() {
        let wf = "user_list_expression:\n  users: [user1@company.com, user2@company.com]\n  number_required: 2\n  timeout: 2d\n  on_timeout: reject";
        let mut r = Run::start(catalog(wf, ""), JOHN, JOHN, "app", None);
        let svg = draw(&r, at("1h"));
        assert!(has_text(&svg, "due 2026-11-25 09:00 UTC (in 1d 23h), then denied"), "{:#?}", texts(&svg));
        approve(&mut r, "user1@company.com", "2h");
        r.fire_until(at("48h"));
        assert_eq!(r.status(), ItemStatus::Denied);
        let svg = draw(&r, at("49h"));
        let rows = rows(&svg);
        let u2 = row_of(&rows, "User Two");
        assert_eq!((u2.1.as_str(), u2.2.as_str()), ("timed-out", "timed out after 2d"));
        assert_eq!(row_of(&rows, "User One").1, "approved");
        assert!(has_text(&svg, "denied: no decision within 2d"), "{:#?}", texts(&svg));
    }

    /// The test company plus 1,000 members in one group.
    fn big_catalog(workflow: &str) -> crate::catalog::Catalog {
        let mut users = String::new();
        let mut members = Vec::new();
        for i in 0..1000 {
            users.push_str(&format!(
                "  - {{ id: m{i:04}@company.com, name: Member {i:04}, manager: vp-it@company.com }}\n"
            ));
            members.push(format!("m{i:04}@company.com"));
        }
        let group = format!("groups:\n  - id: big\n    name: Big Group\n    members: [{}]\n", members.join(", "));
        catalog_over(&DIRECTORY.replacen("groups:\n", &format!("{users}{group}"), 1), workflow)
    }

    #[test]
    fn a_quorum_of_a_thousand_shows_who_answered_and_counts_the_rest() {
        let mut r = Run::start(
            big_catalog("parallel_group_expression: { group: big, number_required: 100 }"),
            JOHN,
            JOHN,
            "app",
            None,
        );
        for i in 0..60 {
            let d = if i < 55 {
                Decision::Approve { duration: None, comment: None }
            } else {
                Decision::Deny { comment: None }
            };
            decide(&mut r, &format!("m{i:04}@company.com"), d, "1h");
        }
        let svg = draw(&r, at("2h"));
        let rows = rows(&svg);
        let people: Vec<_> = rows.iter().filter(|r| !r.0.is_empty()).collect();
        assert_eq!(people.len(), MAX_ROWS, "those who answered, one by one up to the cap");
        // The denials come last in the order asked, and are drawn all the same: approvals give way.
        let denied: Vec<&str> = people.iter().filter(|p| p.1 == "denied").map(|p| p.0.as_str()).collect();
        assert_eq!(denied, ["Member 0055", "Member 0056", "Member 0057", "Member 0058", "Member 0059"]);
        assert_eq!(people.iter().filter(|p| p.1 == "approved").count(), MAX_ROWS - 5);
        let counted: Vec<&str> = rows.iter().filter(|r| r.0.is_empty()).map(|r| r.2.as_str()).collect();
        assert_eq!(counted, ["+ 10 more: 10 approved", "+ 940 more asked, pending"]);
        assert!(has_text(&svg, "needs 100 of 1,000: 55 approved, 5 denied, 940 pending"), "{:#?}", texts(&svg));
        assert!(svg.len() < 40_000, "small enough to inline: {} bytes", svg.len());
        assert!(desc(&svg).contains("+ 940 more asked, pending"));
    }

    #[test]
    fn a_quorum_met_among_a_thousand_counts_the_dismissed_on_one_line() {
        let mut r = Run::start(
            big_catalog("parallel_group_expression: { group: big, number_required: 2 }"),
            JOHN,
            JOHN,
            "app",
            None,
        );
        approve(&mut r, "m0007@company.com", "1h");
        approve(&mut r, "m0003@company.com", "2h");
        assert_eq!(r.status(), ItemStatus::Approved);
        let svg = draw(&r, at("3h"));
        let rows = rows(&svg);
        let shown: Vec<&str> = rows.iter().filter(|r| !r.0.is_empty()).map(|r| r.0.as_str()).collect();
        assert_eq!(shown, ["Member 0003", "Member 0007"], "in the order asked");
        let counted: Vec<&str> = rows.iter().filter(|r| r.0.is_empty()).map(|r| r.2.as_str()).collect();
        assert_eq!(counted, ["+ 998 more dismissed: not needed, the step was approved by Member 0003"]);
        assert!(has_text(&svg, "access since 2026-11-23 11:00 UTC, no end date"), "{:#?}", texts(&svg));
    }

    #[test]
    fn long_names_are_cut_with_the_full_name_in_a_title() {
        let r = Run::start(catalog("manager_expression: {}", ""), JOHN, JOHN, "app", None);
        let long = "Maximiliane Alexandra Konstantinopoulou-Wolkenstein von und zu Hohenberg";
        let names = |id: &str| {
            if id == "manager@company.com" { long.to_owned() } else { r.cat.directory.name_of(id).to_owned() }
        };
        let svg = item_svg(&r.item, &names, at("1h"));
        assert_safe(&svg);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let name = doc.descendants().find(|n| n.attribute("class") == Some("sp-name")).expect("a name");
        let drawn: String = name.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
        assert!(drawn.ends_with('…') && drawn.chars().count() < long.chars().count(), "{drawn}");
        assert_eq!(name.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()), Some(long));
    }

    #[test]
    fn text_helpers_escape_wrap_and_count() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"c'\u{1}d");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c&#39;\u{fffd}d");
        let (lines, cut) = wrap("one two three four five six seven eight nine ten", 60.0, 12.5, 2);
        assert_eq!(lines.len(), 2);
        assert!(cut && lines[1].ends_with('…'), "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, 12.5, false) <= 60.0), "{lines:?}");
        assert_eq!(wrap("short", 100.0, 12.5, 3), (vec!["short".to_owned()], false));
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let t0 = at("0s");
        assert_eq!(relative(t0, at("45h")), "in 1d 21h");
        assert_eq!(relative(t0, at("90m")), "in 1h 30m");
        assert_eq!(relative(at("1h"), t0), "overdue");
        assert_eq!(id_part("r1/1 Ünïcode"), "r1-1--n-code");
        assert_eq!(when(t0), "2026-11-23 09:00 UTC");
    }
}
