//! The answers every operation can give because of the shared layers, written
//! into each service's OpenAPI document, so that the document lists every
//! status an operation is served with, each with the media type it is
//! served as. A handler's `#[utoipa::path]` lists what its own logic
//! answers (201, 403 for a role, 404, 409...); this adds what the
//! extractors and layers in front of it answer:
//!
//! | when the operation has | statuses added |
//! |---|---|
//! | a JSON request body | 400 malformed JSON, 413 too large, 415 not JSON, 422 invalid fields |
//! | query parameters | 422 invalid parameters |
//! | path parameters | 400 malformed parameter |
//! | header parameters (`Idempotency-Key`) | 400 malformed header |
//! | a bearer security requirement | 401 (with `WWW-Authenticate`) |
//! | anything | 503 (with `Retry-After`) when it took longer than `REQUEST_TIMEOUT_SECS` |
//!
//! Every error is a problem document (`application/problem+json`), also the
//! ones a handler lists with `body = Problem`.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr, Response};

/// The media type every error is served with (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
const JSON: &str = "application/json";
const PROBLEM_SCHEMA: &str = "#/components/schemas/Problem";

/// Makes every operation of `api` list the shared answers (see the module
/// documentation) and serves every problem as `application/problem+json`.
pub fn complete(api: &mut OpenApi) {
    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            serve_problems_as_problem_json(response);
        }
    }
    let has = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|parameter| parameter.parameter_in == place)
    };
    let mut shared: Vec<(u16, Response)> = Vec::new();
    if operation.request_body.is_some() {
        shared.push((400, problem("the body is not well-formed JSON")));
        shared.push((413, problem("the body is larger than `MAX_BODY_BYTES`")));
        shared.push((415, problem("the body is not sent as `application/json`")));
        shared.push((
            422,
            problem("well-formed JSON that breaks a rule: a wrong type, a missing or unknown field, a value out of its range; `errors` names each field"),
        ));
    }
    if has(ParameterIn::Query) {
        shared.push((
            422,
            problem("a query parameter that breaks a rule; `errors` names it"),
        ));
    }
    if has(ParameterIn::Path) {
        shared.push((400, problem("a path parameter that does not parse")));
    }
    if has(ParameterIn::Header) {
        shared.push((400, problem("a header parameter that does not parse")));
    }
    if requires_bearer(operation) {
        shared.push((
            401,
            problem_with_header(
                "no token, or one that is not valid (expired, revoked, of an unknown or deactivated account)",
                "WWW-Authenticate",
                "`Bearer`",
                Type::String,
            ),
        ));
    }
    shared.push((
        503,
        problem_with_header(
            "the service could not answer in time (`REQUEST_TIMEOUT_SECS`) or is not ready",
            "Retry-After",
            "seconds to wait before trying again",
            Type::Integer,
        ),
    ));
    for (status, response) in shared {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert(RefOr::T(response));
    }
}

/// A bearer token is asked for (alone or as one of the alternatives).
fn requires_bearer(operation: &Operation) -> bool {
    operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement)
            .ok()
            .and_then(|value| value.as_object().map(|map| map.contains_key("bearer")))
            .unwrap_or(false)
    })
}

fn serve_problems_as_problem_json(response: &mut Response) {
    let is_problem = response.content.get(JSON).is_some_and(|content| {
        matches!(&content.schema, Some(RefOr::Ref(reference)) if reference.ref_location == PROBLEM_SCHEMA)
    });
    if is_problem && let Some(content) = response.content.shift_remove(JSON) {
        response.content.insert(PROBLEM_JSON.to_owned(), content);
    }
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::new(PROBLEM_SCHEMA)))
                .build(),
        )
        .build()
}

fn problem_with_header(
    description: &str,
    header: &str,
    header_description: &str,
    header_type: Type,
) -> Response {
    let mut response = problem(description);
    response.headers.insert(
        header.to_owned(),
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(header_type))
            .description(Some(header_description))
            .build(),
    );
    response
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa::openapi::OpenApi as Document;

    use super::*;

    fn document(paths: Value) -> Document {
        serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": paths,
            "components": {"schemas": {"Problem": {"type": "object"}}}
        }))
        .expect("a document")
    }

    fn statuses(api: &Document, path: &str, method: &str) -> Vec<String> {
        let value = serde_json::to_value(api).expect("serialises");
        value["paths"][path][method]["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn a_secured_operation_with_a_body_lists_every_shared_answer() {
        let mut api = document(serde_json::json!({"/v1/things": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "security": [{"bearer": []}],
            "responses": {"201": {"description": "made"}}
        }}}));
        complete(&mut api);
        assert_eq!(
            statuses(&api, "/v1/things", "post"),
            ["201", "400", "401", "413", "415", "422", "503"]
        );
    }

    #[test]
    fn an_open_operation_without_inputs_only_gets_the_timeout() {
        let mut api = document(serde_json::json!({"/healthz": {"get": {
            "responses": {"200": {"description": "up"}}
        }}}));
        complete(&mut api);
        assert_eq!(statuses(&api, "/healthz", "get"), ["200", "503"]);
    }

    #[test]
    fn a_handlers_own_answer_is_kept_and_served_as_problem_json() {
        let mut api = document(serde_json::json!({"/v1/things/{id}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"400": {"description": "its own words", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
        }}}));
        complete(&mut api);
        let value = serde_json::to_value(&api).expect("serialises");
        let bad = &value["paths"]["/v1/things/{id}"]["get"]["responses"]["400"];
        assert_eq!(bad["description"], "its own words");
        assert!(bad["content"][PROBLEM_JSON].is_object(), "{bad}");
        assert!(bad["content"][JSON].is_null(), "{bad}");
    }
}
