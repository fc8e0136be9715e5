//! Loading and validating a 10,000-user directory (goal: at most 300 ms), from YAML and from JSON, and
//! building the catalog on top.
//!
//! The directory is generated once, deterministically, into a temporary folder:
//! - 10,000 users of about 15 lines each (id, email, name, manager, department, title, grade, work_status,
//!   location, permissions, slack_id, discord_id, custom_attributes), managers forming an 8-ary tree;
//! - 200 groups: the company-wide `everyone` group (all 10,000 users, as Okta's built-in Everyone group),
//!   8 department groups and 191 team groups (a manager and their direct reports);
//! - 500 resources: department domains, team group memberships, apps with roles, admins, permissions,
//!   risk, parents and, for some, inline workflows.
//!
//! `load_yaml` / `load_json` time `signoff::directory::load(path)` end to end (read + parse + validate);
//! the other functions split that time or add the catalog.
//!
//! Run with `cargo bench --bench directory_load` (wall clock) or `BENCH_CLOCK=cpu cargo bench --bench
//! directory_load` (CPU time of the measuring thread; see `benches/common/clock.rs`).

use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, Criterion};

use signoff::catalog::{Catalog, Settings};
use signoff::diag::Diagnostics;
use signoff::directory::{self, Directory};
use signoff::policy::Policies;
use signoff::source::{self, Document, Format};

#[path = "common/clock.rs"]
mod clock;

const USERS: usize = 10_000;
const GROUPS: usize = 200;
const RESOURCES: usize = 500;
/// Each manager has up to this many direct reports.
const FAN_OUT: usize = 8;

const DEPARTMENTS: [&str; FAN_OUT] =
    ["Engineering", "Sales", "Marketing", "Finance", "People", "Operations", "Security", "Customer Success"];
const LOCATIONS: [&str; 6] = ["Lisbon", "New York", "Berlin", "Singapore", "Toronto", "Remote"];
const FIRST: [&str; 16] = [
    "Ana", "Ben", "Cleo", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jade", "Kim", "Lee", "Max", "Nia", "Omar",
    "Pia",
];
const LAST: [&str; 16] = [
    "Diaz", "Park", "Stone", "Hale", "Ray", "Patel", "Nguyen", "Smith", "Okafor", "Rossi", "Kowalski", "Tanaka",
    "Silva", "Moreau", "Berg", "Costa",
];
const SENIORITY: [&str; 6] = ["Junior", "Mid", "Senior", "Staff", "Principal", "Director"];
const BUILTIN_WORKFLOWS: [&str; 6] = [
    "MANAGER",
    "APP_ADMIN",
    "APP_ADMIN_THEN_MANAGER",
    "AUTO_APPROVE_FULL_TIME_ELSE_MANAGER",
    "DEPT_HEAD",
    "TWO_ADMINS",
];
const TRUST_MODELS: [&str; 4] = [
    "STANDARD_TRUST_MODEL",
    "MOST_RESTRICTIVE_WITH_FALLBACK_TO_MANAGER",
    "LEAST_RESTRICTIVE_TRUST_MODEL",
    "MANAGER_THEN_DL_OWNER",
];

/// Named workflows the generated resources reference, next to the built-ins.
const POLICIES_YAML: &str = r#"workflows:
  DEPT_HEAD:
    condition_expression:
      clauses:
        - condition: { rule_v2: 'users_requested_for[0].department.$LOWERCASE() == "engineering"' }
          expression: { skip_level_manager_expression: { levels: 2 } }
      default_expression: { manager_expression: {} }
  TWO_ADMINS:
    app_admin_expression: { number_required: 2, timeout: 48h, on_timeout: escalate }
"#;

