//! Reading expressions from spanned YAML/JSON nodes, with an error at the `file:line:col` of each problem.
//!
//! Written by hand rather than derived: each node is a one-key map whose value mixes the node's own fields
//! with the options any node may carry, and a derived deserializer cannot reject unknown keys and accept
//! flattened options at once, nor point into a `rule_v2` string at the character that is wrong.

use std::path::Path;
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::policy::expr::{Clause, Condition, Expr, ExprKind, Fallback, GroupRef, ManagerOf, NoFallback, Options};
use crate::policy::rule::Rule;
use crate::source::{Node, Value, from_node};

/// Every expression name the language accepts.
pub const EXPRESSION_NAMES: &[&str] = &[
    "auto_approve_expression",
    "auto_deny_expression",
    "user_constant_expression",
    "manager_expression",
    "skip_level_manager_expression",
    "app_admin_expression",
    "group_owner_expression",
    "group_manager_expression",
    "referenced_expression",
    "sequential_expression",
    "parallel_expression",
    "condition_expression",
    "parallel_group_expression",
    "user_list_expression",
    "grade_range_expression",
    "attribute_expression",
    "permission_expression",
];

/// Deeper nesting than this is refused: no real policy needs it, and it bounds recursion on hostile input.
pub const MAX_DEPTH: usize = 64;

/// Parses one expression node: `{ <name>_expression: { fields and options } }`.
pub fn parse_expr(file: &Arc<Path>, node: &Node) -> Result<Expr, Diagnostics> {
    let mut diags = Diagnostics::new();
    let expr = Parser { file, diags: &mut diags }.expr(node, 0);
    match expr {
        Some(e) if diags.is_empty() => Ok(e),
        _ => {
            if diags.is_empty() {
                diags.push(Diagnostic::at(node.location(file), "invalid expression"));
            }
            diags.into_result(Expr::new(ExprKind::AutoDeny { reason: None }))
        }
    }
}

struct Parser<'a> {
    file: &'a Arc<Path>,
    diags: &'a mut Diagnostics,
}

