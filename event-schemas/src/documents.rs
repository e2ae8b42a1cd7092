//! Documents generated from the registry: an AsyncAPI 3 description of
//! every event (channels = subjects, messages = event versions, payloads =
//! the JSON Schemas, with their examples) and a Markdown event catalogue.
//! `make openapi` writes them to `openapi/events.asyncapi.json` and
//! `docs/events.md`; a test fails when they drift from the registry.

use serde_json::{Map, Value, json};

use crate::{examples, registry};

/// Who publishes each domain's events.
const PRODUCERS: [(&str, &str); 3] = [
    ("accounts", "auth-api"),
    ("tasks", "tasks-api"),
    ("accounting", "accounting-api"),
];

/// Who reads each event (the services' `subscriptions`).
const CONSUMERS: [(&str, &[&str]); 7] = [
    (
        "accounts.",
        &["tasks-api", "accounting-api", "analytics-api"],
    ),
    ("tasks.created", &["accounting-api", "analytics-api"]),
    ("tasks.assigned", &["accounting-api"]),
    ("tasks.completed", &["accounting-api"]),
    ("accounting.transaction_applied", &["analytics-api"]),
    ("accounting.task_priced", &[]),
    ("accounting.", &[]),
];

fn domain_of(name: &str) -> (&'static str, &'static [&'static str]) {
    let domain = name.split('.').next().unwrap_or_default();
    let producer = PRODUCERS
        .iter()
        .find(|(candidate, _)| *candidate == domain)
        .map_or("unknown", |(_, producer)| *producer);
    let consumers = CONSUMERS
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map_or(&[][..], |(_, consumers)| *consumers);
    (producer, consumers)
}

fn id(name: &str, version: u32) -> String {
    format!("{}_v{version}", name.replace('.', "_"))
}

/// The AsyncAPI 3.0 document of every event version in the registry.
pub fn asyncapi() -> Value {
    let examples: Map<String, Value> = examples()
        .into_iter()
        .map(|(key, event)| (id(&key.name, key.version), event))
        .collect();
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for key in registry().events() {
        let message_id = id(&key.name, key.version);
        let subject = format!("{}.v{}", key.name, key.version);
        let schema = registry()
            .schema(&key.name, key.version)
            .cloned()
            .unwrap_or(Value::Null);
        let (producer, consumers) = domain_of(&key.name);
        let mut message = json!({
            "name": key.name,
            "title": format!("{} v{}", key.name, key.version),
            "summary": schema.get("description").cloned().unwrap_or(Value::Null),
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "The event id: JetStream drops a duplicate within its window."}}
            },
            "payload": {
                "schemaFormat": "application/schema+json;version=draft-2020-12",
                "schema": schema,
            },
        });
        if let Some(example) = examples.get(&message_id) {
            message["examples"] = json!([{"name": "example", "payload": example}]);
        }
        messages.insert(message_id.clone(), message);
        channels.insert(
            message_id.clone(),
            json!({
                "address": subject,
                "description": format!("Published by {producer}; read by {}. Stream of the `{}` domain.", if consumers.is_empty() { "nobody yet".to_owned() } else { consumers.join(", ") }, key.name.split('.').next().unwrap_or_default()),
                "messages": {message_id.clone(): {"$ref": format!("#/components/messages/{message_id}")}},
            }),
        );
        operations.insert(
            format!("publish_{message_id}"),
            json!({
                "action": "send",
                "summary": format!("{producer} publishes {} v{} through its outbox", key.name, key.version),
                "channel": {"$ref": format!("#/channels/{message_id}")},
                "messages": [{"$ref": format!("#/channels/{message_id}/messages/{message_id}")}],
            }),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "aTES events",
            "version": "1.0.0",
            "description": "Every event of aTES on NATS JetStream. Subjects are `<domain>.<event>.v<version>` (with an optional environment prefix); one stream per domain. Every event is a JSON envelope validated against its schema by the producer and again by each consumer.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "`make run`"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    })
}

/// The event catalogue in Markdown.
pub fn catalogue() -> String {
    let mut text = String::from(
        "# aTES event catalogue\n\nGenerated from `event-schemas/` by `make openapi`; do not edit.\n\
         Every event is an envelope (`event_id`, `event_name`, `event_version`, `event_time`,\n\
         `producer`, optional `correlation_id`, `data`); the table lists its `data` fields.\n\n\
         | subject | producer | consumers | description | data fields |\n|---|---|---|---|---|\n",
    );
    for key in registry().events() {
        let schema = registry()
            .schema(&key.name, key.version)
            .cloned()
            .unwrap_or(Value::Null);
        let (producer, consumers) = domain_of(&key.name);
        let fields: Vec<String> = schema["properties"]["data"]["properties"]
            .as_object()
            .map(|properties| {
                properties
                    .keys()
                    .map(|field| format!("`{field}`"))
                    .collect()
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "| `{}.v{}` | {producer} | {} | {} | {} |\n",
            key.name,
            key.version,
            if consumers.is_empty() {
                "(none yet)".to_owned()
            } else {
                consumers.join(", ")
            },
            schema["description"].as_str().unwrap_or_default(),
            fields.join(", "),
        ));
    }
    text
}
