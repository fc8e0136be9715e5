//! The catalog: the directory and the policies, checked against each other, plus the settings that pick a
//! workflow when a resource names none. It is everything the engine reads besides an item's own state.
//!
//! Loading it is where cross references are checked: a workflow naming an unknown user, group or workflow,
//! and reference cycles, are load errors at the `file:line:col` of the reference.

pub mod source;

#[cfg(test)]
mod review_modes;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics, Location, Origin, did_you_mean};
use crate::directory::{Directory, Resource, ReviewMode, WorkflowRef};
use crate::policy::Policies;
use crate::policy::expr::{Expr, ExprKind, Fallback};
use crate::source::{Format, Loaded};
use crate::time::Duration;

pub use source::{CatalogSource, Snapshot, SnapshotError};

/// The risk mapping used when `[policies.risk]` does not say otherwise (the approval-rounds seed's
/// priorities: none, trivial, low, high; 4 is treated as high).
pub const DEFAULT_RISK_WORKFLOWS: [&str; 5] =
    ["AUTO_APPROVE", "MANAGER", "APP_ADMIN", "APP_ADMIN_THEN_SECURITY", "APP_ADMIN_THEN_SECURITY"];

/// The workflow used when nothing else applies and `[policies] default` is not set.
pub const DEFAULT_WORKFLOW: &str = "MANAGER";

/// Settings from `[policies]` that choose workflows and fill in defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workflow used when nothing else applies.
    pub default_workflow: String,
    /// Resource risk 0..4 -> workflow name.
    pub risk: [String; 5],
    /// Timeout for nodes that ask people and set none (no ancestor sets one either); `None` never.
    pub default_timeout: Option<Duration>,
    /// Where these settings came from, for error messages (e.g. `signoff.toml`).
    pub origin: String,
    /// Where `default_workflow` was set, when known: a name it gives is checked there.
    pub default_origin: Option<Origin>,
    /// Where each risk level's workflow was set, when known.
    pub risk_origins: [Option<Origin>; 5],
    /// `[directory] scim`: references to people and groups not provisioned yet are warnings, not errors.
    pub provisioning: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_workflow: DEFAULT_WORKFLOW.to_owned(),
            risk: DEFAULT_RISK_WORKFLOWS.map(str::to_owned),
            default_timeout: None,
            origin: "[policies]".to_owned(),
            default_origin: None,
            risk_origins: Default::default(),
            provisioning: false,
        }
    }
}

/// The directory and policies, checked against each other.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Users, groups and resources.
    pub directory: Directory,
    /// Named workflows.
    pub policies: Policies,
    /// Defaults and the risk mapping.
    pub settings: Settings,
    /// What it was built from, content-addressed (`None` for a catalog put together in code): audit rows name
    /// its id so that `signoff audit verify` replays items on the catalog they ran under.
    pub snapshot: Option<Arc<Snapshot>>,
}

/// Why a workflow applies to a request: the first rule of the resolution order that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceReason {
    /// The requested role names its own workflow.
    Role {
        /// The role.
        role: String,
    },
    /// An ancestor in `review_mode: central` imposes its workflow on everything below it.
    Central {
        /// The ancestor's id.
        ancestor: String,
    },
    /// The resource names its own workflow.
    Resource,
    /// Inherited from the nearest ancestor that names one.
    Inherited {
        /// The ancestor's id.
        ancestor: String,
    },
    /// The resource's risk (own or inherited), through `[policies.risk]`.
    Risk {
        /// The risk level.
        risk: u8,
    },
    /// Nothing else applied.
    Default,
}

impl fmt::Display for ChoiceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChoiceReason::Role { role } => write!(f, "the role `{role}` names it"),
            ChoiceReason::Central { ancestor } => {
                write!(f, "`{ancestor}` reviews centrally and imposes its workflow")
            }
            ChoiceReason::Resource => f.write_str("the resource names it"),
            ChoiceReason::Inherited { ancestor } => write!(f, "inherited from `{ancestor}`"),
            ChoiceReason::Risk { risk } => write!(f, "risk {risk} maps to it"),
            ChoiceReason::Default => f.write_str("the default workflow"),
        }
    }
}

