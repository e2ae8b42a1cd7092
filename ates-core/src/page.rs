//! Keyset pagination: how every list of every service pages.
//!
//! A list is ordered by a sort key and the row's id (newest task first,
//! oldest transaction first, ...). A page is fetched as "the next
//! `per_page` rows after this position", which an index on (filter, key,
//! id) answers by walking straight to the position: page 1 and page 10,000
//! cost the same, and no list counts its rows.
//!
//! - A client asks `?per_page=` (1 to [`MAX_PER_PAGE`], default
//!   [`DEFAULT_PER_PAGE`]) and gets `{"items": [...], "next_cursor": ...}`.
//!   `next_cursor` is null on the last page (there is never an empty page
//!   after it); otherwise the client passes it back as `?cursor=` with the
//!   same filters to get the next page.
//! - A cursor is opaque to clients: base64url of the list's name, the last
//!   row's key and its id. One that was altered, or that another list gave
//!   out, is a 422 naming `cursor`; a key in it is checked like a request's
//!   own input (a time within the dates the databases hold, a text without
//!   control characters), so no cursor reaches a database that refuses it.
//! - There is no `page` number and no total: both cost a scan of every
//!   earlier or matching row. The query structs deny unknown parameters, so
//!   an old client that sends `page` gets a 422, not page 1 forever.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::Condition;
use sea_orm::sea_query::{Expr, ExprTrait, Func, IntoColumnRef, LikeExpr, SimpleExpr};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::validation::{BoundedDate, FIRST_DATE, LAST_DATE};

/// Rows on a page when the client does not say.
pub const DEFAULT_PER_PAGE: u64 = 20;
/// The most rows a client may ask for on one page.
pub const MAX_PER_PAGE: u64 = 100;
/// The longest cursor accepted (a key text of 200 characters, encoded).
const MAX_CURSOR_LEN: usize = 1200;
/// The longest key text a cursor may carry, in characters.
const MAX_KEY_CHARS: usize = 200;

/// A list that pages by keyset: its name, so a cursor of one list is
/// refused by another, and the kind of its sort key.
pub trait Keyset: fmt::Debug {
    const LIST: &'static str;
    type Key: KeyPart;
}

/// A sort key as a cursor carries it.
pub trait KeyPart: Sized + Clone + fmt::Debug {
    fn write(&self) -> String;
    /// The key written by [`KeyPart::write`], or `None` for a text no
    /// cursor of ours holds.
    fn read(text: &str) -> Option<Self>;
}

/// Times as seconds and nanoseconds since the epoch, within the dates a
/// request may name. Nanoseconds, not the microseconds the services write:
/// SQLite keeps a time as the text it was given, so a row that came with
/// nanoseconds (an event from elsewhere) must be passed exactly or the page
/// after it would start at it again.
impl KeyPart for DateTime<Utc> {
    fn write(&self) -> String {
        format!("{}.{:09}", self.timestamp(), self.timestamp_subsec_nanos())
    }

    fn read(text: &str) -> Option<Self> {
        let (seconds, nanos) = text.split_once('.')?;
        if nanos.len() != 9 || !nanos.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let at = DateTime::from_timestamp(seconds.parse().ok()?, nanos.parse().ok()?)?;
        (FIRST_DATE..=LAST_DATE)
            .contains(&at.date_naive())
            .then_some(at)
    }
}

/// Sequence numbers.
impl KeyPart for i64 {
    fn write(&self) -> String {
        self.to_string()
    }

    fn read(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl KeyPart for NaiveDate {
    fn write(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }

    fn read(text: &str) -> Option<Self> {
        text.parse::<BoundedDate>().ok().map(BoundedDate::date)
    }
}

/// Texts (names) without control characters, at most 200 characters.
impl KeyPart for String {
    fn write(&self) -> String {
        self.clone()
    }

    fn read(text: &str) -> Option<Self> {
        let fits = text.chars().count() <= MAX_KEY_CHARS && !text.chars().any(char::is_control);
        fits.then(|| text.to_owned())
    }
}

/// Lists ordered by id alone.
impl KeyPart for () {
    fn write(&self) -> String {
        String::new()
    }

    fn read(text: &str) -> Option<Self> {
        text.is_empty().then_some(())
    }
}

/// A row's place in its list: its sort key and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position<K> {
    pub key: K,
    pub id: Uuid,
}

impl<K: KeyPart> Position<K> {
    /// The rows after this one in a list sorted by (key, id) descending.
    pub fn before_in_descending<C: IntoColumnRef, I: IntoColumnRef>(
        &self,
        key: C,
        id: I,
    ) -> SimpleExpr
    where
        K: Into<sea_orm::Value>,
    {
        Expr::tuple([Expr::col(key), Expr::col(id)]).lt(self.values())
    }

    /// The rows after this one in a list sorted by (key, id) ascending.
    pub fn after_in_ascending<C: IntoColumnRef, I: IntoColumnRef>(
        &self,
        key: C,
        id: I,
    ) -> SimpleExpr
    where
        K: Into<sea_orm::Value>,
    {
        Expr::tuple([Expr::col(key), Expr::col(id)]).gt(self.values())
    }

