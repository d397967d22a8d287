//! Tasmota: its native discovery where present, its telemetry otherwise.
//!
//! Native discovery (`SetOption19 0`, the default since 9.2) publishes
//! retained `tasmota/discovery/<MAC>/config` (topic `t`, full-topic pattern
//! `ft`, prefixes `tp`, relay types `rl`, friendly names `fn`, light subtype
//! `lt_st`, power payloads `state`) and `tasmota/discovery/<MAC>/sensors`
//! (the `sn` object of the sensor readings). Without it, a device is seen
//! on `tele/<topic>/STATE`, `tele/<topic>/LWT` and `stat/<topic>/RESULT`:
//! the `POWER`/`POWER<n>` keys are its relays, `Dimmer` its light level.
//! Commands are plain payloads on `cmnd/<topic>/<Command>` (`POWER1` `ON`,
//! `Dimmer` `40`); the state is read from `stat/<topic>/POWER<n>`,
//! `stat/<topic>/RESULT` and `tele/<topic>/STATE`, the newest first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{
    Announcement, DiscoveryError, MAX_NAME, clean_text, default_safety, make_unique_id, slug_or,
};
use crate::registry::{
    Capability, CapabilityType, CommandSpec, Device, Discovered, PayloadFormat, StateSource,
};

/// Where fallback devices are kept (sorts after every real topic).
const FALLBACK: &str = "~tasmota/";

/// The Tasmota topic of a fallback source, if `source` is one.
pub fn fallback_topic(source: &str) -> Option<&str> {
    source.strip_prefix(FALLBACK)
}

/// What one Tasmota topic has shown of itself without native discovery.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    relays: BTreeSet<String>,
    dimmer: bool,
    lwt: bool,
}

/// One node's native config, as far as the sensors need it.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    topic: String,
    /// The id its relays are named after.
    id: String,
    tele: String,
    name: String,
}

/// What Tasmota discovery has learned so far.
#[derive(Debug, Clone, Default)]
pub struct State {
    seen: BTreeMap<String, Seen>,
    /// Native configs by MAC.
    nodes: BTreeMap<String, Node>,
    /// The last `sensors` payload by MAC, until (and after) its config.
    sensors: BTreeMap<String, Vec<u8>>,
}

impl State {
    /// Topics covered by native discovery.
    pub fn native_topics(&self) -> BTreeSet<&str> {
        self.nodes.values().map(|n| n.topic.as_str()).collect()
    }

    pub fn parse(
        &mut self,
        topic: &str,
        payload: &[u8],
    ) -> Result<Option<Announcement>, DiscoveryError> {
        let parts: Vec<&str> = topic.split('/').collect();
        match parts.as_slice() {
            ["tasmota", "discovery", mac, "config"] => {
                let announcement = parse_config(topic, payload)?;
                match announcement.1 {
                    Some(node) => self.nodes.insert(mac.to_string(), node),
                    None => self.nodes.remove(*mac),
                };
                Ok(Some(announcement.0))
            }
            ["tasmota", "discovery", mac, "sensors"] => {
                self.sensors.insert(mac.to_string(), payload.to_vec());
                let source = format!("tasmota/discovery/{mac}/sensors");
                match self.nodes.get(*mac) {
                    Some(node) => parse_sensors(&source, node, payload).map(Some),
                    None => Ok(None),
                }
            }
            [
                prefix @ ("tele" | "stat"),
                t,
                what @ ("STATE" | "LWT" | "RESULT"),
            ] => {
                let mut seen = self.seen.get(*t).cloned().unwrap_or_default();
                let text = std::str::from_utf8(payload).map_err(|_| DiscoveryError::Utf8)?;
                if *what == "LWT" {
                    seen.lwt = true;
                } else {
                    let Value::Object(obj) = serde_json::from_str::<Value>(text)? else {
                        return Err(DiscoveryError::Invalid(format!(
                            "{prefix}/{t}/{what} must be a JSON object"
                        )));
                    };
                    for k in obj.keys() {
                        if is_power_key(k) {
                            seen.relays.insert(k.clone());
                        } else if k == "Dimmer" {
                            seen.dimmer = true;
                        }
                    }
                }
                if seen.relays.is_empty() && !seen.dimmer && !seen.lwt {
                    return Ok(None);
                }
                if self.seen.get(*t) == Some(&seen) {
                    return Ok(None);
                }
                self.seen.insert(t.to_string(), seen.clone());
                Ok(Some(Announcement::new(
                    &format!("{FALLBACK}{t}"),
                    vec![fallback_device(t, &seen)],
                )))
            }
            _ => Ok(None),
        }
    }