/// The workflow chosen for one (resource, role), with every reference expanded.
#[derive(Debug, Clone)]
pub struct WorkflowChoice {
    /// The workflow's name, or `None` for an expression written inline on a resource or role.
    pub name: Option<String>,
    /// Why it was chosen.
    pub reason: ChoiceReason,
    /// The expression, references filled in.
    pub expr: Expr,
}

/// Refusals of a (resource, role) pair that do not come from files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No such resource.
    #[error("unknown resource `{0}`{1}")]
    UnknownResource(String, String),
    /// The resource has roles and this is not one of them.
    #[error("resource `{resource}` has no role `{role}`; it has {known}")]
    UnknownRole {
        /// The resource.
        resource: String,
        /// The role asked for.
        role: String,
        /// The roles it has, listed.
        known: String,
    },
    /// No such user.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
}

impl Catalog {
    /// Loads the directory and policies the config names, and checks them together. The catalog keeps a
    /// [`Snapshot`] of the files' text, the built-in workflows and the settings it was built from.
    pub fn load(config: &Config) -> Result<Catalog, Diagnostics> {
        let directory = named_path_exists(&config.directory.path, "[directory] path")
            .and_then(|()| crate::source::load_path_with_text(&config.directory.path));
        let policies = match config.policies.path.as_deref() {
            Some(path) => {
                named_path_exists(path, "[policies] path").and_then(|()| crate::source::load_path_with_text(path))
            }
            None => Ok(Loaded::default()),
        };
        let settings = Settings {
            default_workflow: config.policies.default.clone(),
            risk: config.policies.risk.clone(),
            default_timeout: config.policies.default_timeout,
            origin: match &config.file {
                Some(f) => format!("{} [policies]", f.display()),
                None => "[policies]".to_owned(),
            },
            default_origin: config.policies.default_origin.clone(),
            risk_origins: config.policies.risk_origins.clone(),
            provisioning: config.directory.scim,
        };
        Catalog::build(directory, policies, crate::policy::builtin_text(), settings)
    }

    /// Rebuilds the catalog a [`CatalogSource`] describes (a stored snapshot), exactly as [`Catalog::load`]
    /// built it from the files: the same parsing, the snapshot's own built-in workflows and settings.
    pub fn from_source(source: &CatalogSource) -> Result<Catalog, Diagnostics> {
        if source.version != source::SOURCE_VERSION {
            return Err(Diagnostic::named(
                "catalog snapshot",
                format!("format version {} (this build reads {})", source.version, source::SOURCE_VERSION),
            )
            .into());
        }
        let parse = |files: &[source::SourceFile]| {
            let mut loaded = Loaded::default();
            let mut diags = Diagnostics::new();
            for f in files {
                let path: Arc<Path> = Arc::from(Path::new(&f.name));
                let parsed = match Format::from_path(&path) {
                    Some(format) => crate::source::parse_str(path, &f.text, format),
                    None => {
                        Err(Diagnostic::file(&f.name, "unsupported file type: expected a .yaml, .yml or .json file"))
                    }
                };
                match parsed {
                    Ok(doc) => {
                        loaded.docs.push(doc);
                        loaded.texts.push((f.name.clone(), f.text.clone()));
                    }
                    Err(d) => diags.push(d),
                }
            }
            diags.into_result(loaded)
        };
        let default_timeout = match &source.settings.default_timeout {
            None => None,
            Some(t) => Some(Duration::parse(t).map_err(|e| {
                Diagnostics::from(Diagnostic::named("catalog snapshot [policies] default_timeout", e.to_string()))
            })?),
        };
        let settings = Settings {
            default_workflow: source.settings.default.clone(),
            risk: source.settings.risk.clone(),
            default_timeout,
            origin: "catalog snapshot [policies]".to_owned(),
            default_origin: None,
            risk_origins: Default::default(),
            provisioning: source.settings.provisioning,
        };
        Catalog::build(parse(&source.directory), parse(&source.policies), &source.builtin, settings)
    }

