//! Task prices: an assignment fee of 10 to 20 whole dollars and a reward
//! of 20 to 40, uniformly distributed, fixed when accounting first learns
//! of the task.
//!
//! The draw is a hash of a configured seed and the task id rather than a
//! live random generator: every price is still uniform and unpredictable
//! without the seed, and a rebuild of accounting from the streams prices
//! every task exactly as before.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The price of one task, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub assignment_fee_cents: i64,
    pub reward_cents: i64,
}

pub const FEE_DOLLARS: std::ops::RangeInclusive<i64> = 10..=20;
pub const REWARD_DOLLARS: std::ops::RangeInclusive<i64> = 20..=40;

/// Draws prices from a seed.
#[derive(Debug, Clone)]
pub struct Pricing {
    seed: String,
}

fn pick(bytes: &[u8], range: &std::ops::RangeInclusive<i64>) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    let span = u64::try_from(range.end() - range.start() + 1).unwrap_or(1);
    // 2^64 is so much larger than the span that the modulo bias is nil.
    range.start() + i64::try_from(u64::from_le_bytes(word) % span).unwrap_or(0)
}

impl Pricing {
    pub fn new(seed: impl Into<String>) -> Self {
        Self { seed: seed.into() }
    }

    /// The price of `task_id`.
    pub fn price(&self, task_id: Uuid) -> Price {
        let digest = Sha256::new()
            .chain_update(self.seed.as_bytes())
            .chain_update(task_id.as_bytes())
            .finalize();
        Price {
            assignment_fee_cents: pick(&digest[0..8], &FEE_DOLLARS) * 100,
            reward_cents: pick(&digest[8..16], &REWARD_DOLLARS) * 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every whole-dollar value of each range is drawn (2,000 tasks: the
    /// chance that a value of 21 is never drawn is below 10^-40).
    #[test]
    fn prices_cover_each_range_end_to_end() {
        let pricing = Pricing::new("coverage");
        let (mut fees, mut rewards) = (
            std::collections::BTreeSet::new(),
            std::collections::BTreeSet::new(),
        );
        for id in 0..2_000u128 {
            let price = pricing.price(Uuid::from_u128(id));
            fees.insert(price.assignment_fee_cents / 100);
            rewards.insert(price.reward_cents / 100);
        }
        assert_eq!(fees, FEE_DOLLARS.collect());
        assert_eq!(rewards, REWARD_DOLLARS.collect());
    }
}
