//! What a request may carry, as types that refuse anything else when they
//! are deserialized: a request type whose fields use them cannot forget a
//! rule, and its OpenAPI schema states the rule (length, pattern, range).
//!
//! - [`SingleLine`]: names, titles, emails, ids. No control character at
//!   all (Unicode `Cc`: NUL, `\t`, `\n`, `\r`, ESC, DEL, C1), no bidi
//!   embedding, override or isolate (U+202A–U+202E, U+2066–U+2069: text
//!   that displays in another order than it reads, "Trojan Source"), no
//!   line or paragraph separator (U+2028, U+2029). Other format characters
//!   (`Cf`) are kept: zero-width joiners build emoji and are needed by
//!   Persian and Indic scripts, and LRM/RLM marks by right-to-left names.
//!   With a minimum of 1 or more it must not be blank.
//! - [`MultiLine`]: descriptions. The same, except that `\n`, `\t` and
//!   `\r\n` (what a browser sends for a line break) are allowed; a lone `\r`
//!   is not (it rewrites a line in terminals and logs). Stored as sent.
//! - [`BoundedDate`]: a calendar day `YYYY-MM-DD` from [`FIRST_DATE`] to
//!   [`LAST_DATE`]. Every week (Monday to Sunday) and month derived from
//!   such a day lies within 1969-12-29 to 9999-01-03: four-digit years that
//!   chrono's arithmetic, SQLite and PostgreSQL's timestamps all hold.
//!
//! Lengths are counted in characters (Unicode scalar values), not bytes.
//! A refused value is a serde error naming the field, which the
//! extractors answer with a 422 for that field.

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

/// The one-line rule of [`SingleLine`] as a `validator` custom function,
/// for a `String` field whose other rules must be reported together with
/// it (a sign-up names every broken field at once).
pub fn one_line(text: &str) -> Result<(), validator::ValidationError> {
    match refused_character(text, false) {
        None => Ok(()),
        Some((position, character)) => Err(validator::ValidationError::new("control_character")
            .with_message(
                format!(
                    "must not contain U+{:04X} (character {position}): a single line without control characters is expected",
                    u32::from(character)
                )
                .into(),
            )),
    }
}

fn check_text(
    text: &str,
    min: usize,
    max: usize,
    line_breaks: bool,
) -> Result<(), Cow<'static, str>> {
    let length = text.chars().count();
    if length < min || length > max {
        return Err(match min {
            0 => format!("must be at most {max} characters").into(),
            _ => format!("must be {min} to {max} characters").into(),
        });
    }
    if min > 0 && text.trim().is_empty() {
        return Err("must not be blank".into());
    }
    if let Some((position, character)) = refused_character(text, line_breaks) {
        let allowed = if line_breaks {
            "line breaks (\\n, \\r\\n) and tabs are the only control characters allowed"
        } else {
            "a single line without control characters is expected"
        };
        return Err(format!(
            "must not contain U+{:04X} (character {position}): {allowed}",
            u32::from(character)
        )
        .into());
    }
    Ok(())
}

fn text_schema(min: usize, max: usize, description: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .description(Some(description))
        .into()
}

/// One line of text (a name, a title, an email) of `MIN` to `MAX`
/// characters, without control characters (see the module).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SingleLine<const MIN: usize, const MAX: usize>(String);

