//! giot: an IoT-native AI agent shell.
//!
//! The library holds the core (registry, MQTT link, simulator, embedded
//! broker); the `giot` binary is a thin set of drivers over it.

pub mod broker;
pub mod cli;
pub mod fleet;
pub mod mqtt;
pub mod paths;
pub mod registry;
pub mod sim;
