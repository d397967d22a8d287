//! The tamper-evident ledger: an append-only record of what the node did and
//! agreed to (published menus, choices, settlements, actions executed on
//! devices), so that an operator can later prove what happened, and show that
//! nothing was changed, removed or reordered since.
//!
//! The ledger is a file of JSON lines (`ledger/line.rs` has the format). Each entry
//! carries the SHA-256 of the line before it and an Ed25519 signature by the
//! node's key ([`NodeKey`], `node.key` in giot's data directory). The first
//! entry, the genesis, names the node's public key. A signed head beside the
//! file (`<ledger>.head`) records the entry count and the last hash, so that
//! cutting entries off the end is detected too. (Not if whoever cuts kept an
//! older head of the same ledger and puts it back: only a head held elsewhere
//! can catch that rollback.)
//!
//! Appending ([`Ledger::append`]) takes an exclusive lock on the file, so
//! several giot processes can share one ledger; checks that the file's end and
//! the head agree; writes the line and fsyncs it; then rewrites the head. Only
//! then is the entry acknowledged. A crash can leave two marks, both of which
//! [`verify`] reports as warnings rather than tampering:
//! - the head one entry behind (the crash came between the line and the head):
//!   the next append brings the head forward;
//! - a torn tail (bytes after the last newline: the crash came mid-line): the
//!   next writer ([`Ledger::open`] or `append`) moves those bytes to
//!   `<ledger>.torn-<unix ms>`, truncates the ledger to its last complete entry
//!   and records a `recovery` entry naming the saved file, its size and
//!   SHA-256, so the tail is never dropped silently.
//!
//! Anything else (a head ahead of the file, a head that does not match, an
//! entry that does not verify) makes `append` refuse until someone has looked
//! at it with `giot ledger verify`.
//!
//! All of this is blocking file I/O with fsyncs: async callers should append
//! from `spawn_blocking` or a dedicated thread.

mod head;
mod key;
mod line;
mod show;
mod verify;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use head::{HeadFault, head_path};
pub use key::{NodeKey, PUBLIC_FILE, SECRET_FILE, read_public_key};
pub use show::show;
pub use verify::{Failure, Fault, KeySource, Position, Report, TornTail, verify};

use head::{Head, with_suffix};
use key::{create_private_dir, dir_of, sync_dir};
use line::{ZERO_HASH, decode, encode, read_first_line, read_tail};

/// Entry kinds. Callers may use others (`[a-z][a-z0-9_]*`); `genesis` and
/// `recovery` are written by the ledger itself only.
pub mod kind {
    pub const GENESIS: &str = "genesis";
    pub const RECOVERY: &str = "recovery";
    pub const MENU: &str = "menu";
    /// A menu proposed to the supervisor, adopted or rejected.
    pub const PROPOSAL: &str = "proposal";
    pub const CHOICE: &str = "choice";
    pub const SETTLEMENT: &str = "settlement";
    pub const ACTION: &str = "action";
}

/// Records actions the agent executed: opens the ledger with this node's
/// key, appends one `action` entry, and closes it. Blocking (fsync): call it
/// off any render loop. Calls within one process take turns, so that goals
/// finishing together neither race to create the node's key nor append
/// concurrently.
pub fn record_action(
    path: &Path,
    goal: &str,
    actions: &[crate::types::ActionResult],
    confirmed_by: &str,
) -> Result<Entry, Error> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let key = NodeKey::load_or_create(&default_key_dir())?;
    let mut ledger = Ledger::open(path, &key)?;
    ledger.append(
        kind::ACTION,
        serde_json::json!({"goal": goal, "actions": actions, "confirmed_by": confirmed_by}),
    )
}

/// `giot.ledger` in giot's data directory.
pub fn default_path() -> PathBuf {
    crate::paths::data_dir().join("giot.ledger")
}

/// Where the node's key lives: giot's data directory.
pub fn default_key_dir() -> PathBuf {
    crate::paths::data_dir()
}

/// One entry as written and read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub kind: String,
    pub data: Value,
    /// Hex SHA-256 of the previous line.
    pub prev: String,
    /// Hex SHA-256 of this entry's line, which the next entry links to.
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A key file that does not hold a key.
    #[error("{}", path.display())]
    BadKey {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("{}: the node key is readable by others (mode {mode:o}); chmod 600 it", path.display())]
    InsecureKey { path: PathBuf, mode: u32 },
    #[error("{}: the ledger belongs to key {key}, not this node's", path.display())]
    ForeignLedger { path: PathBuf, key: String },
    #[error("{}: refusing to append: {reason}; run `giot ledger verify {}`", path.display(), path.display())]
    NeedsVerify { path: PathBuf, reason: String },
    #[error("invalid entry kind {0:?}: use [a-z][a-z0-9_]*, not genesis or recovery")]
    BadKind(String),
}

