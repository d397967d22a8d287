use std::fs;
use std::path::PathBuf;

use serde_json::json;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    key: NodeKey,
    path: PathBuf,
}

/// A ledger of a genesis and three entries.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = NodeKey::load_or_create(&dir.path().join("keys")).unwrap();
    let path = dir.path().join("data").join("giot.ledger");
    let mut ledger = Ledger::open(&path, &key).unwrap();
    ledger
        .append(kind::MENU, json!({"market": "m1", "items": [[0.5, 2.0]]}))
        .unwrap();
    ledger
        .append(kind::CHOICE, json!({"contributor": "car_1", "item": 0}))
        .unwrap();
    ledger
        .append(
            kind::ACTION,
            json!({"goal": "dim the hall light", "actions": [], "confirmed_by": "--yes"}),
        )
        .unwrap();
    Fixture {
        _dir: dir,
        key,
        path,
    }
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn check(path: &Path) -> Report {
    verify(path, None).unwrap()
}

#[test]
fn appended_entries_verify_and_show_readably() {
    let f = fixture();
    let report = check(&f.path);
    assert!(report.ok(), "{report}");
    assert_eq!(report.entries, 4);
    assert_eq!(report.key, KeySource::SelfAsserted(f.key.public_key()));
    assert!(!report.head_behind && report.torn_tail.is_none());
    let shown = show(&f.path).unwrap();
    assert_eq!(shown.lines().count(), 5, "{shown}");
    assert!(
        shown.contains("choice") && shown.contains("contributor=car_1"),
        "{shown}"
    );
}

#[test]
fn reopening_a_ledger_continues_its_chain() {
    let f = fixture();
    let mut ledger = Ledger::open(&f.path, &f.key).unwrap();
    let entry = ledger.append(kind::SETTLEMENT, json!({"paid": 3})).unwrap();
    assert_eq!(entry.seq, 4);
    let report = check(&f.path);
    assert!(report.ok(), "{report}");
    assert_eq!(report.entries, 5);
}

#[test]
fn the_ledger_and_its_head_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    for p in [f.path.clone(), head_path(&f.path)] {
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}

#[test]
fn flipping_any_single_byte_fails_verification_and_names_its_entry() {
    let f = fixture();
    let original = fs::read(&f.path).unwrap();
    let entry_of: Vec<u64> = lines(&f.path)
        .iter()
        .enumerate()
        .flat_map(|(i, l)| std::iter::repeat_n(i as u64, l.len()))
        .collect();
    for mask in [0x01u8, 0x20, 0x80, 0xff] {
        for at in 0..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= mask;
            fs::write(&f.path, &bytes).unwrap();
            let report = check(&f.path);
            let named = report.failure.as_ref().and_then(Failure::seq);
            assert_eq!(
                named,
                Some(entry_of[at]),
                "byte {at} ^ {mask:#x} ({:?}): {report}",
                original[at] as char
            );
        }
    }
}

#[test]
fn flipping_any_byte_of_the_head_fails_verification() {
    let f = fixture();
    let head = head_path(&f.path);
    let original = fs::read(&head).unwrap();
    for mask in [0x01u8, 0x20] {
        for at in 0..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= mask;
            fs::write(&head, &bytes).unwrap();
            let report = check(&f.path);
            assert!(!report.ok(), "head byte {at} ^ {mask:#x}: {report}");
        }
    }
}

#[test]
fn deleting_any_entry_fails_and_names_it() {
    let f = fixture();
    let all = lines(&f.path);
    for gone in 0..all.len() {
        let kept: Vec<u8> = all
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != gone)
            .flat_map(|(_, l)| l.clone())
            .collect();
        fs::write(&f.path, kept).unwrap();
        let report = check(&f.path);
        assert_eq!(
            report.failure.as_ref().and_then(Failure::seq),
            Some(gone as u64),
            "deleting entry {gone}: {report}"
        );
    }
}

#[test]
fn swapping_two_entries_fails_and_names_the_first_of_them() {
    let f = fixture();
    let all = lines(&f.path);
    for a in 0..all.len() {
        for b in a + 1..all.len() {
            let mut swapped = all.clone();
            swapped.swap(a, b);
            fs::write(&f.path, swapped.concat()).unwrap();
            let report = check(&f.path);
            assert_eq!(
                report.failure.as_ref().and_then(Failure::seq),
                Some(a as u64),
                "swapping {a} and {b}: {report}"
            );
        }
    }
}

#[test]
fn cutting_the_last_entry_off_fails_through_the_head() {
    let f = fixture();
    let all = lines(&f.path);
    fs::write(&f.path, all[..3].concat()).unwrap();
    let report = check(&f.path);
    assert!(
        matches!(
            report.failure,
            Some(Failure::Truncated { recorded: 4, at }) if at.seq == 3
        ),
        "{report}"
    );
    // And appending does not paper over it.
    let err = Ledger::open(&f.path, &f.key).unwrap_err();
    assert!(matches!(err, Error::NeedsVerify { .. }), "{err}");
}

#[test]
fn a_missing_head_fails_verification() {
    let f = fixture();
    fs::remove_file(head_path(&f.path)).unwrap();
    let report = check(&f.path);
    assert_eq!(report.failure, Some(Failure::Head(HeadFault::Missing)));
}

