//! The policy language: named workflows built from expressions, the `rule_v2` conditions inside them, and
//! the built-in workflows.
//!
//! - [`expr`]: the expression tree and node options.
//! - [`parse`]: reading expressions from YAML/JSON with `file:line:col` errors.
//! - [`rule`]: the `rule_v2` condition language.
//!
//! Parsing checks what one file can check on its own; references to users, groups and other workflows are
//! checked against the directory by [`crate::catalog`].

pub mod expr;
pub mod parse;
pub mod rule;

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::source::{self, Document, Value};

pub use expr::{Expr, ExprKind, Fallback, OnTimeout, Options, SelfApproval};
pub use parse::parse_expr;

/// The built-in workflows' source, embedded so that they always exist and `simulate` can show them.
const BUILTIN_YAML: &str = include_str!("builtin.yaml");

/// The text of this build's built-in workflows (kept in catalog snapshots).
pub fn builtin_text() -> &'static str {
    BUILTIN_YAML
}

/// The file name shown in positions inside the built-in workflows.
pub const BUILTIN_FILE: &str = "<built-in>/workflows.yaml";

/// A named workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Its name, as referenced by resources, roles, `referenced_expression` and `[policies]` config.
    pub name: String,
    /// What it asks.
    pub expr: Expr,
    /// Whether it is one of signoff's built-ins (not overridden by a policy file).
    pub builtin: bool,
    /// Where its name was written.
    pub loc: Location,
}

/// Every named workflow: the built-ins, then those of the policy files (which may override a built-in).
#[derive(Debug, Clone, Default)]
pub struct Policies {
    workflows: IndexMap<String, Workflow>,
}

impl Policies {
    /// The built-in workflows alone.
    pub fn builtin() -> Policies {
        // The built-in file is part of the binary and tested; a failure here is a bug in signoff.
        Policies::with_builtin(BUILTIN_YAML).unwrap_or_else(|diags| panic!("built-in workflows do not parse:\n{diags}"))
    }

    /// The built-in workflows as `text` defines them: this build's ([`builtin_text`]), or those of the build
    /// that stored a catalog snapshot, which a later build replays with (its built-ins may differ).
    pub fn with_builtin(text: &str) -> Result<Policies, Diagnostics> {
        let file: Arc<Path> = Arc::from(Path::new(BUILTIN_FILE));
        let mut p = Policies::default();
        let mut diags = Diagnostics::new();
        match source::parse_str(file, text, source::Format::Yaml) {
            Ok(doc) => p.add_document(&doc, true, &mut diags),
            Err(d) => diags.push(d),
        }
        diags.into_result(p)
    }

    /// The built-ins plus every workflow in the file or folder at `path`.
    pub fn load(path: Option<&Path>) -> Result<Policies, Diagnostics> {
        let mut p = Policies::builtin();
        let Some(path) = path else { return Ok(p) };
        let docs = source::load_path(path)?;
        let mut diags = Diagnostics::new();
        for doc in &docs {
            p.add_document(doc, false, &mut diags);
        }
        diags.into_result(p)
    }

    /// Adds the `workflows:` of one document.
    pub fn add_document(&mut self, doc: &Document, builtin: bool, diags: &mut Diagnostics) {
        let file = &doc.file;
        let root = &doc.root;
        let entries = match &root.value {
            Value::Null => return,
            Value::Map(e) => e,
            _ => {
                diags.push(Diagnostic::at(
                    root.location(file),
                    format!("a policy file holds `workflows: {{NAME: expression, ...}}`, found {}", root.kind()),
                ));
                return;
            }
        };
        for (key, value) in entries {
            match key.as_str() {
                Some("workflows") => {}
                Some(other) => {
                    diags.push(Diagnostic::at(
                        key.location(file),
                        format!("unknown key `{other}`{}", parse::suggest_or_list(other, &["workflows"])),
                    ));
                    continue;
                }
                None => {
                    diags.push(Diagnostic::at(key.location(file), "keys must be strings"));
                    continue;
                }
            }
            let Value::Map(workflows) = &value.value else {
                if !matches!(value.value, Value::Null) {
                    diags.push(Diagnostic::at(
                        value.location(file),
                        format!("`workflows` maps names to expressions, found {}", value.kind()),
                    ));
                }
                continue;
            };
            for (name_node, expr_node) in workflows {
                let Some(name) = name_node.as_str() else {
                    diags.push(Diagnostic::at(name_node.location(file), "a workflow name must be a string"));
                    continue;
                };
                if !valid_name(name) {
                    diags.push(Diagnostic::at(
                        name_node.location(file),
                        format!("invalid workflow name `{name}`: use letters, digits, `_`, `-` and `.`"),
                    ));
                    continue;
                }
                if let Some(prev) = self.workflows.get(name)
                    && !prev.builtin
                {
                    diags.push(Diagnostic::at(
                        name_node.location(file),
                        format!("workflow `{name}` is defined twice (first at {})", prev.loc),
                    ));
                    continue;
                }
                match parse_expr(file, expr_node) {
                    Ok(expr) => {
                        self.workflows.insert(
                            name.to_owned(),
                            Workflow { name: name.to_owned(), expr, builtin, loc: name_node.location(file) },
                        );
                    }
                    Err(d) => diags.0.extend(d.0),
                }
            }
        }
    }

