//! Standing rules through `giot bridge`, against a real mosquitto, `giot
//! sim` (the dehumidifier) and the real model, with the test as the cellar's
//! humidity sensor: a rule is armed only after its confirmation token, acts
//! once per crossing (not on every reading above the threshold), acts back
//! below its reverse threshold, survives a SIGKILL of the bridge (a crossing
//! while it was down acts once after the restart), stops when disabled from
//! the command line, and every firing is in the ledger with its reading.

use std::path::Path;
use std::time::Duration;

use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::{Value, json};

use super::bridge::{Client, start_bridge};
use super::harness::{
    Mosquitto, Process, assert_ledger_verifies, demo_devices, giot, spawn_sim_with,
};

pub(super) const SENSOR: &str = "home/cellar/climate_sensor/state";
const DEHUMIDIFIER_SET: &str = "home/cellar/dehumidifier_plug/set";
pub(super) const RULE: &str =
    "if the cellar humidity goes above 70%, switch on the dehumidifier, and off again below 60%";

/// The sensor (the test) and what the dehumidifier is told.
pub(super) struct Cellar {
    link: Link,
    commands: Vec<String>,
}

impl Cellar {
    pub(super) async fn start(url: &str) -> Self {
        let mut link = Link::start(
            &ConnectOptions::new(url, "cellar"),
            vec![DEHUMIDIFIER_SET.into()],
        )
        .unwrap();
        link.wait_connected(Duration::from_secs(30), |_| {})
            .await
            .unwrap();
        Self {
            link,
            commands: Vec::new(),
        }
    }

    /// Publishes a humidity reading (retained, as sensors do).
    pub(super) async fn humidity(&self, value: f64) {
        self.link
            .publish(
                SENSOR,
                json!({"humidity": value, "temperature": 18.0}).to_string(),
                true,
            )
            .await
            .unwrap();
    }

    /// The commands that arrived within `wait`, all of them so far.
    pub(super) async fn settle(&mut self, wait: Duration) -> &[String] {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.link.recv()).await {
            if let LinkEvent::Message { topic, payload, .. } = event
                && topic == DEHUMIDIFIER_SET
            {
                let v: Value = serde_json::from_slice(&payload).unwrap();
                self.commands.push(v["power"].as_str().unwrap().to_string());
            }
        }
        &self.commands
    }
}

/// The demo fleet without its cellar sensor, for the simulator: the test
/// publishes that sensor's readings itself.
pub(super) fn fleet_without_sensor(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(demo_devices()).unwrap();
    let start = text.find("  - id: cellar_sensor").unwrap();
    let end = start + 5 + text[start + 5..].find("  - id:").unwrap();
    let path = dir.join("sim.yaml");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
    path
}

fn bridge(url: &str, store: &Path, ledger: &Path) -> Process {
    let ledger = ledger.to_str().unwrap();
    Process(start_bridge(
        url,
        store,
        &["--rule-interval", "1", "--ledger", ledger],
    ))
}

pub(super) async fn result(client: &mut Client, id: &str) -> Value {
    assert!(
        client
            .pump_until(Duration::from_secs(30), |c| c.results.contains_key(id))
            .await,
        "no result for {id}"
    );
    client.results[id].last().unwrap().clone()
}