/// A value of the generated document, written out as YAML or JSON. Maps keep their order.
enum V {
    S(String),
    I(i64),
    B(bool),
    L(Vec<V>),
    M(Vec<(&'static str, V)>),
}

fn s(text: impl Into<String>) -> V {
    V::S(text.into())
}

fn strings<I: IntoIterator<Item = String>>(items: I) -> V {
    V::L(items.into_iter().map(V::S).collect())
}

fn user_id(i: usize) -> String {
    format!("emp-{i:05}")
}

fn email(i: usize) -> String {
    format!("{}.{}{i}@example.com", FIRST[i % 16].to_lowercase(), LAST[(i / 16) % 16].to_lowercase())
}

fn manager_of(i: usize) -> Option<usize> {
    (i > 0).then(|| (i - 1) / FAN_OUT)
}

fn department(i: usize) -> &'static str {
    let mut i = i;
    while i > FAN_OUT {
        i = (i - 1) / FAN_OUT;
    }
    if i == 0 { "Executive" } else { DEPARTMENTS[i - 1] }
}

fn level(i: usize) -> usize {
    let mut depth = 0;
    let mut cur = i;
    while let Some(m) = manager_of(cur) {
        depth += 1;
        cur = m;
    }
    depth
}

fn users() -> Vec<V> {
    (0..USERS)
        .map(|i| {
            let depth = level(i);
            let grade = 12 - 2 * depth as i64 + (i % 2) as i64;
            let title = match depth {
                0 => "Chief Executive Officer".to_owned(),
                1 => format!("VP {}", department(i)),
                2 => format!("Director, {}", department(i)),
                3 => format!("{} Manager", department(i)),
                _ => format!("{} {} Specialist", SENIORITY[i % 4], department(i)),
            };
            let mut u = vec![("id", s(user_id(i))), ("email", s(email(i)))];
            u.push(("name", s(format!("{} {}", FIRST[i % 16], LAST[(i / 16) % 16]))));
            if let Some(m) = manager_of(i) {
                // Half the files name managers by id, half by email: both are accepted.
                u.push(("manager", s(if i % 2 == 0 { user_id(m) } else { email(m) })));
            }
            u.push(("department", s(department(i))));
            u.push(("title", s(title)));
            u.push(("grade", V::I(grade)));
            u.push(("work_status", s(if i % 10 == 9 { "CONTRACTOR" } else { "FULL_TIME" })));
            u.push(("location", s(LOCATIONS[i % LOCATIONS.len()])));
            let perms = match i % 50 {
                0 => vec!["Helpdesk".to_owned()],
                1 => vec!["Usermanager".to_owned()],
                2 => vec!["Security".to_owned(), "Helpdesk".to_owned()],
                _ => vec![],
            };
            u.push(("permissions", strings(perms)));
            u.push(("slack_id", s(format!("U{:08X}", 0x1000_0000 + i * 7919))));
            u.push(("discord_id", s(format!("{}", 800_000_000_000_000_000u64 + i as u64 * 104_729))));
            if i % 97 == 5 {
                u.push(("out_of_office_until", s("2026-03-01")));
            }
            if i % 211 == 7 {
                u.push(("active", V::B(false)));
            }
            u.push((
                "custom_attributes",
                V::M(vec![
                    ("cost_center", V::I(8000 + (i % 40) as i64)),
                    ("seniority_level", s(SENIORITY[depth.min(5)])),
                ]),
            ));
            V::M(u)
        })
        .collect()
}

/// The ids of the managers whose direct reports form a team group, in order.
fn team_leads() -> Vec<usize> {
    // Users 9..=72 are directors (depth 2), 73..=584 managers (depth 3): the first 191 of them lead teams.
    (FAN_OUT + 1..USERS).filter(|&m| m * FAN_OUT + 1 < USERS).take(GROUPS - 1 - FAN_OUT).collect()
}

fn groups(everyone: bool) -> Vec<V> {
    let mut out = Vec::with_capacity(GROUPS);
    if everyone {
        out.push(V::M(vec![
            ("id", s("everyone")),
            ("external_id", s("00g1everyone000000")),
            ("name", s("Everyone")),
            ("members", strings((0..USERS).map(user_id))),
            ("owners", strings([email(0)])),
            ("join_policy", s("closed")),
            ("visibility", s("public")),
        ]));
    }
    for (d, name) in DEPARTMENTS.iter().enumerate() {
        let head = d + 1;
        out.push(V::M(vec![
            ("id", s(format!("dept-{}", name.to_lowercase().replace(' ', "-")))),
            ("external_id", s(format!("00g2dept{d:010}"))),
            ("name", s(format!("{name} (all)"))),
            ("members", strings((1..USERS).filter(|&i| department(i) == *name).map(email))),
            ("owners", strings([email(head)])),
            ("managers", strings([email(head)])),
            ("join_policy", s("owner_approval")),
            ("visibility", s("public")),
        ]));
    }
    for (t, lead) in team_leads().into_iter().enumerate() {
        let reports = (lead * FAN_OUT + 1..=(lead * FAN_OUT + FAN_OUT).min(USERS - 1)).map(user_id);
        out.push(V::M(vec![
            ("id", s(format!("team-{t:03}"))),
            ("external_id", s(format!("00g3team{t:010}"))),
            ("name", s(format!("{} team {t}", department(lead)))),
            ("members", strings(std::iter::once(user_id(lead)).chain(reports))),
            ("owners", strings([user_id(lead)])),
            ("managers", strings([user_id(lead), user_id(manager_of(lead).unwrap_or(0))])),
            ("join_policy", s(["open", "owner_approval", "closed"][t % 3])),
            ("self_managed", V::B(t % 4 == 0)),
            ("visibility", s(if t % 2 == 0 { "public" } else { "private" })),
            ("parent", s(format!("dept-{}", department(lead).to_lowercase().replace(' ', "-")))),
            ("custom_attributes", V::M(vec![("slack_channel", s(format!("team-{t:03}")))])),
        ]));
    }
    if !everyone {
        // Keep the group count at 200.
        out.push(V::M(vec![
            ("id", s("leadership")),
            ("name", s("Leadership")),
            ("members", strings((0..=FAN_OUT).map(user_id))),
            ("owners", strings([user_id(0)])),
        ]));
    }
    assert_eq!(out.len(), GROUPS);
    out
}

fn resources() -> Vec<V> {
    let mut out = Vec::with_capacity(RESOURCES);
    let teams = GROUPS - 1 - FAN_OUT;
    for (d, name) in DEPARTMENTS.iter().enumerate() {
        out.push(V::M(vec![
            ("id", s(format!("domain-{d}"))),
            ("kind", s("data")),
            ("name", s(format!("{name} data domain"))),
            ("admins", strings([email(d + 1)])),
            ("review_mode", s(if d % 2 == 0 { "central" } else { "delegate" })),
            ("workflow", s("MANAGER")),
            ("permissions", V::M(vec![("Manage Data Products", strings([format!("team-{:03}", d * 3)]))])),
        ]));
    }
    // One group resource per team group: membership requests follow the trust models.
    for t in 0..teams {
        out.push(V::M(vec![
            ("id", s(format!("team-{t:03}"))),
            ("kind", s("group")),
            ("name", s(format!("Team {t} membership"))),
            ("workflow", s(TRUST_MODELS[t % TRUST_MODELS.len()])),
        ]));
    }
    let mut k = 0usize;
    while out.len() < RESOURCES {
        let lead = team_leads()[k % teams];
        let mut r = vec![
            ("id", s(format!("app-{k:03}"))),
            ("kind", s(if k % 10 == 9 { "action" } else { "app" })),
            ("name", s(format!("Application {k}"))),
        ];
        // Admins: two people, or a team group (expanded to its members).
        r.push((
            "admins",
            if k.is_multiple_of(3) {
                strings([format!("team-{:03}", k % teams)])
            } else {
                strings([email(lead), user_id(lead + 1)])
            },
        ));
        r.push(("owners", strings([email(lead)])));
        match k % 6 {
            0 => r.push(("risk", V::I((k % 5) as i64))),
            1 => r.push(("parent", s(format!("domain-{}", k % FAN_OUT)))),
            2 => r.push((
                "workflow",
                V::M(vec![(
                    "parallel_group_expression",
                    V::M(vec![("group", s(format!("team-{:03}", k % teams))), ("number_required", V::I(2))]),
                )]),
            )),
            3 => r.push((
                "workflow",
                V::M(vec![(
                    "sequential_expression",
                    V::M(vec![(
                        "expressions",
                        V::L(vec![
                            V::M(vec![("manager_expression", V::M(vec![]))]),
                            V::M(vec![("user_constant_expression", V::M(vec![("user", s(email(lead)))]))]),
                        ]),
                    )]),
                )]),
            )),
            _ => r.push(("workflow", s(BUILTIN_WORKFLOWS[k % BUILTIN_WORKFLOWS.len()]))),
        }
        if k.is_multiple_of(4) {
            r.push((
                "roles",
                V::L(vec![
                    s("viewer"),
                    V::M(vec![("name", s("editor"))]),
                    V::M(vec![("name", s("admin")), ("workflow", s("APP_ADMIN_THEN_MANAGER"))]),
                ]),
            ));
        }
        if k.is_multiple_of(5) {
            r.push(("max_duration", s("30d")));
            r.push(("permissions", V::M(vec![("Approve Deploys", strings([user_id(lead)]))])));
        }
        r.push((
            "custom_attributes",
            V::M(vec![
                ("classification", s(["public", "internal", "confidential"][k % 3])),
                ("tier", V::I(1 + (k % 3) as i64)),
            ]),
        ));
        out.push(V::M(r));
        k += 1;
    }
    out
}

fn document(everyone: bool) -> V {
    V::M(vec![
        ("source", s("okta")),
        ("users", V::L(users())),
        ("groups", V::L(groups(everyone))),
        ("resources", V::L(resources())),
    ])
}

// ------------------------------------------------------------------------------------------------------
// Writers
// ------------------------------------------------------------------------------------------------------

/// A scalar as people write it in YAML: plain when that reads back as the same string, else double-quoted.
fn yaml_scalar(out: &mut String, v: &V) {
    match v {
        V::I(n) => {
            let _ = write!(out, "{n}");
        }
        V::B(b) => {
            let _ = write!(out, "{b}");
        }
        V::S(text) => {
            let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && text.chars().all(|c| c.is_ascii_alphanumeric() || " _.@/-$()".contains(c))
                && !text.ends_with(' ')
                && !matches!(text.to_ascii_lowercase().as_str(), "true" | "false" | "null");
            if plain {
                out.push_str(text);
            } else {
                out.push_str(&serde_json::to_string(text).expect("a string serializes"));
            }
        }
        V::L(_) | V::M(_) => unreachable!("not a scalar"),
    }
}

fn is_scalar(v: &V) -> bool {
    matches!(v, V::S(_) | V::I(_) | V::B(_))
}

/// `key: value` lines of a block map at `indent`; the caller has already written what precedes the first
/// key (its indentation, or a list dash).
fn yaml_map(out: &mut String, entries: &[(&str, V)], indent: usize) {
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(k);
        out.push(':');
        yaml_value_after_key(out, v, indent);
    }
}

