//! The settings every service reads from its environment (docs/product.md §10),
//! with defaults that run locally out of the box, and the helpers services
//! use for their own settings.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;

use crate::auth::{FileJwks, HttpJwks, TokenVerifier};
use crate::bus::{BusConfig, BusCredentials, BusTls, ConsumerSettings, Secret};
use crate::http::HttpSettings;

/// A variable's value; unset and blank are the same.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Default pool size on SQLite: one writer at a time and readers that gain
/// nothing beyond the cores; each connection keeps its own thread and page
/// cache (measured: 10 connections cost tasks-api ~27 MiB more under load
/// than 4, for no throughput).
const SQLITE_POOL: u32 = 4;
/// Default pool size on PostgreSQL.
const POSTGRES_POOL: u32 = 10;

/// A variable parsed as `T`, or `default` when unset.
pub fn parse<T: FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        Some(value) => value
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={value:?} is not valid")),
        None => Ok(default),
    }
}

/// An `on`/`off` variable, `on` when unset.
pub fn switch(name: &str) -> anyhow::Result<bool> {
    match var(name).as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => anyhow::bail!("{name}={other:?} is not on or off"),
    }
}

/// A whole-number variable that must lie in `range`.
fn within(name: &str, default: u32, range: std::ops::RangeInclusive<u32>) -> anyhow::Result<u32> {
    let value = parse(name, default)?;
    anyhow::ensure!(
        range.contains(&value),
        "{name}={value} is outside {}..={}",
        range.start(),
        range.end()
    );
    Ok(value)
}

/// A variable in whole seconds.
pub fn seconds(name: &str, default_secs: u64) -> anyhow::Result<Duration> {
    parse(name, default_secs)
        .map(Duration::from_secs)
        .with_context(|| format!("{name} is a number of seconds"))
}

/// `BUSINESS_TIMEZONE` (default `UTC`): the IANA zone business days run in.
pub fn business_timezone() -> anyhow::Result<chrono_tz::Tz> {
    var("BUSINESS_TIMEZONE")
        .unwrap_or_else(|| "UTC".into())
        .parse()
        .map_err(|error| anyhow::anyhow!("{error}"))
        .context("BUSINESS_TIMEZONE must be an IANA time zone such as UTC or Europe/Moscow")
}

/// Where a service finds auth-api's public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKeys {
    /// `AUTH_JWKS_URL` (default auth-api on localhost).
    Url(String),
    /// `AUTH_JWKS_FILE`: a JWKS document on disk.
    File(PathBuf),
}

