//! `giot demo`: the embedded broker, the simulated fleet, the market and the
//! TUI, with nothing installed.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use giot::cli::DemoArgs;
use giot::market::RunOptions;
use giot::mqtt::ConnectOptions;
use giot::sim::{self, SimConfig};
use giot::tui::{self, TuiConfig};

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    args.model.check()?;
    let registry = super::load_registry(&args.devices.path())?;
    let definition = super::load_agent(&args.agent.agent)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    giot::broker::start(addr)?;
    let url = format!("mqtt://{addr}");
    let ledger = args.agent.ledger_path();
    let config = TuiConfig {
        registry: registry.clone(),
        definition,
        options: ConnectOptions::new(&url, "tui"),
        llm: args.model.config(),
        confirm_timeout: super::run::confirm_timeout(args.agent.confirm_timeout)?,
        language: args.agent.language.clone(),
        history: args.history,
        ledger: args.agent.ledger_path(),
        schedules: Some(
            args.schedules
                .clone()
                .unwrap_or_else(|| giot::paths::state_dir().join("schedules-demo.json")),
        ),
        rules: Some(
            args.rules
                .clone()
                .unwrap_or_else(|| giot::paths::state_dir().join("rules-demo.json")),
        ),
        time_zone: super::time_zone(args.time_zone.as_deref())?,
    };
    super::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sim_options = ConnectOptions::new(&url, "sim");
        // The market's supervisor and its contributors, so that the market
        // tab is alive and menus can be proposed from the goal line.
        let market = registry.market.is_some().then(|| {
            let (registry, options, stop) = (
                registry.clone(),
                ConnectOptions::new(&url, "market"),
                stop_rx.clone(),
            );
            let run = RunOptions {
                rounds: None,
                interval: Duration::from_secs(5),
                seed: 1,
                ledger: ledger.clone(),
                sim: true,
            };
            tokio::spawn(async move {
                if let Err(e) = giot::market::run(&registry, &options, run, stop, |_| {}).await {
                    tracing::warn!("the market stopped: {e:#}");
                }
            })
        });
        let sim = tokio::spawn(async move {
            sim::run(&registry, &sim_options, SimConfig::default(), stop_rx).await
        });
        let result = tui::run(config).await;
        let _ = stop_tx.send(true);
        let _ = sim.await;
        if let Some(m) = market {
            let _ = m.await;
        }
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