fn yaml_value_after_key(out: &mut String, v: &V, indent: usize) {
    match v {
        V::L(items) if items.is_empty() => out.push_str(" []\n"),
        V::M(entries) if entries.is_empty() => out.push_str(" {}\n"),
        V::L(items) if items.len() <= 8 && items.iter().all(is_scalar) => {
            out.push_str(" [");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                yaml_scalar(out, item);
            }
            out.push_str("]\n");
        }
        V::L(items) => {
            out.push('\n');
            yaml_list(out, items, indent + 2);
        }
        V::M(entries) => {
            out.push('\n');
            out.push_str(&" ".repeat(indent + 2));
            yaml_map(out, entries, indent + 2);
        }
        scalar => {
            out.push(' ');
            yaml_scalar(out, scalar);
            out.push('\n');
        }
    }
}

fn yaml_list(out: &mut String, items: &[V], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            V::M(entries) if !entries.is_empty() => yaml_map(out, entries, indent + 2),
            V::L(_) | V::M(_) => unreachable!("no lists of lists or empty maps in the generated data"),
            scalar => {
                yaml_scalar(out, scalar);
                out.push('\n');
            }
        }
    }
}

fn to_yaml(doc: &V) -> String {
    let V::M(entries) = doc else { unreachable!("the document is a map") };
    let mut out = String::with_capacity(8 << 20);
    out.push_str("# Generated by benches/directory_load.rs\n");
    for (k, v) in entries {
        out.push_str(k);
        out.push(':');
        match v {
            V::L(items) => {
                out.push('\n');
                yaml_list(&mut out, items, 2);
            }
            other => yaml_value_after_key(&mut out, other, 0),
        }
    }
    out
}

