//! accounting-api: prices, the ledger, balances, billing cycles and payouts
//! (docs/product.md §5).
//!
//! [`AccountingApi`] is the service: `prepare` opens the database
//! (migrations, the first open cycle, any interrupted close finished) and
//! the bus; it then serves [`routes::api`] and runs the outbox relay, the
//! consumer of account and task events, the end-of-day scheduler and the
//! mailer until shutdown.

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod mailer;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use ates_core::auth::Authenticator;
use ates_core::bus::Outbox;
use ates_core::http::health::Readiness;
use ates_core::metrics::{Counter, Metrics};
use ates_core::service::{AtesService, Foundation, Prepared};
use axum::extract::FromRef;
use event_schemas::accounting::TransactionKind;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::db::migrations::Migrator;
use crate::domain::billing;
use crate::domain::pricing::Pricing;
use crate::events::AccountingEvents;
use crate::mailer::Mailer;
use ates_core::calendar::BusinessCalendar;

/// What every request handler can reach. `FromRef` lets extractors take
/// their part of it: the `Authenticator` for `AuthUser`, the `Readiness`
/// for `/readyz`.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub authenticator: Authenticator,
    pub readiness: Readiness,
    pub calendar: BusinessCalendar,
    pub mailer: Mailer,
    pub counters: AccountingCounters,
}

/// The fees and rewards the ledger posted (`GET /metrics`), counted by the
/// consumer once each event's changes committed.
#[derive(Debug, Clone)]
pub struct LedgerCounters {
    fees_cents: Counter,
    rewards_cents: Counter,
}

impl LedgerCounters {
    fn register(metrics: &Metrics) -> Self {
        Self {
            fees_cents: metrics.counter(
                "ates_fees_cents",
                "Assignment fees posted to the ledger, in cents",
            ),
            rewards_cents: metrics.counter(
                "ates_rewards_cents",
                "Completion rewards posted to the ledger, in cents",
            ),
        }
    }

    /// Counts a fee or reward the ledger posted.
    pub fn charged(&self, kind: TransactionKind, cents: i64) {
        let counter = match kind {
            TransactionKind::AssignmentFee => &self.fees_cents,
            TransactionKind::TaskReward => &self.rewards_cents,
            _ => return,
        };
        counter.inc_by(cents.unsigned_abs());
    }
}

/// accounting-api's counters of the close of the day (`GET /metrics`).
#[derive(Debug, Clone)]
pub struct AccountingCounters {
    payouts: Counter,
    payout_cents: Counter,
}

impl AccountingCounters {
    fn register(metrics: &Metrics) -> Self {
        Self {
            payouts: metrics.counter(
                "ates_payouts",
                "Payouts of the closes of the day this process finished",
            ),
            payout_cents: metrics.counter(
                "ates_payout_cents",
                "Cents paid out by the closes of the day this process finished",
            ),
        }
    }

    /// Counts the payouts of a finished close.
    pub fn closed(&self, summary: &billing::CloseSummary) {
        self.payouts
            .inc_by(summary.cycle.payments_count.unsigned_abs());
        self.payout_cents
            .inc_by(summary.cycle.payments_total_cents.unsigned_abs());
    }
}

/// accounting-api as [`AtesService`]: how `main` and the tests start it.
#[derive(Debug)]
pub struct AccountingApi;

impl AtesService for AccountingApi {
    const NAME: &'static str = "accounting-api";
    const ABOUT: &'static str = "aTES accounting";
    const DEFAULT_PORT: u16 = 3003;

    type Config = Config;
    type State = AppState;
    type Events = AccountingEvents;

    fn events(config: &Config, metrics: &Metrics) -> AccountingEvents {
        AccountingEvents {
            pricing: Pricing::new(&config.pricing_seed),
            counters: LedgerCounters::register(metrics),
        }
    }

    fn api() -> OpenApiRouter<AppState> {
        routes::api()
    }

    /// Connects and migrates the database, opens the first billing cycle,
    /// finishes any close a crash interrupted, connects the bus.
    async fn prepare(config: Config) -> anyhow::Result<Prepared<Self>> {
        let foundation = Foundation::open::<Migrator>(&config.service).await?;
        let db = foundation.db;
        let outbox = foundation.bus.outbox();
        let calendar = BusinessCalendar::new(config.service.business_timezone);
        let now = ates_core::db::now();
        billing::ensure_open_cycle(&db, &calendar, now).await?;
        let counters = AccountingCounters::register(&foundation.metrics);
        for summary in billing::resume_closes(&db, &outbox, now).await? {
            counters.closed(&summary);
        }
        let mailer = Mailer::new(db.clone(), config.smtp_url.as_deref(), &config.mail_from)?
            .with_rate(config.mail_per_second)
            .counted_in(foundation.metrics.counter_by(
                "ates_payout_emails",
                "Payout emails by outcome (stored: no SMTP_URL; failed: retried later)",
                "outcome",
                &["sent", "stored", "failed"],
            ));
        let state = AppState {
            db: db.clone(),
            outbox,
            authenticator: foundation.authenticator,
            readiness: foundation.readiness,
            calendar,
            mailer,
            counters,
        };
        Ok(Prepared::new(
            state,
            db,
            foundation.bus,
            foundation.metrics,
            config,
        ))
    }

    /// The relay, the consumer of account and task events, the mailer and
    /// (unless switched off) the end-of-day scheduler.
    fn background(prepared: &Prepared<Self>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        let state = prepared.state.clone();
        let mut background = vec![
            prepared.spawn_relay(shutdown),
            prepared.spawn_consumer(shutdown),
            tokio::spawn(state.mailer.clone().run(shutdown.clone())),
        ];
        if prepared.config.scheduler_enabled {
            background.push(tokio::spawn(run_scheduler(state, shutdown.clone())));
        }
        background
    }
}

/// Closes each business day at its midnight (and at start, a day that
/// ended while the service was down).
async fn run_scheduler(state: AppState, shutdown: CancellationToken) {
    loop {
        let now = ates_core::db::now();
        match billing::close_if_day_over(&state.db, &state.outbox, &state.calendar, now).await {
            Ok(Some(summary)) => {
                tracing::info!(date = %summary.cycle.business_date, payments = summary.cycle.payments_count, "closed the business day");
                state.counters.closed(&summary);
                state.mailer.notify();
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "end-of-day close failed; retrying in a minute"),
        }
        let until_midnight = (state.calendar.next_midnight(now) - now)
            .to_std()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(60));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(until_midnight) => {}
        }
    }
    tracing::info!("billing scheduler stopped");
}
