//! Reloading the directory and policy files of a running `signoff serve` (DESIGN 7.5), as an operator does it:
//! edit a file, run `signoff reload` (which sends SIGHUP to the pid in `[server] pid_file`), and see the change
//! served; break a file, reload, and see the old catalog still served, every problem logged as
//! `file:line:col: message`, and the failure counted in `/metrics`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, SIGNOFF, signoff};

const TOKEN: &str = "reload-test-token";

const CONFIG: &str = r#"[server]
listen = "127.0.0.1:0"
pid_file = "signoff.pid"
[database]
url = "sqlite://signoff.db"
[directory]
path = "directory"
[policies]
path = "policies"
[api]
tokens = ["reload-test-token"]
"#;

const PEOPLE: &str = "\
users:
  - id: ana@example.com
    manager: raj@example.com
  - id: raj@example.com
";

const RESOURCES: &str = "\
resources:
  - id: wiki
    kind: app
    workflow: MANAGER
";

/// [`RESOURCES`] and one more resource.
const WITH_VAULT: &str = "\
resources:
  - id: wiki
    kind: app
    workflow: MANAGER
  - id: vault
    kind: app
    workflow: MANAGER
";

/// [`WITH_VAULT`], a new resource, and two problems.
const BROKEN: &str = "\
resources:
  - id: wiki
    kind: app
    workflow: MANAGER
  - id: vault
    kind: app
    workflow: MANAGER
  - id: broken
    kind: app
    workflow: NOPE
  - id: shelf
    kind: app
    parent: vault
    workflow: MANAGR
";

/// How long a reload may take to show.
const RELOADED_WITHIN: Duration = Duration::from_secs(3);