impl Parser<'_> {
    fn err(&mut self, node: &Node, message: impl Into<String>) {
        self.diags.push(Diagnostic::at(node.location(self.file), message));
    }

    fn expr(&mut self, node: &Node, depth: usize) -> Option<Expr> {
        if depth > MAX_DEPTH {
            self.err(node, format!("expressions nest deeper than {MAX_DEPTH} levels"));
            return None;
        }
        let entries = match &node.value {
            Value::Map(entries) => entries,
            _ => {
                self.err(
                    node,
                    format!("expected an expression such as `{{\"manager_expression\": {{}}}}`, found {}", node.kind()),
                );
                return None;
            }
        };
        let [(key, body)] = entries.as_slice() else {
            let names: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
            if entries.is_empty() {
                self.err(node, "empty expression: name one, such as `manager_expression`");
            } else {
                self.err(
                    node,
                    format!(
                        "an expression has exactly one key (its name), found {}: {}; options go inside the expression's own object",
                        entries.len(),
                        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            return None;
        };
        let Some(name) = key.as_str() else {
            self.err(key, "an expression name must be a string");
            return None;
        };
        let fields: &[(Node, Node)] = match &body.value {
            Value::Map(f) => f,
            Value::Null => &[],
            _ => {
                self.err(body, format!("`{name}` takes an object of fields (`{{}}` for none), found {}", body.kind()));
                return None;
            }
        };
        let mut f = Fields::new(self.file, body, fields);
        let kind = match name {
            "auto_approve_expression" => {
                ExprKind::AutoApprove { justification: f.opt(self, "justification"), duration: f.opt(self, "duration") }
            }
            "auto_deny_expression" => ExprKind::AutoDeny { reason: f.opt(self, "reason") },
            "user_constant_expression" => ExprKind::UserConstant { user: f.req(self, "user")? },
            "manager_expression" => ExprKind::Manager { of: f.opt::<ManagerOf>(self, "of").unwrap_or_default() },
            "skip_level_manager_expression" => {
                let levels = f.opt::<u32>(self, "levels").unwrap_or(2);
                if levels == 0 {
                    self.err(body, "`levels` counts up from the manager (1) and must be at least 1");
                }
                ExprKind::SkipLevelManager { levels, of: f.opt::<ManagerOf>(self, "of").unwrap_or_default() }
            }
            "app_admin_expression" => ExprKind::AppAdmin { number_required: f.required_count(self) },
            "group_owner_expression" => ExprKind::GroupOwner { number_required: f.required_count(self) },
            "group_manager_expression" => ExprKind::GroupManager { number_required: f.required_count(self) },
            "referenced_expression" => ExprKind::Reference { name: f.req(self, "name")?, body: None },
            "sequential_expression" => {
                let list = f.list(self, "expressions")?;
                ExprKind::Sequential { expressions: self.children(list, depth)? }
            }
            "parallel_expression" => {
                let list = f.list(self, "expressions")?;
                let expressions = self.children(list, depth)?;
                let number_required = f.opt::<u32>(self, "number_required");
                if let Some(n) = number_required
                    && (n == 0 || n as usize > expressions.len())
                {
                    let at = f.node_of("number_required").unwrap_or(body);
                    self.err(
                        at,
                        format!(
                            "number_required is {n} but the node has {} expression(s); it must be between 1 and {}",
                            expressions.len(),
                            expressions.len()
                        ),
                    );
                }
                ExprKind::Parallel { expressions, number_required }
            }
            "condition_expression" => {
                let list = f.list(self, "clauses")?;
                let mut clauses = Vec::with_capacity(list.len());
                let mut ok = true;
                for c in list {
                    match self.clause(c, depth) {
                        Some(c) => clauses.push(c),
                        None => ok = false,
                    }
                }
                let default = match f.take("default_expression") {
                    Some(d) => Some(Box::new(self.expr(d, depth + 1)?)),
                    None => None,
                };
                if !ok {
                    return None;
                }
                ExprKind::Condition { clauses, default }
            }
            "parallel_group_expression" => {
                let group = self.group_ref(f.take("group"), body)?;
                ExprKind::ParallelGroup {
                    group,
                    number_required: f.required_count(self),
                    role: f.opt(self, "role").unwrap_or_default(),
                }
            }
            "user_list_expression" => {
                let users: Vec<String> = f.req(self, "users")?;
                if users.is_empty() {
                    self.err(body, "`users` lists at least one user");
                }
                let number_required = f.required_count(self);
                if number_required as usize > users.len() {
                    self.err(
                        f.node_of("number_required").unwrap_or(body),
                        format!("number_required is {number_required} but only {} user(s) are listed", users.len()),
                    );
                }
                ExprKind::UserList { users, number_required }
            }
            "grade_range_expression" => {
                let min: Option<i64> = f.opt(self, "min");
                let max: Option<i64> = f.opt(self, "max");
                if min.is_none() && max.is_none() {
                    self.err(body, "a grade range needs `min`, `max` or both");
                }
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    self.err(body, format!("grade range min {lo} is above max {hi}"));
                }
                ExprKind::GradeRange { min, max, number_required: f.required_count(self) }
            }
            "attribute_expression" => ExprKind::Attribute {
                attribute: f.req(self, "attribute")?,
                value: f.req(self, "value")?,
                number_required: f.required_count(self),
            },
            "permission_expression" => ExprKind::Permission {
                permission: f.req(self, "permission")?,
                scope: f.opt(self, "scope").unwrap_or_default(),
                number_required: f.required_count(self),
            },
            other => {
                self.err(key, format!("unknown expression `{other}`{}", suggest_or_list(other, EXPRESSION_NAMES)));
                return None;
            }
        };
        let options = self.options(&mut f, depth)?;
        f.finish(self, name);
        Some(Expr { kind, options, loc: Some(node.location(self.file)) })
    }

    fn children(&mut self, list: &[Node], depth: usize) -> Option<Vec<Expr>> {
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        for n in list {
            match self.expr(n, depth + 1) {
                Some(e) => out.push(e),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn clause(&mut self, node: &Node, depth: usize) -> Option<Clause> {
        let Value::Map(fields) = &node.value else {
            self.err(
                node,
                format!("a clause is `{{condition: {{rule_v2: ...}}, expression: ...}}`, found {}", node.kind()),
            );
            return None;
        };
        let mut f = Fields::new(self.file, node, fields);
        let cond_node = f.take_required(self, "condition")?;
        let expr_node = f.take_required(self, "expression")?;
        f.finish(self, "clause");
        let rule_node = match &cond_node.value {
            Value::Map(entries) => {
                let mut cf = Fields::new(self.file, cond_node, entries);
                let r = cf.take_required(self, "rule_v2");
                cf.finish(self, "condition");
                r?
            }
            // Accept the rule text directly too: `condition: "a == b"`.
            Value::Str(_) => cond_node,
            _ => {
                self.err(cond_node, format!("`condition` is `{{rule_v2: \"...\"}}`, found {}", cond_node.kind()));
                return None;
            }
        };
        let rule = self.rule(rule_node);
        let expression = self.expr(expr_node, depth + 1);
        Some(Clause { condition: Condition { rule_v2: rule? }, expression: expression? })
    }

    fn rule(&mut self, node: &Node) -> Option<Rule> {
        let Some(text) = node.as_str() else {
            self.err(node, format!("`rule_v2` is a string, found {}", node.kind()));
            return None;
        };
        match Rule::parse(text) {
            Ok(r) => Some(r),
            Err(e) => {
                let pos = node.pos_at(e.offset);
                self.diags.push(Diagnostic::at(
                    crate::diag::Location::new(self.file.clone(), pos),
                    format!("invalid rule_v2: {e}\n{}", e.render(text)),
                ));
                None
            }
        }
    }

    fn group_ref(&mut self, node: Option<&Node>, parent: &Node) -> Option<GroupRef> {
        let Some(node) = node else {
            self.err(parent, "missing key `group`");
            return None;
        };
        match &node.value {
            Value::Str(s) => Some(GroupRef { external_id: s.clone(), integration_id: None }),
            Value::Map(_) => match from_node::<GroupRefFields>(self.file, node) {
                Ok(g) => Some(GroupRef { external_id: g.external_id, integration_id: g.integration_id }),
                Err(d) => {
                    self.diags.push(d);
                    None
                }
            },
            _ => {
                self.err(
                    node,
                    format!("`group` is a group id or `{{external_id, integration_id}}`, found {}", node.kind()),
                );
                None
            }
        }
    }

    fn options(&mut self, f: &mut Fields<'_>, depth: usize) -> Option<Options> {
        let fallback = match f.take("fallback") {
            None => None,
            Some(n) if n.as_str().is_some_and(|s| s.eq_ignore_ascii_case("none")) => {
                Some(Fallback::None(NoFallback::None))
            }
            Some(n) if n.as_str().is_some() => {
                self.err(n, "`fallback` is `none` or an expression");
                None
            }
            Some(n) => Some(Fallback::Expr(Box::new(self.expr(n, depth + 1)?))),
        };
        let number_to_deny: Option<u32> = f.opt(self, "number_to_deny");
        if number_to_deny == Some(0) {
            self.err(f.node_of("number_to_deny").unwrap_or(f.body), "number_to_deny must be at least 1");
        }
        Some(Options {
            timeout: f.opt(self, "timeout"),
            on_timeout: f.opt(self, "on_timeout"),
            remind_every: f.opt(self, "remind_every"),
            fallback,
            number_to_deny,
            self_approval: f.opt(self, "self_approval"),
            distinct_approvers: f.opt(self, "distinct_approvers"),
            allow_escalate: f.opt(self, "allow_escalate"),
            max_duration: f.opt(self, "max_duration"),
            step_up: f.opt(self, "step_up"),
        })
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRefFields {
    external_id: String,
    integration_id: Option<String>,
}

/// The fields of one expression's object, consumed one by one so that what is left over is unknown.
struct Fields<'a> {
    file: &'a Arc<Path>,
    body: &'a Node,
    entries: Vec<(&'a Node, &'a Node, bool)>,
    /// Every key this expression kind accepted so far: what "did you mean" picks from.
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(file: &'a Arc<Path>, body: &'a Node, entries: &'a [(Node, Node)]) -> Self {
        Fields { file, body, entries: entries.iter().map(|(k, v)| (k, v, false)).collect(), known: Vec::new() }
    }

    fn node_of(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _, _)| k.as_str() == Some(key)).map(|(_, v, _)| *v)
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Node> {
        self.known.push(key);
        let e = self.entries.iter_mut().find(|(k, _, _)| k.as_str() == Some(key))?;
        e.2 = true;
        Some(e.1)
    }

    fn take_required(&mut self, p: &mut Parser<'_>, key: &'static str) -> Option<&'a Node> {
        let n = self.take(key);
        if n.is_none() {
            p.err(self.body, format!("missing key `{key}`"));
        }
        n
    }

    fn opt<T: serde::de::DeserializeOwned>(&mut self, p: &mut Parser<'_>, key: &'static str) -> Option<T> {
        let node = self.take(key)?;
        if matches!(node.value, Value::Null) {
            return None;
        }
        match from_node::<T>(self.file, node) {
            Ok(v) => Some(v),
            Err(d) => {
                p.diags.push(Diagnostic { message: format!("`{key}`: {}", d.message), ..d });
                None
            }
        }
    }

    fn req<T: serde::de::DeserializeOwned>(&mut self, p: &mut Parser<'_>, key: &'static str) -> Option<T> {
        if self.node_of(key).is_none() {
            self.known.push(key);
            p.err(self.body, format!("missing key `{key}`"));
            return None;
        }
        self.opt(p, key)
    }

    fn list(&mut self, p: &mut Parser<'_>, key: &'static str) -> Option<&'a [Node]> {
        let node = self.take_required(p, key)?;
        match &node.value {
            Value::Seq(items) if !items.is_empty() => Some(items),
            Value::Seq(_) => {
                p.err(node, format!("`{key}` needs at least one entry"));
                None
            }
            _ => {
                p.err(node, format!("`{key}` must be a list, found {}", node.kind()));
                None
            }
        }
    }

    fn required_count(&mut self, p: &mut Parser<'_>) -> u32 {
        let n = self.opt::<u32>(p, "number_required").unwrap_or(1);
        if n == 0 {
            p.err(self.node_of("number_required").unwrap_or(self.body), "number_required must be at least 1");
            return 1;
        }
        n
    }

    /// Reports every key nobody took, suggesting the closest accepted one.
    fn finish(self, p: &mut Parser<'_>, owner: &str) {
        let mut known = self.known;
        if owner.ends_with("_expression") {
            known.extend_from_slice(Options::KEYS);
        }
        known.sort_unstable();
        known.dedup();
        for (k, _, used) in &self.entries {
            if *used {
                continue;
            }
            let Some(name) = k.as_str() else {
                p.err(k, "keys must be strings");
                continue;
            };
            if known.contains(&name) {
                continue; // taken through `node_of` for validation only
            }
            p.err(k, format!("unknown key `{name}` in `{owner}`{}", suggest_or_list(name, &known)));
        }
    }
}

/// ", did you mean `x`?" or "; expected one of `a`, `b`".
pub(crate) fn suggest_or_list(unknown: &str, known: &[&str]) -> String {
    let s = did_you_mean(unknown, known.iter().copied());
    if !s.is_empty() || known.is_empty() {
        return s;
    }
    format!("; expected one of {}", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
}
