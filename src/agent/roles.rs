//! What a device and its capabilities are, in Home Assistant's terms.
//!
//! Intent templates speak of *domains* (`light`, `cover`, `lock`,
//! `media_player`, …) and of roles (brightness, position, set point,
//! volume). giot's registry speaks of kinds and capability names. This
//! module maps one onto the other, from the kind first and the
//! capabilities second, so that a discovered device with an unfamiliar
//! kind still gets a domain when its capabilities say what it is.

use crate::registry::{Capability, CapabilityType, Device};

/// The Home Assistant domain a device belongs to.
pub fn domain(d: &Device) -> &'static str {
    let by_kind = match d.kind.as_str() {
        "light" | "lamp" | "bulb" | "led_strip" => "light",
        "switch" | "plug" | "outlet" | "socket" | "relay" | "input_boolean" => "switch",
        "fan" => "fan",
        "cover" | "blind" | "blinds" | "shutter" | "curtain" | "awning" | "garage_door"
        | "gate" | "shade" => "cover",
        "lock" => "lock",
        "thermostat" | "climate" | "heater" | "radiator" | "air_conditioner" | "hvac" => "climate",
        "media_player" | "tv" | "speaker" | "media" | "receiver" => "media_player",
        "vacuum" => "vacuum",
        "scene" => "scene",
        "script" => "script",
        "humidifier" | "dehumidifier" => "humidifier",
        "lawn_mower" | "mower" => "lawn_mower",
        "valve" | "sprinkler" | "irrigation" | "water_valve" => "valve",
        "vehicle" => "vehicle",
        "sensor" => {
            return if d
                .capabilities
                .iter()
                .any(|c| c.kind == CapabilityType::Bool)
            {
                "binary_sensor"
            } else {
                "sensor"
            };
        }
        _ => "",
    };
    if !by_kind.is_empty() {
        return by_kind;
    }
    // A valve or sprinkler that only switches is a switch to Home Assistant.
    if on_off(d).is_some() && d.writable().count() == 1 {
        return "switch";
    }
    if find(d, &["position"]).is_some() {
        return "cover";
    }
    if lock(d).is_some() {
        return "lock";
    }
    if setpoints(d).next().is_some() {
        return "climate";
    }
    if on_off(d).is_some() {
        return "switch";
    }
    if d.writable().next().is_none() {
        return "sensor";
    }
    ""
}

/// Whether the device is of `device_class` (`blind`, `garage`, `door`,
/// `window`, …): its kind, id, name or aliases contain the word.
pub fn has_class(d: &Device, class: &str) -> bool {
    let class = class.to_lowercase();
    std::iter::once(d.kind.as_str())
        .chain(std::iter::once(d.id.as_str()))
        .chain(std::iter::once(d.name.as_str()))
        .chain(d.aliases.iter().map(String::as_str))
        .any(|text| {
            text.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w.starts_with(&class))
        })
}

pub fn enum_values(c: &Capability) -> &[String] {
    match &c.kind {
        CapabilityType::Enum { values } => values,
        _ => &[],
    }
}

fn has_values(c: &Capability, wanted: &[&str]) -> bool {
    let v = enum_values(c);
    wanted.iter().all(|w| v.iter().any(|x| x == w))
}

/// The first writable capability named one of `names`.
pub fn find<'a>(d: &'a Device, names: &[&str]) -> Option<&'a Capability> {
    names
        .iter()
        .find_map(|n| d.writable().find(|c| c.name == *n))
}

/// The first capability (read-only too) named one of `names`.
pub fn find_any<'a>(d: &'a Device, names: &[&str]) -> Option<&'a Capability> {
    names
        .iter()
        .find_map(|n| d.capabilities.iter().find(|c| c.name == *n))
}

/// The writable on/off switch: an enum with both `on` and `off`, or a
/// writable bool named `power`, `on`, `state` or `switch`.
pub fn on_off(d: &Device) -> Option<&Capability> {
    d.writable()
        .find(|c| has_values(c, &["on", "off"]))
        .or_else(|| {
            d.writable().find(|c| {
                c.kind == CapabilityType::Bool
                    && matches!(c.name.as_str(), "power" | "on" | "state" | "switch")
            })
        })
}

/// The lock's capability: an enum with `locked` and `unlocked`.
pub fn lock(d: &Device) -> Option<&Capability> {
    d.writable()
        .find(|c| has_values(c, &["locked", "unlocked"]))
}

