//! accounting-api's configuration: the settings every service reads (port
//! 3003 by default) plus the business day, email and pricing.

use ates_core::config::{ServiceConfig, ServiceSettings, parse, switch, var};

#[derive(Debug, Clone)]
pub struct Config {
    /// Includes `BUSINESS_TIMEZONE`: a billing cycle is a business day.
    pub service: ServiceSettings,
    /// `SMTP_URL` (e.g. `smtp://mail.popug.inc:587?tls=required`): unset,
    /// payout emails are stored in the database and logged instead.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM` (default `aTES Accounting <accounting@popug.inc>`).
    pub mail_from: String,
    /// `MAIL_PER_SECOND` (default 20): payout emails go out at this steady
    /// rate once a close has written every payout, so a close of 100,000
    /// accounts does not flood the mail server (0: as fast as it takes
    /// them).
    pub mail_per_second: u32,
    /// `PRICING_SEED` (default `ates`): prices are drawn from a hash of this
    /// seed and the task id, so a rebuild from the streams prices every
    /// task the same again. Change it only for a fresh system.
    pub pricing_seed: String,
    /// `CLOSE_SCHEDULER` (default `on`): `off` leaves closing to the admin
    /// endpoint (tests, or a deployment that closes from outside); any other
    /// value stops the start.
    pub scheduler_enabled: bool,
}

impl ServiceConfig for Config {
    fn from_env(service: ServiceSettings) -> anyhow::Result<Self> {
        Ok(Self {
            service,
            smtp_url: var("SMTP_URL"),
            mail_from: var("MAIL_FROM")
                .unwrap_or_else(|| "aTES Accounting <accounting@popug.inc>".into()),
            mail_per_second: parse("MAIL_PER_SECOND", 20)?,
            pricing_seed: var("PRICING_SEED").unwrap_or_else(|| "ates".into()),
            scheduler_enabled: switch("CLOSE_SCHEDULER")?,
        })
    }

    fn settings(&self) -> &ServiceSettings {
        &self.service
    }
}
