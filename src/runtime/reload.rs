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
