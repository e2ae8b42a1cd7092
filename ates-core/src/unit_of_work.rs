//! The unit of work: how a command writes. It opens a write transaction,
//! takes the command's changes and its outbox events (checked against the
//! schema registry), and commits them together; committing wakes the
//! outbox relay, so the events are published at once. No other code can
//! add to the outbox, so no command can store events and forget to wake
//! the relay, or write events outside its transaction.
//!
//! Units nest: [`UnitOfWork::nested`] is a savepoint inside a unit (a
//! consumer applies each event of a failed batch in one), whose events are
//! published when the outermost unit commits.

use event_schemas::{Envelope, EventPayload};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};

use crate::bus::{Outbox, OutboxError, StagedEvent};
use crate::db::{self, WriteTurn};
use crate::http::ApiError;
use crate::idempotency::Answer;

/// A command's changes and events, written in one transaction.
pub struct UnitOfWork {
    txn: DatabaseTransaction,
    outbox: Outbox,
    /// The outermost unit holds this process's turn in the writer lane and
    /// wakes the relay when it commits; a nested one does neither.
    outermost: Option<WriteTurn>,
}

impl std::fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitOfWork")
            .field("outbox", &self.outbox)
            .field("nested", &self.outermost.is_none())
            .finish_non_exhaustive()
    }
}

impl UnitOfWork {
    /// Opens a unit on `db` whose events go to `outbox`: a write
    /// transaction, after this process's turn in the writer lane
    /// ([`db::begin_write`]).
    pub async fn begin(db: &DatabaseConnection, outbox: &Outbox) -> Result<Self, DbErr> {
        let (txn, turn) = db::begin_write(db).await?.into_parts();
        Ok(Self {
            txn,
            outbox: outbox.clone(),
            outermost: Some(turn),
        })
    }

    /// A unit inside this one (a savepoint): committing it keeps its changes
    /// and events in this unit; dropping it undoes only them.
    pub async fn nested(&self) -> Result<UnitOfWork, DbErr> {
        Ok(Self {
            txn: self.txn.begin().await?,
            outbox: self.outbox.clone(),
            outermost: None,
        })
    }

    /// Wraps `data` in a new envelope from this service, checks it against
    /// the registry and adds it to the outbox in this unit.
    pub async fn add_event<T: EventPayload>(&self, data: T) -> Result<Envelope<T>, OutboxError> {
        let envelope = self.outbox.envelope(data);
        self.add_envelope(&envelope).await?;
        Ok(envelope)
    }

    /// Checks `envelope` against the registry and adds it to the outbox in
    /// this unit.
    pub async fn add_envelope<T: EventPayload>(
        &self,
        envelope: &Envelope<T>,
    ) -> Result<(), OutboxError> {
        self.add_staged(vec![Outbox::stage_envelope(envelope)?])
            .await
    }

    /// Wraps `data` in a new envelope and checks it, to be added with
    /// others by [`Self::add_staged`] (fewer statements for many events).
    pub fn stage_event<T: EventPayload>(&self, data: T) -> Result<StagedEvent, OutboxError> {
        self.outbox.stage(data)
    }

    /// Adds staged events to the outbox in this unit, in their order.
    pub async fn add_staged(&self, events: Vec<StagedEvent>) -> Result<(), OutboxError> {
        self.outbox.insert_staged(&self.txn, events).await
    }

    /// Commits; the outermost unit then wakes the relay to publish its
    /// events now rather than at its next poll. The outermost unit of an
    /// idempotent request first keeps the request's pledge in its
    /// transaction ([`crate::idempotency::Pledge`]): the mark that the
    /// command committed is stored with the command, and a request a retry
    /// took over commits nothing.
    pub async fn commit(self) -> Result<(), DbErr> {
        if self.outermost.is_some() {
            crate::idempotency::keep_current(&self.txn).await?;
        }
        self.commit_kept().await
    }

    /// Commits a unit whose pledge is kept (or that has none).
    async fn commit_kept(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        if self.outermost.is_some() {
            self.outbox.notify_committed();
        }
        Ok(())
    }

    /// Undoes the unit (as dropping it does), saying so.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// A command's result, written in its unit of work and not committed yet:
/// the handler turns it into the request's answer, and an idempotent
/// request stores that answer in the same transaction
/// ([`Written::commit_answering`]), so a crash between the commit and the
/// answer cannot leave a retry without it. Other callers [`Written::commit`].
#[must_use = "nothing is stored until it is committed"]
#[derive(Debug)]
pub struct Written<T> {
    work: UnitOfWork,
    value: T,
}

impl<T> Written<T> {
    pub fn new(work: UnitOfWork, value: T) -> Self {
        Self { work, value }
    }

    /// The same writes, with the result made into another.
    pub fn map<U>(self, make: impl FnOnce(T) -> U) -> Written<U> {
        Written {
            work: self.work,
            value: make(self.value),
        }
    }

    /// Commits, and returns the command's result.
    pub async fn commit(self) -> Result<T, DbErr> {
        self.work.commit().await?;
        Ok(self.value)
    }

    /// Commits with the answer `answer` makes of the result; the answer of
    /// an idempotent request is stored in the transaction (see
    /// [`crate::idempotency::Pledge::keep_answering`]).
    pub async fn commit_answering(
        self,
        answer: impl FnOnce(&T) -> Result<Answer, ApiError>,
    ) -> Result<Answer, ApiError> {
        let answer = answer(&self.value)?;
        match crate::idempotency::current() {
            Some(pledge) if answer.status().is_success() => {
                pledge.keep_answering(&self.work.txn, &answer).await?;
                self.work.commit_kept().await?;
            }
            _ => self.work.commit().await?,
        }
        Ok(answer)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for UnitOfWork {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}