    /// The catalog of `base` (files, built-ins and settings, as a snapshot holds them) with `people`, the
    /// provisioned people rendered as a directory document (DESIGN 7.5), loaded after the files and taking
    /// precedence over their entries with the same id. `None` builds `base` alone.
    pub fn with_people(base: &CatalogSource, people: Option<String>) -> Result<Catalog, Diagnostics> {
        let mut source = base.clone();
        source.directory.retain(|f| f.name != crate::directory::PROVISIONED);
        if let Some(text) = people {
            source.directory.push(source::SourceFile { name: crate::directory::PROVISIONED.to_owned(), text });
        }
        Catalog::from_source(&source)
    }

    /// The id of the snapshot this catalog was built from, if it has one.
    pub fn snapshot_id(&self) -> Option<&str> {
        self.snapshot.as_deref().map(Snapshot::id)
    }

    /// Validates parsed directory and policy documents, with `builtin` as the built-in workflows' text, and
    /// records the snapshot of what it was built from. Every problem of both is reported.
    fn build(
        directory: Result<Loaded, Diagnostics>,
        policies: Result<Loaded, Diagnostics>,
        builtin: &str,
        settings: Settings,
    ) -> Result<Catalog, Diagnostics> {
        let mut texts = (Vec::new(), Vec::new());
        let directory = directory.and_then(|loaded| {
            let result = crate::directory::load_documents_with(&loaded.docs, settings.provisioning);
            texts.0 = loaded.texts;
            // A 10,000-user file is millions of small allocations; freeing them takes tens of milliseconds that
            // start-up need not wait for.
            let docs = loaded.docs;
            std::thread::spawn(move || drop(docs));
            result
        });
        let policies = crate::policy::Policies::with_builtin(builtin).and_then(|mut p| {
            let loaded = policies?;
            let mut diags = Diagnostics::new();
            for doc in &loaded.docs {
                p.add_document(doc, false, &mut diags);
            }
            texts.1 = loaded.texts;
            diags.into_result(p)
        });
        let (directory, policies) = match (directory, policies) {
            (Ok(d), Ok(p)) => (d, p),
            (d, p) => {
                let mut all = Diagnostics::new();
                if let Err(e) = d {
                    all.0.extend(e.0);
                }
                if let Err(e) = p {
                    all.0.extend(e.0);
                }
                return all.into_result(Catalog::empty());
            }
        };
        let source = CatalogSource::new(texts.0, texts.1, builtin, &settings);
        let mut catalog = Catalog::new(directory, policies, settings)?;
        catalog.snapshot = Some(Arc::new(Snapshot::of(&source)));
        Ok(catalog)
    }

    /// A catalog with no users or resources and only the built-in workflows.
    pub fn empty() -> Catalog {
        Catalog {
            directory: Directory::default(),
            policies: Policies::builtin(),
            settings: Settings::default(),
            snapshot: None,
        }
    }

