//! Discovery end to end: recorded announcements of each convention
//! (`tests/fixtures/discovery/`, written from the conventions' docs)
//! published retained to a real mosquitto, read by the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::{Value, json};

use super::harness::{Mosquitto, giot};
use super::llm::model_path;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/discovery")
        .join(name)
}

/// Publishes `payload` retained at QoS 1 with mosquitto_pub (an empty
/// payload clears the retained message).
pub(super) fn retain(broker: &Mosquitto, topic: &str, payload: &[u8]) {
    let source = if payload.is_empty() { "-n" } else { "-s" };
    let mut child = std::process::Command::new("mosquitto_pub")
        .args([
            "-p",
            &broker.port.to_string(),
            "-q",
            "1",
            "-r",
            "-t",
            topic,
            source,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(payload).unwrap();
    assert!(child.wait().unwrap().success(), "publishing {topic}");
}

fn retain_file(broker: &Mosquitto, topic: &str, file: &str) {
    retain(broker, topic, &std::fs::read(fixture(file)).unwrap());
}

/// Every recorded announcement, plus a Tasmota seen only on its telemetry.
fn announce_all(broker: &Mosquitto) {
    for (topic, file) in [
        (
            "homeassistant/light/kitchen/config",
            "ha_light_kitchen.json",
        ),
        (
            "homeassistant/switch/irrigation/config",
            "ha_switch_irrigation.json",
        ),
        ("homeassistant/cover/garage/config", "ha_cover_garage.json"),
        (
            "homeassistant/lock/frontdoor/config",
            "ha_lock_frontdoor.json",
        ),
        (
            "homeassistant/climate/livingroom/config",
            "ha_climate_livingroom.json",
        ),
        (
            "homeassistant/light/esp01/porch/config",
            "ha_light_porch.json",
        ),
        (
            "homeassistant/device/0AFFD2/config",
            "ha_device_bedroom.json",
        ),
        ("zigbee2mqtt/bridge/devices", "z2m_devices.json"),
        (
            "tasmota/discovery/DC4F22A1B2C3/config",
            "tasmota_config.json",
        ),
        (
            "tasmota/discovery/DC4F22A1B2C3/sensors",
            "tasmota_sensors.json",
        ),
    ] {
        retain_file(broker, topic, file);
    }
    retain(broker, "tele/sonoff_dual/LWT", b"Online");
    retain(
        broker,
        "tele/sonoff_dual/STATE",
        br#"{"Time":"2024-01-01T00:00:00","POWER1":"ON","POWER2":"OFF"}"#,
    );
}

/// A devices.yaml that describes one announced device itself and gives two
/// discovered devices a room.
fn devices_yaml(dir: &Path) -> PathBuf {
    let path = dir.join("devices.yaml");
    std::fs::write(
        &path,
        r#"devices:
  - id: kitchen_light
    name: Kitchen light
    kind: light
    state_topic: homeassistant/light/kitchen/state
    command_topic: homeassistant/light/kitchen/set
    capabilities:
      - {name: power, type: enum, values: ["on", "off"]}
discovered:
  - {id: z2m_living_room_bulb, room: living_room}
  - {id: ha_esp01_porch, safety: confirm}
  - {id: tasmota_a1b2c3, room: kitchen}
"#,
    )
    .unwrap();
    path
}

pub(super) fn list(broker: &Mosquitto, devices: &Path) -> Value {
    let out = giot()
        .args([
            "devices",
            "list",
            "--discovered",
            "--json",
            "--wait",
            "1.5",
            "--broker",
        ])
        .arg(broker.url())
        .arg("--devices")
        .arg(devices)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn device<'a>(listing: &'a Value, id: &str) -> &'a Value {
    listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("{id} not discovered: {listing:#}"))
}

fn capability<'a>(device: &'a Value, name: &str) -> &'a Value {
    device["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {device:#}"))
}

