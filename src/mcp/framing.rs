//! JSON-RPC framing in front of the MCP SDK: a line that is not JSON gets
//! JSON-RPC's `-32700` parse error (`"id": null`, as the spec requires) and
//! the session goes on.
//!
//! rmcp ignores unparsable lines (no answer at all), so a client that sent
//! a broken request waits forever. [`guard`] sits between stdin/stdout and
//! the SDK: it passes every line that parses as JSON through unchanged,
//! answers the others itself, and merges its answers with the SDK's
//! output one whole line at a time, so the two never interleave.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest line read; a longer one is answered as a parse error and skipped.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// JSON-RPC's answer to a line that is not JSON.
pub const PARSE_ERROR: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the request is not valid JSON"}}"#;

/// Whether `line` is JSON (any JSON: a message of the wrong shape is the
/// SDK's to answer, with `-32600`).
pub fn is_json(line: &[u8]) -> bool {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

/// What one read gave.
enum Line {
    Text(Vec<u8>),
    TooLong,
    End,
}

/// Reads one line of at most [`MAX_LINE`] bytes (without its `\n`/`\r\n`);
/// a longer one is read to its end and dropped.
async fn read_line<R: AsyncBufReadExt + Unpin>(input: &mut R) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(if too_long {
                Line::TooLong
            } else if line.is_empty() {
                Line::End
            } else {
                Line::Text(line)
            });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            let room = MAX_LINE.saturating_sub(line.len());
            if take > room + 1 {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(&available[..take]);
            }
        }
        input.consume(take);
        if done {
            if too_long {
                return Ok(Line::TooLong);
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return Ok(Line::Text(line));
        }
    }
}

/// Puts the framing guard between `input`/`output` and the SDK: returns the
/// SDK's side (what it reads, what it writes) and the guard's task, which
/// ends when both sides have closed.
pub fn guard<R, W>(input: R, mut output: W) -> ((DuplexStream, DuplexStream), JoinHandle<()>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (sdk_in, mut to_sdk) = tokio::io::duplex(64 * 1024);
    let (sdk_out, from_sdk) = tokio::io::duplex(64 * 1024);
    let (errors_tx, mut errors) = mpsc::channel::<&'static str>(64);
    let reader = tokio::spawn(async move {
        let mut input = BufReader::new(input);
        loop {
            let line = match read_line(&mut input).await {
                Ok(Line::End) | Err(_) => break,
                Ok(Line::TooLong) => None,
                Ok(Line::Text(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Line::Text(line)) => Some(line).filter(|l| is_json(l)),
            };
            match line {
                Some(mut line) => {
                    line.push(b'\n');
                    if to_sdk.write_all(&line).await.is_err() {
                        break;
                    }
                }
                None => {
                    tracing::info!("mcp: answered a request that is not JSON with -32700");
                    if errors_tx.send(PARSE_ERROR).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `to_sdk` is the SDK's end of input.
    });
    let task = tokio::spawn(async move {
        let mut from_sdk = BufReader::new(from_sdk);
        let mut sdk_open = true;
        let mut errors_open = true;
        while sdk_open || errors_open {
            let mut line = Vec::new();
            tokio::select! {
                read = from_sdk.read_until(b'\n', &mut line), if sdk_open => {
                    match read {
                        Ok(0) | Err(_) => sdk_open = false,
                        Ok(_) => {
                            if output.write_all(&line).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                e = errors.recv(), if errors_open => match e {
                    Some(e) => {
                        if output.write_all(format!("{e}\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    None => errors_open = false,
                },
            }
            if output.flush().await.is_err() {
                break;
            }
        }
        reader.abort();
    });
    ((sdk_in, sdk_out), task)
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn kind11_a_line_that_is_not_json_gets_a_parse_error_and_the_session_goes_on() {
        let input =
            b"{not json\n{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\n\xff\xfe\n\n[1,\n"
                .to_vec();
        let (out_w, mut out_r) = tokio::io::duplex(64 * 1024);
        let ((mut sdk_in, mut sdk_out), task) = guard(std::io::Cursor::new(input), out_w);
        // The SDK gets the valid line and then the end of input.
        let mut passed = String::new();
        sdk_in.read_to_string(&mut passed).await.unwrap();
        assert_eq!(
            passed,
            "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\n"
        );
        sdk_out
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n")
            .await
            .unwrap();
        drop(sdk_out);
        task.await.unwrap();
        let mut out = String::new();
        out_r.read_to_string(&mut out).await.unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let errors: Vec<_> = lines.iter().filter(|l| l.get("error").is_some()).collect();
        assert_eq!(errors.len(), 3, "{out}");
        for e in errors {
            assert_eq!(e["error"]["code"], -32700);
            assert!(e["id"].is_null() && e.as_object().unwrap().contains_key("id"));
            assert_eq!(e["jsonrpc"], "2.0");
        }
        assert!(
            lines
                .iter()
                .any(|l| l["id"] == 1 && l.get("result").is_some())
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_a_parse_error_not_a_lost_session() {
        let mut input = vec![b'['; MAX_LINE + 10];
        input.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":2}\n");
        let (out_w, mut out_r) = tokio::io::duplex(64 * 1024);
        let ((mut sdk_in, sdk_out), task) = guard(std::io::Cursor::new(input), out_w);
        let mut passed = String::new();
        sdk_in.read_to_string(&mut passed).await.unwrap();
        assert!(passed.contains("\"id\":2"));
        drop(sdk_out);
        task.await.unwrap();
        let mut out = String::new();
        out_r.read_to_string(&mut out).await.unwrap();
        assert!(out.contains("-32700"), "{out}");
    }
}
