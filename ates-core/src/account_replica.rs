//! The replica of accounts that services other than auth keep, fed by
//! account events: who exists, their role, whether they are active.
//!
//! Events may arrive out of order (a retried event comes after later ones),
//! twice, or for an account not seen yet. auth-api stamps every account
//! event (v2) with the account's revision, one more with each change. A row
//! keeps, for each part of the state, the revision it was last set at
//! (`details_revision` for email and name, `role_revision`,
//! `active_revision`): an event sets a part only when its revision is not
//! older than that part's (the events of one change share its revision and
//! tell the same state). So an odd event time (a clock gone wrong, a date
//! in year 9999) cannot freeze an account, and an event for an account not
//! seen yet (a `deactivated` before its `created`) creates the row with
//! what it tells, while the older events still fill in the parts nobody
//! newer told. Events from before revisions (v1) apply, ordered by their
//! event time as they used to be, only to rows that have seen no
//! revisioned change (except to fill in a missing email and name).

use chrono::{DateTime, Utc};
use event_schemas::EventPayload;
use event_schemas::accounts::{
    AccountCreatedV1, AccountCreatedV2, AccountDeactivatedV1, AccountDeactivatedV2,
    AccountRoleChangedV1, AccountRoleChangedV2, AccountUpdatedV1, AccountUpdatedV2, Role,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel,
};
use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;
use uuid::Uuid;

use crate::auth::{AccountGate, BoxFuture, Standing};
use crate::bus::{HandlerError, IncomingEvent};
use crate::db::{UnreadableRow, parse_stored};
use crate::http::ApiError;

/// A replicated account.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_replica")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Empty until a full-state event (created/updated) arrives.
        pub email: String,
        pub full_name: String,
        pub role: String,
        pub active: bool,
        /// The event time of the newest state applied.
        pub state_at: DateTimeUtc,
        /// The revision the email and name were set at; `None` until a
        /// revisioned full-state event (created, updated v2) set them.
        pub details_revision: Option<i64>,
        /// The revision the role was set at (`None`: no revisioned event
        /// told it yet).
        pub role_revision: Option<i64>,
        /// The revision the active flag was set at.
        pub active_revision: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as ReplicatedAccount;

impl ReplicatedAccount {
    /// The stored role as the enum; a value it does not know is an internal
    /// error naming this account, never a guess.
    pub fn role(&self) -> Result<Role, UnreadableRow> {
        parse_stored("account_replica", self.id, "role", &self.role)
    }
}

/// The account events the replica consumes: every version auth-api has
/// published.
pub const SUBSCRIPTIONS: [(&str, u32); 8] = [
    (AccountCreatedV1::NAME, AccountCreatedV1::VERSION),
    (AccountCreatedV2::NAME, AccountCreatedV2::VERSION),
    (AccountUpdatedV1::NAME, AccountUpdatedV1::VERSION),
    (AccountUpdatedV2::NAME, AccountUpdatedV2::VERSION),
    (AccountRoleChangedV1::NAME, AccountRoleChangedV1::VERSION),
    (AccountRoleChangedV2::NAME, AccountRoleChangedV2::VERSION),
    (AccountDeactivatedV1::NAME, AccountDeactivatedV1::VERSION),
    (AccountDeactivatedV2::NAME, AccountDeactivatedV2::VERSION),
];

/// The domain (stream) of the account events.
pub const DOMAIN: &str = "accounts";

/// Whether `event` is an account event (for a service's handler to route).
pub fn is_account_event(event: &IncomingEvent) -> bool {
    event
        .key
        .name
        .split_once('.')
        .is_some_and(|(domain, _)| domain == DOMAIN)
}

/// What one account event says about an account.
struct Change {
    account_id: Uuid,
    /// `None` for events from before revisions (v1).
    revision: Option<i64>,
    at: DateTime<Utc>,
    email: Option<String>,
    full_name: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
}

impl Change {
    fn full_state(
        account_id: Uuid,
        revision: Option<i64>,
        at: DateTime<Utc>,
        (email, full_name, role, active): (String, String, Role, bool),
    ) -> Self {
        Self {
            account_id,
            revision,
            at,
            email: Some(email),
            full_name: Some(full_name),
            role: Some(role),
            active: Some(active),
        }
    }

