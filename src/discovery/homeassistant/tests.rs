use super::*;
use crate::registry::Safety;
use serde_json::json;

fn fixture(name: &str) -> &'static str {
    match name {
        "light_kitchen" => include_str!("../../../tests/fixtures/discovery/ha_light_kitchen.json"),
        "switch" => include_str!("../../../tests/fixtures/discovery/ha_switch_irrigation.json"),
        "garage" => include_str!("../../../tests/fixtures/discovery/ha_cover_garage.json"),
        "lock" => include_str!("../../../tests/fixtures/discovery/ha_lock_frontdoor.json"),
        "climate" => include_str!("../../../tests/fixtures/discovery/ha_climate_livingroom.json"),
        "porch" => include_str!("../../../tests/fixtures/discovery/ha_light_porch.json"),
        "device" => include_str!("../../../tests/fixtures/discovery/ha_device_bedroom.json"),
        _ => unreachable!(),
    }
}

fn one(topic: &str, name: &str) -> Device {
    let a = parse(topic, fixture(name).as_bytes()).unwrap().unwrap();
    assert_eq!(a.source, topic);
    assert_eq!(a.devices.len(), 1, "{:?}", a);
    a.devices.into_iter().next().unwrap()
}

#[test]
fn a_json_schema_light_expands_the_base_topic_and_speaks_json() {
    let d = one("homeassistant/light/kitchen/config", "light_kitchen");
    assert_eq!(d.id, "ha_kitchen");
    assert_eq!(d.name, "Kitchen");
    assert_eq!(d.kind, "light");
    let power = d.capability("power").unwrap();
    let (topic, payload) = d.encode(power, &json!("on")).unwrap();
    assert_eq!(topic, "homeassistant/light/kitchen/set");
    assert_eq!(payload, r#"{"state":"ON"}"#);
    let brightness = d.capability("brightness").unwrap();
    assert_eq!(brightness.range(), Some((0.0, 255.0)));
    let (_, payload) = d.encode(brightness, &json!(128)).unwrap();
    let v: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v, json!({"state": "ON", "brightness": 128}));
    let source = &brightness.state[0];
    assert_eq!(source.topic, "homeassistant/light/kitchen/state");
    assert_eq!(
        source.decode(brightness, br#"{"state":"ON","brightness":77}"#),
        Some(json!(77))
    );
    assert_eq!(
        power.state[0].decode(power, br#"{"state":"OFF"}"#),
        Some(json!("off"))
    );
}

#[test]
fn a_default_schema_light_has_plain_topics_per_capability() {
    let d = one("homeassistant/light/esp01/porch/config", "porch");
    assert_eq!(d.id, "ha_esp01_porch");
    let power = d.capability("power").unwrap();
    assert_eq!(
        d.encode(power, &json!("on")).unwrap(),
        ("esp01/porch/switch".into(), "1".into())
    );
    assert_eq!(power.state[0].decode(power, b"0"), Some(json!("off")));
    let bri = d.capability("brightness").unwrap();
    assert_eq!(bri.range(), Some((0.0, 100.0)));
    assert_eq!(
        d.encode(bri, &json!(40)).unwrap(),
        ("esp01/porch/brightness/set".into(), "40".into())
    );
    // The model string tried to smuggle in an instruction: it is one line of data.
    let description = d.discovered.as_ref().unwrap().description.clone().unwrap();
    assert!(!description.contains('\n'));
    assert!(description.chars().count() <= crate::discovery::MAX_DESCRIPTION);
}

#[test]
fn switches_use_their_payloads_and_state_defaults_to_them() {
    let d = one("homeassistant/switch/irrigation/config", "switch");
    let power = d.capability("power").unwrap();
    assert_eq!(d.encode(power, &json!("off")).unwrap().1, "off");
    assert_eq!(power.state[0].decode(power, b"on"), Some(json!("on")));
    assert_eq!(d.safety, Safety::Normal);
}

#[test]
fn a_garage_door_needs_confirmation_and_maps_open_and_closed() {
    let d = one("homeassistant/cover/garage/config", "garage");
    assert_eq!(d.kind, "garage_door");
    assert_eq!(d.safety, Safety::Confirm);
    assert_eq!(d.room.as_deref(), Some("garage"));
    assert_eq!(d.name, "Garage door");
    let cover = d.capability("cover").unwrap();
    assert_eq!(
        d.encode(cover, &json!("closed")).unwrap(),
        ("home/garage/set".into(), "CLOSE".into())
    );
    assert_eq!(cover.state[0].decode(cover, b"open"), Some(json!("open")));
    assert!(d.capability("position").is_none());
}

#[test]
fn a_lock_needs_confirmation_and_reads_its_own_state_words() {
    let d = one("homeassistant/lock/frontdoor/config", "lock");
    assert_eq!(d.safety, Safety::Confirm);
    let lock = d.capability("lock").unwrap();
    assert_eq!(d.encode(lock, &json!("unlocked")).unwrap().1, "UNLOCK");
    assert_eq!(lock.state[0].decode(lock, b"LOCK"), Some(json!("locked")));
}

#[test]
fn a_climate_reads_modes_string_ranges_and_value_json_templates() {
    let d = one("homeassistant/climate/livingroom/config", "climate");
    assert_eq!(d.kind, "thermostat");
    let target = d.capability("target_temperature").unwrap();
    assert_eq!(target.range(), Some((15.0, 25.0)));
    assert!(matches!(target.kind, CapabilityType::Number { step: Some(s), .. } if s == 0.5));
    assert_eq!(
        d.encode(target, &json!(21.5)).unwrap(),
        (
            "homeassistant/climate/livingroom/targetTempCmd".into(),
            "21.5".into()
        )
    );
    let state = br#"{"mode":"heat","target_temp":"21","current_temp":"19.5"}"#;
    assert_eq!(target.state[0].decode(target, state), Some(json!(21)));
    let current = d.capability("current_temperature").unwrap();
    assert!(current.readonly);
    assert_eq!(current.state[0].decode(current, state), Some(json!(19.5)));
    let mode = d.capability("mode").unwrap();
    assert_eq!(
        mode.kind,
        CapabilityType::Enum {
            values: vec!["off".into(), "heat".into()]
        }
    );
    assert_eq!(mode.state[0].decode(mode, state), Some(json!("heat")));
}

#[test]
fn device_based_discovery_shares_the_state_topic_with_every_component() {
    let a = parse(
        "homeassistant/device/0AFFD2/config",
        fixture("device").as_bytes(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.devices.len(), 2);
    let temp = a
        .devices
        .iter()
        .find(|d| d.capability("temperature").is_some())
        .unwrap();
    assert_eq!(temp.name, "Bedroom");
    assert_eq!(temp.state_topic, "sensorBedroom/state");
    let cap = temp.capability("temperature").unwrap();
    assert!(cap.readonly);
    assert_eq!(cap.unit.as_deref(), Some("°C"));
    assert_eq!(
        cap.state[0].decode(cap, br#"{"temperature":23.20,"humidity":43.70}"#),
        Some(json!(23.2))
    );
}

#[test]
fn an_empty_config_removes_and_junk_is_an_error_not_a_panic() {
    let a = parse("homeassistant/light/kitchen/config", b"")
        .unwrap()
        .unwrap();
    assert!(a.devices.is_empty());
    assert!(parse("homeassistant/light/kitchen/config", b"[1,2]").is_err());
    assert!(parse("homeassistant/light/kitchen/config", b"{\"name\":").is_err());
    assert!(parse("homeassistant/light/kitchen/config", &[0xff, 0xfe]).is_err());
    // A light that names no topic at all.
    assert!(parse("homeassistant/light/kitchen/config", br#"{"name":"x"}"#).is_err());
    assert!(parse("homeassistant/status", b"online").unwrap().is_none());
    // A component giot does not model is ignored.
    let a = parse("homeassistant/button/b/config", br#"{"cmd_t":"b/press"}"#)
        .unwrap()
        .unwrap();
    assert!(a.devices.is_empty());
}

#[test]
fn templates_are_read_only_in_their_simple_form() {
    assert_eq!(
        template_key(Some("{{ value_json.a.b }}")),
        Ok(Some("a.b".into()))
    );
    assert_eq!(
        template_key(Some("{{ value_json['temp'] | float }}")),
        Ok(Some("temp".into()))
    );
    assert_eq!(template_key(Some("{{ value }}")), Ok(None));
    assert!(template_key(Some("{% if value == 'x' %}on{% endif %}")).is_err());
}

#[test]
fn numbers_and_selects_are_plain_values_with_their_range_or_options() {
    let a = parse(
        "homeassistant/number/fan_speed/config",
        br#"{"name": "Fan speed", "cmd_t": "fan/speed/set", "stat_t": "fan/speed", "min": 0, "max": 5, "step": 1}"#,
    )
    .unwrap()
    .unwrap();
    let cap = a.devices[0].capability("value").unwrap();
    assert_eq!(cap.range(), Some((0.0, 5.0)));
    assert_eq!(a.devices[0].encode(cap, &json!(3)).unwrap().1, "3");
    let a = parse(
        "homeassistant/select/mode/config",
        br#"{"name": "Boiler mode", "cmd_t": "boiler/mode/set", "options": ["eco", "comfort"]}"#,
    )
    .unwrap()
    .unwrap();
    let cap = a.devices[0].capability("option").unwrap();
    assert_eq!(
        cap.kind,
        CapabilityType::Enum {
            values: vec!["eco".into(), "comfort".into()]
        }
    );
    assert!(parse("homeassistant/select/x/config", br#"{"cmd_t": "x"}"#).is_err());
}

#[test]
fn a_vacuum_is_started_and_sent_home_with_its_own_payloads_and_reads_its_state() {
    // The shape of Home Assistant's MQTT vacuum documentation (state schema).
    let config = json!({
        "name": "Robbie", "unique_id": "robbie1",
        "command_topic": "vacuum/command", "state_topic": "vacuum/state",
        "payload_return_to_base": "dock", "supported_features": ["start", "pause", "return_home", "status"]
    });
    let a = parse(
        "homeassistant/vacuum/robbie/config",
        config.to_string().as_bytes(),
    )
    .unwrap()
    .unwrap();
    let d = &a.devices[0];
    assert_eq!(d.kind, "vacuum");
    let state = d.capability("state").unwrap();
    assert_eq!(
        d.encode(state, &json!("cleaning")).unwrap(),
        ("vacuum/command".into(), "start".into())
    );
    assert_eq!(d.encode(state, &json!("returning")).unwrap().1, "dock");
    assert_eq!(
        state.state[0].decode(state, br#"{"state": "docked", "battery_level": 61}"#),
        Some(json!("docked"))
    );
}

#[test]
fn a_scene_is_activated_with_payload_on() {
    let config = json!({"name": "Movie night", "command_topic": "scenes/movie/set", "payload_on": "ACTIVATE"});
    let a = parse(
        "homeassistant/scene/movie/config",
        config.to_string().as_bytes(),
    )
    .unwrap()
    .unwrap();
    let d = &a.devices[0];
    assert_eq!(d.kind, "scene");
    let power = d.capability("power").unwrap();
    assert_eq!(
        d.encode(power, &json!("on")).unwrap(),
        ("scenes/movie/set".into(), "ACTIVATE".into())
    );
}

fn config(topic: &str, config: serde_json::Value) -> Device {
    let a = parse(topic, config.to_string().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(a.devices.len(), 1, "{a:?}");
    a.devices.into_iter().next().unwrap()
}

/// Examples from Home Assistant's current "MQTT Light" documentation
/// (JSON schema): colour modes imply brightness since 2024.
#[test]
fn kind2_a_json_light_with_colour_modes_gets_brightness_without_the_old_flag() {
    let d = config(
        "homeassistant/light/desk/config",
        json!({"name": "Desk lamp", "schema": "json", "cmd_t": "desk/set", "stat_t": "desk/state",
               "supported_color_modes": ["brightness"]}),
    );
    let bri = d
        .capability("brightness")
        .expect("brightness from the colour mode");
    assert_eq!(bri.range(), Some((0.0, 255.0)));
    let (_, payload) = d.encode(bri, &json!(77)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v, json!({"state": "ON", "brightness": 77}));
    assert!(d.capability("color_temp").is_none());
    // `onoff` alone: no brightness.
    let plain = config(
        "homeassistant/light/p/config",
        json!({"schema": "json", "cmd_t": "p/set", "supported_color_modes": ["onoff"]}),
    );
    assert!(plain.capability("brightness").is_none());
    // Every other mode implies it too, with the announced scale.
    for mode in ["color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white"] {
        let d = config(
            "homeassistant/light/c/config",
            json!({"schema": "json", "cmd_t": "c/set", "supported_color_modes": [mode], "brightness_scale": 100}),
        );
        assert_eq!(
            d.capability("brightness").and_then(|c| c.range()),
            Some((0.0, 100.0)),
            "{mode}"
        );
    }
}

#[test]
fn kind2_colour_temperature_comes_in_mireds_or_kelvin_as_announced() {
    let mireds = config(
        "homeassistant/light/m/config",
        json!({"schema": "json", "cmd_t": "m/set", "stat_t": "m/state",
               "supported_color_modes": ["color_temp"], "min_mireds": 160, "max_mireds": 370}),
    );
    let ct = mireds.capability("color_temp").unwrap();
    assert_eq!(ct.range(), Some((160.0, 370.0)));
    assert_eq!(ct.unit.as_deref(), Some("mired"));
    let kelvin = config(
        "homeassistant/light/k/config",
        json!({"schema": "json", "cmd_t": "k/set", "supported_color_modes": ["color_temp"],
               "color_temp_kelvin": true, "min_kelvin": 2700, "max_kelvin": 6500}),
    );
    let ct = kelvin.capability("color_temp").unwrap();
    assert_eq!(ct.range(), Some((2700.0, 6500.0)));
    assert_eq!(ct.unit.as_deref(), Some("K"));
    let (_, payload) = kelvin.encode(ct, &json!(3000)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(v, json!({"state": "ON", "color_temp": 3000}));
    // Defaults when no range is announced.
    let d = config(
        "homeassistant/light/d/config",
        json!({"schema": "json", "cmd_t": "d/set", "supported_color_modes": ["color_temp"], "color_temp_kelvin": true}),
    );
    assert_eq!(
        d.capability("color_temp").unwrap().range(),
        Some((2000.0, 6535.0))
    );
    // The default schema: its own topic, abbreviated keys.
    let d = config(
        "homeassistant/light/e/config",
        json!({"cmd_t": "e/set", "clr_temp_cmd_t": "e/ct/set", "clr_temp_stat_t": "e/ct", "min_mirs": 200, "max_mirs": 400}),
    );
    let ct = d.capability("color_temp").unwrap();
    assert_eq!(ct.range(), Some((200.0, 400.0)));
    assert_eq!(
        d.encode(ct, &json!(250)).unwrap(),
        ("e/ct/set".into(), "250".into())
    );
}

/// The cover Zigbee2MQTT itself announces: its position goes out through
/// the template, never as the bare number.
#[test]
fn kind3_a_set_position_template_writes_the_payload_the_device_reads() {
    let d = config(
        "homeassistant/cover/0x1/cover/config",
        json!({"name": "Blind", "cmd_t": "zigbee2mqtt/Blind/set", "stat_t": "zigbee2mqtt/Blind",
               "set_pos_t": "zigbee2mqtt/Blind/set", "pos_t": "zigbee2mqtt/Blind",
               "set_position_template": "{ \"position\": {{ position }} }",
               "position_template": "{{ value_json.position }}",
               "value_template": "{{ value_json.state }}"}),
    );
    let pos = d.capability("position").unwrap();
    assert!(!pos.readonly);
    assert_eq!(
        d.encode(pos, &json!(40)).unwrap(),
        (
            "zigbee2mqtt/Blind/set".into(),
            r#"{ "position": 40 }"#.into()
        )
    );
    assert_eq!(
        pos.state[0].decode(pos, br#"{"position": 35, "state": "OPEN"}"#),
        Some(json!(35))
    );
}

#[test]
fn kind3_command_and_value_templates_are_rendered_with_the_filters_users_write() {
    let d = config(
        "homeassistant/light/t/config",
        json!({"cmd_t": "t/set", "stat_t": "t/state", "bri_cmd_t": "t/bri", "bri_stat_t": "t/state",
               "bri_scl": 100,
               "brightness_command_template": "{\"level\": {{ value | int }}}",
               "brightness_value_template": "{{ (value_json.level | float(0) * 100 / 254) | round(0) | int }}",
               "state_value_template": "{{ value_json.power | lower }}"}),
    );
    let bri = d.capability("brightness").unwrap();
    assert_eq!(
        d.encode(bri, &json!(30)).unwrap(),
        ("t/bri".into(), r#"{"level": 30}"#.into())
    );
    assert_eq!(
        bri.state[0].decode(bri, br#"{"level": 127, "power": "ON"}"#),
        Some(json!(50))
    );
    let power = d.capability("power").unwrap();
    assert_eq!(
        power.state[0].decode(power, br#"{"level": 1, "power": "ON"}"#),
        Some(json!("on"))
    );
    // A value template on a number sensor, rendered.
    let s = config(
        "homeassistant/sensor/s/config",
        json!({"stat_t": "s/state", "unit_of_meas": "°C", "dev_cla": "temperature",
               "val_tpl": "{{ value_json.t | float * 0.1 }}"}),
    );
    let t = &s.capabilities[0];
    assert_eq!(t.state[0].decode(t, br#"{"t": 215}"#), Some(json!(21.5)));
    // A payload the template cannot read is no state, never a guess.
    assert_eq!(t.state[0].decode(t, br#"{"x": 1}"#), None);
}

#[test]
fn kind3_a_template_giot_cannot_render_makes_the_capability_read_only_and_is_reported() {
    let topic = "homeassistant/number/n/config";
    let a = parse(
        topic,
        json!({"cmd_t": "n/set", "stat_t": "n/state", "min": 0, "max": 10,
               "command_template": "{{ value | as_timestamp }}"})
        .to_string()
        .as_bytes(),
    )
    .unwrap()
    .unwrap();
    let d = &a.devices[0];
    let value = d.capability("value").unwrap();
    assert!(value.readonly && value.command.is_none());
    assert_eq!(d.encode(value, &json!(5)), None);
    assert_eq!(a.problems.len(), 1, "{:?}", a.problems);
    assert!(
        a.problems[0].contains("command_template cannot be rendered"),
        "{:?}",
        a.problems
    );
    assert!(a.problems[0].contains("read-only"), "{:?}", a.problems);
    // Without a state to read, the capability is left out, and that is said.
    let e = parse(
        "homeassistant/number/m/config",
        json!({"cmd_t": "m/set", "command_template": "{{ value | int + }}"})
            .to_string()
            .as_bytes(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("left out"), "{e}");
    // A value template that does not even parse: the state is not read.
    let a = parse(
        "homeassistant/sensor/v/config",
        json!({"stat_t": "v/state", "val_tpl": "{{ value_json.x ", "cmd_t": "v/set"})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
    .unwrap();
    assert!(
        a.problems
            .iter()
            .any(|p| p.contains("value_template cannot be used")),
        "{:?}",
        a.problems
    );
}

/// The template schema, as in Home Assistant's "MQTT Light" documentation.
#[test]
fn kind2_kind3_a_template_schema_light_is_commanded_through_its_templates() {
    let d = config(
        "homeassistant/light/tpl/config",
        json!({"schema": "template", "cmd_t": "tpl/set", "stat_t": "tpl/state",
               "command_on_template": "on,{{ brightness|d }}",
               "command_off_template": "off",
               "state_template": "{{ value.split(',')[0] }}",
               "brightness_template": "{{ value.split(',')[1] | int }}"}),
    );
    let power = d.capability("power").unwrap();
    assert_eq!(
        d.encode(power, &json!("on")).unwrap(),
        ("tpl/set".into(), "on,".into())
    );
    assert_eq!(
        d.encode(power, &json!("off")).unwrap(),
        ("tpl/set".into(), "off".into())
    );
    assert_eq!(power.state[0].decode(power, b"on,120"), Some(json!("on")));
    let bri = d.capability("brightness").unwrap();
    assert_eq!(
        d.encode(bri, &json!(30)).unwrap(),
        ("tpl/set".into(), "on,30".into())
    );
    assert_eq!(bri.state[0].decode(bri, b"on,120"), Some(json!(120)));
}

#[test]
fn kind3_a_value_the_command_template_cannot_write_is_refused_never_sent_wrong() {
    let d = config(
        "homeassistant/number/odd/config",
        json!({"cmd_t": "odd/set", "stat_t": "odd/state", "min": 0, "max": 10,
               "command_template": "{{ value if value != 3 else nothing_defined }}"}),
    );
    let registry = crate::registry::Registry::from_devices(vec![d.clone()]);
    let cap = d.capability("value").unwrap();
    assert!(!cap.readonly, "the samples render");
    let ask = |v: i64| {
        crate::policy::check(
            &registry,
            &crate::types::PolicyOverrides::default(),
            &[d.action("value", json!(v))],
            true,
        )
    };
    match ask(3) {
        crate::policy::Verdict::Refuse(why) => assert!(why.contains("cannot write"), "{why}"),
        other => panic!("{other:?}"),
    }
    match ask(4) {
        crate::policy::Verdict::Allow(a) => assert_eq!(a[0].payload, "4"),
        other => panic!("{other:?}"),
    }
}