/// Text that may span lines (a description) of at most `MAX` characters:
/// line breaks and tabs, no other control character (see the module).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MultiLine<const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> SingleLine<MIN, MAX> {
    /// Checks `text` as a request would be.
    pub fn new(text: impl Into<String>) -> Result<Self, Cow<'static, str>> {
        let text = text.into();
        check_text(&text, MIN, MAX, false)?;
        Ok(Self(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<const MAX: usize> MultiLine<MAX> {
    /// Checks `text` as a request would be.
    pub fn new(text: impl Into<String>) -> Result<Self, Cow<'static, str>> {
        let text = text.into();
        check_text(&text, 0, MAX, true)?;
        Ok(Self(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<const MIN: usize, const MAX: usize> std::ops::Deref for SingleLine<MIN, MAX> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> std::ops::Deref for MultiLine<MAX> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Debug for SingleLine<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize> fmt::Debug for MultiLine<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for SingleLine<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for MultiLine<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

impl<const MIN: usize, const MAX: usize> Serialize for SingleLine<MIN, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<const MAX: usize> Serialize for MultiLine<MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<const MIN: usize, const MAX: usize> PartialSchema for SingleLine<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        let blank = if MIN > 0 { ", not blank" } else { "" };
        text_schema(
            MIN,
            MAX,
            format!(
                "{MIN} to {MAX} characters{blank}, one line: no control characters \
                 (U+0000–U+001F, U+007F–U+009F), no bidi embeddings, overrides or \
                 isolates (U+202A–U+202E, U+2066–U+2069), no U+2028/U+2029"
            ),
        )
    }
}

impl<const MAX: usize> PartialSchema for MultiLine<MAX> {
    fn schema() -> RefOr<Schema> {
        text_schema(
            0,
            MAX,
            format!(
                "at most {MAX} characters; line breaks (\\n, \\r\\n) and tabs allowed, \
                 no other control character, no bidi embeddings, overrides or isolates \
                 (U+202A–U+202E, U+2066–U+2069), no U+2028/U+2029"
            ),
        )
    }
}

impl<const MIN: usize, const MAX: usize> ToSchema for SingleLine<MIN, MAX> {
    fn name() -> Cow<'static, str> {
        format!("SingleLine{MIN}To{MAX}").into()
    }
}

impl<const MAX: usize> ToSchema for MultiLine<MAX> {
    fn name() -> Cow<'static, str> {
        format!("MultiLine{MAX}").into()
    }
}

impl<const MIN: usize, const MAX: usize> validator::ValidateEmail for SingleLine<MIN, MAX> {
    fn as_email_string(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.0))
    }
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

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Days, Months};

    use super::*;

    type Title = SingleLine<1, 200>;
    type Description = MultiLine<10>;

    fn refused(result: Result<impl fmt::Debug, Cow<'static, str>>) -> String {
        result.expect_err("refused").into_owned()
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
            assert!(Title::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            refused(Title::new("ab\0")),
            "must not contain U+0000 (character 3): a single line without control characters is expected"
        );
    }

    #[test]
    fn bidi_controls_and_separators_are_refused_but_joiners_and_marks_are_kept() {
        for bad in ["\u{202E}gnp.exe", "a\u{2066}b", "a\u{2028}b", "a\u{2029}b"] {
            assert!(Title::new(bad).is_err(), "{bad:?}");
            assert!(Description::new(bad).is_err(), "{bad:?}");
        }
        // A family emoji (zero-width joiners), a Persian word with a ZWNJ,
        // a right-to-left mark.
        for good in ["👨\u{200D}👩\u{200D}👧", "می\u{200C}خواهم", "\u{200F}שלום"] {
            assert!(Title::new(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn multi_line_text_holds_line_breaks_and_tabs_only() {
        assert!(Description::new("a\nb\tc\r\nd").is_ok());
        for bad in ["a\rb", "end\r", "\0", "\u{1b}", "\u{b}", "\u{c}"] {
            assert!(Description::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        // 200 characters of three bytes each: 600 bytes, accepted.
        assert!(Title::new("界".repeat(200)).is_ok());
        assert_eq!(
            refused(Title::new("界".repeat(201))),
            "must be 1 to 200 characters"
        );
        assert_eq!(refused(Title::new("")), "must be 1 to 200 characters");
        assert_eq!(refused(Title::new("   ")), "must not be blank");
        assert!(Description::new("").is_ok());
        assert_eq!(
            refused(Description::new("😀".repeat(11))),
            "must be at most 10 characters"
        );
        // validator's `length` counts the same way.
        use validator::ValidateLength;
        assert_eq!("界".repeat(200).length(), Some(200));
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
}
