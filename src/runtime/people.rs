//! Keeps the catalog in step with the people provisioned through SCIM, on every replica (DESIGN 7.5).
//!
//! Every SCIM write bumps `people_revision` in its own transaction. Each replica polls that one row every
//! [`super::Tuning::people_poll`]; when it moved, the replica renders the stored people
//! ([`crate::people::render`]) onto the files it runs on (the base [`CatalogSource`] in [`Inner::base`], which
//! a reload of the files replaces), stores the new catalog's snapshot and swaps it in. A rebuild that fails (a
//! file entry naming a group SCIM removed, say) leaves the running catalog in place, logs every problem and
//! counts `signoff_catalog_reload_failures_total{what="people"}`; the next change tries again.
//!
//! [`rebuild`] is the one way a catalog is rebuilt while serving, for a SCIM change and for a reload of the
//! files ([`super::reload`]) alike: it holds [`Inner::base`] locked from reading the people to the swap, so two
//! rebuilds never interleave and the last one swapped in always has the newest files and the newest people.

use std::sync::Arc;

use super::{Inner, Runtime};
use crate::catalog::Catalog;
use crate::catalog::source::{CatalogSource, Snapshot};
use crate::diag::Diagnostics;
use crate::people::render::render;
use crate::people::store::{self, Table};

pub(super) async fn run(inner: Arc<Inner>) {
    let rt = Runtime { inner: inner.clone() };
    let mut stopping = inner.stopping.subscribe();
    let mut seen = None;
    // During a push (thousands of writes a minute) every poll sees a new revision; rebuilding at each would
    // spend a core on catalogs nobody reads before the next. So a rebuild follows the previous one by at least
    // [`BURST_GAP`] polls: a lone change is in use within one poll, a push's within a few.
    let mut last_rebuild: Option<std::time::Instant> = None;
    loop {
        let in_burst = last_rebuild.is_some_and(|t| t.elapsed() < inner.tuning.people_poll * BURST_GAP);
        match store::revision(&inner.store).await {
            Ok(rev) if Some(rev) != seen && in_burst => {}
            Ok(rev) if Some(rev) != seen => {
                // Revision 0: nothing was ever provisioned, and the catalog from the files is already in use.
                if rev > 0 || seen.is_some() {
                    last_rebuild = Some(std::time::Instant::now());
                    match rebuild(&rt, None).await {
                        Ok(Rebuilt::Swapped { catalog, users, groups }) => {
                            metrics::counter!("signoff_catalog_reloads_total", "what" => "people").increment(1);
                            tracing::info!(%catalog, users, groups, "directory updated from SCIM");
                        }
                        Ok(Rebuilt::NoBase) => {
                            tracing::debug!(
                                "the catalog was not loaded from files: provisioned people are not followed"
                            );
                        }
                        Ok(Rebuilt::Refused(diags)) => {
                            metrics::counter!("signoff_catalog_reload_failures_total", "what" => "people").increment(1);
                            for d in &diags.0 {
                                tracing::error!(
                                    problem = %d,
                                    "the provisioned people do not fit the catalog; keeping the running one"
                                );
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "reading the provisioned people failed; retrying");
                            tokio::select! {
                                _ = tokio::time::sleep(inner.tuning.people_poll) => {}
                                _ = super::stopped(&mut stopping) => break,
                            }
                            continue;
                        }
                    }
                }
                seen = Some(rev);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the people revision failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(inner.tuning.people_poll) => {}
            _ = super::stopped(&mut stopping) => break,
        }
    }
}

/// `catalog` with the people stored in the database, at start. A catalog not loaded from files (built in code)
/// is returned as it is; so is one the stored people do not fit (logged and counted, as at a refresh).
pub async fn with_stored_people(store: &crate::store::Store, catalog: Catalog) -> Result<Catalog, sqlx::Error> {
    if store::revision(store).await? == 0 {
        return Ok(catalog);
    }
    let Some(base) = base_source(&catalog) else { return Ok(catalog) };
    match build_with_people(store, &base).await?.catalog {
        Ok(c) => Ok(c),
        Err(diags) => {
            metrics::counter!("signoff_catalog_reload_failures_total", "what" => "people").increment(1);
            for d in &diags.0 {
                tracing::error!(problem = %d, "the provisioned people do not fit the catalog; starting without them");
            }
            Ok(catalog)
        }
    }
}

/// A catalog built from files and the stored people, and how many people went into it.
struct Built {
    catalog: Result<Catalog, Diagnostics>,
    users: usize,
    groups: usize,
}

/// Reads the stored people and builds `source` with them. Rendering and building a catalog of thousands of
/// people is a few hundred milliseconds of CPU: on a thread of its own at a lower priority, so that request
/// handlers and the committer keep the cores they need (decisions while an identity provider pushes:
/// BENCHMARKS.md). What had to be left out is logged. `Err` only for a database failure.
async fn build_with_people(store: &crate::store::Store, source: &CatalogSource) -> Result<Built, sqlx::Error> {
    let users = store::all(store, Table::Users).await?;
    let groups = store::all(store, Table::Groups).await?;
    let (n_users, n_groups) = (users.len(), groups.len());
    let source = source.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("signoff-catalog".to_owned()).spawn(move || {
        lower_priority();
        let rendered = render(&users, &groups);
        let people = (!users.is_empty() || !groups.is_empty()).then_some(rendered.text);
        let _ = tx.send((Catalog::with_people(&source, people), rendered.left_out));
    });
    if let Err(e) = spawned {
        return Err(sqlx::Error::Protocol(format!("starting the catalog build failed: {e}")));
    }
    let Ok((catalog, left_out)) = rx.await else {
        return Err(sqlx::Error::Protocol("the catalog build stopped without an answer".to_owned()));
    };
    for line in left_out.iter().take(20) {
        tracing::warn!(what = %line, "provisioned people: left out of the directory");
    }
    if left_out.len() > 20 {
        tracing::warn!(more = left_out.len() - 20, "provisioned people: more left out");
    }
    Ok(Built { catalog, users: n_users, groups: n_groups })
}

/// What [`rebuild`] did.
#[derive(Debug)]
pub(crate) enum Rebuilt {
    /// The new catalog is in use.
    Swapped {
        /// Its snapshot id.
        catalog: String,
        /// Provisioned users and groups rendered into it.
        users: usize,
        groups: usize,
    },
    /// The catalog in use was not built from files (no snapshot) and no new files were given: nothing to build.
    NoBase,
    /// The catalog does not build; the running one stays, and so does the base.
    Refused(Diagnostics),
}

/// Makes the calling thread yield the CPU to the others (Linux `nice` 10 for this thread alone). Best effort: where
/// it cannot, the build runs at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
    }
}

