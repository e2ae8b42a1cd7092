//! accounting-api's endpoints: a worker's own balance and audit log; every
//! balance, any log, management earnings and billing cycles for admins and
//! accountants; closing the day for admins.

use ates_core::auth::AuthUser;
use ates_core::db::UnreadableRow;
use ates_core::http::{ApiError, PathParam, Problem, RangeQuery, ValidatedQuery};
use ates_core::page::{Cursor, CursorText, PageQuery, PageRequest, SearchQuery};
use ates_core::validation::BoundedDate;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use event_schemas::accounting::TransactionKind;
use event_schemas::accounts::Role;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::AppState;
use crate::db::billing_cycle::{self, CycleStatus};
use crate::domain::AccountingError;
use crate::domain::billing::{self, CloseSummary, CycleOrder};
use crate::domain::reports::{self, AccountOrder, LogEntry, TransactionOrder};

const MANAGEMENT: [Role; 2] = [Role::Admin, Role::Accountant];

/// The task of a transaction, as far as accounting knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionTask {
    pub id: Uuid,
    /// Null until `tasks.created` reached accounting.
    pub title: Option<String>,
    pub jira_id: Option<String>,
    pub description: Option<String>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transaction {
    pub id: Uuid,
    pub account_id: Uuid,
    pub kind: TransactionKind,
    /// Signed: fees and payouts negative, rewards positive.
    pub amount_cents: i64,
    pub task: Option<TransactionTask>,
    pub billing_cycle_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<LogEntry> for Transaction {
    type Error = UnreadableRow;

    fn try_from(entry: LogEntry) -> Result<Self, UnreadableRow> {
        let row = entry.transaction;
        Ok(Self {
            id: row.id,
            account_id: row.account_id,
            kind: row.kind()?,
            amount_cents: row.amount_cents,
            task: row.task_id.map(|id| TransactionTask {
                id,
                title: entry.task.as_ref().and_then(|task| task.title.clone()),
                jira_id: entry.task.as_ref().and_then(|task| task.jira_id.clone()),
                description: entry
                    .task
                    .as_ref()
                    .and_then(|task| task.description.clone()),
            }),
            billing_cycle_id: row.billing_cycle_id,
            created_at: row.created_at,
        })
    }
}

/// Today's sums for one account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Today {
    pub date: NaiveDate,
    /// Rewards credited today (positive).
    pub rewards_cents: i64,
    /// Fees debited today (negative).
    pub fees_cents: i64,
    /// Paid out today (negative).
    pub payouts_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyAccount {
    pub account_id: Uuid,
    pub balance_cents: i64,
    pub today: Today,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountBalance {
    pub account_id: Uuid,
    /// Null while the account's events have not reached accounting.
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub balance_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DailyEarnings {
    pub date: NaiveDate,
    /// Fees taken minus rewards paid that day.
    pub earnings_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BillingCycle {
    pub id: Uuid,
    pub business_date: String,
    pub status: CycleStatus,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub payments_count: i64,
    pub payments_total_cents: i64,
}

impl TryFrom<billing_cycle::Model> for BillingCycle {
    type Error = UnreadableRow;

    fn try_from(cycle: billing_cycle::Model) -> Result<Self, UnreadableRow> {
        Ok(Self {
            status: cycle.status()?,
            id: cycle.id,
            business_date: cycle.business_date,
            opened_at: cycle.opened_at,
            closed_at: cycle.closed_at,
            payments_count: cycle.payments_count,
            payments_total_cents: cycle.payments_total_cents,
        })
    }
}

/// What a close did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CloseResult {
    pub cycle: BillingCycle,
    /// The cycle that is open now.
    pub next_billing_cycle_id: Uuid,
    /// Accounts whose negative balance carries over.
    pub negative_balances_carried: u64,
}

impl TryFrom<CloseSummary> for CloseResult {
    type Error = UnreadableRow;

    fn try_from(summary: CloseSummary) -> Result<Self, UnreadableRow> {
        Ok(Self {
            cycle: summary.cycle.try_into()?,
            next_billing_cycle_id: summary.next_cycle_id,
            negative_balances_carried: summary.negative_balances_carried,
        })
    }
}

/// `?date=&cursor=&per_page=`: a page of one day's audit log.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// A business day (default today).
    #[param(inline)]
    pub date: Option<BoundedDate>,
    #[param(value_type = Option<CursorText>, inline)]
    pub cursor: Option<Cursor<TransactionOrder>>,
    /// 1 to 100 (default 20).
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
}

/// A page of a day's audit log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionPage {
    pub items: Vec<Transaction>,
    /// Pass it back as `cursor` (with the same `date`) for the next page;
    /// null on the last page.
    pub next_cursor: Option<String>,
}

/// A page of balances, in the order the accounts were made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BalancePage {
    pub items: Vec<AccountBalance>,
    /// Pass it back as `cursor` (with the same `q`) for the next page; null
    /// on the last page.
    pub next_cursor: Option<String>,
}