#[test]
fn devices_list_discovered_shows_every_convention_and_forgets_removed_devices() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let devices = devices_yaml(dir.path());
    announce_all(&broker);
    retain(
        &broker,
        "homeassistant/light/broken/config",
        b"{\"name\": \"Broken\", \"cmd_t\": ",
    );
    retain(
        &broker,
        "zigbee2mqtt/my_plug",
        br#"{"state":"ON","power":5}"#,
    );
    retain(&broker, "stat/tasmota_A1B2C3/POWER", b"OFF");
    retain(
        &broker,
        "sensorBedroom/state",
        br#"{"temperature":23.2,"humidity":43.7}"#,
    );

    let listing = list(&broker, &devices);
    let ids: std::collections::BTreeSet<&str> = listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    for id in [
        "ha_irrigation",
        "ha_garage",
        "ha_frontdoor",
        "ha_livingroom",
        "ha_esp01_porch",
        "ha_0affd2_some_unique_component_id1",
        "ha_0affd2_some_unique_id2",
        "z2m_my_plug",
        "z2m_living_room_bulb",
        "z2m_front_door_lock",
        "z2m_bedroom_trv",
        "tasmota_a1b2c3",
        "tasmota_a1b2c3_sensors",
        "tasmota_sonoff_dual",
    ] {
        assert!(ids.contains(id), "{id} missing from {ids:?}");
    }
    // devices.yaml describes the kitchen light itself: its entry wins.
    assert!(!ids.contains("ha_kitchen"));
    assert_eq!(
        listing["shadowed"],
        json!([{"id": "ha_kitchen", "by": "kitchen_light"}])
    );
    // The malformed config is reported, not fatal.
    let skipped = listing["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["topic"] == "homeassistant/light/broken/config"),
        "{skipped:?}"
    );

    // Conventions, kinds, safety defaults and devices.yaml overrides.
    let lock = device(&listing, "z2m_front_door_lock");
    assert_eq!(lock["discovered"]["convention"], "zigbee2mqtt");
    assert_eq!(
        (lock["kind"].as_str(), lock["safety"].as_str()),
        (Some("lock"), Some("confirm"))
    );
    assert_eq!(device(&listing, "ha_garage")["safety"], "confirm");
    assert_eq!(device(&listing, "ha_frontdoor")["safety"], "confirm");
    assert_eq!(device(&listing, "ha_irrigation")["safety"], "normal");
    assert_eq!(device(&listing, "ha_esp01_porch")["safety"], "confirm");
    assert_eq!(
        device(&listing, "z2m_living_room_bulb")["room"],
        "living_room"
    );

    // Capabilities with their ranges and command formats.
    let bulb = device(&listing, "z2m_living_room_bulb");
    let bri = capability(bulb, "brightness");
    assert_eq!(
        (bri["min"].as_f64(), bri["max"].as_f64()),
        (Some(0.0), Some(254.0))
    );
    assert_eq!(bri["command"]["format"], "json");
    assert_eq!(bri["command"]["topic"], "zigbee2mqtt/living_room/bulb/set");
    let plug = device(&listing, "tasmota_a1b2c3");
    assert_eq!(plug["discovered"]["convention"], "tasmota");
    let power = capability(plug, "power");
    assert_eq!(power["command"]["format"], "plain");
    assert_eq!(power["command"]["topic"], "cmnd/tasmota_A1B2C3/POWER");
    assert_eq!(
        power["command"]["values"],
        json!({"on": "ON", "off": "OFF"})
    );
    let climate = device(&listing, "ha_livingroom");
    let target = capability(climate, "target_temperature");
    assert_eq!(
        (
            target["min"].as_f64(),
            target["max"].as_f64(),
            target["step"].as_f64()
        ),
        (Some(15.0), Some(25.0), Some(0.5))
    );
    assert_eq!(
        capability(device(&listing, "tasmota_sonoff_dual"), "power2")["command"]["topic"],
        "cmnd/sonoff_dual/POWER2"
    );

    // States read through each convention's format, in the registry's words.
    assert_eq!(device(&listing, "z2m_my_plug")["state"]["power"], "on");
    assert_eq!(device(&listing, "z2m_my_plug")["state"]["power_w"], 5);
    assert_eq!(plug["state"]["power"], "off");
    assert_eq!(
        device(&listing, "ha_0affd2_some_unique_component_id1")["state"]["temperature"],
        23.2
    );
    assert_eq!(
        device(&listing, "tasmota_sonoff_dual")["state"],
        json!({"power1": "on", "power2": "off", "online": "online"})
    );

    // Names from the broker are single-line, bounded data.
    for d in listing["devices"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        assert!(
            name.chars().count() <= 48 && !name.contains(['\n', '"']),
            "{name:?}"
        );
    }

    // An empty retained config removes the device.
    retain(&broker, "homeassistant/light/esp01/porch/config", b"");
    retain(&broker, "homeassistant/lock/frontdoor/config", b"");
    let listing = list(&broker, &devices);
    let ids: Vec<&str> = listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&"ha_esp01_porch") && !ids.contains(&"ha_frontdoor"),
        "{ids:?}"
    );
    assert!(ids.contains(&"ha_garage"));
}

