//! `giot sim`: the simulated fleet on a broker, until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use giot::cli::SimArgs;
use giot::sim::{self, SimConfig};

use super::ConfigError;

pub fn run(args: SimArgs) -> Result<ExitCode> {
    let registry = super::load_registry(&args.devices.path())?;
    if !(args.tick.is_finite() && args.tick > 0.0) {
        return Err(ConfigError::new(format!(
            "--tick must be a positive number of seconds, not {}",
            args.tick
        ))
        .into());
    }
    let options = args.conn.options("sim")?;
    let config = SimConfig {
        tick: Duration::from_secs_f64(args.tick),
        seed: args.seed,
    };
    super::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            super::stop_signal().await;
            let _ = stop_tx.send(true);
        });
        tracing::info!(
            "simulating {} devices from {} on {}",
            registry.len(),
            args.devices.path().display(),
            options.url
        );
        // The vehicles are also the market's contributors, answering the
        // menus of `giot market run` on this broker.
        let _contributors = match &registry.market {
            Some(m) => {
                tracing::info!("simulating the contributors of the {} market", m.id);
                Some(giot::market::contributor::spawn(
                    &registry, &options, args.seed,
                )?)
            }
            None => None,
        };
        sim::run(&registry, &options, config, stop_rx).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
