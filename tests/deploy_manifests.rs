//! The deployment files checked against the code they deploy: the `Dockerfile`, the kustomize base in
//! `manifests/kubernetes/` and `manifests/compose.yaml`.
//!
//! Nothing here trusts a constant copied from the code: the CMD and args are parsed by signoff's own command
//! line, every config the files carry passes `signoff check` with the environment the files give it, every
//! `SIGNOFF_*` variable they set is shown to change what signoff's config loader reads, and the probe paths are
//! asked of a real server started from the ConfigMap's config. Ports, labels and selectors are checked against
//! each other.
//!
//! When a Docker daemon answers, the last test builds the image and GETs `/healthz` from a container (a release
//! build: minutes); otherwise it says it is skipped and passes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use signoff::app::{Application, Options};
use signoff::cli::{Cli, Command as SignoffCommand};
use signoff::config::Config;

use common::{repo_root, signoff};

// ---------------------------------------------------------------------------------------------------------
// Reading the files

/// A repository file's text.
fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A YAML file of the repository as JSON values, parsed the way kubectl and docker compose read it.
fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

/// `value[key]` as a string, or a failure naming what was looked for.
fn str_at<'a>(value: &'a Value, pointer: &str, what: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{what}: no string at {pointer}"))
}

/// The string map at `pointer` (labels, selectors), empty when absent.
fn string_map(value: &Value, pointer: &str) -> BTreeMap<String, String> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

/// Whether every pair of `selector` is among `labels` (and the selector is not empty, which would select all).
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The value that follows `--config` (or `-c`, or `--config=`) in a command line.
fn config_flag(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" || a == "-c" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.to_owned());
        }
    }
    None
}

/// Asserts that `signoff <args>` is `signoff serve` with flags the real command line accepts.
fn assert_serve_command(args: &[String], what: &str) {
    let argv = std::iter::once("signoff".to_owned()).chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(cli) => {
            assert!(matches!(cli.command, SignoffCommand::Serve(_)), "{what}: `{}` is not `serve`", args.join(" "))
        }
        Err(e) => panic!("{what}: `signoff {}` is refused by signoff's command line:\n{e}", args.join(" ")),
    }
}

