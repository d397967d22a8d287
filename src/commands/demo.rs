//! `giot demo`: the embedded broker, the simulated fleet and the TUI, with
//! nothing installed.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Result;
use giot::agent::AgentDefinition;
use giot::cli::DemoArgs;
use giot::mqtt::ConnectOptions;
use giot::sim::{self, SimConfig};
use giot::tui::{self, TuiConfig};

use super::ConfigError;

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    args.model.check().map_err(ConfigError)?;
    let registry = super::load_registry(&args.devices.path())?;
    let definition =
        AgentDefinition::load(&args.agent.agent).map_err(|e| ConfigError(e.to_string()))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    giot::broker::start(addr)?;
    let url = format!("mqtt://{addr}");
    let config = TuiConfig {
        registry: registry.clone(),
        definition,
        options: ConnectOptions::new(&url, "tui"),
        llm: args.model.config(),
        confirm_timeout: super::run::confirm_timeout(args.agent.confirm_timeout)?,
        history: args.history,
        ledger: args.agent.ledger_path(),
    };
    super::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sim_options = ConnectOptions::new(&url, "sim");
        let sim = tokio::spawn(async move {
            sim::run(&registry, &sim_options, SimConfig::default(), stop_rx).await
        });
        let result = tui::run(config).await;
        let _ = stop_tx.send(true);
        let _ = sim.await;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
