//! The date query parameters the reports share: a range of days (`from`,
//! `to`). Each is a [`BoundedDate`], so a date
//! outside 1970-01-01..=9998-12-31 (or not `YYYY-MM-DD`) is a 422 naming
//! the parameter before a handler runs; a range is also checked for order
//! and length, with the end that is wrong named.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use super::ApiError;
use crate::validation::{BoundedDate, DayRange};

/// `?from=&to=`: business days `from` to `to`, both included.
#[derive(Debug, Clone, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// First day (default today).
    #[param(inline)]
    pub from: Option<BoundedDate>,
    /// Last day, included (default `from`); at most 366 days in all.
    #[param(inline)]
    pub to: Option<BoundedDate>,
}

impl RangeQuery {
    /// The days asked for (`from` defaults to `today`, `to` to `from`), or
    /// a 422 naming the parameter that makes the range wrong.
    pub fn range_or(&self, today: NaiveDate) -> Result<DayRange, ApiError> {
        let from = match self.from {
            Some(from) => from,
            None => BoundedDate::new(today).map_err(ApiError::internal)?,
        };
        DayRange::new(from, self.to.unwrap_or(from))
            .map_err(|refused| ApiError::invalid_field(refused.field(), refused.to_string()))
    }
}
