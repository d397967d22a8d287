//! Issue 15 ("Field faults") against a real mosquitto: a broker holding the
//! issue's examples of each kind, read by the real binary.

use std::collections::BTreeSet;
use std::time::Duration;

use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::{Value, json};

use super::discovery::{list, retain};
use super::harness::Mosquitto;

fn z2m_lamp(friendly: &str, ieee: &str) -> Value {
    json!({
        "friendly_name": friendly,
        "ieee_address": ieee,
        "type": "Router",
        "definition": {"vendor": "IKEA", "model": "LED1545G12", "description": "bulb", "exposes": [
            {"type": "light", "features": [
                {"type": "binary", "property": "state", "access": 7, "value_on": "ON", "value_off": "OFF"},
                {"type": "numeric", "property": "brightness", "access": 7, "value_min": 0, "value_max": 254}
            ]}
        ]}
    })
}

/// The examples of kinds 1, 7 and 8, retained on the broker.
fn announce_examples(broker: &Mosquitto) {
    let list = json!([
        z2m_lamp("Kitchen Lamp", "0x00158d0000000001"),
        z2m_lamp("Kitchen Lamp 2", "0x00158d0000000002"),
        z2m_lamp("Лампа", "0x00158d0000000003"),
        z2m_lamp("灯", "0x00158d0000000004"),
        {"friendly_name": "probe", "ieee_address": "0x5", "definition": {"exposes": [
            {"type": "numeric", "property": "x", "access": 1}
        ]}},
    ]);
    retain(
        broker,
        "zigbee2mqtt/bridge/devices",
        list.to_string().as_bytes(),
    );
    retain(
        broker,
        "tasmota/discovery/DC4F22000001/config",
        json!({"dn": "Garden Relays", "t": "garden", "mac": "DC4F22000001",
               "fn": ["Pump", "", null], "rl": [1, 1, 1], "state": ["OFF", "ON"]})
        .to_string()
        .as_bytes(),
    );
    retain(
        broker,
        "homeassistant/sensor/t1/config",
        br#"{"dev_cla":"x"}"#,
    );
    retain(
        broker,
        "homeassistant/sensor/t2/config",
        br#"{"dev_cla":"x","stat_t":"t2/state","unit_of_meas":"ppm"}"#,
    );
    // Kind 2: brightness implied by the colour modes, colour temperature in kelvin.
    retain(
        broker,
        "homeassistant/light/desk/config",
        json!({"name": "Desk lamp", "schema": "json", "cmd_t": "desk/set", "stat_t": "desk/state",
               "supported_color_modes": ["brightness"]})
        .to_string()
        .as_bytes(),
    );
    retain(
        broker,
        "homeassistant/light/ceiling/config",
        json!({"name": "Ceiling", "schema": "json", "cmd_t": "ceiling/set",
               "supported_color_modes": ["color_temp"], "color_temp_kelvin": true,
               "min_kelvin": 2700, "max_kelvin": 6500})
        .to_string()
        .as_bytes(),
    );
    // Kind 3: the cover Zigbee2MQTT announces, and a template giot cannot render.
    retain(
        broker,
        "homeassistant/cover/0x00158d0000000009/cover/config",
        json!({"name": "Blind", "cmd_t": "zigbee2mqtt/Blind/set", "stat_t": "zigbee2mqtt/Blind",
               "set_pos_t": "zigbee2mqtt/Blind/set", "pos_t": "zigbee2mqtt/Blind",
               "set_position_template": "{ \"position\": {{ position }} }",
               "position_template": "{{ value_json.position }}",
               "value_template": "{{ value_json.state }}"})
        .to_string()
        .as_bytes(),
    );
    retain(
        broker,
        "homeassistant/number/level/config",
        json!({"name": "Level", "cmd_t": "level/set", "stat_t": "level/state", "min": 0, "max": 10,
               "command_template": "{{ value | as_timestamp }}"})
        .to_string()
        .as_bytes(),
    );
    // A state topic with a NUL: a SUBSCRIBE with it gets the client dropped.
    retain(
        broker,
        "homeassistant/switch/nul/config",
        br#"{"cmd_t":"nul/set","stat_t":"nul/\u0000/state"}"#,
    );
}