    fn values(&self) -> SimpleExpr
    where
        K: Into<sea_orm::Value>,
    {
        Expr::tuple([Expr::value(self.key.clone()), Expr::value(self.id)])
    }
}

impl Position<()> {
    /// The rows after this one in a list sorted by id ascending.
    pub fn after_id<I: IntoColumnRef>(&self, id: I) -> SimpleExpr {
        Expr::col(id).gt(self.id)
    }
}

/// The `cursor` query parameter of list `L`: the position its page starts
/// after.
pub struct Cursor<L: Keyset> {
    after: Position<L::Key>,
    list: PhantomData<L>,
}

impl<L: Keyset> fmt::Debug for Cursor<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cursor").field(&self.after).finish()
    }
}

impl<L: Keyset> Cursor<L> {
    /// The cursor a client passes back to get the page after `last`.
    pub fn encode(last: &Position<L::Key>) -> String {
        let text = format!("{}|{}|{}", L::LIST, last.id, last.key.write());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(cursor: &str) -> Option<Position<L::Key>> {
        if cursor.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, '|');
        if parts.next()? != L::LIST {
            return None;
        }
        let id = Uuid::try_parse(parts.next()?).ok()?;
        let key = L::Key::read(parts.next()?)?;
        Some(Position { key, id })
    }
}

impl<'de, L: Keyset> Deserialize<'de> for Cursor<L> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        let after = Self::decode(&text).ok_or_else(|| {
            de::Error::custom(
                "cursor: not a cursor this list gave out; pass a page's next_cursor back unchanged, with the same filters",
            )
        })?;
        Ok(Self {
            after,
            list: PhantomData,
        })
    }
}

/// The OpenAPI schema of every `cursor` parameter (utoipa does not derive
/// schemas of generic parameter types): name it in the query struct with
/// `#[param(value_type = Option<CursorText>, inline)]`.
pub struct CursorText;

impl PartialSchema for CursorText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(MAX_CURSOR_LEN))
            .description(Some(
                "The `next_cursor` of the page before, unchanged, with the same filters (default: the first page).",
            ))
            .into()
    }
}

impl ToSchema for CursorText {
    fn name() -> Cow<'static, str> {
        "Cursor".into()
    }
}

/// `?cursor=&per_page=`: a page of a list without filters.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, bound = "")]
pub struct PageQuery<L: Keyset> {
    #[param(value_type = Option<CursorText>, inline)]
    pub cursor: Option<Cursor<L>>,
    /// 1 to 100 (default 20).
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
}

impl<L: Keyset> PageQuery<L> {
    pub fn request(self) -> PageRequest<L> {
        PageRequest::new(self.cursor, self.per_page)
    }
}

/// `?q=&cursor=&per_page=`: a page of accounts, found by email or name.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, bound = "")]
pub struct SearchQuery<L: Keyset> {
    /// Only accounts whose email or full name contains this (ignoring
    /// case), 1 to 100 characters of one line.
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "crate::validation::one_line")
    )]
    #[param(min_length = 1, max_length = 100)]
    pub q: Option<String>,
    #[param(value_type = Option<CursorText>, inline)]
    pub cursor: Option<Cursor<L>>,
    /// 1 to 100 (default 20).
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
}

impl<L: Keyset> SearchQuery<L> {
    /// The search text and the page asked for.
    pub fn request(self) -> (Option<String>, PageRequest<L>) {
        (self.q, PageRequest::new(self.cursor, self.per_page))
    }
}

/// What a list request asks for: where to start and how many rows.
#[derive(Debug, Clone)]
pub struct PageRequest<L: Keyset> {
    pub after: Option<Position<L::Key>>,
    pub per_page: u64,
}

