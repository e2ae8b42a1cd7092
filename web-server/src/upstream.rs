//! The calls to the services: one HTTP client with a bounded timeout, the
//! request headers that may reach a service and the answer headers that may
//! reach the browser.

use std::net::IpAddr;
use std::time::Duration;

use ates_core::http::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use crate::config::UpstreamUrls;
use crate::service::Service;

/// How long a service gets to answer `/healthz` for `/readyz`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The request headers passed on to a service; no others (no cookies).
const FORWARDED_REQUEST_HEADERS: [HeaderName; 5] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    HeaderName::from_static(ates_core::idempotency::key::HEADER),
    header::IF_NONE_MATCH,
];

/// The answer headers passed back to the browser; no others.
const RELAYED_RESPONSE_HEADERS: [HeaderName; 7] = [
    header::CONTENT_TYPE,
    header::RETRY_AFTER,
    header::CACHE_CONTROL,
    HeaderName::from_static(ates_core::idempotency::REPLAYED),
    header::LOCATION,
    header::WWW_AUTHENTICATE,
    header::ETAG,
];

/// A call to a service: what the browser asked, trimmed to what a service
/// may see.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: Method,
    /// The path and query on the service, starting with `/`.
    pub path_and_query: &'a str,
    /// The browser's headers; only [`FORWARDED_REQUEST_HEADERS`] go on.
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    /// The TCP peer, sent as `X-Forwarded-For`.
    pub client: IpAddr,
}

/// The services and the client that calls them.
#[derive(Debug, Clone)]
pub struct Upstreams {
    client: reqwest::Client,
    urls: UpstreamUrls,
    timeout: Duration,
}

impl Upstreams {
    pub fn new(urls: UpstreamUrls, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // A service's redirect goes back to the browser as it is.
            .redirect(reqwest::redirect::Policy::none())
            // The services are reached directly, never through a proxy
            // from the environment.
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            urls,
            timeout,
        })
    }

    /// Sends `call` to `service` and returns its answer; a service that
    /// cannot be reached or does not answer in time is a 503 problem with
    /// `Retry-After`.
    pub async fn send(
        &self,
        service: Service,
        call: Call<'_>,
    ) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{}", self.urls.of(service), call.path_and_query);
        let mut headers = HeaderMap::new();
        for name in FORWARDED_REQUEST_HEADERS {
            for value in call.headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(&call.client.to_string()).map_err(ApiError::internal)?,
        );
        // The service continues this request's trace.
        if let Some(traceparent) = ates_core::trace::current_traceparent() {
            headers.insert(
                HeaderName::from_static(ates_core::trace::TRACEPARENT),
                HeaderValue::from_str(&traceparent).map_err(ApiError::internal)?,
            );
        }
        self.client
            .request(call.method, url)
            .headers(headers)
            .body(call.body)
            .send()
            .await
            .map_err(|error| self.unreachable(service, &error))
    }

    /// Whether `service` answers its `/healthz`; why not otherwise.
    pub async fn check(&self, service: Service) -> Result<(), String> {
        let url = format!("{}/healthz", self.urls.of(service));
        match self.client.get(&url).timeout(HEALTH_TIMEOUT).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!(
                "{} ({url}) answers {}",
                service.name(),
                response.status()
            )),
            Err(_) => Err(format!("{} ({url}) is unreachable", service.name())),
        }
    }

    fn unreachable(&self, service: Service, error: &reqwest::Error) -> ApiError {
        tracing::warn!(service = service.name(), error = %error, "a service did not answer");
        if error.is_timeout() {
            ApiError::TimedOut(format!(
                "{} did not answer within {} s; the request may or may not have taken effect",
                service.name(),
                self.timeout.as_secs()
            ))
        } else {
            ApiError::Unavailable(format!(
                "{} cannot be reached right now; try again shortly",
                service.name()
            ))
        }
    }
}

/// A service's answer as the browser gets it: its status, body and
/// [`RELAYED_RESPONSE_HEADERS`]. A path-absolute `Location` is put under
/// `/api/<service>` so it names the same resource through the proxy.
pub async fn relay(service: Service, answer: reqwest::Response) -> Result<Response, ApiError> {
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for name in RELAYED_RESPONSE_HEADERS {
        for value in answer.headers().get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(location) = headers
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        && location.starts_with('/')
        && !location.starts_with("//")
    {
        let proxied = format!("/api/{}{location}", service.segment());
        headers.insert(
            header::LOCATION,
            HeaderValue::from_str(&proxied).map_err(ApiError::internal)?,
        );
    }
    let body = answer.bytes().await.map_err(|error| {
        tracing::warn!(service = service.name(), %error, "a service's answer broke off");
        ApiError::Unavailable(format!(
            "{}'s answer broke off; try again shortly",
            service.name()
        ))
    })?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status.as_u16()).map_err(ApiError::internal)?;
    *response.headers_mut() = headers;
    Ok(response)
}
