//! tasks-api's configuration: the settings every service reads (port 3002
//! by default); tasks-api has none of its own.

use ates_core::config::{ServiceConfig, ServiceSettings};

/// The service name: the envelope's `producer` and the consumer's name.
pub const SERVICE: &str = "tasks-api";

#[derive(Debug, Clone)]
pub struct Config {
    pub service: ServiceSettings,
}

impl ServiceConfig for Config {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            service: ServiceSettings::from_env(SERVICE, 3002)?,
        })
    }

    fn settings(&self) -> &ServiceSettings {
        &self.service
    }
}