/// What the responder saw: (topic, payload).
pub(super) type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A tiny device stand-in: every command is recorded and echoed as state in
/// its convention's way, so that giot can confirm it.
pub(super) async fn responder(url: &str) -> (Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let filters = [
        "cmnd/#",
        "zigbee2mqtt/+/set",
        "zigbee2mqtt/+/+/set",
        "esp01/porch/switch",
        "garden/+/set",
    ]
    .map(String::from)
    .to_vec();
    let mut link = Link::start(&ConnectOptions::new(url, "responder"), filters).unwrap();
    link.wait_connected(Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    // Let the subscription land before anything is published.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Some(e) = link.recv().await {
            let LinkEvent::Message { topic, payload, .. } = e else {
                continue;
            };
            let text = String::from_utf8_lossy(&payload).into_owned();
            log.lock().unwrap().push((topic.clone(), text.clone()));
            let (state_topic, state) = if let Some(t) = topic.strip_prefix("cmnd/") {
                let (node, command) = t.split_once('/').unwrap();
                (format!("stat/{node}/{command}"), text)
            } else if let Some(t) = topic.strip_prefix("garden/") {
                (format!("garden/{}", t.replace("/set", "/state")), text)
            } else if let Some(t) = topic.strip_suffix("/set") {
                (t.to_string(), text)
            } else {
                ("esp01/porch/status".to_string(), text)
            };
            let _ = link.publish(&state_topic, state, true).await;
        }
    });
    (seen, task)
}