    /// The sensors announcement to refresh after `mac`'s config changed.
    pub fn sensors_for(&self, mac: &str) -> Option<Result<Announcement, DiscoveryError>> {
        let node = self.nodes.get(mac)?;
        let payload = self.sensors.get(mac)?;
        Some(parse_sensors(
            &format!("tasmota/discovery/{mac}/sensors"),
            node,
            payload,
        ))
    }
}

fn is_power_key(k: &str) -> bool {
    k.strip_prefix("POWER")
        .is_some_and(|n| n.is_empty() || (n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())))
}

/// Topics of one Tasmota node: `cmnd/<t>/`, `stat/<t>/`, `tele/<t>/`.
struct Topics {
    cmnd: String,
    stat: String,
    tele: String,
}

impl Topics {
    fn plain(t: &str) -> Self {
        Self {
            cmnd: format!("cmnd/{t}/"),
            stat: format!("stat/{t}/"),
            tele: format!("tele/{t}/"),
        }
    }
}

fn power_values(off: &Value, on: &Value) -> BTreeMap<String, Value> {
    [
        ("on".to_string(), on.clone()),
        ("off".to_string(), off.clone()),
    ]
    .into()
}

/// The `power` capability of relay `key` (`POWER`, `POWER2`).
fn power(name: &str, key: &str, topics: &Topics, off: &Value, on: &Value) -> Capability {
    let values = power_values(off, on);
    Capability {
        name: name.into(),
        kind: CapabilityType::Enum {
            values: vec!["on".into(), "off".into()],
        },
        unit: None,
        readonly: false,
        command: Some(CommandSpec {
            topic: format!("{}{key}", topics.cmnd),
            format: PayloadFormat::Plain,
            key: None,
            values: values.clone(),
            with: Map::new(),
            template: None,
        }),
        state: vec![
            StateSource {
                topic: format!("{}{key}", topics.stat),
                key: None,
                values: values.clone(),
                template: None,
            },
            StateSource {
                topic: format!("{}RESULT", topics.stat),
                key: Some(key.into()),
                values: values.clone(),
                template: None,
            },
            StateSource {
                topic: format!("{}STATE", topics.tele),
                key: Some(key.into()),
                values,
                template: None,
            },
        ],
    }
}

fn dimmer(topics: &Topics) -> Capability {
    Capability {
        name: "brightness".into(),
        kind: CapabilityType::Number {
            min: 0.0,
            max: 100.0,
            step: Some(1.0),
        },
        unit: Some("%".into()),
        readonly: false,
        command: Some(CommandSpec {
            topic: format!("{}Dimmer", topics.cmnd),
            format: PayloadFormat::Plain,
            key: None,
            values: BTreeMap::new(),
            with: Map::new(),
            template: None,
        }),
        state: ["RESULT", "STATE"]
            .iter()
            .map(|what| StateSource {
                topic: format!(
                    "{}{what}",
                    if *what == "RESULT" {
                        &topics.stat
                    } else {
                        &topics.tele
                    }
                ),
                key: Some("Dimmer".into()),
                values: BTreeMap::new(),
                template: None,
            })
            .collect(),
    }
}

fn discovered(topic: &str, description: Option<String>) -> Option<Discovered> {
    Some(Discovered {
        convention: "tasmota".into(),
        topic: topic.into(),
        description,
    })
}

/// A device seen only on its telemetry.
fn fallback_device(t: &str, seen: &Seen) -> Device {
    let topics = Topics::plain(t);
    let on = Value::from("ON");
    let off = Value::from("OFF");
    let mut caps: Vec<Capability> = seen
        .relays
        .iter()
        .map(|key| power(&key.to_lowercase(), key, &topics, &off, &on))
        .collect();
    if seen.dimmer {
        caps.push(dimmer(&topics));
    }
    if seen.lwt {
        caps.push(Capability {
            name: "online".into(),
            kind: CapabilityType::Enum {
                values: vec!["online".into(), "offline".into()],
            },
            unit: None,
            readonly: true,
            command: None,
            state: vec![StateSource {
                topic: format!("{}LWT", topics.tele),
                key: None,
                values: BTreeMap::new(),
                template: None,
            }],
        });
    }
    let name = clean_text(&t.replace(['_', '-'], " "), MAX_NAME);
    let kind = if seen.dimmer { "light" } else { "switch" };
    let state_topic = caps
        .first()
        .and_then(|c| c.state.first())
        .map(|s| s.topic.clone())
        .unwrap_or_default();
    Device {
        id: make_unique_id("tasmota", &[Some(t)], t),
        safety: default_safety(kind, &[&name]),
        name,
        aliases: Vec::new(),
        room: None,
        kind: kind.into(),
        state_topic,
        command_topic: None,
        capabilities: caps,
        cheat: false,
        discovered: discovered(&format!("tele/{t}/STATE"), None),
    }
}

