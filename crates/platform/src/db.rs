//! The database seam: one pool type for both backends, migrations kept per dialect.
//!
//! Every service writes portable SQL (`$1` parameters, `ON CONFLICT`, `RETURNING`, integer
//! milliseconds for times, text for ids) against [`Db`]; the per-backend artefacts are the
//! migration trees, which own the dialect differences of DDL, and the placeholders of
//! statements built at run time with many values ([`Placeholders`]). SQLite is the embedded
//! default (WAL); a `postgres://` URL selects PostgreSQL.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, Error> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::UnsupportedUrl(url.to_string()))
        }
    }
}

/// Declares a service's `MIGRATIONS` from its `migrations/sqlite` and
/// `migrations/postgres` folders (embedded at compile time, relative to the crate).
#[macro_export]
macro_rules! migrations {
    () => {
        static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

        /// This service's migrations, one tree per dialect.
        pub const MIGRATIONS: $crate::db::Migrations = $crate::db::Migrations { sqlite: &SQLITE, postgres: &POSTGRES };
    };
}

/// Both dialects' migrations of one service.
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// An in-memory SQLite database ([`memory_url`]) lives only while a connection to it is
    /// open, so its connections are never reopened.
    in_memory: bool,
}

static DRIVERS: Once = Once::new();

/// How long a SQLite connection lives, so it reloads the planner's statistics.
pub const STATISTICS_LIFETIME: Duration = Duration::from_secs(600);

