//! The registry's own guarantees: every schema compiles and names itself
//! right, every typed payload validates, broken events are refused with the
//! path of the broken field, and released versions never change.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use event_schemas::{EventKey, SchemaError, examples, registry, validate, validate_envelope};
use serde_json::json;
use sha2::{Digest, Sha256};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn schema_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("schemas/ is readable") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            schema_files(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn all_schema_files() -> Vec<String> {
    let root = schemas_dir();
    let mut found = Vec::new();
    schema_files(&root, &mut found);
    let mut relative: Vec<String> = found
        .iter()
        .map(|path| {
            path.strip_prefix(&root)
                .expect("under schemas/")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    relative.sort();
    relative
}

fn violations_of(error: SchemaError) -> Vec<(String, String)> {
    match error {
        SchemaError::Invalid { violations, .. } => violations
            .into_iter()
            .map(|violation| (violation.path, violation.message))
            .collect(),
        other => panic!("expected schema violations, got {other}"),
    }
}

#[test]
fn every_schema_file_compiles_and_is_in_the_registry() {
    let files = all_schema_files();
    let registered: Vec<&EventKey> = registry().events().collect();
    assert_eq!(
        files.len(),
        registered.len(),
        "every file under schemas/ is a registered schema: {files:?}"
    );
    for key in registered {
        let schema = registry()
            .schema(&key.name, key.version)
            .expect("listed events have a schema");
        assert_eq!(
            schema["properties"]["event_name"]["const"],
            json!(key.name),
            "{key}: event_name const matches the file path"
        );
        assert_eq!(
            schema["properties"]["event_version"]["const"],
            json!(key.version),
            "{key}: event_version const matches the file name"
        );
        assert_eq!(
            schema["$schema"],
            json!("https://json-schema.org/draft/2020-12/schema")
        );
    }
}

#[test]
fn registry_lists_every_event_with_its_versions() {
    assert_eq!(registry().versions("tasks.created"), vec![1, 2, 3]);
    assert_eq!(registry().latest_version("tasks.created"), Some(3));
    assert_eq!(registry().versions("accounts.created"), vec![1, 2]);
    assert_eq!(registry().latest_version("no.such_event"), None);
    let names: BTreeSet<&str> = registry().events().map(|key| key.name.as_str()).collect();
    for expected in [
        "accounts.created",
        "accounts.updated",
        "accounts.role_changed",
        "accounts.deactivated",
        "tasks.created",
        "tasks.assigned",
        "tasks.completed",
    ] {
        assert!(names.contains(expected), "registry lists {expected}");
    }
}

#[test]
fn every_schema_has_a_typed_payload_and_every_payload_a_schema() {
    let typed: BTreeSet<EventKey> = examples().into_iter().map(|(key, _)| key).collect();
    let registered: BTreeSet<EventKey> = registry().events().cloned().collect();
    assert_eq!(typed, registered);
}

#[test]
fn every_typed_example_validates_against_its_schema() {
    for (key, event) in examples() {
        validate(&key.name, key.version, &event)
            .unwrap_or_else(|error| panic!("{key} example is invalid: {error}"));
        assert_eq!(validate_envelope(&event), Ok(key));
    }
}

#[test]
fn an_example_missing_a_data_field_is_rejected_at_data() {
    for (key, mut event) in examples() {
        let data = event["data"].as_object_mut().expect("data is an object");
        let first_field = data.keys().next().expect("data has fields").clone();
        data.remove(&first_field);
        let violations = violations_of(validate(&key.name, key.version, &event).unwrap_err());
        assert!(
            violations
                .iter()
                .any(|(path, message)| path == "/data" && message.contains(&first_field)),
            "{key}: missing {first_field} reported at /data, got {violations:?}"
        );
    }
}

#[test]
fn an_example_with_a_mistyped_field_is_rejected_at_that_field() {
    for (key, mut event) in examples() {
        let data = event["data"].as_object_mut().expect("data is an object");
        let field = data.keys().next().expect("data has fields").clone();
        data.insert(field.clone(), json!({"not": "this"}));
        let violations = violations_of(validate(&key.name, key.version, &event).unwrap_err());
        let expected_path = format!("/data/{field}");
        assert!(
            violations.iter().any(|(path, _)| *path == expected_path),
            "{key}: broken {field} reported at {expected_path}, got {violations:?}"
        );
    }
}

#[test]
fn envelope_rules_are_enforced() {
    let (key, event) = examples()
        .into_iter()
        .find(|(key, _)| key.name == "tasks.completed")
        .expect("tasks.completed has an example");

    let mut no_id = event.clone();
    no_id.as_object_mut().expect("object").remove("event_id");
    let violations = violations_of(validate(&key.name, key.version, &no_id).unwrap_err());
    assert!(
        violations
            .iter()
            .any(|(_, message)| message.contains("event_id"))
    );

    let mut bad_uuid = event.clone();
    bad_uuid["event_id"] = json!("not-a-uuid");
    let violations = violations_of(validate(&key.name, key.version, &bad_uuid).unwrap_err());
    assert_eq!(violations[0].0, "/event_id");

    let mut bad_time = event.clone();
    bad_time["data"]["completed_at"] = json!("yesterday");
    let violations = violations_of(validate(&key.name, key.version, &bad_time).unwrap_err());
    assert_eq!(violations[0].0, "/data/completed_at");

    let mut extra = event.clone();
    extra["data"]["reward_cents"] = json!(100);
    assert!(validate(&key.name, key.version, &extra).is_err());

    let mut wrong_name = event;
    wrong_name["event_name"] = json!("tasks.assigned");
    let violations = violations_of(validate(&key.name, key.version, &wrong_name).unwrap_err());
    assert_eq!(violations[0].0, "/event_name");
}

#[test]
fn task_created_v2_refuses_a_jira_id_in_the_title() {
    let (key, mut event) = examples()
        .into_iter()
        .find(|(key, _)| key.name == "tasks.created" && key.version == 2)
        .expect("tasks.created v2 has an example");
    event["data"]["title"] = json!("[POPUG-1] Fix the nest");
    let violations = violations_of(validate(&key.name, key.version, &event).unwrap_err());
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].0, "/data/title");

    event["data"]["title"] = json!("Fix the nest");
    event["data"]["jira_id"] = json!("popug 1");
    let violations = violations_of(validate(&key.name, key.version, &event).unwrap_err());
    assert_eq!(violations[0].0, "/data/jira_id");
}

#[test]
fn unknown_events_and_non_envelopes_are_refused() {
    let (_, mut event) = examples().remove(0);
    event["event_version"] = json!(99);
    assert!(matches!(
        validate_envelope(&event),
        Err(SchemaError::UnknownEvent(EventKey { version: 99, .. }))
    ));
    assert!(matches!(
        validate_envelope(&json!({"hello": "world"})),
        Err(SchemaError::NotAnEnvelope(_))
    ));
    assert!(matches!(
        validate_envelope(&json!({"event_name": "tasks.created", "event_version": -1})),
        Err(SchemaError::NotAnEnvelope(_))
    ));
}

/// Released versions are immutable: `schemas.lock` holds the SHA-256 of
/// every released file. Editing a released file fails here; a new file must
/// be added to the lock deliberately (`make schemas-lock`).
#[test]
fn released_schema_versions_are_unchanged() {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas.lock");
    let lock = fs::read_to_string(&lock_path).expect("event-schemas/schemas.lock exists");
    let mut locked = BTreeSet::new();
    for line in lock.lines().filter(|line| !line.trim().is_empty()) {
        let (hash, path) = line
            .split_once("  ")
            .unwrap_or_else(|| panic!("lock line {line:?} is not '<sha256>  <path>'"));
        let text = fs::read(schemas_dir().join(path))
            .unwrap_or_else(|_| panic!("released schema {path} was deleted"));
        let actual = format!("{:x}", Sha256::digest(&text));
        assert_eq!(
            actual, hash,
            "released schema {path} was edited; released versions are immutable: \
             put the change in a new version file instead"
        );
        locked.insert(path.to_owned());
    }
    for file in all_schema_files() {
        assert!(
            locked.contains(&file),
            "schema {file} is not in schemas.lock: a new version is released \
             deliberately with `make schemas-lock`"
        );
    }
}

/// `openapi/events.asyncapi.json` and `docs/events.md` are generated from
/// the registry (`make openapi`); this fails when they drift.
#[test]
fn the_committed_asyncapi_document_and_catalogue_match_the_registry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root.join("openapi/events.asyncapi.json"))
            .expect("openapi/events.asyncapi.json exists: run `make openapi`"),
    )
    .expect("JSON");
    assert!(
        committed == event_schemas::documents::asyncapi(),
        "openapi/events.asyncapi.json is stale: run `make openapi` and commit it"
    );
    let catalogue = fs::read_to_string(root.join("docs/events.md"))
        .expect("docs/events.md exists: run `make openapi`");
    assert_eq!(
        catalogue,
        event_schemas::documents::catalogue(),
        "docs/events.md is stale: run `make openapi`"
    );
    let channels = committed["channels"].as_object().expect("channels");
    assert_eq!(
        channels.len(),
        registry().events().count(),
        "one channel per event version"
    );
    assert_eq!(committed["asyncapi"], "3.0.0");
}
