//! Accounts: sign-up (under the [`SignUpPolicy`]), accounts an admin
//! creates, an admin's changes, temporary passwords, the bootstrap admin.
//! Every change other services see writes its account events to the outbox
//! in the same transaction.

use ates_core::auth::{AccountGate, BoxFuture, Standing};
use ates_core::bus::Outbox;
use ates_core::db::{self, is_unique_violation};
use ates_core::http::ApiError;
use ates_core::page::{Keyset, Page, PageRequest};
use ates_core::unit_of_work::{UnitOfWork, Written};
use chrono::{DateTime, Utc};
use event_schemas::accounts::{
    AccountCreatedV2, AccountDeactivatedV2, AccountRoleChangedV2, AccountUpdatedV2, Role,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
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
    /// The password is temporary: login is refused until it is changed.
    pub must_change_password: bool,
}

/// An admin's change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub full_name: Option<String>,
    pub active: Option<bool>,
}

/// auth-api authorizes with the account's current role and active flag
/// from its own table, never the role inside the token: a demoted admin's
/// old token loses admin rights at once (and a promoted worker's old token
/// gains them). Tokens issued before the account's password last changed
/// are refused.
#[derive(Debug, Clone)]
pub struct AccountsGate(pub DatabaseConnection);

impl AccountGate for AccountsGate {
    fn standing(&self, account_id: Uuid) -> BoxFuture<'_, Result<Standing, ApiError>> {
        Box::pin(async move {
            let account = account::Entity::find_by_id(account_id).one(&self.0).await?;
            Ok(match account {
                Some(account) => Standing::Current {
                    role: account.role()?,
                    active: account.active,
                    tokens_valid_since: account
                        .credentials_changed_at
                        .map(|changed| changed.timestamp()),
                },
                None => Standing::Missing,
            })
        })
    }
}

/// Creates an account and publishes `accounts.created`, to be committed.
/// Sign-up passes `Role::Worker`; the bootstrap admin `Role::Admin`.
pub async fn create(
    db: &DatabaseConnection,
    outbox: &Outbox,
    new: NewAccount,
    now: DateTime<Utc>,
) -> Result<Written<account::Model>, AuthError> {
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
        must_change_password: new.must_change_password,
        credentials_changed_at: None,
    };
    let work = UnitOfWork::begin(db, outbox).await?;
    if let Err(error) = account::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(&work)
        .await
    {
        return Err(if is_unique_violation(&error) {
            AuthError::EmailTaken
        } else {
            error.into()
        });
    }
    work.add_event(AccountCreatedV2 {
        account_id: model.id,
        email: model.email.clone(),
        full_name: model.full_name.clone(),
        role: new.role,
        active: true,
        created_at: now,
        revision: model.revision,
    })
    .await?;
    Ok(Written::new(work, model))
}

/// Who may sign up without an admin (`SIGNUP`, `SIGNUP_ALLOWED_DOMAINS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignUpPolicy {
    /// `false` (`SIGNUP=closed`): only admins create accounts.
    pub open: bool,
    /// Lower-case domains an email must be at, exactly (`popug.inc` admits
    /// `kesha@popug.inc`, not `kesha@eu.popug.inc`); empty: any domain.
    pub allowed_domains: Vec<String>,
}

impl SignUpPolicy {
    /// Anyone may sign up, at any domain.
    pub fn anyone() -> Self {
        Self {
            open: true,
            allowed_domains: Vec::new(),
        }
    }

    /// Reads a comma-separated list of domains (`popug.inc, Example.COM`):
    /// lower-cased, an optional leading `@` dropped; each must be a host
    /// name (letters, digits, `-` and `.`).
    pub fn parse_domains(list: &str) -> Result<Vec<String>, String> {
        let mut domains = Vec::new();
        for entry in list.split(',') {
            let domain = entry.trim().trim_start_matches('@').to_lowercase();
            if domain.is_empty() {
                continue;
            }
            let is_host_name = domain.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !is_host_name {
                return Err(format!("{entry:?} is not a domain name"));
            }
            domains.push(domain);
        }
        if domains.is_empty() {
            return Err("it names no domain".into());
        }
        Ok(domains)
    }

