//! Sessions: login (throttled per email and client address), refresh-token rotation with reuse
//! detection, logout. A login starts a token family; each refresh spends
//! its token and issues the next one in the family; presenting a spent
//! token again revokes the whole family (it was stolen, or the client is
//! broken); logout revokes the family. A password change (current password
//! required) revokes every family of the account and starts a new one; an
//! account whose password is temporary cannot log in until it changes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ates_core::auth::Claims;
use ates_core::db;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::accounts::{normalize_email, revoke_every_session};
use super::throttle::{self, Client, ThrottlePolicy};
use super::{AuthError, keys, passwords};
use crate::db::{account, refresh_token};

/// Token lifetimes, claims and login throttling.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub throttle: ThrottlePolicy,
    /// Password checks this instance has run (hashes compared): what the
    /// throttle bounds, counted so tests and operators can see it.
    pub password_checks: Arc<AtomicU64>,
}

/// What login and refresh return.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn hash_token(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs an access token for `account`.
async fn access_token(
    db: &impl ConnectionTrait,
    policy: &SessionPolicy,
    account: &account::Model,
    now: DateTime<Utc>,
) -> Result<String, AuthError> {
    let key = keys::active_key(db).await?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid);
    let claims = Claims {
        iss: policy.issuer.clone(),
        aud: policy.audience.clone(),
        sub: account.id,
        role: account.role()?,
        email: account.email.clone(),
        iat: now.timestamp(),
        exp: (now + chrono(policy.access_token_ttl)).timestamp(),
        jti: Uuid::new_v4().to_string(),
    };
    jsonwebtoken::encode(&header, &claims, &key.encoding_key)
        .map_err(|error| AuthError::Internal(anyhow::anyhow!("cannot sign token: {error}")))
}

