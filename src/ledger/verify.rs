//! Checking a whole ledger: every line parses, is in sequence, links to the
//! line before it and is signed by the node's key; and the head vouches for
//! the file's end. The first entry that fails is named; nothing after it is
//! trusted, so nothing after it is checked.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::head::{Head, HeadFault};
use super::line::{ZERO_HASH, decode};
use super::{Error, kind};

/// Why an entry does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("unreadable ({0})")]
    Unreadable(String),
    #[error("out of sequence (it says seq {found}): an entry was removed, inserted or moved")]
    Seq { found: u64 },
    #[error("not linked to the entry before it (its prev is not that entry's hash)")]
    BrokenLink,
    #[error("not signed by the key (its signature does not verify)")]
    Signature,
    #[error("a bad genesis: {0}")]
    Genesis(String),
}

/// Where an entry is (or should be): its sequence number, 1-based line, byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub line: u64,
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} (line {}, byte {})",
            self.seq, self.line, self.offset
        )
    }
}

/// Why a ledger fails verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The first entry that does not verify.
    Entry { at: Position, fault: Fault },
    /// Complete entries were cut off the end: the head records more.
    Truncated { at: Position, recorded: u64 },
    /// The head does not vouch for the file.
    Head(HeadFault),
    /// The file holds no complete entry.
    Empty,
}

impl Failure {
    /// The entry this failure names, if it names one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Entry { at, .. } | Self::Truncated { at, .. } => Some(at.seq),
            Self::Head(_) | Self::Empty => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entry { at, fault } => write!(f, "{at} is {fault}"),
            Self::Truncated { at, recorded } => write!(
                f,
                "{at} is missing: the head records {recorded} entries, the file ends before it"
            ),
            Self::Head(fault) => write!(f, "{fault}"),
            Self::Empty => write!(f, "the file holds no complete entry"),
        }
    }
}

/// Whose key the signatures were checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key the caller gave (`--pubkey`).
    Given(VerifyingKey),
    /// The key the ledger's own genesis names: proves consistency, not authorship.
    SelfAsserted(VerifyingKey),
    /// No key: the genesis could not be read.
    Unknown,
}

/// Bytes after the last newline: an append that never finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    pub line: u64,
    pub offset: u64,
    pub bytes: u64,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub path: PathBuf,
    /// Complete entries that verified (all of them if there is no failure).
    pub entries: u64,
    pub key: KeySource,
    pub failure: Option<Failure>,
    /// Warning: the head is one entry behind (a crash between line and head).
    pub head_behind: bool,
    /// Warning: a torn tail (a crash mid-line), kept for the next writer to record.
    pub torn_tail: Option<TornTail>,
}

impl Report {
    /// True when the chain and its head verify (warnings allowed).
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.failure {
            None => writeln!(f, "{path}: OK, {} entries verified", self.entries)?,
            Some(failure) => writeln!(
                f,
                "{path}: FAILED: {failure} ({} entries before it verified)",
                self.entries
            )?,
        }
        match &self.key {
            KeySource::Given(k) => writeln!(f, "key: {} (given)", hex::encode(k.as_bytes()))?,
            KeySource::SelfAsserted(k) => writeln!(
                f,
                "key: {} (self-asserted by the ledger's genesis: \
                 pass --pubkey FILE to check against a key you trust)",
                hex::encode(k.as_bytes())
            )?,
            KeySource::Unknown => writeln!(f, "key: unknown")?,
        }
        if self.head_behind {
            writeln!(
                f,
                "warning: the head is one entry behind: an append was interrupted \
                 after its entry was written; the next append updates it"
            )?;
        }
        if let Some(t) = &self.torn_tail {
            writeln!(
                f,
                "warning: torn tail: {} bytes at line {} (byte {}) are an append \
                 that never finished; the next writer moves them to {}.torn-<time> \
                 and records that",
                t.bytes, t.line, t.offset, path
            )?;
        }
        Ok(())
    }
}