    /// The workflow with this name.
    pub fn get(&self, name: &str) -> Option<&Workflow> {
        self.workflows.get(name)
    }

    /// Every workflow, built-ins first.
    pub fn iter(&self) -> impl Iterator<Item = &Workflow> {
        self.workflows.values()
    }

    /// Every workflow, mutably (the catalog resolves user references in place).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Workflow> {
        self.workflows.values_mut()
    }

    /// Every workflow name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.workflows.keys().map(String::as_str)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the seed's "Complete Built-In Workflows Reference" table.
    const SEED_BUILTINS: [&str; 19] = [
        "AUTO_APPROVE",
        "MANAGER",
        "APP_ADMIN",
        "APP_ADMIN_THEN_MANAGER",
        "AUTO_APPROVE_FULL_TIME_ELSE_MANAGER",
        "AUTO_APPROVE_FULL_TIME_ELSE_APP_ADMIN",
        "STANDARD_TRUST_MODEL",
        "STANDARD_WITH_FALLBACK_TO_MANAGER",
        "MOST_RESTRICTIVE_TRUST_MODEL",
        "MOST_RESTRICTIVE_WITH_FALLBACK_TO_MANAGER",
        "MOST_RESTRICTIVE_WITH_FALLBACK_TO_DL_MANAGER",
        "LEAST_RESTRICTIVE_TRUST_MODEL",
        "MANAGER_THEN_DL_OWNER",
        "MANAGER_THEN_DL_OWNER_WITH_FALLBACK_TO_AUTO_APPROVE",
        "GSUITE_OPEN_OR_OWNER",
        "ADD_TO_DL_APPROVAL",
        "REMOVE_FROM_DL_APPROVAL",
        "CREATE_DL_APPROVAL",
        "GET_DL_MANAGER_APPROVAL",
    ];

    #[test]
    fn every_seed_builtin_is_defined_in_the_language() {
        let p = Policies::builtin();
        for name in SEED_BUILTINS {
            let w = p.get(name).unwrap_or_else(|| panic!("missing built-in {name}"));
            assert!(w.builtin);
            assert_eq!(w.loc.file.to_str(), Some(BUILTIN_FILE));
        }
        assert!(p.get("APP_ADMIN_THEN_SECURITY").is_some(), "risk 3's default workflow");
    }

    #[test]
    fn policy_files_may_override_a_builtin_but_not_define_a_name_twice() {
        let file: Arc<Path> = Arc::from(Path::new("p.yaml"));
        let doc = source::parse_str(
            file,
            "workflows:\n  MANAGER:\n    app_admin_expression: {}\n  X:\n    manager_expression: {}\n",
            source::Format::Yaml,
        )
        .unwrap();
        let mut p = Policies::builtin();
        let mut diags = Diagnostics::new();
        p.add_document(&doc, false, &mut diags);
        assert!(diags.is_empty(), "{diags}");
        assert!(!p.get("MANAGER").unwrap().builtin);
        p.add_document(&doc, false, &mut diags);
        assert_eq!(diags.0[0].to_string(), "p.yaml:2:3: workflow `MANAGER` is defined twice (first at p.yaml:2:3)");
    }
}
