//! The `idempotency_keys` table: one row per caller and key, reserved by
//! the first request (`INSERT … ON CONFLICT DO UPDATE … WHERE the row's
//! window ended`, so the database decides who is first, across every
//! instance), then holding its sealed answer until the window ends.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};
use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;
use uuid::Uuid;

use crate::db;

/// A reservation and, once the request is answered, its answer.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        /// Whose key: `account:<id>` from the token, or `anonymous`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        /// SHA-256 of the key, hex.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_hash: String,
        /// Which reservation holds the row (a new one after the window).
        pub reservation_id: Uuid,
        pub method: String,
        pub path: String,
        /// HMAC of method, path and body under the key's secret, hex.
        pub request_hash: String,
        /// The answer's status; `None` while the first request runs.
        pub status: Option<i32>,
        /// The answer (headers and body), sealed with the key's secret.
        pub response: Option<Vec<u8>>,
        pub created_at: DateTimeUtc,
        /// After this the key is free again (and the row may be pruned).
        pub expires_at: DateTimeUtc,
        /// When the request's command committed (written in the command's
        /// own transaction, see [`super::Pledge`]); `None` while nothing
        /// it did is stored.
        pub committed_at: Option<DateTimeUtc>,
        /// The last sign of life of the instance running the request (its
        /// heartbeat); `None` on rows reserved before heartbeats existed.
        pub alive_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as StoredKey;
use entity::{Column, Entity};

/// A new request with a key: who asks, and what.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub scope: &'a str,
    pub key_hash: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub request_hash: &'a str,
}

/// What a reservation sets, for a new row and for one whose window ended.
const RESERVED: [Column; 10] = [
    Column::ReservationId,
    Column::Method,
    Column::Path,
    Column::RequestHash,
    Column::Status,
    Column::Response,
    Column::CreatedAt,
    Column::ExpiresAt,
    Column::CommittedAt,
    Column::AliveAt,
];

/// Takes the key for this request unless a request within the window holds
/// it: `Some(reservation id)` when this request is the first (or the
/// window of the last one ended), `None` when another holds it.
pub async fn reserve(
    conn: &DatabaseConnection,
    attempt: &Attempt<'_>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let reservation_id = Uuid::new_v4();
    let mut upsert = Query::insert();
    upsert
        .into_table(Entity)
        .columns([Column::Scope, Column::KeyHash].into_iter().chain(RESERVED))
        .values([
            attempt.scope.into(),
            attempt.key_hash.into(),
            reservation_id.into(),
            attempt.method.into(),
            attempt.path.into(),
            attempt.request_hash.into(),
            Option::<i32>::None.into(),
            Option::<Vec<u8>>::None.into(),
            now.into(),
            expires_at.into(),
            Option::<DateTime<Utc>>::None.into(),
            now.into(),
        ])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::columns([Column::Scope, Column::KeyHash])
                .update_columns(RESERVED)
                .action_and_where(Expr::col((Entity, Column::ExpiresAt)).lte(now))
                .to_owned(),
        )
        .returning(Query::returning().column(Column::ReservationId));
    let _turn = db::write_turn(conn).await;
    let row = conn.query_one(&upsert).await?;
    Ok(row.map(|_| reservation_id))
}

/// The row of a key, as it is now.
pub async fn find(
    conn: &impl ConnectionTrait,
    scope: &str,
    key_hash: &str,
) -> Result<Option<StoredKey>, DbErr> {
    Entity::find_by_id((scope.to_owned(), key_hash.to_owned()))
        .one(conn)
        .await
}

/// The row of `(scope, key_hash)` while `reservation_id` holds it.
fn held_by(reservation_id: Uuid, (scope, key_hash): (&str, &str)) -> Condition {
    Condition::all()
        .add(Column::Scope.eq(scope))
        .add(Column::KeyHash.eq(key_hash))
        .add(Column::ReservationId.eq(reservation_id))
}