impl<L: Keyset> PageRequest<L> {
    /// `per_page` is validated (1 to [`MAX_PER_PAGE`]) by the query struct;
    /// this clamps it again so no caller can ask a database for more.
    pub fn new(cursor: Option<Cursor<L>>, per_page: Option<u64>) -> Self {
        Self {
            after: cursor.map(|cursor| cursor.after),
            per_page: per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE),
        }
    }

    /// The rows to fetch: one more than the page, to know whether another
    /// page follows.
    pub fn limit(&self) -> u64 {
        self.per_page + 1
    }

    /// Cuts the rows fetched with [`PageRequest::limit`] to the page and
    /// writes the cursor of the next page, if there is one.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        position: impl Fn(&T) -> Position<L::Key>,
    ) -> Page<T> {
        let more = rows.len() as u64 > self.per_page;
        rows.truncate(usize::try_from(self.per_page).unwrap_or(usize::MAX));
        let next_cursor = if more {
            rows.last().map(|last| Cursor::<L>::encode(&position(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

impl<L: Keyset<Key = ()>> PageRequest<L> {
    /// The rows a page of a list ordered by `id` may hold: after the cursor
    /// and, with `search`, containing it in one of `columns`.
    pub fn id_filter<C: IntoColumnRef + Clone>(
        &self,
        id: C,
        search: Option<&str>,
        columns: &[C],
    ) -> Condition {
        let mut condition = Condition::all();
        if let Some(text) = search {
            condition = condition.add(contains(columns, text));
        }
        if let Some(after) = &self.after {
            condition = condition.add(after.after_id(id));
        }
        condition
    }

    /// [`PageRequest::finish`] for a list ordered by id.
    pub fn finish_by_id<T>(&self, rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> Page<T> {
        self.finish(rows, |row| Position {
            key: (),
            id: id(row),
        })
    }
}

/// One page of a list, before the handler turns its rows into the
/// answer's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item converted.
    pub fn try_map<U, E>(self, convert: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self
                .items
                .into_iter()
                .map(convert)
                .collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// Rows where any of `columns` contains `text`, ignoring case (both sides
/// lowered; SQLite's `lower` folds ASCII letters only, PostgreSQL's every
/// letter). `%`, `_` and `\\` in `text` match themselves.
///
/// A search is a filter on a keyset walk: the list's index gives the rows
/// in order and the database stops once the page is full, so a common
/// text costs a page while a rare one reads further.
pub fn contains<C: IntoColumnRef + Clone>(columns: &[C], text: &str) -> Condition {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for character in text.to_lowercase().chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped.push('%');
    columns.iter().fold(Condition::any(), |any, column| {
        any.add(
            Expr::expr(Func::lower(Expr::col(column.clone())))
                .like(LikeExpr::new(escaped.clone()).escape('\\')),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Tasks {}
    impl Keyset for Tasks {
        const LIST: &'static str = "tasks";
        type Key = DateTime<Utc>;
    }

    #[derive(Debug)]
    enum People {}
    impl Keyset for People {
        const LIST: &'static str = "people";
        type Key = String;
    }

    fn cursor<L: Keyset>(text: &str) -> Option<Position<L::Key>> {
        Cursor::<L>::decode(text)
    }

    #[test]
    fn a_cursor_round_trips_and_only_in_its_own_list() {
        let at = DateTime::from_timestamp(1_764_979_200, 123_456_789).expect("a time");
        let position = Position {
            key: at,
            id: Uuid::now_v7(),
        };
        let text = Cursor::<Tasks>::encode(&position);
        assert_eq!(cursor::<Tasks>(&text), Some(position));
        assert_eq!(cursor::<People>(&text), None);
    }

    #[test]
    fn a_name_with_the_separator_round_trips() {
        let position = Position {
            key: "Kesha | Popugaev".to_owned(),
            id: Uuid::now_v7(),
        };
        let text = Cursor::<People>::encode(&position);
        assert_eq!(cursor::<People>(&text), Some(position));
    }

    #[test]
    fn forged_cursors_are_refused() {
        let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let id = Uuid::now_v7();
        // A time in year -262143 and one past 9998 (PostgreSQL refuses the
        // first; neither is a date a request may name).
        let far_past = DateTime::<Utc>::MIN_UTC.timestamp();
        let far_future = DateTime::<Utc>::MAX_UTC.timestamp();
        for text in [
            encode(&format!("tasks|{id}|{far_past}.000000000")),
            encode(&format!("tasks|{id}|{far_future}.000000000")),
            encode(&format!("tasks|{id}|0.0000000001")),
            encode(&format!("tasks|{id}|0.-00000001")),
            encode(&format!("tasks|{id}|1764979200")),
            encode(&format!("tasks|{id}|not a number")),
            encode("tasks|not-an-id|0.000000000"),
            encode("tasks"),
            "%%%".to_owned(),
            "a".repeat(MAX_CURSOR_LEN + 1),
        ] {
            assert_eq!(cursor::<Tasks>(&text), None, "{text}");
        }
        for name in ["a\0b", "line\nbreak", &"x".repeat(MAX_KEY_CHARS + 1)] {
            let text = encode(&format!("people|{id}|{name}"));
            assert_eq!(cursor::<People>(&text), None, "{name:?}");
        }
    }

    #[test]
    fn finish_cuts_the_extra_row_and_points_after_the_last_kept() {
        let request = PageRequest::<People>::new(None, Some(2));
        assert_eq!(request.limit(), 3);
        let id = Uuid::nil();
        let at = |name: &str| Position {
            key: name.to_owned(),
            id,
        };
        let page = request.finish(vec!["a", "b", "c"], |row| at(row));
        assert_eq!(page.items, vec!["a", "b"]);
        let next = page.next_cursor.expect("a next page");
        assert_eq!(cursor::<People>(&next), Some(at("b")));
        let last = request.finish(vec!["d", "e"], |row| at(row));
        assert_eq!(last.items, vec!["d", "e"]);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn per_page_is_clamped() {
        assert_eq!(
            PageRequest::<Tasks>::new(None, None).per_page,
            DEFAULT_PER_PAGE
        );
        assert_eq!(PageRequest::<Tasks>::new(None, Some(0)).per_page, 1);
        assert_eq!(
            PageRequest::<Tasks>::new(None, Some(10_000)).per_page,
            MAX_PER_PAGE
        );
    }
}
