//! A readable view of a planned item for `signoff simulate`: the expanded tree, who each step asks, what
//! each built-in expanded to, where a fallback or a self-approval rule applied. Text for people, JSON for
//! tools; both are built from the same [`PlanView`].

use serde::Serialize;

use super::state::{Body, Item, NodeId, NodeStatus, PassKind, SlotState};
use crate::catalog::Catalog;
use crate::policy::Options;

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// Who asks.
    pub requester: Person,
    /// Who the access is for.
    pub beneficiary: Person,
    /// The resource id.
    pub resource: String,
    /// The role, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The workflow's name (`null` when written inline).
    pub workflow: Option<String>,
    /// Why it applies.
    pub workflow_reason: String,
    /// What would happen at once: `approved`, `denied`, `expired`, or `requested` (waits for people).
    pub outcome: String,
    /// The outcome in words when decided at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_reason: Option<String>,
    /// Everyone who would be asked at some step, once each.
    pub approvers: Vec<Person>,
    /// The tree.
    pub tree: PlanNode,
}

/// A user, by id and name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Person {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// One node of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanNode {
    /// The expression's name, e.g. `manager_expression`.
    pub expression: String,
    /// A human label: `manager of Ana Diaz`, `APP_ADMIN`.
    pub label: String,
    /// `asks`, `approved`, `denied`, `expired` (what the node does when started), or `combines`.
    pub result: String,
    /// For leaves: approvals needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<u32>,
    /// For leaves: who is asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub asks: Vec<Person>,
    /// Why: clause held, fallback used, people left out, automatic decisions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Options written on the node.
    #[serde(skip_serializing_if = "Options::is_empty")]
    pub options: Options,
    /// For a `referenced_expression`: the workflow it expands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expands: Option<String>,
    /// For a sequence's children: the step number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// Children, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<PlanNode>,
}

impl PlanView {
    /// Builds the view of a planned item.
    pub fn new(cat: &Catalog, item: &Item) -> PlanView {
        let person = |id: &str| Person { id: id.to_owned(), name: cat.directory.name_of(id).to_owned() };
        let tree = node_view(cat, item, 0, None);
        let mut approvers: Vec<Person> = Vec::new();
        collect_people(&tree, &mut approvers);
        let root = item.root();
        PlanView {
            requester: person(&item.spec.requester),
            beneficiary: person(&item.spec.beneficiary),
            resource: item.spec.resource.clone(),
            role: item.spec.role.clone(),
            workflow: item.workflow.clone(),
            workflow_reason: item.workflow_reason.clone(),
            outcome: item.status.as_str().to_owned(),
            outcome_reason: root.filter(|r| r.status.is_settled()).and_then(|r| r.reason.clone()),
            approvers,
            tree,
        }
    }

