//! One entry, one line: how an entry is encoded, signed, hashed and read back.
//!
//! A line is the JSON object `{"seq":…,"time":…,"kind":…,"data":…,"prev":…,"sig":…}`
//! with its fields in that order. The signature covers the exact bytes of the
//! line before `,"sig":"`, prefixed by a domain tag, so nothing is
//! re-serialised to check it (numbers and key order stay whatever was
//! written). `prev` is the SHA-256 of the previous line's bytes, signature
//! included, without its newline; the first line (the genesis) links to 64 zeros.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Entry, Fault, KeyError};

const ENTRY_DOMAIN: &[u8] = b"giot-ledger-entry-v1\n";
const SIG_OPEN: &[u8] = b",\"sig\":\"";
/// `,"sig":"` + 128 hex digits + `"}`.
const SIG_SUFFIX_LEN: usize = SIG_OPEN.len() + 128 + 2;

pub(super) const ZERO_HASH: [u8; 32] = [0; 32];

pub(super) fn hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    kind: &'a str,
    data: &'a Value,
    prev: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    seq: u64,
    time: String,
    kind: String,
    data: Value,
    prev: String,
    #[expect(dead_code, reason = "read from the line's fixed-width suffix instead")]
    sig: String,
}

/// Encodes and signs an entry; returns the line (without newline) and the entry.
pub(super) fn encode(
    key: &SigningKey,
    seq: u64,
    kind: &str,
    data: Value,
    prev: &[u8; 32],
) -> (Vec<u8>, Entry) {
    let time = rfc3339(SystemTime::now());
    let prev = hex::encode(prev);
    let body = Body {
        seq,
        time: &time,
        kind,
        data: &data,
        prev: &prev,
    };
    let mut line = serde_json::to_vec(&body).expect("a JSON value always serialises");
    line.pop(); // the closing brace: the signature goes before it
    let sig = key.sign(&signed_message(&line));
    line.extend_from_slice(SIG_OPEN);
    line.extend_from_slice(hex::encode(sig.to_bytes()).as_bytes());
    line.extend_from_slice(b"\"}");
    let entry = Entry {
        seq,
        time,
        kind: kind.to_owned(),
        data,
        prev,
        hash: hex::encode(hash(&line)),
    };
    (line, entry)
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    [ENTRY_DOMAIN, body].concat()
}

/// A line parsed, its signature not yet checked.
pub(super) struct Decoded {
    pub entry: Entry,
    pub hash: [u8; 32],
    pub prev: [u8; 32],
    signed: Vec<u8>,
    sig: Signature,
}

impl Decoded {
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        key.verify_strict(&self.signed, &self.sig).is_ok()
    }

    /// The key a genesis entry names (`data.pubkey`).
    pub fn genesis_key(&self) -> Result<VerifyingKey, Fault> {
        let hex_key = self.entry.data.get("pubkey").and_then(Value::as_str);
        hex_key
            .and_then(|h| parse_public_key(h).ok())
            .ok_or_else(|| Fault::Genesis("it names no valid public key".into()))
    }
}

pub(super) fn decode(line: &[u8]) -> Result<Decoded, Fault> {
    let unreadable = |why: &str| Fault::Unreadable(why.to_owned());
    let raw: Raw = serde_json::from_slice(line).map_err(|e| Fault::Unreadable(e.to_string()))?;
    // The signature must be the last field, in its fixed form, for the signed
    // bytes to be exactly what precedes it.
    let split = line
        .len()
        .checked_sub(SIG_SUFFIX_LEN)
        .filter(|&at| line[at..].starts_with(SIG_OPEN) && line.ends_with(b"\"}"))
        .ok_or_else(|| unreadable("the signature is not the line's last field"))?;
    // Hex in one spelling only (lower case), so that no byte of a line can
    // change without changing what it says.
    let sig_hex = &line[split + SIG_OPEN.len()..line.len() - 2];
    let mut sig = [0u8; 64];
    if !is_lower_hex(sig_hex) || hex::decode_to_slice(sig_hex, &mut sig).is_err() {
        return Err(unreadable("the signature is not 128 lower-case hex digits"));
    }
    let mut prev = [0u8; 32];
    if !is_lower_hex(raw.prev.as_bytes()) || hex::decode_to_slice(&raw.prev, &mut prev).is_err() {
        return Err(unreadable("prev is not 64 lower-case hex digits"));
    }
    let hash = hash(line);
    Ok(Decoded {
        entry: Entry {
            seq: raw.seq,
            time: raw.time,
            kind: raw.kind,
            data: raw.data,
            prev: raw.prev,
            hash: hex::encode(hash),
        },
        hash,
        prev,
        signed: signed_message(&line[..split]),
        sig: Signature::from_bytes(&sig),
    })
}

