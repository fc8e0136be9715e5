//! Rows written many at a time: one multi-row `INSERT` instead of one statement per row.
//!
//! Why: every statement is a round trip to the database (on SQLite, to sqlx's worker thread and back), and in
//! a committer batch that round trip, not the disk, is what limits decisions per second. Rows that nothing in
//! the same transaction reads back (outbox deliveries, the event log, audit entries) are buffered here and
//! written at the end of the batch, a few hundred per statement.
//!
//! Parameters are numbered (`$1, $2`) on PostgreSQL and anonymous (`?, ?`) on SQLite: sqlx binds each SQLite
//! parameter after asking SQLite its name, and SQLite finds a name by walking the statement's list of names, so
//! a statement with `n` numbered parameters costs `n²` steps to bind. At 244 rows of 10 columns that was most
//! of a batch's time (and why 512 callers committed fewer decisions per second than 64). Anonymous parameters
//! have no name to look up.

use sqlx::{Any, AnyConnection, Transaction};

/// How a statement names its parameters, which depends on the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// `$1, $2, ...` (PostgreSQL).
    Numbered,
    /// `?, ?, ...`, bound in the order they appear (SQLite). A statement must then use no numbered parameter.
    Anonymous,
}

impl Params {
    /// The style for `conn`'s database.
    pub fn of(conn: &AnyConnection) -> Params {
        if conn.backend_name() == "SQLite" { Params::Anonymous } else { Params::Numbered }
    }

    /// Appends parameter number `n` (counted from 1, in the order of appearance).
    pub fn push(self, sql: &mut String, n: usize) {
        match self {
            Params::Numbered => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            Params::Anonymous => sql.push('?'),
        }
    }

    /// Parameter number `n` alone.
    pub fn one(self, n: usize) -> String {
        let mut s = String::new();
        self.push(&mut s, n);
        s
    }

    /// `n` parameters numbered from `first`, separated by commas, for an `IN (...)` list.
    pub fn list(self, first: usize, n: usize) -> String {
        let mut s = String::with_capacity(n * 4);
        for i in first..first + n {
            if i > first {
                s.push_str(", ");
            }
            self.push(&mut s, i);
        }
        s
    }
}

/// One value to bind, in the types the schema uses (times are epoch milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// `TEXT`.
    Text(String),
    /// `TEXT`, nullable.
    OptText(Option<String>),
    /// `BIGINT`.
    Int(i64),
    /// `BIGINT`, nullable.
    OptInt(Option<i64>),
}

/// Buffered rows for one table, written by [`Inserts::flush`].
#[derive(Debug)]
pub struct Inserts {
    /// `INSERT INTO t (a, b, c)`.
    head: &'static str,
    /// What follows the `VALUES` list, such as `ON CONFLICT (key) DO NOTHING`; may be empty.
    tail: &'static str,
    columns: usize,
    rows: Vec<Vec<Val>>,
}

/// Bound parameters per statement at most. SQLite allows 32,766 and PostgreSQL 65,535; a smaller statement
/// keeps each one's parse and plan cheap.
const MAX_PARAMS: usize = 4_000;

impl Inserts {
    /// Rows for `head` (`INSERT INTO t (a, b)`) with `columns` columns, followed by `tail`.
    pub fn new(head: &'static str, columns: usize, tail: &'static str) -> Inserts {
        assert!(columns > 0 && columns <= MAX_PARAMS, "{head}: {columns} columns");
        Inserts { head, tail, columns, rows: Vec::new() }
    }

    /// Adds a row; it must have one value per column.
    pub fn push(&mut self, row: Vec<Val>) {
        assert_eq!(row.len(), self.columns, "{}: a row of {} values", self.head, row.len());
        self.rows.push(row);
    }

