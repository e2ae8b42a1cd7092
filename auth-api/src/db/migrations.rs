//! auth-api's migrations: the bus tables first, then its own. Released
//! migrations are never edited; a change is a new migration.

use sea_orm_migration::async_trait::async_trait;
use sea_orm_migration::prelude::*;

/// Runs every migration of auth-api.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = ates_core::bus::migrations();
        migrations.push(Box::new(CreateAuthTables));
        migrations.push(Box::new(AddAccountRevision));
        migrations.push(Box::new(AddAccountCredentials));
        migrations.push(Box::new(CreateThrottleTables));
        migrations.extend(ates_core::idempotency::migrations());
        migrations
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Email,
    FullName,
    Role,
    Active,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
    Revision,
    MustChangePassword,
    CredentialsChangedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    AccountId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    PrivateKey,
    PublicKey,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum LoginThrottles {
    Table,
    Email,
    Failures,
    FirstFailureAt,
    BlockedUntil,
}

struct CreateAuthTables;

impl MigrationName for CreateAuthTables {
    fn name(&self) -> &str {
        "m20261124_100001_create_auth_tables"
    }
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn optional_timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait]
impl MigrationTrait for CreateAuthTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(ColumnDef::new(Accounts::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Accounts::Email)
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Accounts::FullName)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Accounts::Role).string_len(20).not_null())
                    .col(ColumnDef::new(Accounts::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(Accounts::PasswordHash)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(timestamp(Accounts::CreatedAt))
                    .col(timestamp(Accounts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(
                        ColumnDef::new(RefreshTokens::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RefreshTokens::FamilyId).uuid().not_null())
                    .col(ColumnDef::new(RefreshTokens::AccountId).uuid().not_null())
                    .col(
                        ColumnDef::new(RefreshTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(timestamp(RefreshTokens::CreatedAt))
                    .col(timestamp(RefreshTokens::ExpiresAt))
                    .col(optional_timestamp(RefreshTokens::UsedAt))
                    .col(optional_timestamp(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(
                        ColumnDef::new(SigningKeys::Kid)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::PrivateKey)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SigningKeys::PublicKey)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(timestamp(SigningKeys::CreatedAt))
                    .col(optional_timestamp(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottles::Table)
                    .col(
                        ColumnDef::new(LoginThrottles::Email)
                            .string_len(254)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LoginThrottles::Failures)
                            .integer()
                            .not_null(),
                    )
                    .col(timestamp(LoginThrottles::FirstFailureAt))
                    .col(optional_timestamp(LoginThrottles::BlockedUntil))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ThrottleWindows {
    Table,
    Bucket,
    Hits,
    WindowEndsAt,
}

#[derive(DeriveIden)]
enum KnownClients {
    Table,
    Email,
    Client,
    LastLoginAt,
}

/// Throttling reserves attempts atomically in `throttle_windows` (one row
/// per email or client address) instead of counting failures after the
/// fact in `login_throttles`, which goes: its rows were only ever transient
/// blocks. `known_clients` remembers where each account logged in from.
struct CreateThrottleTables;

impl MigrationName for CreateThrottleTables {
    fn name(&self) -> &str {
        "m20261201_000020_create_throttle_tables"
    }
}

#[async_trait]
impl MigrationTrait for CreateThrottleTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ThrottleWindows::Table)
                    .col(
                        ColumnDef::new(ThrottleWindows::Bucket)
                            .string_len(300)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ThrottleWindows::Hits)
                            .big_integer()
                            .not_null(),
                    )
                    .col(timestamp(ThrottleWindows::WindowEndsAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_throttle_windows_ends_at")
                    .table(ThrottleWindows::Table)
                    .col(ThrottleWindows::WindowEndsAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KnownClients::Table)
                    .col(
                        ColumnDef::new(KnownClients::Email)
                            .string_len(254)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnownClients::Client)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(timestamp(KnownClients::LastLoginAt))
                    .primary_key(
                        Index::create()
                            .col(KnownClients::Email)
                            .col(KnownClients::Client),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(LoginThrottles::Table).to_owned())
            .await
    }
}

/// Temporary passwords and password changes: `must_change_password` (false
/// for every existing account) and `credentials_changed_at` (none yet). One
/// column per statement: SQLite alters one column at a time.
struct AddAccountCredentials;

impl MigrationName for AddAccountCredentials {
    fn name(&self) -> &str {
        "m20261201_000010_add_account_credentials"
    }
}

#[async_trait]
impl MigrationTrait for AddAccountCredentials {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(
                        ColumnDef::new(Accounts::MustChangePassword)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(optional_timestamp(Accounts::CredentialsChangedAt))
                    .to_owned(),
            )
            .await
    }
}

struct AddAccountRevision;

impl MigrationName for AddAccountRevision {
    fn name(&self) -> &str {
        "m20261201_000001_add_account_revision"
    }
}

#[async_trait]
impl MigrationTrait for AddAccountRevision {
    /// Accounts that existed before revisions start at 1; their earlier
    /// events carry no revision, and replicas let the first revisioned
    /// event through whatever its number.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(
                        ColumnDef::new(Accounts::Revision)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await
    }
}
