//! web-server's configuration: where it listens, where the built app is,
//! where each service is, and how the session cookie is set.

use std::path::PathBuf;
use std::time::Duration;

use ates_core::config::{business_timezone, parse, seconds, var};
use ates_core::http::HttpSettings;

use crate::service::Service;

/// The default lifetime of the session cookie: auth-api's default refresh
/// token lifetime (30 days).
const DEFAULT_REFRESH_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;

/// How long a service gets to answer a proxied call by default.
const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 15;

#[derive(Debug, Clone)]
pub struct Config {
    /// `BIND_ADDR` (default `127.0.0.1:3000`).
    pub bind_addr: String,
    /// `WEB_DIST` (default `web/dist`): the built browser app
    /// (`npm --prefix web run build`).
    pub web_dist: PathBuf,
    /// `BUSINESS_TIMEZONE` (default `UTC`), told to the app in `/config.json`.
    pub business_timezone: chrono_tz::Tz,
    /// `AUTH_URL`, `TASKS_URL`, `ACCOUNTING_URL`, `ANALYTICS_URL`.
    pub upstreams: UpstreamUrls,
    /// `UPSTREAM_TIMEOUT_SECS` (default 15): how long a service may take to
    /// answer one proxied call; after it the browser gets a 503 `timeout`.
    pub upstream_timeout: Duration,
    pub session: SessionSettings,
    /// `MAX_BODY_BYTES`, `HEADER_READ_TIMEOUT_SECS`, `REQUEST_TIMEOUT_SECS`
    /// and the rest of the settings every aTES HTTP server reads.
    pub http: HttpSettings,
}

/// The base URL of each service (no trailing slash).
#[derive(Debug, Clone)]
pub struct UpstreamUrls {
    pub auth: String,
    pub tasks: String,
    pub accounting: String,
    pub analytics: String,
}

impl UpstreamUrls {
    /// The services on their `make run` ports on this machine.
    pub fn local() -> Self {
        Self {
            auth: Service::Auth.local_url(),
            tasks: Service::Tasks.local_url(),
            accounting: Service::Accounting.local_url(),
            analytics: Service::Analytics.local_url(),
        }
    }

    pub fn of(&self, service: Service) -> &str {
        match service {
            Service::Auth => &self.auth,
            Service::Tasks => &self.tasks,
            Service::Accounting => &self.accounting,
            Service::Analytics => &self.analytics,
        }
    }

    fn from_env() -> Self {
        let url = |value: Option<String>, service: Service| {
            value
                .unwrap_or_else(|| service.local_url())
                .trim_end_matches('/')
                .to_owned()
        };
        Self {
            auth: url(var("AUTH_URL"), Service::Auth),
            tasks: url(var("TASKS_URL"), Service::Tasks),
            accounting: url(var("ACCOUNTING_URL"), Service::Accounting),
            analytics: url(var("ANALYTICS_URL"), Service::Analytics),
        }
    }
}

/// How the refresh-token cookie is set.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `SESSION_COOKIE_SECURE` (default `false`, as `make run` serves plain
    /// HTTP): `true` adds `Secure`, which every deployment behind HTTPS
    /// should set.
    pub cookie_secure: bool,
    /// `REFRESH_TOKEN_TTL_SECS` (default 30 days, auth-api's default): the
    /// cookie's `Max-Age`. Give both programs the same value.
    pub refresh_token_ttl: Duration,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            bind_addr: var("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into()),
            web_dist: var("WEB_DIST").unwrap_or_else(|| "web/dist".into()).into(),
            business_timezone: business_timezone()?,
            upstreams: UpstreamUrls::from_env(),
            upstream_timeout: seconds("UPSTREAM_TIMEOUT_SECS", DEFAULT_UPSTREAM_TIMEOUT_SECS)?,
            session: SessionSettings {
                cookie_secure: parse("SESSION_COOKIE_SECURE", false)?,
                refresh_token_ttl: seconds(
                    "REFRESH_TOKEN_TTL_SECS",
                    DEFAULT_REFRESH_TOKEN_TTL_SECS,
                )?,
            },
            http: HttpSettings::from_env()?,
        })
    }
}