/// A name for a node whose `dn` and `t` give none.
fn base_id_words(t: &str, mac: &str) -> String {
    let words = clean_text(&format!("Tasmota {}", last_chars(mac, 6)), MAX_NAME);
    if t.trim().is_empty() {
        words
    } else {
        clean_text(t, MAX_NAME)
    }
}

/// The last `n` characters of `text` (not bytes: a MAC from the broker may
/// hold any character).
fn last_chars(text: &str, n: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(n)).collect()
}

fn strings(c: &Map<String, Value>, key: &str) -> Vec<Option<String>> {
    c.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// A native config: one device per relay (a light relay with a dimmer gets
/// `brightness`), and what the sensors need to know of the node.
fn parse_config(
    topic: &str,
    payload: &[u8],
) -> Result<(Announcement, Option<Node>), DiscoveryError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok((Announcement::new(topic, Vec::new()), None));
    }
    let text = std::str::from_utf8(payload).map_err(|_| DiscoveryError::Utf8)?;
    let Value::Object(c) = serde_json::from_str::<Value>(text)? else {
        return Err(DiscoveryError::Invalid(
            "a Tasmota config must be a JSON object".into(),
        ));
    };
    let t = c
        .get("t")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && !t.contains(['/', '+', '#']))
        .ok_or_else(|| DiscoveryError::Invalid("no topic (`t`)".into()))?;
    let ft = c
        .get("ft")
        .and_then(Value::as_str)
        .unwrap_or("%prefix%/%topic%/");
    let tp = strings(&c, "tp");
    let prefix = |i: usize, default: &str| {
        tp.get(i)
            .cloned()
            .flatten()
            .unwrap_or_else(|| default.into())
    };
    let hostname = c.get("hn").and_then(Value::as_str).unwrap_or("");
    let mac = c.get("mac").and_then(Value::as_str).unwrap_or("");
    let full = |p: String| {
        let mut s = ft
            .replace("%prefix%", &p)
            .replace("%topic%", t)
            .replace("%hostname%", hostname)
            .replace("%id%", &last_chars(mac, 6));
        if !s.ends_with('/') {
            s.push('/');
        }
        s
    };
    let topics = Topics {
        cmnd: full(prefix(0, "cmnd")),
        stat: full(prefix(1, "stat")),
        tele: full(prefix(2, "tele")),
    };
    for t in [&topics.cmnd, &topics.stat, &topics.tele] {
        if let Some(why) = crate::mqtt::topic::name_problem(t) {
            return Err(DiscoveryError::Invalid(format!("full topic {why}")));
        }
    }
    let relays: Vec<u64> = c
        .get("rl")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(0)).collect())
        .unwrap_or_default();
    let present: Vec<(usize, u64)> = relays
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, r)| r != 0)
        .collect();
    let states: Vec<Value> = c
        .get("state")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let off = states.first().cloned().unwrap_or("OFF".into());
    let on = states.get(1).cloned().unwrap_or("ON".into());
    let names = strings(&c, "fn");
    let device_name = c
        .get("dn")
        .and_then(Value::as_str)
        .filter(|d| !clean_text(d, MAX_NAME).is_empty())
        .unwrap_or(t);
    let node_name = match clean_text(device_name, MAX_NAME) {
        n if n.is_empty() => base_id_words(t, mac),
        n => n,
    };
    let model = c
        .get("md")
        .and_then(Value::as_str)
        .map(|m| clean_text(m, 40));
    let light_type = c.get("lt_st").and_then(Value::as_u64).unwrap_or(0);
    // A topic in a non-Latin script gives no id: the MAC does.
    let base_id = make_unique_id("tasmota", &[Some(t), Some(mac)], topic);
    let mut devices = Vec::new();
    let mut announcement_problems = Vec::new();
    for &(i, kind_code) in &present {
        // 1 relay, 2 light; 3 (shutter) is not modelled.
        if kind_code > 2 {
            announcement_problems.push(format!(
                "relay {} is a shutter, which giot does not model",
                i + 1
            ));
            continue;
        }
        let key = if present.len() == 1 {
            "POWER".to_string()
        } else {
            format!("POWER{}", i + 1)
        };
        // A relay without a friendly name of its own (`fn` empty or null)
        // is the device's name with its relay number.
        let own = names
            .get(i)
            .cloned()
            .flatten()
            .map(|n| clean_text(&n, MAX_NAME))
            .filter(|n| !n.is_empty());
        let name = match own {
            Some(n) => n,
            None if present.len() == 1 => node_name.clone(),
            None => clean_text(&format!("{node_name} {}", i + 1), MAX_NAME),
        };
        let mut caps = vec![power("power", &key, &topics, &off, &on)];
        if kind_code == 2 && light_type > 0 {
            caps.push(dimmer(&topics));
        }
        let kind = if kind_code == 2 {
            "light"
        } else if [model.as_deref().unwrap_or(""), name.as_str()]
            .iter()
            .any(|t| t.to_lowercase().contains("plug"))
        {
            "plug"
        } else {
            "switch"
        };
        devices.push(Device {
            id: if present.len() == 1 {
                base_id.clone()
            } else {
                format!("{base_id}_{}", i + 1)
            },
            safety: default_safety(kind, &[&name]),
            name,
            aliases: Vec::new(),
            room: None,
            kind: kind.into(),
            state_topic: format!("{}{key}", topics.stat),
            command_topic: None,
            capabilities: caps,
            cheat: false,
            discovered: discovered(topic, model.clone()),
        });
    }
    let node = Node {
        topic: t.to_string(),
        id: base_id.clone(),
        tele: topics.tele.clone(),
        name: node_name,
    };
    let mut announcement = Announcement::new(topic, devices);
    announcement.problems = announcement_problems;
    Ok((announcement, Some(node)))
}

