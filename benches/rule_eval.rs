//! How fast `rule_v2` conditions evaluate and parse.
//!
//! Run with `cargo bench --bench rule_eval`. Every clause of every workflow a request meets is evaluated
//! once per request and again by `signoff simulate`, so evaluation should cost well under a microsecond
//! (the goal is at least 1,000,000 evaluations per second on one core); parsing happens once per policy
//! load.
//!
//! The facts come from plain structs, as signoff's directory holds them: string fields borrowed, string
//! lists handed out as `Value::Strs`, custom attributes in a hash map.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signoff::policy::rule::{Facts, GroupField, RequestField, Rule, Subject, UserField, Value};

/// A person as the directory holds them.
struct User {
    id: String,
    email: String,
    name: String,
    manager: Option<String>,
    manager_email: Option<String>,
    department: Option<String>,
    title: Option<String>,
    grade: Option<u32>,
    work_status: Option<String>,
    is_full_time_employee: bool,
    location: Option<String>,
    active: bool,
    out_of_office: bool,
    permissions: Vec<String>,
    groups: Vec<String>,
    slack_id: Option<String>,
    discord_id: Option<String>,
    custom: HashMap<String, Value<'static>>,
}

struct Group {
    id: String,
    name: String,
    join_policy: String,
    self_managed: bool,
    visibility: String,
    parent: Option<String>,
    members: Vec<String>,
    owners: Vec<String>,
    managers: Vec<String>,
    custom: HashMap<String, Value<'static>>,
}

struct Resource {
    id: String,
    name: String,
    kind: String,
    risk: u8,
    custom: HashMap<String, Value<'static>>,
}

/// One request item: who asks, for whom, for what.
struct Item<'a> {
    requester: &'a User,
    requested_for: Vec<&'a User>,
    resource: &'a Resource,
    group: Option<&'a Group>,
    role: Option<String>,
    duration_seconds: Option<u64>,
    justification: Option<String>,
}

fn opt(s: &Option<String>) -> Value<'_> {
    s.as_deref().map_or(Value::Null, Value::str)
}

impl Facts for Item<'_> {
    fn user(&self, who: Subject, field: &UserField) -> Value<'_> {
        let user = match who {
            Subject::Requestor => Some(self.requester),
            Subject::RequestedFor(i) => self.requested_for.get(i).copied(),
        };
        let Some(u) = user else { return Value::Null };
        match field {
            UserField::Id => Value::str(&u.id),
            UserField::Email => Value::str(&u.email),
            UserField::Name => Value::str(&u.name),
            UserField::Manager => opt(&u.manager),
            UserField::ManagerEmail => opt(&u.manager_email),
            UserField::Department => opt(&u.department),
            UserField::Title => opt(&u.title),
            UserField::Grade => u.grade.into(),
            UserField::WorkStatus => opt(&u.work_status),
            UserField::IsFullTimeEmployee => Value::Bool(u.is_full_time_employee),
            UserField::Location => opt(&u.location),
            UserField::IsActive => Value::Bool(u.active),
            UserField::IsOutOfOffice => Value::Bool(u.out_of_office),
            UserField::Permissions => Value::Strs(&u.permissions),
            UserField::Groups => Value::Strs(&u.groups),
            UserField::SlackId => opt(&u.slack_id),
            UserField::DiscordId => opt(&u.discord_id),
            UserField::Custom(key) => u.custom.get(key).map_or(Value::Null, Value::reborrow),
        }
    }

    fn request(&self, field: RequestField) -> Value<'_> {
        match field {
            RequestField::Name => Value::str(&self.resource.name),
            RequestField::Id => Value::str(&self.resource.id),
            RequestField::Kind => Value::str(&self.resource.kind),
            RequestField::Risk => Value::Num(f64::from(self.resource.risk)),
            RequestField::Role => opt(&self.role),
            RequestField::DurationSeconds => self.duration_seconds.into(),
            RequestField::Justification => opt(&self.justification),
        }
    }

    fn group(&self, field: &GroupField) -> Value<'_> {
        let Some(g) = self.group else { return Value::Null };
        match field {
            GroupField::Id => Value::str(&g.id),
            GroupField::Name => Value::str(&g.name),
            GroupField::JoinPolicy => Value::str(&g.join_policy),
            GroupField::SelfManaged => Value::Bool(g.self_managed),
            GroupField::Visibility => Value::str(&g.visibility),
            GroupField::Parent => opt(&g.parent),
            GroupField::Members => Value::Strs(&g.members),
            GroupField::Owners => Value::Strs(&g.owners),
            GroupField::Managers => Value::Strs(&g.managers),
            GroupField::Custom(key) => g.custom.get(key).map_or(Value::Null, Value::reborrow),
        }
    }

    fn resource_custom(&self, key: &str) -> Value<'_> {
        self.resource.custom.get(key).map_or(Value::Null, Value::reborrow)
    }
}