    /// Checks the directory and policies against each other and resolves user references in policies to
    /// user ids. Reports every problem.
    pub fn new(mut directory: Directory, mut policies: Policies, settings: Settings) -> Result<Catalog, Diagnostics> {
        let mut diags = Diagnostics::new();
        // With `[directory] scim`, a workflow may name someone not provisioned yet: a warning (see `Pending`).
        let mut pending = Pending { lenient: settings.provisioning, warnings: Vec::new() };
        let names: HashSet<String> = policies.names().map(str::to_owned).collect();
        for w in policies.iter_mut() {
            check_expr(&directory, &names, &mut w.expr, &mut diags, &mut pending);
        }
        let mut inline: Vec<(String, Expr)> = Vec::new();
        for r in directory.resources_mut() {
            for wf in std::iter::once(r.workflow.as_mut()).chain(r.roles.iter_mut().map(|role| role.workflow.as_mut()))
            {
                match wf {
                    Some(WorkflowRef::Named(n)) if !names.contains(&n.value) => diags.push(Diagnostic::at(
                        n.loc.clone(),
                        format!(
                            "unknown workflow `{}`{}",
                            n.value,
                            did_you_mean(&n.value, names.iter().map(String::as_str))
                        ),
                    )),
                    Some(WorkflowRef::Inline(e)) => inline.push((r.id.clone(), (**e).clone())),
                    _ => {}
                }
            }
        }
        // Inline expressions need the directory to check users; check copies, then write them back.
        let mut checked: HashMap<String, Vec<Expr>> = HashMap::new();
        for (rid, mut e) in inline {
            check_expr(&directory, &names, &mut e, &mut diags, &mut pending);
            checked.entry(rid).or_default().push(e);
        }
        for r in directory.resources_mut() {
            let Some(list) = checked.get_mut(&r.id) else { continue };
            list.reverse();
            for wf in std::iter::once(r.workflow.as_mut()).chain(r.roles.iter_mut().map(|role| role.workflow.as_mut()))
            {
                if let Some(WorkflowRef::Inline(e)) = wf
                    && let Some(fixed) = list.pop()
                {
                    **e = fixed;
                }
            }
        }
        check_reference_cycles(&policies, &mut diags);
        // Reported where the name was set (the config file's line, or the environment variable) when known.
        let named = |what: &str, name: &str, set_at: &Option<Origin>, diags: &mut Diagnostics| {
            if !names.contains(name) {
                diags.push(Diagnostic {
                    origin: set_at.clone().unwrap_or_else(|| Origin::Named(format!("{} {what}", settings.origin))),
                    message: format!(
                        "unknown workflow `{name}`{}",
                        did_you_mean(name, names.iter().map(String::as_str))
                    ),
                });
            }
        };
        named("default", &settings.default_workflow, &settings.default_origin, &mut diags);
        for (i, (w, set_at)) in settings.risk.iter().zip(&settings.risk_origins).enumerate() {
            named(&format!("risk {i}"), w, set_at, &mut diags);
        }
        directory.add_warnings(pending.warnings);
        diags.into_result(Catalog { directory, policies, settings, snapshot: None })
    }

    /// Which workflow applies to `role` of `resource`, following the resolution order: the role's, an
    /// ancestor's in central review mode, the resource's own, the nearest ancestor's, the risk mapping,
    /// the default.
    pub fn workflow_for(&self, resource_id: &str, role: Option<&str>) -> Result<WorkflowChoice, LookupError> {
        let resource = self.resource(resource_id)?;
        if let Some(role) = role {
            match resource.role(role) {
                Some(r) => {
                    if let Some(wf) = &r.workflow {
                        return Ok(self.choice(wf, ChoiceReason::Role { role: role.to_owned() }));
                    }
                }
                None if !resource.roles.is_empty() => {
                    return Err(LookupError::UnknownRole {
                        resource: resource.id.clone(),
                        role: role.to_owned(),
                        known: resource.roles.iter().map(|r| format!("`{}`", r.name)).collect::<Vec<_>>().join(", "),
                    });
                }
                None => {}
            }
        }
        // The topmost central ancestor with a workflow governs everything below it.
        let ancestors: Vec<&Resource> = self.directory.ancestors(resource).collect();
        if let Some((a, wf)) = ancestors
            .iter()
            .rev()
            .filter(|a| a.review_mode == ReviewMode::Central)
            .find_map(|a| a.workflow.as_ref().map(|wf| (a, wf)))
        {
            return Ok(self.choice(wf, ChoiceReason::Central { ancestor: a.id.clone() }));
        }
        if let Some(wf) = &resource.workflow {
            return Ok(self.choice(wf, ChoiceReason::Resource));
        }
        if let Some((a, wf)) = ancestors.iter().find_map(|a| a.workflow.as_ref().map(|wf| (a, wf))) {
            return Ok(self.choice(wf, ChoiceReason::Inherited { ancestor: a.id.clone() }));
        }
        if let Some(risk) = std::iter::once(resource).chain(ancestors.iter().copied()).find_map(|r| r.risk) {
            let name = &self.settings.risk[usize::from(risk.min(4))];
            return Ok(self.named_choice(name, ChoiceReason::Risk { risk }));
        }
        Ok(self.named_choice(&self.settings.default_workflow, ChoiceReason::Default))
    }

    /// The resource with this id, or an error that suggests the closest id.
    pub fn resource(&self, id: &str) -> Result<&Resource, LookupError> {
        self.directory.resource(id).ok_or_else(|| {
            LookupError::UnknownResource(
                id.to_owned(),
                did_you_mean(id, self.directory.resources().iter().map(|r| r.id.as_str())),
            )
        })
    }

