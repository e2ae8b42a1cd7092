//! The bus's own tables, which live in every service's database: the
//! outbox and the record of processed events. Each service's migrator
//! starts with [`migrations`].

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;

/// The bus migrations, in order. Released migrations are never edited.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateOutboxEvents),
        Box::new(CreateProcessedEvents),
        Box::new(AddOutboxTraceParent),
        Box::new(CreateSettledDeadLetters),
    ]
}

/// A migrator with only the bus tables (for the bus's own tests and tools).
#[derive(Debug)]
pub struct BusMigrator;

#[async_trait]
impl MigratorTrait for BusMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migrations()
    }
}

#[derive(DeriveIden)]
pub(crate) enum OutboxEvents {
    Table,
    Id,
    EventId,
    EventName,
    EventVersion,
    Subject,
    Payload,
    CreatedAt,
    PublishedAt,
    Attempts,
    LastError,
    TraceParent,
}

struct CreateOutboxEvents;

impl MigrationName for CreateOutboxEvents {
    fn name(&self) -> &str {
        "m20261124_000001_create_outbox_events"
    }
}

#[async_trait]
impl MigrationTrait for CreateOutboxEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OutboxEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::EventId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::EventName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::EventVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::Subject)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OutboxEvents::Payload).text().not_null())
                    .col(
                        ColumnDef::new(OutboxEvents::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::PublishedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OutboxEvents::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(OutboxEvents::LastError).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_events_pending")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::PublishedAt)
                    .col(OutboxEvents::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum ProcessedEvents {
    Table,
    Consumer,
    EventId,
    EventName,
    ProcessedAt,
}

struct CreateProcessedEvents;

impl MigrationName for CreateProcessedEvents {
    fn name(&self) -> &str {
        "m20261124_000002_create_processed_events"
    }
}

#[async_trait]
impl MigrationTrait for CreateProcessedEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProcessedEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ProcessedEvents::Consumer)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ProcessedEvents::EventId).uuid().not_null())
                    .col(
                        ColumnDef::new(ProcessedEvents::EventName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProcessedEvents::ProcessedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ProcessedEvents::Consumer)
                            .col(ProcessedEvents::EventId),
                    )
                    .to_owned(),
            )
            .await
    }
}

/// The W3C `traceparent` of the span that wrote an outbox row, which the
/// relay sends as a NATS header (`crate::trace`); empty for rows written
/// before it, and outside any trace.
struct AddOutboxTraceParent;

impl MigrationName for AddOutboxTraceParent {
    fn name(&self) -> &str {
        "m20261206_000001_outbox_trace_parent"
    }
}

#[async_trait]
impl MigrationTrait for AddOutboxTraceParent {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .add_column(ColumnDef::new(OutboxEvents::TraceParent).text().null())
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SettledDeadLetters {
    Table,
    Consumer,
    Sequence,
    Outcome,
    Detail,
    SettledAt,
}

/// The dead letters an operator replayed or discarded (`<service>
/// dead-letters`), by consumer and sequence in the dead-letter stream: they
/// stay in the stream (a service may not delete from it) and are no longer
/// waiting.
struct CreateSettledDeadLetters;

impl MigrationName for CreateSettledDeadLetters {
    fn name(&self) -> &str {
        "m20261206_000002_create_settled_dead_letters"
    }
}

#[async_trait]
impl MigrationTrait for CreateSettledDeadLetters {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SettledDeadLetters::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SettledDeadLetters::Consumer)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SettledDeadLetters::Sequence)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SettledDeadLetters::Outcome)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SettledDeadLetters::Detail).text().not_null())
                    .col(
                        ColumnDef::new(SettledDeadLetters::SettledAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SettledDeadLetters::Consumer)
                            .col(SettledDeadLetters::Sequence),
                    )
                    .to_owned(),
            )
            .await
    }
}

/// The outbox row.
pub(crate) mod outbox_event {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub event_id: Uuid,
        pub event_name: String,
        pub event_version: i32,
        pub subject: String,
        pub payload: String,
        pub created_at: DateTimeUtc,
        pub published_at: Option<DateTimeUtc>,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub trace_parent: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// The record that a consumer applied an event.
pub(crate) mod processed_event {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "processed_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        pub event_name: String,
        pub processed_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A dead letter an operator replayed or discarded.
pub(crate) mod settled_dead_letter {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settled_dead_letters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sequence: i64,
        /// `replayed` or `discarded`.
        pub outcome: String,
        /// What the replay did, or why it was discarded.
        pub detail: String,
        pub settled_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