    /// The plan as indented text with tree lines.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let role = self.role.as_ref().map(|r| format!(" (role {r})")).unwrap_or_default();
        let for_whom = if self.beneficiary == self.requester {
            String::new()
        } else {
            format!(" for {} <{}>", self.beneficiary.name, self.beneficiary.id)
        };
        out.push_str(&format!(
            "{} <{}> asks for {}{role}{for_whom}\n",
            self.requester.name, self.requester.id, self.resource
        ));
        out.push_str(&format!(
            "workflow: {} ({})\n\n",
            self.workflow.as_deref().unwrap_or("written inline"),
            self.workflow_reason
        ));
        render(&self.tree, "", "", &mut out);
        out.push('\n');
        match self.outcome.as_str() {
            "requested" => {
                out.push_str(&format!(
                    "outcome: waits for approvers; {} would be asked at some step: {}\n",
                    self.approvers.len(),
                    self.approvers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            other => {
                out.push_str(&format!(
                    "outcome: {other} at once{}\n",
                    self.outcome_reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
                ));
            }
        }
        out
    }
}

fn collect_people(n: &PlanNode, out: &mut Vec<Person>) {
    for p in &n.asks {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    for c in &n.children {
        collect_people(c, out);
    }
}

fn node_view(cat: &Catalog, item: &Item, id: NodeId, step: Option<u32>) -> PlanNode {
    let n = item.node(id);
    let person = |pid: &str| Person { id: pid.to_owned(), name: cat.directory.name_of(pid).to_owned() };
    let mut view = PlanNode {
        expression: n.expr.name().to_owned(),
        label: n.label.clone(),
        result: match n.status {
            NodeStatus::Approved => "approved",
            NodeStatus::Denied => "denied",
            NodeStatus::Expired => "expired",
            NodeStatus::Pending | NodeStatus::Closed => "asks",
        }
        .to_owned(),
        required: None,
        asks: Vec::new(),
        notes: n.notes.clone(),
        options: n.expr.options.clone(),
        expands: None,
        step,
        children: Vec::new(),
    };
    match &n.body {
        Body::Leaf { required, slots, .. } => {
            view.required = Some(*required);
            view.asks = slots.iter().filter(|s| s.state != SlotState::Escalated).map(|s| person(&s.person)).collect();
        }
        Body::Pass { pass, child } => {
            if let PassKind::Reference { name } = pass {
                view.expands = Some(name.clone());
            }
            if n.status == NodeStatus::Pending {
                view.result = "combines".to_owned();
            }
            view.children = child.iter().map(|&c| node_view(cat, item, c, None)).collect();
        }
        Body::Sequential { children, .. } => {
            if n.status == NodeStatus::Pending {
                view.result = "combines".to_owned();
            }
            view.children =
                children.iter().enumerate().map(|(k, &c)| node_view(cat, item, c, Some(k as u32 + 1))).collect();
        }
        Body::Parallel { children, .. } => {
            if n.status == NodeStatus::Pending {
                view.result = "combines".to_owned();
            }
            view.children = children.iter().map(|&c| node_view(cat, item, c, None)).collect();
        }
        Body::Auto => {}
    }
    view
}

fn render(n: &PlanNode, first: &str, rest: &str, out: &mut String) {
    let step = n.step.map(|s| format!("step {s}: ")).unwrap_or_default();
    let mut line = format!("{first}{step}{} [{}]", n.label, n.expression);
    if let Some(name) = &n.expands {
        line = format!("{first}{step}{name} [built-in or named workflow, expands to:]");
    }
    match n.result.as_str() {
        "approved" => line.push_str("  => approved at once"),
        "denied" => line.push_str("  => denied at once"),
        "expired" => line.push_str("  => expired"),
        _ => {}
    }
    if let Some(r) = n.required
        && n.result == "asks"
    {
        line.push_str(&format!("  needs {r} of {}", n.asks.len()));
    }
    out.push_str(&line);
    out.push('\n');
    let opts = option_text(&n.options);
    if !opts.is_empty() {
        out.push_str(&format!("{rest}    options: {opts}\n"));
    }
    if !n.asks.is_empty() {
        out.push_str(&format!(
            "{rest}    asks: {}\n",
            n.asks.iter().map(|p| format!("{} <{}>", p.name, p.id)).collect::<Vec<_>>().join(", ")
        ));
    }
    for note in &n.notes {
        out.push_str(&format!("{rest}    note: {note}\n"));
    }
    let count = n.children.len();
    for (i, c) in n.children.iter().enumerate() {
        let last = i + 1 == count;
        let (f, r) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
        render(c, &format!("{rest}{f}"), &format!("{rest}{r}"), out);
    }
}

fn option_text(o: &Options) -> String {
    let mut parts = Vec::new();
    if let Some(t) = o.timeout {
        parts.push(format!("timeout {t}"));
    }
    if let Some(t) = o.on_timeout {
        parts.push(format!("on_timeout {}", serde_plain(&t)));
    }
    if let Some(t) = o.remind_every {
        parts.push(format!("remind_every {t}"));
    }
    if let Some(f) = &o.fallback {
        parts.push(match f {
            crate::policy::Fallback::None(_) => "fallback none".to_owned(),
            crate::policy::Fallback::Expr(e) => format!("fallback {}", e.name()),
        });
    }
    if let Some(n) = o.number_to_deny {
        parts.push(format!("number_to_deny {n}"));
    }
    if let Some(s) = o.self_approval {
        parts.push(format!("self_approval {}", serde_plain(&s)));
    }
    if o.distinct_approvers == Some(true) {
        parts.push("distinct_approvers".to_owned());
    }
    if o.allow_escalate == Some(false) {
        parts.push("no escalation".to_owned());
    }
    if let Some(d) = o.max_duration {
        parts.push(format!("max_duration {d}"));
    }
    parts.join(", ")
}

/// A unit enum's serde name (`escalate`, `skip`), for display.
fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
