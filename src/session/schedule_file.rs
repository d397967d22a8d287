//! Schedules and rules as the files a long-running face keeps them in:
//! JSON lists, written whole (a temporary file renamed), guarded by a lock
//! file for writers (`giot schedule cancel`, `giot rules disable` beside a
//! running bridge).

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why the schedules file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a giot schedules or rules file: {source}", path.display())]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{}: another giot (a bridge or a TUI) keeps this file; give this one its own (--schedules FILE, --rules FILE)",
        path.display()
    )]
    Owned { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The schedules (or rules) in `path`; none when it does not exist.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(Vec::new()),
        Ok(text) => serde_json::from_str(&text).map_err(|source| FileError::Format {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Holds the writers' lock of `path` while `change` edits its list.
pub fn edit<K: Serialize + DeserializeOwned, T>(
    path: &Path,
    change: impl FnOnce(&mut Vec<K>) -> T,
) -> Result<T, FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let lock_path = path.with_extension("lock");
    let lock = File::create(&lock_path).map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let mut kept = load(path)?;
    let out = change(&mut kept);
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec_pretty(&kept).expect("kept lists serialize");
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(out)
}

/// Replaces the list in `path` with `kept`.
pub fn save<K: Serialize + DeserializeOwned + Clone>(
    path: &Path,
    kept: &[K],
) -> Result<(), FileError> {
    edit(path, |all: &mut Vec<K>| *all = kept.to_vec())
}

/// The lock a long-running face holds while it runs `path`'s schedules
/// or rules, so that two of them never run the same one.
pub fn own(path: &Path) -> Result<File, FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let owner = path.with_extension("owner");
    let file = File::create(&owner).map_err(io(&owner))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(FileError::Owned {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&owner)(e)),
    }
}

/// When `path` was last written, to notice another process's edit.
pub fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
