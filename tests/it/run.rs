//! `giot run` end to end: the real binary, the real default model, a real
//! mosquitto and `giot sim`.

use std::process::{Output, Stdio};
use std::time::Duration;

use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::Value;

use super::harness::{Mosquitto, Process, demo_devices, giot, spawn_sim};
use super::llm::model_path;

fn start_fleet() -> (Mosquitto, Process) {
    let broker = Mosquitto::start();
    let sim = spawn_sim(&broker.url(), "0.5");
    // Wait until the simulator's retained states are on the broker.
    let out = std::process::Command::new("mosquitto_sub")
        .args([
            "-p",
            &broker.port.to_string(),
            "-t",
            "fleet/vehicles/taxi_01/state",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "the simulator did not come up");
    (broker, sim)
}

fn run(broker: &Mosquitto, args: &[&str]) -> (Output, Value) {
    run_at(&broker.url(), args)
}

/// `giot run --json` against the broker at `url`.
pub(super) fn run_at(url: &str, args: &[&str]) -> (Output, Value) {
    let out = giot()
        .args(["run", "--json", "--broker", url, "--devices"])
        .arg(demo_devices())
        .arg("--model")
        .arg(model_path())
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

/// (device, capability, value)
type Expected = (String, String, Value);

fn actions(json: &Value) -> Vec<Expected> {
    let mut v: Vec<_> = json["actions"]
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
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

fn act(device: &str, cap: &str, value: Value) -> Expected {
    (device.into(), cap.into(), value)
}

#[test]
fn goals_of_every_kind_end_with_the_expected_status_and_confirmed_actions() {
    use serde_json::json;
    let (broker, _sim) = start_fleet();
    let cases: Vec<(&str, &str, Vec<Expected>, i32)> = vec![
        (
            "dim the hall light to 10%",
            "executed",
            vec![act("hall_light", "brightness", json!(10))],
            0,
        ),
        (
            "switch on the anglepoise",
            "executed",
            vec![act("desk_lamp", "power", json!("on"))],
            0,
        ),
        (
            "open the living room blinds halfway",
            "executed",
            vec![act("living_blinds", "position", json!(50))],
            0,
        ),
        (
            "set the bedroom fan to high",
            "executed",
            vec![act("bedroom_fan", "speed", json!("high"))],
            0,
        ),
        (
            "set the living room thermostat to 21.5 degrees",
            "executed",
            vec![act("living_thermostat", "target_temperature", json!(21.5))],
            0,
        ),
        (
            "turn off all the lights in the study",
            "executed",
            vec![
                act("desk_lamp", "power", json!("off")),
                act("study_light", "power", json!("off")),
            ],
            0,
        ),
        (
            "turn on the kitchen light and the coffee machine",
            "executed",
            vec![
                act("coffee_plug", "power", json!("on")),
                act("kitchen_light", "power", json!("on")),
            ],
            0,
        ),
        (
            "set the hall light to 150% brightness",
            "refused",
            vec![],
            4,
        ),
        ("set the cellar humidity to 40%", "refused", vec![], 4),
        ("turn on the sauna", "refused", vec![], 4),
        ("how humid is the cellar?", "answered", vec![], 0),
        (
            "unlock the front door",
            "needs_confirmation",
            vec![act("front_door", "lock", json!("unlocked"))],
            3,
        ),
    ];
    for (goal, status, want, code) in cases {
        let (out, json) = run(&broker, &[goal]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{goal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json["status"], status, "{goal}: {json}");
        assert_eq!(actions(&json), want, "{goal}: {json}");
        if status == "executed" {
            for a in json["actions"].as_array().unwrap() {
                assert_eq!(a["confirmed"], true, "{goal}: {json}");
            }
        }
        if status == "answered" {
            assert!(json["answer"].as_str().unwrap().contains('%'), "{json}");
        }
        if status == "refused" {
            assert!(!json["reason"].as_str().unwrap().is_empty());
        }
    }
}

#[tokio::test]
async fn a_confirm_device_gets_nothing_without_yes_and_the_command_with_it() {
    let (broker, _sim) = start_fleet();
    let mut spy = Link::start(
        &ConnectOptions::new(broker.url(), "spy"),
        vec!["home/hallway/front_door/set".into()],
    )
    .unwrap();
    spy.wait_connected(Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let url = broker.url();
    let (out, json) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run_at(&url, &["unlock the front door"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(json["status"], "needs_confirmation");
    let published = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Some(LinkEvent::Message { .. }) = spy.recv().await {
                return true;
            }
        }
    })
    .await;
    assert!(published.is_err(), "something was published without --yes");

    let (out, json) =
        tokio::task::spawn_blocking(move || run_at(&url, &["--yes", "unlock the front door"]))
            .await
            .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json["status"], "executed");
    assert_eq!(json["actions"][0]["confirmed"], true);
    let got = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(LinkEvent::Message { payload, .. }) = spy.recv().await {
                return payload;
            }
        }
    })
    .await
    .expect("the confirmed command was published");
    assert_eq!(&got[..], br#"{"lock":"unlocked"}"#);
}

#[test]
fn executed_actions_are_recorded_in_a_ledger_that_verifies() {
    let (broker, _sim) = start_fleet();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("run.ledger");
    let ledger_arg = ledger.to_str().unwrap();
    let (out, _) = run(
        &broker,
        &["--ledger", ledger_arg, "turn on the garage light"],
    );
    assert_eq!(out.status.code(), Some(0));
    // Nothing executed, nothing recorded.
    run(
        &broker,
        &["--ledger", ledger_arg, "is the garage light on?"],
    );
    let show = giot()
        .args(["ledger", "show", ledger_arg])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    let entries: Vec<&str> = text.lines().filter(|l| l.contains(" action ")).collect();
    assert_eq!(entries.len(), 1, "{text}");
    assert!(entries[0].contains("garage_light"), "{text}");
    let raw = std::fs::read_to_string(&ledger).unwrap();
    assert!(
        raw.contains("turn on the garage light") && raw.contains("\"confirmed_by\":\"policy\""),
        "{raw}"
    );
    super::harness::assert_ledger_verifies(&ledger);
}

#[test]
fn a_dry_run_plans_and_publishes_nothing() {
    let (broker, _sim) = start_fleet();
    let (out, json) = run(&broker, &["--dry-run", "turn on the garden light"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json["status"], "planned");
    assert_eq!(json["actions"][0]["confirmed"], Value::Null);
    let (_, json) = run(&broker, &["is the garden light on?"]);
    assert!(
        json["answer"].as_str().unwrap().contains("power is off"),
        "{json}"
    );
}

fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    err
}

#[test]
fn failures_give_a_one_line_error_and_the_documented_exit_code() {
    let port = super::harness::free_port();
    let broker = format!("mqtt://127.0.0.1:{port}");
    let base = |model: &std::path::Path| {
        let mut c = giot();
        c.args(["run", "--broker", &broker, "--devices"])
            .arg(demo_devices())
            .arg("--model")
            .arg(model);
        c
    };
    // Unreachable broker: runtime failure.
    let out = base(&model_path())
        .arg("turn on the hall light")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("cannot reach the broker"));
    // Empty goal: usage error.
    let out = base(&model_path()).arg("  ").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("empty"));
    // Missing and corrupt model files: runtime failure, checked before the broker.
    let mosquitto = Mosquitto::start();
    let base = |model: &std::path::Path| {
        let mut c = giot();
        c.args(["run", "--broker", &mosquitto.url(), "--devices"])
            .arg(demo_devices())
            .arg("--model")
            .arg(model);
        c
    };
    let out = base(std::path::Path::new("/nonexistent/model.gguf"))
        .arg("turn on the hall light")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("scripts/fetch-model"));
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt, vec![7u8; 4096]).unwrap();
    let out = base(&corrupt)
        .arg("turn on the hall light")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_error(&out).contains("cannot load model"));
}

