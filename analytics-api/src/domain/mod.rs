//! analytics' processes: apply an event to the read models, and answer the
//! dashboard's questions from them.

pub mod dashboard;
pub mod read_models;