#[test]
fn a_head_from_another_ledger_of_the_same_node_fails_verification() {
    let f = fixture();
    let other = f.path.with_file_name("other.ledger");
    let mut ledger = Ledger::open(&other, &f.key).unwrap();
    for i in 0..3 {
        ledger.append(kind::ACTION, json!({"i": i})).unwrap();
    }
    fs::copy(head_path(&other), head_path(&f.path)).unwrap();
    let report = check(&f.path);
    assert_eq!(report.failure, Some(Failure::Head(HeadFault::OtherLedger)));
}

#[test]
fn a_head_one_entry_behind_is_a_warning_and_the_next_append_repairs_it() {
    let f = fixture();
    let head = head_path(&f.path);
    let before = fs::read(&head).unwrap();
    Ledger::open(&f.path, &f.key)
        .unwrap()
        .append(kind::ACTION, json!({"n": 4}))
        .unwrap();
    // As if the process died between writing the entry and the head.
    fs::write(&head, before).unwrap();
    let report = check(&f.path);
    assert!(report.ok() && report.head_behind, "{report}");
    assert!(report.to_string().contains("one entry behind"), "{report}");

    Ledger::open(&f.path, &f.key)
        .unwrap()
        .append(kind::ACTION, json!({"n": 5}))
        .unwrap();
    let report = check(&f.path);
    assert!(report.ok() && !report.head_behind, "{report}");
    assert_eq!(report.entries, 6);
}

#[test]
fn a_torn_tail_is_reported_and_the_next_append_sets_it_aside_and_records_it() {
    let f = fixture();
    let complete = fs::read(&f.path).unwrap();
    let torn = br#"{"seq":4,"time":"2025-01-01T00:00:00.000Z","kind":"act"#;
    fs::write(&f.path, [&complete[..], torn].concat()).unwrap();

    let report = check(&f.path);
    assert!(report.ok(), "{report}");
    assert_eq!(report.entries, 4);
    let tail = report.torn_tail.expect("the torn tail is reported");
    assert_eq!((tail.line, tail.bytes), (5, torn.len() as u64));
    assert_eq!(tail.offset, complete.len() as u64);
    assert!(report.to_string().contains("torn tail"), "{report}");
    assert!(show(&f.path).unwrap().contains("torn tail"));

    let mut ledger = Ledger::open(&f.path, &f.key).unwrap();
    let entry = ledger
        .append(kind::ACTION, json!({"after": "crash"}))
        .unwrap();
    assert_eq!(entry.seq, 5, "seq 4 is the recovery entry");
    let report = check(&f.path);
    assert!(report.ok() && report.torn_tail.is_none(), "{report}");

    let recovery = lines(&f.path)[4].clone();
    let recovery = line::decode(recovery.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(recovery.entry.kind, kind::RECOVERY);
    assert_eq!(recovery.entry.data["torn_bytes"], torn.len());
    let saved = recovery.entry.data["saved_to"].as_str().unwrap();
    assert_eq!(fs::read(f.path.with_file_name(saved)).unwrap(), torn);
}

#[test]
fn a_ledger_whose_creation_was_torn_starts_over_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = NodeKey::load_or_create(dir.path()).unwrap();
    let path = dir.path().join("giot.ledger");
    fs::write(&path, b"{\"seq\":0,\"ti").unwrap();
    assert_eq!(check(&path).failure, Some(Failure::Empty));
    Ledger::open(&path, &key).unwrap();
    let report = check(&path);
    assert!(report.ok(), "{report}");
    assert_eq!(report.entries, 2);
    assert!(show(&path).unwrap().contains(kind::RECOVERY));
}

#[test]
fn verifying_against_another_key_fails_at_the_genesis() {
    let f = fixture();
    let stranger = tempfile::tempdir().unwrap();
    let other = NodeKey::load_or_create(stranger.path()).unwrap();
    let report = verify(&f.path, Some(&other.public_key())).unwrap();
    assert!(
        matches!(
            &report.failure,
            Some(Failure::Entry { at, fault: Fault::Genesis(_) }) if at.seq == 0
        ),
        "{report}"
    );
    let report = verify(&f.path, Some(&f.key.public_key())).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.key, KeySource::Given(f.key.public_key()));
}

#[test]
fn a_ledger_rewritten_by_another_key_verifies_only_self_asserted() {
    // Whoever holds another key can forge a whole ledger; only --pubkey tells.
    let f = fixture();
    let stranger = tempfile::tempdir().unwrap();
    let other = NodeKey::load_or_create(stranger.path()).unwrap();
    let forged = f.path.with_file_name("forged.ledger");
    Ledger::open(&forged, &other)
        .unwrap()
        .append(kind::ACTION, json!({}))
        .unwrap();
    let report = verify(&forged, None).unwrap();
    assert!(report.ok());
    assert!(report.to_string().contains("self-asserted"), "{report}");
    assert!(!verify(&forged, Some(&f.key.public_key())).unwrap().ok());
}

#[test]
fn opening_another_nodes_ledger_is_refused() {
    let f = fixture();
    let stranger = tempfile::tempdir().unwrap();
    let other = NodeKey::load_or_create(stranger.path()).unwrap();
    let err = Ledger::open(&f.path, &other).unwrap_err();
    assert!(matches!(err, Error::ForeignLedger { .. }), "{err}");
}

#[test]
fn reserved_and_malformed_kinds_are_refused() {
    let f = fixture();
    let mut ledger = Ledger::open(&f.path, &f.key).unwrap();
    for bad in ["genesis", "recovery", "", "Action", "a b", "9x"] {
        let err = ledger.append(bad, json!({})).unwrap_err();
        assert!(matches!(err, Error::BadKind(_)), "{bad}: {err}");
    }
    assert_eq!(check(&f.path).entries, 4);
}
