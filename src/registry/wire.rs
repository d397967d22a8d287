//! How a capability's values travel on the broker, when it is not the
//! `devices.yaml` default (one JSON object `{"<capability>": value}` on the
//! device's `command_topic`, state read from the JSON object on its
//! `state_topic`).
//!
//! Discovered devices speak their convention's dialect: Zigbee2MQTT takes a
//! JSON object on `<device>/set` under its own property name (`state`, not
//! `power`), Home Assistant's default schema and Tasmota take the value
//! itself (`ON`, `42`) on a topic of its own. A [`CommandSpec`] says where
//! and how to send a value, a [`StateSource`] where and how to read it back;
//! both map the registry's values (`on`, `locked`) to the device's words
//! (`ON`, `LOCK`) and back, so the agent and the policy only ever see the
//! registry's values.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::value::number;
use super::{Capability, CapabilityType};

/// How a command payload is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// A JSON object `{"<key>": value}` (Zigbee2MQTT, HA's JSON light schema).
    Json,
    /// The value itself: `ON`, `42`, `heat` (HA's default schema, Tasmota).
    Plain,
}

/// Where and how one capability is commanded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandSpec {
    pub topic: String,
    pub format: PayloadFormat,
    /// The JSON key (`Json` only); the capability's name when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Registry value -> payload value (`"on"` -> `"ON"`); unmapped values
    /// are sent as they are.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Value>,
    /// Constant fields sent along (`Json` only), e.g. `{"state": "ON"}` with
    /// a JSON light's brightness.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub with: Map<String, Value>,
    /// A Jinja command template that writes the payload instead (Home
    /// Assistant's `command_template`, `set_position_template`, …); checked
    /// when the device was discovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<CommandTemplate>,
}

/// A command template and the name it sees the value by (`value`, or
/// `position` for `set_position_template`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandTemplate {
    pub source: String,
    pub var: String,
}

/// Where one capability's current value is read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateSource {
    pub topic: String,
    /// A key path into a JSON object payload (`Dimmer`, `AM2301.Temperature`);
    /// absent when the payload is the value itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Registry value -> reported value (`"locked"` -> `"LOCKED"`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Value>,
    /// A Jinja value template that reads the value from the payload
    /// (`value`, `value_json`) before the value map; instead of `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// The key a registry value has in a value map: strings as they are, other
/// values as JSON text.
pub fn value_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a reported value is the mapped one: equal JSON, or the same text
/// ignoring ASCII case (`"on"` and `"ON"`, `"42"` and `42`).
fn same_wire(reported: &Value, wire: &Value) -> bool {
    reported == wire || value_key(reported).eq_ignore_ascii_case(&value_key(wire))
}

impl CommandSpec {
    /// The topic and payload that set `cap` to `value` (already checked);
    /// `None` when its command template cannot render the value (never a
    /// guessed payload).
    pub fn encode(&self, cap: &Capability, value: &Value) -> Option<(String, String)> {
        let wire = self
            .values
            .get(&value_key(value))
            .cloned()
            .unwrap_or_else(|| value.clone());
        if let Some(t) = &self.template {
            return match super::jinja::render_command(&t.source, &t.var, &wire) {
                Ok(payload) => Some((self.topic.clone(), payload)),
                Err(e) => {
                    tracing::warn!(
                        "command template for {} cannot render {value}: {e}",
                        cap.name
                    );
                    None
                }
            };
        }
        let payload = match self.format {
            PayloadFormat::Json => {
                let mut object = self.with.clone();
                object.insert(self.key.clone().unwrap_or_else(|| cap.name.clone()), wire);
                Value::Object(object).to_string()
            }
            PayloadFormat::Plain => value_key(&wire),
        };
        Some((self.topic.clone(), payload))
    }
}

impl StateSource {
    /// The capability's value in `payload`, mapped back to the registry's
    /// words; `None` when the payload does not carry a valid value (a
    /// malformed payload is never trusted as state).
    pub fn decode(&self, cap: &Capability, payload: &[u8]) -> Option<Value> {
        let text = std::str::from_utf8(payload).ok()?.trim();
        if let Some(t) = &self.template {
            let rendered = super::jinja::render_value(t, text.as_bytes()).ok()?;
            let reported = Value::String(rendered);
            if let Some((logical, _)) = self.values.iter().find(|(_, w)| same_wire(&reported, w)) {
                return coerce(cap, &Value::String(logical.clone()));
            }
            return coerce(cap, &reported);
        }
        let reported = match &self.key {
            Some(path) => {
                let mut v: Value = serde_json::from_str(text).ok()?;
                for part in path.split('.') {
                    v = v.as_object_mut()?.remove(part)?;
                }
                v
            }
            None => Value::String(text.to_string()),
        };
        if let Some((logical, _)) = self.values.iter().find(|(_, w)| same_wire(&reported, w)) {
            return coerce(cap, &Value::String(logical.clone()));
        }
        coerce(cap, &reported)
    }
}