/// What every service is configured with.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// `BIND_ADDR` (default `127.0.0.1:<the service's port>`).
    pub bind_addr: String,
    /// `DATABASE_URL` (default `sqlite://data/<service>.sqlite?mode=rwc`).
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS` (default 10).
    pub database_max_connections: u32,
    /// `NATS_URL`, `NATS_SUBJECT_PREFIX`, the service name, and its
    /// identity on the broker (see [`bus_from_env`]).
    pub bus: BusConfig,
    /// `CORS_ALLOWED_ORIGINS`, `MAX_BODY_BYTES`.
    pub http: HttpSettings,
    /// `JWT_ISSUER` (default `ates-auth`) and `JWT_AUDIENCE` (default `ates`).
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// `AUTH_JWKS_URL` or `AUTH_JWKS_FILE` (unused by auth-api itself).
    pub auth_keys: AuthKeys,
    /// `CONSUMER_NAME` (default the service name): the durable consumer
    /// every instance shares. A new name with an empty database rebuilds
    /// the service's state by replaying the streams from the start.
    pub consumer_name: String,
    /// `CONSUMER_MAX_DELIVER` (default 10, 1 to 1,000): deliveries of an
    /// event that keeps failing before it becomes a dead letter.
    pub consumer_max_deliver: u32,
    /// `CONSUMER_RETRY_BASE_MS` (default 500, 1 to 60,000): the first
    /// back-off before a failed event is delivered again; it doubles with
    /// each delivery, up to a minute.
    pub consumer_retry_base: Duration,
    /// `BUSINESS_TIMEZONE` (default `UTC`): an IANA zone such as
    /// `Europe/Moscow`; business days run from midnight to midnight there.
    pub business_timezone: chrono_tz::Tz,
    /// `METRICS` (`on` by default; `off` to measure their cost): `off`
    /// serves no `/metrics` and counts no request or consumed event.
    pub metrics: bool,
}

/// A service's whole configuration: the settings every service reads, and
/// its own.
pub trait ServiceConfig: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The whole configuration: `settings` (read already) and whatever the
    /// service reads from the environment on its own.
    fn from_env(settings: ServiceSettings) -> anyhow::Result<Self>;

    /// The settings every service reads.
    fn settings(&self) -> &ServiceSettings;
}

/// A service with no settings of its own is configured by the common ones.
impl ServiceConfig for ServiceSettings {
    fn from_env(settings: ServiceSettings) -> anyhow::Result<Self> {
        Ok(settings)
    }

    fn settings(&self) -> &ServiceSettings {
        self
    }
}

impl ServiceSettings {
    pub fn from_env(service: &str, default_port: u16) -> anyhow::Result<Self> {
        let auth_keys = match var("AUTH_JWKS_FILE") {
            Some(path) => AuthKeys::File(path.into()),
            None => AuthKeys::Url(
                var("AUTH_JWKS_URL")
                    .unwrap_or_else(|| "http://127.0.0.1:3001/.well-known/jwks.json".into()),
            ),
        };
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://data/{service}.sqlite?mode=rwc"));
        let default_pool = if database_url.starts_with("sqlite:") {
            SQLITE_POOL
        } else {
            POSTGRES_POOL
        };
        Ok(Self {
            bind_addr: var("BIND_ADDR").unwrap_or_else(|| format!("127.0.0.1:{default_port}")),
            database_max_connections: parse("DATABASE_MAX_CONNECTIONS", default_pool)?,
            database_url,
            bus: bus_from_env(service)?,
            http: HttpSettings::from_env()?,
            jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "ates-auth".into()),
            jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "ates".into()),
            auth_keys,
            consumer_name: var("CONSUMER_NAME").unwrap_or_else(|| service.to_owned()),
            consumer_max_deliver: within("CONSUMER_MAX_DELIVER", 10, 1..=1_000)?,
            consumer_retry_base: Duration::from_millis(u64::from(within(
                "CONSUMER_RETRY_BASE_MS",
                500,
                1..=60_000,
            )?)),
            business_timezone: business_timezone()?,
            metrics: switch("METRICS")?,
        })
    }

    /// How the service's durable consumer is named and retries.
    pub fn consumer(&self) -> ConsumerSettings {
        ConsumerSettings {
            max_deliver: self.consumer_max_deliver,
            retry_base: self.consumer_retry_base,
            ..ConsumerSettings::new(&self.consumer_name)
        }
    }

    /// A verifier for auth-api's tokens, with its keys loaded. The keys are
    /// fetched at start; when auth-api is not up yet the service still
    /// starts and fetches them on the first token.
    pub async fn token_verifier(&self) -> TokenVerifier {
        let verifier = match &self.auth_keys {
            AuthKeys::Url(url) => {
                TokenVerifier::new(HttpJwks::new(url), &self.jwt_issuer, &self.jwt_audience)
            }
            AuthKeys::File(path) => {
                TokenVerifier::new(FileJwks(path.clone()), &self.jwt_issuer, &self.jwt_audience)
            }
        };
        if let Err(error) = verifier.refresh().await {
            tracing::warn!(%error, "cannot load auth-api's public keys yet; will retry on the first token");
        }
        verifier
    }
}

/// The broker settings: `NATS_URL` (default `nats://127.0.0.1:4222`),
/// `NATS_SUBJECT_PREFIX`, and at most one credential: a user and password
/// (`NATS_USER` with `NATS_PASSWORD` or `NATS_PASSWORD_FILE`, or the
/// userinfo of `NATS_URL`), a token (`NATS_TOKEN` or `NATS_TOKEN_FILE`), an
/// nkey seed file (`NATS_NKEY_SEED_FILE`) or a `.creds` file
/// (`NATS_CREDS_FILE`); TLS with `NATS_TLS_CA_FILE` and an optional client
/// certificate (`NATS_TLS_CERT_FILE` with `NATS_TLS_KEY_FILE`).
pub fn bus_from_env(service: &str) -> anyhow::Result<BusConfig> {
    bus_settings(service, self::var)
}

