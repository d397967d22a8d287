//! `giot tui`: the operator TUI on a broker.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::TuiArgs;
use giot::tui::{self, TuiConfig};

pub fn run(args: TuiArgs) -> Result<ExitCode> {
    args.model.check()?;
    let registry = super::load_registry(&args.devices.path())?;
    let definition = super::load_agent(&args.agent.agent)?;
    let config = TuiConfig {
        registry,
        definition,
        options: args.conn.options("tui")?,
        llm: args.model.config(),
        confirm_timeout: super::run::confirm_timeout(args.agent.confirm_timeout)?,
        language: args.agent.language.clone(),
        history: args.history,
        ledger: args.agent.ledger_path(),
        schedules: Some(
            args.schedules
                .clone()
                .unwrap_or_else(|| giot::paths::state_dir().join("schedules-tui.json")),
        ),
        rules: Some(
            args.rules
                .clone()
                .unwrap_or_else(|| giot::paths::state_dir().join("rules-tui.json")),
        ),
        time_zone: super::time_zone(args.time_zone.as_deref())?,
    };
    super::runtime()?.block_on(tui::run(config))?;
    Ok(ExitCode::SUCCESS)
}
