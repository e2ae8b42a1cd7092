//! auth-api's own tests use the same harness other services use.

#![allow(unused_imports)]

pub use ates_core::testing::{jwt_part, problem};
pub use auth_api::testing::*;