/// [`bus_from_env`] with the variables read through `var` (tests pass a
/// map: the process environment is shared by every test of a binary).
pub fn bus_settings(
    service: &str,
    var: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<BusConfig> {
    let url = var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let from_url = crate::bus::identity::url_user_password(&url).map_err(anyhow::Error::msg)?;
    let password = secret(
        var("NATS_PASSWORD"),
        var("NATS_PASSWORD_FILE"),
        "NATS_PASSWORD",
    )?;
    let token = secret(var("NATS_TOKEN"), var("NATS_TOKEN_FILE"), "NATS_TOKEN")?;
    let mut kinds: Vec<(&str, BusCredentials)> = Vec::new();
    let nats_url = match from_url {
        Some((user, password, without)) => {
            kinds.push((
                "the userinfo of NATS_URL",
                BusCredentials::UserPassword { user, password },
            ));
            without
        }
        None => url,
    };
    match (var("NATS_USER"), password) {
        (Some(user), Some(password)) => kinds.push((
            "NATS_USER and NATS_PASSWORD",
            BusCredentials::UserPassword { user, password },
        )),
        (Some(_), None) => {
            anyhow::bail!("NATS_USER is set without NATS_PASSWORD (or NATS_PASSWORD_FILE)")
        }
        (None, Some(_)) => anyhow::bail!("NATS_PASSWORD is set without NATS_USER"),
        (None, None) => {}
    }
    if let Some(token) = token {
        kinds.push(("NATS_TOKEN", BusCredentials::Token(token)));
    }
    if let Some(path) = var("NATS_NKEY_SEED_FILE") {
        kinds.push((
            "NATS_NKEY_SEED_FILE",
            BusCredentials::NkeySeedFile(path.into()),
        ));
    }
    if let Some(path) = var("NATS_CREDS_FILE") {
        kinds.push(("NATS_CREDS_FILE", BusCredentials::CredsFile(path.into())));
    }
    if kinds.len() > 1 {
        let names: Vec<&str> = kinds.iter().map(|(name, _)| *name).collect();
        anyhow::bail!(
            "more than one NATS credential is configured ({}): set exactly one",
            names.join(", ")
        );
    }
    let credentials = kinds
        .pop()
        .map(|(_, credentials)| credentials)
        .unwrap_or_default();
    let client_certificate = match (var("NATS_TLS_CERT_FILE"), var("NATS_TLS_KEY_FILE")) {
        (Some(cert), Some(key)) => Some((cert.into(), key.into())),
        (None, None) => None,
        _ => anyhow::bail!("NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together"),
    };
    let stream_replicas = match var("NATS_STREAM_REPLICAS") {
        None => 1,
        Some(value) => value
            .parse::<usize>()
            .ok()
            .filter(|replicas| (1..=5).contains(replicas))
            .ok_or_else(|| {
                anyhow::anyhow!("NATS_STREAM_REPLICAS={value:?} is not a number from 1 to 5")
            })?,
    };
    Ok(BusConfig {
        nats_url,
        subject_prefix: var("NATS_SUBJECT_PREFIX"),
        service: service.to_owned(),
        credentials,
        tls: BusTls {
            ca_file: var("NATS_TLS_CA_FILE").map(PathBuf::from),
            client_certificate,
        },
        stream_replicas,
    })
}

/// A secret given as the variable `name` (`value`), or in the file that
/// `<name>_FILE` names (`file`; its content, trimmed); both is an error.
fn secret(
    value: Option<String>,
    file: Option<String>,
    name: &str,
) -> anyhow::Result<Option<Secret>> {
    let file_name = format!("{name}_FILE");
    match (value, file) {
        (Some(_), Some(_)) => anyhow::bail!("set {name} or {file_name}, not both"),
        (Some(value), None) => Ok(Some(Secret::new(value))),
        (None, Some(path)) => {
            let value = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {file_name}={path}"))?;
            let value = value.trim();
            anyhow::ensure!(!value.is_empty(), "{file_name}={path} is empty");
            Ok(Some(Secret::new(value)))
        }
        (None, None) => Ok(None),
    }
}
