//! The web-server test harness (feature `testing`): the real server on
//! 127.0.0.1:0 over a stand-in build of the app.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use ates_core::http::HttpSettings;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::config::{Config, SessionSettings, UpstreamUrls};

/// The page of the stand-in build.
pub const INDEX_HTML: &str = "<!doctype html><title>aTES</title><div id=root></div>";
/// Its one hashed asset, at `/assets/app-3f2a1c.js`.
pub const ASSET: &str = "console.log('aTES');";
pub const ASSET_PATH: &str = "/assets/app-3f2a1c.js";

/// A directory laid out as `npm run build` leaves `web/dist`: `index.html`,
/// `favicon.svg` and `assets/app-3f2a1c.js`.
pub fn built_app() -> TempDir {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), INDEX_HTML).unwrap();
    std::fs::write(dist.path().join("favicon.svg"), "<svg/>").unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("assets/app-3f2a1c.js"), ASSET).unwrap();
    dist
}

/// The test settings: the app in `dist`, the services at `upstreams`, a
/// 16 KiB body limit, a 20 s upstream timeout (argon2 in a debug build on
/// a busy machine is slow), a one-hour cookie.
pub fn test_config(dist: &Path, upstreams: UpstreamUrls) -> Config {
    Config {
        bind_addr: "127.0.0.1:0".into(),
        web_dist: dist.to_owned(),
        business_timezone: chrono_tz::Europe::Moscow,
        upstreams,
        upstream_timeout: Duration::from_secs(20),
        session: SessionSettings {
            cookie_secure: false,
            refresh_token_ttl: Duration::from_secs(3600),
        },
        http: HttpSettings {
            max_body_bytes: 16 * 1024,
            ..HttpSettings::default()
        },
    }
}

/// Base URLs where nothing listens: every service is down.
pub fn services_down() -> UpstreamUrls {
    let url = || format!("http://127.0.0.1:{}", ates_core::testing::free_port());
    UpstreamUrls {
        auth: url(),
        tasks: url(),
        accounting: url(),
        analytics: url(),
    }
}

/// web-server under test; stopped when dropped.
pub struct WebApp {
    pub address: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    _server: JoinHandle<anyhow::Result<()>>,
}

impl Drop for WebApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl WebApp {
    pub async fn spawn(config: Config) -> Self {
        ates_core::telemetry::init_for_tests();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let state = AppState::new(config).unwrap();
        let server = tokio::spawn(crate::run(listener, state, shutdown.clone()));
        Self {
            address,
            // No redirects followed, no cookie jar: tests see every header.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            shutdown,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A `POST /session/<action>` with the guard header, the session
    /// cookie `cookie` (the `ates_refresh` value) if given, and a JSON body
    /// if given.
    pub async fn session(
        &self,
        action: &str,
        cookie: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/session/{action}")))
            .header(crate::routes::session::GUARD_HEADER, "1");
        if let Some(cookie) = cookie {
            request = request.header(
                "cookie",
                format!("theme=dark; {}={cookie}", crate::routes::session::COOKIE),
            );
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }
}

/// The `ates_refresh` value a response sets, and the whole `Set-Cookie`.
pub fn set_cookie(response: &reqwest::Response) -> Option<(String, String)> {
    let header = response
        .headers()
        .get("set-cookie")?
        .to_str()
        .ok()?
        .to_owned();
    let value = header
        .split(';')
        .next()?
        .strip_prefix(&format!("{}=", crate::routes::session::COOKIE))?
        .to_owned();
    Some((value, header))
}