/// Pretty-printed JSON, two spaces, short scalar lists on one line (as people and exporters write it).
fn json_value(out: &mut String, v: &V, indent: usize) {
    match v {
        V::S(text) => out.push_str(&serde_json::to_string(text).expect("a string serializes")),
        V::I(n) => {
            let _ = write!(out, "{n}");
        }
        V::B(b) => {
            let _ = write!(out, "{b}");
        }
        V::L(items) if items.len() <= 8 && items.iter().all(is_scalar) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_value(out, item, indent);
            }
            out.push(']');
        }
        V::L(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&" ".repeat(indent + 2));
                json_value(out, item, indent + 2);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        V::M(entries) if entries.is_empty() => out.push_str("{}"),
        V::M(entries) => {
            out.push_str("{\n");
            for (i, (k, item)) in entries.iter().enumerate() {
                out.push_str(&" ".repeat(indent + 2));
                let _ = write!(out, "\"{k}\": ");
                json_value(out, item, indent + 2);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
    }
}

fn to_json(doc: &V) -> String {
    let mut out = String::with_capacity(8 << 20);
    json_value(&mut out, doc, 0);
    out.push('\n');
    out
}

// ------------------------------------------------------------------------------------------------------
// Fixture
// ------------------------------------------------------------------------------------------------------