/// Verifies the ledger at `path`: against `pubkey` if given, otherwise against
/// the key its genesis names. Errors are only for a file that cannot be read.
pub fn verify(path: &Path, pubkey: Option<&VerifyingKey>) -> Result<Report, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // Shared with other readers, exclusive of writers: a file and head read
    // mid-append would look like a truncation. Released when `file` closes.
    file.lock_shared().map_err(io)?;
    let mut reader = BufReader::new(file);
    let mut report = Report {
        path: path.to_owned(),
        entries: 0,
        key: pubkey.map_or(KeySource::Unknown, |k| KeySource::Given(*k)),
        failure: None,
        head_behind: false,
        torn_tail: None,
    };
    let (mut last, mut before_last, mut genesis) = (ZERO_HASH, ZERO_HASH, ZERO_HASH);
    let mut key = pubkey.copied();
    let mut offset = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        let at = Position {
            seq: report.entries,
            line: report.entries + 1,
            offset,
        };
        let Some(line) = buf.strip_suffix(b"\n") else {
            report.torn_tail = Some(TornTail {
                line: at.line,
                offset,
                bytes: n as u64,
            });
            break;
        };
        offset += n as u64;
        match check(line, at.seq, &last, &mut key, pubkey.is_some()) {
            Ok(hash) => {
                if at.seq == 0 {
                    genesis = hash;
                }
                (before_last, last) = (last, hash);
                report.entries += 1;
            }
            Err(fault) => {
                report.failure = Some(Failure::Entry { at, fault });
                return Ok(report);
            }
        }
    }
    if pubkey.is_none()
        && let Some(k) = key
    {
        report.key = KeySource::SelfAsserted(k);
    }
    let (n, Some(key)) = (report.entries, key) else {
        report.failure = Some(Failure::Empty);
        return Ok(report);
    };
    report.failure = match Head::read(path, &key) {
        Err(fault) => Some(Failure::Head(fault)),
        Ok(h) if h.genesis != genesis => Some(Failure::Head(HeadFault::OtherLedger)),
        Ok(h) if h.count == n && h.last == last => None,
        Ok(h) if h.count + 1 == n && h.last == before_last => {
            report.head_behind = true;
            None
        }
        Ok(h) if h.count > n => Some(Failure::Truncated {
            at: Position {
                seq: n,
                line: n + 1,
                offset,
            },
            recorded: h.count,
        }),
        Ok(h) => Some(Failure::Head(HeadFault::Mismatch {
            recorded: h.count,
            found: n,
        })),
    };
    Ok(report)
}

/// Checks one line at position `seq`; learns the key from the genesis when
/// none was given. Returns the line's hash.
fn check(
    line: &[u8],
    seq: u64,
    prev: &[u8; 32],
    key: &mut Option<VerifyingKey>,
    given: bool,
) -> Result<[u8; 32], Fault> {
    let decoded = decode(line)?;
    if decoded.entry.seq != seq {
        return Err(Fault::Seq {
            found: decoded.entry.seq,
        });
    }
    if &decoded.prev != prev {
        return Err(Fault::BrokenLink);
    }
    let is_genesis = decoded.entry.kind == kind::GENESIS;
    if seq == 0 {
        if !is_genesis {
            return Err(Fault::Genesis(format!(
                "the first entry is a {:?}",
                decoded.entry.kind
            )));
        }
        let named = decoded.genesis_key()?;
        match key {
            Some(k) if given && *k != named => {
                return Err(Fault::Genesis(format!(
                    "the ledger names key {}, not the given one",
                    hex::encode(named.as_bytes())
                )));
            }
            _ => *key = Some(named),
        }
    } else if is_genesis {
        return Err(Fault::Genesis("a second genesis".into()));
    }
    let key = key.as_ref().expect("set by the genesis");
    if !decoded.signed_by(key) {
        return Err(Fault::Signature);
    }
    Ok(decoded.hash)
}
