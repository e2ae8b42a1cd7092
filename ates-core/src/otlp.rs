//! The HTTP client of the OTLP span exporter: reqwest's blocking client
//! (the exporter sends from its own thread, outside the async runtime),
//! made there at the first export, since a blocking client may be neither
//! made nor dropped on a runtime thread.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(crate) struct BlockingClient(OnceLock<reqwest::blocking::Client>);

#[async_trait::async_trait]
impl HttpClient for BlockingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = match self.0.get() {
            Some(client) => client,
            None => {
                let client = reqwest::blocking::Client::builder()
                    .timeout(EXPORT_TIMEOUT)
                    .build()?;
                self.0.get_or_init(|| client)
            }
        };
        let (parts, body) = request.into_parts();
        let answer = client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let mut response = Response::builder().status(answer.status());
        if let Some(headers) = response.headers_mut() {
            *headers = answer.headers().clone();
        }
        Ok(response.body(answer.bytes()?)?)
    }
}
