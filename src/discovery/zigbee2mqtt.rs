//! Zigbee2MQTT: the retained device list on `zigbee2mqtt/bridge/devices`.
//!
//! Each device's `definition.exposes` lists what it can do: generic
//! features (`binary`, `numeric`, `enum`, `text`) and specific ones
//! (`light`, `switch`, `lock`, `climate`, `cover`, `fan`) grouping their
//! `features`. The `access` bits say how: 1 the property is published in
//! the device's state (`zigbee2mqtt/<friendly_name>`, a JSON object), 2 it
//! can be set (JSON on `zigbee2mqtt/<friendly_name>/set`), 4 it can be
//! asked for. A property that cannot be set is read-only. The on/off
//! `state` of a light or switch becomes the registry's `power` (`on`/`off`),
//! a lock's `state` becomes `lock` (`locked`/`unlocked`); the device's own
//! words (`ON`, `LOCK`) stay in the capability's value maps.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{
    Announcement, DiscoveryError, MAX_DESCRIPTION, MAX_NAME, clean_text, default_safety, make_id,
    make_unique_id, slug, slug_or,
};
use crate::registry::{
    Capability, CapabilityType, CommandSpec, Device, Discovered, PayloadFormat, StateSource,
};

const BASE: &str = "zigbee2mqtt";

/// Access bit: the property is published in the device's state.
const PUBLISHED: u64 = 1;
/// Access bit: the property can be set.
const SET: u64 = 2;

/// Reads the device list; the announcement replaces every Zigbee2MQTT device.
pub fn parse(topic: &str, payload: &[u8]) -> Result<Announcement, DiscoveryError> {
    let text = std::str::from_utf8(payload).map_err(|_| DiscoveryError::Utf8)?;
    if text.trim().is_empty() {
        return Ok(Announcement::new(topic, Vec::new()));
    }
    let Value::Array(list) = serde_json::from_str::<Value>(text)? else {
        return Err(DiscoveryError::Invalid(
            "bridge/devices must be a JSON array of devices".into(),
        ));
    };
    let mut announcement = Announcement::new(topic, Vec::new());
    let mut ids = std::collections::BTreeSet::new();
    for (i, entry) in list.iter().enumerate() {
        let label = entry
            .get("friendly_name")
            .and_then(Value::as_str)
            .map_or_else(
                || format!("device {i}"),
                |f| format!("device {:?}", clean_text(f, MAX_NAME)),
            );
        match device(topic, entry) {
            Ok(Found::Device(d, ieee)) => {
                let mut d = *d;
                // Two names that sanitise alike ("Kitchen Lamp", "kitchen_lamp")
                // keep apart by the IEEE address, then by their position.
                if !ids.insert(d.id.clone()) {
                    let was = d.id.clone();
                    d.id = match ieee.filter(|a| !slug(a).is_empty()) {
                        Some(a) => make_id(&d.id, &a),
                        None => format!("{}_{}", d.id, i + 1),
                    };
                    if !ids.insert(d.id.clone()) {
                        d.id = format!(
                            "{was}_{}",
                            super::short_hash(&format!("{i}{}", d.state_topic))
                        );
                        ids.insert(d.id.clone());
                    }
                    announcement.problems.push(format!(
                        "{label}: id {was} was taken; announced as {}",
                        d.id
                    ));
                }
                announcement.devices.push(d);
            }
            Ok(Found::Coordinator) => {}
            Ok(Found::Skipped(why)) => announcement.problems.push(format!("{label}: {why}")),
            Err(e) => announcement.problems.push(format!("{label}: {e}")),
        }
    }
    Ok(announcement)
}

/// What one entry of the device list gives.
enum Found {
    /// A device, with its IEEE address when it has one.
    Device(Box<Device>, Option<String>),
    /// The coordinator: the network itself, not a device to act on.
    Coordinator,
    /// A device left out, and why.
    Skipped(String),
}