/// Set points, heating ones first: `target_temperature`, `*setpoint*`,
/// `*set_point*`, numbers in °C, °F or K.
pub fn setpoints(d: &Device) -> impl Iterator<Item = &Capability> {
    d.writable().filter(|c| {
        matches!(c.kind, CapabilityType::Number { .. })
            && (c.name.contains("target_temp")
                || c.name.contains("setpoint")
                || c.name.contains("set_point"))
    })
}

/// The set point to write: the cooling one when `cool` (the goal says so,
/// or the device is cooling), the heating or only one otherwise. `None`
/// when the device has separate heating and cooling set points and
/// nothing says which.
pub fn setpoint(d: &Device, cool: Option<bool>) -> Option<&Capability> {
    let all: Vec<&Capability> = setpoints(d).collect();
    let cooling: Vec<&Capability> = all
        .iter()
        .copied()
        .filter(|c| c.name.contains("cool"))
        .collect();
    let heating: Vec<&Capability> = all
        .iter()
        .copied()
        .filter(|c| c.name.contains("heat"))
        .collect();
    let neutral: Vec<&Capability> = all
        .iter()
        .copied()
        .filter(|c| !c.name.contains("cool") && !c.name.contains("heat"))
        .collect();
    match cool {
        Some(true) => cooling.first().or(neutral.first()).copied(),
        Some(false) => heating.first().or(neutral.first()).copied(),
        None if !neutral.is_empty() => neutral.first().copied(),
        None if cooling.is_empty() || heating.is_empty() => all.first().copied(),
        None => None,
    }
}

/// The number a percentage of `c`'s range is: min + p% of (max − min).
pub fn percent_of(c: &Capability, percent: f64) -> Option<f64> {
    match c.kind {
        CapabilityType::Number { min, max, .. } => {
            if c.unit.as_deref() == Some("%") && min == 0.0 && max == 100.0 {
                Some(percent)
            } else {
                Some(min + percent / 100.0 * (max - min))
            }
        }
        _ => None,
    }
}

/// The lowest level at which `c` (a brightness, a speed) is still on: its
/// step, or 1% of its range, above its minimum.
pub fn lowest_on(c: &Capability) -> Option<f64> {
    match c.kind {
        CapabilityType::Number { min, max, step } => {
            let step = step.unwrap_or_else(|| ((max - min) / 100.0).max(f64::EPSILON));
            Some(if min > 0.0 { min } else { min + step })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse_str;
    use std::path::Path;

    fn device(yaml_caps: &str, kind: &str) -> Device {
        let yaml = format!(
            "devices:\n  - id: x\n    kind: {kind}\n    state_topic: s\n    command_topic: c\n    capabilities:\n{yaml_caps}"
        );
        parse_str(&yaml, Path::new("d.yaml")).unwrap().devices()[0].clone()
    }

    #[test]
    fn domains_come_from_the_kind_then_the_capabilities() {
        let pump = device(
            "      - {name: power, type: enum, values: [\"on\", \"off\"]}\n",
            "pump",
        );
        assert_eq!(domain(&pump), "switch");
        let cover = device(
            "      - {name: position, type: number, min: 0, max: 100}\n",
            "awning_motor",
        );
        assert_eq!(domain(&cover), "cover");
        let tv = device(
            "      - {name: volume, type: number, min: 0, max: 100}\n",
            "tv",
        );
        assert_eq!(domain(&tv), "media_player");
    }

    #[test]
    fn the_cooling_set_point_is_chosen_only_when_cooling_is_meant() {
        let t = device(
            "      - {name: occupied_heating_setpoint, type: number, min: 5, max: 30}\n      - {name: occupied_cooling_setpoint, type: number, min: 10, max: 35}\n",
            "thermostat",
        );
        assert_eq!(
            setpoint(&t, Some(true)).unwrap().name,
            "occupied_cooling_setpoint"
        );
        assert_eq!(
            setpoint(&t, Some(false)).unwrap().name,
            "occupied_heating_setpoint"
        );
        assert!(setpoint(&t, None).is_none());
        let one = device(
            "      - {name: target_temperature, type: number, min: 5, max: 30}\n",
            "thermostat",
        );
        assert_eq!(
            setpoint(&one, Some(true)).unwrap().name,
            "target_temperature"
        );
    }

    #[test]
    fn minimum_brightness_is_the_lowest_on_level_not_off() {
        let l = device(
            "      - {name: brightness, type: number, min: 0, max: 100, unit: \"%\"}\n",
            "light",
        );
        assert_eq!(lowest_on(&l.capabilities[0]), Some(1.0));
        let k = device(
            "      - {name: brightness, type: number, min: 0, max: 254}\n",
            "light",
        );
        assert_eq!(percent_of(&k.capabilities[0], 50.0), Some(127.0));
    }
}
