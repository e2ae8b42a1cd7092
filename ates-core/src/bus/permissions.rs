//! The broker permission set, written once: what each service may publish
//! and subscribe to on NATS, rendered into a `nats-server` configuration
//! (by the `ates-nats-config` binary for `make run` and compose, and by the
//! test harness) with one nkey identity per service.
//!
//! A service may publish only:
//! - its own domain's subjects (`auth-api` `accounts.>`, `tasks-api`
//!   `tasks.>`, `accounting-api` `accounting.>`; `analytics-api` none), and
//!   create, update and look up its own domain's stream;
//! - for each stream it consumes, with each of its consumer names: look up
//!   the stream, look up, create and delete its durable consumer, pull
//!   messages from it and ack them;
//! - its consumers' dead letters (`deadletter.<consumer>.>`), and create the
//!   shared dead-letter stream or look it up (never update it).
//!
//! It may subscribe only to its own reply inboxes (`_INBOX_<service>.>`).
//! Deleting or purging a stream, or a message in one, is denied to every
//! service. The `ates-operator` identity is unrestricted: for the operator's
//! tools (dead-letter inspection and replay, which republishes an event on
//! its original subject) and the tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Naming, Secret, produced_domain};

/// A service and the domains whose streams it consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRole {
    /// The service name, which is also its identity on the broker.
    pub service: &'static str,
    /// The domains whose streams it reads (its own domain comes from
    /// [`super::DOMAIN_PRODUCERS`]).
    pub consumes: &'static [&'static str],
}

/// Every aTES service on the broker.
pub const SERVICE_ROLES: [ServiceRole; 4] = [
    ServiceRole {
        service: "auth-api",
        consumes: &[],
    },
    ServiceRole {
        service: "tasks-api",
        consumes: &["accounts"],
    },
    ServiceRole {
        service: "accounting-api",
        consumes: &["accounts", "tasks"],
    },
    ServiceRole {
        service: "analytics-api",
        consumes: &["accounts", "tasks", "accounting"],
    },
];

/// The unrestricted identity of operators' tools and tests.
pub const OPERATOR: &str = "ates-operator";

/// The role of `service`, if it is an aTES service.
pub fn role(service: &str) -> Option<&'static ServiceRole> {
    SERVICE_ROLES.iter().find(|role| role.service == service)
}

/// Where a service's replies arrive (`_INBOX_tasks-api`): its own inboxes,
/// so that no service can read another's replies.
pub fn inbox_prefix(service: &str) -> String {
    let token: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("_INBOX_{token}")
}

/// The consumer names a service may use by default: its name (the
/// default `CONSUMER_NAME`) and `<service>-rebuild` (a rebuild).
pub fn default_consumers(service: &str) -> Vec<String> {
    vec![service.to_owned(), format!("{service}-rebuild")]
}

/// What one identity may publish and subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    /// Subjects it may publish to (events, JetStream API calls, acks).
    pub publish_allow: Vec<String>,
    /// Subjects it may never publish to, whatever `publish_allow` says.
    pub publish_deny: Vec<String>,
    /// Subjects it may subscribe to (its reply inboxes).
    pub subscribe_allow: Vec<String>,
}