fn device(topic: &str, entry: &Value) -> Result<Found, DiscoveryError> {
    let Some(entry) = entry.as_object() else {
        return Err(DiscoveryError::Invalid("not a JSON object".into()));
    };
    if entry.get("type").and_then(Value::as_str) == Some("Coordinator") {
        return Ok(Found::Coordinator);
    }
    if entry.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Ok(Found::Skipped("disabled in Zigbee2MQTT".into()));
    }
    let Some(friendly) = entry
        .get("friendly_name")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
    else {
        return Err(DiscoveryError::Invalid("no friendly_name".into()));
    };
    let ieee = entry
        .get("ieee_address")
        .and_then(Value::as_str)
        .map(String::from);
    // MQTT topics may hold spaces and any script: only what MQTT forbids
    // in a topic name keeps a device out.
    let state_topic = format!("{BASE}/{friendly}");
    let set_topic = format!("{state_topic}/set");
    if let Some(why) = crate::mqtt::topic::name_problem(&set_topic) {
        return Err(DiscoveryError::Invalid(format!(
            "friendly_name {:?} cannot be part of a topic: the topic {why}",
            clean_text(friendly, MAX_NAME)
        )));
    }
    // Devices not yet interviewed have no definition: nothing to act on.
    let Some(definition) = entry.get("definition").and_then(Value::as_object) else {
        return Ok(Found::Skipped("not interviewed yet (no definition)".into()));
    };
    let Some(exposes) = definition.get("exposes").and_then(Value::as_array) else {
        return Ok(Found::Skipped("its definition exposes nothing".into()));
    };
    let mut b = Builder {
        state_topic: &state_topic,
        set_topic: &set_topic,
        caps: Vec::new(),
    };
    let mut group: Option<&str> = None;
    for e in exposes {
        let ty = e.get("type").and_then(Value::as_str).unwrap_or("");
        match (ty, e.get("features").and_then(Value::as_array)) {
            ("light" | "switch" | "lock" | "climate" | "cover" | "fan", Some(features)) => {
                group = group.or(Some(ty));
                for f in features {
                    b.feature(f, Some(ty));
                }
            }
            // Composites (colour, schedules) and lists are not modelled.
            (_, Some(_)) | ("composite" | "list", _) => {}
            _ => b.feature(e, None),
        }
    }
    if b.caps.is_empty() {
        return Ok(Found::Skipped(
            "exposes no feature giot models (binary, numeric, enum, text)".into(),
        ));
    }
    let description = ["vendor", "model", "description"]
        .iter()
        .filter_map(|k| definition.get(*k).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let description = (!description.is_empty()).then(|| clean_text(&description, MAX_DESCRIPTION));
    let id = make_unique_id("z2m", &[Some(friendly), ieee.as_deref()], &state_topic);
    let name = match clean_text(&friendly.replace(['/', '_'], " "), MAX_NAME) {
        n if n.is_empty() => id.replace('_', " "),
        n => n,
    };
    let about = description.clone().unwrap_or_default().to_lowercase();
    let kind = match group {
        Some("light") => "light",
        Some("switch") => "switch",
        Some("lock") => "lock",
        Some("climate") => "thermostat",
        Some("cover") if about.contains("garage") => "garage_door",
        Some("cover") => "cover",
        Some("fan") => "fan",
        _ if about.contains("valve") => "valve",
        _ if b.caps.iter().all(|c| c.readonly) => "sensor",
        _ => "device",
    };
    Ok(Found::Device(
        Box::new(Device {
            id,
            safety: default_safety(kind, &[&name, &about]),
            name,
            aliases: Vec::new(),
            room: None,
            kind: kind.into(),
            state_topic: state_topic.clone(),
            command_topic: None,
            capabilities: b.caps,
            cheat: false,
            discovered: Some(Discovered {
                convention: "zigbee2mqtt".into(),
                topic: topic.into(),
                description,
            }),
        }),
        ieee,
    ))
}

struct Builder<'a> {
    state_topic: &'a str,
    set_topic: &'a str,
    caps: Vec<Capability>,
}

