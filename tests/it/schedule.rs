//! Goals for later through `giot bridge`, against a real mosquitto, `giot
//! sim` and the real model: a schedule runs once at its time, survives a
//! SIGKILL of the bridge and runs once (only once) after the restart, and a
//! cancelled one never runs.

use std::path::Path;
use std::time::Duration;

use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::{Value, json};

use super::bridge::{Client, start_bridge};
use super::harness::{Mosquitto, Process, giot, spawn_sim};

const HALL_SET: &str = "home/hallway/ceiling_light/set";

/// Counts the commands published to the hall light.
pub(super) struct Commands(Link, usize);

impl Commands {
    pub(super) async fn watch(url: &str) -> Self {
        let mut link = Link::start(
            &ConnectOptions::new(url, "watch-commands"),
            vec![HALL_SET.into()],
        )
        .unwrap();
        link.wait_connected(Duration::from_secs(30), |_| {})
            .await
            .unwrap();
        Self(link, 0)
    }

    /// Takes what arrived within `wait`.
    pub(super) async fn settle(&mut self, wait: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.0.recv()).await {
            if let LinkEvent::Message { topic, .. } = event
                && topic == HALL_SET
            {
                self.1 += 1;
            }
        }
        self.1
    }
}

pub(super) async fn scheduled(client: &mut Client, id: &str, goal: &str) -> Value {
    client.send(&json!({"id": id, "goal": goal})).await;
    assert!(
        client
            .pump_until(Duration::from_secs(30), |c| c.results.contains_key(id))
            .await,
        "no result for {id}"
    );
    let result = client.results[id][0].clone();
    assert_eq!(result["status"], "scheduled", "{result}");
    assert!(result["schedule"]["next"].is_string(), "{result}");
    result
}

fn kill9(bridge: &mut Process) {
    let _ = bridge.0.kill();
    let _ = bridge.0.wait();
}

fn bridge(url: &str, store: &Path) -> Process {
    Process(start_bridge(url, store, &["--time-zone", "Europe/Berlin"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_runs_once_at_its_time_and_once_after_a_sigkill() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "5");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("bridge.redb");
    let mut client = Client::start(&broker.url()).await;
    let mut commands = Commands::watch(&broker.url()).await;

    let mut b = bridge(&broker.url(), &store);
    client.wait_online().await;
    // Said now, run in 3 seconds: nothing is published before then.
    let result = scheduled(
        &mut client,
        "later-1",
        "turn on the hall light in 3 seconds",
    )
    .await;
    let sid = result["schedule"]["id"].as_str().unwrap().to_string();
    assert_eq!(commands.settle(Duration::from_millis(500)).await, 0);
    assert!(
        client
            .pump_until(Duration::from_secs(15), |c| c.results.contains_key(&sid))
            .await,
        "schedule {sid} did not run"
    );
    let ran = &client.results[&sid][0];
    assert_eq!(ran["status"], "executed", "{ran}");
    assert_eq!(ran["actions"][0]["confirmed"], true, "{ran}");
    assert_eq!(commands.settle(Duration::from_secs(3)).await, 1, "run once");

    // Made, then the bridge is killed before its time, which passes while
    // it is down: it runs once when the bridge is back, and never again.
    let result = scheduled(
        &mut client,
        "later-2",
        "turn off the hall light in 4 seconds",
    )
    .await;
    let sid = result["schedule"]["id"].as_str().unwrap().to_string();
    kill9(&mut b);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(commands.settle(Duration::from_millis(200)).await, 1);
    let mut b = bridge(&broker.url(), &store);
    client.wait_online().await;
    assert!(
        client
            .pump_until(Duration::from_secs(20), |c| c.results.contains_key(&sid))
            .await,
        "schedule {sid} did not run after the restart"
    );
    assert_eq!(client.results[&sid][0]["status"], "executed");
    assert_eq!(commands.settle(Duration::from_secs(3)).await, 2);
    kill9(&mut b);
    let _b = bridge(&broker.url(), &store);
    client.wait_online().await;
    assert_eq!(
        commands.settle(Duration::from_secs(3)).await,
        2,
        "not run twice"
    );
    assert_eq!(client.results[&sid].len(), 1);

    // Cancelled while the bridge runs: never runs.
    let result = scheduled(
        &mut client,
        "later-3",
        "turn on the hall light in 4 seconds",
    )
    .await;
    let sid = result["schedule"]["id"].as_str().unwrap().to_string();
    let schedules = store.with_extension("schedules.json");
    let out = giot()
        .args(["schedule", "cancel", "--schedules"])
        .arg(&schedules)
        .arg(&sid)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        commands.settle(Duration::from_secs(7)).await,
        2,
        "cancelled"
    );
    assert!(!client.results.contains_key(&sid));
    let list = giot()
        .args(["schedule", "list", "--json", "--schedules"])
        .arg(&schedules)
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list, json!([]));
}

#[test]
fn run_refuses_a_goal_for_later_instead_of_acting_now() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "5");
    let out = giot()
        .args([
            "run",
            "--json",
            "--no-ledger",
            "--broker",
            &broker.url(),
            "--devices",
        ])
        .arg(super::harness::demo_devices())
        .arg("--model")
        .arg(super::llm::model_path())
        .arg("turn off the hall light in 10 minutes")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(4), "{json}");
    assert!(json["actions"].as_array().unwrap().is_empty(), "{json}");
    assert!(
        json["reason"].as_str().unwrap().contains("giot bridge"),
        "{json}"
    );
}
