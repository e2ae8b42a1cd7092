//! analytics-api's configuration: the settings every service reads (port
//! 3004 by default, `BUSINESS_TIMEZONE` for its days); nothing of its own.

use ates_core::config::{ServiceConfig, ServiceSettings};

/// The service name: the consumer's name.
pub const SERVICE: &str = "analytics-api";

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
}

impl ServiceConfig for Config {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            service: ServiceSettings::from_env(SERVICE, 3004)?,
        })
    }

    fn settings(&self) -> &ServiceSettings {
        &self.service
    }
}
