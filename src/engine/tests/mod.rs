//! Engine tests: a small harness, the seed's examples, a table per semantic, and property tests.
//!
//! Everything here is synchronous and in memory: a catalog built from YAML strings, an item started at a
//! fixed instant, events applied one by one with explicit times.

mod leaver;
mod props;
mod seed;
mod semantics;

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::catalog::{Catalog, Settings};
use crate::diag::Diagnostics;
use crate::directory;
use crate::policy::Policies;
use crate::source::{self, Format};
use crate::time::{Duration, Timestamp};

/// The test company: a CEO, three VPs, managers, engineers, an 8-person security team, IT admins.
pub(crate) const DIRECTORY: &str = r#"
source: okta
users:
  - { id: ceo@company.com, name: Cleo CEO, grade: 12, work_status: FULL_TIME }
  - { id: vp1@company.com, name: Val One, manager: ceo@company.com, grade: 10, work_status: FULL_TIME }
  - { id: vp2@company.com, name: Val Two, manager: ceo@company.com, grade: 10, work_status: FULL_TIME }
  - { id: vp3@company.com, name: Val Three, manager: ceo@company.com, grade: 10, work_status: FULL_TIME }
  - { id: vp-sales@company.com, name: Sal Sales, manager: ceo@company.com, grade: 10 }
  - { id: cto@company.com, name: Cat Tech, manager: ceo@company.com, grade: 11 }
  - { id: vp-it@company.com, name: Ivy IT, manager: ceo@company.com, grade: 10 }
  - { id: manager@company.com, name: Mo Manager, manager: vp1@company.com, grade: 8, department: Engineering,
      permissions: [Usermanager] }
  - { id: john@company.com, name: John Doe, manager: manager@company.com, department: Engineering, grade: 5,
      work_status: FULL_TIME, custom_attributes: { seniority_level: Senior } }
  - { id: jane@company.com, name: Jane Roe, manager: manager@company.com, department: Sales, grade: 4,
      work_status: CONTRACTOR, custom_attributes: { seniority_level: Junior } }
  - { id: dir@company.com, name: Dee Director, manager: vp1@company.com, department: Engineering, grade: 9,
      work_status: FULL_TIME, custom_attributes: { seniority_level: Director } }
  - { id: approver@company.com, name: Ap Prover, manager: vp2@company.com }
  - { id: user1@company.com, name: User One, manager: vp2@company.com }
  - { id: user2@company.com, name: User Two, manager: vp2@company.com }
  - { id: appadmin@company.com, name: Ada Admin, manager: vp-it@company.com, permissions: [Helpdesk] }
  - { id: appadmin2@company.com, name: Abe Admin, manager: vp-it@company.com }
  - { id: sec1@company.com, name: Sec One, manager: vp-it@company.com, permissions: [Security] }
  - { id: sec2@company.com, name: Sec Two, manager: vp-it@company.com, permissions: [Security] }
  - { id: sec3@company.com, name: Sec Three, manager: vp-it@company.com }
  - { id: sec4@company.com, name: Sec Four, manager: vp-it@company.com }
  - { id: sec5@company.com, name: Sec Five, manager: vp-it@company.com }
  - { id: sec6@company.com, name: Sec Six, manager: vp-it@company.com }
  - { id: sec7@company.com, name: Sec Seven, manager: vp-it@company.com }
  - { id: sec8@company.com, name: Sec Eight, manager: vp-it@company.com }
  - { id: itadmin1@company.com, name: It Admin1, manager: vp-it@company.com }
  - { id: itadmin2@company.com, name: It Admin2, manager: vp-it@company.com }
  - { id: away@company.com, name: Al Away, manager: vp3@company.com, out_of_office_until: 2099-01-01T00:00:00Z }
  - { id: gone@company.com, name: Gil Gone, manager: vp3@company.com, active: false }
  - { id: orphan@company.com, name: Orla Orphan }
  - { id: under-away@company.com, name: Uma Under, manager: away@company.com }
