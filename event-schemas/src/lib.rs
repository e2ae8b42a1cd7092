//! The aTES event-schema registry.
//!
//! Every event that crosses the broker is described by one JSON Schema file,
//! `schemas/<domain>/<event>/<version>.json`, covering the whole envelope
//! (docs/product.md §7) with its `data`. The files are embedded at compile time;
//! released versions are frozen by `schemas.lock` (a test compares hashes), so
//! a change to a contract is always a new version file.
//!
//! Producers validate before an event is written to the outbox, consumers on
//! receipt, both through [`validate`] / [`validate_envelope`]. The typed
//! payloads in [`accounts`], [`tasks`] and [`accounting`] are what Rust code builds and reads.

pub mod accounting;
pub mod accounts;
pub mod documents;
mod envelope;
mod examples;
mod fixtures;
mod registry;
pub mod tasks;

pub use envelope::{Envelope, EventPayload};
pub use examples::examples;
pub use registry::{
    EventKey, Registry, SchemaError, Violation, registry, validate, validate_envelope,
};