/// Copies a repository file or folder to `dest`, creating folders as needed.
fn copy_tree(src: &Path, dest: &Path) {
    if src.is_dir() {
        std::fs::create_dir_all(dest).expect("create a folder");
        for entry in std::fs::read_dir(src).expect("list a folder") {
            let entry = entry.expect("a folder entry");
            copy_tree(&entry.path(), &dest.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(dest.parent().expect("a parent folder")).expect("create a folder");
        std::fs::copy(src, dest).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    }
}

/// `root` joined with an absolute container path (`/etc/signoff` -> `root/etc/signoff`).
fn under(root: &Path, container_path: &str) -> PathBuf {
    root.join(container_path.trim_start_matches('/'))
}

/// Whether signoff's config loader reads `name`: setting it alone either changes the configuration or is
/// refused for its value, never ignored (a section that is not ours) nor refused as an unknown key.
fn config_reads(name: &str) -> bool {
    let unset = format!("{:?}", Config::default());
    match Config::from_env([(name.to_owned(), "x".to_owned())]) {
        Ok(config) => format!("{config:?}") != unset,
        Err(problems) => !problems.to_string().contains("unknown key"),
    }
}

/// Runs `signoff check --config <config>` with `env` (and no other `SIGNOFF_*` variable) and asserts it passes.
fn assert_check_passes(config: &Path, env: &BTreeMap<String, String>, what: &str) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let config = config.to_str().expect("a UTF-8 path");
    let run = signoff(Path::new(config).parent().expect("a folder"), &["check", "--config", config], &env);
    assert_eq!(run.code, Some(0), "{what}: `signoff check` fails:\n{}{}", run.stdout, run.stderr);
}

/// Loads a config file with `env`, as `signoff serve` would.
fn load_config(config: &Path, env: &BTreeMap<String, String>) -> Config {
    let text = std::fs::read_to_string(config).unwrap_or_else(|e| panic!("reading {}: {e}", config.display()));
    Config::from_toml(config, &text, env.clone()).unwrap_or_else(|d| panic!("{}:\n{d}", config.display()))
}

// ---------------------------------------------------------------------------------------------------------
// The Dockerfile

/// The instructions of a Dockerfile, continuation lines joined, comments dropped, in stages.
struct Dockerfile {
    /// `ARG` defaults given before the first `FROM`.
    global_args: BTreeMap<String, String>,
    /// Each stage: its `FROM` arguments and its instructions (upper-cased name, rest of the line).
    stages: Vec<(String, Vec<(String, String)>)>,
}

impl Dockerfile {
    fn parse(text: &str) -> Dockerfile {
        let mut lines = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(rest) => {
                    current.push_str(rest);
                    current.push(' ');
                }
                None => {
                    current.push_str(trimmed);
                    lines.push(std::mem::take(&mut current));
                }
            }
        }
        let mut file = Dockerfile { global_args: BTreeMap::new(), stages: Vec::new() };
        for line in lines {
            let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let (name, rest) = (name.to_ascii_uppercase(), rest.trim().to_owned());
            if name == "FROM" {
                file.stages.push((rest, Vec::new()));
            } else if let Some((_, stage)) = file.stages.last_mut() {
                stage.push((name, rest));
            } else if name == "ARG" {
                let (k, v) = rest.split_once('=').unwrap_or((&rest, ""));
                file.global_args.insert(k.to_owned(), v.to_owned());
            }
        }
        file
    }

    /// The final stage's instructions named `name`.
    fn last(&self, name: &str) -> Vec<&str> {
        let (_, stage) = self.stages.last().expect("at least one FROM");
        stage.iter().filter(|(n, _)| n == name).map(|(_, rest)| rest.as_str()).collect()
    }

    /// The final stage's single instruction `name`, whose argument is a JSON array (exec form).
    fn exec_form(&self, name: &str) -> Vec<String> {
        let all = self.last(name);
        assert_eq!(all.len(), 1, "the final stage has one {name}");
        serde_json::from_str(all[0]).unwrap_or_else(|e| panic!("{name} is not in exec form (a JSON array): {e}"))
    }

    /// The final stage's `COPY` lines from the build context (not `--from=`): (sources, destination).
    fn context_copies(&self) -> Vec<(Vec<String>, String)> {
        self.last("COPY")
            .into_iter()
            .filter(|rest| !rest.contains("--from="))
            .map(|rest| {
                let mut words: Vec<String> =
                    rest.split_whitespace().filter(|w| !w.starts_with("--")).map(String::from).collect();
                let dest = words.pop().expect("COPY has a destination");
                (words, dest)
            })
            .collect()
    }

    /// The port the final stage exposes (one).
    fn exposed_port(&self) -> u16 {
        let exposed = self.last("EXPOSE");
        assert_eq!(exposed.len(), 1, "one EXPOSE");
        exposed[0].trim_end_matches("/tcp").parse().expect("EXPOSE names a port number")
    }

    /// The numeric user and group of the final stage's `USER`.
    fn user(&self) -> (u32, Option<u32>) {
        let users = self.last("USER");
        let user = users.last().expect("the final stage sets USER");
        let (uid, gid) = user.split_once(':').map_or((*user, None), |(u, g)| (u, Some(g)));
        let uid =
            uid.parse().unwrap_or_else(|_| panic!("USER `{user}` is not numeric: runAsNonRoot cannot verify a name"));
        (uid, gid.map(|g| g.parse().expect("a numeric group")))
    }
}

fn dockerfile() -> Dockerfile {
    Dockerfile::parse(&read("Dockerfile"))
}

/// `1.95` as (1, 95).
fn version(text: &str) -> (u32, u32) {
    let mut parts = text.trim_matches('"').split('.').map(|p| p.parse::<u32>().expect("a version number"));
    (parts.next().expect("a major version"), parts.next().unwrap_or(0))
}

