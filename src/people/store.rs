//! The provisioned people's rows: written by the committer ([`apply`]), read by the SCIM API and the refresher.

use serde_json::{Value, json};
use sqlx::{Any, Row, Transaction};

use super::{Change, ChangeError, Stored};
use crate::store::{Store, ms};
use crate::time::Timestamp;

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `scim_users`.
    Users,
    /// `scim_groups`.
    Groups,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "scim_users",
            Table::Groups => "scim_groups",
        }
    }

    /// The SCIM resource type's name, for errors.
    pub fn kind(self) -> &'static str {
        match self {
            Table::Users => "User",
            Table::Groups => "Group",
        }
    }
}

/// Applies one change in the committer's transaction. On success returns the detail of its audit row (what
/// changed, never the whole resource: the audit trail is read by more people than the directory).
/// A [`ChangeError`] means nothing was written.
pub(crate) async fn apply(
    tx: &mut Transaction<'static, Any>,
    change: &Change,
    at: Timestamp,
) -> Result<Result<(&'static str, Value), ChangeError>, sqlx::Error> {
    let now = ms(at);
    match change {
        Change::PutUser { id, user_name, external_id, resource, expect_version } => {
            let key = user_name.to_lowercase();
            let taken = || ChangeError::Taken(format!("userName `{user_name}` is already taken"));
            let text = resource.to_string();
            let kind = match expect_version {
                None => {
                    // The unique `user_key` decides, in one statement: a create is the write a push repeats
                    // ten thousand times.
                    let done = sqlx::query(
                        "INSERT INTO scim_users (id, user_key, external_id, resource, version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 1, $5, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(id.clone())
                    .bind(key)
                    .bind(external_id.clone())
                    .bind(text)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(Err(taken()));
                    }
                    "scim.user.created"
                }
                Some(v) => {
                    // An update may rename: the new name must be free (a unique violation would fail the batch).
                    let holder: Option<String> = sqlx::query("SELECT id FROM scim_users WHERE user_key = $1")
                        .bind(key.clone())
                        .fetch_optional(&mut **tx)
                        .await?
                        .map(|r| r.try_get("id"))
                        .transpose()?;
                    if holder.as_deref().is_some_and(|h| h != id) {
                        return Ok(Err(taken()));
                    }
                    let done = sqlx::query(
                        "UPDATE scim_users SET user_key = $1, external_id = $2, resource = $3, version = version + 1, \
                         updated_at = $4 WHERE id = $5 AND version = $6",
                    )
                    .bind(key)
                    .bind(external_id.clone())
                    .bind(text)
                    .bind(now)
                    .bind(id.clone())
                    .bind(*v)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(Err(missing_or_stale(tx, Table::Users, id).await?));
                    }
                    "scim.user.updated"
                }
            };
            Ok(Ok((kind, user_summary(id, user_name, resource))))
        }
        Change::PutGroup { id, directory_id, display_name, external_id, resource, expect_version } => {
            let holder: Option<String> = sqlx::query("SELECT id FROM scim_groups WHERE group_key = $1")
                .bind(directory_id.clone())
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("id"))
                .transpose()?;
            if holder.as_deref().is_some_and(|h| h != id) || (expect_version.is_none() && holder.is_some()) {
                return Ok(Err(ChangeError::Taken(format!("a group `{directory_id}` already exists"))));
            }
            let text = resource.to_string();
            let kind = match expect_version {
                None => {
                    sqlx::query(
                        "INSERT INTO scim_groups (id, group_key, display_key, external_id, resource, version, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
                    )
                    .bind(id.clone())
                    .bind(directory_id.clone())
                    .bind(display_name.to_lowercase())
                    .bind(external_id.clone())
                    .bind(text)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    "scim.group.created"
                }
                Some(v) => {
                    let done = sqlx::query(
                        "UPDATE scim_groups SET group_key = $1, display_key = $2, external_id = $3, resource = $4, \
                         version = version + 1, updated_at = $5 WHERE id = $6 AND version = $7",
                    )
                    .bind(directory_id.clone())
                    .bind(display_name.to_lowercase())
                    .bind(external_id.clone())
                    .bind(text)
                    .bind(now)
                    .bind(id.clone())
                    .bind(*v)
                    .execute(&mut **tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(Err(missing_or_stale(tx, Table::Groups, id).await?));
                    }
                    "scim.group.updated"
                }
            };
            let members = resource.get("members").and_then(Value::as_array).map_or(0, Vec::len);
            Ok(Ok((kind, json!({ "scim_id": id, "group": directory_id, "members": members }))))
        }
        Change::DeleteUser { id } | Change::DeleteGroup { id } => {
            let table = if matches!(change, Change::DeleteUser { .. }) { Table::Users } else { Table::Groups };
            let done = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {} WHERE id = $1", table.name())))
                .bind(id.clone())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(Err(ChangeError::NotFound { kind: table.kind(), id: id.clone() }));
            }
            let kind = if table == Table::Users { "scim.user.deleted" } else { "scim.group.deleted" };
            Ok(Ok((kind, json!({ "scim_id": id }))))
        }
    }
}

