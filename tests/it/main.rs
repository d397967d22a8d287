//! Integration tests: one binary (link time), one module per area. Tests that
//! need a broker start a real mosquitto on a free loopback port
//! ([`harness::Mosquitto`]) or the embedded rumqttd.

mod cli;
mod harness;
mod llm;
mod run;
mod sim;
mod tui;
