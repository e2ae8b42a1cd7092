//! The replica of accounts that services other than auth keep, fed by
//! account events: who exists, their role, whether they are active.
//!
//! Events may arrive out of order (a retried event comes after later ones)
//! or for an account not seen yet. Each row keeps the event time of the
//! newest state applied (`state_at`); an older event never overwrites a
//! newer state, and an event for an unknown account creates the row with
//! what it knows (a full-state event fills in the rest later).

use chrono::{DateTime, Utc};
use event_schemas::EventPayload;
use event_schemas::accounts::{
    AccountCreatedV1, AccountDeactivatedV1, AccountRoleChangedV1, AccountUpdatedV1, Role,
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
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as ReplicatedAccount;

impl ReplicatedAccount {
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Worker)
    }
}

/// The account events the replica consumes.
pub const SUBSCRIPTIONS: [(&str, u32); 4] = [
    (AccountCreatedV1::NAME, AccountCreatedV1::VERSION),
    (AccountUpdatedV1::NAME, AccountUpdatedV1::VERSION),
    (AccountRoleChangedV1::NAME, AccountRoleChangedV1::VERSION),
    (AccountDeactivatedV1::NAME, AccountDeactivatedV1::VERSION),
];

/// Whether `event` is an account event (for a service's handler to route).
pub fn is_account_event(event: &IncomingEvent) -> bool {
    event.key.name.starts_with("accounts.")
}

/// What one account event says about an account.
struct Change {
    account_id: Uuid,
    at: DateTime<Utc>,
    email: Option<String>,
    full_name: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
}

fn change_of(event: &IncomingEvent) -> Result<Change, HandlerError> {
    Ok(match (event.key.name.as_str(), event.key.version) {
        (AccountCreatedV1::NAME, 1) => {
            let data = event.decode::<AccountCreatedV1>()?.data;
            Change {
                account_id: data.account_id,
                at: data.created_at,
                email: Some(data.email),
                full_name: Some(data.full_name),
                role: Some(data.role),
                active: Some(data.active),
            }
        }
        (AccountUpdatedV1::NAME, 1) => {
            let data = event.decode::<AccountUpdatedV1>()?.data;
            Change {
                account_id: data.account_id,
                at: data.updated_at,
                email: Some(data.email),
                full_name: Some(data.full_name),
                role: Some(data.role),
                active: Some(data.active),
            }
        }
        (AccountRoleChangedV1::NAME, 1) => {
            let data = event.decode::<AccountRoleChangedV1>()?.data;
            Change {
                account_id: data.account_id,
                at: data.changed_at,
                email: None,
                full_name: None,
                role: Some(data.role),
                active: None,
            }
        }
        (AccountDeactivatedV1::NAME, 1) => {
            let data = event.decode::<AccountDeactivatedV1>()?.data;
            Change {
                account_id: data.account_id,
                at: data.deactivated_at,
                email: None,
                full_name: None,
                role: None,
                active: Some(false),
            }
        }
        _ => {
            return Err(HandlerError::Rejected(format!(
                "the account replica does not read {}",
                event.key
            )));
        }
    })
}

/// Applies one account event to the replica, in the consumer's transaction.
pub async fn apply(conn: &impl ConnectionTrait, event: &IncomingEvent) -> Result<(), HandlerError> {
    let change = change_of(event)?;
    let existing = entity::Entity::find_by_id(change.account_id)
        .one(conn)
        .await?;
    let Some(existing) = existing else {
        let row = entity::Model {
            id: change.account_id,
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
    if change.at >= existing.state_at {
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
    } else if existing.email.is_empty() {
        // A late full-state event still fills in what no newer one told.
        if let (Some(email), Some(full_name)) = (change.email, change.full_name) {
            row.email = ActiveValue::Set(email);
            row.full_name = ActiveValue::Set(full_name);
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
                    role: account.role(),
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

/// The replica's table, for the migrators of services that keep one.
pub fn migration() -> Box<dyn MigrationTrait> {
    Box::new(CreateAccountReplica)
}
