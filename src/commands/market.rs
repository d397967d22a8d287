//! `giot market run`: the market's supervisor over a broker, for a number of
//! rounds or until Ctrl-C, with the contributors of `giot sim` or simulated
//! in-process (`--sim`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use giot::cli::MarketCommand;
use giot::market::{Round, RunOptions};

use super::ConfigError;

pub fn run(cmd: MarketCommand) -> Result<ExitCode> {
    let MarketCommand::Run {
        devices,
        conn,
        rounds,
        interval,
        sim,
        seed,
        ledger,
        no_ledger,
        json,
    } = cmd;
    let registry = super::load_registry(&devices.path())?;
    if registry.market.is_none() {
        return Err(ConfigError::new(format!(
            "{} has no market: section",
            devices.path().display()
        ))
        .into());
    }
    let interval = interval.unwrap_or(if rounds.is_some() { 0.0 } else { 2.0 });
    if !(interval.is_finite() && interval >= 0.0) {
        return Err(ConfigError::new(format!(
            "--interval must be a number of seconds, not {interval}"
        ))
        .into());
    }
    let options = conn.options("market")?;
    let run = RunOptions {
        rounds,
        interval: Duration::from_secs_f64(interval),
        seed,
        ledger: (!no_ledger).then(|| ledger.unwrap_or_else(giot::ledger::default_path)),
        sim,
    };
    if !json {
        outln!(
            "{:>5} {:>13} {:>14} {:>9} {:>10}  flagged / silent",
            "round",
            "participation",
            "server_util",
            "payments",
            "shortfalls"
        );
    }
    let mut hinted = false;
    let on_round = |r: &Round| {
        if !sim && !hinted && r.silent.len() == r.contributors.len() {
            hinted = true;
            eprintln!(
                "giot: no contributor answered round {}: start `giot sim` on this broker, or pass --sim",
                r.round
            );
        }
        if json {
            return;
        }
        let mut notes = r.flagged.join(" ");
        if !r.silent.is_empty() {
            notes.push_str(&format!(" (silent: {})", r.silent.join(" ")));
        }
        if r.menu_changed {
            notes.push_str(" [new menu]");
        }
        outln!(
            "{:>5} {:>12.0}% {:>14.2} {:>9.2} {:>10}  {}",
            r.round,
            r.participation * 100.0,
            r.server_utility,
            r.payments,
            r.shortfalls,
            notes.trim()
        );
    };
    let report = super::runtime()?.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            super::stop_signal().await;
            let _ = stop_tx.send(true);
        });
        giot::market::run(&registry, &options, run, stop_rx, on_round).await
    })?;
    if json {
        let rounds: Vec<_> = report
            .rounds
            .iter()
            .map(|r| {
                serde_json::json!({"round": r.round, "participation": r.participation, "server_utility": r.server_utility,
                    "payments": r.payments, "shortfalls": r.shortfalls, "flagged": r.flagged, "silent": r.silent,
                    "opted_out": r.opted_out, "menu_changed": r.menu_changed,
                    "contributor_utility": r.contributor_utility, "ledger_entries": r.ledger_entries, "contributors": r.contributors})
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({"market": report.market, "menu": report.menu, "rounds": rounds, "ledger": report.ledger})
        );
    } else if let Some(l) = &report.ledger {
        outln!(
            "ledger: {} (giot ledger verify {})",
            l.display(),
            l.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