/// The generated files, each in its own folder (a folder holds one directory; `load` walks it).
struct Fixture {
    _tmp: tempfile::TempDir,
    yaml_dir: PathBuf,
    json_dir: PathBuf,
    yaml_no_everyone_dir: PathBuf,
    policies_dir: PathBuf,
    yaml_text: String,
    json_text: String,
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::create_dir_all(dir).expect("create folder");
    fs::write(dir.join(name), text).expect("write file");
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("temp dir");
    let doc = document(true);
    let yaml_text = to_yaml(&doc);
    let json_text = to_json(&doc);
    let yaml_dir = tmp.path().join("yaml");
    let json_dir = tmp.path().join("json");
    let yaml_no_everyone_dir = tmp.path().join("yaml-no-everyone");
    let policies_dir = tmp.path().join("policies");
    write(&yaml_dir, "directory.yaml", &yaml_text);
    write(&json_dir, "directory.json", &json_text);
    write(&yaml_no_everyone_dir, "directory.yaml", &to_yaml(&document(false)));
    write(&policies_dir, "workflows.yaml", POLICIES_YAML);
    eprintln!(
        "generated directory: YAML {} lines, {:.1} MiB; JSON {} lines, {:.1} MiB",
        yaml_text.lines().count(),
        yaml_text.len() as f64 / (1 << 20) as f64,
        json_text.lines().count(),
        json_text.len() as f64 / (1 << 20) as f64,
    );
    Fixture { _tmp: tmp, yaml_dir, json_dir, yaml_no_everyone_dir, policies_dir, yaml_text, json_text }
}

fn or_panic<T>(r: Result<T, Diagnostics>) -> T {
    r.unwrap_or_else(|d| {
        let text = d.to_string();
        let head: Vec<&str> = text.lines().take(20).collect();
        panic!("benchmark input is invalid ({} problems):\n{}", d.0.len(), head.join("\n"))
    })
}

