//! Logging through `tracing`: to standard error, or to `--log-file` (the TUI
//! must never log to the terminal it draws on).

use anyhow::{Context, Result};
use giot::cli::LogArgs;
use tracing_subscriber::EnvFilter;

pub fn init(args: &LogArgs, default_level: &str) -> Result<()> {
    let spec = args.log_level.as_deref().unwrap_or(default_level);
    // Quiet the libraries' chatter unless asked for it explicitly.
    let spec = if spec.contains('=') {
        spec.to_string()
    } else {
        format!("{spec},rumqttd=warn,rumqttc=warn")
    };
    let filter =
        EnvFilter::try_new(&spec).with_context(|| format!("invalid --log-level `{spec}`"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match &args.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder
                .with_ansi(colour)
                .with_writer(std::io::stderr)
                .init()
        }
    }
    Ok(())
}
