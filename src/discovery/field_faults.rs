//! Regression tests of issue 15's kinds 1 (discovered names) and 7 (panics
//! on broker input) across the three conventions.

use serde_json::json;

use super::*;

fn z2m(list: serde_json::Value) -> Announcement {
    zigbee2mqtt::parse("zigbee2mqtt/bridge/devices", list.to_string().as_bytes()).unwrap()
}

fn lamp(friendly: &str, ieee: &str) -> serde_json::Value {
    json!({
        "friendly_name": friendly,
        "ieee_address": ieee,
        "type": "Router",
        "definition": {"vendor": "IKEA", "model": "LED1545G12", "exposes": [
            {"type": "light", "features": [
                {"type": "binary", "property": "state", "access": 7, "value_on": "ON", "value_off": "OFF"}
            ]}
        ]}
    })
}

#[test]
fn kind1_zigbee2mqtt_friendly_names_with_spaces_are_kept_with_their_topics() {
    let a = z2m(json!([
        lamp("Kitchen Lamp", "0x0001"),
        lamp("Kitchen Lamp 2", "0x0002")
    ]));
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    let d = &a.devices[0];
    assert_eq!(d.id, "z2m_kitchen_lamp");
    assert_eq!(d.name, "Kitchen Lamp");
    let power = d.capability("power").unwrap();
    assert_eq!(
        d.encode(power, &json!("on")).unwrap(),
        (
            "zigbee2mqtt/Kitchen Lamp/set".into(),
            r#"{"state":"ON"}"#.into()
        )
    );
    assert_eq!(d.state_topic, "zigbee2mqtt/Kitchen Lamp");
    assert_eq!(a.devices[1].id, "z2m_kitchen_lamp_2");
}

#[test]
fn kind1_non_latin_names_get_unique_stable_ids_from_the_ieee_address() {
    let list = json!([
        lamp("Лампа на кухне", "0x00158d0001a2b3c4"),
        lamp("客厅灯", "0x00158d0001a2b3c5"),
        lamp("ランプ", ""),
    ]);
    let a = z2m(list.clone());
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    let ids: Vec<&str> = a.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids[0], "z2m_0x00158d0001a2b3c4");
    assert_eq!(ids[1], "z2m_0x00158d0001a2b3c5");
    assert!(
        ids[2].starts_with("z2m_") && ids[2].len() == 12,
        "{}",
        ids[2]
    );
    let names: Vec<&str> = a.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Лампа на кухне", "客厅灯", "ランプ"]);
    // Stable: the same list gives the same ids.
    let again = z2m(list);
    assert_eq!(
        again.devices.iter().map(|d| &d.id).collect::<Vec<_>>(),
        a.devices.iter().map(|d| &d.id).collect::<Vec<_>>()
    );
}

#[test]
fn kind1_names_that_sanitise_alike_keep_apart_and_are_reported() {
    let a = z2m(json!([
        lamp("Kitchen Lamp", "0x0001"),
        lamp("kitchen_lamp", "0x0002")
    ]));
    let ids: Vec<&str> = a.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["z2m_kitchen_lamp", "z2m_kitchen_lamp_0x0002"]);
    assert_eq!(a.problems.len(), 1, "{:?}", a.problems);
    assert!(a.problems[0].contains("was taken"), "{}", a.problems[0]);
}

#[test]
fn kind1_skipped_zigbee2mqtt_devices_are_reported_with_the_reason() {
    let a = z2m(json!([
        {"friendly_name": "Hall Sensor", "type": "EndDevice"},
        {"friendly_name": "Old", "disabled": true, "definition": {"exposes": []}},
        {"friendly_name": "bad+name", "definition": {"exposes": []}},
        {"friendly_name": "Remote", "definition": {"exposes": [{"type": "composite", "features": []}]}},
        {"friendly_name": "Coordinator", "type": "Coordinator"},
    ]));
    assert!(a.devices.is_empty());
    let p = a.problems.join("\n");
    assert_eq!(a.problems.len(), 4, "{p}");
    assert!(p.contains("\"Hall Sensor\": not interviewed"), "{p}");
    assert!(p.contains("\"Old\": disabled"), "{p}");
    assert!(p.contains("\"bad+name\"") && p.contains("wildcard"), "{p}");
    assert!(p.contains("\"Remote\": exposes no feature"), "{p}");
}

#[test]
fn kind1_an_empty_tasmota_friendly_name_becomes_the_device_name_and_relay_number() {
    let config = json!({
        "dn": "Garden Relays", "t": "garden", "mac": "DC4F22000001",
        "fn": ["Pump", "", null], "rl": [1, 1, 1], "state": ["OFF", "ON"]
    });
    let mut s = tasmota::State::default();
    let a = s
        .parse(
            "tasmota/discovery/DC4F22000001/config",
            config.to_string().as_bytes(),
        )
        .unwrap()
        .unwrap();
    let names: Vec<&str> = a.devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Pump", "Garden Relays 2", "Garden Relays 3"]);
    assert!(names.iter().all(|n| !n.is_empty()));
}