#[test]
fn the_dockerfile_builds_the_locked_release_binary_on_a_toolchain_the_crate_accepts() {
    let file = dockerfile();
    assert!(file.stages.len() >= 2, "a multi-stage build");
    let (builder_from, builder) = &file.stages[0];
    let image = builder_from.split_whitespace().next().expect("FROM names an image");
    let image = image.replace("${RUST_VERSION}", file.global_args.get("RUST_VERSION").map_or("", String::as_str));
    let tag =
        image.strip_prefix("rust:").unwrap_or_else(|| panic!("the builder is the official rust image, not {image}"));
    let manifest: toml::Table = read("Cargo.toml").parse().expect("Cargo.toml parses");
    let minimum = manifest["workspace"]["package"]["rust-version"].as_str().expect("rust-version");
    let toolchain = tag.split('-').next().expect("a version tag");
    assert!(version(toolchain) >= version(minimum), "rust:{tag} is older than rust-version {minimum}");
    assert!(
        builder.iter().any(|(n, rest)| n == "RUN" && rest.contains("cargo build --release --locked --bin signoff")),
        "the builder runs `cargo build --release --locked --bin signoff`"
    );
    assert!(
        builder.iter().any(|(n, rest)| n == "RUN" && rest.contains("cargo fetch") && rest.contains("type=cache")),
        "dependencies are fetched into a cache mount"
    );
    let ignore = read(".dockerignore");
    for needed in ["target/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == needed), ".dockerignore leaves out {needed}");
    }
}

#[test]
fn the_image_runs_signoff_serve_as_a_numeric_non_root_user_with_flags_the_cli_accepts() {
    let file = dockerfile();
    assert_eq!(file.exec_form("ENTRYPOINT"), ["signoff"]);
    assert!(
        file.last("COPY").iter().any(|c| c.contains("--from=") && c.ends_with(" /usr/local/bin/signoff")),
        "the binary is copied from the builder onto the PATH"
    );
    let cmd = file.exec_form("CMD");
    assert_serve_command(&cmd, "the Dockerfile's CMD");
    assert!(config_flag(&cmd).is_some(), "the CMD names its config file");
    let (uid, gid) = file.user();
    assert_ne!(uid, 0, "not root");
    assert_ne!(gid, Some(0), "not the root group");
    let volumes: Vec<String> = file
        .last("VOLUME")
        .iter()
        .flat_map(|v| serde_json::from_str::<Vec<String>>(v).expect("VOLUME in JSON form"))
        .collect();
    assert!(volumes.iter().any(|v| v == "/var/lib/signoff"), "a volume for SQLite: {volumes:?}");
}

