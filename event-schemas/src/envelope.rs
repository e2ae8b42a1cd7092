//! The envelope every event travels in, and the trait that ties a typed
//! payload to its schema.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A typed event payload: the `data` of one event name at one version.
pub trait EventPayload: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The event name, `<domain>.<event>`, e.g. `tasks.created`.
    const NAME: &'static str;
    /// The schema version this payload is written against.
    const VERSION: u32;

    /// A realistic instance, used in tests and in the generated documentation.
    fn example() -> Self;
}

/// The envelope of docs/product.md §7: metadata around the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub event_id: Uuid,
    pub event_name: String,
    pub event_version: u32,
    pub event_time: DateTime<Utc>,
    pub producer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub data: T,
}

impl<T: EventPayload> Envelope<T> {
    /// Wraps `data` in a fresh envelope: new event id, the current time.
    pub fn new(producer: &str, data: T) -> Self {
        Self::at(producer, Utc::now(), data)
    }

    /// Wraps `data` in a fresh envelope with an explicit event time (for an
    /// injected clock).
    pub fn at(producer: &str, event_time: DateTime<Utc>, data: T) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_name: T::NAME.to_owned(),
            event_version: T::VERSION,
            event_time,
            producer: producer.to_owned(),
            correlation_id: None,
            data,
        }
    }

    /// Sets the correlation id (a request or trace id).
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }
}