#[test]
fn kind1_a_tasmota_topic_in_a_non_latin_script_is_named_by_its_mac() {
    let mut s = tasmota::State::default();
    let mut ids = Vec::new();
    for (mac, t) in [("DC4F22000001", "кухня"), ("DC4F22000002", "спальня")] {
        let config = json!({"dn": t, "t": t, "mac": mac, "rl": [1]});
        let a = s
            .parse(
                &format!("tasmota/discovery/{mac}/config"),
                config.to_string().as_bytes(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(a.devices[0].name, t);
        ids.push(a.devices[0].id.clone());
    }
    assert_eq!(ids, ["tasmota_dc4f22000001", "tasmota_dc4f22000002"]);
}

#[test]
fn kind1_home_assistant_ids_come_from_unique_id_when_the_object_id_gives_none() {
    let mut d = Discovery::default();
    for (object, uid) in [("свет", "light_0a1b"), ("лампа", "light_0a1c")] {
        d.handle(
            &format!("homeassistant/light/{object}/config"),
            json!({"name": object, "cmd_t": format!("x/{uid}/set"), "uniq_id": uid})
                .to_string()
                .as_bytes(),
        );
    }
    let mut ids: Vec<&str> = d.devices().iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["ha_light_0a1b", "ha_light_0a1c"]);
}

#[test]
fn kind1_ids_never_collide_silently_across_conventions() {
    let mut d = Discovery::default();
    d.handle(
        "homeassistant/switch/kitchen_lamp/config",
        br#"{"cmd_t": "a/set", "name": "Kitchen Lamp"}"#,
    );
    d.handle(
        "homeassistant/switch/node/kitchen_lamp/config",
        br#"{"cmd_t": "b/set", "name": "Kitchen Lamp B"}"#,
    );
    d.handle(
        "zigbee2mqtt/bridge/devices",
        json!([lamp("ha kitchen lamp", "")]).to_string().as_bytes(),
    );
    let (registry, _, renamed) = merge(&Registry::default(), d.devices());
    // Every announced device is in the registry, each id once.
    assert_eq!(registry.len(), 3);
    let ids: BTreeSet<&str> = registry.devices().iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(renamed.len(), 0, "{renamed:?}");
    // The same id from two announcements: the second is kept, renamed.
    let mut d = Discovery::default();
    for topic in [
        "homeassistant/switch/a/lamp/config",
        "homeassistant/switch/a_lamp/config",
    ] {
        d.handle(topic, format!(r#"{{"cmd_t": "{topic}/set"}}"#).as_bytes());
    }
    let (registry, _, renamed) = merge(&Registry::default(), d.devices());
    assert_eq!(registry.len(), 2);
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].was, "ha_a_lamp");
    assert!(registry.get(&renamed[0].id).is_some());
}

#[test]
fn kind7_ids_from_text_that_sanitises_to_the_prefix_do_not_panic_or_lose_letters() {
    assert_eq!(slug_or("x", "value"), "x");
    assert_eq!(slug_or("xenon", "value"), "xenon");
    assert_eq!(slug_or("Xbox room", "value"), "xbox_room");
    assert_eq!(slug_or("温度", "value"), "value");
    assert_eq!(make_id("x", "x"), "x");
    assert_eq!(make_id("z2m", "z2mlamp"), "z2m_z2mlamp");
    assert_eq!(make_id("tasmota", "tasmota_1A2B3C"), "tasmota_1a2b3c");
}

#[test]
fn kind7_a_device_class_or_property_of_one_letter_does_not_crash_discovery() {
    let mut d = Discovery::default();
    d.handle("homeassistant/sensor/t1/config", br#"{"dev_cla":"x"}"#);
    d.handle(
        "homeassistant/sensor/t2/config",
        br#"{"dev_cla":"x","stat_t":"t2/state"}"#,
    );
    d.handle(
        "homeassistant/binary_sensor/b1/config",
        br#"{"dev_cla":"x","stat_t":"b1/state","dev":{"sa":"Xbox room"}}"#,
    );
    let list = json!([{"friendly_name": "p", "definition": {"exposes": [
        {"type": "numeric", "property": "x", "access": 1},
        {"type": "numeric", "property": "xenon", "access": 1},
        {"type": "numeric", "property": "温度", "access": 1}
    ]}}]);
    d.handle("zigbee2mqtt/bridge/devices", list.to_string().as_bytes());
    d.handle(
        "tasmota/discovery/é/config",
        r#"{"t":"n","mac":"aé","ft":"%id%/%prefix%/","rl":[1]}"#.as_bytes(),
    );
    let devices = d.devices();
    let t2 = devices.iter().find(|d| d.id == "ha_t2").unwrap();
    assert_eq!(t2.capabilities[0].name, "x");
    let b1 = devices.iter().find(|d| d.id == "ha_b1").unwrap();
    assert_eq!(b1.room.as_deref(), Some("xbox_room"));
    let p = devices.iter().find(|d| d.id == "z2m_p").unwrap();
    let names: Vec<&str> = p.capabilities.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["x", "xenon", "value"]);
}

#[test]
fn kind8_a_discovered_topic_that_mqtt_forbids_leaves_its_device_out_with_the_reason() {
    let mut d = Discovery::default();
    let long = "x".repeat(70_000);
    d.handle(
        "homeassistant/switch/nul/config",
        br#"{"cmd_t":"a/set","stat_t":"a/\u0000/state"}"#,
    );
    d.handle(
        "homeassistant/switch/long/config",
        format!(r#"{{"cmd_t":"{long}"}}"#).as_bytes(),
    );
    d.handle(
        "homeassistant/switch/wild/config",
        br#"{"cmd_t":"a/+/set"}"#,
    );
    d.handle("homeassistant/switch/ok/config", br#"{"cmd_t":"ok/set"}"#);
    let ids: Vec<&str> = d.devices().iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["ha_ok"]);
    assert!(d.take_topics().iter().all(|t| !t.contains('\0')));
    let problems: Vec<String> = d.problems().map(|p| p.error.clone()).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("NUL"), "{problems:?}");
    assert!(problems[1].contains("65535"), "{problems:?}");
    assert!(problems[2].contains("wildcard"), "{problems:?}");
}