/// Why a key file's text is not a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not 64 hex digits (after trimming whitespace).
    #[error("not 64 hex digits")]
    NotHex(#[source] hex::FromHexError),
    /// 32 bytes, but not a point on the curve: no Ed25519 public key.
    #[error("not an Ed25519 public key")]
    NotEd25519(#[source] ed25519_dalek::SignatureError),
}

/// A ledger open for appending.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    file: File,
    key: SigningKey,
    genesis: [u8; 32],
}

/// Where the next entry goes.
struct Next {
    seq: u64,
    prev: [u8; 32],
}

impl Ledger {
    /// Opens the ledger at `path` for appending, creating it (with its genesis
    /// entry and head) if it does not exist. Fails if the ledger was started by
    /// another key, or if its end and its head disagree (see [`Error::NeedsVerify`]).
    pub fn open(path: &Path, key: &NodeKey) -> Result<Self, Error> {
        create_private_dir(&dir_of(path))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
        let mut ledger = Self {
            path: path.to_owned(),
            file,
            key: key.signing.clone(),
            genesis: ZERO_HASH,
        };
        ledger.locked(|l| {
            if l.start_if_empty()? {
                return Ok(());
            }
            l.read_genesis()?;
            l.prepare().map(drop)
        })?;
        Ok(ledger)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry and returns it once it and the head are on disk.
    pub fn append(&mut self, kind: &str, data: Value) -> Result<Entry, Error> {
        let valid = kind.len() <= 32
            && kind.starts_with(|c: char| c.is_ascii_lowercase())
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid || kind == kind::GENESIS || kind == kind::RECOVERY {
            return Err(Error::BadKind(kind.to_owned()));
        }
        self.locked(|l| {
            let next = l.prepare()?;
            l.push(next, kind, data).map(|(entry, _)| entry)
        })
    }

    /// Runs `f` holding the exclusive lock on the ledger file.
    fn locked<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        self.file.lock().map_err(|e| self.io(e))?;
        let result = f(self);
        // Closing the file releases the lock too; an unlock error changes nothing.
        let _ = self.file.unlock();
        result
    }