fn parse(name: &str, text: &str, format: Format) -> Document {
    let file: Arc<Path> = Arc::from(Path::new(name));
    source::parse_str(file, text, format).unwrap_or_else(|d| panic!("{d}"))
}

fn check(dir: &Directory) {
    assert_eq!(dir.users().len(), USERS);
    assert_eq!(dir.groups().len(), GROUPS);
    assert_eq!(dir.resources().len(), RESOURCES);
}

fn catalog(dir: Directory, policies: &Path) -> Catalog {
    let policies = or_panic(Policies::load(Some(policies)));
    or_panic(Catalog::new(dir, policies, Settings::default()))
}

fn directory_benches<M: Measurement>(c: &mut Criterion<M>) {
    let fx = fixture();

    // Everything must load cleanly, and YAML and JSON must give the same directory.
    let from_yaml = or_panic(directory::load(&fx.yaml_dir));
    let from_json = or_panic(directory::load(&fx.json_dir));
    check(&from_yaml);
    check(&from_json);
    assert_eq!(
        serde_json::to_string(from_yaml.users()).expect("users serialize"),
        serde_json::to_string(from_json.users()).expect("users serialize"),
        "YAML and JSON give the same users"
    );
    check(&or_panic(directory::load(&fx.yaml_no_everyone_dir)));
    let cat = catalog(from_yaml.clone(), &fx.policies_dir);
    assert_eq!(cat.directory.group("everyone").map(|g| g.members.len()), Some(USERS));
    let yaml_doc = parse("directory.yaml", &fx.yaml_text, Format::Yaml);
    // `Node` equality compares values only (not positions or styles); `assert!` keeps a failure short.
    let json_doc = parse("directory.json", &fx.json_text, Format::Json);
    assert!(yaml_doc.root == json_doc.root, "YAML and JSON give the same tree");
    drop(json_doc);

    let mut g = c.benchmark_group("directory_10k_users");
    g.sample_size(10);
    clock::tune(&mut g, 8);

    g.bench_function("load_yaml", |b| b.iter(|| or_panic(directory::load(black_box(&fx.yaml_dir)))));
    g.bench_function("load_json", |b| b.iter(|| or_panic(directory::load(black_box(&fx.json_dir)))));
    g.bench_function("load_yaml_without_everyone_group", |b| {
        b.iter(|| or_panic(directory::load(black_box(&fx.yaml_no_everyone_dir))))
    });

    // The halves of `load`: parsing (no file reading) and validation (from parsed documents).
    g.bench_function("parse_yaml_only", |b| b.iter(|| parse("directory.yaml", black_box(&fx.yaml_text), Format::Yaml)));
    g.bench_function("parse_json_only", |b| b.iter(|| parse("directory.json", black_box(&fx.json_text), Format::Json)));
    let docs = [yaml_doc];
    g.bench_function("validate_only", |b| b.iter(|| or_panic(directory::load_documents(black_box(&docs)))));

    // What startup does: the directory, the policies (built-ins and a file), then the catalog.
    g.bench_function("load_yaml_plus_catalog", |b| {
        b.iter(|| catalog(or_panic(directory::load(black_box(&fx.yaml_dir))), &fx.policies_dir))
    });
    // Catalog::new alone takes well under a millisecond, below what the CPU clock resolves in one batch
    // (each batch holds a fresh 10,000-user directory), so it is measured with the wall clock only.
    if !clock::cpu_requested() {
        let policies = or_panic(Policies::load(Some(&fx.policies_dir)));
        g.bench_function("catalog_new_only", |b| {
            b.iter_batched(
                || (from_yaml.clone(), policies.clone()),
                |(d, p)| or_panic(Catalog::new(d, p, Settings::default())),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn main() {
    clock::main_with(directory_benches::<WallTime>, directory_benches::<clock::ThreadCpuTime>);
}
