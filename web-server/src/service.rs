//! The aTES services web-server stands in front of.

/// The aTES services behind `/api/<service>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Auth,
    Tasks,
    Accounting,
    Analytics,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Auth,
        Service::Tasks,
        Service::Accounting,
        Service::Analytics,
    ];

    /// Its segment in `/api/<service>/`.
    pub fn segment(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Tasks => "tasks",
            Service::Accounting => "accounting",
            Service::Analytics => "analytics",
        }
    }

    /// The service by its `/api/<service>/` segment.
    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|service| service.segment() == segment)
    }

    /// Its program's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth-api",
            Service::Tasks => "tasks-api",
            Service::Accounting => "accounting-api",
            Service::Analytics => "analytics-api",
        }
    }

    /// Where `make run` starts it.
    pub fn local_url(self) -> String {
        let port = match self {
            Service::Auth => 3001,
            Service::Tasks => 3002,
            Service::Accounting => 3003,
            Service::Analytics => 3004,
        };
        format!("http://127.0.0.1:{port}")
    }
}
