//! `/api/<service>/<rest>?<query>` → `<the service's URL>/<rest>?<query>`:
//! the browser reaches the services through the app's own origin. Only the
//! four services, only paths without dot segments.

use std::net::SocketAddr;

use ates_core::http::{ApiError, BoundedBody};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use crate::AppState;
use crate::service::Service;
use crate::upstream::{self, Call};

/// Forwards the request to its service and relays the answer.
pub async fn forward(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ApiError> {
    let (service, path) = target(uri.path())?;
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let call = Call {
        method,
        path_and_query: &path_and_query,
        headers: &headers,
        body,
        client: peer.ip(),
    };
    let answer = state.upstreams.send(service, call).await?;
    upstream::relay(service, answer).await
}

/// The service and its path (from `/`) of a raw request path
/// `/api/<service>/<rest>`. A segment that is `.` or `..` once decoded
/// (`..`, `%2e%2e`), or that hides a slash (`..%2F..`), is refused: the
/// path must stay inside the service's API as written.
fn target(raw_path: &str) -> Result<(Service, &str), ApiError> {
    let rest = raw_path.strip_prefix("/api/").unwrap_or(raw_path);
    let (segment, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let service = Service::from_segment(segment).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no service {segment:?} under /api/: use auth, tasks, accounting or analytics"
        ))
    })?;
    if path.split('/').any(is_unsafe_segment) {
        return Err(ApiError::BadRequest(
            "the path must not contain `.` or `..` segments or encoded slashes".into(),
        ));
    }
    Ok((service, path))
}

fn is_unsafe_segment(segment: &str) -> bool {
    let decoded = percent_decoded(segment);
    decoded == "." || decoded == ".." || decoded.contains(['/', '\\'])
}

/// `segment` with its `%XX` escapes decoded (bytes that are not UTF-8
/// become U+FFFD; only dots and slashes matter here).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| segment.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_goes_to_its_service_as_written() {
        let (service, path) = target("/api/tasks/v1/tasks/mine").expect("a target");
        assert_eq!((service, path), (Service::Tasks, "/v1/tasks/mine"));
        let (service, path) = target("/api/auth").expect("a target");
        assert_eq!((service, path), (Service::Auth, "/"));
        let (_, path) = target("/api/auth/v1/a%20b").expect("a target");
        assert_eq!(path, "/v1/a%20b");
    }

    #[test]
    fn dot_segments_and_encoded_slashes_are_refused() {
        for path in [
            "/api/tasks/../x",
            "/api/tasks/./x",
            "/api/tasks/v1/..",
            "/api/tasks/%2e%2e/x",
            "/api/tasks/%2E./x",
            "/api/tasks/..%2F..",
            "/api/tasks/a%2fb",
            "/api/tasks/..%5c..",
        ] {
            assert!(
                matches!(target(path), Err(ApiError::BadRequest(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn an_unknown_service_is_not_found() {
        assert!(matches!(target("/api/nope/x"), Err(ApiError::NotFound(_))));
        assert!(matches!(target("/api/"), Err(ApiError::NotFound(_))));
    }
}
