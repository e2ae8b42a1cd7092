//! Accounting's business processes, each one function: price a task, apply
//! a task event to the ledger, close a billing cycle (payouts, emails,
//! carry-overs), and the reports. Handlers, consumers and the scheduler
//! only call these.

pub mod billing;
pub mod ledger;
pub mod pricing;
pub mod reports;

use ates_core::bus::{HandlerError, OutboxError};

/// What can go wrong in accounting's rules.
#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    #[error("a billing cycle is being closed right now; try again in a moment")]
    CloseInProgress,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for AccountingError {
    fn from(error: sea_orm::DbErr) -> Self {
        AccountingError::Internal(error.into())
    }
}

impl From<ates_core::db::UnreadableRow> for AccountingError {
    fn from(error: ates_core::db::UnreadableRow) -> Self {
        AccountingError::Internal(error.into())
    }
}

impl From<ates_core::money::CentsOverflow> for AccountingError {
    fn from(error: ates_core::money::CentsOverflow) -> Self {
        AccountingError::Internal(error.into())
    }
}

impl From<OutboxError> for AccountingError {
    fn from(error: OutboxError) -> Self {
        AccountingError::Internal(error.into())
    }
}

impl From<AccountingError> for HandlerError {
    fn from(error: AccountingError) -> Self {
        HandlerError::Transient(error.to_string())
    }
}
