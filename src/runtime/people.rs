//! Keeps the catalog in step with the people provisioned through SCIM, on every replica (DESIGN 7.5).
//!
//! Every SCIM write bumps `people_revision` in its own transaction. Each replica polls that one row every
//! [`super::Tuning::people_poll`]; when it moved, the replica renders the stored people
//! ([`crate::people::render`]), rebuilds the catalog from the files it started with plus that document, stores
//! the new catalog's snapshot and swaps it in. A rebuild that fails (a file entry naming a group SCIM removed,
//! say) leaves the running catalog in place, logs every problem and counts
//! `signoff_catalog_reload_failures_total`; the next change tries again.

use std::sync::Arc;

use super::{Inner, Runtime};
use crate::catalog::Catalog;
use crate::catalog::source::{CatalogSource, Snapshot};
use crate::people::render::render;
use crate::people::store::{self, Table};

pub(super) async fn run(inner: Arc<Inner>) {
    let Some(mut base) = base_source(&inner.catalog.load()) else {
        tracing::debug!("the catalog was not loaded from files: provisioned people are not followed");
        return;
    };
    let rt = Runtime { inner: inner.clone() };
    let mut stopping = inner.stopping.subscribe();
    let mut seen = None;
    loop {
        match store::revision(&inner.store).await {
            Ok(rev) if Some(rev) != seen => {
                // Revision 0: nothing was ever provisioned, and the catalog from the files is already in use.
                if (rev > 0 || seen.is_some())
                    && let Err(e) = refresh(&rt, &mut base).await
                {
                    tracing::warn!(error = %e, "reading the provisioned people failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(inner.tuning.people_poll) => {}
                        _ = super::stopped(&mut stopping) => break,
                    }
                    continue;
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
    let users = store::all(store, Table::Users).await?;
    let groups = store::all(store, Table::Groups).await?;
    let rendered = render(&users, &groups);
    let people = (!users.is_empty() || !groups.is_empty()).then_some(rendered.text);
    match Catalog::with_people(&base, people) {
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

/// The files, built-ins and settings a catalog was built from, without any provisioned people.
fn base_source(catalog: &Catalog) -> Option<CatalogSource> {
    let snapshot = catalog.snapshot.as_deref()?;
    let mut source = Snapshot::read(snapshot.id(), snapshot.json()).ok()?;
    source.directory.retain(|f| f.name != crate::directory::PROVISIONED);
    Some(source)
}

/// Renders the stored people onto `base` and puts the result in use. `Err` only for a database failure; a
/// catalog that does not build is logged and counted, and the running one stays.
async fn refresh(rt: &Runtime, base: &mut CatalogSource) -> Result<(), sqlx::Error> {
    let store = &rt.inner.store;
    let users = store::all(store, Table::Users).await?;
    let groups = store::all(store, Table::Groups).await?;
    let rendered = render(&users, &groups);
    for line in rendered.left_out.iter().take(20) {
        tracing::warn!(what = %line, "provisioned people: left out of the directory");
    }
    if rendered.left_out.len() > 20 {
        tracing::warn!(more = rendered.left_out.len() - 20, "provisioned people: more left out");
    }
    let people = (!users.is_empty() || !groups.is_empty()).then_some(rendered.text);
    match Catalog::with_people(base, people) {
        Ok(catalog) => {
            let id = catalog.snapshot_id().unwrap_or("none").to_owned();
            rt.swap_catalog(Arc::new(catalog)).await?;
            tracing::info!(catalog = %id, users = users.len(), groups = groups.len(), "directory updated from SCIM");
        }
        Err(diags) => {
            metrics::counter!("signoff_catalog_reload_failures_total", "what" => "people").increment(1);
            for d in &diags.0 {
                tracing::error!(problem = %d, "the provisioned people do not fit the catalog; keeping the running one");
            }
        }
    }
    Ok(())
}