#[test]
fn kinds_1_2_3_7_8_every_announced_device_is_listed_with_a_unique_id_a_name_and_its_capabilities() {
    let broker = Mosquitto::start();
    announce_examples(&broker);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("devices.yaml");
    std::fs::write(&empty, "devices: []\n").unwrap();
    let listing = list(&broker, &empty);
    let devices = listing["devices"].as_array().unwrap();
    let ids: Vec<&str> = devices.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    for want in [
        "z2m_kitchen_lamp",
        "z2m_kitchen_lamp_2",
        "z2m_0x00158d0000000003",
        "z2m_0x00158d0000000004",
        "z2m_probe",
        "tasmota_garden_1",
        "tasmota_garden_2",
        "tasmota_garden_3",
        "ha_t2",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    for d in devices {
        assert!(!d["name"].as_str().unwrap().is_empty(), "{d}");
    }
    let name = |id: &str| {
        devices.iter().find(|d| d["id"] == id).unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(name("z2m_kitchen_lamp"), "Kitchen Lamp");
    assert_eq!(name("z2m_0x00158d0000000003"), "Лампа");
    assert_eq!(name("tasmota_garden_2"), "Garden Relays 2");
    // The space stays in the topics: Zigbee2MQTT listens there.
    let lamp = devices
        .iter()
        .find(|d| d["id"] == "z2m_kitchen_lamp")
        .unwrap();
    assert_eq!(lamp["state_topic"], "zigbee2mqtt/Kitchen Lamp");
    // Kinds 2 and 3: the capabilities the current schema implies.
    let cap = |id: &str, name: &str| {
        let d = devices
            .iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"));
        d["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} on {id}: {d}"))
            .clone()
    };
    let bri = cap("ha_desk", "brightness");
    assert_eq!(
        (bri["min"].as_f64(), bri["max"].as_f64()),
        (Some(0.0), Some(255.0)),
        "{bri}"
    );
    let ct = cap("ha_ceiling", "color_temp");
    assert_eq!(ct["unit"], "K", "{ct}");
    let pos = cap("ha_0x00158d0000000009_cover", "position");
    assert_eq!(
        pos["command"]["template"]["source"], "{ \"position\": {{ position }} }",
        "{pos}"
    );
    let level = cap("ha_level", "value");
    assert_eq!(level["readonly"], true, "{level}");
    // What was left out is said, with the reason.
    let skipped = listing["skipped"].to_string();
    assert!(
        skipped.contains("homeassistant/sensor/t1/config"),
        "{skipped}"
    );
    assert!(skipped.contains("NUL"), "{skipped}");
    assert!(
        skipped.contains("command_template cannot be rendered"),
        "{skipped}"
    );
    assert!(!ids.iter().any(|i| i.contains("nul")), "{ids:?}");
}

/// Kind 8: an invalid filter is left out of the SUBSCRIBE, so the broker
/// does not drop the link again and again; the valid ones still deliver.
#[tokio::test]
async fn kind8_an_invalid_filter_does_not_get_the_link_dropped() {
    let broker = Mosquitto::start();
    let mut link = Link::start(
        &ConnectOptions::new(broker.url(), "kind8"),
        vec![
            "ok/#".into(),
            "bad/\0/state".into(),
            "bad/#/x".into(),
            "x".repeat(70_000),
        ],
    )
    .unwrap();
    link.wait_connected(Duration::from_secs(10), |_| {})
        .await
        .unwrap();
    link.subscribe(vec!["also\0bad".into(), "more/+".into()])
        .await
        .unwrap();
    retain(&broker, "ok/a", b"1");
    retain(&broker, "more/b", b"2");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut seen = BTreeSet::new();
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, link.recv()).await {
        match e {
            LinkEvent::Disconnected { error, .. } => panic!("the link was dropped: {error}"),
            LinkEvent::Message { topic, .. } => {
                seen.insert(topic);
            }
            LinkEvent::Connected => panic!("reconnected"),
            LinkEvent::Skipped { topic, .. } => panic!("skipped {topic}"),
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from(["ok/a".to_string(), "more/b".to_string()])
    );
    link.shutdown().await;
}

/// Kind 5: one 9 MiB retained message is skipped, with its size, and the
/// connection stays up: the other messages arrive, nothing reconnects.
#[tokio::test]
async fn kind5_an_oversized_retained_message_is_skipped_and_the_link_stays_up() {
    let broker = Mosquitto::start();
    let big = vec![b'x'; 9 * 1024 * 1024];
    retain(&broker, "homeassistant/sensor/huge/config", &big);
    retain(
        &broker,
        "homeassistant/switch/s1/config",
        br#"{"cmd_t":"s1/set"}"#,
    );
    let mut link = Link::start(
        &ConnectOptions::new(broker.url(), "kind5"),
        vec!["homeassistant/#".into()],
    )
    .unwrap();
    link.wait_connected(Duration::from_secs(10), |_| {})
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let (mut skipped, mut messages) = (Vec::new(), Vec::new());
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, link.recv()).await {
        match e {
            LinkEvent::Disconnected { error, .. } => panic!("the link was dropped: {error}"),
            LinkEvent::Connected => panic!("reconnected"),
            LinkEvent::Skipped {
                topic,
                size,
                retain,
            } => skipped.push((topic, size, retain)),
            LinkEvent::Message { topic, .. } => messages.push(topic),
        }
    }
    assert_eq!(
        skipped,
        [(
            "homeassistant/sensor/huge/config".to_string(),
            9 * 1024 * 1024,
            true
        )]
    );
    assert_eq!(messages, ["homeassistant/switch/s1/config"]);
    link.shutdown().await;
}