    /// How many rows wait.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row waits.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes every waiting row, in the order pushed, and empties the buffer.
    pub async fn flush(&mut self, tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
        let per_statement = (MAX_PARAMS / self.columns).max(1);
        let rows = std::mem::take(&mut self.rows);
        let style = Params::of(tx);
        for chunk in rows.chunks(per_statement) {
            let sql = self.statement(style, chunk.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in chunk.iter().flatten() {
                q = match v {
                    Val::Text(s) => q.bind(s.clone()),
                    Val::OptText(s) => q.bind(s.clone()),
                    Val::Int(i) => q.bind(*i),
                    Val::OptInt(i) => q.bind(*i),
                };
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// `head VALUES ($1, $2), ($3, $4) tail` for `rows` rows (or `(?, ?), (?, ?)`).
    fn statement(&self, style: Params, rows: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + self.tail.len() + rows * self.columns * 6 + 8);
        sql.push_str(self.head);
        sql.push_str(" VALUES ");
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..self.columns {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                style.push(&mut sql, n);
            }
            sql.push(')');
        }
        if !self.tail.is_empty() {
            sql.push(' ');
            sql.push_str(self.tail);
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_number_from_the_first_or_are_anonymous() {
        assert_eq!(Params::Numbered.list(1, 3), "$1, $2, $3");
        assert_eq!(Params::Numbered.list(2, 1), "$2");
        assert_eq!(Params::Numbered.list(1, 0), "");
        assert_eq!(Params::Anonymous.list(2, 3), "?, ?, ?");
        assert_eq!(Params::Numbered.one(7), "$7");
        assert_eq!(Params::Anonymous.one(7), "?");
    }

    #[test]
    fn the_statement_numbers_every_parameter_once_in_row_order() {
        let ins = Inserts::new("INSERT INTO t (a, b)", 2, "ON CONFLICT (a) DO NOTHING");
        let numbered = Params::Numbered;
        assert_eq!(ins.statement(numbered, 1), "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO NOTHING");
        assert_eq!(
            ins.statement(numbered, 3),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT (a) DO NOTHING"
        );
        let one = Inserts::new("INSERT INTO t (a)", 1, "");
        assert_eq!(one.statement(numbered, 2), "INSERT INTO t (a) VALUES ($1), ($2)");
        assert_eq!(one.statement(Params::Anonymous, 2), "INSERT INTO t (a) VALUES (?), (?)");
    }

    #[test]
    #[should_panic(expected = "a row of 1 values")]
    fn a_row_of_the_wrong_width_is_a_bug_caught_at_once() {
        Inserts::new("INSERT INTO t (a, b)", 2, "").push(vec![Val::Int(1)]);
    }

    #[tokio::test]
    async fn rows_beyond_one_statement_are_all_written_in_order() {
        sqlx::any::install_default_drivers();
        // One connection: each connection to `sqlite::memory:` is a database of its own.
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (seq BIGINT PRIMARY KEY, name TEXT, note TEXT, n BIGINT)")
            .execute(&pool)
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        let mut ins = Inserts::new("INSERT INTO t (seq, name, note, n)", 4, "ON CONFLICT (seq) DO NOTHING");
        let total = MAX_PARAMS / 4 * 2 + 7; // three statements
        for i in 0..total {
            let i = i64::try_from(i).unwrap();
            let note = (i % 2 == 0).then(|| format!("even {i}"));
            let n = (i % 3 == 0).then_some(i * 10);
            ins.push(vec![Val::Int(i), Val::Text(format!("row {i}")), Val::OptText(note), Val::OptInt(n)]);
        }
        // A repeated key is skipped by the tail, as the outbox relies on.
        ins.push(vec![Val::Int(0), Val::Text("again".into()), Val::OptText(None), Val::OptInt(None)]);
        assert_eq!(ins.len(), total + 1);
        ins.flush(&mut tx).await.unwrap();
        assert!(ins.is_empty());
        tx.commit().await.unwrap();

        let rows: Vec<(i64, String, Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT seq, name, note, n FROM t ORDER BY seq").fetch_all(&pool).await.unwrap();
        assert_eq!(rows.len(), total);
        assert_eq!(rows[0], (0, "row 0".to_owned(), Some("even 0".to_owned()), Some(0)));
        assert_eq!(rows[1], (1, "row 1".to_owned(), None, None));
        let last = i64::try_from(total - 1).unwrap();
        assert_eq!(rows[total - 1].0, last);
        assert_eq!(rows[total - 1].1, format!("row {last}"));
    }
}