    fn choice(&self, wf: &WorkflowRef, reason: ChoiceReason) -> WorkflowChoice {
        match wf {
            WorkflowRef::Named(n) => self.named_choice(&n.value, reason),
            WorkflowRef::Inline(e) => WorkflowChoice { name: None, reason, expr: self.expand(e) },
        }
    }

    fn named_choice(&self, name: &str, reason: ChoiceReason) -> WorkflowChoice {
        let expr = match self.policies.get(name) {
            Some(w) => self.expand(&w.expr),
            // Names were checked at load; keep going safely if a caller built a catalog by hand.
            None => Expr::new(ExprKind::AutoDeny { reason: Some(format!("workflow `{name}` does not exist")) }),
        };
        WorkflowChoice { name: Some(name.to_owned()), reason, expr }
    }

    /// A copy of `expr` with every `referenced_expression` body filled in. Cycles were rejected at load, so
    /// this ends; a hand-built catalog with a cycle is cut at a fixed depth.
    pub fn expand(&self, expr: &Expr) -> Expr {
        self.expand_depth(expr, 0)
    }

    fn expand_depth(&self, expr: &Expr, depth: usize) -> Expr {
        let mut e = expr.clone();
        self.fill(&mut e, depth);
        e
    }

    fn fill(&self, e: &mut Expr, depth: usize) {
        const MAX_REFERENCE_DEPTH: usize = 64;
        match &mut e.kind {
            ExprKind::Reference { name, body } => {
                *body = match self.policies.get(name) {
                    Some(w) if depth < MAX_REFERENCE_DEPTH => Some(Box::new(self.expand_depth(&w.expr, depth + 1))),
                    _ => Some(Box::new(Expr::new(ExprKind::AutoDeny {
                        reason: Some(format!("workflow `{name}` cannot be expanded")),
                    }))),
                };
            }
            ExprKind::Sequential { expressions } | ExprKind::Parallel { expressions, .. } => {
                for c in expressions {
                    self.fill(c, depth);
                }
            }
            ExprKind::Condition { clauses, default } => {
                for c in clauses {
                    self.fill(&mut c.expression, depth);
                }
                if let Some(d) = default {
                    self.fill(d, depth);
                }
            }
            _ => {}
        }
        if let Some(Fallback::Expr(f)) = &mut e.options.fallback {
            self.fill(f, depth);
        }
    }
}

/// A path the config names must exist; saying which setting names it tells the reader what to fix (the
/// default `directory` is otherwise a puzzling name to find in an error).
fn named_path_exists(path: &std::path::Path, setting: &str) -> Result<(), Diagnostics> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Diagnostic::file(
            path,
            format!("not found: `{setting}` should name a YAML or JSON file or a folder of them"),
        )
        .into()),
        _ => Ok(()),
    }
}

/// References to people and groups that may be provisioned later (`[directory] scim`): warnings, not errors.
/// Until provisioned, such a person is not in the directory, so a step naming them finds them unavailable and
/// its fallback runs (DESIGN 7.5).
struct Pending {
    lenient: bool,
    warnings: Vec<Diagnostic>,
}

