//! giot: an IoT-native AI agent shell.
//!
//! The library holds the core (registry, MQTT link, simulator, embedded
//! broker); the `giot` binary is a thin set of drivers over it.

pub mod agent;
pub mod bridge;
pub mod broker;
pub mod cli;
pub mod discovery;
pub mod eval;
pub mod exec;
pub mod fleet;
#[cfg(test)]
mod fuzz;
pub mod intents;
pub mod ledger;
pub mod llm;
pub mod market;
pub mod mcp;
pub mod mqtt;
pub mod outcome;
pub mod paths;
pub mod planner;
pub mod policy;
pub mod registry;
pub mod session;
pub mod sim;
pub mod tui;
pub mod types;

/// An error and its causes as one line, "what: why: …": the text of a
/// refusal, a tool error or a goal's failure, where no `{:#}` formatter
/// walks the `source()` chain.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
