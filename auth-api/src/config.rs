//! auth-api's configuration, from environment variables with defaults
//! that run locally out of the box.

use std::time::Duration;

use anyhow::{Context, bail};
use ates_core::bus::BusConfig;
use ates_core::http::HttpSettings;

/// The service name: the envelope's `producer`.
pub const SERVICE: &str = "auth-api";

#[derive(Debug, Clone)]
pub struct Config {
    /// `BIND_ADDR` (default `127.0.0.1:3001`).
    pub bind_addr: String,
    /// `DATABASE_URL` (default `sqlite://data/auth-api.sqlite?mode=rwc`).
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS` (default 10).
    pub database_max_connections: u32,
    /// `NATS_URL`, `NATS_SUBJECT_PREFIX`.
    pub bus: BusConfig,
    pub http: HttpSettings,
    /// `JWT_ISSUER` (default `ates-auth`): the tokens' `iss`.
    pub issuer: String,
    /// `JWT_AUDIENCE` (default `ates`): the tokens' `aud`.
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECS` (default 900).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS` (default 30 days).
    pub refresh_token_ttl: Duration,
    /// `SIGNING_KEY_GRACE_SECS` (default 3600): how long a retired key stays
    /// in the JWKS; at least the access-token lifetime.
    pub signing_key_grace: Duration,
    /// `ATES_ADMIN_EMAIL` / `ATES_ADMIN_PASSWORD`: the bootstrap admin.
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// `LOGIN_MAX_FAILURES` (default 5) failures per email within
    /// `LOGIN_FAILURE_WINDOW_SECS` (default 900) block further logins of that
    /// email, for 30 s doubling with each failure, at most
    /// `LOGIN_MAX_BLOCK_SECS` (default 900).
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    pub login_max_block: Duration,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

fn secs(name: &str, default: u64) -> anyhow::Result<Duration> {
    match var(name) {
        Some(value) => {
            Ok(Duration::from_secs(value.parse().with_context(|| {
                format!("{name} must be a number of seconds")
            })?))
        }
        None => Ok(Duration::from_secs(default)),
    }
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let config = Self {
            bind_addr: var("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:3001".into()),
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| format!("sqlite://data/{SERVICE}.sqlite?mode=rwc")),
            database_max_connections: var("DATABASE_MAX_CONNECTIONS")
                .map(|value| value.parse())
                .transpose()
                .context("DATABASE_MAX_CONNECTIONS must be a number")?
                .unwrap_or(10),
            bus: BusConfig {
                nats_url: var("NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
                subject_prefix: var("NATS_SUBJECT_PREFIX"),
                service: SERVICE.into(),
            },
            http: HttpSettings::from_env()?,
            issuer: var("JWT_ISSUER").unwrap_or_else(|| "ates-auth".into()),
            audience: var("JWT_AUDIENCE").unwrap_or_else(|| "ates".into()),
            access_token_ttl: secs("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_token_ttl: secs("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            signing_key_grace: secs("SIGNING_KEY_GRACE_SECS", 3600)?,
            admin_email: var("ATES_ADMIN_EMAIL"),
            admin_password: var("ATES_ADMIN_PASSWORD"),
            login_max_failures: var("LOGIN_MAX_FAILURES")
                .map(|value| value.parse())
                .transpose()
                .context("LOGIN_MAX_FAILURES must be a number")?
                .unwrap_or(5),
            login_failure_window: secs("LOGIN_FAILURE_WINDOW_SECS", 900)?,
            login_max_block: secs("LOGIN_MAX_BLOCK_SECS", 900)?,
        };
        config.check()?;
        Ok(config)
    }

    /// Rules between settings.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.access_token_ttl.is_zero() || self.refresh_token_ttl.is_zero() {
            bail!("token lifetimes must be positive");
        }
        if self.signing_key_grace < self.access_token_ttl {
            bail!(
                "SIGNING_KEY_GRACE_SECS must be at least ACCESS_TOKEN_TTL_SECS, or tokens signed with a retired key stop verifying before they expire"
            );
        }
        if self.login_max_failures == 0 {
            bail!("LOGIN_MAX_FAILURES must be at least 1");
        }
        Ok(())
    }
}
