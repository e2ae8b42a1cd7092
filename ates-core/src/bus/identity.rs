//! Who a service is on the broker: its credential (user and password, a
//! token, an nkey seed file or a `.creds` file), TLS, and what the broker
//! last said about them.
//!
//! Secrets never reach a log line, an error or a `Debug` output: they are
//! kept in [`Secret`], and the broker address is always shown without its
//! userinfo ([`redacted_url`]). A refused credential does not stop the
//! service: the connection keeps retrying, the refusal is logged once, and
//! [`BrokerStatus::not_ready`] tells `/readyz` why the service is not ready.

use std::path::PathBuf;
use std::sync::Mutex;

use async_nats::{ClientError, Event, ServerError};

/// A secret value: its `Debug` output is `"***"`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret read from the configuration.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, to hand to the client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How a service proves who it is to the broker (at most one kind).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BusCredentials {
    /// An open broker: no authentication.
    #[default]
    None,
    /// `NATS_USER` + `NATS_PASSWORD` (or `NATS_PASSWORD_FILE`), or the
    /// userinfo of `NATS_URL`.
    UserPassword { user: String, password: Secret },
    /// `NATS_TOKEN` (or `NATS_TOKEN_FILE`).
    Token(Secret),
    /// `NATS_NKEY_SEED_FILE`: a file holding an nkey seed (`SU...`).
    NkeySeedFile(PathBuf),
    /// `NATS_CREDS_FILE`: a `.creds` file (a user JWT and its nkey seed).
    CredsFile(PathBuf),
}

impl BusCredentials {
    /// What kind of credential this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::UserPassword { .. } => "user and password",
            Self::Token(_) => "token",
            Self::NkeySeedFile(_) => "nkey",
            Self::CredsFile(_) => "creds file",
        }
    }
}

/// TLS to the broker. TLS is required when a CA file is given or the URL
/// is `tls://`; a client certificate is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusTls {
    /// `NATS_TLS_CA_FILE`: the CA (PEM) the broker's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// `NATS_TLS_CERT_FILE` and `NATS_TLS_KEY_FILE`: a client certificate (PEM).
    pub client_certificate: Option<(PathBuf, PathBuf)>,
}

