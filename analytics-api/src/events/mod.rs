//! What analytics consumes: account events (the replica and the gate),
//! `tasks.created` v1 and v2 (titles), `accounting.transaction_applied`
//! (earnings, balances, rewards). It publishes nothing.

use ates_core::bus::{EventHandler, HandlerError, IncomingEvent};
use ates_core::unit_of_work::UnitOfWork;
use sea_orm::{DatabaseTransaction, DbErr};

use crate::domain::read_models;

#[derive(Debug, Clone, Copy)]
pub struct AnalyticsEvents;

impl EventHandler for AnalyticsEvents {
    fn subscriptions(&self) -> Vec<(&'static str, u32)> {
        read_models::subscriptions()
    }

    async fn handle(&self, work: &UnitOfWork, event: &IncomingEvent) -> Result<(), HandlerError> {
        read_models::apply(work, event).await
    }

    /// Everything analytics keeps is built from events.
    fn rebuilt_domains(&self) -> Vec<&'static str> {
        ates_core::bus::consumer::domains_of(&self.subscriptions())
    }

    async fn forget_rebuilt(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        read_models::forget_everything(txn).await
    }
}