    fn role(account_id: Uuid, revision: Option<i64>, at: DateTime<Utc>, role: Role) -> Self {
        Self {
            account_id,
            revision,
            at,
            email: None,
            full_name: None,
            role: Some(role),
            active: None,
        }
    }

    fn deactivation(account_id: Uuid, revision: Option<i64>, at: DateTime<Utc>) -> Self {
        Self {
            account_id,
            revision,
            at,
            email: None,
            full_name: None,
            role: None,
            active: Some(false),
        }
    }

    /// Whether this event, from before revisions, may still apply: only
    /// to a row that has seen no revisioned change, and no older than it.
    fn applies_unrevisioned(&self, row: &entity::Model) -> bool {
        row.details_revision.is_none()
            && row.role_revision.is_none()
            && row.active_revision.is_none()
            && self.at >= row.state_at
    }
}

/// Whether a part of the state set at `held` takes the value of an event
/// at `revision`: not older (the events of one change share a revision).
fn takes(revision: i64, held: Option<i64>) -> bool {
    held.is_none_or(|held| revision >= held)
}

fn change_of(event: &IncomingEvent) -> Result<Change, HandlerError> {
    Ok(match (event.key.name.as_str(), event.key.version) {
        (AccountCreatedV1::NAME, 1) => {
            let data = event.decode::<AccountCreatedV1>()?.data;
            let state = (data.email, data.full_name, data.role, data.active);
            Change::full_state(data.account_id, None, data.created_at, state)
        }
        (AccountCreatedV2::NAME, 2) => {
            let data = event.decode::<AccountCreatedV2>()?.data;
            let state = (data.email, data.full_name, data.role, data.active);
            Change::full_state(data.account_id, Some(data.revision), data.created_at, state)
        }
        (AccountUpdatedV1::NAME, 1) => {
            let data = event.decode::<AccountUpdatedV1>()?.data;
            let state = (data.email, data.full_name, data.role, data.active);
            Change::full_state(data.account_id, None, data.updated_at, state)
        }
        (AccountUpdatedV2::NAME, 2) => {
            let data = event.decode::<AccountUpdatedV2>()?.data;
            let state = (data.email, data.full_name, data.role, data.active);
            Change::full_state(data.account_id, Some(data.revision), data.updated_at, state)
        }
        (AccountRoleChangedV1::NAME, 1) => {
            let data = event.decode::<AccountRoleChangedV1>()?.data;
            Change::role(data.account_id, None, data.changed_at, data.role)
        }
        (AccountRoleChangedV2::NAME, 2) => {
            let data = event.decode::<AccountRoleChangedV2>()?.data;
            Change::role(
                data.account_id,
                Some(data.revision),
                data.changed_at,
                data.role,
            )
        }
        (AccountDeactivatedV1::NAME, 1) => {
            let data = event.decode::<AccountDeactivatedV1>()?.data;
            Change::deactivation(data.account_id, None, data.deactivated_at)
        }
        (AccountDeactivatedV2::NAME, 2) => {
            let data = event.decode::<AccountDeactivatedV2>()?.data;
            Change::deactivation(data.account_id, Some(data.revision), data.deactivated_at)
        }
        _ => {
            return Err(HandlerError::Rejected(format!(
                "the account replica does not read {}",
                event.key
            )));
        }
    })
}

/// Empties the replica (a rebuild then replays the account events).
pub async fn forget_all(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    entity::Entity::delete_many().exec(conn).await?;
    Ok(())
}