/// Units of Tasmota's sensor readings, by key.
fn unit_of(key: &str, temp_unit: &str) -> Option<String> {
    let unit = match key {
        "Temperature" | "DewPoint" => return Some(format!("°{temp_unit}")),
        "Humidity" => "%",
        "Pressure" => "hPa",
        "Power" | "ApparentPower" | "ReactivePower" => "W",
        "Voltage" => "V",
        "Current" => "A",
        "Total" | "Today" | "Yesterday" => "kWh",
        "Illuminance" => "lx",
        "CarbonDioxide" | "eCO2" => "ppm",
        _ => return None,
    };
    Some(unit.into())
}

/// The `sensors` payload of a node whose config is known: one read-only
/// device with a number per reading, read from `tele/<t>/SENSOR`.
fn parse_sensors(
    source: &str,
    node: &Node,
    payload: &[u8],
) -> Result<Announcement, DiscoveryError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Announcement::new(source, Vec::new()));
    }
    let text = std::str::from_utf8(payload).map_err(|_| DiscoveryError::Utf8)?;
    let v: Value = serde_json::from_str(text)?;
    let Some(sn) = v.get("sn").and_then(Value::as_object) else {
        return Err(DiscoveryError::Invalid(
            "a Tasmota sensors payload needs `sn`".into(),
        ));
    };
    let temp_unit = sn.get("TempUnit").and_then(Value::as_str).unwrap_or("C");
    let mut caps = Vec::new();
    for (sensor, readings) in sn {
        let Some(readings) = readings.as_object() else {
            continue;
        };
        for (key, value) in readings {
            if !value.is_number() {
                continue;
            }
            let name = slug_or(&format!("{sensor}_{key}"), "reading");
            let (min, max) = match key.as_str() {
                "Humidity" => (0.0, 100.0),
                "Temperature" | "DewPoint" => (-50.0, 150.0),
                _ => (-super::UNBOUNDED, super::UNBOUNDED),
            };
            caps.push(Capability {
                name,
                kind: CapabilityType::Number {
                    min,
                    max,
                    step: None,
                },
                unit: unit_of(key, temp_unit),
                readonly: true,
                command: None,
                state: vec![StateSource {
                    topic: format!("{}SENSOR", node.tele),
                    key: Some(format!("{sensor}.{key}")),
                    values: BTreeMap::new(),
                    template: None,
                }],
            });
        }
    }
    if caps.is_empty() {
        return Ok(Announcement::new(source, Vec::new()));
    }
    let name = clean_text(&format!("{} sensors", node.name), MAX_NAME);
    Ok(Announcement::new(
        source,
        vec![Device {
            id: format!("{}_sensors", node.id),
            safety: default_safety("sensor", &[&name]),
            name,
            aliases: Vec::new(),
            room: None,
            kind: "sensor".into(),
            state_topic: format!("{}SENSOR", node.tele),
            command_topic: None,
            capabilities: caps,
            cheat: false,
            discovered: discovered(source, None),
        }],
    ))
}

#[cfg(test)]
mod tests;