/// The fewest polls between two rebuilds (see [`run`]).
const BURST_GAP: u32 = 2;

/// The files, built-ins and settings a catalog was built from, without any provisioned people.
pub(super) fn base_source(catalog: &Catalog) -> Option<CatalogSource> {
    let snapshot = catalog.snapshot.as_deref()?;
    let mut source = Snapshot::read(snapshot.id(), snapshot.json()).ok()?;
    source.directory.retain(|f| f.name != crate::directory::PROVISIONED);
    Some(source)
}

/// Renders the stored people onto `files` (new files, from a reload) or else the base in use, builds that
/// catalog and puts it in use; with new files that built, they become the base the next SCIM change renders
/// onto. `Err` only for a database failure; a catalog that does not build is returned as
/// [`Rebuilt::Refused`], and the running catalog and the base stay as they were.
pub(crate) async fn rebuild(rt: &Runtime, files: Option<CatalogSource>) -> Result<Rebuilt, sqlx::Error> {
    let mut base = rt.inner.base.lock().await;
    let Some(source) = files.as_ref().or(base.as_ref()) else {
        return Ok(Rebuilt::NoBase);
    };
    let built = build_with_people(&rt.inner.store, source).await?;
    let catalog = match built.catalog {
        Ok(catalog) => catalog,
        Err(diags) => return Ok(Rebuilt::Refused(diags)),
    };
    let id = catalog.snapshot_id().unwrap_or("none").to_owned();
    rt.swap_catalog(Arc::new(catalog)).await?;
    if let Some(files) = files {
        *base = Some(files);
    }
    Ok(Rebuilt::Swapped { catalog: id, users: built.users, groups: built.groups })
}
