//! What a request may carry: the rules every service applies to free text
//! (as `validator` custom functions, so a form with several broken fields
//! gets every one named in one 422) and the date types that refuse a day
//! outside the documented range when they are deserialized.
//!
//! - [`one_line`]: names, titles, emails, ids. No control character at
//!   all (Unicode `Cc`: NUL, `\t`, `\n`, `\r`, ESC, DEL, C1), no bidi
//!   embedding, override or isolate (U+202A–U+202E, U+2066–U+2069: text
//!   that displays in another order than it reads, "Trojan Source"), no
//!   line or paragraph separator (U+2028, U+2029). Other format characters
//!   (`Cf`) are kept: zero-width joiners build emoji and are needed by
//!   Persian and Indic scripts, and LRM/RLM marks by right-to-left names.
//!   [`one_line_not_blank`] also refuses a blank name.
//! - [`multi_line`]: descriptions. The same, except that `\n`, `\t` and
//!   `\r\n` (what a browser sends for a line break) are allowed; a lone
//!   `\r` is not (it rewrites a line in terminals and logs). Stored as sent.
//! - Lengths use `validator`'s `length` rule, which counts characters
//!   (Unicode scalar values), not bytes; the OpenAPI schema states them
//!   with `min_length`/`max_length`, and the field's description states
//!   the character rule.
//! - [`BoundedDate`]: a calendar day `YYYY-MM-DD` from [`FIRST_DATE`] to
//!   [`LAST_DATE`]. Every week (Monday to Sunday) and month derived from
//!   such a day lies within 1969-12-29 to 9999-01-03: four-digit years that
//!   chrono's arithmetic, SQLite and PostgreSQL's timestamps all hold.
//!   [`DayRange`] is a checked range of such days for a report.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// The first day a date parameter or field accepts.
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(date) => date,
    None => panic!("a valid date"),
};

/// The last day a date parameter or field accepts.
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9998, 12, 31) {
    Some(date) => date,
    None => panic!("a valid date"),
};

/// What the OpenAPI documents say of every date.
const DATE_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}$";
const DATE_RULE: &str = "a calendar day, YYYY-MM-DD, from 1970-01-01 to 9998-12-31";

/// Why a text is refused: its first character that is not allowed.
fn refused_character(text: &str, line_breaks: bool) -> Option<(usize, char)> {
    let mut characters = text.chars().enumerate().peekable();
    while let Some((index, character)) = characters.next() {
        let allowed = match character {
            '\n' | '\t' => line_breaks,
            '\r' => line_breaks && characters.peek().is_some_and(|(_, next)| *next == '\n'),
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => false,
            other => !other.is_control(),
        };
        if !allowed {
            return Some((index + 1, character));
        }
    }
    None
}

fn refusal(text: &str, line_breaks: bool) -> Result<(), validator::ValidationError> {
    let Some((position, character)) = refused_character(text, line_breaks) else {
        return Ok(());
    };
    let allowed = if line_breaks {
        "line breaks (\\n, \\r\\n) and tabs are the only control characters allowed"
    } else {
        "a single line without control characters is expected"
    };
    Err(
        validator::ValidationError::new("control_character").with_message(
            format!(
                "must not contain U+{:04X} (character {position}): {allowed}",
                u32::from(character)
            )
            .into(),
        ),
    )
}

/// The one-line rule (see the module), as a `validator` custom function.
pub fn one_line(text: &str) -> Result<(), validator::ValidationError> {
    refusal(text, false)
}

/// [`one_line`], and not blank: a name or a title.
pub fn one_line_not_blank(text: &str) -> Result<(), validator::ValidationError> {
    if text.trim().is_empty() {
        return Err(
            validator::ValidationError::new("blank").with_message("must not be blank".into())
        );
    }
    refusal(text, false)
}

/// The rule of text that may span lines (see the module), as a
/// `validator` custom function.
pub fn multi_line(text: &str) -> Result<(), validator::ValidationError> {
    refusal(text, true)
}