groups:
  - id: it-security
    external_id: 00gq0p1j6jGsb0ZCO2p8
    name: IT Security
    members: [sec1@company.com, sec2@company.com, sec3@company.com, sec4@company.com,
              sec5@company.com, sec6@company.com, sec7@company.com, sec8@company.com]
    owners: [sec1@company.com]
  - id: it-admins
    external_id: 00gIT8AdminGroup
    name: IT Admins
    members: [itadmin1@company.com, itadmin2@company.com]
  - id: open-list
    name: Open List
    members: [john@company.com]
    owners: [dir@company.com]
    managers: [vp1@company.com]
    join_policy: open
    visibility: public
  - id: closed-list
    name: Closed List
    parent: open-list
    members: []
    owners: [dir@company.com]
    managers: [vp1@company.com]
    join_policy: closed
    visibility: private
resources:
  - id: app
    kind: app
    name: The App
    admins: [appadmin@company.com, appadmin2@company.com]
    workflow: TEST
    roles: [basic_user, admin, zoom_basic, zoom_pro, other]
  - id: open-list
    kind: group
    name: Open List
    workflow: TEST
  - id: closed-list
    kind: group
    name: Closed List
    workflow: TEST
"#;

/// The fixed instant every test starts at.
pub(crate) fn t0() -> Timestamp {
    "2026-11-23T09:00:00Z".parse().expect("valid instant")
}

/// `t0` plus a duration written like `48h`.
pub(crate) fn at(d: &str) -> Timestamp {
    Duration::parse(d).expect("valid duration").after(t0())
}

fn doc(name: &str, text: &str, format: Format) -> source::Document {
    source::parse_str(Arc::from(Path::new(name)), text, format).unwrap_or_else(|d| panic!("{d}"))
}

/// A catalog over [`DIRECTORY`] whose workflow `TEST` is `test_workflow` (JSON or YAML), with the other
/// named workflows of `more` (a YAML `workflows:` map body, may be empty).
pub(crate) fn catalog(test_workflow: &str, more: &str) -> Catalog {
    try_catalog(test_workflow, more).unwrap_or_else(|d| panic!("{d}"))
}

pub(crate) fn try_catalog(test_workflow: &str, more: &str) -> Result<Catalog, Diagnostics> {
    try_catalog_over(DIRECTORY, test_workflow, more)
}

/// As [`catalog`], over another directory text (the test company changed).
pub(crate) fn catalog_over(directory_text: &str, test_workflow: &str) -> Catalog {
    try_catalog_over(directory_text, test_workflow, "").unwrap_or_else(|d| panic!("{d}"))
}

fn try_catalog_over(directory_text: &str, test_workflow: &str, more: &str) -> Result<Catalog, Diagnostics> {
    let dir = directory::load_documents(&[doc("directory.yaml", directory_text, Format::Yaml)])?;
    let mut policies = Policies::builtin();
    let mut diags = Diagnostics::new();
    // The workflow under test, exactly as written (the seed's examples are JSON).
    let wrapped = format!("{{\"workflows\": {{\"TEST\": {test_workflow}}}}}");
    let format = if test_workflow.trim_start().starts_with('{') { Format::Json } else { Format::Yaml };
    let text = if format == Format::Json {
        wrapped
    } else {
        let indented: String = test_workflow.lines().map(|l| format!("    {l}\n")).collect();
        format!("workflows:\n  TEST:\n{indented}")
    };
    policies.add_document(&doc("test-workflow", &text, format), false, &mut diags);
    if !more.trim().is_empty() {
        policies.add_document(&doc("more.yaml", &format!("workflows:\n{more}"), Format::Yaml), false, &mut diags);
    }
    diags.into_result(())?;
    Catalog::new(dir, policies, Settings::default())
}

/// One item's life, driven step by step.
pub(crate) struct Run {
    pub(crate) cat: Catalog,
    pub(crate) item: Item,
    /// Every effect so far, in order.
    pub(crate) log: Vec<Effect>,
    /// Every event accepted so far (for replay).
    pub(crate) events: Vec<Event>,
    /// Effects of the last step.
    pub(crate) last: Vec<Effect>,
}

