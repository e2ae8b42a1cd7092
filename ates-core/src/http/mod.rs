//! The HTTP conventions every service shares (docs/product.md §8): problem
//! details for every error, validated JSON bodies and queries, `/healthz`
//! and `/readyz`, request logging, CORS, a body size limit, JSON 404/405,
//! panics turned into an opaque 500, and serving with graceful shutdown.

pub mod contract;
mod extract;
pub mod health;
mod problem;
mod query;
mod server;

pub use extract::{BoundedBody, PathParam, ValidatedJson, ValidatedQuery};
pub use problem::{ApiError, FieldError, Problem};
pub use query::RangeQuery;
pub use server::{
    ApiInfo, HttpSettings, apply_conventions, apply_layers, document, openapi_of, serve,
    serve_with_background, service_api, service_app,
};