/// Applies one account event to the replica, in the consumer's transaction.
pub async fn apply(conn: &impl ConnectionTrait, event: &IncomingEvent) -> Result<(), HandlerError> {
    let change = change_of(event)?;
    let existing = entity::Entity::find_by_id(change.account_id)
        .one(conn)
        .await?;
    let Some(existing) = existing else {
        let revision = change.revision;
        let row = entity::Model {
            id: change.account_id,
            details_revision: change.email.as_ref().and(revision),
            role_revision: change.role.and(revision),
            active_revision: change.active.and(revision),
            email: change.email.unwrap_or_default(),
            full_name: change.full_name.unwrap_or_default(),
            role: change.role.unwrap_or(Role::Worker).as_str().to_owned(),
            // Only a deactivation says "inactive"; accounts start active.
            active: change.active.unwrap_or(true),
            state_at: change.at,
        };
        entity::Entity::insert(row.into_active_model())
            .exec_without_returning(conn)
            .await?;
        return Ok(());
    };
    let mut row = existing.clone().into_active_model();
    match change.revision {
        Some(revision) => {
            if let (Some(email), Some(full_name)) = (&change.email, &change.full_name)
                && takes(revision, existing.details_revision)
            {
                row.email = ActiveValue::Set(email.clone());
                row.full_name = ActiveValue::Set(full_name.clone());
                row.details_revision = ActiveValue::Set(Some(revision));
            }
            if let Some(role) = change.role
                && takes(revision, existing.role_revision)
            {
                row.role = ActiveValue::Set(role.as_str().to_owned());
                row.role_revision = ActiveValue::Set(Some(revision));
            }
            if let Some(active) = change.active
                && takes(revision, existing.active_revision)
            {
                row.active = ActiveValue::Set(active);
                row.active_revision = ActiveValue::Set(Some(revision));
            }
            if row.is_changed() && change.at > existing.state_at {
                row.state_at = ActiveValue::Set(change.at);
            }
        }
        None if change.applies_unrevisioned(&existing) => {
            if let Some(email) = change.email {
                row.email = ActiveValue::Set(email);
            }
            if let Some(full_name) = change.full_name {
                row.full_name = ActiveValue::Set(full_name);
            }
            if let Some(role) = change.role {
                row.role = ActiveValue::Set(role.as_str().to_owned());
            }
            if let Some(active) = change.active {
                row.active = ActiveValue::Set(active);
            }
            row.state_at = ActiveValue::Set(change.at);
        }
        None => {
            // A late full-state event still fills in what no newer one told.
            if existing.email.is_empty()
                && let (Some(email), Some(full_name)) = (change.email, change.full_name)
            {
                row.email = ActiveValue::Set(email);
                row.full_name = ActiveValue::Set(full_name);
            }
        }
    }
    if row.is_changed() {
        row.update(conn).await?;
    }
    Ok(())
}

/// What the replica last heard of a token's account: deactivated accounts
/// are refused, and a demotion counts from the event on.
#[derive(Debug, Clone)]
pub struct ReplicaGate(pub DatabaseConnection);

impl AccountGate for ReplicaGate {
    fn standing(&self, account_id: Uuid) -> BoxFuture<'_, Result<Standing, ApiError>> {
        Box::pin(async move {
            let account = entity::Entity::find_by_id(account_id).one(&self.0).await?;
            Ok(match account {
                Some(account) => Standing::LastHeard {
                    role: account.role()?,
                    active: account.active,
                },
                None => Standing::Unknown,
            })
        })
    }
}

/// One account of the replica.
pub async fn find(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Option<ReplicatedAccount>, DbErr> {
    entity::Entity::find_by_id(account_id).one(conn).await
}

#[derive(DeriveIden)]
enum AccountReplica {
    Table,
    Id,
    Email,
    FullName,
    Role,
    Active,
    StateAt,
    DetailsRevision,
    RoleRevision,
    ActiveRevision,
}

struct CreateAccountReplica;

impl MigrationName for CreateAccountReplica {
    fn name(&self) -> &str {
        "m20261124_000003_create_account_replica"
    }
}

#[async_trait]
impl MigrationTrait for CreateAccountReplica {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountReplica::Table)
                    .col(
                        ColumnDef::new(AccountReplica::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AccountReplica::Email)
                            .string_len(254)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccountReplica::FullName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AccountReplica::Role)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AccountReplica::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(AccountReplica::StateAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_replica_active_role")
                    .table(AccountReplica::Table)
                    .col(AccountReplica::Active)
                    .col(AccountReplica::Role)
                    .to_owned(),
            )
            .await
    }
}

struct AddAccountReplicaRevisions;

impl MigrationName for AddAccountReplicaRevisions {
    fn name(&self) -> &str {
        "m20261201_000001_add_account_replica_revisions"
    }
}

#[async_trait]
impl MigrationTrait for AddAccountReplicaRevisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            AccountReplica::DetailsRevision,
            AccountReplica::RoleRevision,
            AccountReplica::ActiveRevision,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AccountReplica::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// The replica's migrations, in order, for the migrators of services that
/// keep one.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateAccountReplica),
        Box::new(AddAccountReplicaRevisions),
    ]
}