/// Checks one expression against the directory and the workflow names; resolves user emails to ids.
fn check_expr(dir: &Directory, names: &HashSet<String>, e: &mut Expr, diags: &mut Diagnostics, pending: &mut Pending) {
    let loc = e.loc.clone();
    let diagnostic = |msg: String| match &loc {
        Some(l) => Diagnostic::at(l.clone(), msg),
        None => Diagnostic::named("a built-in workflow", msg),
    };
    let at = |msg: String, diags: &mut Diagnostics| diags.push(diagnostic(msg));
    // Unknown people and groups: errors, or with provisioning warnings.
    let missing = |msg: String, diags: &mut Diagnostics, pending: &mut Pending| {
        if pending.lenient {
            pending.warnings.push(diagnostic(format!("{msg} (not provisioned yet: asked once it is)")));
        } else {
            diags.push(diagnostic(msg));
        }
    };
    let resolve = |user: &mut String, diags: &mut Diagnostics, pending: &mut Pending| match dir.user(user) {
        Some(u) => *user = u.id.clone(),
        None => missing(
            format!("unknown user `{user}`{}", did_you_mean(user, dir.users().iter().map(|u| u.id.as_str()))),
            diags,
            pending,
        ),
    };
    match &mut e.kind {
        ExprKind::UserConstant { user } => resolve(user, diags, pending),
        ExprKind::UserList { users, .. } => {
            for u in users {
                resolve(u, diags, pending);
            }
        }
        ExprKind::Reference { name, .. } if !names.contains(name.as_str()) => {
            at(format!("unknown workflow `{name}`{}", did_you_mean(name, names.iter().map(String::as_str))), diags);
        }
        ExprKind::ParallelGroup { group, .. } => match dir.group(&group.external_id) {
            None => missing(
                format!(
                    "unknown group `{}`{}",
                    group.external_id,
                    did_you_mean(&group.external_id, dir.groups().iter().map(|g| g.id.as_str()))
                ),
                diags,
                pending,
            ),
            Some(g) => {
                if let (Some(want), Some(have)) = (&group.integration_id, &g.source)
                    && want != have
                {
                    at(
                        format!("group `{}` comes from the directory source `{have}`, not `{want}`", group.external_id),
                        diags,
                    );
                }
            }
        },
        ExprKind::Sequential { expressions } | ExprKind::Parallel { expressions, .. } => {
            for c in expressions {
                check_expr(dir, names, c, diags, pending);
            }
        }
        ExprKind::Condition { clauses, default } => {
            for c in clauses {
                check_expr(dir, names, &mut c.expression, diags, pending);
            }
            if let Some(d) = default {
                check_expr(dir, names, d, diags, pending);
            }
        }
        _ => {}
    }
    if let Some(Fallback::Expr(f)) = &mut e.options.fallback {
        check_expr(dir, names, f, diags, pending);
    }
}

/// Rejects workflows that reference themselves, directly or through others.
fn check_reference_cycles(policies: &Policies, diags: &mut Diagnostics) {
    // name -> [(referenced name, where the reference is written)]
    let mut edges: HashMap<&str, Vec<(String, Option<Location>)>> = HashMap::new();
    for w in policies.iter() {
        let mut refs = Vec::new();
        collect_refs(&w.expr, &mut refs);
        edges.insert(&w.name, refs);
    }
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut reported: HashSet<Vec<String>> = HashSet::new();
    for w in policies.iter() {
        let mut path: Vec<&str> = Vec::new();
        visit(&w.name, &edges, &mut state, &mut path, &mut reported, diags);
    }

    fn visit<'a>(
        name: &'a str,
        edges: &'a HashMap<&'a str, Vec<(String, Option<Location>)>>,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        reported: &mut HashSet<Vec<String>>,
        diags: &mut Diagnostics,
    ) {
        match state.get(name) {
            Some(2) => return,
            Some(1) => return,
            _ => {}
        }
        state.insert(name, 1);
        path.push(name);
        for (next, loc) in edges.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            let next = next.as_str();
            if state.get(next) == Some(&1) {
                let from = path.iter().position(|p| *p == next).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| (*s).to_owned()).collect();
                let mut key = cycle.clone();
                key.sort();
                cycle.push(next.to_owned());
                if reported.insert(key) {
                    let msg = format!("reference cycle: {}", cycle.join(" -> "));
                    match loc {
                        Some(l) => diags.push(Diagnostic::at(l.clone(), msg)),
                        None => diags.push(Diagnostic::named("a built-in workflow", msg)),
                    }
                }
            } else if let Some((key, _)) = edges.get_key_value(next) {
                visit(key, edges, state, path, reported, diags);
            }
        }
        path.pop();
        state.insert(name, 2);
    }
}

fn collect_refs(e: &Expr, out: &mut Vec<(String, Option<Location>)>) {
    if let ExprKind::Reference { name, .. } = &e.kind {
        out.push((name.clone(), e.loc.clone()));
    }
    for c in e.children() {
        collect_refs(c, out);
    }
}