#[test]
fn the_images_bundled_config_passes_check_and_listens_on_the_exposed_port_with_sqlite_in_the_volume() {
    // Arrange: the final stage's files from the build context, laid out as in the image.
    let file = dockerfile();
    let image = tempfile::tempdir().expect("a temporary folder");
    for (sources, dest) in file.context_copies() {
        assert_eq!(sources.len(), 1, "one source per COPY: {sources:?} -> {dest}");
        copy_tree(&repo_root().join(&sources[0]), &under(image.path(), &dest));
    }
    let config_path = config_flag(&file.exec_form("CMD")).expect("the CMD names its config");
    let config = under(image.path(), &config_path);
    assert!(config.is_file(), "the image has {config_path}");

    // Assert: signoff accepts it, and it serves what the image promises.
    assert_check_passes(&config, &BTreeMap::new(), "the image's config");
    let loaded = load_config(&config, &BTreeMap::new());
    assert_eq!(loaded.server.listen.port(), file.exposed_port(), "[server] listen is the EXPOSEd port");
    assert!(loaded.server.listen.ip().is_unspecified(), "a container must listen beyond its own loopback");
    let db = loaded.database.sqlite_path().expect("the image's default database is SQLite");
    assert!(db.starts_with("/var/lib/signoff"), "the SQLite file {} is in the volume", db.display());
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes

const K8S: &str = "manifests/kubernetes";

/// The kustomize base: its `resources` and every manifest in them, by kind.
struct Base {
    resources: Vec<String>,
    by_kind: BTreeMap<String, Value>,
}

fn base() -> Base {
    let kustomization = yaml(&format!("{K8S}/kustomization.yaml"));
    let resources: Vec<String> = kustomization["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_owned())
        .collect();
    let mut by_kind = BTreeMap::new();
    for r in &resources {
        let doc = yaml(&format!("{K8S}/{r}"));
        let kind = str_at(&doc, "/kind", r).to_owned();
        assert!(by_kind.insert(kind.clone(), doc).is_none(), "one {kind} in the base");
    }
    Base { resources, by_kind }
}

impl Base {
    fn get(&self, kind: &str) -> &Value {
        self.by_kind.get(kind).unwrap_or_else(|| panic!("the base has a {kind}"))
    }

    fn deployment(&self) -> &Value {
        self.get("Deployment")
    }

    /// The signoff container of the Deployment.
    fn container(&self) -> &Value {
        let containers = self.deployment().pointer("/spec/template/spec/containers").and_then(Value::as_array);
        let containers = containers.expect("the Deployment has containers");
        containers.iter().find(|c| c["name"] == "signoff").expect("a container named signoff")
    }

    /// The container's `http` port.
    fn container_port(&self) -> (String, u16) {
        let ports = self.container()["ports"].as_array().expect("the container declares its ports");
        assert_eq!(ports.len(), 1, "one container port");
        let name = ports[0]["name"].as_str().unwrap_or_default().to_owned();
        (name, ports[0]["containerPort"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("a port number"))
    }

    /// The container's arguments (the image's ENTRYPOINT `signoff` comes first).
    fn args(&self) -> Vec<String> {
        match self.container().get("args") {
            Some(args) => serde_json::from_value(args.clone()).expect("args are strings"),
            None => dockerfile().exec_form("CMD"),
        }
    }

    /// The container's environment: (name, value or secret reference).
    fn env(&self) -> Vec<(String, EnvValue)> {
        let env = self.container()["env"].as_array().cloned().unwrap_or_default();
        env.iter()
            .map(|e| {
                let name = str_at(e, "/name", "an env entry").to_owned();
                let value = if let Some(v) = e.get("value") {
                    EnvValue::Plain(v.as_str().expect("a string value").to_owned())
                } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                    EnvValue::Secret {
                        name: str_at(r, "/name", &name).to_owned(),
                        key: str_at(r, "/key", &name).to_owned(),
                        optional: r["optional"].as_bool().unwrap_or(false),
                    }
                } else {
                    panic!("{name}: only values and secretKeyRefs are expected")
                };
                (name, value)
            })
            .collect()
    }

    /// The ConfigMap's files laid out under `root` as the kubelet mounts them for the Deployment; returns the
    /// path of the config file the container's `--config` names.
    fn mount_config(&self, root: &Path) -> PathBuf {
        let configmap = self.get("ConfigMap");
        let cm_name = str_at(configmap, "/metadata/name", "the ConfigMap");
        let data = configmap["data"].as_object().expect("the ConfigMap has data");
        let volumes = self.deployment().pointer("/spec/template/spec/volumes").and_then(Value::as_array);
        let volume = volumes
            .expect("the Deployment has volumes")
            .iter()
            .find(|v| v.pointer("/configMap/name").and_then(Value::as_str) == Some(cm_name))
            .expect("a volume from the ConfigMap");
        let mounts = self.container()["volumeMounts"].as_array().expect("the container mounts volumes");
        let mount = mounts.iter().find(|m| m["name"] == volume["name"]).expect("the ConfigMap's volume is mounted");
        assert_eq!(mount["readOnly"], true, "the config is mounted read-only");
        let at = str_at(mount, "/mountPath", "the config mount");
        let items: Vec<(String, String)> = match volume.pointer("/configMap/items").and_then(Value::as_array) {
            Some(items) => items
                .iter()
                .map(|i| (str_at(i, "/key", "an item").to_owned(), str_at(i, "/path", "an item").to_owned()))
                .collect(),
            None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
        };
        for (key, path) in items {
            let text = data.get(&key).and_then(Value::as_str).unwrap_or_else(|| panic!("the ConfigMap has {key}"));
            let dest = under(root, at).join(path);
            std::fs::create_dir_all(dest.parent().expect("a folder")).expect("create a folder");
            std::fs::write(dest, text).expect("write a ConfigMap file");
        }
        let config = config_flag(&self.args()).expect("the container names its config");
        assert!(config.starts_with(&format!("{at}/")), "--config {config} is in the ConfigMap's mount {at}");
        under(root, &config)
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug)]
enum EnvValue {
    Plain(String),
    Secret { name: String, key: String, optional: bool },
}

/// The Secret example beside the base: (its name, its keys and values, its text).
fn secret_example() -> (String, BTreeMap<String, String>, String) {
    let rel = format!("{K8S}/secret.example.yaml");
    let doc = yaml(&rel);
    assert_eq!(doc["kind"], "Secret");
    let data = doc["stringData"].as_object().expect("the example uses stringData");
    let data = data.iter().map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned())).collect();
    (str_at(&doc, "/metadata/name", &rel).to_owned(), data, read(&rel))
}

