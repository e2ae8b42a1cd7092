//! auth-api's configuration, from environment variables with defaults
//! that run locally out of the box.

use std::time::Duration;

use anyhow::{Context, bail};
use ates_core::config::{ServiceConfig, ServiceSettings, parse, seconds, var};

use crate::domain::accounts::SignUpPolicy;
use crate::domain::passwords::HashingSettings;
use crate::routes::client::TrustedProxies;

#[derive(Debug, Clone)]
pub struct Config {
    /// What every service reads (bind address, database, NATS, HTTP, JWT
    /// issuer and audience); auth-api listens on 3001 by default.
    pub service: ServiceSettings,
    /// `ACCESS_TOKEN_TTL_SECS` (default 900).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS` (default 30 days).
    pub refresh_token_ttl: Duration,
    /// `SIGNING_KEY_GRACE_SECS` (default 3600): how long a retired key stays
    /// in the JWKS; at least the access-token lifetime.
    pub signing_key_grace: Duration,
    /// `SIGNING_KEY_LEAD_SECS` (default 35): how long `rotate-keys`
    /// publishes a new key in the JWKS before it signs, longer than the
    /// 30 s a verifier may wait before fetching the JWKS again
    /// (`ates_core::auth::TokenVerifier`), so no service ever meets a
    /// token of a key it cannot fetch yet.
    pub signing_key_lead: Duration,
    /// `ATES_ADMIN_EMAIL` / `ATES_ADMIN_PASSWORD`: the bootstrap admin.
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// `LOGIN_MAX_FAILURES` (default 5) password checks per email per
    /// window of `LOGIN_FAILURE_WINDOW_SECS` (default 900); a check that
    /// lets the account in gives its slot back (`domain::throttle`).
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    /// `CLIENT_MAX_ATTEMPTS` (default 300) logins, sign-ups and password
    /// changes per client address per window of `CLIENT_WINDOW_SECS`
    /// (default 60).
    pub client_max_attempts: u32,
    pub client_window: Duration,
    /// `TRUSTED_PROXIES` (default none): addresses and networks whose
    /// `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `PASSWORD_HASH_THREADS` (default one per core) and
    /// `PASSWORD_HASH_QUEUE` (default 16).
    pub password_hashing: HashingSettings,
    /// `SIGNUP` (`open`, the default, or `closed`: only admins create
    /// accounts) and `SIGNUP_ALLOWED_DOMAINS` (comma-separated; unset: any).
    pub signup: SignUpPolicy,
}

/// `SIGNUP`: whether popugs may sign up by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignUpSwitch {
    Open,
    Closed,
}

impl std::str::FromStr for SignUpSwitch {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            _ => Err(()),
        }
    }
}

fn signup_from_env() -> anyhow::Result<SignUpPolicy> {
    let switch = parse("SIGNUP", SignUpSwitch::Open)
        .map_err(|error| anyhow::anyhow!("{error}: SIGNUP is `open` or `closed`"))?;
    let allowed_domains = match var("SIGNUP_ALLOWED_DOMAINS") {
        Some(list) => SignUpPolicy::parse_domains(&list)
            .map_err(|error| anyhow::anyhow!("SIGNUP_ALLOWED_DOMAINS={list:?}: {error}"))?,
        None => Vec::new(),
    };
    Ok(SignUpPolicy {
        open: switch == SignUpSwitch::Open,
        allowed_domains,
    })
}

impl ServiceConfig for Config {
    fn from_env(service: ServiceSettings) -> anyhow::Result<Self> {
        let config = Self {
            service,
            access_token_ttl: seconds("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_token_ttl: seconds("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            signing_key_grace: seconds("SIGNING_KEY_GRACE_SECS", 3600)?,
            signing_key_lead: seconds("SIGNING_KEY_LEAD_SECS", 35)?,
            admin_email: var("ATES_ADMIN_EMAIL"),
            admin_password: var("ATES_ADMIN_PASSWORD"),
            login_max_failures: parse("LOGIN_MAX_FAILURES", 5)?,
            login_failure_window: seconds("LOGIN_FAILURE_WINDOW_SECS", 900)?,
            client_max_attempts: parse("CLIENT_MAX_ATTEMPTS", 300)?,
            client_window: seconds("CLIENT_WINDOW_SECS", 60)?,
            trusted_proxies: var("TRUSTED_PROXIES")
                .map(|list| list.parse::<TrustedProxies>())
                .transpose()
                .context("TRUSTED_PROXIES is a comma-separated list of addresses and networks")?
                .unwrap_or_default(),
            password_hashing: HashingSettings {
                threads: parse("PASSWORD_HASH_THREADS", HashingSettings::default().threads)?,
                queue: parse("PASSWORD_HASH_QUEUE", HashingSettings::default().queue)?,
            },
            signup: signup_from_env()?,
        };
        config.check()?;
        Ok(config)
    }

    fn settings(&self) -> &ServiceSettings {
        &self.service
    }
}

impl Config {
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
        if self.login_max_failures == 0 || self.login_failure_window.is_zero() {
            bail!("LOGIN_MAX_FAILURES and LOGIN_FAILURE_WINDOW_SECS must be at least 1");
        }
        if self.client_max_attempts == 0 || self.client_window.is_zero() {
            bail!("CLIENT_MAX_ATTEMPTS and CLIENT_WINDOW_SECS must be at least 1");
        }
        if self.password_hashing.threads == 0 || self.password_hashing.queue == 0 {
            bail!("PASSWORD_HASH_THREADS and PASSWORD_HASH_QUEUE must be at least 1");
        }
        Ok(())
    }
}