/// Waits for the `n`th result published under the rule's id.
pub(super) async fn fired(client: &mut Client, rule: &str, n: usize) -> Value {
    assert!(
        client
            .pump_until(Duration::from_secs(20), |c| c
                .results
                .get(rule)
                .is_some_and(|r| r.len() >= n))
            .await,
        "rule {rule} did not act a {n}th time"
    );
    client.results[rule][n - 1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_is_armed_by_its_token_acts_on_each_crossing_and_survives_a_sigkill() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let _sim = spawn_sim_with(&broker.url(), "5", &fleet_without_sensor(dir.path()));
    let store = dir.path().join("bridge.redb");
    let ledger = dir.path().join("rules.ledger");
    let mut client = Client::start(&broker.url()).await;
    let mut cellar = Cellar::start(&broker.url()).await;
    cellar.humidity(50.0).await;

    let mut b = bridge(&broker.url(), &store, &ledger);
    client.wait_online().await;
    client.send(&json!({"id": "rule-1", "goal": RULE})).await;
    let asked = result(&mut client, "rule-1").await;
    assert_eq!(asked["status"], "needs_confirmation", "{asked}");
    assert_eq!(asked["rule"]["condition"]["device"], "cellar_sensor");
    assert_eq!(asked["rule"]["condition"]["value"], 70);
    assert_eq!(asked["rule"]["otherwise"]["condition"]["value"], 60);
    // Not armed before the yes: a crossing does nothing.
    cellar.humidity(75.0).await;
    assert!(cellar.settle(Duration::from_secs(2)).await.is_empty());
    cellar.humidity(50.0).await;

    let token = asked["confirm_token"].as_str().unwrap();
    client
        .send(&json!({"id": "rule-1-yes", "confirm": token}))
        .await;
    let armed = result(&mut client, "rule-1-yes").await;
    assert_eq!(armed["status"], "rule", "{armed}");
    let rule = armed["rule"]["id"].as_str().unwrap().to_string();

    // 50 → 72: on, once, though it stays above.
    cellar.humidity(72.0).await;
    let on = fired(&mut client, &rule, 1).await;
    assert_eq!(on["status"], "executed", "{on}");
    assert_eq!(on["actions"][0]["value"], "on");
    assert_eq!(on["actions"][0]["confirmed"], true, "{on}");
    for v in [75.0, 80.0, 65.0] {
        cellar.humidity(v).await;
    }
    assert_eq!(cellar.settle(Duration::from_secs(3)).await, ["on"]);
    // Below 60: off, once.
    cellar.humidity(55.0).await;
    let off = fired(&mut client, &rule, 2).await;
    assert_eq!(off["actions"][0]["value"], "off", "{off}");
    cellar.humidity(50.0).await;
    assert_eq!(cellar.settle(Duration::from_secs(2)).await, ["on", "off"]);

    // Killed; the humidity crosses while it is down: it acts once when
    // back, and not again after a second restart.
    let _ = b.0.kill();
    let _ = b.0.wait();
    cellar.humidity(78.0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut b = bridge(&broker.url(), &store, &ledger);
    client.wait_online().await;
    let again = fired(&mut client, &rule, 3).await;
    assert_eq!(again["actions"][0]["value"], "on", "{again}");
    assert_eq!(
        cellar.settle(Duration::from_secs(2)).await,
        ["on", "off", "on"]
    );
    let _ = b.0.kill();
    let _ = b.0.wait();
    let _b = bridge(&broker.url(), &store, &ledger);
    client.wait_online().await;
    assert_eq!(
        cellar.settle(Duration::from_secs(3)).await,
        ["on", "off", "on"],
        "acted once, not once per restart"
    );

    // Disabled from the command line: the running bridge stops acting.
    let rules = store.with_extension("rules.json");
    let out = giot()
        .args(["rules", "disable", "--rules"])
        .arg(&rules)
        .arg(&rule)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    cellar.humidity(40.0).await;
    assert_eq!(cellar.settle(Duration::from_secs(3)).await.len(), 3);
    let list = giot()
        .args(["rules", "list", "--json", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["id"], rule.as_str());
    assert_eq!(list[0]["enabled"], false);

    // Every firing is in the ledger with the reading that triggered it.
    assert_ledger_verifies(&ledger);
    let text = std::fs::read_to_string(&ledger).unwrap();
    for reading in ["(read 72%)", "(read 55%)", "(read 78%)"] {
        assert!(text.contains(reading), "{reading} not in the ledger");
    }
}

#[test]
fn run_shows_a_rule_it_understood_but_keeps_none_and_refuses_what_it_cannot_pin() {
    let broker = Mosquitto::start();
    let run = |goal: &str| {
        let out = giot()
            .args(["run", "--json", "--no-ledger", "--broker"])
            .arg(broker.url())
            .arg("--devices")
            .arg(demo_devices())
            .arg("--model")
            .arg(super::llm::model_path())
            .arg(goal)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "{goal}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let o = run("turn on the hall light when the front door opens");
    assert!(
        o["reason"].as_str().unwrap().contains("keeps no rules"),
        "{o}"
    );
    assert_eq!(o["rule"]["condition"]["device"], "front_door_contact");
    assert_eq!(o["rule"]["actions"][0]["device"], "hall_light");
    assert!(
        o["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["confirmed"].is_null())
    );
    for goal in [
        "if the cellar gets damp, switch on the dehumidifier",
        "if the garage temperature goes above 30 degrees, turn on the study fan",
    ] {
        let o = run(goal);
        assert!(o.get("rule").is_none(), "{goal}: {o}");
        assert!(
            o["reason"].as_str().unwrap().contains("cannot be armed"),
            "{goal}: {o}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_a_confirm_device_asks_when_it_fires_and_publishes_nothing() {
    const LOCK_SET: &str = "home/hallway/front_door/set";
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let _sim = spawn_sim_with(&broker.url(), "5", &fleet_without_sensor(dir.path()));
    let store = dir.path().join("bridge.redb");
    let mut client = Client::start(&broker.url()).await;
    let cellar = Cellar::start(&broker.url()).await;
    let mut lock = Link::start(
        &ConnectOptions::new(broker.url(), "lock-watch"),
        vec![LOCK_SET.into()],
    )
    .unwrap();
    lock.wait_connected(Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    cellar.humidity(50.0).await;
    let _b = bridge(&broker.url(), &store, &dir.path().join("l.ledger"));
    client.wait_online().await;
    client
        .send(&json!({"id": "c-1", "goal": "when the cellar humidity goes above 90%, unlock the front door"}))
        .await;
    let asked = result(&mut client, "c-1").await;
    assert_eq!(asked["status"], "needs_confirmation", "{asked}");
    let token = asked["confirm_token"].as_str().unwrap();
    client
        .send(&json!({"id": "c-1-yes", "confirm": token}))
        .await;
    let armed = result(&mut client, "c-1-yes").await;
    assert_eq!(armed["status"], "rule", "{armed}");
    let rule = armed["rule"]["id"].as_str().unwrap().to_string();

    // The yes armed the rule, not the door: when it fires, the policy asks
    // again and nothing reaches the lock.
    cellar.humidity(95.0).await;
    let fired = fired(&mut client, &rule, 1).await;
    assert_eq!(fired["status"], "needs_confirmation", "{fired}");
    assert_eq!(fired["actions"][0]["device"], "front_door");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, lock.recv()).await {
        if let LinkEvent::Message { topic, .. } = event {
            assert_ne!(topic, LOCK_SET, "the lock was commanded");
        }
    }
}