/// Stores a new refresh token of `family_id` and signs an access token.
async fn issue(
    conn: &impl ConnectionTrait,
    policy: &SessionPolicy,
    account: &account::Model,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<TokenPair, AuthError> {
    let refresh = new_refresh_token();
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        id: ActiveValue::Set(Uuid::now_v7()),
        family_id: ActiveValue::Set(family_id),
        account_id: ActiveValue::Set(account.id),
        token_hash: ActiveValue::Set(hash_token(&refresh)),
        created_at: ActiveValue::Set(now),
        expires_at: ActiveValue::Set(now + chrono(policy.refresh_token_ttl)),
        used_at: ActiveValue::Set(None),
        revoked_at: ActiveValue::Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(TokenPair {
        access_token: access_token(conn, policy, account, now).await?,
        expires_in: policy.access_token_ttl.as_secs(),
        refresh_token: refresh,
    })
}

/// Logs in with email and password from `client`. Every failure is the
/// same `InvalidCredentials` (unknown email, wrong password, deactivated
/// account); see [`check_credentials`] for the throttling. The right
/// password of an account that must change it gets
/// `PasswordChangeRequired` and no tokens.
pub async fn login(
    db: &DatabaseConnection,
    policy: &SessionPolicy,
    email: &str,
    password: String,
    client: Client,
    now: DateTime<Utc>,
) -> Result<TokenPair, AuthError> {
    let account = check_credentials(db, policy, email, password, client, now).await?;
    if account.must_change_password {
        return Err(AuthError::PasswordChangeRequired);
    }
    let txn = db::begin_write(db).await?;
    let tokens = issue(&txn, policy, &account, Uuid::now_v7(), now).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// Checks an email and password sent from `client`: the active account
/// they belong to, or `InvalidCredentials` for any failure (unknown email,
/// wrong password, deactivated account). Every password check of auth-api
/// goes through here, so the throttle holds for all of them: the check is
/// reserved for the email and the client address before anything is
/// hashed (`Throttled` / `ClientThrottled` without hashing once either has
/// used its window; see [`throttle`]), and a full hashing queue is
/// `HashingBusy` (before anything is reserved when the queue is already
/// full). A check that lets the account in, or never ran, gives its slot
/// back. A client the account has logged in from before waits in the
/// hashing pool's first lane, ahead of any storm of guesses.
pub async fn check_credentials(
    db: &DatabaseConnection,
    policy: &SessionPolicy,
    email: &str,
    password: String,
    client: Client,
    now: DateTime<Utc>,
) -> Result<account::Model, AuthError> {
    let email = normalize_email(email);
    // Under a storm most requests find their queue full: refuse those
    // before they cost a write.
    let lane = throttle::lane_of(db, &email, client, now).await?;
    if passwords::is_full(lane) {
        return Err(passwords::HashingError::Busy.into());
    }
    let reservation =
        throttle::reserve_password_check(db, &policy.throttle, &email, client, now).await?;
    let account = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .one(db)
        .await?;
    let stored = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    let matches = match passwords::verify_in(lane, password, stored).await {
        Ok(matches) => matches,
        Err(error) => {
            throttle::release(db, reservation).await?;
            return Err(error.into());
        }
    };
    policy.password_checks.fetch_add(1, Ordering::Relaxed);
    match account {
        Some(account) if matches && account.active => {
            throttle::let_in(db, reservation, &email, client, now).await?;
            Ok(account)
        }
        _ => Err(AuthError::InvalidCredentials),
    }
}

/// A popug's password change: who, the password they have, the one they want.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub email: String,
    pub current_password: String,
    pub new_password: String,
}

/// Changes a password, proven by the current one (checked, and throttled,
/// by [`check_credentials`] like a login; a temporary password works here).
/// Every session of the account is revoked, auth-api refuses its access
/// tokens issued before now, the temporary flag is cleared, and the caller
/// gets a new session. A wrong current password changes nothing.
pub async fn change_password(
    db: &DatabaseConnection,
    policy: &SessionPolicy,
    change: PasswordChange,
    client: Client,
    now: DateTime<Utc>,
) -> Result<TokenPair, AuthError> {
    // Compared before any check, so the answer says nothing about whether
    // the current password is right.
    if change.new_password == change.current_password {
        return Err(AuthError::InvalidField {
            field: "new_password",
            message: "must differ from the current password",
        });
    }
    let account = check_credentials(
        db,
        policy,
        &change.email,
        change.current_password,
        client,
        now,
    )
    .await?;
    let password_hash = passwords::hash(change.new_password).await?;
    let txn = db::begin_write(db).await?;
    // Only if nothing changed since the check: of two concurrent changes
    // with the same current password one wins, and a deactivation in
    // between is not undone.
    let updated = account::Entity::update_many()
        .col_expr(account::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(account::Column::MustChangePassword, Expr::value(false))
        .col_expr(account::Column::CredentialsChangedAt, Expr::value(now))
        .filter(account::Column::Id.eq(account.id))
        .filter(account::Column::PasswordHash.eq(account.password_hash.as_str()))
        .filter(account::Column::Active.eq(true))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AuthError::InvalidCredentials);
    }
    revoke_every_session(&txn, account.id, now).await?;
    let account = account::Entity::find_by_id(account.id)
        .one(&txn)
        .await?
        .ok_or(AuthError::InvalidCredentials)?;
    let tokens = issue(&txn, policy, &account, Uuid::now_v7(), now).await?;
    // No unit of work (no event): the request's key is kept by hand.
    ates_core::idempotency::keep_current(&*txn).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// Spends a refresh token and issues the next one of its family.
pub async fn refresh(
    db: &DatabaseConnection,
    policy: &SessionPolicy,
    token: &str,
    now: DateTime<Utc>,
) -> Result<TokenPair, AuthError> {
    let txn = db::begin_write(db).await?;
    let stored = stored_token(&txn, token).await?;
    if stored.revoked_at.is_some() {
        return Err(AuthError::InvalidRefreshToken(
            "this refresh token has been revoked",
        ));
    }
    // Spend it atomically: of two concurrent refreshes, one wins.
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(stored.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        revoke_family(&txn, stored.family_id, now).await?;
        txn.commit().await?;
        tracing::warn!(account_id = %stored.account_id, family_id = %stored.family_id,
            "a spent refresh token was presented again; its family is revoked");
        return Err(AuthError::InvalidRefreshToken(
            "this refresh token was already used; every session of this login is revoked",
        ));
    }
    if stored.expires_at <= now {
        return Err(AuthError::InvalidRefreshToken(
            "this refresh token has expired",
        ));
    }
    let account = account::Entity::find_by_id(stored.account_id)
        .one(&txn)
        .await?
        .filter(|account| account.active && !account.must_change_password);
    let Some(account) = account else {
        revoke_family(&txn, stored.family_id, now).await?;
        txn.commit().await?;
        return Err(AuthError::InvalidRefreshToken(
            "this account is deactivated or must change its password",
        ));
    };
    let tokens = issue(&txn, policy, &account, stored.family_id, now).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// Revokes the family of a refresh token. Unknown tokens are refused;
/// logging out twice is fine.
pub async fn logout(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let txn = db::begin_write(db).await?;
    let stored = stored_token(&txn, token).await?;
    revoke_family(&txn, stored.family_id, now).await?;
    txn.commit().await?;
    Ok(())
}

async fn stored_token(
    conn: &impl ConnectionTrait,
    token: &str,
) -> Result<refresh_token::Model, AuthError> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash_token(token)))
        .one(conn)
        .await?
        .ok_or(AuthError::InvalidRefreshToken("unknown refresh token"))
}

async fn revoke_family(
    conn: &impl ConnectionTrait,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
