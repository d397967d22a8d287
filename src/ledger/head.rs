//! The signed head beside a ledger (`<ledger>.head`): how many entries the
//! ledger holds, the hash of the last one, and the hash of its genesis (so a
//! head cannot be carried over from another ledger of the same node).
//!
//! The chain alone cannot show that entries were cut off its end; the head
//! can. It is rewritten atomically after every append (temporary file, fsync,
//! rename, fsync of the directory), so it is always either the old head or the new.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::key::{dir_of, sync_dir};

const HEAD_DOMAIN: &[u8] = b"giot-ledger-head-v1\n";

/// `<ledger>.head`.
pub fn head_path(ledger: &Path) -> PathBuf {
    with_suffix(ledger, ".head")
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    pub count: u64,
    pub last: [u8; 32],
    pub genesis: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    count: u64,
    last: String,
    genesis: String,
    sig: String,
}

/// Why a head file cannot vouch for a ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadFault {
    #[error("the head file is missing")]
    Missing,
    #[error("the head file is unreadable: {0}")]
    Unreadable(String),
    #[error("the head's signature does not verify")]
    Signature,
    #[error("the head belongs to another ledger (its genesis hash differs)")]
    OtherLedger,
    #[error("the head records {recorded} entries ending in another hash; the file holds {found}")]
    Mismatch { recorded: u64, found: u64 },
}

impl Head {
    fn message(&self) -> Vec<u8> {
        let text = format!(
            "{}\n{}\n{}",
            self.count,
            hex::encode(self.last),
            hex::encode(self.genesis)
        );
        [HEAD_DOMAIN, text.as_bytes()].concat()
    }

    /// Reads and checks the head of `ledger` against `key`.
    pub fn read(ledger: &Path, key: &VerifyingKey) -> Result<Self, HeadFault> {
        let bytes = match fs::read(head_path(ledger)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(HeadFault::Missing),
            Err(e) => return Err(HeadFault::Unreadable(e.to_string())),
        };
        let bad = |e: &dyn std::fmt::Display| HeadFault::Unreadable(e.to_string());
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| bad(&e))?;
        let mut head = Self {
            count: stored.count,
            last: [0; 32],
            genesis: [0; 32],
        };
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&stored.last, &mut head.last).map_err(|e| bad(&e))?;
        hex::decode_to_slice(&stored.genesis, &mut head.genesis).map_err(|e| bad(&e))?;
        hex::decode_to_slice(&stored.sig, &mut sig).map_err(|e| bad(&e))?;
        let sig = Signature::from_bytes(&sig);
        key.verify_strict(&head.message(), &sig)
            .map_err(|_| HeadFault::Signature)?;
        // One spelling only: a head that says the same in other bytes was edited.
        if bytes != head.render(&sig) {
            return Err(HeadFault::Unreadable("not in its canonical form".into()));
        }
        Ok(head)
    }

    fn render(&self, sig: &Signature) -> Vec<u8> {
        let stored = Stored {
            count: self.count,
            last: hex::encode(self.last),
            genesis: hex::encode(self.genesis),
            sig: hex::encode(sig.to_bytes()),
        };
        let mut text = serde_json::to_vec(&stored).expect("a head always serialises");
        text.push(b'\n');
        text
    }

    /// Signs and atomically replaces the head of `ledger`.
    pub fn write(&self, ledger: &Path, key: &SigningKey) -> io::Result<()> {
        let text = self.render(&key.sign(&self.message()));
        // Appends are serialised by the ledger's lock, so one temporary name is enough.
        let tmp = with_suffix(ledger, ".head.tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, head_path(ledger))?;
        sync_dir(&dir_of(ledger))
    }
}
