//! Money is whole cents in an `i64` (docs/adr/0007). Sums built in Rust go
//! through these functions, so an overflow is an error, never a wrapped
//! balance.

/// A sum of cents that does not fit in 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sum of cents does not fit in 64 bits")]
pub struct CentsOverflow;

/// `a + b`, or [`CentsOverflow`].
pub fn add(a: i64, b: i64) -> Result<i64, CentsOverflow> {
    a.checked_add(b).ok_or(CentsOverflow)
}

/// The sum of `amounts`, or [`CentsOverflow`] as soon as it leaves `i64`.
pub fn sum(amounts: impl IntoIterator<Item = i64>) -> Result<i64, CentsOverflow> {
    amounts.into_iter().try_fold(0, add)
}

/// `-amount`, or [`CentsOverflow`] for `i64::MIN`.
pub fn negate(amount: i64) -> Result<i64, CentsOverflow> {
    amount.checked_neg().ok_or(CentsOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_that_fit_are_exact() {
        assert_eq!(sum([1_000, -2_500, 40]), Ok(-1_460));
        assert_eq!(sum([]), Ok(0));
        assert_eq!(add(i64::MAX - 1, 1), Ok(i64::MAX));
        assert_eq!(negate(-5), Ok(5));
    }

    #[test]
    fn sums_that_do_not_fit_are_errors_not_wrapped_numbers() {
        assert_eq!(add(i64::MAX, 1), Err(CentsOverflow));
        assert_eq!(sum([i64::MIN, -1]), Err(CentsOverflow));
        assert_eq!(sum([i64::MAX, 1, -5]), Err(CentsOverflow));
        assert_eq!(negate(i64::MIN), Err(CentsOverflow));
    }
}