/// A reported value as the capability's type, if it is one.
pub fn coerce(cap: &Capability, v: &Value) -> Option<Value> {
    let text = value_key(v);
    let out = match &cap.kind {
        CapabilityType::Number { .. } => {
            let x = v.as_f64().or_else(|| text.trim().parse::<f64>().ok())?;
            x.is_finite().then(|| number(x))?
        }
        CapabilityType::Enum { values } => Value::String(
            values
                .iter()
                .find(|x| x.eq_ignore_ascii_case(&text))?
                .clone(),
        ),
        CapabilityType::Bool => Value::Bool(match v {
            Value::Bool(b) => *b,
            _ => match text.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" => true,
                "false" | "off" | "0" => false,
                _ => return None,
            },
        }),
        CapabilityType::String => Value::String(text),
    };
    Some(out)
}

/// Snaps a number onto the capability's step (from its minimum), so the
/// value reported for an action is the value sent.
pub fn snap(cap: &Capability, value: Value) -> Value {
    match (&cap.kind, value.as_f64()) {
        (
            CapabilityType::Number {
                min,
                max,
                step: Some(step),
            },
            Some(x),
        ) if *step > 0.0 => {
            let snapped = (min + ((x - min) / step).round() * step).clamp(*min, *max);
            number((snapped * 1e6).round() / 1e6)
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn power() -> Capability {
        Capability {
            name: "power".into(),
            kind: CapabilityType::Enum {
                values: vec!["on".into(), "off".into()],
            },
            unit: None,
            readonly: false,
            command: None,
            state: Vec::new(),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    #[test]
    fn plain_commands_send_the_mapped_word() {
        let spec = CommandSpec {
            topic: "cmnd/plug/POWER".into(),
            format: PayloadFormat::Plain,
            key: None,
            values: map(&[("on", "ON"), ("off", "OFF")]),
            with: Map::new(),
            template: None,
        };
        assert_eq!(
            spec.encode(&power(), &json!("on")),
            Some(("cmnd/plug/POWER".into(), "ON".into()))
        );
    }

    #[test]
    fn json_commands_use_the_device_key_and_constant_fields() {
        let mut with = Map::new();
        with.insert("state".into(), json!("ON"));
        let spec = CommandSpec {
            topic: "z/lamp/set".into(),
            format: PayloadFormat::Json,
            key: Some("brightness".into()),
            values: BTreeMap::new(),
            with,
            template: None,
        };
        let (_, payload) = spec.encode(&power(), &json!(120)).unwrap();
        let v: Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(v, json!({"state": "ON", "brightness": 120}));
    }

    #[test]
    fn states_are_read_back_through_the_map_and_key_paths() {
        let plain = StateSource {
            topic: "t".into(),
            key: None,
            values: map(&[("on", "ON"), ("off", "OFF")]),
            template: None,
        };
        assert_eq!(plain.decode(&power(), b"OFF"), Some(json!("off")));
        assert_eq!(plain.decode(&power(), b"maybe"), None);
        let nested = StateSource {
            topic: "t".into(),
            key: Some("AM2301.Temperature".into()),
            values: BTreeMap::new(),
            template: None,
        };
        let temp = Capability {
            name: "temperature".into(),
            kind: CapabilityType::Number {
                min: -40.0,
                max: 80.0,
                step: None,
            },
            ..power()
        };
        assert_eq!(
            nested.decode(&temp, br#"{"AM2301":{"Temperature":21.5}}"#),
            Some(json!(21.5))
        );
        assert_eq!(nested.decode(&temp, b"{not json"), None);
        assert_eq!(
            nested.decode(&temp, br#"{"AM2301":{"Temperature":"hot"}}"#),
            None
        );
    }

    #[test]
    fn numbers_snap_to_the_step() {
        let cap = Capability {
            name: "brightness".into(),
            kind: CapabilityType::Number {
                min: 0.0,
                max: 254.0,
                step: Some(1.0),
            },
            ..power()
        };
        assert_eq!(snap(&cap, json!(25.4)), json!(25));
        assert_eq!(snap(&cap, json!(300)), json!(254));
    }
}