    /// Whether `email` may sign up by itself. Decided from the email alone,
    /// before any lookup, so a refusal says nothing about existing accounts.
    /// The domain is what follows the last `@` of the normalized email, the
    /// part a mail server delivers to.
    pub fn admits(&self, email: &str) -> Result<(), AuthError> {
        if !self.open {
            return Err(AuthError::SignUpClosed);
        }
        if self.allowed_domains.is_empty() {
            return Ok(());
        }
        let email = normalize_email(email);
        let domain = email.rsplit_once('@').map_or("", |(_, domain)| domain);
        if self.allowed_domains.iter().any(|allowed| allowed == domain) {
            Ok(())
        } else {
            Err(AuthError::SignUpDomainRefused {
                allowed: self.allowed_domains.join(", "),
            })
        }
    }
}

/// What a popug signs up with.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub full_name: String,
}

/// Self sign-up: a worker, if the policy admits the email.
pub async fn sign_up(
    db: &DatabaseConnection,
    outbox: &Outbox,
    policy: &SignUpPolicy,
    sign_up: SignUp,
    now: DateTime<Utc>,
) -> Result<Written<account::Model>, AuthError> {
    policy.admits(&sign_up.email)?;
    let new = NewAccount {
        email: sign_up.email,
        password: sign_up.password,
        full_name: sign_up.full_name,
        role: Role::Worker,
        must_change_password: false,
    };
    create(db, outbox, new, now).await
}

/// An account an admin creates; no password: one is generated.
#[derive(Debug, Clone)]
pub struct AdminNewAccount {
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub password: Option<String>,
}

/// An account an admin created or gave a temporary password, with that
/// password when it was generated (shown once: only its hash is kept).
#[derive(Debug, Clone)]
pub struct WithAdminPassword {
    pub account: account::Model,
    pub generated_password: Option<String>,
}

/// An admin creates an account, whatever the sign-up policy, with any role.
/// Its password is temporary (the admin chose it, or it is generated): it
/// must be changed at the first login.
pub async fn create_by_admin(
    db: &DatabaseConnection,
    outbox: &Outbox,
    new: AdminNewAccount,
    now: DateTime<Utc>,
) -> Result<Written<WithAdminPassword>, AuthError> {
    let (password, generated_password) = chosen_or_generated(new.password);
    let new = NewAccount {
        email: new.email,
        password,
        full_name: new.full_name,
        role: new.role,
        must_change_password: true,
    };
    Ok(create(db, outbox, new, now)
        .await?
        .map(|account| WithAdminPassword {
            account,
            generated_password,
        }))
}

/// The password to use, and the same again when it was generated.
fn chosen_or_generated(password: Option<String>) -> (String, Option<String>) {
    match password {
        Some(password) => (password, None),
        None => {
            let generated = passwords::generate();
            (generated.clone(), Some(generated))
        }
    }
}

