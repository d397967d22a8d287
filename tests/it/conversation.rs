//! Goals in conversation against a real mosquitto, `giot sim` and the real
//! default model: a follow-up acts on the previous goal's device, and an
//! answer completes the goal giot asked back about (`giot run
//! --conversation`, kept on disk between runs).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::harness::{Mosquitto, giot, spawn_sim_with};
use super::llm::model_path;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/intents/home.en.yaml")
}

/// `giot run --json --conversation c1 ARGS` with its state in `state`.
fn said(broker: &Mosquitto, state: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = giot()
        .env("XDG_STATE_HOME", state)
        .args(["run", "--json", "--no-ledger", "--conversation", "c1"])
        .args(["--broker", &broker.url(), "--devices"])
        .arg(fixture())
        .arg("--model")
        .arg(model_path())
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), json)
}

fn actions(json: &Value) -> Vec<(String, String, Value)> {
    json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["device"].as_str().unwrap().to_string(),
                a["capability"].as_str().unwrap().to_string(),
                a["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_follow_up_acts_on_the_previous_goals_device_and_an_answer_completes_a_question() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim_with(&broker.url(), "0.5", &fixture());
    let state = tempfile::tempdir().unwrap();

    let (code, json) = said(&broker, state.path(), &["turn on the pendant lamp"]);
    assert_eq!(
        (code, json["status"].as_str()),
        (Some(0), Some("executed")),
        "{json}"
    );
    let (code, json) = said(&broker, state.path(), &["turn it off again"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        actions(&json),
        vec![("pendant_lamp".into(), "power".into(), "off".into())],
        "{json}"
    );
    assert_eq!(json["actions"][0]["confirmed"], true, "{json}");

    // Asked back, then answered: the pending goal on the device named.
    let (code, json) = said(&broker, state.path(), &["lock the door"]);
    assert_eq!(code, Some(5), "{json}");
    let (code, json) = said(&broker, state.path(), &["--yes", "the side one"]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(
        actions(&json),
        vec![("side_door".into(), "lock".into(), "locked".into())],
        "{json}"
    );

    // Another conversation shares nothing.
    let out = giot()
        .env("XDG_STATE_HOME", state.path())
        .args(["run", "--json", "--no-ledger", "--conversation", "c2"])
        .args(["--broker", &broker.url(), "--devices"])
        .arg(fixture())
        .arg("--model")
        .arg(model_path())
        .arg("turn it off again")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));

    // An id that cannot name a file is a usage error.
    let (code, _) = {
        let out = giot()
            .args(["run", "--conversation", "../x", "--devices"])
            .arg(fixture())
            .arg("turn it off")
            .output()
            .unwrap();
        (out.status.code(), ())
    };
    assert_eq!(code, Some(2));
}
