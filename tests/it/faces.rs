//! Same goal, same result, everywhere: the goals of each kind the agent
//! meets go through `giot run --json`, `giot eval`, the bridge, `giot mcp`
//! and `giot tui` (in tmux) against one mosquitto and `giot sim`, and every
//! face reports the same status and actions and records the same goals in
//! its ledger.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::bridge::{Client as BridgeClient, start_bridge};
use super::harness::{Mosquitto, Process, spawn_sim};

/// One goal of each kind, with the status every face must report.
const GOALS: [(&str, &str); 7] = [
    ("turn on the kitchen light", "executed"),
    ("switch off the hall light and the garden light", "executed"),
    ("unlock the front door", "needs_confirmation"),
    ("turn on the sauna", "refused"),
    ("how humid is the cellar?", "answered"),
    // Announced on the broker, not in devices.yaml.
    ("turn on the fountain pump", "executed"),
    // A market proposal: a person's call on every face.
    ("publish the cheaper menu", "needs_confirmation"),
];

/// Status and the set of (device, capability, value) of a result.
fn summary(result: &Value) -> (String, BTreeSet<String>) {
    let actions = result["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| format!("{}.{}={}", a["device"], a["capability"], a["value"]))
                .collect()
        })
        .unwrap_or_default();
    (
        result["status"].as_str().unwrap_or("?").to_string(),
        actions,
    )
}

/// The goals recorded as executed actions in a ledger that verifies.
fn ledger_goals(path: &Path) -> BTreeSet<String> {
    super::harness::assert_ledger_verifies(path);
    ledger_goals_unchecked(path)
}