impl Run {
    /// Starts an item of `app` (or another resource) for `beneficiary`, asked by `requester`.
    pub(crate) fn start(cat: Catalog, requester: &str, beneficiary: &str, resource: &str, role: Option<&str>) -> Run {
        Run::start_spec(
            cat,
            ItemSpec {
                request: "r1".to_owned(),
                item: "r1/1".to_owned(),
                requester: requester.to_owned(),
                beneficiary: beneficiary.to_owned(),
                co_beneficiaries: vec![],
                resource: resource.to_owned(),
                role: role.map(str::to_owned),
                justification: Some("needed for work".to_owned()),
                duration: None,
            },
        )
    }

    pub(crate) fn start_spec(cat: Catalog, spec: ItemSpec) -> Run {
        let started = start(&cat, spec, t0()).unwrap_or_else(|e| panic!("{e}"));
        Run { cat, item: started.item, log: started.effects.clone(), events: vec![], last: started.effects }
    }

    /// Applies an event; on success records it.
    pub(crate) fn try_apply(&mut self, event: Event) -> Result<Vec<Effect>, Refusal> {
        let (item, effects) = apply(&self.cat, &self.item, &event)?;
        self.item = item;
        self.events.push(event);
        self.log.extend(effects.iter().cloned());
        self.last = effects.clone();
        Ok(effects)
    }

    /// `who` answers their pending prompt at `when`.
    pub(crate) fn try_decide_at(
        &mut self,
        who: &str,
        decision: Decision,
        when: Timestamp,
    ) -> Result<Vec<Effect>, Refusal> {
        let prompt = self
            .item
            .pending_prompt_of(who)
            .or_else(|| self.item.latest_prompt_of(who))
            .unwrap_or_else(|| panic!("{who} was never asked; asked: {:?}", self.pending()))
            .id;
        self.try_apply(Event::Decide { prompt, by: who.to_owned(), decision, channel: "api".to_owned(), at: when })
    }

    pub(crate) fn approve(&mut self, who: &str) -> Vec<Effect> {
        self.try_decide_at(who, Decision::Approve { duration: None, comment: None }, at("1h"))
            .unwrap_or_else(|r| panic!("{who} could not approve: {r}"))
    }

    pub(crate) fn deny(&mut self, who: &str) -> Vec<Effect> {
        self.try_decide_at(who, Decision::Deny { comment: Some("not needed".to_owned()) }, at("1h"))
            .unwrap_or_else(|r| panic!("{who} could not deny: {r}"))
    }

    /// Fires every active timer due at or before `until`, earliest first, each at its due time.
    pub(crate) fn fire_until(&mut self, until: Timestamp) {
        loop {
            let next = self.item.active_timers().filter(|t| t.due <= until).min_by_key(|t| (t.due, t.id)).cloned();
            let Some(t) = next else { break };
            self.try_apply(Event::TimerFired { timer: t.id, at: t.due }).expect("timers are never refused");
        }
    }

    /// Who has a pending prompt, sorted.
    pub(crate) fn pending(&self) -> Vec<String> {
        let mut v: Vec<String> = self.item.pending_prompts().map(|p| p.approver.clone()).collect();
        v.sort();
        v
    }

    pub(crate) fn status(&self) -> ItemStatus {
        self.item.status
    }

    /// Approvers who received a prompt in the last step, sorted.
    pub(crate) fn newly_asked(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .last
            .iter()
            .filter_map(|e| match e {
                Effect::SendPrompt { to, .. } => Some(to.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    /// Approvers whose prompt was dismissed in the last step, sorted.
    pub(crate) fn dismissed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .last
            .iter()
            .filter_map(|e| match e {
                Effect::DismissPrompt { to, .. } => Some(to.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    /// Notices sent to `who` over the whole run.
    pub(crate) fn notices_to(&self, who: &str) -> Vec<&Notice> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::Notify { to, notice } if to == who => Some(notice),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn reason(&self) -> String {
        self.item.outcome.as_ref().map(|o| o.reason.clone()).unwrap_or_default()
    }
}

/// Sorted owned strings, for comparing approver lists.
pub(crate) fn people(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}
