//! How fast the web pages answer at the sizes issue 12 names (DESIGN 7.6): `/inbox` for an approver with 1,000
//! pending prompts, `/requests/{id}` with its approval picture for a quorum asked of a 1,000-member group, and the
//! request form's search in a catalog of 10,000 resources.
//!
//! signoff runs in this process on a SQLite file in a temporary folder, with the directory and policies written
//! there; the requests are created through the runtime, a `dev_login` session signs in over HTTP, and each page is
//! fetched `--n` times (default 300) one after another after a warm-up, on 127.0.0.1. Prints p50, p99 and max, and
//! the page's size.
//!
//! `cargo bench --bench web [-- --n 300]`

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signoff::app::{Application, Options};
use signoff::config::Config;
use signoff::runtime::{NewRequest, Tuning};

/// Members of the big group, and pending prompts in the approver's inbox.
const SIZE: usize = 1_000;
/// Resources in the catalog the request form searches.
const RESOURCES: usize = 10_000;
const APPROVER: &str = "approver@web.test";
const REQUESTER: &str = "requester@web.test";

fn member(i: usize) -> String {
    format!("member{i:04}@web.test")
}

fn directory() -> String {
    let mut y = String::from("users:\n");
    let _ = writeln!(y, "  - id: {APPROVER}\n    name: Avery Approver");
    let _ = writeln!(y, "  - id: {REQUESTER}\n    name: Rory Requester\n    manager: {APPROVER}");
    for i in 0..SIZE {
        let _ = writeln!(y, "  - id: {}\n    name: Member {i:04}", member(i));
    }
    y.push_str("groups:\n  - id: big\n    name: Big group\n    members:\n");
    for i in 0..SIZE {
        let _ = writeln!(y, "      - {}", member(i));
    }
    y.push_str(
        "resources:\n  - id: inbox-app\n    kind: app\n    name: Inbox app\n    workflow: ONE\n  - id: quorum-app\n    \
         kind: app\n    name: Quorum app\n    workflow: QUORUM\n",
    );
    // A catalog of thousands, for the request form's search.
    for i in 0..RESOURCES {
        let _ = writeln!(
            y,
            "  - id: res-{i:05}\n    kind: app\n    name: Tool {i:05} of team {}\n    workflow: ONE",
            i % 97
        );
    }
    y
}

const POLICIES: &str = "workflows:\n  ONE: { user_constant_expression: { user: approver@web.test } }\n  \
                        QUORUM:\n    sequential_expression:\n      expressions:\n        - manager_expression: {}\n        \
                        - parallel_group_expression: { group: big, number_required: 500, role: MEMBER, timeout: 48h }\n";

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn measure(client: &reqwest::Client, url: &str, n: usize, what: &str) {
    for _ in 0..20 {
        client.get(url).send().await.unwrap().bytes().await.unwrap();
    }
    let mut samples = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let started = Instant::now();
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{what}");
        size = resp.bytes().await.unwrap().len();
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "{what}: n={n} p50={:.2} ms p99={:.2} ms max={:.2} ms, page {} KiB",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().unwrap().as_secs_f64() * 1000.0,
        size / 1024
    );
}

fn main() {
    let mut n = 300;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--n") {
        n = args[i + 1].parse().expect("--n takes a count");
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run(n));
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("directory.yaml"), directory()).unwrap();
    std::fs::write(dir.path().join("policies.yaml"), POLICIES).unwrap();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = format!("sqlite://{}", dir.path().join("web.db").display());
    config.directory.path = dir.path().join("directory.yaml");
    config.policies.path = Some(dir.path().join("policies.yaml"));
    config.web.dev_login = true;
    let app = Application::build(&config, Options { chat: Some(Vec::new()), tuning: Tuning::default(), catalog: None })
        .await
        .unwrap();
    let addr = app.local_addr();
    let runtime = app.runtime().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    // 1,000 requests, each waiting for the approver; then one asking 1,000 people after the manager approves.
    let started = Instant::now();
    let runtime = Arc::new(runtime);
    let mut tasks = Vec::new();
    for chunk in 0..10 {
        let rt = runtime.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..SIZE / 10 {
                let new = NewRequest {
                    requester: REQUESTER.to_owned(),
                    resource: "inbox-app".to_owned(),
                    roles: Vec::new(),
                    for_: Vec::new(),
                    justification: Some(format!("batch {chunk}")),
                    duration: None,
                    via: None,
                };
                rt.create(new, signoff::time::now()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let quorum = runtime
        .create(
            NewRequest {
                requester: REQUESTER.to_owned(),
                resource: "quorum-app".to_owned(),
                roles: Vec::new(),
                for_: Vec::new(),
                justification: Some("the big quorum".to_owned()),
                duration: None,
                via: None,
            },
            signoff::time::now(),
        )
        .await
        .unwrap();
    runtime
        .decide(
            &quorum.id,
            APPROVER,
            signoff::engine::Decision::Approve { duration: None, comment: None },
            "api",
            signoff::time::now(),
        )
        .await
        .unwrap();
    // A few answers and a dismissal-free picture: 30 members approve, 5 deny.
    for i in 0..35 {
        let decision = if i < 30 {
            signoff::engine::Decision::Approve { duration: None, comment: None }
        } else {
            signoff::engine::Decision::Deny { comment: Some("no".to_owned()) }
        };
        runtime.decide(&quorum.id, &member(i), decision, "api", signoff::time::now()).await.unwrap();
    }
    println!("set-up: {} requests in {:.1} s", SIZE + 1, started.elapsed().as_secs_f64());

    let base = format!("http://{addr}");
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = client.get(format!("{base}/auth/login")).send().await.unwrap().text().await.unwrap();
    let at = login.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &login[at..at + login[at..].find('"').unwrap()];
    let resp = client
        .post(format!("{base}/auth/dev"))
        .form(&[("csrf", csrf), ("user", APPROVER), ("return_to", "/inbox")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "signed in and followed to the inbox");

    measure(&client, &format!("{base}/inbox"), n, "/inbox, 1,000 pending prompts (first page of 50)").await;
    measure(&client, &format!("{base}/requests/{}", quorum.id), n, "/requests/{id}, 1,000-member group quorum").await;

    measure(&client, &format!("{base}/requests/new?q=team+42"), n, "/requests/new?q=..., 10,000 resources").await;
    measure(&client, &format!("{base}/requests/new"), n, "/requests/new (first 50 of 10,000 resources)").await;

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
