//! Accounts: sign-up, an admin's changes, the bootstrap admin. Every change
//! writes its account events to the outbox in the same transaction.

use ates_core::bus::Outbox;
use ates_core::db::{self, is_unique_violation};
use chrono::{DateTime, Utc};
use event_schemas::accounts::{
    AccountCreatedV2, AccountDeactivatedV2, AccountRoleChangedV2, AccountUpdatedV2, Role,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::{AuthError, passwords};
use crate::db::{account, refresh_token};

/// The canonical form of an email: trimmed, lower-case (emails are unique
/// case-insensitively).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A new account's details.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub password: String,
    pub full_name: String,
    pub role: Role,
}

/// An admin's change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub full_name: Option<String>,
    pub active: Option<bool>,
}

pub fn role_of(model: &account::Model) -> Role {
    model.role.parse().unwrap_or(Role::Worker)
}

/// Creates an account and publishes `accounts.created`. Sign-up passes
/// `Role::Worker`; the bootstrap admin `Role::Admin`.
pub async fn create(
    db: &DatabaseConnection,
    outbox: &Outbox,
    new: NewAccount,
    now: DateTime<Utc>,
) -> Result<account::Model, AuthError> {
    let password_hash = passwords::hash(new.password).await?;
    let model = account::Model {
        id: Uuid::now_v7(),
        email: normalize_email(&new.email),
        full_name: new.full_name.trim().to_owned(),
        role: new.role.as_str().to_owned(),
        active: true,
        password_hash,
        created_at: now,
        updated_at: now,
        revision: 1,
    };
    let txn = db::begin_write(db).await?;
    if let Err(error) = account::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(&txn)
        .await
    {
        return Err(if is_unique_violation(&error) {
            AuthError::EmailTaken
        } else {
            error.into()
        });
    }
    outbox
        .add(
            &txn,
            AccountCreatedV2 {
                account_id: model.id,
                email: model.email.clone(),
                full_name: model.full_name.clone(),
                role: new.role,
                active: true,
                created_at: now,
                revision: model.revision,
            },
        )
        .await?;
    txn.commit().await?;
    outbox.notify_committed();
    Ok(model)
}

/// Applies an admin's change. Publishes `accounts.updated` with the full
/// state, plus `accounts.role_changed` and `accounts.deactivated` when those
/// happened; deactivation also revokes every refresh token of the account.
/// The last active admin cannot be demoted or deactivated.
pub async fn change(
    db: &DatabaseConnection,
    outbox: &Outbox,
    account_id: Uuid,
    change: AccountChange,
    now: DateTime<Utc>,
) -> Result<account::Model, AuthError> {
    let txn = db::begin_write(db).await?;
    let before = account::Entity::find_by_id(account_id)
        .one(&txn)
        .await?
        .ok_or(AuthError::AccountNotFound)?;
    let previous_role = role_of(&before);
    let role = change.role.unwrap_or(previous_role);
    let full_name = change
        .full_name
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|| before.full_name.clone());
    let active = change.active.unwrap_or(before.active);
    if role == previous_role && full_name == before.full_name && active == before.active {
        txn.rollback().await?;
        return Ok(before);
    }
    let loses_admin =
        previous_role == Role::Admin && before.active && (role != Role::Admin || !active);
    if loses_admin && active_admins(&txn).await? <= 1 {
        return Err(AuthError::Conflict(
            "the last active admin cannot be demoted or deactivated",
        ));
    }

    let mut update = before.clone().into_active_model();
    update.role = ActiveValue::Set(role.as_str().to_owned());
    update.full_name = ActiveValue::Set(full_name);
    update.active = ActiveValue::Set(active);
    update.updated_at = ActiveValue::Set(now);
    // One revision per change, whichever events it publishes: replicas
    // order by it. The row is read in this write transaction, so no other
    // change can take the same number.
    update.revision = ActiveValue::Set(before.revision.saturating_add(1));
    let after = update.update(&txn).await?;

    outbox
        .add(
            &txn,
            AccountUpdatedV2 {
                account_id,
                email: after.email.clone(),
                full_name: after.full_name.clone(),
                role,
                active,
                updated_at: now,
                revision: after.revision,
            },
        )
        .await?;
    if role != previous_role {
        outbox
            .add(
                &txn,
                AccountRoleChangedV2 {
                    account_id,
                    previous_role,
                    role,
                    changed_at: now,
                    revision: after.revision,
                },
            )
            .await?;
    }
    if before.active && !active {
        outbox
            .add(
                &txn,
                AccountDeactivatedV2 {
                    account_id,
                    deactivated_at: now,
                    revision: after.revision,
                },
            )
            .await?;
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::AccountId.eq(account_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    outbox.notify_committed();
    Ok(after)
}

async fn active_admins(conn: &impl ConnectionTrait) -> Result<u64, AuthError> {
    Ok(account::Entity::find()
        .filter(account::Column::Role.eq(Role::Admin.as_str()))
        .filter(account::Column::Active.eq(true))
        .count(conn)
        .await?)
}

pub async fn find(db: &DatabaseConnection, account_id: Uuid) -> Result<account::Model, AuthError> {
    account::Entity::find_by_id(account_id)
        .one(db)
        .await?
        .ok_or(AuthError::AccountNotFound)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<account::Model>, AuthError> {
    Ok(account::Entity::find()
        .order_by_asc(account::Column::CreatedAt)
        .order_by_asc(account::Column::Id)
        .all(db)
        .await?)
}

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    Created,
    AlreadyExists,
}

/// Creates the admin `email` unless an account with that email exists
/// (idempotent: safe on every start).
pub async fn ensure_admin(
    db: &DatabaseConnection,
    outbox: &Outbox,
    email: &str,
    password: String,
    now: DateTime<Utc>,
) -> Result<AdminBootstrap, AuthError> {
    let existing = account::Entity::find()
        .filter(account::Column::Email.eq(normalize_email(email)))
        .one(db)
        .await?;
    if existing.is_some() {
        return Ok(AdminBootstrap::AlreadyExists);
    }
    let new = NewAccount {
        email: email.to_owned(),
        password,
        full_name: "aTES Admin".into(),
        role: Role::Admin,
    };
    match create(db, outbox, new, now).await {
        Ok(_) => Ok(AdminBootstrap::Created),
        Err(AuthError::EmailTaken) => Ok(AdminBootstrap::AlreadyExists),
        Err(error) => Err(error),
    }
}
