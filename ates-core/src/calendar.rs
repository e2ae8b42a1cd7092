//! Business days in the configured time zone: which day a moment belongs
//! to, and where a day starts and ends.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy)]
pub struct BusinessCalendar {
    pub zone: Tz,
}

impl BusinessCalendar {
    pub fn new(zone: Tz) -> Self {
        Self { zone }
    }

    /// The business day of a moment.
    pub fn date_of(&self, moment: DateTime<Utc>) -> NaiveDate {
        moment.with_timezone(&self.zone).date_naive()
    }

    /// When a business day starts (its local midnight; after a DST gap,
    /// the first moment that exists).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        match self.zone.from_local_datetime(&midnight).earliest() {
            Some(start) => start.with_timezone(&Utc),
            None => {
                // Midnight does not exist that day: the day starts an hour later.
                let later = midnight + chrono::Duration::hours(1);
                self.zone
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|start| start.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
            }
        }
    }

    /// The half-open interval `[start, end)` of a business day.
    pub fn bounds(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
        (self.start_of(date), self.start_of(next))
    }

    /// The next business midnight after `now`.
    pub fn next_midnight(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.bounds(self.date_of(now)).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_the_business_zone() {
        let moscow = BusinessCalendar::new(chrono_tz::Europe::Moscow);
        let late_utc = Utc.with_ymd_and_hms(2026, 3, 3, 22, 30, 0).unwrap();
        assert_eq!(
            moscow.date_of(late_utc),
            NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
        );
        let (start, end) = moscow.bounds(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 3, 3, 21, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 3, 4, 21, 0, 0).unwrap());
        assert_eq!(moscow.next_midnight(late_utc), end);
    }

    #[test]
    fn a_dst_day_is_23_or_25_hours_long() {
        let berlin = BusinessCalendar::new(chrono_tz::Europe::Berlin);
        let (start, end) = berlin.bounds(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        assert_eq!(end - start, chrono::Duration::hours(23));
        let (start, end) = berlin.bounds(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap());
        assert_eq!(end - start, chrono::Duration::hours(25));
    }
}
