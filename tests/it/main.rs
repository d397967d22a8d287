//! Integration tests: one binary (link time), one module per area. Tests that
//! need a broker start a real mosquitto on a free loopback port
//! ([`harness::Mosquitto`]) or the embedded rumqttd.

mod bridge;
mod cli;
mod cluster;
mod conversation;
mod discovery;
mod faces;
mod field_faults;
mod harness;
mod http_llm;
mod intents;
mod ledger;
mod llm;
mod market;
mod mcp;
mod modules;
mod planner;
mod rules;
mod run;
mod schedule;
mod sim;
mod tui;
mod understand;