fn eval(devices: &std::path::Path, goals: &str) -> Value {
    let broker = Mosquitto::start();
    let _sim = Process(
        giot()
            .args(["sim", "--tick", "1", "--broker", &broker.url(), "--devices"])
            .arg(devices)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = giot()
        .args(["eval", "--json", "--broker", &broker.url(), "--devices"])
        .arg(devices)
        .arg("--model")
        .arg(model_path())
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(goals))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The accuracy of one category of an evaluation report.
fn category(report: &Value, name: &str) -> f64 {
    report["categories"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["category"] == name))
        .and_then(|c| c["accuracy"].as_f64())
        .unwrap_or_else(|| panic!("no category {name} in {report}"))
}

#[test]
fn the_demo_evaluation_meets_the_accuracy_target_with_the_real_model() {
    let report = eval(&demo_devices(), "tests/eval/goals.jsonl");
    // Relative goals start from the state each case sets on the simulated
    // fleet: every one lands on its value.
    for kind in ["relative", "scheduled", "follow_up", "rule"] {
        assert_eq!(
            category(&report, kind),
            1.0,
            "{kind}: {}",
            report["failures"]
        );
    }
    assert!(report["goals"].as_u64().unwrap() >= 80);
    assert!(
        report["accuracy"].as_f64().unwrap() >= 0.95,
        "{}",
        report["failures"]
    );
    assert_eq!(report["unconfirmed_actions"], 0, "{report}");
    assert!(report["baseline_accuracy"].is_number());
}

#[test]
fn a_fleet_and_goals_written_apart_from_the_agent_meet_it_too() {
    let devices =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eval/holdout/devices.yaml");
    let report = eval(&devices, "tests/eval/holdout/goals.jsonl");
    for kind in ["relative", "scheduled", "follow_up", "rule"] {
        assert_eq!(
            category(&report, kind),
            1.0,
            "{kind}: {}",
            report["failures"]
        );
    }
    assert!(
        report["accuracy"].as_f64().unwrap() >= 0.95,
        "{}",
        report["failures"]
    );
}