/// The Deployment's environment as the kubelet would give it with the example Secret applied.
fn deployment_env(base: &Base) -> BTreeMap<String, String> {
    let (secret, data, _) = secret_example();
    let mut env = BTreeMap::new();
    for (name, value) in base.env() {
        match value {
            EnvValue::Plain(v) => {
                env.insert(name, v);
            }
            EnvValue::Secret { name: s, key, optional } => {
                assert_eq!(s, secret, "{name} reads the Secret the example defines");
                match data.get(&key) {
                    Some(v) => {
                        env.insert(name, v.clone());
                    }
                    None => assert!(optional, "{name}: key `{key}` is required but not in secret.example.yaml"),
                }
            }
        }
    }
    env
}

#[test]
fn the_base_applies_the_manifests_but_not_the_autoscaler_nor_the_secret_example() {
    let base = base();
    let kinds: BTreeSet<&str> = base.by_kind.keys().map(String::as_str).collect();
    assert_eq!(kinds, BTreeSet::from(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]));
    for optional in ["hpa.yaml", "secret.example.yaml"] {
        assert!(!base.resources.iter().any(|r| r == optional), "{optional} is not applied by default");
    }
    let hpa = yaml(&format!("{K8S}/hpa.yaml"));
    assert_eq!(hpa["kind"], "HorizontalPodAutoscaler");
    assert_eq!(hpa.pointer("/spec/scaleTargetRef/kind"), Some(&Value::from("Deployment")));
    assert_eq!(hpa.pointer("/spec/scaleTargetRef/name"), base.deployment().pointer("/metadata/name"));
    assert!(hpa.pointer("/spec/minReplicas").and_then(Value::as_u64) >= Some(3), "the autoscaler keeps three");
    let kustomization = yaml(&format!("{K8S}/kustomization.yaml"));
    let image = str_at(base.container(), "/image", "the container");
    let images = kustomization["images"].as_array().expect("the base sets the image");
    assert!(images.iter().any(|i| i["name"] == image), "kustomization.yaml's images name `{image}`");

    // kubectl's own kustomize, when it is installed, builds the base.
    match Command::new("kubectl").args(["kustomize"]).arg(repo_root().join(K8S)).output() {
        Ok(out) => assert!(out.status.success(), "kubectl kustomize fails:\n{}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => eprintln!("kubectl kustomize skipped: kubectl is not installed"),
    }
}

#[test]
fn the_deployment_runs_three_hardened_replicas_of_signoff_serve_on_the_configmaps_port() {
    let base = base();
    let deployment = base.deployment();
    assert_eq!(deployment.pointer("/spec/replicas"), Some(&Value::from(3)));
    assert_serve_command(&base.args(), "the container's args");

    // The container port is the port of [server] listen in the ConfigMap's config.
    let root = tempfile::tempdir().expect("a temporary folder");
    let config = load_config(&base.mount_config(root.path()), &BTreeMap::new());
    let (_, port) = base.container_port();
    assert_eq!(port, config.server.listen.port(), "containerPort is the port of [server] listen");
    assert!(config.server.listen.ip().is_unspecified(), "the pod listens beyond its loopback");
    assert_eq!(port, dockerfile().exposed_port(), "the image EXPOSEs the same port");

    // Non-root (the image's user), read-only, no capabilities, with requests and limits.
    let pod = deployment.pointer("/spec/template/spec/securityContext").expect("a pod securityContext");
    let container = base.container();
    let sc = &container["securityContext"];
    assert!(pod["runAsNonRoot"] == true || sc["runAsNonRoot"] == true, "runAsNonRoot");
    let (uid, _) = dockerfile().user();
    assert_eq!(pod["runAsUser"].as_u64(), Some(u64::from(uid)), "runAsUser is the image's USER");
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc.pointer("/capabilities/drop"), Some(&serde_json::json!(["ALL"])));
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container.pointer(&format!("/resources/{kind}/{resource}")).is_some(),
                "resources.{kind}.{resource}"
            );
        }
    }
}