pub(super) async fn run_goal(url: &str, devices: &Path, goal: &str, yes: bool) -> (Output, Value) {
    let mut cmd = giot();
    cmd.args(["run", "--json", "--broker", url, "--devices"])
        .arg(devices)
        .arg("--model")
        .arg(model_path())
        .arg("--no-ledger");
    if yes {
        cmd.arg("--yes");
    }
    cmd.arg(goal);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_publishes_each_conventions_own_command_format_and_confirms_by_the_echo() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let devices = devices_yaml(dir.path());
    announce_all(&broker);
    // One front door is enough for "the front door lock".
    retain(&broker, "homeassistant/lock/frontdoor/config", b"");
    let (seen, task) = responder(&broker.url()).await;

    let cases: [(&str, bool, &str, &str, &str); 4] = [
        (
            "turn on the kitchen plug",
            false,
            "tasmota_a1b2c3",
            "cmnd/tasmota_A1B2C3/POWER",
            "ON",
        ),
        (
            "turn off the porch light",
            true,
            "ha_esp01_porch",
            "esp01/porch/switch",
            "0",
        ),
        (
            "unlock the front door",
            true,
            "z2m_front_door_lock",
            "zigbee2mqtt/front_door_lock/set",
            r#"{"state":"UNLOCK"}"#,
        ),
        (
            "dim the bulb in the living room to 50%",
            false,
            "z2m_living_room_bulb",
            "zigbee2mqtt/living_room/bulb/set",
            r#"{"brightness":127}"#,
        ),
    ];
    for (goal, yes, id, topic, payload) in cases {
        let before = seen.lock().unwrap().len();
        let (out, json) = run_goal(&broker.url(), &devices, goal, yes).await;
        assert_eq!(
            json["status"],
            "executed",
            "{goal}: {json}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let action = &json["actions"][0];
        assert_eq!(
            json["actions"].as_array().unwrap().len(),
            1,
            "{goal}: {json}"
        );
        assert_eq!(
            (
                action["device"].as_str(),
                action["topic"].as_str(),
                action["payload"].as_str()
            ),
            (Some(id), Some(topic), Some(payload)),
            "{goal}"
        );
        assert_eq!(action["confirmed"], true, "{goal}: {json}");
        let published: Vec<_> = seen.lock().unwrap()[before..].to_vec();
        assert_eq!(
            published,
            [(topic.to_string(), payload.to_string())],
            "{goal}"
        );
    }

    // A discovered lock waits for a yes like any other, and nothing is sent.
    let before = seen.lock().unwrap().len();
    let (out, json) = run_goal(&broker.url(), &devices, "lock the front door", false).await;
    assert_eq!(out.status.code(), Some(3), "{json}");
    assert_eq!(json["status"], "needs_confirmation");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.lock().unwrap().len(), before);
    task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_acts_on_devices_discovered_before_and_after_it_started() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let devices = devices_yaml(dir.path());
    announce_all(&broker);
    let (seen, task) = responder(&broker.url()).await;
    let _bridge = super::harness::Process(
        giot()
            .args([
                "bridge",
                "--broker",
                &broker.url(),
                "--confirm-timeout",
                "2",
                "--devices",
            ])
            .arg(&devices)
            .arg("--model")
            .arg(model_path())
            .arg("--store")
            .arg(dir.path().join("bridge.redb"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut client = Link::start(
        &ConnectOptions::new(broker.url(), "client"),
        vec![
            "giot/operator/results/#".into(),
            "giot/operator/status".into(),
        ],
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let next = async |client: &mut Link, want: &str| -> Value {
        loop {
            match tokio::time::timeout_at(deadline, client.recv()).await {
                Ok(Some(LinkEvent::Message { topic, payload, .. })) => {
                    if topic == want {
                        return serde_json::from_slice(&payload).unwrap_or(Value::Null);
                    }
                    if topic == "giot/operator/status"
                        && want == "online"
                        && &payload[..] == b"online"
                    {
                        return Value::Null;
                    }
                }
                Ok(Some(_)) => {}
                _ => panic!("timed out waiting for {want}"),
            }
        }
    };
    next(&mut client, "online").await;

    let goal = json!({"id": "d1", "goal": "turn on the kitchen plug"});
    client
        .publish("giot/operator/goals", goal.to_string(), false)
        .await
        .unwrap();
    let result = next(&mut client, "giot/operator/results/d1").await;
    assert_eq!(result["status"], "executed", "{result}");
    assert_eq!(result["actions"][0]["topic"], "cmnd/tasmota_A1B2C3/POWER");
    assert_eq!(result["actions"][0]["payload"], "ON");
    assert_eq!(result["actions"][0]["confirmed"], true, "{result}");

    // Announced while the bridge runs: it joins, and its state topic is
    // subscribed to, so the command is confirmed too.
    retain(
        &broker,
        "homeassistant/switch/fountain/config",
        br#"{"name": "Fountain", "cmd_t": "garden/fountain/set", "stat_t": "garden/fountain/state"}"#,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let goal = json!({"id": "d2", "goal": "turn on the fountain"});
    client
        .publish("giot/operator/goals", goal.to_string(), false)
        .await
        .unwrap();
    let result = next(&mut client, "giot/operator/results/d2").await;
    assert_eq!(result["status"], "executed", "{result}");
    assert_eq!(result["actions"][0]["topic"], "garden/fountain/set");
    assert_eq!(result["actions"][0]["payload"], "ON");
    assert_eq!(result["actions"][0]["confirmed"], true, "{result}");
    assert!(
        seen.lock()
            .unwrap()
            .contains(&("garden/fountain/set".into(), "ON".into()))
    );
    task.abort();
}
