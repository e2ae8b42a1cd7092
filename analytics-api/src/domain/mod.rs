//! analytics' processes: apply an event to the read models, and answer the
//! dashboard's questions from them.

pub mod dashboard;
pub mod read_models;

/// What can go wrong answering the dashboard: nothing the caller did
/// (their input is checked before), so every case is internal.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for AnalyticsError {
    fn from(error: sea_orm::DbErr) -> Self {
        AnalyticsError::Internal(error.into())
    }
}

impl From<ates_core::money::CentsOverflow> for AnalyticsError {
    fn from(error: ates_core::money::CentsOverflow) -> Self {
        AnalyticsError::Internal(error.into())
    }
}