#[test]
fn the_probes_check_healthz_and_readyz_on_the_container_port() {
    let base = base();
    let container = base.container();
    let (name, number) = base.container_port();
    assert_eq!(container.pointer("/livenessProbe/httpGet/path"), Some(&Value::from("/healthz")));
    assert_eq!(container.pointer("/readinessProbe/httpGet/path"), Some(&Value::from("/readyz")));
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let Some(port) = container.pointer(&format!("/{probe}/httpGet/port")) else { continue };
        assert!(port == &Value::from(name.as_str()) || port == &Value::from(number), "{probe} uses the container port");
    }
}

#[test]
fn the_service_and_the_disruption_budget_select_the_deployments_pods() {
    let base = base();
    let deployment = base.deployment();
    let labels = string_map(deployment, "/spec/template/metadata/labels");
    assert!(selects(&string_map(deployment, "/spec/selector/matchLabels"), &labels), "the Deployment selects its pods");
    let pdb = base.get("PodDisruptionBudget");
    assert!(selects(&string_map(pdb, "/spec/selector/matchLabels"), &labels), "the PDB selects the pods");
    let budget_keeps_two = pdb.pointer("/spec/minAvailable").and_then(Value::as_u64) >= Some(2)
        || pdb.pointer("/spec/maxUnavailable") == Some(&Value::from(1));
    assert!(budget_keeps_two, "the PDB keeps two of three replicas (minAvailable 2 or maxUnavailable 1)");

    let service = base.get("Service");
    assert!(selects(&string_map(service, "/spec/selector"), &labels), "the Service selects the pods");
    let (name, number) = base.container_port();
    let ports = service.pointer("/spec/ports").and_then(Value::as_array).expect("the Service has ports");
    for p in ports {
        let target = &p["targetPort"];
        assert!(
            target == &Value::from(name.as_str()) || target == &Value::from(number),
            "targetPort {target} is the container port"
        );
    }
}

#[test]
fn the_configmaps_config_passes_check_with_the_deployments_environment_and_uses_postgresql() {
    let base = base();
    let root = tempfile::tempdir().expect("a temporary folder");
    let config = base.mount_config(root.path());
    let env = deployment_env(&base);
    assert_check_passes(&config, &env, "the ConfigMap's config with the example Secret");
    let loaded = load_config(&config, &env);
    assert!(loaded.database.sqlite_path().is_none(), "several replicas share PostgreSQL, not SQLite");
    assert!(loaded.database.url.starts_with("postgres"), "the database is PostgreSQL");
}

#[test]
fn the_deployment_takes_only_variables_the_config_reads_from_the_secret_example() {
    // The test's own oracle tells a real variable from a misspelt section and a misspelt key.
    assert!(config_reads("SIGNOFF_DATABASE_URL"));
    assert!(!config_reads("SIGNOFF_DATABSE_URL"), "an unknown section is ignored by the code, so caught here");
    assert!(!config_reads("SIGNOFF_DATABASE_URI"));

    let base = base();
    let (_, data, text) = secret_example();
    let mut used_keys = BTreeSet::new();
    for (name, value) in base.env() {
        assert!(config_reads(&name), "the Deployment sets {name}, which signoff does not read");
        if let EnvValue::Secret { key, optional, .. } = value {
            // An optional key is shown in the example, commented out, so an operator knows it exists.
            assert!(
                data.contains_key(&key) || (optional && text.contains(&format!("# {key}:"))),
                "secret.example.yaml shows `{key}`"
            );
            used_keys.insert(key);
        }
    }
    for key in data.keys() {
        assert!(used_keys.contains(key), "secret.example.yaml's `{key}` is read by no variable of the Deployment");
    }
    assert!(used_keys.contains("database-url"), "the database URL comes from the Secret");
}

