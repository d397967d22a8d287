use super::*;
use crate::registry::Safety;
use serde_json::json;

const DEVICES: &str = include_str!("../../../tests/fixtures/discovery/z2m_devices.json");

fn devices() -> Vec<Device> {
    let a = parse("zigbee2mqtt/bridge/devices", DEVICES.as_bytes()).unwrap();
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    a.devices
}

fn get<'a>(devices: &'a [Device], id: &str) -> &'a Device {
    devices
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

#[test]
fn the_coordinator_is_skipped_and_every_device_is_read() {
    let ids: Vec<String> = devices().into_iter().map(|d| d.id).collect();
    assert_eq!(
        ids,
        [
            "z2m_my_plug",
            "z2m_living_room_bulb",
            "z2m_front_door_lock",
            "z2m_bedroom_trv"
        ]
    );
}

#[test]
fn a_switch_state_becomes_power_and_is_commanded_as_json() {
    let all = devices();
    let plug = get(&all, "z2m_my_plug");
    assert_eq!(plug.kind, "switch");
    let power = plug.capability("power").unwrap();
    assert_eq!(
        plug.encode(power, &json!("on")).unwrap(),
        ("zigbee2mqtt/my_plug/set".into(), r#"{"state":"ON"}"#.into())
    );
    assert_eq!(power.state[0].topic, "zigbee2mqtt/my_plug");
    assert_eq!(
        power.state[0].decode(power, br#"{"state":"OFF","power":3}"#),
        Some(json!("off"))
    );
    // The power reading next to the switch keeps its own name, read-only.
    let watts = plug.capability("power_w").unwrap();
    assert!(watts.readonly && watts.command.is_none());
    assert_eq!(watts.state[0].key.as_deref(), Some("power"));
}

#[test]
fn access_bits_decide_what_is_set_and_what_is_read() {
    let all = devices();
    let bulb = get(&all, "z2m_living_room_bulb");
    assert_eq!(bulb.name, "living room bulb");
    let bri = bulb.capability("brightness").unwrap();
    assert_eq!(bri.range(), Some((0.0, 254.0)));
    assert!(!bri.readonly);
    // Set-only (access 2): a command, no state.
    let effect = bulb.capability("effect").unwrap();
    assert!(!effect.readonly && effect.state.is_empty());
    // The colour composite is not modelled.
    assert!(bulb.capability("color").is_none() && bulb.capability("x").is_none());
    let trv = get(&all, "z2m_bedroom_trv");
    assert_eq!(trv.kind, "thermostat");
    let local = trv.capability("local_temperature").unwrap();
    assert!(local.readonly);
    let setpoint = trv.capability("occupied_heating_setpoint").unwrap();
    assert!(
        matches!(setpoint.kind, CapabilityType::Number { min: 5.0, max: 30.0, step: Some(s) } if s == 0.5)
    );
}

#[test]
fn a_lock_needs_confirmation_and_maps_lock_words() {
    let all = devices();
    let lock = get(&all, "z2m_front_door_lock");
    assert_eq!(lock.kind, "lock");
    assert_eq!(lock.safety, Safety::Confirm);
    let cap = lock.capability("lock").unwrap();
    assert_eq!(
        lock.encode(cap, &json!("unlocked")).unwrap().1,
        r#"{"state":"UNLOCK"}"#
    );
    assert_eq!(
        cap.state[0].decode(cap, br#"{"state":"LOCK"}"#),
        Some(json!("locked"))
    );
    assert!(lock.capability("lock_state").unwrap().readonly);
}

#[test]
fn malformed_lists_are_errors_and_bad_entries_are_skipped() {
    assert!(parse("zigbee2mqtt/bridge/devices", b"{}").is_err());
    assert!(parse("zigbee2mqtt/bridge/devices", b"[{").is_err());
    let a = parse(
        "zigbee2mqtt/bridge/devices",
        br#"[42, {"friendly_name": "a/+/b", "definition": {"exposes": []}}, {"friendly_name": "ok", "definition": {"exposes": [{"type":"binary","property":"occupancy","access":1,"value_on":true,"value_off":false}]}}]"#,
    )
    .unwrap();
    assert_eq!(a.problems.len(), 2, "{:?}", a.problems);
    assert_eq!(a.devices.len(), 1);
    assert_eq!(a.devices[0].kind, "sensor");
    assert_eq!(a.devices[0].capabilities[0].kind, CapabilityType::Bool);
}