fn lower_map(values: &[Value]) -> (Vec<String>, BTreeMap<String, Value>) {
    let mut names = Vec::new();
    let mut map = BTreeMap::new();
    for v in values {
        let wire = crate::registry::wire::value_key(v);
        let logical = wire.to_lowercase();
        if names.contains(&logical) {
            continue;
        }
        if logical != wire {
            map.insert(logical.clone(), v.clone());
        }
        names.push(logical);
    }
    (names, map)
}

impl Builder<'_> {
    fn feature(&mut self, f: &Value, group: Option<&str>) {
        let Some(f) = f.as_object() else { return };
        let Some(property) = f
            .get("property")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        else {
            return;
        };
        let access = f.get("access").and_then(Value::as_u64).unwrap_or(PUBLISHED);
        let readonly = access & SET == 0;
        let mut name = slug_or(property, "value");
        let mut values = BTreeMap::new();
        let unit = f
            .get("unit")
            .and_then(Value::as_str)
            .map(|u| clean_text(u, 12));
        let kind = match f.get("type").and_then(Value::as_str) {
            Some("binary") => {
                let on = f.get("value_on").cloned().unwrap_or(Value::Bool(true));
                let off = f.get("value_off").cloned().unwrap_or(Value::Bool(false));
                if on.is_boolean() && off.is_boolean() {
                    CapabilityType::Bool
                } else if group == Some("lock") && property.starts_with("state") {
                    name = name.replacen("state", "lock", 1);
                    values.insert("locked".to_string(), on);
                    values.insert("unlocked".to_string(), off);
                    CapabilityType::Enum {
                        values: vec!["locked".into(), "unlocked".into()],
                    }
                } else {
                    let (mut names, map) = lower_map(&[on, off]);
                    if property.starts_with("state") && names == ["on", "off"] {
                        name = name.replacen("state", "power", 1);
                    }
                    values = map;
                    if names.len() < 2 {
                        names.push("off".into());
                    }
                    CapabilityType::Enum { values: names }
                }
            }
            Some("numeric") => {
                let min = f.get("value_min").and_then(Value::as_f64);
                let max = f.get("value_max").and_then(Value::as_f64);
                // A step must be positive to snap to (0 or less is none).
                let step = f
                    .get("value_step")
                    .and_then(Value::as_f64)
                    .filter(|s| *s > 0.0);
                match (min, max) {
                    (Some(min), Some(max)) if min <= max => CapabilityType::Number {
                        min,
                        max,
                        // Settable numbers without a step are integers
                        // (brightness, colour temperature, position).
                        step: step.or((!readonly).then_some(1.0)),
                    },
                    _ if readonly => CapabilityType::Number {
                        min: -super::UNBOUNDED,
                        max: super::UNBOUNDED,
                        step,
                    },
                    // A settable number without a range cannot be checked.
                    _ => return,
                }
            }
            Some("enum") => {
                let list = f
                    .get("values")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let (names, map) = lower_map(&list);
                if names.is_empty() {
                    return;
                }
                values = map;
                CapabilityType::Enum { values: names }
            }
            Some("text") => CapabilityType::String,
            _ => return,
        };
        // A plug's `power` reading next to its `power` switch.
        if self.caps.iter().any(|c| c.name == name) {
            name = match unit.as_deref() {
                Some("W") => format!("{name}_w"),
                _ => format!("{name}_{}", self.caps.len() + 1),
            };
        }
        let command = (!readonly).then(|| CommandSpec {
            topic: self.set_topic.to_string(),
            format: PayloadFormat::Json,
            key: Some(property.to_string()),
            values: values.clone(),
            with: Map::new(),
            template: None,
        });
        let state = (access & PUBLISHED != 0)
            .then(|| StateSource {
                topic: self.state_topic.to_string(),
                key: Some(property.to_string()),
                values,
                template: None,
            })
            .into_iter()
            .collect();
        self.caps.push(Capability {
            name,
            kind,
            unit: unit.filter(|u| !u.is_empty()),
            readonly,
            command,
            state,
        });
    }
}

#[cfg(test)]
mod tests;