    fn io(&self, source: io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn refuse(&self, reason: impl std::fmt::Display) -> Error {
        Error::NeedsVerify {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Writes the genesis if the file holds no complete entry; true if it did.
    fn start_if_empty(&mut self) -> Result<bool, Error> {
        let tail = read_tail(&self.file).map_err(|e| self.io(e))?;
        if tail.last.is_some() {
            return Ok(false);
        }
        // No entry but a head: the entries were removed, not never written.
        if !matches!(
            Head::read(&self.path, &self.key.verifying_key()),
            Err(HeadFault::Missing)
        ) {
            return Err(self.refuse("the file holds no complete entry but has a head"));
        }
        let torn = (!tail.torn.is_empty())
            .then(|| self.set_aside(&tail.torn, 0))
            .transpose()?;
        let data = json!({
            "pubkey": hex::encode(self.key.verifying_key().as_bytes()),
            "software": concat!("giot ", env!("CARGO_PKG_VERSION")),
        });
        let first = Next {
            seq: 0,
            prev: ZERO_HASH,
        };
        let (_, next) = self.push(first, kind::GENESIS, data)?;
        sync_dir(&dir_of(&self.path)).map_err(|e| self.io(e))?;
        if let Some(saved) = torn {
            self.push(next, kind::RECOVERY, saved)?;
        }
        Ok(true)
    }

    fn read_genesis(&mut self) -> Result<(), Error> {
        let first = read_first_line(&self.file).map_err(|e| self.io(e))?;
        let decoded = decode(first.as_deref().unwrap_or_default())
            .map_err(|f| self.refuse(format!("its first entry is {f}")))?;
        if decoded.entry.seq != 0 || decoded.entry.kind != kind::GENESIS {
            return Err(self.refuse("its first entry is not a genesis"));
        }
        let owner = decoded
            .genesis_key()
            .map_err(|f| self.refuse(format!("its first entry is {f}")))?;
        if owner != self.key.verifying_key() {
            return Err(Error::ForeignLedger {
                path: self.path.clone(),
                key: hex::encode(owner.as_bytes()),
            });
        }
        if !decoded.signed_by(&owner) {
            return Err(self.refuse("the genesis signature does not verify"));
        }
        self.genesis = decoded.hash;
        Ok(())
    }

    /// Checks that the file's last entry and the head agree, sets a torn tail
    /// aside (recording it), and says where the next entry goes.
    fn prepare(&mut self) -> Result<Next, Error> {
        let tail = read_tail(&self.file).map_err(|e| self.io(e))?;
        let last = tail
            .last
            .as_deref()
            .ok_or_else(|| self.refuse("the file holds no complete entry"))?;
        let last = decode(last).map_err(|f| self.refuse(format!("its last entry is {f}")))?;
        if !last.signed_by(&self.key.verifying_key()) {
            return Err(self.refuse("its last entry's signature does not verify"));
        }
        let seq = last.entry.seq;
        match Head::read(&self.path, &self.key.verifying_key()) {
            Ok(h) if h.genesis != self.genesis => return Err(self.refuse(HeadFault::OtherLedger)),
            Ok(h) if h.count == seq + 1 && h.last == last.hash => {}
            // The last append wrote its line but not its head: the next head fixes it.
            Ok(h) if h.count == seq && h.last == last.prev => {}
            Ok(h) => {
                let found = seq + 1;
                return Err(self.refuse(HeadFault::Mismatch {
                    recorded: h.count,
                    found,
                }));
            }
            // Only a crash while creating the ledger leaves a genesis without a head.
            Err(HeadFault::Missing) if seq == 0 => {}
            Err(fault) => return Err(self.refuse(fault)),
        }
        let mut next = Next {
            seq: seq + 1,
            prev: last.hash,
        };
        if !tail.torn.is_empty() {
            let saved = self.set_aside(&tail.torn, tail.complete_len)?;
            next = self.push(next, kind::RECOVERY, saved)?.1;
        }
        Ok(next)
    }

    /// Moves a torn tail into `<ledger>.torn-<unix ms>`, truncates the ledger
    /// to `complete_len`, and returns the data of the recovery entry.
    fn set_aside(&mut self, torn: &[u8], complete_len: u64) -> Result<Value, Error> {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let mut n = 0;
        let (saved, mut file) = loop {
            let suffix = match n {
                0 => format!(".torn-{ms}"),
                n => format!(".torn-{ms}-{n}"),
            };
            let saved = with_suffix(&self.path, &suffix);
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&saved);
            match opened {
                Ok(f) => break (saved, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
                Err(source) => {
                    return Err(Error::Io {
                        path: saved,
                        source,
                    });
                }
            }
        };
        let io_saved = |source| Error::Io {
            path: saved.clone(),
            source,
        };
        file.write_all(torn).map_err(io_saved)?;
        file.sync_all().map_err(io_saved)?;
        sync_dir(&dir_of(&self.path)).map_err(|e| self.io(e))?;
        self.file.set_len(complete_len).map_err(|e| self.io(e))?;
        self.file.sync_all().map_err(|e| self.io(e))?;
        tracing::warn!(
            ledger = %self.path.display(),
            saved = %saved.display(),
            bytes = torn.len(),
            "ledger had a torn tail (an interrupted append); moved it aside and recorded it"
        );
        Ok(json!({
            "torn_bytes": torn.len(),
            "offset": complete_len,
            "sha256": hex::encode(Sha256::digest(torn)),
            "saved_to": saved.file_name().map(|n| n.to_string_lossy().into_owned()),
        }))
    }

    /// Writes one entry, fsyncs it, then the head; says where the next one goes.
    fn push(&mut self, at: Next, kind: &str, data: Value) -> Result<(Entry, Next), Error> {
        let (mut bytes, entry) = encode(&self.key, at.seq, kind, data, &at.prev);
        let hash = line::hash(&bytes);
        bytes.push(b'\n');
        // One write: O_APPEND puts it at the end whatever another handle did.
        (&self.file).write_all(&bytes).map_err(|e| self.io(e))?;
        self.file.sync_data().map_err(|e| self.io(e))?;
        if at.seq == 0 {
            self.genesis = hash;
        }
        let head = Head {
            count: at.seq + 1,
            last: hash,
            genesis: self.genesis,
        };
        head.write(&self.path, &self.key)
            .map_err(|source| Error::Io {
                path: head_path(&self.path),
                source,
            })?;
        let next = Next {
            seq: at.seq + 1,
            prev: hash,
        };
        Ok((entry, next))
    }
}

#[cfg(test)]
mod tests;