impl Db {
    /// Placeholders for a statement built at run time on this database ([`Placeholders`]).
    pub fn placeholders(&self) -> Placeholders {
        Placeholders::new(self.backend)
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// "database is locked" (SQLITE_BUSY, `busy_timeout` not applied) when another
    /// connection wrote in between; an immediate one waits its turn under `busy_timeout`.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the database answers a query within 5 s (readiness checks).
    pub async fn ping(&self) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(Duration::from_secs(5), query).await, Ok(Ok(_)))
    }

    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str, migrations: &Migrations) -> Result<Db, Error> {
        DRIVERS.call_once(install_default_drivers);
        let backend = Backend::of_url(url)?;
        let in_memory = url.contains("mode=memory");
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pool = match backend {
            Backend::Sqlite => {
                // A connection plans with the statistics it loaded when it opened; an
                // in-memory database keeps its connections, or it would vanish.
                let (lifetime, idle) = if in_memory { (None, None) } else { (Some(STATISTICS_LIFETIME), Some(STATISTICS_LIFETIME)) };
                options
                    .max_connections(4)
                    .max_lifetime(lifetime)
                    .idle_timeout(idle)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers run beside the single writer; the busy timeout
                            // makes concurrent writers wait instead of failing.
                            // A bounded ANALYZE keeps `PRAGMA optimize` cheap on big tables;
                            // on open it analyzes the tables that changed much (SQLite's advice).
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                 PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON; PRAGMA analysis_limit=1000; \
                                 PRAGMA optimize=0x10002;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        let migrator = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        migrator.run(&pool).await?;
        let db = Db { pool, backend, in_memory };
        db.optimize().await?;
        Ok(db)
    }

    /// Refreshes the statistics the query planner chooses indexes by: without them SQLite
    /// walks a whole table in key order to avoid a sort, even where an index would find
    /// the few rows a filter asks for. SQLite's `PRAGMA optimize=0x10002` analyzes the
    /// tables that changed much since the last run (sampling at most 1,000 rows of each
    /// index); as a SQLite connection keeps the statistics it opened with, idle ones are
    /// reopened at once and busy ones at [`STATISTICS_LIFETIME`]. PostgreSQL's `ANALYZE`
    /// samples every table. Every service calls it when it connects; the cloud, whose Graph
    /// filters a million rows, also every ten minutes.
    pub async fn optimize(&self) -> Result<(), Error> {
        match self.backend {
            Backend::Sqlite => {
                self.pool.execute("PRAGMA optimize=0x10002").await?;
                if self.in_memory {
                    return Ok(());
                }
                for _ in 0..self.pool.num_idle() {
                    if let Some(conn) = self.pool.try_acquire() {
                        drop(conn.detach());
                    }
                }
            }
            Backend::Postgres => {
                self.pool.execute("ANALYZE").await?;
            }
        }
        Ok(())
    }

    /// Gives the space of deleted rows back (`VACUUM`, `VACUUM FULL` on PostgreSQL), then answers the database's size
    /// in bytes: SQLite's pages (`page_count` × `page_size`), PostgreSQL's
    /// `pg_database_size`. For benchmarks of retention; it holds the database while it runs.
    pub async fn compact_and_measure(&self) -> Result<i64, Error> {
        use sqlx::Row;
        // PostgreSQL gives the space back to the system only with FULL.
        self.pool.execute(if self.backend == Backend::Postgres { "VACUUM FULL" } else { "VACUUM" }).await?;
        let size: i64 = match self.backend {
            Backend::Sqlite => {
                let pages: i64 = sqlx::query("PRAGMA page_count").fetch_one(&self.pool).await?.try_get(0)?;
                let page: i64 = sqlx::query("PRAGMA page_size").fetch_one(&self.pool).await?.try_get(0)?;
                pages * page
            }
            Backend::Postgres => sqlx::query("SELECT pg_database_size(current_database())").fetch_one(&self.pool).await?.try_get(0)?,
        };
        Ok(size)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Placeholders of a statement built at run time (multi-row `INSERT`s, `VALUES` lists):
/// `$1, $2, …` on PostgreSQL, anonymous `?` on SQLite, numbered in the order they are
/// asked for. Every placeholder of the statement must come from one `Placeholders`, in
/// the order the values are bound, and written in that order into the SQL.
///
/// Why not `$N` on SQLite: sqlx binds each SQLite parameter after asking SQLite its name,
/// and SQLite finds a name by walking the list of the statement's named parameters, so
/// binding a statement of P `$N` parameters takes O(P²) steps; anonymous parameters have
/// no names. With 500-row inserts of 7–8 columns this was 12 % of the CPU of
/// `bench delivery` (`sqlite3_bind_parameter_name`).
pub struct Placeholders {
    anonymous: bool,
    next: usize,
}

impl Placeholders {
    /// Numbering for a statement on `backend`, from 1.
    pub fn new(backend: Backend) -> Placeholders {
        Placeholders { anonymous: backend == Backend::Sqlite, next: 1 }
    }

    /// Numbering for a statement on `conn` (its backend decides the style), from 1.
    pub fn for_connection(conn: &sqlx::AnyConnection) -> Placeholders {
        let sqlite = conn.backend_name().eq_ignore_ascii_case("sqlite");
        Placeholders::new(if sqlite { Backend::Sqlite } else { Backend::Postgres })
    }

    /// The next placeholder.
    pub fn one(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        if self.anonymous { "?".into() } else { format!("${n}") }
    }

    /// The next `n` placeholders, comma-separated.
    pub fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.one()).collect::<Vec<_>>().join(", ")
    }
}

/// URL of a fresh in-memory SQLite database shared by the pool's connections, for tests
/// of a store on its own. It is gone once its last connection closes.
pub fn memory_url() -> String {
    format!("sqlite:file:memory-{}?mode=memory&cache=shared", uuid::Uuid::new_v4().simple())
}

/// URL of an embedded SQLite file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Creates a fresh, empty PostgreSQL database next to `server_url`'s and returns its URL.
/// Used by the test harness so each test owns its database.
pub async fn create_postgres_database(server_url: &str, name: &str) -> Result<String, Error> {
    DRIVERS.call_once(install_default_drivers);
    let admin = AnyPoolOptions::new().max_connections(1).connect(server_url).await?;
    admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await?;
    admin.close().await;
    let base = match server_url.rfind('/') {
        Some(i) if i > "postgres://".len() => &server_url[..i],
        _ => server_url,
    };
    Ok(format!("{base}/{name}"))
}

/// Drops a database made by [`create_postgres_database`] (its pools must be closed).
pub async fn drop_postgres_database(server_url: &str, name: &str) -> Result<(), Error> {
    DRIVERS.call_once(install_default_drivers);
    let admin = AnyPoolOptions::new().max_connections(1).connect(server_url).await?;
    admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await?;
    admin.close().await;
    Ok(())
}

/// A service node's hold on its SQLite file. SQLite serves one node of a service: a
/// second process on the same file would share its single writer, and on a network file
/// system could corrupt it, so it is refused; several nodes share a PostgreSQL database
/// (docs/operations.md). The hold is an exclusive lock of the operating system on
/// `<file>.node-lock`, given back when the node stops or its process dies.
#[derive(Debug)]
pub struct NodeLock {
    _file: std::fs::File,
}

impl NodeLock {
    /// Takes the hold for a SQLite `url` naming a file; PostgreSQL and in-memory
    /// databases need none (`None`). [`Error::Held`] when another node holds it.
    pub fn take(url: &str) -> Result<Option<NodeLock>, Error> {
        if Backend::of_url(url)? != Backend::Sqlite || url.contains("mode=memory") {
            return Ok(None);
        }
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        let path = PathBuf::from(format!("{}.node-lock", options.get_filename().display()));
        let io = |source| Error::Io { path: path.clone(), source };
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(NodeLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Held { path: options.get_filename().to_path_buf() }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::of_url("sqlite:///x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of_url("mysql://h/db").is_err());
    }

    /// A multi-row statement with anonymous SQLite placeholders binds its values in the
    /// order written, literals between them included.
    #[tokio::test]
    async fn sqlite_placeholders_bind_in_the_order_written() {
        DRIVERS.call_once(install_default_drivers);
        let pool = AnyPoolOptions::new().max_connections(1).connect(&memory_url()).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        conn.execute("CREATE TABLE t (a TEXT, b TEXT, c INTEGER)").await.unwrap();
        let mut p = Placeholders::for_connection(&conn);
        let rows: Vec<String> = (0..3).map(|_| format!("({}, 'fixed', {})", p.list(1), p.one())).collect();
        assert_eq!(rows[0], "(?, 'fixed', ?)");
        let sql = format!("INSERT INTO t (a, b, c) VALUES {}", rows.join(", "));
        let mut q = sqlx::query(&sql);
        for i in 0..3_i64 {
            q = q.bind(format!("row-{i}")).bind(i * 10);
        }
        q.execute(&mut *conn).await.unwrap();
        let read: Vec<(String, String, i64)> = sqlx::query_as("SELECT a, b, c FROM t ORDER BY c").fetch_all(&mut *conn).await.unwrap();
        assert_eq!(read[2], ("row-2".to_string(), "fixed".to_string(), 20));
        assert_eq!(read.len(), 3);
    }

    #[test]
    fn a_sqlite_file_is_held_by_one_node_at_a_time() {
        let dir = std::env::temp_dir().join(format!("node-lock-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = sqlite_url(&dir.join("connector.db"));
        let first = NodeLock::take(&url).unwrap().expect("a file is held");
        let refused = NodeLock::take(&url).unwrap_err().to_string();
        assert!(refused.contains("connector.db is in use by another node"), "{refused}");
        drop(first);
        assert!(NodeLock::take(&url).unwrap().is_some(), "given back when the node stops");
        assert!(NodeLock::take(&memory_url()).unwrap().is_none());
        assert!(NodeLock::take("postgres://u@h/db").unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