/// The heartbeat of a running request: its instance is alive at `now`.
pub async fn beat(
    conn: &DatabaseConnection,
    reservation_id: Uuid,
    (scope, key_hash): (&str, &str),
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let _turn = db::write_turn(conn).await;
    Entity::update_many()
        .col_expr(Column::AliveAt, Expr::value(now))
        .filter(held_by(reservation_id, (scope, key_hash)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Inside a command's transaction: marks `reservation_id` committed, so
/// no later request takes the key over. False when the reservation is no
/// longer this one (a retry took it over): the command must not commit.
pub async fn pledge(
    txn: &impl ConnectionTrait,
    reservation_id: Uuid,
    (scope, key_hash): (&str, &str),
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = Entity::update_many()
        .col_expr(Column::CommittedAt, Expr::value(now))
        .filter(held_by(reservation_id, (scope, key_hash)))
        .filter(Column::Status.is_null())
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// [`pledge`], storing the request's answer in the same statement.
pub async fn pledge_answering(
    txn: &impl ConnectionTrait,
    reservation_id: Uuid,
    (scope, key_hash): (&str, &str),
    now: DateTime<Utc>,
    status: u16,
    response: Vec<u8>,
) -> Result<bool, DbErr> {
    let updated = Entity::update_many()
        .col_expr(Column::CommittedAt, Expr::value(now))
        .col_expr(Column::Status, Expr::value(i32::from(status)))
        .col_expr(Column::Response, Expr::value(response))
        .filter(held_by(reservation_id, (scope, key_hash)))
        .filter(Column::Status.is_null())
        .exec(txn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Takes over the reservation `interrupted` of a request that committed
/// nothing and whose instance gave no sign of life since `silent_since`:
/// `Some(new reservation id)` when this request now holds the key. The
/// interrupted request, should it still be running, can no longer commit
/// (its [`pledge`] finds the reservation gone).
pub async fn take_over(
    conn: &DatabaseConnection,
    interrupted: Uuid,
    (scope, key_hash): (&str, &str),
    silent_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let reservation_id = Uuid::new_v4();
    let _turn = db::write_turn(conn).await;
    let updated = Entity::update_many()
        .col_expr(Column::ReservationId, Expr::value(reservation_id))
        .col_expr(Column::AliveAt, Expr::value(now))
        .filter(held_by(interrupted, (scope, key_hash)))
        .filter(Column::Status.is_null())
        .filter(Column::CommittedAt.is_null())
        .filter(Column::AliveAt.lt(silent_since))
        .filter(Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    Ok((updated.rows_affected == 1).then_some(reservation_id))
}

/// Stores the answer of `reservation_id`; false when the reservation is
/// gone (its window ended and the row was pruned or taken over).
pub async fn record(
    conn: &DatabaseConnection,
    reservation_id: Uuid,
    (scope, key_hash): (&str, &str),
    status: u16,
    response: Vec<u8>,
) -> Result<bool, DbErr> {
    let _turn = db::write_turn(conn).await;
    let updated = Entity::update_many()
        .col_expr(Column::Status, Expr::value(i32::from(status)))
        .col_expr(Column::Response, Expr::value(response))
        .filter(held_by(reservation_id, (scope, key_hash)))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Gives the key back: the request failed before committing anything, so a
/// repeat runs again. A reservation whose command committed is kept.
pub async fn release(
    conn: &DatabaseConnection,
    reservation_id: Uuid,
    (scope, key_hash): (&str, &str),
) -> Result<(), DbErr> {
    let _turn = db::write_turn(conn).await;
    Entity::delete_many()
        .filter(held_by(reservation_id, (scope, key_hash)))
        .filter(Column::CommittedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes the rows whose window ended before `now`; returns how many.
pub async fn prune(conn: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let _turn = db::write_turn(conn).await;
    let deleted = Entity::delete_many()
        .filter(Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Scope,
    KeyHash,
    ReservationId,
    Method,
    Path,
    RequestHash,
    Status,
    Response,
    CreatedAt,
    ExpiresAt,
    CommittedAt,
    AliveAt,
}

struct CreateIdempotencyKeys;

impl MigrationName for CreateIdempotencyKeys {
    fn name(&self) -> &str {
        "m20261202_000001_create_idempotency_keys"
    }
}

#[async_trait]
impl MigrationTrait for CreateIdempotencyKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use IdempotencyKeys as K;
        manager
            .create_table(
                Table::create()
                    .table(K::Table)
                    .col(ColumnDef::new(K::Scope).string_len(64).not_null())
                    .col(ColumnDef::new(K::KeyHash).string_len(64).not_null())
                    .col(ColumnDef::new(K::ReservationId).uuid().not_null())
                    .col(ColumnDef::new(K::Method).string_len(10).not_null())
                    .col(ColumnDef::new(K::Path).text().not_null())
                    .col(ColumnDef::new(K::RequestHash).string_len(64).not_null())
                    .col(ColumnDef::new(K::Status).integer().null())
                    .col(ColumnDef::new(K::Response).binary().null())
                    .col(
                        ColumnDef::new(K::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(K::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(K::Scope).col(K::KeyHash))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_expires_at")
                    .table(K::Table)
                    .col(K::ExpiresAt)
                    .to_owned(),
            )
            .await
    }
}

struct AddProgress;

impl MigrationName for AddProgress {
    fn name(&self) -> &str {
        "m20261206_000001_idempotency_keys_progress"
    }
}

#[async_trait]
impl MigrationTrait for AddProgress {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use IdempotencyKeys as K;
        // One column per statement: SQLite alters one thing at a time.
        for column in [K::CommittedAt, K::AliveAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(K::Table)
                        .add_column(ColumnDef::new(column).timestamp_with_time_zone().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// The table's migrations, for the migrator of every service that takes
/// `Idempotency-Key` (as [`crate::account_replica::migrations`]).
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateIdempotencyKeys), Box::new(AddProgress)]
}