/// A page of billing cycles, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CyclePage {
    pub items: Vec<BillingCycle>,
    /// Pass it back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

async fn log_of(
    state: &AppState,
    account_id: Uuid,
    query: LogQuery,
) -> Result<Json<TransactionPage>, ApiError> {
    let date = query.date.map_or_else(
        || state.calendar.date_of(ates_core::db::now()),
        BoundedDate::date,
    );
    let request = PageRequest::new(query.cursor, query.per_page);
    let page = reports::log_page(&state.db, &state.calendar, account_id, date, &request)
        .await?
        .try_map(Transaction::try_from)?;
    Ok(Json(TransactionPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Your balance and today's sums.
#[utoipa::path(get, path = "/v1/me", tag = "accounting", security(("bearer" = [])),
    responses(
        (status = 200, description = "your account", body = MyAccount),
        (status = 401, description = "no or bad token", body = Problem)))]
pub async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MyAccount>, ApiError> {
    let today = state.calendar.date_of(ates_core::db::now());
    let balance_cents = reports::balance_of(&state.db, user.account_id).await?;
    let totals = reports::day_totals(&state.db, &state.calendar, user.account_id, today).await?;
    Ok(Json(MyAccount {
        account_id: user.account_id,
        balance_cents,
        today: Today {
            date: today,
            rewards_cents: totals.rewards_cents,
            fees_cents: totals.fees_cents,
            payouts_cents: totals.payouts_cents,
        },
    }))
}

/// Your audit log for one day, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/me/transactions", tag = "accounting", security(("bearer" = [])),
    params(LogQuery),
    responses(
        (status = 200, description = "a page of that day's transactions, oldest first", body = TransactionPage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 422, description = "invalid date, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn my_transactions(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<LogQuery>,
) -> Result<Json<TransactionPage>, ApiError> {
    log_of(&state, user.account_id, query).await
}

/// Every account's balance (admins and accountants), a page at a time in
/// the order the accounts were made; `q` searches emails and names.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounting", security(("bearer" = [])),
    params(SearchQuery<AccountOrder>),
    responses(
        (status = 200, description = "a page of balances", body = BalancePage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "neither admin nor accountant", body = Problem),
        (status = 422, description = "invalid search, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn accounts(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<SearchQuery<AccountOrder>>,
) -> Result<Json<BalancePage>, ApiError> {
    user.require_role(&MANAGEMENT)?;
    let (search, request) = query.request();
    let page = reports::balances_page(&state.db, search.as_deref(), &request).await?;
    Ok(Json(BalancePage {
        items: page
            .items
            .into_iter()
            .map(|balance| AccountBalance {
                account_id: balance.account_id,
                email: balance.email,
                full_name: balance.full_name,
                role: balance.role,
                balance_cents: balance.balance_cents,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One account's audit log for one day (admins and accountants), oldest
/// first, a page at a time.
#[utoipa::path(get, path = "/v1/accounts/{id}/transactions", tag = "accounting", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account"), LogQuery),
    responses(
        (status = 200, description = "a page of that day's transactions, oldest first", body = TransactionPage),
        (status = 400, description = "malformed id", body = Problem),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "neither admin nor accountant", body = Problem),
        (status = 422, description = "invalid date, cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn account_transactions(
    State(state): State<AppState>,
    user: AuthUser,
    PathParam(id): PathParam<Uuid>,
    ValidatedQuery(query): ValidatedQuery<LogQuery>,
) -> Result<Json<TransactionPage>, ApiError> {
    user.require_role(&MANAGEMENT)?;
    log_of(&state, id, query).await
}

/// Management earnings day by day (admins and accountants).
#[utoipa::path(get, path = "/v1/stats/management", tag = "accounting", security(("bearer" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "one row per day", body = [DailyEarnings]),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "neither admin nor accountant", body = Problem),
        (status = 422, description = "invalid range", body = Problem)))]
pub async fn management(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<RangeQuery>,
) -> Result<Json<Vec<DailyEarnings>>, ApiError> {
    user.require_role(&MANAGEMENT)?;
    let days = query.range_or(state.calendar.date_of(ates_core::db::now()))?;
    let days = reports::management_earnings(&state.db, &state.calendar, days).await?;
    Ok(Json(
        days.into_iter()
            .map(|(date, earnings_cents)| DailyEarnings {
                date,
                earnings_cents,
            })
            .collect(),
    ))
}

/// Close the open billing cycle now (admin): pay out positive balances,
/// email each payout, carry negative balances; the next cycle opens.
#[utoipa::path(post, path = "/v1/billing-cycles/close", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "the closed cycle", body = CloseResult),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "not an admin", body = Problem),
        (status = 409, description = "a close is already running", body = Problem)))]
pub async fn close(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<CloseResult>, ApiError> {
    user.require_role(&[Role::Admin])?;
    // The close runs on its own task: a client that goes away does not
    // stop it half-way (a dropped handler would leave the cycle `closing`
    // until the next start).
    let pledge = ates_core::idempotency::current();
    let close = tokio::spawn(ates_core::idempotency::carrying(
        pledge,
        async move {
            let summary = billing::close_now(
                &state.db,
                &state.outbox,
                &state.calendar,
                ates_core::db::now(),
            )
            .await?;
            state.counters.closed(&summary);
            state.mailer.notify();
            Ok::<_, AccountingError>(summary)
        }
        // Its events carry the request's trace.
        .in_current_span(),
    ));
    let summary = close.await.map_err(|error| {
        AccountingError::Internal(anyhow::anyhow!("the close stopped: {error}"))
    })??;
    Ok(Json(summary.try_into()?))
}

/// Billing cycles, newest first (admins and accountants), a page at a
/// time.
#[utoipa::path(get, path = "/v1/billing-cycles", tag = "billing", security(("bearer" = [])),
    params(PageQuery<CycleOrder>),
    responses(
        (status = 200, description = "a page of cycles with their totals", body = CyclePage),
        (status = 401, description = "no or bad token", body = Problem),
        (status = 403, description = "neither admin nor accountant", body = Problem),
        (status = 422, description = "invalid cursor or page size, or an unknown parameter", body = Problem)))]
pub async fn cycles(
    State(state): State<AppState>,
    user: AuthUser,
    ValidatedQuery(query): ValidatedQuery<PageQuery<CycleOrder>>,
) -> Result<Json<CyclePage>, ApiError> {
    user.require_role(&MANAGEMENT)?;
    let page = billing::list(&state.db, &query.request())
        .await?
        .try_map(BillingCycle::try_from)?;
    Ok(Json(CyclePage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
