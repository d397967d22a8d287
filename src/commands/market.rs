//! `giot market run`: rounds of the incentive market against the simulated
//! contributors, over a broker.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::MarketCommand;

use super::ConfigError;

pub fn run(cmd: MarketCommand) -> Result<ExitCode> {
    let MarketCommand::Run {
        devices,
        conn,
        rounds,
        seed,
        ledger,
        no_ledger,
        json,
    } = cmd;
    let registry = super::load_registry(&devices.path())?;
    if registry.market.is_none() {
        return Err(ConfigError(format!(
            "{} has no market: section",
            devices.path().display()
        ))
        .into());
    }
    let options = conn.options("market")?;
    let ledger = (!no_ledger).then(|| ledger.unwrap_or_else(giot::ledger::default_path));
    let report =
        super::runtime()?.block_on(giot::market::run(&registry, &options, rounds, seed, ledger))?;
    if json {
        let rounds: Vec<_> = report
            .rounds
            .iter()
            .map(|r| {
                serde_json::json!({"round": r.round, "participation": r.participation, "server_utility": r.server_utility,
                    "payments": r.payments, "shortfalls": r.shortfalls, "flagged": r.flagged,
                    "contributor_utility": r.contributor_utility, "ledger_entries": r.ledger_entries, "contributors": r.contributors})
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({"market": report.market, "menu": report.menu, "rounds": rounds, "ledger": report.ledger})
        );
    } else {
        outln!(
            "market {}: menu {}",
            report.market,
            serde_json::to_string(&report.menu)?
        );
        outln!(
            "{:>5} {:>13} {:>14} {:>9} {:>10}  flagged",
            "round",
            "participation",
            "server_util",
            "payments",
            "shortfalls"
        );
        for r in &report.rounds {
            outln!(
                "{:>5} {:>12.0}% {:>14.2} {:>9.2} {:>10}  {}",
                r.round,
                r.participation * 100.0,
                r.server_utility,
                r.payments,
                r.shortfalls,
                r.flagged.join(" ")
            );
        }
        if let Some(l) = &report.ledger {
            outln!(
                "ledger: {} (giot ledger verify {})",
                l.display(),
                l.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