/// `nats://user:pass@host:4222` without its userinfo: `nats://host:4222`.
/// Every broker address in a log line or a message goes through this.
pub fn redacted_url(url: &str) -> String {
    url.split(',')
        .map(|one| match split_userinfo(one) {
            Some((_, rest)) => rest,
            None => one.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits `scheme://userinfo@rest` into the (undecoded) userinfo and the
/// URL without it; `None` when there is no userinfo.
fn split_userinfo(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let userinfo = rest[..at].to_owned();
    let without = match scheme {
        Some(scheme) => format!("{scheme}://{}", &rest[at + 1..]),
        None => rest[at + 1..].to_owned(),
    };
    Some((userinfo, without))
}

/// The user and password in a URL's userinfo (percent-decoded), and the
/// URL without them. `Ok(None)`: the URL has no userinfo.
pub fn url_user_password(url: &str) -> Result<Option<(String, Secret, String)>, String> {
    let Some((userinfo, without)) = split_userinfo(url) else {
        return Ok(None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return Err(format!(
            "NATS_URL {} names a user without a password (nats://user:password@host:port)",
            redacted_url(url)
        ));
    };
    let user = percent_decode(user).ok_or("the user in NATS_URL is not valid percent-encoding")?;
    let password =
        percent_decode(password).ok_or("the password in NATS_URL is not valid percent-encoding")?;
    if user.is_empty() || password.is_empty() {
        return Err(format!(
            "NATS_URL {} has an empty user or password",
            redacted_url(url)
        ));
    }
    Ok(Some((user, Secret::new(password), without)))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// What the broker last said about this connection, kept for `/readyz`
/// and to log each refusal once (not once per reconnect attempt).
#[derive(Debug)]
pub struct BrokerStatus {
    address: String,
    /// Why the broker refuses us, while it does.
    refusal: Mutex<Option<String>>,
    /// The last connection error logged, so a retry loop logs it once.
    last_error: Mutex<Option<String>>,
}

impl BrokerStatus {
    /// `address`: the broker's URL, already without userinfo.
    pub(crate) fn new(address: String) -> Self {
        Self {
            address,
            refusal: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    /// The broker's address, without userinfo.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Why the broker refuses this service's credentials, while it does.
    pub fn refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .map(|refusal| refusal.clone())
            .unwrap_or_default()
    }

    /// Reacts to a connection event of the client library.
    pub(crate) fn on_event(&self, event: &Event) {
        match event {
            Event::Connected => {
                let was_refused = self.take_refusal();
                self.set_last_error(None);
                if was_refused {
                    tracing::info!(broker = %self.address, "the broker accepted the credentials");
                } else {
                    tracing::info!(broker = %self.address, "connected to the broker");
                }
            }
            Event::ClientError(ClientError::Other(error)) if is_refusal(error) => {
                let reason = format!(
                    "broker (NATS at {}) refused the credentials: {error}",
                    self.address
                );
                if self.set_refusal(reason.clone()) {
                    tracing::error!(broker = %self.address, %error, "{reason}; retrying until it accepts them");
                }
            }
            Event::ClientError(error) => {
                let error = error.to_string();
                if self.set_last_error(Some(error.clone())) {
                    tracing::warn!(broker = %self.address, %error, "cannot connect to the broker; retrying");
                }
            }
            Event::ServerError(ServerError::Other(error)) => {
                // Permission violations: a publish or subscription this
                // service's identity may not make.
                tracing::error!(broker = %self.address, %error, "the broker refused an operation");
            }
            Event::ServerError(error) => {
                tracing::error!(broker = %self.address, %error, "broker error");
            }
            Event::Disconnected => {
                tracing::warn!(broker = %self.address, "disconnected from the broker; reconnecting");
            }
            Event::LameDuckMode | Event::Draining | Event::Closed | Event::SlowConsumer(_) => {
                tracing::info!(broker = %self.address, %event, "broker connection event");
            }
        }
    }

    /// `true` when this is a new refusal (to log it once).
    fn set_refusal(&self, reason: String) -> bool {
        let Ok(mut refusal) = self.refusal.lock() else {
            return false;
        };
        let is_new = refusal.as_deref() != Some(reason.as_str());
        *refusal = Some(reason);
        is_new
    }

    fn take_refusal(&self) -> bool {
        self.refusal
            .lock()
            .map(|mut refusal| refusal.take().is_some())
            .unwrap_or(false)
    }

    /// `true` when `error` differs from the last one recorded.
    fn set_last_error(&self, error: Option<String>) -> bool {
        let Ok(mut last) = self.last_error.lock() else {
            return false;
        };
        let is_new = *last != error;
        *last = error;
        is_new
    }
}

/// Whether a connection error is the broker refusing the credentials.
fn is_refusal(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("authorization violation") || error.contains("authentication")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_split_out_and_decoded() {
        let (user, password, url) = url_user_password("nats://tasks-api:p%40ss:w@nats:4222")
            .expect("valid")
            .expect("has userinfo");
        assert_eq!(user, "tasks-api");
        assert_eq!(password.expose(), "p@ss:w");
        assert_eq!(url, "nats://nats:4222");
        assert_eq!(url_user_password("nats://nats:4222"), Ok(None));
        assert!(url_user_password("nats://only-user@nats:4222").is_err());
    }

    #[test]
    fn a_refusal_is_reported_once_until_the_broker_accepts() {
        let status = BrokerStatus::new("nats://127.0.0.1:4222".into());
        let refusal = || Event::ClientError(ClientError::Other("authorization violation".into()));
        assert!(status.set_refusal("first".into()));
        assert!(
            !status.set_refusal("first".into()),
            "a retry is not a new refusal"
        );
        status.on_event(&Event::Connected);
        assert_eq!(status.refusal(), None);
        status.on_event(&refusal());
        status.on_event(&refusal());
        assert_eq!(
            status.refusal().as_deref(),
            Some(
                "broker (NATS at nats://127.0.0.1:4222) refused the credentials: authorization violation"
            )
        );
        assert!(!status.set_refusal(status.refusal().unwrap_or_default()));
    }

    #[test]
    fn addresses_and_secrets_are_redacted() {
        assert_eq!(
            redacted_url("nats://u:secret@a:4222, tls://b:4222"),
            "nats://a:4222,tls://b:4222"
        );
        let credentials = BusCredentials::UserPassword {
            user: "u".into(),
            password: Secret::new("secret"),
        };
        assert!(!format!("{credentials:?}").contains("secret"));
        assert!(!format!("{:?}", BusCredentials::Token(Secret::new("secret"))).contains("secret"));
    }
}