fn is_lower_hex(s: &[u8]) -> bool {
    s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(super) fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, KeyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(KeyError::NotHex)?;
    VerifyingKey::from_bytes(&bytes).map_err(KeyError::NotEd25519)
}

/// The end of a ledger file, read backwards without scanning the whole file.
pub(super) struct Tail {
    /// Length of the file up to and including its last newline.
    pub complete_len: u64,
    /// The last complete line, without its newline.
    pub last: Option<Vec<u8>>,
    /// Bytes after the last newline: an append that did not finish.
    pub torn: Vec<u8>,
}

pub(super) fn read_tail(file: &File) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = vec![0u8; usize::try_from(len - start).expect("window fits in memory")];
        file.read_exact_at(&mut buf, start)?;
        let last_nl = buf.iter().rposition(|&b| b == b'\n');
        let prev_nl = last_nl.and_then(|p| buf[..p].iter().rposition(|&b| b == b'\n'));
        // Enough when the window holds the last line's start, or is the whole file.
        if prev_nl.is_some() || start == 0 {
            let complete_len = last_nl.map_or(start, |p| start + p as u64 + 1);
            let torn = buf[last_nl.map_or(0, |p| p + 1)..].to_vec();
            let last = last_nl.map(|p| buf[prev_nl.map_or(0, |q| q + 1)..p].to_vec());
            return Ok(Tail {
                complete_len,
                last,
                torn,
            });
        }
        window *= 4;
    }
}

/// The first complete line of a file (without its newline), if it has one.
pub(super) fn read_first_line(file: &File) -> io::Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    let mut line = Vec::new();
    let mut chunk = vec![0u8; 8 * 1024];
    let mut at = 0u64;
    while at < len {
        let n = file.read_at(&mut chunk, at)?;
        if n == 0 {
            break;
        }
        if let Some(p) = chunk[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&chunk[..p]);
            return Ok(Some(line));
        }
        line.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    Ok(None)
}

/// `2025-06-01T12:34:56.789Z`.
pub(super) fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_renders_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_123);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.123Z");
    }

    #[test]
    fn an_encoded_line_decodes_to_the_same_entry_and_verifies() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let data = serde_json::json!({"b": 1.5, "a": [1, 2]});
        let (line, entry) = encode(&key, 3, "action", data, &[9; 32]);
        let decoded = decode(&line).unwrap();
        assert_eq!(decoded.entry, entry);
        assert_eq!(decoded.prev, [9; 32]);
        assert!(decoded.signed_by(&key.verifying_key()));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(!decoded.signed_by(&other.verifying_key()));
    }

    #[test]
    fn read_tail_separates_the_last_line_from_a_torn_tail() {
        let mut f = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut f, b"one\ntwo\nhal").unwrap();
        let tail = read_tail(&f).unwrap();
        assert_eq!(tail.complete_len, 8);
        assert_eq!(tail.last.as_deref(), Some(&b"two"[..]));
        assert_eq!(tail.torn, b"hal");
        assert_eq!(read_first_line(&f).unwrap().as_deref(), Some(&b"one"[..]));
    }

    #[test]
    fn read_tail_of_a_file_without_newline_is_all_torn() {
        let mut f = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut f, b"partial").unwrap();
        let tail = read_tail(&f).unwrap();
        assert_eq!(
            (tail.complete_len, tail.last, tail.torn),
            (0, None, b"partial".to_vec())
        );
        assert_eq!(read_first_line(&f).unwrap(), None);
    }
}