#[tokio::test]
async fn the_probe_paths_answer_200_from_a_server_started_with_the_configmaps_config() {
    // Arrange: the ConfigMap's config and files, on a free loopback port and a throwaway SQLite database (the
    // same variables an operator would use; the probes do not depend on the backend).
    let base = base();
    let root = tempfile::tempdir().expect("a temporary folder");
    let config_path = base.mount_config(root.path());
    let env = BTreeMap::from([
        ("SIGNOFF_SERVER_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("SIGNOFF_DATABASE_URL".to_owned(), format!("sqlite://{}", root.path().join("signoff.db").display())),
    ]);
    let config = load_config(&config_path, &env);
    let app =
        Application::build(&config, Options::default()).await.expect("signoff starts with the ConfigMap's config");
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    // Act and assert: every probe path of the Deployment answers 200.
    let container = base.container();
    let client = reqwest::Client::new();
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let Some(path) = container.pointer(&format!("/{probe}/httpGet/path")).and_then(Value::as_str) else { continue };
        let response = client.get(format!("http://{addr}{path}")).send().await.expect("the server answers");
        assert_eq!(response.status(), 200, "{probe} GET {path}");
    }
    let _ = stop.send(());
    server.await.expect("the server task").expect("the server drains and stops");
}

// ---------------------------------------------------------------------------------------------------------
// Compose

/// The compose file's services.
fn compose_services() -> serde_json::Map<String, Value> {
    yaml("manifests/compose.yaml")["services"].as_object().expect("compose.yaml has services").clone()
}