/// The permissions of `role` with `consumers` as its consumer names.
pub fn service_permissions(
    role: &ServiceRole,
    naming: &Naming,
    consumers: &[String],
) -> Permissions {
    let mut publish = Vec::new();
    if let Some(domain) = produced_domain(role.service) {
        let stream = naming.domain_stream(domain);
        publish.push(naming.domain_subjects(domain));
        for action in ["INFO", "CREATE", "UPDATE"] {
            publish.push(format!("$JS.API.STREAM.{action}.{stream}"));
        }
    }
    for domain in role.consumes {
        let stream = naming.domain_stream(domain);
        publish.push(format!("$JS.API.STREAM.INFO.{stream}"));
        for consumer in consumers {
            publish.push(format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}"));
            // 2.9+ names the filter subject in the create subject.
            publish.push(format!("$JS.API.CONSUMER.CREATE.{stream}.{consumer}"));
            publish.push(format!("$JS.API.CONSUMER.CREATE.{stream}.{consumer}.>"));
            publish.push(format!("$JS.API.CONSUMER.DELETE.{stream}.{consumer}"));
            publish.push(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"));
            publish.push(format!("$JS.ACK.{stream}.{consumer}.>"));
        }
    }
    if !role.consumes.is_empty() {
        let stream = naming.dead_letter_stream();
        publish.push(format!("$JS.API.STREAM.INFO.{stream}"));
        publish.push(format!("$JS.API.STREAM.CREATE.{stream}"));
        for consumer in consumers {
            publish.push(naming.dead_letter_filter(consumer));
        }
    }
    Permissions {
        publish_allow: publish,
        publish_deny: vec![
            "$JS.API.STREAM.DELETE.>".into(),
            "$JS.API.STREAM.PURGE.>".into(),
            "$JS.API.STREAM.MSG.DELETE.>".into(),
        ],
        subscribe_allow: vec![format!("{}.>", inbox_prefix(role.service))],
    }
}

/// How one user proves who it is, as the server configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An nkey public key (`U...`): the server holds no secret.
    Nkey(String),
    /// A user and password (tests of that credential kind).
    Password { user: String, password: Secret },
}

/// One user of the server configuration.
#[derive(Debug, Clone)]
pub struct User {
    /// Who it is, for a comment in the configuration.
    pub name: String,
    pub identity: Identity,
    /// `None`: unrestricted.
    pub permissions: Option<Permissions>,
}

/// A `nats-server` configuration file with `users` (accepted by 2.9 and
/// current releases). Start the server with it: `nats-server -c FILE -js`.
pub fn render_server_config(users: &[User]) -> String {
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut out = String::from(
        "# Generated by ates-nats-config from ates_core::bus::permissions; do not edit.\n\
         authorization {\n  users = [\n",
    );
    for user in users {
        out.push_str(&format!("    # {}\n    {{\n", user.name));
        match &user.identity {
            Identity::Nkey(public) => out.push_str(&format!("      nkey: {}\n", quote(public))),
            Identity::Password { user, password } => out.push_str(&format!(
                "      user: {}\n      password: {}\n",
                quote(user),
                quote(password.expose())
            )),
        }
        if let Some(permissions) = &user.permissions {
            out.push_str(&format!(
                "      permissions: {{\n        publish: {{\n          allow: {}\n          deny: {}\n        }}\n        subscribe: {{\n          allow: {}\n        }}\n      }}\n",
                list(&permissions.publish_allow),
                list(&permissions.publish_deny),
                list(&permissions.subscribe_allow),
            ));
        }
        out.push_str("    }\n");
    }
    out.push_str("  ]\n}\n");
    out
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The server configuration: `<dir>/nats/nats-server.conf`.
    pub server_config: PathBuf,
    /// Each identity's nkey seed file: `<dir>/<identity>/nkey.seed`.
    pub seed_files: Vec<(String, PathBuf)>,
}

/// The nkey seed file of `identity` under `dir`.
pub fn seed_file(dir: &Path, identity: &str) -> PathBuf {
    dir.join(identity).join("nkey.seed")
}

