//! Helpers shared by the black-box tests of the `signoff` binary: run it, capture what it printed, and build
//! a small config, directory and policies in a temporary folder.

// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

/// The binary under test, built by cargo for this test run.
pub const SIGNOFF: &str = env!("CARGO_BIN_EXE_signoff");

/// The repository root, where `examples/` lives.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of `signoff` printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if it was killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Run {
    /// Stdout split into lines.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Stderr split into lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Asserts a failed check: exit code 1, nothing on stdout, and exactly `problems` on stderr followed by the
    /// `N problem(s) found` line.
    pub fn assert_problems(&self, problems: &[&str]) {
        assert_eq!(self.code, Some(1), "exit code; stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert_eq!(self.stdout, "", "nothing on stdout when the check fails");
        let n = problems.len();
        let summary = format!("{n} problem{} found", if n == 1 { "" } else { "s" });
        let mut expected: Vec<&str> = problems.iter().flat_map(|p| p.lines()).collect();
        expected.push(&summary);
        assert_eq!(self.stderr_lines(), expected, "stderr:\n{}", self.stderr);
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `signoff args...` in `dir` with no `SIGNOFF_*` variable from the test's own environment, plus `env`.
/// Fails the test if signoff panicked, whatever the exit code.
pub fn signoff(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(SIGNOFF);
    cmd.args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SIGNOFF_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("RUST_BACKTRACE", "0").envs(env.iter().copied());
    let out = cmd.output().expect("the signoff binary runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(!run.stderr.contains("panicked"), "signoff panicked:\n{}", run.stderr);
    run
}

/// The config of [`Fixture::valid`].
pub const CONFIG: &str = r#"[directory]
path = "directory"

[policies]
path = "policies"
default = "MANAGER"
"#;

/// The people of [`Fixture::valid`].
pub const PEOPLE: &str = "\
source: okta
users:
  - id: ana@example.com
    name: Ana Diaz
    manager: raj@example.com
    grade: 5
  - id: raj@example.com
    name: Raj Patel
    grade: 8
";

/// The groups of [`Fixture::valid`].
pub const GROUPS: &str = "\
source: okta
groups:
  - id: admins
    name: Admins
    members: [raj@example.com]
    owners: [raj@example.com]
";

/// The resources of [`Fixture::valid`].
pub const RESOURCES: &str = "\
resources:
  - id: wiki
    kind: app
    admins: [admins]
    workflow: TWO_STEPS
    roles: [reader]
";

/// The workflows of [`Fixture::valid`].
pub const WORKFLOWS: &str = "\
workflows:
  TWO_STEPS:
    sequential_expression:
      expressions:
        - manager_expression: { timeout: 48h }
        - app_admin_expression: {}
";

/// A temporary folder holding a config and the files it names. Commands run inside it with
/// `--config signoff.toml`, so messages name files relative to it (`directory/people.yaml`).
pub struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// An empty folder.
    pub fn empty() -> Fixture {
        Fixture { dir: tempfile::tempdir().expect("a temporary folder") }
    }

    /// `signoff.toml` naming `directory/` (people, groups, resources) and `policies/` (one workflow), all
    /// valid: each test breaks one thing by overwriting one file.
    pub fn valid() -> Fixture {
        let f = Fixture::empty();
        f.write("signoff.toml", CONFIG)
            .write("directory/people.yaml", PEOPLE)
            .write("directory/groups.yaml", GROUPS)
            .write("directory/resources.yaml", RESOURCES)
            .write("policies/workflows.yaml", WORKFLOWS);
        f
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `rel` (relative to the folder), creating folders as needed.
    pub fn write(&self, rel: &str, text: &str) -> &Fixture {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(path.parent().expect("a file inside the folder")).expect("create the file's folder");
        fs::write(&path, text).expect("write the fixture file");
        self
    }

    /// Runs `signoff check --config signoff.toml` in the folder.
    pub fn check(&self) -> Run {
        self.check_with_env(&[])
    }

    /// Runs `signoff check --config signoff.toml` in the folder with extra environment variables.
    pub fn check_with_env(&self, env: &[(&str, &str)]) -> Run {
        signoff(self.path(), &["check", "--config", "signoff.toml"], env)
    }
}
