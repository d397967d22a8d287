//! The node's Ed25519 key: `node.key` (the secret, hex, owner-only) and
//! `node.pub` (the public key, hex) in giot's data directory.
//!
//! The key is created on first use. Creation is atomic: the secret is written
//! to a private temporary file and hard-linked into place, which fails if
//! another process got there first, so two processes never end up with two keys.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::line::parse_public_key;
use super::{Error, KeyError};

pub const SECRET_FILE: &str = "node.key";
pub const PUBLIC_FILE: &str = "node.pub";

/// The key that signs a node's ledger entries and heads.
pub struct NodeKey {
    pub(super) signing: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("public", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

impl NodeKey {
    /// Loads `dir/node.key`, creating it (and `dir`, owner-only) on first use,
    /// and keeps `dir/node.pub` beside it. Refuses a secret others can read.
    pub fn load_or_create(dir: &Path) -> Result<Self, Error> {
        let secret = dir.join(SECRET_FILE);
        let key = match Self::load(dir) {
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                create_private_dir(dir)?;
                match create_secret(dir, &secret) {
                    Ok(key) => key,
                    // Another process created it between our load and our link.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load(dir)?,
                    Err(source) => {
                        return Err(Error::Io {
                            path: secret,
                            source,
                        });
                    }
                }
            }
            other => other?,
        };
        key.write_public(dir)?;
        Ok(key)
    }

    /// Loads `dir/node.key`; fails if it is missing, malformed or readable by others.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(SECRET_FILE);
        let io_err = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let mode = fs::metadata(&path).map_err(io_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::InsecureKey {
                path,
                mode: mode & 0o777,
            });
        }
        let text = fs::read_to_string(&path).map_err(io_err)?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|e| Error::BadKey {
            path: path.clone(),
            source: KeyError::NotHex(e),
        })?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key().as_bytes())
    }

    fn write_public(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(PUBLIC_FILE);
        let want = format!("{}\n", self.public_key_hex());
        if fs::read_to_string(&path).is_ok_and(|have| have == want) {
            return Ok(());
        }
        fs::write(&path, want).map_err(|source| Error::Io { path, source })
    }
}

/// Reads a public key file (64 hex digits), as `verify --pubkey FILE` takes it.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_public_key(&text).map_err(|source| Error::BadKey {
        path: path.to_owned(),
        source,
    })
}

pub(super) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })
}

fn create_secret(dir: &Path, secret: &Path) -> io::Result<NodeKey> {
    let seed: [u8; 32] = rand::random();
    let tmp = dir.join(format!(".{SECRET_FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())?;
        f.sync_all()?;
        fs::hard_link(&tmp, secret)
    })();
    let _ = fs::remove_file(&tmp);
    written?;
    sync_dir(dir)?;
    Ok(NodeKey {
        signing: SigningKey::from_bytes(&seed),
    })
}

/// Makes a directory's entries (a created or renamed file) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(super) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_owner_only_and_loads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let keydir = dir.path().join("giot");
        let key = NodeKey::load_or_create(&keydir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keydir.join(SECRET_FILE)), 0o600);
        assert_eq!(mode(&keydir), 0o700);
        let again = NodeKey::load_or_create(&keydir).unwrap();
        assert_eq!(key.public_key_hex(), again.public_key_hex());
        let public = read_public_key(&keydir.join(PUBLIC_FILE)).unwrap();
        assert_eq!(public, key.public_key());
    }

    #[test]
    fn a_secret_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        NodeKey::load_or_create(dir.path()).unwrap();
        let secret = dir.path().join(SECRET_FILE);
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
        let err = NodeKey::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::InsecureKey { mode: 0o644, .. }),
            "{err}"
        );
    }
}
