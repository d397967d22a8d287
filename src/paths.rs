//! Where giot keeps its files: XDG directories with the usual fallbacks.

use std::path::PathBuf;

fn xdg(var: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `$XDG_CONFIG_HOME/giot` (or `~/.config/giot`).
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join("giot")
}

/// `$XDG_DATA_HOME/giot` (or `~/.local/share/giot`).
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join("giot")
}

/// `$XDG_STATE_HOME/giot` (or `~/.local/state/giot`): conversations of
/// `giot run --conversation`, schedules and rules of the long-running faces.
pub fn state_dir() -> PathBuf {
    xdg("XDG_STATE_HOME", ".local/state").join("giot")
}

/// Folders searched for Home Assistant's intent data (`<lang>.json`, put
/// there by `scripts/fetch-intents`), in order: `$GIOT_INTENTS`, `./intents`,
/// `$XDG_DATA_HOME/giot/intents`.
pub fn intents_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("GIOT_INTENTS").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("intents"));
    dirs.push(data_dir().join("intents"));
    dirs
}