/// Kind 5 through a face: `giot devices list --discovered` (discovery, as
/// every face reads it) lists the devices beside a 9 MiB retained message.
#[test]
fn kind5_discovery_beside_an_oversized_message_still_lists_the_devices() {
    let broker = Mosquitto::start();
    retain(
        &broker,
        "homeassistant/sensor/huge/config",
        &vec![b'{'; 9 * 1024 * 1024],
    );
    retain(
        &broker,
        "homeassistant/switch/s1/config",
        br#"{"cmd_t":"s1/set"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("devices.yaml");
    std::fs::write(&empty, "devices: []\n").unwrap();
    let listing = list(&broker, &empty);
    let ids: Vec<&str> = listing["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ha_s1"]);
    let skipped = listing["skipped"].to_string();
    assert!(
        skipped.contains("homeassistant/sensor/huge/config"),
        "{skipped}"
    );
    assert!(skipped.contains("9437184 bytes"), "{skipped}");
}

/// Kinds 1, 2 and 3 as a new user meets them: goals on the discovered
/// devices publish what each device reads, and the echo confirms them.
#[tokio::test(flavor = "multi_thread")]
async fn kinds_1_2_3_4_goals_on_discovered_devices_publish_what_the_device_reads() {
    use super::discovery::{responder, run_goal};

    let broker = Mosquitto::start();
    retain(
        &broker,
        "zigbee2mqtt/bridge/devices",
        json!([
            z2m_lamp("Kitchen Lamp", "0x00158d0000000001"),
            {
                "friendly_name": "Living Room Thermostat",
                "ieee_address": "0x00158d0000000042",
                "type": "Router",
                "definition": {"vendor": "Bosch", "model": "BTH-RA", "description": "thermostat", "exposes": [
                    {"type": "climate", "features": [
                        {"type": "numeric", "property": "occupied_heating_setpoint", "access": 7, "value_min": 5, "value_max": 30, "unit": "°C"},
                        {"type": "numeric", "property": "occupied_cooling_setpoint", "access": 7, "value_min": 10, "value_max": 35, "unit": "°C"},
                        {"type": "enum", "property": "system_mode", "access": 7, "values": ["off", "heat", "cool"]}
                    ]}
                ]}
            }
        ])
        .to_string()
        .as_bytes(),
    );
    // Kind 4: the thermostat reports that it is cooling.
    retain(
        &broker,
        "zigbee2mqtt/Living Room Thermostat",
        br#"{"system_mode":"cool","occupied_heating_setpoint":20,"occupied_cooling_setpoint":26}"#,
    );
    retain(
        &broker,
        "homeassistant/light/desk/config",
        json!({"name": "Desk lamp", "schema": "json", "cmd_t": "garden/desk/set", "stat_t": "garden/desk/state",
               "supported_color_modes": ["brightness"]})
        .to_string()
        .as_bytes(),
    );
    retain(
        &broker,
        "homeassistant/cover/0x9/cover/config",
        json!({"name": "Blind", "cmd_t": "zigbee2mqtt/Blind/set", "stat_t": "zigbee2mqtt/Blind",
               "set_pos_t": "zigbee2mqtt/Blind/set", "pos_t": "zigbee2mqtt/Blind",
               "set_position_template": "{ \"position\": {{ position }} }",
               "position_template": "{{ value_json.position }}",
               "value_template": "{{ value_json.state }}"})
        .to_string()
        .as_bytes(),
    );
    let dir = tempfile::tempdir().unwrap();
    let devices = dir.path().join("devices.yaml");
    std::fs::write(&devices, "devices: []\n").unwrap();
    let (seen, task) = responder(&broker.url()).await;
    let cases = [
        (
            "turn on the kitchen lamp",
            "zigbee2mqtt/Kitchen Lamp/set",
            r#"{"state":"ON"}"#,
        ),
        (
            "dim the desk lamp to 30%",
            "garden/desk/set",
            r#"{"brightness":77,"state":"ON"}"#,
        ),
        (
            "set the blind to 40%",
            "zigbee2mqtt/Blind/set",
            r#"{ "position": 40 }"#,
        ),
        // Kind 4: the cooling set point when the goal says cool, and when
        // the device is cooling.
        // (first: the responder's echo replaces the retained state)
        (
            "set the living room thermostat to 23 degrees",
            "zigbee2mqtt/Living Room Thermostat/set",
            r#"{"occupied_cooling_setpoint":23}"#,
        ),
        (
            "cool the living room thermostat to 24 degrees",
            "zigbee2mqtt/Living Room Thermostat/set",
            r#"{"occupied_cooling_setpoint":24}"#,
        ),
    ];
    for (goal, topic, payload) in cases {
        let before = seen.lock().unwrap().len();
        let (out, json) = run_goal(&broker.url(), &devices, goal, false).await;
        assert_eq!(
            json["status"],
            "executed",
            "{goal}: {json}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let published: Vec<_> = seen.lock().unwrap()[before..].to_vec();
        assert_eq!(
            published,
            [(topic.to_string(), payload.to_string())],
            "{goal}: {json}"
        );
    }
    task.abort();
}
