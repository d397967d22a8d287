//! The simulator and the MQTT link against real brokers: mosquitto, and the
//! embedded rumqttd.

use std::process::Stdio;
use std::time::Duration;

use giot::fleet::Fleet;
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use giot::sim::{self, SimConfig};
use serde_json::json;

use super::harness::{Mosquitto, Process, Watcher, demo_devices, demo_registry, free_port, giot};

const WAIT: Duration = Duration::from_secs(15);

fn every_device_has_state(fleet: &Fleet) -> bool {
    fleet
        .registry()
        .devices()
        .iter()
        .all(|d| fleet.state(&d.id).is_some())
}

fn start_sim(url: &str) -> tokio::sync::watch::Sender<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let registry = demo_registry();
    let options = ConnectOptions::new(url, "sim");
    tokio::spawn(async move {
        let config = SimConfig {
            tick: Duration::from_millis(200),
            seed: 1,
        };
        sim::run(&registry, &options, config, rx).await.unwrap();
    });
    tx
}

async fn command(link: &Link, topic: &str, payload: serde_json::Value) {
    link.publish(topic, payload.to_string(), false)
        .await
        .unwrap();
}

#[tokio::test]
async fn giot_sim_publishes_retained_state_for_every_device_and_applies_commands() {
    let broker = Mosquitto::start();
    let _sim = Process(
        giot()
            .args([
                "sim",
                "--tick",
                "0.2",
                "--broker",
                &broker.url(),
                "--devices",
            ])
            .arg(demo_devices())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut watcher = Watcher::start(&broker.url(), demo_registry());
    watcher
        .until(WAIT, "state of every device", every_device_has_state)
        .await;

    command(
        &watcher.link,
        "home/hallway/ceiling_light/set",
        json!({"power": "on", "brightness": 10}),
    )
    .await;
    watcher
        .until(WAIT, "the hall light to turn on", |f| {
            f.value("hall_light", "power") == Some(json!("on"))
                && f.value("hall_light", "brightness") == Some(json!(10))
        })
        .await;

    // A subscriber arriving now gets every state as a retained message.
    let mut late = Link::start(
        &ConnectOptions::new(broker.url(), "late"),
        vec!["home/#".into(), "fleet/#".into()],
    )
    .unwrap();
    let registry = demo_registry();
    let mut retained = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while retained.len() < registry.len() {
        match tokio::time::timeout_at(deadline, late.recv()).await {
            Ok(Some(LinkEvent::Message {
                topic,
                payload,
                retain: true,
            })) => {
                retained.insert(topic, payload);
            }
            Ok(Some(_)) => {}
            _ => panic!(
                "only {} of {} states were retained",
                retained.len(),
                registry.len()
            ),
        }
    }
    let hall: serde_json::Value =
        serde_json::from_slice(&retained["home/hallway/ceiling_light/state"]).unwrap();
    assert_eq!(hall["power"], "on");
}

#[tokio::test]
async fn invalid_commands_leave_the_state_unchanged_and_the_simulator_running() {
    let broker = Mosquitto::start();
    let _stop = start_sim(&broker.url());
    let mut watcher = Watcher::start(&broker.url(), demo_registry());
    watcher
        .until(WAIT, "state of every device", every_device_has_state)
        .await;
    let before = watcher.fleet.state("hall_light").unwrap();

    let topic = "home/hallway/ceiling_light/set";
    for bad in [
        &b"{not json"[..],
        br#"{"brightness": 150}"#,
        br#"{"power": "dim"}"#,
        br#"{"colour": "red"}"#,
        br#"["power", "on"]"#,
        b"\xff\xfe",
    ] {
        watcher
            .link
            .publish(topic, bad.to_vec(), false)
            .await
            .unwrap();
    }
    // The read-only humidity of the cellar sensor cannot be set either.
    watcher.settle(Duration::from_millis(500)).await;
    assert_eq!(watcher.fleet.state("hall_light").unwrap(), before);

    // Still alive: a valid command goes through.
    command(&watcher.link, topic, json!({"brightness": 42})).await;
    watcher
        .until(WAIT, "brightness 42", |f| {
            f.value("hall_light", "brightness") == Some(json!(42))
        })
        .await;
}

#[tokio::test]
async fn the_link_reconnects_after_a_broker_restart_and_the_tree_keeps_updating() {
    let mut broker = Mosquitto::start();
    let _stop = start_sim(&broker.url());
    let mut watcher = Watcher::start(&broker.url(), demo_registry());
    watcher
        .until(WAIT, "state of every device", every_device_has_state)
        .await;

    broker.kill();
    watcher
        .until(WAIT, "the link to notice the broker is gone", |f| {
            !f.connected()
        })
        .await;
    broker.restart();
    watcher
        .until(WAIT, "the link to reconnect", Fleet::connected)
        .await;

    let before = watcher.fleet.tree().messages();
    command(
        &watcher.link,
        "home/hallway/ceiling_light/set",
        json!({"brightness": 77}),
    )
    .await;
    watcher
        .until(WAIT, "the command after the restart", |f| {
            f.value("hall_light", "brightness") == Some(json!(77))
        })
        .await;
    // Sensors keep drifting, so the tree keeps growing.
    watcher
        .until(WAIT, "more telemetry", |f| {
            f.tree().messages() > before + 10
        })
        .await;
}

#[tokio::test]
async fn the_round_trip_works_on_the_embedded_broker() {
    let port = free_port();
    giot::broker::start(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let url = format!("mqtt://127.0.0.1:{port}");
    let _stop = start_sim(&url);
    let mut watcher = Watcher::start(&url, demo_registry());
    watcher
        .until(WAIT, "state of every device", every_device_has_state)
        .await;
    command(
        &watcher.link,
        "home/hallway/ceiling_light/set",
        json!({"power": "on"}),
    )
    .await;
    watcher
        .until(WAIT, "the hall light to turn on", |f| {
            f.value("hall_light", "power") == Some(json!("on"))
        })
        .await;
}
