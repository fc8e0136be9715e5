//! Reloading the directory and policy files while serving (DESIGN 7.5): `signoff serve` calls
//! [`Runtime::reload_files`] on `SIGHUP`, which `signoff reload` sends.
//!
//! The files are read and checked exactly as at start ([`Catalog::load`]). When they are good, they become the
//! base the provisioned people are rendered onto ([`super::people::rebuild`]) and the new catalog is swapped in:
//! new requests use it at once. When anything is wrong, the running catalog stays, every problem is logged at
//! error level as `file:line:col: message`, and `signoff_catalog_reload_failures_total{what="files"}` counts
//! it; `signoff_catalog_reloads_total{what="files"}` counts the reloads that took.
//!
//! The config itself is not read again: the reload reads the files the config named at start, with the
//! `[policies]` settings of that config.

use super::Runtime;
use super::people::{Rebuilt, base_source, rebuild};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};

/// Why a reload of the files left the running catalog in place.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The files (or the files with the provisioned people) do not make a catalog: every problem.
    #[error("{0}")]
    Files(Diagnostics),
    /// Reading the provisioned people or storing the new catalog's snapshot failed.
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

impl Runtime {
    /// Reads the directory and policy files `config` names again and puts the catalog they make, with the
    /// provisioned people, in use. Returns the new catalog's snapshot id. On an error the running catalog stays;
    /// the error is logged (each problem on its own line) and counted in `/metrics` before it is returned.
    pub async fn reload_files(&self, config: &Config) -> Result<String, ReloadError> {
        let result = self.try_reload_files(config).await;
        match &result {
            Ok(catalog) => {
                metrics::counter!("signoff_catalog_reloads_total", "what" => "files").increment(1);
                tracing::info!(%catalog, "reloaded the directory and policy files");
            }
            Err(ReloadError::Files(diags)) => {
                metrics::counter!("signoff_catalog_reload_failures_total", "what" => "files").increment(1);
                for d in &diags.0 {
                    tracing::error!("{d}");
                }
                tracing::error!(
                    problems = diags.0.len(),
                    "the directory and policy files did not reload; the running catalog stays in use"
                );
            }
            Err(e @ ReloadError::Store(_)) => {
                metrics::counter!("signoff_catalog_reload_failures_total", "what" => "files").increment(1);
                tracing::error!(error = %e, "the directory and policy files did not reload; the running catalog stays in use");
            }
        }
        result
    }

    async fn try_reload_files(&self, config: &Config) -> Result<String, ReloadError> {
        let config = config.clone();
        // Reading and checking a large directory takes a while: not on the async workers.
        let loaded = tokio::task::spawn_blocking(move || Catalog::load(&config))
            .await
            .unwrap_or_else(|e| Err(Diagnostic::named("reload", format!("loading the files failed: {e}")).into()));
        let catalog = loaded.map_err(ReloadError::Files)?;
        let files = base_source(&catalog).ok_or_else(|| {
            ReloadError::Files(Diagnostic::named("reload", "the loaded catalog has no snapshot").into())
        })?;
        match rebuild(self, Some(files)).await? {
            Rebuilt::Swapped { catalog, .. } => Ok(catalog),
            Rebuilt::Refused(diags) => Err(ReloadError::Files(diags)),
            Rebuilt::NoBase => Ok("none".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::chat::Chat;
    use crate::people::Change;
    use crate::runtime::Tuning;
    use crate::store::Store;

    const PEOPLE: &str = "users:\n  - id: ana@example.com\n";
    const WIKI: &str = "resources:\n  - id: wiki\n    kind: app\n    workflow: AUTO_APPROVE\n";

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Provisions a user through the runtime, as the SCIM routes do, and waits until the catalog has them.
    async fn provision(rt: &Runtime, id: &str, user_name: &str) {
        let resource = serde_json::json!({ "userName": user_name, "active": true });
        let change = Change::PutUser {
            id: id.to_owned(),
            user_name: user_name.to_owned(),
            external_id: None,
            resource,
            expect_version: None,
        };
        rt.provision(change, None).await.unwrap();
        let started = Instant::now();
        while rt.catalog().directory.user(user_name).is_none() {
            assert!(started.elapsed() < Duration::from_secs(10), "{user_name} never reached the catalog");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn has_resource(rt: &Runtime, id: &str) -> bool {
        rt.catalog().directory.resource(id).is_some()
    }

    #[tokio::test]
    async fn a_reload_keeps_the_provisioned_people_and_later_scim_changes_build_on_the_reloaded_files() {
        // Arrange: a runtime on files, following SCIM changes quickly, with one provisioned user.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "directory/people.yaml", PEOPLE);
        write(dir.path(), "directory/resources.yaml", WIKI);
        write(dir.path(), "policies/workflows.yaml", "workflows: {}\n");
        let mut config = Config::default();
        config.directory.path = dir.path().join("directory");
        config.policies.path = Some(dir.path().join("policies"));
        let catalog = Catalog::load(&config).unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        crate::audit::save_catalog(&store, catalog.snapshot.as_ref().unwrap()).await.unwrap();
        let tuning = Tuning { people_poll: Duration::from_millis(20), ..Tuning::default() };
        let rt = Runtime::start(store, Arc::new(catalog), Chat::default(), None, tuning, None);
        provision(&rt, "u1", "zed@example.com").await;

        // Act: a new resource in the files, reloaded.
        write(dir.path(), "directory/resources.yaml", &format!("{WIKI}  - id: vault\n    kind: app\n"));
        let id = rt.reload_files(&config).await.unwrap();

        // Assert: the new files with the people; the next SCIM change renders onto the new files.
        assert_eq!(rt.catalog().snapshot_id(), Some(id.as_str()));
        assert!(has_resource(&rt, "vault") && rt.catalog().directory.user("zed@example.com").is_some());
        provision(&rt, "u2", "yan@example.com").await;
        assert!(has_resource(&rt, "vault"), "the SCIM refresh rebuilt from the reloaded files");

        // Act: a broken file, reloaded.
        let broken = format!("{WIKI}  - id: vault\n    kind: app\n  - id: broken\n    kind: app\n    workflow: NOPE\n");
        write(dir.path(), "directory/resources.yaml", &broken);
        let before = rt.catalog().snapshot_id().map(str::to_owned);
        let e = rt.reload_files(&config).await.unwrap_err();

        // Assert: every problem at its place; the running catalog and the base stay.
        let ReloadError::Files(diags) = e else { panic!("a file error, not {e}") };
        let problems: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
        let file = dir.path().join("directory/resources.yaml");
        assert_eq!(problems, [format!("{}:9:15: unknown workflow `NOPE`", file.display())]);
        assert_eq!(rt.catalog().snapshot_id().map(str::to_owned), before);
        provision(&rt, "u3", "xia@example.com").await;
        assert!(has_resource(&rt, "vault") && !has_resource(&rt, "broken"), "the base is the last good files");
        rt.shutdown().await;
    }
}