/// An admin sets a temporary password (chosen, or generated and returned):
/// the account must change it at its next login, every session of the
/// account is revoked, and auth-api refuses its access tokens issued
/// before now. Nothing is published: no replica holds passwords.
pub async fn set_temporary_password(
    db: &DatabaseConnection,
    account_id: Uuid,
    password: Option<String>,
    now: DateTime<Utc>,
) -> Result<WithAdminPassword, AuthError> {
    find(db, account_id).await?;
    let (password, generated_password) = chosen_or_generated(password);
    let password_hash = passwords::hash(password).await?;
    let txn = db::begin_write(db).await?;
    let updated = account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(account::Column::MustChangePassword, Expr::value(true))
        .col_expr(account::Column::CredentialsChangedAt, Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AuthError::AccountNotFound);
    }
    revoke_every_session(&txn, account_id, now).await?;
    let account = account::Entity::find_by_id(account_id)
        .one(&txn)
        .await?
        .ok_or(AuthError::AccountNotFound)?;
    // No unit of work (no event): the request's key is kept by hand.
    ates_core::idempotency::keep_current(&*txn).await?;
    txn.commit().await?;
    Ok(WithAdminPassword {
        account,
        generated_password,
    })
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
    let work = UnitOfWork::begin(db, outbox).await?;
    let before = account::Entity::find_by_id(account_id)
        .one(&work)
        .await?
        .ok_or(AuthError::AccountNotFound)?;
    let previous_role = before.role()?;
    let role = change.role.unwrap_or(previous_role);
    let full_name = change
        .full_name
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|| before.full_name.clone());
    let active = change.active.unwrap_or(before.active);
    if role == previous_role && full_name == before.full_name && active == before.active {
        work.rollback().await?;
        return Ok(before);
    }
    let loses_admin =
        previous_role == Role::Admin && before.active && (role != Role::Admin || !active);
    if loses_admin && active_admins(&work).await? <= 1 {
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
    let after = update.update(&work).await?;

    work.add_event(AccountUpdatedV2 {
        account_id,
        email: after.email.clone(),
        full_name: after.full_name.clone(),
        role,
        active,
        updated_at: now,
        revision: after.revision,
    })
    .await?;
    if role != previous_role {
        work.add_event(AccountRoleChangedV2 {
            account_id,
            previous_role,
            role,
            changed_at: now,
            revision: after.revision,
        })
        .await?;
    }
    if before.active && !active {
        work.add_event(AccountDeactivatedV2 {
            account_id,
            deactivated_at: now,
            revision: after.revision,
        })
        .await?;
        revoke_every_session(&work, account_id, now).await?;
    }
    work.commit().await?;
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

/// Accounts page by id: the order they were made in (ids are UUIDv7).
#[derive(Debug)]
pub enum AccountOrder {}

impl Keyset for AccountOrder {
    const LIST: &'static str = "accounts";
    type Key = ();
}

/// A page of accounts, oldest first; with `search`, only those whose email
/// or full name contains it.
pub async fn list(
    db: &DatabaseConnection,
    search: Option<&str>,
    request: &PageRequest<AccountOrder>,
) -> Result<Page<account::Model>, AuthError> {
    let rows = account::Entity::find()
        .filter(request.id_filter(
            account::Column::Id,
            search,
            &[account::Column::Email, account::Column::FullName],
        ))
        .order_by_asc(account::Column::Id)
        .limit(request.limit())
        .all(db)
        .await?;
    Ok(request.finish_by_id(rows, |account| account.id))
}

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    Created,
    AlreadyExists,
}

/// Creates the admin `email` unless an account with that email exists
/// (idempotent: safe on every start). A generated password is temporary
/// (`must_change_password`): whoever reads it once must change it.
pub async fn ensure_admin(
    db: &DatabaseConnection,
    outbox: &Outbox,
    email: &str,
    password: String,
    must_change_password: bool,
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
        must_change_password,
    };
    match create(db, outbox, new, now).await {
        Ok(written) => {
            written.commit().await?;
            Ok(AdminBootstrap::Created)
        }
        Err(AuthError::EmailTaken) => Ok(AdminBootstrap::AlreadyExists),
        Err(error) => Err(error),
    }
}

/// Revokes every refresh token of an account (every session it has).
pub(crate) async fn revoke_every_session(
    conn: &impl ConnectionTrait,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::AccountId.eq(account_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_domains_are_read_lower_cased_and_checked() {
        assert_eq!(
            SignUpPolicy::parse_domains(" popug.inc, @Partner.ORG ,,").unwrap(),
            vec!["popug.inc", "partner.org"]
        );
        for bad in [
            "",
            " , ",
            "popug.inc;evil.com",
            "*.popug.inc",
            "popug..inc",
            "popug.inc.",
            "kesha@popug.inc",
            "popug inc",
        ] {
            assert!(SignUpPolicy::parse_domains(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_domain_is_admitted_exactly_and_whatever_its_case() {
        let policy = SignUpPolicy {
            open: true,
            allowed_domains: vec!["popug.inc".into()],
        };
        for admitted in ["kesha@popug.inc", " Kesha@POPUG.INC ", "evil.com@popug.inc"] {
            assert!(policy.admits(admitted).is_ok(), "{admitted:?}");
        }
        for refused in [
            "kesha@evil.com",
            "kesha@popug.inc.evil.com",
            "kesha@eu.popug.inc",
            "popug.inc@evil.com",
            "kesha@popug.inc@evil.com",
            "popug.inc",
            "",
        ] {
            assert!(
                matches!(
                    policy.admits(refused),
                    Err(AuthError::SignUpDomainRefused { .. })
                ),
                "{refused:?}"
            );
        }
        assert!(
            SignUpPolicy::anyone()
                .admits("kesha@anywhere.example")
                .is_ok()
        );
        let closed = SignUpPolicy {
            open: false,
            allowed_domains: Vec::new(),
        };
        assert!(matches!(
            closed.admits("kesha@popug.inc"),
            Err(AuthError::SignUpClosed)
        ));
    }
}
