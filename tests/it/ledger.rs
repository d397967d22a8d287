//! The ledger under several writers and under SIGKILL. Child processes are
//! this test binary re-run in a special mode (`child_appender`, ignored in
//! normal runs), so no giot subcommand is needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use giot::ledger::{self, Ledger, NodeKey, kind};
use serde_json::json;

const CHILD_LEDGER: &str = "GIOT_LEDGER_CHILD";
const CHILD_KEYS: &str = "GIOT_LEDGER_CHILD_KEYS";
const CHILD_COUNT: &str = "GIOT_LEDGER_CHILD_COUNT";
const CHILD_WRITER: &str = "GIOT_LEDGER_CHILD_WRITER";

/// Not a test: the body of the child processes. Appends `CHILD_COUNT` entries
/// (or until killed, at most 30 s) to the ledger named by `CHILD_LEDGER`.
#[test]
#[ignore = "run by the other ledger tests as a child process"]
fn child_appender() {
    let Some(path) = std::env::var_os(CHILD_LEDGER) else {
        return;
    };
    let keys = PathBuf::from(std::env::var_os(CHILD_KEYS).expect("key dir"));
    let writer = std::env::var(CHILD_WRITER).unwrap_or_default();
    let count: Option<u64> = std::env::var(CHILD_COUNT).ok().map(|c| c.parse().unwrap());
    let key = NodeKey::load(&keys).unwrap();
    let mut ledger = Ledger::open(Path::new(&path), &key).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    while count.is_none_or(|c| i < c) && Instant::now() < deadline {
        let data = json!({"writer": writer, "i": i, "pad": "x".repeat(i as usize % 300)});
        ledger.append(kind::ACTION, data).unwrap();
        i += 1;
    }
}

/// A child process killed (SIGKILL) on drop.
struct Appender(Child);