fn announce_pump(broker: &Mosquitto) {
    for (topic, payload) in [
        (
            "homeassistant/switch/fountain/config",
            r#"{"name": "Fountain pump", "unique_id": "fountain_pump", "cmd_t": "garden/fountain/set", "stat_t": "garden/fountain/state"}"#,
        ),
        ("garden/fountain/state", "OFF"),
    ] {
        let status = std::process::Command::new("mosquitto_pub")
            .args(["-p", &broker.port.to_string(), "-r", "-q", "1"])
            .args(["-t", topic, "-m", payload])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_goals_get_the_same_outcomes_and_ledger_entries_on_every_face() {
    let broker = Mosquitto::start();
    let _sim: Process = spawn_sim(&broker.url(), "1");
    announce_pump(&broker);
    let dir = tempfile::tempdir().unwrap();

    // giot run --json, one process per goal.
    let run_ledger = dir.path().join("run.ledger");
    let mut by_run = Vec::new();
    for (goal, want) in GOALS {
        let (_, result) = super::run::run_at(
            &broker.url(),
            &["--ledger", run_ledger.to_str().unwrap(), goal],
        );
        assert_eq!(result["status"], want, "run: {goal}: {result}");
        by_run.push(summary(&result));
    }
    // The announced pump itself, not a device.yaml one with a similar name.
    assert!(
        !by_run[5].1.is_empty() && by_run[5].1.iter().all(|a| a.contains("fountain")),
        "{by_run:?}"
    );

    // giot eval: the run's outcomes as the expected ones must all pass.
    let cases = dir.path().join("faces.jsonl");
    let lines: Vec<String> = GOALS
        .iter()
        .zip(&by_run)
        .map(|((goal, _), (status, actions))| {
            let actions: Vec<Value> = actions
                .iter()
                .map(|a| {
                    let (dc, v) = a.split_once('=').unwrap();
                    let (d, c) = dc.split_once('.').unwrap();
                    json!([
                        d.trim_matches('"'),
                        c.trim_matches('"'),
                        serde_json::from_str::<Value>(v).unwrap()
                    ])
                })
                .collect();
            json!({"goal": goal, "status": status, "actions": actions}).to_string()
        })
        .collect();
    std::fs::write(&cases, lines.join("\n")).unwrap();
    let out = super::harness::giot()
        .args([
            "eval",
            "--json",
            "--no-baseline",
            "--broker",
            &broker.url(),
            "--devices",
        ])
        .arg(super::harness::demo_devices())
        .arg("--model")
        .arg(super::llm::model_path())
        .arg(&cases)
        .output()
        .unwrap();
    let eval: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(eval["accuracy"], 1.0, "eval: {eval}");

    // The bridge.
    let bridge_ledger = dir.path().join("bridge.ledger");
    let store = dir.path().join("bridge.redb");
    let mut bridge = Process(start_bridge(
        &broker.url(),
        &store,
        &["--ledger", bridge_ledger.to_str().unwrap()],
    ));
    let mut client = BridgeClient::start(&broker.url()).await;
    client.wait_online().await;
    for (i, (goal, _)) in GOALS.iter().enumerate() {
        let id = format!("face-{i}");
        client.send(&json!({"id": id, "goal": goal})).await;
        assert!(
            client
                .pump_until(Duration::from_secs(60), |c| c.results.contains_key(&id))
                .await,
            "the bridge did not answer {goal}"
        );
        let result = &client.results[&id][0];
        assert_eq!(summary(result), by_run[i], "bridge: {goal}: {result}");
    }
    let _ = bridge.0.kill();

    // giot mcp.
    let mcp_ledger = dir.path().join("mcp.ledger");
    let mcp = super::mcp::start(&broker, &mcp_ledger, &dir.path().join("mcp.log")).await;
    for (i, (goal, _)) in GOALS.iter().enumerate() {
        let result = super::mcp::ok(&mcp, "run_goal", json!({"goal": goal})).await;
        assert_eq!(summary(&result), by_run[i], "mcp: {goal}: {result}");
    }
    let _ = mcp.cancel().await;

    // giot tui, typed into as an operator would.
    let tui_ledger = dir.path().join("tui.ledger");
    tui_face(&broker, &tui_ledger, &dir.path().join("tui.log"));

    // Every face recorded the executed goals, and only those.
    let executed: BTreeSet<String> = GOALS
        .iter()
        .filter(|(_, s)| *s == "executed")
        .map(|(g, _)| g.to_string())
        .collect();
    for ledger in [&run_ledger, &bridge_ledger, &mcp_ledger, &tui_ledger] {
        assert_eq!(ledger_goals(ledger), executed, "{}", ledger.display());
    }
}

/// The goals typed into `giot tui`: each shows its kind of outcome in the
/// conversation (a plan that waits for a yes is answered no).
fn tui_face(broker: &Mosquitto, ledger: &Path, log: &Path) {
    let tmux = super::tui::Tmux(format!("giot-faces-{}", broker.port));
    let command = format!(
        "env XDG_DATA_HOME={} {} tui --broker {} --devices {} --model {} --ledger {} --log-file {}",
        ledger.parent().unwrap().display(),
        env!("CARGO_BIN_EXE_giot"),
        broker.url(),
        super::harness::demo_devices().display(),
        super::llm::model_path().display(),
        ledger.display(),
        log.display()
    );
    let status = std::process::Command::new("tmux")
        .args(["new-session", "-d", "-s", &tmux.0, "-x", "200", "-y", "50"])
        .arg(&command)
        .status()
        .expect("tmux is installed (scripts/setup)");
    assert!(status.success());
    tmux.wait_for("ready", Duration::from_secs(60));
    let wait = Duration::from_secs(20);
    for (goal, status) in GOALS {
        tmux.keys(&[":"]);
        tmux.keys(&["-l", goal]);
        tmux.keys(&["Enter"]);
        match status {
            "executed" => {
                let deadline = std::time::Instant::now() + wait;
                while !ledger_goals_unchecked(ledger).contains(goal) {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "tui: {goal} not recorded; screen:\n{}",
                        tmux.screen()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            "needs_confirmation" => {
                // A menu is shown with its audit in the market tab.
                let deadline = std::time::Instant::now() + wait;
                while !["needs your confirmation", "Propose this menu"]
                    .iter()
                    .any(|m| tmux.screen().contains(m))
                {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "tui: no confirmation asked for {goal}; screen:\n{}",
                        tmux.screen()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                // The answer returns to the tree.
                tmux.keys(&["n"]);
                tmux.wait_for("no: nothing published", wait);
                continue;
            }
            "refused" => drop(tmux.wait_for("refused: ", wait)),
            "answered" => drop(tmux.wait_for("humidity is", wait)),
            other => panic!("no TUI check for {other}"),
        }
        // Back to the tree (Tab leaves the goal line) for the next goal.
        tmux.keys(&["Tab"]);
    }
    tmux.keys(&["C-c"]);
}

/// The goals in a ledger, before it is complete.
fn ledger_goals_unchecked(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "action")
        .filter_map(|e| e["data"]["goal"].as_str().map(String::from))
        .collect()
}