/// What the audit row of a user write says: who, and the attributes that route approvals.
fn user_summary(id: &str, user_name: &str, resource: &Value) -> Value {
    let enterprise = resource.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    json!({
        "scim_id": id,
        "user": user_name,
        "active": resource.get("active").cloned().unwrap_or(Value::Null),
        "manager": enterprise.and_then(|e| e.get("manager")).and_then(|m| m.get("value")).cloned().unwrap_or(Value::Null),
    })
}

/// After an update matched no row: was the resource gone, or changed meanwhile?
async fn missing_or_stale(
    tx: &mut Transaction<'static, Any>,
    table: Table,
    id: &str,
) -> Result<ChangeError, sqlx::Error> {
    let exists = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT 1 FROM {} WHERE id = $1", table.name())))
        .bind(id.to_owned())
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    Ok(if exists { ChangeError::Stale } else { ChangeError::NotFound { kind: table.kind(), id: id.to_owned() } })
}

/// Tells every replica that the people changed: once per commit that changed any (the committer calls it).
pub(crate) async fn bump(tx: &mut Transaction<'static, Any>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE people_revision SET revision = revision + 1 WHERE id = 1").execute(&mut **tx).await?;
    Ok(())
}

/// The current revision of the provisioned people.
pub async fn revision(store: &Store) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT revision FROM people_revision WHERE id = 1").fetch_one(store.reader()).await?.try_get(0)
}

fn stored(r: &sqlx::any::AnyRow) -> Result<Stored, sqlx::Error> {
    let text: String = r.try_get("resource")?;
    Ok(Stored {
        id: r.try_get("id")?,
        resource: serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, resource, version, created_at, updated_at";

/// One resource by SCIM id.
pub async fn get(store: &Store, table: Table, id: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM {} WHERE id = $1", table.name())))
        .bind(id.to_owned())
        .fetch_optional(store.reader())
        .await?
        .map(|r| stored(&r))
        .transpose()
}

/// The resources whose indexed column equals `value`: the quick answer to `filter=userName eq "..."`, which
/// Okta sends before every create, and to `externalId`/`displayName` probes.
pub async fn find(store: &Store, table: Table, by: Lookup, value: &str) -> Result<Vec<Stored>, sqlx::Error> {
    let (column, value) = match (table, by) {
        (Table::Users, Lookup::Name) => ("user_key", value.to_lowercase()),
        (Table::Groups, Lookup::Name) => ("display_key", value.to_lowercase()),
        (_, Lookup::External) => ("external_id", value.to_owned()),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {} WHERE {column} = $1 ORDER BY id",
        table.name()
    )))
    .bind(value)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(stored).collect()
}

/// Which indexed attribute [`find`] looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `userName` for users, `displayName` for groups (both without regard to case).
    Name,
    /// `externalId` (exact).
    External,
}

/// Every resource of a kind, in id order.
pub async fn all(store: &Store, table: Table) -> Result<Vec<Stored>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM {} ORDER BY id", table.name())))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(stored).collect()
}
