//! Just enough of the GGUF format to read a model's tokenizer: the header's
//! key/value metadata (`tokenizer.ggml.*`), never the tensors.
//!
//! GGUF (llama.cpp's `docs/gguf.md`) is little-endian: the magic `GGUF`, a
//! version (2 or 3), the tensor and metadata counts, then each metadata entry
//! as a length-prefixed key, a type tag and a value. The entries we do not need
//! are skipped without being kept. The file is untrusted input: every length is
//! checked against what is left of the file before anything is allocated.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// A metadata value we keep: strings, integers, and arrays of those.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("not a GGUF file (no GGUF magic)")]
    NotGguf,
    #[error("unsupported GGUF version {0}")]
    Version(u32),
    #[error("malformed GGUF metadata: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// True when the file starts with the GGUF magic.
pub fn is_gguf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"GGUF")
}

/// The metadata entries whose key starts with `prefix`.
pub fn read_metadata(path: &Path, prefix: &str) -> Result<HashMap<String, Value>, GgufError> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        left: len,
    };
    let mut magic = [0u8; 4];
    r.exact(&mut magic)?;
    if &magic != b"GGUF" {
        return Err(GgufError::NotGguf);
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    let _tensors = r.u64()?;
    let entries = r.u64()?;
    let mut out = HashMap::new();
    for _ in 0..entries {
        let key = r.string()?;
        let ty = r.u32()?;
        if key.starts_with(prefix) {
            out.insert(key, r.value(ty)?);
        } else {
            r.skip_value(ty)?;
        }
    }
    Ok(out)
}

struct Reader<R> {
    inner: R,
    /// Bytes left in the file: no length read from it may exceed this.
    left: u64,
}

/// Size in bytes of a fixed-size GGUF type, `None` for strings and arrays.
fn fixed_size(ty: u32) -> Result<Option<u64>, GgufError> {
    Ok(match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        8 | 9 => None,
        _ => return Err(GgufError::Malformed(format!("unknown value type {ty}"))),
    })
}

impl<R: Read + Seek> Reader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        self.take(buf.len() as u64)?;
        self.inner.read_exact(buf)?;
        Ok(())
    }

    fn take(&mut self, n: u64) -> Result<(), GgufError> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or_else(|| GgufError::Malformed("a length runs past the end of the file".into()))?;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.u64()?;
        if n > self.left {
            return Err(GgufError::Malformed(format!(
                "a string of {n} bytes runs past the end of the file"
            )));
        }
        let mut buf = vec![0u8; n as usize];
        self.exact(&mut buf)?;
        String::from_utf8(buf).map_err(|_| GgufError::Malformed("a string is not UTF-8".into()))
    }

    fn int(&mut self, ty: u32) -> Result<i64, GgufError> {
        let size = fixed_size(ty)?.unwrap_or(0) as usize;
        let mut b = [0u8; 8];
        self.exact(&mut b[..size])?;
        Ok(match ty {
            0 | 7 => i64::from(b[0]),
            1 => i64::from(b[0] as i8),
            2 => i64::from(u16::from_le_bytes([b[0], b[1]])),
            3 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            5 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            10 | 11 => i64::from_le_bytes(b),
            // Floats are not needed: read and dropped.
            _ => 0,
        })
    }

    fn value(&mut self, ty: u32) -> Result<Value, GgufError> {
        match ty {
            8 => Ok(Value::Str(self.string()?)),
            6 | 12 => {
                self.skip_value(ty)?;
                Ok(Value::Other)
            }
            9 => {
                let elem = self.u32()?;
                let n = self.u64()?;
                // Every element takes at least one byte.
                if n > self.left {
                    return Err(GgufError::Malformed(format!(
                        "an array of {n} elements runs past the end of the file"
                    )));
                }
                match elem {
                    8 => (0..n)
                        .map(|_| self.string())
                        .collect::<Result<_, _>>()
                        .map(Value::Strs),
                    6 | 12 | 9 => {
                        for _ in 0..n {
                            self.skip_value(elem)?;
                        }
                        Ok(Value::Other)
                    }
                    _ => (0..n)
                        .map(|_| self.int(elem))
                        .collect::<Result<_, _>>()
                        .map(Value::Ints),
                }
            }
            _ => Ok(Value::Int(self.int(ty)?)),
        }
    }

    fn skip_value(&mut self, ty: u32) -> Result<(), GgufError> {
        match fixed_size(ty)? {
            Some(n) => self.skip(n),
            None if ty == 8 => {
                let n = self.u64()?;
                self.skip(n)
            }
            None => {
                let elem = self.u32()?;
                let n = self.u64()?;
                match fixed_size(elem)? {
                    Some(size) => {
                        self.skip(n.checked_mul(size).ok_or_else(|| {
                            GgufError::Malformed("an array size overflows".into())
                        })?)
                    }
                    None => {
                        if n > self.left {
                            return Err(GgufError::Malformed(
                                "an array runs past the end of the file".into(),
                            ));
                        }
                        (0..n).try_for_each(|_| self.skip_value(elem))
                    }
                }
            }
        }
    }

    fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        self.take(n)?;
        let n = i64::try_from(n).map_err(|_| GgufError::Malformed("a length overflows".into()))?;
        self.inner.seek(SeekFrom::Current(n))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Vec<u8> {
        let mut b = (s.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b
    }

    fn file(entries: &[(&str, u32, Vec<u8>)]) -> tempfile::NamedTempFile {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend((entries.len() as u64).to_le_bytes());
        for (k, ty, v) in entries {
            b.extend(string(k));
            b.extend(ty.to_le_bytes());
            b.extend(v);
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b).unwrap();
        f
    }

    #[test]
    fn metadata_is_read_and_other_keys_are_skipped() {
        let mut tokens = 8u32.to_le_bytes().to_vec();
        tokens.extend(2u64.to_le_bytes());
        tokens.extend(string("a"));
        tokens.extend(string("b"));
        let mut floats = 6u32.to_le_bytes().to_vec();
        floats.extend(2u64.to_le_bytes());
        floats.extend([0u8; 8]);
        let f = file(&[
            ("general.name", 8, string("x")),
            ("general.floats", 9, floats),
            ("tokenizer.ggml.model", 8, string("gpt2")),
            ("tokenizer.ggml.tokens", 9, tokens),
            (
                "tokenizer.ggml.bos_token_id",
                4,
                7u32.to_le_bytes().to_vec(),
            ),
        ]);
        let m = read_metadata(f.path(), "tokenizer.").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m["tokenizer.ggml.model"], Value::Str("gpt2".into()));
        assert_eq!(
            m["tokenizer.ggml.tokens"],
            Value::Strs(vec!["a".into(), "b".into()])
        );
        assert_eq!(m["tokenizer.ggml.bos_token_id"], Value::Int(7));
    }

    #[test]
    fn a_length_past_the_end_is_an_error_not_an_allocation() {
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend(b"abc");
        let f = file(&[("tokenizer.ggml.model", 8, huge)]);
        let err = read_metadata(f.path(), "tokenizer.").unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
    }

    #[test]
    fn a_file_without_the_magic_is_refused() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"{\"model\": {}}").unwrap();
        assert!(matches!(
            read_metadata(f.path(), ""),
            Err(GgufError::NotGguf)
        ));
        assert!(!is_gguf(f.path()));
    }
}
