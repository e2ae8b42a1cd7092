//! auth-api's configuration, from environment variables with defaults
//! that run locally out of the box.

use std::time::Duration;

use anyhow::bail;
use ates_core::config::{ServiceSettings, parse, seconds, var};

use crate::domain::accounts::SignUpPolicy;

/// The service name: the envelope's `producer`.
pub const SERVICE: &str = "auth-api";

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

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let config = Self {
            service: ServiceSettings::from_env(SERVICE, 3001)?,
            access_token_ttl: seconds("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_token_ttl: seconds("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            signing_key_grace: seconds("SIGNING_KEY_GRACE_SECS", 3600)?,
            admin_email: var("ATES_ADMIN_EMAIL"),
            admin_password: var("ATES_ADMIN_PASSWORD"),
            login_max_failures: parse("LOGIN_MAX_FAILURES", 5)?,
            login_failure_window: seconds("LOGIN_FAILURE_WINDOW_SECS", 900)?,
            login_max_block: seconds("LOGIN_MAX_BLOCK_SECS", 900)?,
            signup: signup_from_env()?,
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
