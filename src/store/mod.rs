//! Durable storage: SQLite (embedded, the default) or PostgreSQL (several replicas), through one set of
//! runtime queries on `sqlx::AnyPool`.
//!
//! Two pools: a writer and a reader. On SQLite the writer has exactly one connection, so writes never race
//! for the file lock (no `SQLITE_BUSY` from upgrading a read transaction) and the committer's batches are
//! the only write transactions; readers use WAL snapshots and never block it. On PostgreSQL both pools are
//! ordinary pools, and rows are locked (`FOR UPDATE`, `SKIP LOCKED`) so replicas can share the database.

pub mod rows;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

/// Which database the URL named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one process.
    Sqlite,
    /// A server shared by replicas.
    Postgres,
}

/// Problems opening or migrating the database. Messages never contain the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite://` nor `postgres://`.
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// The SQLite file's folder could not be created.
    #[error("cannot create the folder for the database file {path}: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Readers on SQLite: WAL lets them run beside the writer.
///
/// Page caches stay at SQLite's default (2 MiB per connection). Larger ones measured slower: a reader empties
/// its whole cache each time it starts reading after a commit, and a 32 MiB writer cache gave 3,800 to 4,500
/// decisions/s at 64 callers against 4,800 to 5,000 with the default, three runs each (BENCHMARKS.md).
const SQLITE_READERS: u32 = 4;
/// Connections per pool on PostgreSQL.
const POSTGRES_CONNECTIONS: u32 = 16;

/// The database.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
    /// The SQLite URL as opened (never a PostgreSQL URL, which may hold a password), for readers that need
    /// SQLite's own driver ([`Store::sqlite_url`]).
    sqlite_url: Option<String>,
}

impl Store {
    /// Opens the database named by `url` (creating a SQLite file and its folder if missing) without
    /// migrating it.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        if let Some(path) = sqlite_path(url) {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
            }
            let original = url.to_owned();
            let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
            let opts = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL: readers never block the writer. FULL: a commit survives power loss.
                            // busy_timeout: only a safety net, since one connection writes.
                            conn.execute(sqlx::raw_sql(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            ))
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts.clone())
            };
            let write = pool(1).await.map_err(StoreError::Connect)?;
            let read = pool(SQLITE_READERS).await.map_err(StoreError::Connect)?;
            Ok(Store { backend: Backend::Sqlite, write, read, sqlite_url: Some(original) })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = AnyConnectOptions::from_str(url).map_err(StoreError::Connect)?;
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts.clone())
            };
            let write = pool(POSTGRES_CONNECTIONS).await.map_err(StoreError::Connect)?;
            let read = pool(POSTGRES_CONNECTIONS).await.map_err(StoreError::Connect)?;
            Ok(Store { backend: Backend::Postgres, write, read, sqlite_url: None })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Opens and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// The migrations this build carries for this backend.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        }
    }

    /// Applies the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrator().run(&self.write).await?;
        Ok(())
    }

    /// Whether the database answers and every migration of this build is applied (for `/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        // `success` is false for a migration that failed half-way (PostgreSQL runs each in a transaction, so
        // that only happens with no-transaction migrations); such a schema is not ready either.
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.read)
            .await
            .map_err(|e| format!("database unreachable or not migrated: {e}"))?;
        let missing = self.migrator().iter().filter(|m| !applied.contains(&m.version)).count();
        if missing > 0 {
            return Err(format!("{missing} migration(s) not applied: run `signoff migrate`"));
        }
        Ok(())
    }

    /// On SQLite, frees every outbox and timer lease. One process owns an SQLite file, so any lease still
    /// held at start belongs to a process that died: without this, its claimed deliveries and timers would
    /// wait out the lease (a minute) before anyone takes them again. Not for PostgreSQL, whose other
    /// replicas may be alive and holding their leases.
    pub async fn release_dead_leases(&self) -> Result<u64, sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let outbox = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE done_at IS NULL AND lease_owner IS NOT NULL",
        )
        .execute(&self.write)
        .await?
        .rows_affected();
        let timers =
            sqlx::query("UPDATE timers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
                .execute(&self.write)
                .await?
                .rows_affected();
        Ok(outbox + timers)
    }

    /// The SQLite database's URL, `None` on PostgreSQL. `signoff audit verify` reads millions of rows through
    /// SQLite's own driver: through `Any`, each row is converted and copied once more on its way.
    pub fn sqlite_url(&self) -> Option<&str> {
        self.sqlite_url.as_deref()
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads (views, lists, the audit trail).
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for writes outside a transaction.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`).
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    /// `FOR UPDATE` on PostgreSQL, nothing on SQLite (one writer holds the whole file).
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// `FOR UPDATE SKIP LOCKED` on PostgreSQL (claiming work that another replica may be claiming).
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// The file path of a `sqlite://` URL (`sqlite://signoff.db`, `sqlite:///abs/path.db`, `sqlite:rel.db`).
pub fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    (!rest.is_empty() && rest != ":memory:").then(|| Path::new(rest))
}

/// Milliseconds since the epoch, as stored.
pub fn ms(t: crate::time::Timestamp) -> i64 {
    t.as_millisecond()
}

/// The instant of a stored millisecond count.
pub fn from_ms(v: i64) -> crate::time::Timestamp {
    crate::time::Timestamp::from_millisecond(v).unwrap_or(crate::time::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://signoff.db"), Some(Path::new("signoff.db")));
        assert_eq!(sqlite_path("sqlite:///var/lib/signoff.db?mode=rwc"), Some(Path::new("/var/lib/signoff.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[tokio::test]
    async fn a_missing_sqlite_file_and_folder_are_created_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/signoff.db");
        let store = Store::open(&format!("sqlite://{}", path.display())).await.unwrap();
        assert!(path.exists());
        store.ready().await.unwrap();
        let head: i64 =
            sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1").fetch_one(store.reader()).await.unwrap();
        assert_eq!(head, 0);
        // Migrating again is a no-op.
        store.migrate().await.unwrap();
    }
}