impl Appender {
    fn spawn(ledger: &Path, keys: &Path, writer: &str, count: Option<u64>) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args([
            "ledger::child_appender",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(CHILD_LEDGER, ledger)
        .env(CHILD_KEYS, keys)
        .env(CHILD_WRITER, writer)
        .stdout(Stdio::null());
        if let Some(n) = count {
            cmd.env(CHILD_COUNT, n.to_string());
        }
        Self(cmd.spawn().unwrap())
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn setup() -> (tempfile::TempDir, NodeKey, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let key = NodeKey::load_or_create(&keys).unwrap();
    let path = dir.path().join("giot.ledger");
    (dir, key, path, keys)
}

/// The `(writer, i)` pairs of all action entries, checking the chain first.
fn actions(path: &Path, key: &NodeKey) -> BTreeSet<(String, u64)> {
    let report = ledger::verify(path, Some(&key.public_key())).unwrap();
    assert!(report.ok(), "{report}");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["kind"] == kind::ACTION)
        .map(|e| {
            let writer = e["data"]["writer"].as_str().unwrap().to_owned();
            (writer, e["data"]["i"].as_u64().unwrap())
        })
        .collect()
}

fn expected(writers: usize, per_writer: u64) -> BTreeSet<(String, u64)> {
    (0..writers)
        .flat_map(|w| (0..per_writer).map(move |i| (format!("w{w}"), i)))
        .collect()
}

#[test]
fn concurrent_appends_from_threads_yield_one_valid_chain_with_every_entry() {
    let (_dir, key, path, _) = setup();
    std::thread::scope(|s| {
        for w in 0..4 {
            let (key, path) = (&key, &path);
            s.spawn(move || {
                // Each thread opens its own handle: the lock is per open file.
                let mut ledger = Ledger::open(path, key).unwrap();
                for i in 0..25u64 {
                    let data = json!({"writer": format!("w{w}"), "i": i});
                    ledger.append(kind::ACTION, data).unwrap();
                }
            });
        }
    });
    assert_eq!(actions(&path, &key), expected(4, 25));
    assert_eq!(ledger::verify(&path, None).unwrap().entries, 101);
}

#[test]
fn concurrent_appends_from_processes_yield_one_valid_chain_with_every_entry() {
    let (_dir, key, path, keys) = setup();
    let mut children: Vec<Appender> = (0..4)
        .map(|w| Appender::spawn(&path, &keys, &format!("w{w}"), Some(20)))
        .collect();
    for child in &mut children {
        assert!(child.0.wait().unwrap().success());
    }
    assert_eq!(actions(&path, &key), expected(4, 20));
}

#[test]
fn a_process_killed_during_appends_leaves_a_ledger_that_verifies_to_its_last_complete_entry() {
    let (_dir, key, path, keys) = setup();
    let mut torn_seen = 0;
    for round in 0..6u64 {
        let before = ledger::verify(&path, None).map_or(0, |r| r.entries);
        let child = Appender::spawn(&path, &keys, &format!("r{round}"), None);
        // Let it get going, then kill it mid-stream.
        let deadline = Instant::now() + Duration::from_secs(20);
        while ledger::verify(&path, None).map_or(0, |r| r.entries) < before + 5 {
            assert!(Instant::now() < deadline, "the child never appended");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50 + 50 * round));
        drop(child);

        let report = ledger::verify(&path, Some(&key.public_key())).unwrap();
        assert!(report.ok(), "round {round}: {report}");
        assert!(report.entries > before, "round {round}: {report}");
        // Every byte is accounted for: complete entries, then any torn tail.
        let len = std::fs::metadata(&path).unwrap().len();
        match report.torn_tail {
            Some(t) => {
                torn_seen += 1;
                assert_eq!(t.offset + t.bytes, len, "round {round}: {report}");
                assert_eq!(t.line, report.entries + 1);
                assert!(report.to_string().contains("torn tail"));
            }
            None => assert!(std::fs::read(&path).unwrap().ends_with(b"\n")),
        }
    }
    // After the crashes the ledger takes appends again, recording any torn tail.
    let mut ledger = Ledger::open(&path, &key).unwrap();
    ledger
        .append(kind::ACTION, json!({"writer": "after", "i": 0}))
        .unwrap();
    let report = ledger::verify(&path, Some(&key.public_key())).unwrap();
    assert!(
        report.ok() && report.torn_tail.is_none() && !report.head_behind,
        "{report}"
    );
    let shown = ledger::show(&path).unwrap();
    assert!(torn_seen == 0 || shown.contains(kind::RECOVERY), "{shown}");
}

#[test]
fn a_torn_tail_left_by_a_killed_writer_is_recorded_by_the_next_writer() {
    // A kill rarely lands inside one write(2); this makes the torn tail certain.
    let (_dir, key, path, keys) = setup();
    let mut child = Appender::spawn(&path, &keys, "w0", Some(3));
    assert!(child.0.wait().unwrap().success());
    let partial = br#"{"seq":4,"time":"2025-01-01T00:00:00.000Z","kind":"action","da"#;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(partial);
    std::fs::write(&path, &bytes).unwrap();

    let report = ledger::verify(&path, Some(&key.public_key())).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(
        report.torn_tail.map(|t| t.bytes),
        Some(partial.len() as u64)
    );

    let mut child = Appender::spawn(&path, &keys, "w1", Some(2));
    assert!(child.0.wait().unwrap().success());
    let shown = ledger::show(&path).unwrap();
    assert!(
        shown.contains("recovery") && shown.contains("saved_to=giot.ledger.torn-"),
        "{shown}"
    );
    let mut want = expected(1, 3);
    want.extend((0..2).map(|i| ("w1".to_owned(), i)));
    assert_eq!(actions(&path, &key), want);
}

#[test]
fn giot_ledger_verify_exits_0_on_a_sound_ledger_and_1_naming_a_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let key = giot::ledger::NodeKey::load_or_create(dir.path()).unwrap();
    let path = dir.path().join("test.ledger");
    let mut ledger = giot::ledger::Ledger::open(&path, &key).unwrap();
    for i in 0..3 {
        ledger
            .append(
                giot::ledger::kind::ACTION,
                serde_json::json!({"goal": format!("goal {i}")}),
            )
            .unwrap();
    }
    drop(ledger);
    let verify = |extra: &[&str]| {
        super::harness::giot()
            .args(["ledger", "verify"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = verify(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let pubkey = dir.path().join(giot::ledger::PUBLIC_FILE);
    assert_eq!(
        verify(&["--pubkey", pubkey.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let show = super::harness::giot()
        .args(["ledger", "show"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("goal 2"));

    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.iter().position(|&b| b == b'1').unwrap();
    bytes[at] = b'2';
    std::fs::write(&path, bytes).unwrap();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("entry"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