fn person(email: &str, department: &str, seniority: &str, manager_email: &str) -> User {
    let mut custom = HashMap::new();
    custom.insert("seniority_level".to_string(), Value::from(seniority.to_string()));
    custom.insert("cost_center".to_string(), Value::from("8000".to_string()));
    custom.insert(
        "reporting_chain".to_string(),
        Value::List(vec![Value::from(manager_email.to_string()), Value::from("ceo@company.com".to_string())]),
    );
    User {
        id: email.to_string(),
        email: email.to_string(),
        name: "Someone".to_string(),
        manager: Some(manager_email.to_string()),
        manager_email: Some(manager_email.to_string()),
        department: Some(department.to_string()),
        title: Some("Account Executive".to_string()),
        grade: Some(7),
        work_status: Some("FULL_TIME".to_string()),
        is_full_time_employee: true,
        location: Some("San Francisco".to_string()),
        active: true,
        out_of_office: false,
        permissions: vec!["Helpdesk".to_string()],
        groups: (0..12).map(|i| format!("group-{i}")).collect(),
        slack_id: Some("U0123".to_string()),
        discord_id: None,
        custom,
    }
}

/// The rules measured, each with a name for the report.
const RULES: &[(&str, &str)] = &[
    (
        "seniority_in",
        r#"users_requested_for[0].custom_attributes.seniority_level IN ["Director", "VP", "SVP", "C-Level"]"#,
    ),
    ("lowercase_department", r#"users_requested_for[0].department.$LOWERCASE() == "sales".$LOWERCASE()"#),
    (
        "five_clauses",
        r#"users_requested_for[0].is_full_time_employee == true
           AND (users_requested_for[0].department.$LOWERCASE() IN ["engineering", "it"]
                OR users_requested_for[0].grade >= 7)
           AND requestor.email_addr.$LOWERCASE().$CONTAINS("@company.com")
           AND approval_request.approvable_entity.app_entity.risk < 3"#,
    ),
    ("manager_relationship", "users_requested_for[0].manager_email == requestor.email_addr"),
];

fn bench_eval(c: &mut Criterion) {
    let requester = person("Maria.Lopez@Company.com", "Sales", "VP", "ceo@company.com");
    // "Director" is the second item of the list and "Sales" needs lowercasing: neither is the best case.
    let target = person("bob@company.com", "Sales", "Director", "Maria.Lopez@Company.com");
    let resource = Resource {
        id: "salesforce".to_string(),
        name: "Salesforce".to_string(),
        kind: "app".to_string(),
        risk: 2,
        custom: HashMap::new(),
    };
    let group = Group {
        id: "g-sales".to_string(),
        name: "Sales".to_string(),
        join_policy: "owner_approval".to_string(),
        self_managed: false,
        visibility: "private".to_string(),
        parent: None,
        members: vec![target.id.clone()],
        owners: vec![requester.id.clone()],
        managers: vec![],
        custom: HashMap::new(),
    };
    let item = Item {
        requester: &requester,
        requested_for: vec![&target],
        resource: &resource,
        group: Some(&group),
        role: Some("Admin".to_string()),
        duration_seconds: Some(86_400),
        justification: None,
    };

    let mut g = c.benchmark_group("rule_eval");
    g.throughput(Throughput::Elements(1));
    for (name, src) in RULES {
        let rule = Rule::parse(src).unwrap_or_else(|e| panic!("{name}: {e}\n{}", e.render(src)));
        assert!(rule.eval(&item), "{name} should hold for the benchmark's facts, so every clause is evaluated");
        g.bench_function(*name, |b| b.iter(|| black_box(&rule).eval(black_box(&item))));
    }
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("rule_parse");
    g.throughput(Throughput::Elements(1));
    for (name, src) in RULES {
        g.bench_function(*name, |b| b.iter(|| Rule::parse(black_box(src))));
    }
    g.finish();
}

criterion_group!(benches, bench_eval, bench_parse);
criterion_main!(benches);