/// A calendar day from [`FIRST_DATE`] to [`LAST_DATE`], written
/// `YYYY-MM-DD` (exactly four digits of year: no sign, no year 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedDate(NaiveDate);

/// Why a date is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {DATE_RULE}")]
pub struct DateOutOfRange;

impl BoundedDate {
    pub fn new(date: NaiveDate) -> Result<Self, DateOutOfRange> {
        if (FIRST_DATE..=LAST_DATE).contains(&date) {
            Ok(Self(date))
        } else {
            Err(DateOutOfRange)
        }
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl std::str::FromStr for BoundedDate {
    type Err = DateOutOfRange;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 10
            && bytes.iter().enumerate().all(|(index, byte)| match index {
                4 | 7 => *byte == b'-',
                _ => byte.is_ascii_digit(),
            });
        if !shaped {
            return Err(DateOutOfRange);
        }
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| DateOutOfRange)?;
        Self::new(date)
    }
}

impl From<BoundedDate> for NaiveDate {
    fn from(date: BoundedDate) -> Self {
        date.0
    }
}

impl fmt::Display for BoundedDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for BoundedDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for BoundedDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl PartialSchema for BoundedDate {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(DATE_PATTERN))
            .min_length(Some(10))
            .max_length(Some(10))
            .description(Some(DATE_RULE))
            .into()
    }
}

impl ToSchema for BoundedDate {
    fn name() -> Cow<'static, str> {
        "BoundedDate".into()
    }
}

/// The longest report over days (a leap year).
pub const MAX_REPORT_DAYS: i64 = 366;

/// Days `from` to `to`, both included, of a report: both within the date
/// range, `from` not after `to`, at most [`MAX_REPORT_DAYS`] days in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    from: NaiveDate,
    to: NaiveDate,
}

/// Why a range is refused, and which end of it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeRefused {
    #[error("must not be after `to`")]
    Reversed,
    #[error("a range covers at most {MAX_REPORT_DAYS} days")]
    TooLong,
}

impl RangeRefused {
    /// The query parameter the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            RangeRefused::Reversed => "from",
            RangeRefused::TooLong => "to",
        }
    }
}

impl DayRange {
    pub fn new(from: BoundedDate, to: BoundedDate) -> Result<Self, RangeRefused> {
        let (from, to) = (from.date(), to.date());
        if from > to {
            return Err(RangeRefused::Reversed);
        }
        if (to - from).num_days() >= MAX_REPORT_DAYS {
            return Err(RangeRefused::TooLong);
        }
        Ok(Self { from, to })
    }

