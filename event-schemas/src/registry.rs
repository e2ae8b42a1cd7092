//! The registry: every embedded schema, compiled once, looked up by event
//! name and version.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use jsonschema::{Draft, Validator};
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/schemas.rs"));

/// An event name with one of its versions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    pub name: String,
    pub version: u32,
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

/// One broken rule: where in the event, and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the event, e.g. `/data/title`.
    pub path: String,
    pub message: String,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("event has no valid event_name/event_version: {0}")]
    NotAnEnvelope(String),
    #[error("unknown event {0}: the registry has no schema for it")]
    UnknownEvent(EventKey),
    #[error("event {key} breaks its schema: {}", format_violations(.violations))]
    Invalid {
        key: EventKey,
        violations: Vec<Violation>,
    },
}

fn format_violations(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|violation| format!("{}: {}", display_path(&violation.path), violation.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

struct Entry {
    path: &'static str,
    schema: Value,
    validator: Validator,
}

/// All schemas, compiled.
pub struct Registry {
    entries: BTreeMap<EventKey, Entry>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::load);

/// The process-wide registry (compiled on first use).
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// Validates an event against the schema of `name` at `version`.
pub fn validate(name: &str, version: u32, event: &Value) -> Result<(), SchemaError> {
    registry().validate(name, version, event)
}

/// Validates an event against the schema its own `event_name` and
/// `event_version` name, returning that key.
pub fn validate_envelope(event: &Value) -> Result<EventKey, SchemaError> {
    let key = envelope_key(event)?;
    registry().validate(&key.name, key.version, event)?;
    Ok(key)
}

fn envelope_key(event: &Value) -> Result<EventKey, SchemaError> {
    let name = event
        .get("event_name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            SchemaError::NotAnEnvelope("event_name is missing or not a string".into())
        })?;
    let version = event
        .get("event_version")
        .and_then(Value::as_u64)
        .and_then(|version| u32::try_from(version).ok())
        .ok_or_else(|| {
            SchemaError::NotAnEnvelope("event_version is missing or not a positive integer".into())
        })?;
    Ok(EventKey {
        name: name.to_owned(),
        version,
    })
}

impl Registry {
    fn load() -> Self {
        let entries = SCHEMA_FILES
            .iter()
            .map(|&(name, version, path, text)| {
                let schema: Value = serde_json::from_str(text)
                    .unwrap_or_else(|error| panic!("schema {path} is not JSON: {error}"));
                let validator = jsonschema::options()
                    .with_draft(Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|error| panic!("schema {path} does not compile: {error}"));
                let key = EventKey {
                    name: name.to_owned(),
                    version,
                };
                (
                    key,
                    Entry {
                        path,
                        schema,
                        validator,
                    },
                )
            })
            .collect();
        Self { entries }
    }

    /// Every (event name, version) the registry knows, in order.
    pub fn events(&self) -> impl Iterator<Item = &EventKey> {
        self.entries.keys()
    }

    /// The versions of one event, oldest first.
    pub fn versions(&self, name: &str) -> Vec<u32> {
        self.entries
            .keys()
            .filter(|key| key.name == name)
            .map(|key| key.version)
            .collect()
    }

    /// The newest version of an event: the one producers publish.
    pub fn latest_version(&self, name: &str) -> Option<u32> {
        self.versions(name).into_iter().max()
    }

    /// The schema document of one event version.
    pub fn schema(&self, name: &str, version: u32) -> Option<&Value> {
        self.entry(name, version).map(|entry| &entry.schema)
    }

    /// The file of one event version, relative to `schemas/`.
    pub fn schema_path(&self, name: &str, version: u32) -> Option<&'static str> {
        self.entry(name, version).map(|entry| entry.path)
    }

    /// Validates an event against the schema of `name` at `version`,
    /// reporting every violation with its JSON path.
    pub fn validate(&self, name: &str, version: u32, event: &Value) -> Result<(), SchemaError> {
        let key = EventKey {
            name: name.to_owned(),
            version,
        };
        let Some(entry) = self.entries.get(&key) else {
            return Err(SchemaError::UnknownEvent(key));
        };
        if entry.validator.is_valid(event) {
            return Ok(());
        }
        let violations = entry
            .validator
            .iter_errors(event)
            .map(|error| Violation {
                path: error.instance_path().to_string(),
                message: error.to_string(),
            })
            .collect();
        Err(SchemaError::Invalid { key, violations })
    }

    fn entry(&self, name: &str, version: u32) -> Option<&Entry> {
        self.entries.get(&EventKey {
            name: name.to_owned(),
            version,
        })
    }
}
