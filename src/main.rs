//! The `giot` binary: parses the command line, sets up logging, dispatches to
//! the command, and maps failures to the documented exit codes
//! (1 runtime failure, 2 usage or configuration error).

mod commands;

use std::process::ExitCode;

use clap::Parser;
use giot::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Sim(_) | Command::Broker(_) => "info",
        _ => "warn",
    };
    if let Err(e) = commands::logging::init(&cli.log, default_level) {
        eprintln!("giot: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Broker(args) => commands::broker::run(args),
        Command::Devices(cmd) => commands::devices::run(cmd),
        Command::Run(args) => commands::run::run(args),
        Command::Eval(args) => commands::eval::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("giot: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
