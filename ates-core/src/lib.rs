//! What every aTES service shares.
//!
//! - [`account_replica`]: the replica of accounts other services keep from
//!   account events, and the gate that refuses deactivated accounts.
//! - [`auth`]: stateless verification of auth-api's JWTs (JWKS), the
//!   `AuthUser` extractor and role checks.
//! - [`batcher`]: group commit, many requests' writes in one transaction.
//! - [`calendar`]: business days in the configured time zone.
//! - [`config`]: the settings every service reads from its environment.
//! - [`db`]: one connection set-up for SQLite and PostgreSQL, chosen by URL.
//! - [`bus`]: the event bus on NATS JetStream: the transactional outbox and
//!   its relay, durable consumers with idempotent handling, dead letters.
//! - [`http`]: problem-details errors, validated extractors, health
//!   endpoints, the shared router layers and serving.
//! - [`idempotency`]: `Idempotency-Key` on the operations that change
//!   state, so a retried request gets the first answer and changes nothing.
//! - [`metrics`]: Prometheus metrics at `GET /metrics`, one registry per
//!   service.
//! - [`operations`]: the operator's commands of every service binary
//!   (`dead-letters`, `backup`, `restore`).
//! - [`money`]: sums of cents that are errors, not wrapped numbers, when
//!   they overflow.
//! - [`page`]: keyset pagination (`cursor`, `next_cursor`) and search for
//!   every list.
//! - [`quarter_hours`]: management earnings summed by quarter hour in the
//!   transaction that writes them, so reports over days stay flat.
//! - [`service`]: what a token-verifying service with an account replica
//!   opens at start.
//! - [`unit_of_work`]: how a command writes its changes and outbox events
//!   in one transaction; committing wakes the relay.
//! - [`validation`]: request text and dates as types that refuse what is
//!   not allowed (control characters, lengths in characters, the date range).
//! - [`telemetry`], [`trace`] and [`shutdown`]: logs, one trace across the
//!   services (W3C `traceparent` through the outbox and NATS headers,
//!   exported over OTLP when configured), and one cancellation token for a
//!   graceful stop.
//! - `testing` (feature): the integration-test harness (a private
//!   `nats-server`, fresh databases).

pub mod account_replica;
pub mod auth;
pub mod balances;
pub mod batcher;
pub mod bus;
pub mod calendar;
pub mod config;
pub mod db;
pub mod http;
pub mod idempotency;
pub mod metrics;
pub mod money;
pub mod operations;
mod otlp;
pub mod page;
pub mod quarter_hours;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod unit_of_work;
pub mod validation;
