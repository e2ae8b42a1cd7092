//! The settings every service reads from its environment (SPEC section 10),
//! with defaults that run locally out of the box, and the helpers services
//! use for their own settings.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;

use crate::auth::{FileJwks, HttpJwks, TokenVerifier};
use crate::bus::BusConfig;
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

/// A variable in whole seconds.
pub fn seconds(name: &str, default_secs: u64) -> anyhow::Result<Duration> {
    parse(name, default_secs)
        .map(Duration::from_secs)
        .with_context(|| format!("{name} is a number of seconds"))
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
    /// `NATS_URL`, `NATS_SUBJECT_PREFIX`, and the service name.
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
    /// `BUSINESS_TIMEZONE` (default `UTC`): an IANA zone such as
    /// `Europe/Moscow`; business days run from midnight to midnight there.
    pub business_timezone: chrono_tz::Tz,
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
            bus: BusConfig {
                nats_url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
                subject_prefix: var("NATS_SUBJECT_PREFIX"),
                service: service.to_owned(),
            },
            http: HttpSettings::from_env()?,
            jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "ates-auth".into()),
            jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "ates".into()),
            auth_keys,
            consumer_name: var("CONSUMER_NAME").unwrap_or_else(|| service.to_owned()),
            business_timezone: var("BUSINESS_TIMEZONE")
                .unwrap_or_else(|| "UTC".into())
                .parse()
                .map_err(|error| anyhow::anyhow!("{error}"))
                .context(
                    "BUSINESS_TIMEZONE must be an IANA time zone such as UTC or Europe/Moscow",
                )?,
        })
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