/// A `signoff serve` child, killed if the test fails before it stops it.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `signoff serve --config signoff.toml` in the fixture's folder, logging JSON lines to `serve.log`.
fn serve(f: &Fixture) -> Server {
    let log = std::fs::File::create(f.path().join("serve.log")).expect("a log file");
    let mut cmd = Command::new(SIGNOFF);
    cmd.args(["serve", "--config", "signoff.toml", "--log-format", "json"]).current_dir(f.path());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SIGNOFF_") {
            cmd.env_remove(name);
        }
    }
    let child = cmd
        .env_remove("RUST_LOG")
        .env("SIGNOFF_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("signoff serve starts");
    let started = Instant::now();
    let mut server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
    server.addr = loop {
        let text = log_text(f);
        let ready = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == "signoff is ready");
        if let Some(addr) = ready.as_ref().and_then(|v| v["addr"].as_str()) {
            break addr.parse().expect("the announced address parses");
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("signoff serve exited with {status}:\n{text}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not ready within 30 s:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    server
}

fn log_text(f: &Fixture) -> String {
    std::fs::read_to_string(f.path().join("serve.log")).unwrap_or_default()
}

/// One HTTP/1.1 exchange on a fresh connection; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The status of a request by Ana for `resource`.
fn ask_for(server: &Server, resource: &str) -> (u16, String) {
    http(
        server.addr,
        "POST",
        "/api/v1/requests",
        &format!(r#"{{"requester":"ana@example.com","resource":"{resource}"}}"#),
    )
}

/// Waits until `done` holds, or fails with `what` and the log.
fn eventually(f: &Fixture, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < RELOADED_WITHIN, "{what}: not within {RELOADED_WITHIN:?}; log:\n{}", log_text(f));
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The value of a `/metrics` sample, e.g. `signoff_catalog_reloads_total{what="files"}`.
fn metric(server: &Server, sample: &str) -> Option<f64> {
    let (_, text) = http(server.addr, "GET", "/metrics", "");
    text.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `file:line:col` of the `n`th (from 0) occurrence of `word` in `text`, as diagnostics print it.
fn position(file: &str, text: &str, word: &str, n: usize) -> String {
    let (line, col) = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| l.find(word).map(|c| (i + 1, c + 1)))
        .nth(n)
        .unwrap_or_else(|| panic!("`{word}` occurs {} times", n + 1));
    format!("{file}:{line}:{col}")
}

#[test]
fn reload_serves_edited_files_and_keeps_the_running_catalog_when_a_file_is_broken() {
    // Arrange: a server on the first version of the files, with a pid file.
    let f = Fixture::empty();
    f.write("signoff.toml", CONFIG)
        .write("directory/people.yaml", PEOPLE)
        .write("directory/resources.yaml", RESOURCES)
        .write("policies/workflows.yaml", "workflows: {}\n");
    let mut server = serve(&f);
    let pid_file = f.path().join("signoff.pid");
    eventually(&f, "the pid file is written", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t == format!("{}\n", server.child.id()))
    });
    let (status, body) = ask_for(&server, "vault");
    assert_eq!(status, 422, "no vault yet: {body}");

    // Act: add a resource and reload.
    f.write("directory/resources.yaml", WITH_VAULT);
    let run = signoff(f.path(), &["reload", "--config", "signoff.toml"], &[]);

    // Assert: the new resource is served.
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains(&format!("pid {}", server.child.id())), "{run:?}");
    eventually(&f, "the new resource is accepted", || ask_for(&server, "vault").0 == 201);
    eventually(&f, "the reload is counted", || {
        metric(&server, r#"signoff_catalog_reloads_total{what="files"}"#) == Some(1.0)
    });

    // Act: break the file and reload.
    f.write("directory/resources.yaml", BROKEN);
    let run = signoff(f.path(), &["reload", "--config", "signoff.toml"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");

    // Assert: the failure is counted, every problem is logged where it is, and the old catalog still serves.
    eventually(&f, "the failed reload is counted", || {
        metric(&server, r#"signoff_catalog_reload_failures_total{what="files"}"#) == Some(1.0)
    });
    let file = "directory/resources.yaml";
    let problems = [
        format!("{}: unknown workflow `NOPE`", position(file, BROKEN, "NOPE", 0)),
        format!("{}: unknown workflow `MANAGR`, did you mean `MANAGER`?", position(file, BROKEN, "MANAGR", 0)),
    ];
    // The same problems `signoff check` prints.
    let check = signoff(f.path(), &["check", "--config", "signoff.toml"], &[]);
    let check_problems: Vec<&str> = check.stderr.lines().filter(|l| l.starts_with(file)).collect();
    assert_eq!(check_problems, problems, "{check:?}");
    let log = log_text(&f);
    for problem in &problems {
        let logged = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["level"] == "ERROR" && v["message"] == problem.as_str());
        assert!(logged, "`{problem}` is logged at error level:\n{log}");
    }
    let (status, body) = ask_for(&server, "vault");
    assert_eq!(status, 201, "the running catalog still has vault: {body}");
    let (status, body) = ask_for(&server, "broken");
    assert_eq!(status, 422, "the broken file's new resource is not served: {body}");
    assert_eq!(metric(&server, r#"signoff_catalog_reloads_total{what="files"}"#), Some(1.0));

    // A fixed file reloads again.
    f.write("directory/resources.yaml", &BROKEN.replace("NOPE", "MANAGER").replace("MANAGR", "MANAGER"));
    assert_eq!(signoff(f.path(), &["reload", "--config", "signoff.toml"], &[]).code, Some(0));
    eventually(&f, "the fixed file is served", || ask_for(&server, "broken").0 == 201);

    // And a clean stop removes the pid file.
    let term = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill runs");
    assert!(term.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("waiting") {
            break s;
        }
        assert!(stopping.elapsed() < Duration::from_secs(40), "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", log_text(&f));
    assert!(!pid_file.exists(), "the pid file is removed on a clean stop");
}

#[test]
fn reload_without_a_pid_file_key_says_which_key_to_set() {
    let f = Fixture::valid();
    let run = signoff(f.path(), &["reload", "--config", "signoff.toml"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("error: signoff.toml: `[server] pid_file` is not set"),
        "the message names the config and the key: {}",
        run.stderr
    );
    assert!(run.stderr.contains("SIGNOFF_SERVER_PID_FILE"), "{}", run.stderr);
}

#[test]
fn reload_with_no_server_running_says_so() {
    // Arrange: the key is set (here from the environment), but no server wrote the file.
    let f = Fixture::valid();
    let env = [("SIGNOFF_SERVER_PID_FILE", "run.pid")];

    let run = signoff(f.path(), &["reload", "--config", "signoff.toml"], &env);

    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stderr, "error: run.pid: no pid file: is `signoff serve` running with this config?\n");
}

#[test]
fn reload_with_a_stale_pid_file_says_the_process_is_gone() {
    // A pid that names no process: a child that has exited and been waited for.
    let mut child = Command::new("true").spawn().expect("true runs");
    let pid = child.id();
    child.wait().expect("true exits");
    let f = Fixture::valid();
    f.write("signoff.toml", &format!("[server]\npid_file = \"signoff.pid\"\n{}", common::CONFIG))
        .write("signoff.pid", &format!("{pid}\n"));

    let run = signoff(f.path(), &["reload", "--config", "signoff.toml"], &[]);

    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: signoff.pid: process {pid} is not running; the pid file is stale (did `signoff serve` stop \
             uncleanly?)\n"
        )
    );
}
