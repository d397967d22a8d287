//! A readable rendering of a ledger, one line per entry. It shows what the
//! file says, not whether it is true: that is [`super::verify`]'s job.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::Error;
use super::line::decode;

const SUMMARY_CHARS: usize = 72;

/// Renders the ledger at `path`: seq, time, kind, short hash, and a summary of
/// the data; unreadable lines and a torn tail are shown as such.
pub fn show(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut out = format!(
        "{:>5}  {:<24}  {:<10}  {:<8}  data\n",
        "seq", "time", "kind", "hash"
    );
    let mut buf = Vec::new();
    let (mut line_no, mut offset) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let Some(line) = buf.strip_suffix(b"\n") else {
            let _ = writeln!(
                out,
                "torn tail: {n} bytes at line {line_no} (byte {offset})"
            );
            break;
        };
        offset += n as u64;
        let _ = match decode(line) {
            Ok(d) => writeln!(
                out,
                "{:>5}  {:<24}  {:<10}  {:<8}  {}",
                d.entry.seq,
                d.entry.time,
                d.entry.kind,
                &d.entry.hash[..8],
                summary(&d.entry.data)
            ),
            Err(fault) => writeln!(out, "line {line_no}: {fault}"),
        };
    }
    Ok(out)
}

/// `key=value, …` for an object, compact JSON otherwise, cut to a readable length.
fn summary(data: &Value) -> String {
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = match data {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => scalar(other),
    };
    // Control characters in data must not reach the terminal.
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= SUMMARY_CHARS {
        clean
    } else {
        let cut: String = clean.chars().take(SUMMARY_CHARS - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_lists_object_fields_and_cuts_long_text() {
        let s = summary(&json!({"device": "hall_light", "value": 10}));
        assert_eq!(s, "device=hall_light, value=10");
        let long = summary(&json!({"goal": "x".repeat(200)}));
        assert_eq!(long.chars().count(), SUMMARY_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn summary_blanks_control_characters() {
        assert_eq!(summary(&json!("a\u{1b}[2Jb")), "a [2Jb");
    }
}
