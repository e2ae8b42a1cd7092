//! auth-api's business processes, each one function: sign up, create an
//! account as an admin, change an account, set a temporary password, create
//! the bootstrap admin, log in, change a password, refresh, log out, manage
//! signing keys, throttle password checks. Handlers and the CLI only parse,
//! authorize and call these.

pub mod accounts;
pub mod keys;
pub mod passwords;
pub mod sessions;
pub mod throttle;

use ates_core::bus::OutboxError;

/// What can go wrong in auth's business rules.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("too many failed logins for this email; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("too many attempts from your address; try again in {retry_after_secs} s")]
    ClientThrottled { retry_after_secs: u64 },
    #[error("too many password checks are waiting; try again in {retry_after_secs} s")]
    HashingBusy { retry_after_secs: u64 },
    #[error("no account with this id")]
    AccountNotFound,
    #[error("{0}")]
    InvalidRefreshToken(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("self sign-up is turned off; ask an admin to create your account")]
    SignUpClosed,
    #[error(
        "self sign-up is open to emails at {allowed} only; ask an admin to create your account"
    )]
    SignUpDomainRefused { allowed: String },
    #[error(
        "this account's password is temporary and must be changed before you can log in: POST /v1/auth/password with {{email, current_password, new_password}}"
    )]
    PasswordChangeRequired,
    #[error("{message}")]
    InvalidField {
        field: &'static str,
        message: &'static str,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for AuthError {
    fn from(error: sea_orm::DbErr) -> Self {
        AuthError::Internal(error.into())
    }
}

impl From<passwords::HashingError> for AuthError {
    fn from(error: passwords::HashingError) -> Self {
        match error {
            passwords::HashingError::Busy => AuthError::HashingBusy {
                retry_after_secs: 1,
            },
            passwords::HashingError::Failed(cause) => AuthError::Internal(cause),
        }
    }
}

impl From<ates_core::db::UnreadableRow> for AuthError {
    fn from(error: ates_core::db::UnreadableRow) -> Self {
        AuthError::Internal(error.into())
    }
}

impl From<OutboxError> for AuthError {
    fn from(error: OutboxError) -> Self {
        AuthError::Internal(error.into())
    }
}
