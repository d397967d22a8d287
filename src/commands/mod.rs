//! One file per subcommand; each is a thin driver over the library.

/// `println!` for data on stdout that exits quietly on a broken pipe
/// (`giot devices list | head -1`).
macro_rules! outln {
    () => { $crate::commands::out("\n") };
    ($($t:tt)*) => { $crate::commands::out(&format!("{}\n", format_args!($($t)*))) };
}

/// `print!` with the same broken-pipe behaviour.
macro_rules! out {
    ($($t:tt)*) => { $crate::commands::out(&format!($($t)*)) };
}

pub mod bridge;
pub mod broker;
pub mod demo;
pub mod devices;
pub mod eval;
pub mod ledger;
pub mod logging;
pub mod market;
pub mod mcp;
pub mod planner;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod sim;
pub mod tui;

use std::path::Path;

use anyhow::Result;
use giot::registry::{LoadError, Registry};

/// Writes data to stdout; a closed pipe ends the process quietly, as it
/// does for other command-line tools.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("giot: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// A configuration problem found by a command: exits with code 2 rather
/// than 1. It keeps its cause, when there is one, as its `source()`, so the
/// `{:#}` chain prints "what: why" (`weights.bin: No such file or directory`).
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct ConfigError {
    what: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    /// A problem its message says all about (a flag out of range).
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }

    /// `what` could not be used because of `source`.
    pub fn caused(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

/// The exit code for a failed command.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let config = e.chain().any(|c| {
        c.downcast_ref::<ConfigError>().is_some()
            || c.downcast_ref::<LoadError>().is_some()
            || c.downcast_ref::<giot::mqtt::OptionsError>().is_some()
            || c.downcast_ref::<giot::agent::DefinitionError>().is_some()
            || c.downcast_ref::<giot::cli::ModelArgsError>().is_some()
            || c.downcast_ref::<giot::eval::CasesError>().is_some()
            || c.downcast_ref::<giot::planner::train::UnknownMethod>()
                .is_some()
    });
    if config { 2 } else { 1 }
}

/// Loads the registry; a missing or invalid file is a configuration error.
pub fn load_registry(path: &Path) -> Result<Registry> {
    Ok(Registry::load(path)?)
}

/// Loads an agent definition; its errors are configuration errors (exit 2)
/// that keep their cause ("cannot read agents/x.yaml: Permission denied").
pub fn load_agent(name: &str) -> Result<giot::agent::AgentDefinition> {
    Ok(giot::agent::AgentDefinition::load(name)?)
}

/// A multi-threaded tokio runtime for commands that do network I/O.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Resolves when the process gets Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The operator's time zone: `name` (an IANA name such as Europe/Berlin),
/// else the system's.
pub fn time_zone(name: Option<&str>) -> Result<jiff::tz::TimeZone> {
    match name {
        None => Ok(jiff::tz::TimeZone::system()),
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| {
            ConfigError::new(format!(
                "--time-zone {name:?} is not a time zone giot knows (an IANA name such as Europe/Berlin): {e}"
            ))
            .into()
        }),
    }
}
