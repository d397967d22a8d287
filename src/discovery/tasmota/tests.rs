use super::*;
use serde_json::json;

const CONFIG: &str = include_str!("../../../tests/fixtures/discovery/tasmota_config.json");
const SENSORS: &str = include_str!("../../../tests/fixtures/discovery/tasmota_sensors.json");

#[test]
fn a_native_config_gives_a_relay_commanded_with_plain_payloads() {
    let mut s = State::default();
    let a = s
        .parse("tasmota/discovery/DC4F22A1B2C3/config", CONFIG.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(a.devices.len(), 1);
    let d = &a.devices[0];
    assert_eq!(d.id, "tasmota_a1b2c3");
    assert_eq!(d.name, "Kitchen Plug");
    assert_eq!(d.kind, "plug");
    let power = d.capability("power").unwrap();
    assert_eq!(
        d.encode(power, &json!("on")).unwrap(),
        ("cmnd/tasmota_A1B2C3/POWER".into(), "ON".into())
    );
    let sources: Vec<&str> = power.state.iter().map(|s| s.topic.as_str()).collect();
    assert_eq!(
        sources,
        [
            "stat/tasmota_A1B2C3/POWER",
            "stat/tasmota_A1B2C3/RESULT",
            "tele/tasmota_A1B2C3/STATE"
        ]
    );
    assert_eq!(
        power.state[1].decode(power, br#"{"POWER":"OFF"}"#),
        Some(json!("off"))
    );
    assert!(s.native_topics().contains("tasmota_A1B2C3"));
}

#[test]
fn sensors_wait_for_their_config_and_read_tele_sensor() {
    let mut s = State::default();
    let mac = "DC4F22A1B2C3";
    assert!(
        s.parse(
            &format!("tasmota/discovery/{mac}/sensors"),
            SENSORS.as_bytes()
        )
        .unwrap()
        .is_none()
    );
    s.parse(
        &format!("tasmota/discovery/{mac}/config"),
        CONFIG.as_bytes(),
    )
    .unwrap();
    let a = s.sensors_for(mac).unwrap().unwrap();
    let d = &a.devices[0];
    assert_eq!(d.id, "tasmota_a1b2c3_sensors");
    let power = d.capability("energy_power").unwrap();
    assert_eq!(power.unit.as_deref(), Some("W"));
    assert!(power.readonly);
    assert_eq!(power.state[0].topic, "tele/tasmota_A1B2C3/SENSOR");
    assert_eq!(
        power.state[0].decode(power, br#"{"ENERGY":{"Power":42}}"#),
        Some(json!(42))
    );
}

#[test]
fn without_native_discovery_telemetry_shows_the_relays() {
    let mut s = State::default();
    let a = s
        .parse(
            "tele/sonoff_dual/STATE",
            br#"{"Time":"x","POWER1":"ON","POWER2":"OFF","Wifi":{"RSSI":60}}"#,
        )
        .unwrap()
        .unwrap();
    let d = &a.devices[0];
    assert_eq!(d.id, "tasmota_sonoff_dual");
    assert_eq!(
        d.encode(d.capability("power2").unwrap(), &json!("on"))
            .unwrap(),
        ("cmnd/sonoff_dual/POWER2".into(), "ON".into())
    );
    // The same telemetry again changes nothing; a dimmer adds brightness.
    assert!(
        s.parse("tele/sonoff_dual/STATE", br#"{"POWER1":"OFF"}"#)
            .unwrap()
            .is_none()
    );
    let a = s
        .parse("stat/sonoff_dual/RESULT", br#"{"Dimmer":40}"#)
        .unwrap()
        .unwrap();
    assert!(a.devices[0].capability("brightness").is_some());
    assert!(a.devices[0].capability("power1").is_some());
    assert!(s.parse("tele/x/STATE", b"not json").is_err());
    assert!(
        s.parse("stat/x/RESULT", br#"{"Uptime":1}"#)
            .unwrap()
            .is_none()
    );
}
