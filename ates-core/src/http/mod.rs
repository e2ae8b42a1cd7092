//! The HTTP conventions every service shares (SPEC section 8): problem
//! details for every error, validated JSON bodies and queries, `/healthz`
//! and `/readyz`, request logging, CORS, a body size limit, JSON 404/405,
//! panics turned into an opaque 500, and serving with graceful shutdown.

mod extract;
pub mod health;
mod problem;
mod server;

pub use extract::{PathParam, ValidatedJson, ValidatedQuery};
pub use problem::{ApiError, FieldError, Problem};
pub use server::{HttpSettings, apply_conventions, document, serve, serve_with_background};