/// Writes the server configuration for every service (and the operator)
/// under `dir`, creating each identity's nkey seed on first run and keeping
/// it afterwards (never overwritten; mode 0600). `extra_consumers`: more
/// consumer names per service, beyond [`default_consumers`]. `owner`: a
/// `uid:gid` to give the files to (compose, where the services run as
/// another user than the generator).
pub fn generate(
    dir: &Path,
    naming: &Naming,
    extra_consumers: &[(String, String)],
    owner: Option<(u32, u32)>,
) -> std::io::Result<Generated> {
    let mut users = Vec::new();
    let mut seed_files = Vec::new();
    for role in &SERVICE_ROLES {
        let mut consumers = default_consumers(role.service);
        consumers.extend(
            extra_consumers
                .iter()
                .filter(|(service, _)| service == role.service)
                .map(|(_, consumer)| consumer.clone()),
        );
        let (public, path) = ensure_seed(dir, role.service, owner)?;
        users.push(User {
            name: role.service.to_owned(),
            identity: Identity::Nkey(public),
            permissions: Some(service_permissions(role, naming, &consumers)),
        });
        seed_files.push((role.service.to_owned(), path));
    }
    let (public, path) = ensure_seed(dir, OPERATOR, owner)?;
    users.push(User {
        name: OPERATOR.to_owned(),
        identity: Identity::Nkey(public),
        permissions: None,
    });
    seed_files.push((OPERATOR.to_owned(), path));
    let server_config = dir.join("nats").join("nats-server.conf");
    create_dir(server_config.parent().unwrap_or(dir), owner)?;
    std::fs::write(&server_config, render_server_config(&users))?;
    give(&server_config, owner)?;
    Ok(Generated {
        server_config,
        seed_files,
    })
}

fn create_dir(dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    give(dir, owner)
}

fn give(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

/// The public key of `identity`'s seed, creating the seed if missing.
fn ensure_seed(
    dir: &Path,
    identity: &str,
    owner: Option<(u32, u32)>,
) -> std::io::Result<(String, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = seed_file(dir, identity);
    create_dir(path.parent().unwrap_or(dir), owner)?;
    if !path.exists() {
        let seed = nkeys::KeyPair::new_user()
            .seed()
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        writeln!(file, "{seed}")?;
        give(&path, owner)?;
    }
    let seed = std::fs::read_to_string(&path)?;
    let pair = nkeys::KeyPair::from_seed(seed.trim()).map_err(|error| {
        std::io::Error::other(format!("{} is not an nkey seed: {error}", path.display()))
    })?;
    Ok((pair.public_key(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytics_publishes_no_domain_subject_and_tasks_only_its_own() {
        let naming = Naming::new(None);
        let analytics = role("analytics-api").expect("a service");
        let permissions =
            service_permissions(analytics, &naming, &default_consumers("analytics-api"));
        assert!(
            !permissions
                .publish_allow
                .iter()
                .any(|subject| subject.starts_with("tasks.") || subject.starts_with("accounts.")),
            "{permissions:?}"
        );
        assert!(
            !permissions
                .publish_allow
                .iter()
                .any(|s| s.contains("STREAM.UPDATE"))
        );
        let tasks = service_permissions(
            role("tasks-api").expect("a service"),
            &Naming::new(Some("staging")),
            &default_consumers("tasks-api"),
        );
        assert!(tasks.publish_allow.contains(&"staging.tasks.>".to_owned()));
        assert!(
            tasks
                .publish_allow
                .contains(&"$JS.API.STREAM.UPDATE.STAGING_TASKS".to_owned())
        );
        assert!(
            !tasks
                .publish_allow
                .iter()
                .any(|s| s.contains("STREAM.UPDATE.STAGING_ACCOUNTS"))
        );
        assert!(
            tasks
                .publish_allow
                .contains(&"staging.deadletter.tasks-api-rebuild.>".to_owned())
        );
        assert_eq!(tasks.subscribe_allow, ["_INBOX_tasks-api.>"]);
    }

    #[test]
    fn seeds_are_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("ates-nats-config-{}", std::process::id()));
        let first = generate(&dir, &Naming::new(None), &[], None).expect("generates");
        let seed = std::fs::read_to_string(seed_file(&dir, "tasks-api")).expect("a seed");
        let second = generate(&dir, &Naming::new(None), &[], None).expect("generates again");
        assert_eq!(
            std::fs::read_to_string(seed_file(&dir, "tasks-api")).expect("a seed"),
            seed
        );
        assert_eq!(first.seed_files, second.seed_files);
        let config = std::fs::read_to_string(&second.server_config).expect("a config");
        assert!(
            !config.contains(seed.trim()),
            "the server config holds no seed"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