    /// The days from `from` to `to` of a period derived from a
    /// [`BoundedDate`] (its week or month), which may reach a few days
    /// past the date range (1969-12-29 to 9999-01-03) but no further.
    pub fn spanning(from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            from: from.min(to),
            to: to.max(from),
        }
    }

    /// One day.
    pub fn day(date: BoundedDate) -> Self {
        Self {
            from: date.date(),
            to: date.date(),
        }
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |day| *day <= to)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Days, Months};

    use super::*;

    fn refused(result: Result<(), validator::ValidationError>) -> String {
        result
            .expect_err("refused")
            .message
            .expect("a message")
            .into_owned()
    }

    #[test]
    fn single_line_text_refuses_every_control_character() {
        for bad in [
            "a\0b",
            "bell\u{7}",
            "esc\u{1b}[31m",
            "cr\r",
            "lf\n",
            "tab\t",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            assert!(one_line(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            refused(one_line("ab\0")),
            "must not contain U+0000 (character 3): a single line without control characters is expected"
        );
    }

    #[test]
    fn bidi_controls_and_separators_are_refused_but_joiners_and_marks_are_kept() {
        for bad in ["\u{202E}gnp.exe", "a\u{2066}b", "a\u{2028}b", "a\u{2029}b"] {
            assert!(one_line(bad).is_err(), "{bad:?}");
            assert!(multi_line(bad).is_err(), "{bad:?}");
        }
        // A family emoji (zero-width joiners), a Persian word with a ZWNJ,
        // a right-to-left mark.
        for good in ["👨\u{200D}👩\u{200D}👧", "می\u{200C}خواهم", "\u{200F}שלום"] {
            assert!(one_line(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn multi_line_text_holds_line_breaks_and_tabs_only() {
        assert!(multi_line("a\nb\tc\r\nd").is_ok());
        for bad in ["a\rb", "end\r", "\0", "\u{1b}", "\u{b}", "\u{c}"] {
            assert!(multi_line(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            refused(multi_line("a\rb")),
            "must not contain U+000D (character 2): line breaks (\\n, \\r\\n) and tabs are the only control characters allowed"
        );
    }

    #[test]
    fn names_must_not_be_blank() {
        assert_eq!(
            refused(one_line_not_blank(" \u{3000} ")),
            "must not be blank"
        );
        assert!(one_line_not_blank("\0").is_err());
        assert!(one_line_not_blank("Kesha").is_ok());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        // validator's `length` rule, which every text field uses: 200
        // characters of three bytes each are 200, not 600.
        use validator::ValidateLength;
        assert_eq!("界".repeat(200).length(), Some(200));
        assert_eq!("😀".repeat(11).length(), Some(11));
    }

    #[test]
    fn dates_are_four_digit_days_within_the_range() {
        for bad in [
            "-262143-01-01",
            "+262142-12-31",
            "0000-01-01",
            "1969-12-31",
            "9999-01-01",
            "2026-02-30",
            "2026-3-4",
            "20260304",
            "2026-03-04T00:00:00Z",
            " 2026-03-04",
        ] {
            assert_eq!(bad.parse::<BoundedDate>(), Err(DateOutOfRange), "{bad}");
        }
        assert_eq!(
            "1970-01-01".parse::<BoundedDate>().map(BoundedDate::date),
            Ok(FIRST_DATE)
        );
        assert_eq!(
            "9998-12-31".parse::<BoundedDate>().map(BoundedDate::date),
            Ok(LAST_DATE)
        );
        let refused = serde_json::from_str::<BoundedDate>("\"9999-01-01\"").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("from 1970-01-01 to 9998-12-31"),
            "{refused}"
        );
    }

    #[test]
    fn weeks_and_months_of_the_range_stay_in_four_digit_years() {
        let monday_before = FIRST_DATE
            .checked_sub_days(Days::new(u64::from(
                FIRST_DATE.weekday().num_days_from_monday(),
            )))
            .unwrap();
        assert_eq!(
            monday_before,
            NaiveDate::from_ymd_opt(1969, 12, 29).unwrap()
        );
        let monday = LAST_DATE
            .checked_sub_days(Days::new(u64::from(
                LAST_DATE.weekday().num_days_from_monday(),
            )))
            .unwrap();
        assert_eq!(
            monday.checked_add_days(Days::new(6)),
            NaiveDate::from_ymd_opt(9999, 1, 3)
        );
        let next_month = LAST_DATE
            .with_day(1)
            .unwrap()
            .checked_add_months(Months::new(1));
        assert_eq!(next_month, NaiveDate::from_ymd_opt(9999, 1, 1));
    }

    #[test]
    fn a_range_is_ordered_and_at_most_a_leap_year_long() {
        let day = |text: &str| text.parse::<BoundedDate>().unwrap();
        assert_eq!(
            DayRange::new(day("2026-03-04"), day("2026-03-03")),
            Err(RangeRefused::Reversed)
        );
        assert_eq!(RangeRefused::Reversed.field(), "from");
        let year = DayRange::new(day("2024-01-01"), day("2024-12-31")).unwrap();
        assert_eq!(year.days().count(), 366);
        assert_eq!(
            DayRange::new(day("2024-01-01"), day("2025-01-01")),
            Err(RangeRefused::TooLong)
        );
        assert_eq!(RangeRefused::TooLong.field(), "to");
        let last = DayRange::day(day("9998-12-31"));
        assert_eq!(last.days().collect::<Vec<_>>(), vec![LAST_DATE]);
    }
}
