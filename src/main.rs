//! The `giot` binary: parses the command line, sets up logging, dispatches to
//! the command, and maps failures to the documented exit codes
//! (1 runtime failure, 2 usage or configuration error).

mod commands;

use std::process::ExitCode;

use clap::Parser;
use giot::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command;
    let default_level = match command {
        Command::Sim(_) | Command::Broker(_) | Command::Mcp(_) => "info",
        Command::Bridge(ref b) if b.action == giot::cli::BridgeAction::Run => "info",
        _ => "warn",
    };
    // The TUI draws on the terminal: its logs go to a file.
    let mut log = cli.log;
    if matches!(command, Command::Tui(_) | Command::Demo(_)) && log.log_file.is_none() {
        let dir = giot::paths::data_dir();
        let _ = std::fs::create_dir_all(&dir);
        log.log_file = Some(dir.join("giot.log"));
    }
    if let Err(e) = commands::logging::init(&log, default_level) {
        eprintln!("giot: {e:#}");
        return ExitCode::from(2);
    }
    let result = match command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Tui(args) => commands::tui::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Broker(args) => commands::broker::run(args),
        Command::Devices(cmd) => commands::devices::run(cmd),
        Command::Run(args) => commands::run::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Bridge(args) => commands::bridge::run(args),
        Command::Schedule(cmd) => commands::schedule::run(cmd),
        Command::Rules(cmd) => commands::rules::run(cmd),
        Command::Mcp(args) => commands::mcp::run(args),
        Command::Planner(cmd) => commands::planner::run(cmd),
        Command::Ledger(cmd) => commands::ledger::run(cmd),
        Command::Market(cmd) => commands::market::run(cmd),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "giot", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut page) {
                Ok(()) => {
                    use std::io::Write;
                    let _ = std::io::stdout().write_all(&page);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e.into()),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("giot: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