/// A service's `environment`, written as a map or as a list of `NAME=value`.
fn compose_env(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(map) => {
            map.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from))).collect()
        }
        Value::Array(list) => list
            .iter()
            .map(|e| {
                let e = e.as_str().expect("NAME=value");
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The signoff services: those built from the repository's Dockerfile.
fn signoff_services(services: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let manifests = repo_root().join("manifests");
    let found: Vec<_> = services
        .iter()
        .filter(|(_, s)| {
            let context = s["build"].as_str().or_else(|| s.pointer("/build/context").and_then(Value::as_str));
            context.is_some_and(|c| {
                manifests.join(c).join("Dockerfile").canonicalize().ok()
                    == repo_root().join("Dockerfile").canonicalize().ok()
            })
        })
        .collect();
    assert!(!found.is_empty(), "a service is built from the top-level Dockerfile");
    found
}

#[test]
fn compose_runs_three_replicas_on_postgresql_15_once_it_is_healthy() {
    let services = compose_services();
    let signoffs = signoff_services(&services);
    let replicas: u64 =
        signoffs.iter().map(|(_, s)| s.pointer("/deploy/replicas").and_then(Value::as_u64).unwrap_or(1)).sum();
    assert_eq!(replicas, 3, "three signoff replicas");

    let (pg_name, postgres) = services
        .iter()
        .find(|(_, s)| s["image"].as_str().is_some_and(|i| i.starts_with("postgres:")))
        .expect("a PostgreSQL service");
    let image = str_at(postgres, "/image", "postgres");
    assert!(image == "postgres:15" || image.starts_with("postgres:15."), "PostgreSQL 15, not {image}");
    assert!(postgres.pointer("/healthcheck/test").is_some(), "PostgreSQL has a healthcheck");
    let pg_env = compose_env(postgres);

    for (name, service) in signoffs {
        assert_eq!(
            service.pointer(&format!("/depends_on/{pg_name}/condition")),
            Some(&Value::from("service_healthy")),
            "{name} waits until PostgreSQL is healthy"
        );
        let env = compose_env(service);
        for var in env.keys().filter(|k| k.starts_with("SIGNOFF_")) {
            assert!(config_reads(var), "{name} sets {var}, which signoff does not read");
        }
        // The URL names the PostgreSQL service and the user, password and database it creates.
        let url = env.get("SIGNOFF_DATABASE_URL").unwrap_or_else(|| panic!("{name} sets SIGNOFF_DATABASE_URL"));
        let url = url::Url::parse(url).expect("a database URL");
        assert_eq!(url.scheme(), "postgres");
        assert_eq!(url.host_str(), Some(pg_name.as_str()), "the host is the PostgreSQL service");
        assert_eq!(Some(url.username()), pg_env.get("POSTGRES_USER").map(String::as_str));
        assert_eq!(url.password(), pg_env.get("POSTGRES_PASSWORD").map(String::as_str));
        assert_eq!(Some(url.path().trim_start_matches('/')), pg_env.get("POSTGRES_DB").map(String::as_str));
        if let Some(command) = service.get("command") {
            assert_serve_command(
                &serde_json::from_value::<Vec<String>>(command.clone()).expect("command in exec form"),
                name,
            );
        }
    }
}

#[test]
fn compose_replicas_pass_check_with_their_environment_and_publish_the_listen_port() {
    let services = compose_services();
    let cmd_config = config_flag(&dockerfile().exec_form("CMD")).expect("the CMD names its config");
    let (config_dir, config_file) = cmd_config.rsplit_once('/').expect("an absolute path");
    for (name, service) in signoff_services(&services) {
        // The folder mounted where the image reads its config, as a path in the repository.
        let volumes = service["volumes"].as_array().expect("a config folder is mounted");
        let source = volumes
            .iter()
            .filter_map(Value::as_str)
            .find_map(|v| {
                let mut parts = v.split(':');
                let (source, target) = (parts.next()?, parts.next()?);
                (target == config_dir).then(|| repo_root().join("manifests").join(source))
            })
            .unwrap_or_else(|| panic!("{name} mounts a folder at {config_dir}"));
        let config = source.join(config_file);
        let env = compose_env(service);
        assert_check_passes(&config, &env, name);
        let loaded = load_config(&config, &env);
        assert!(loaded.database.sqlite_path().is_none(), "{name} shares PostgreSQL");
        assert!(loaded.server.listen.ip().is_unspecified(), "{name} listens beyond the container's loopback");
        let ports = service["ports"].as_array().expect("published ports");
        for p in ports {
            // `[IP:]HOST[-HOST]:CONTAINER`
            let p = p.as_str().expect("a short-form port mapping");
            let (published, container) = p.rsplit_once(':').expect("HOST:CONTAINER");
            let container: u16 = container.parse().expect("a container port");
            assert_eq!(container, loaded.server.listen.port(), "{name} publishes the port it listens on");
            let host = published.rsplit(':').next().expect("host ports");
            let (first, last) = host.split_once('-').unwrap_or((host, host));
            let count = last.parse::<u16>().expect("a port") - first.parse::<u16>().expect("a port") + 1;
            let replicas = service.pointer("/deploy/replicas").and_then(Value::as_u64).unwrap_or(1);
            assert_eq!(u64::from(count), replicas, "{name}: one host port per replica");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The image itself

/// The status of `GET path` on `addr` (`host:port`) over one HTTP/1.1 connection, `None` if there is no answer.
fn get_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// `docker args...`, or `None` when docker is not installed.
fn docker(args: &[&str]) -> Option<std::process::Output> {
    Command::new("docker").args(args).output().ok()
}

#[test]
fn the_image_builds_and_answers_healthz() {
    match docker(&["info", "--format", "{{.ServerVersion}}"]) {
        None => {
            eprintln!("docker image test skipped: the docker binary is not installed");
            return;
        }
        Some(out) if !out.status.success() => {
            eprintln!("docker image test skipped: no Docker daemon answers (`docker info` failed)");
            return;
        }
        Some(_) => {}
    }
    let tag = format!("signoff-deploy-test:{:08x}", rand::random::<u32>());
    let root = repo_root().to_str().expect("a UTF-8 path");
    let build = docker(&["build", "-t", &tag, root]).expect("docker runs");
    assert!(build.status.success(), "docker build fails:\n{}", String::from_utf8_lossy(&build.stderr));
    let run = docker(&["run", "-d", "--rm", "-p", "127.0.0.1::8080", &tag]).expect("docker runs");
    assert!(run.status.success(), "docker run fails:\n{}", String::from_utf8_lossy(&run.stderr));
    let id = String::from_utf8_lossy(&run.stdout).trim().to_owned();
    let result = std::panic::catch_unwind(|| {
        let port = docker(&["port", &id, "8080/tcp"]).expect("docker runs");
        let mapped = String::from_utf8_lossy(&port.stdout);
        let addr = mapped.lines().next().unwrap_or_else(|| panic!("no published port: {mapped}")).trim().to_owned();
        let started = Instant::now();
        loop {
            let status = get_status(&addr, "/healthz");
            if status == Some(200) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the container answers /healthz within 60 s ({status:?})"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let _ = docker(&["rm", "-f", &id]);
    let _ = docker(&["rmi", &tag]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
