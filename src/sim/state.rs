//! One simulated device: its state, how commands change it, how it drifts.
//! Pure logic, no I/O, so it is tested directly.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::registry::{Capability, CapabilityType, Device, ValueError, value::number};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CommandError {
    #[error("payload is not JSON: {0}")]
    BadJson(String),
    #[error("payload is not a JSON object of capability values")]
    NotObject,
    #[error("payload sets nothing")]
    Empty,
    #[error("unknown capability `{0}`")]
    UnknownCapability(String),
    #[error(transparent)]
    Invalid(#[from] ValueError),
}

/// A device as the simulator runs it.
#[derive(Debug)]
pub struct SimDevice {
    device: Device,
    state: Map<String, Value>,
    rng: StdRng,
}

impl SimDevice {
    pub fn new(device: Device, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let state = device
            .capabilities
            .iter()
            .map(|c| (c.name.clone(), initial_value(c, &mut rng)))
            .collect();
        Self { device, state, rng }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn state(&self) -> &Map<String, Value> {
        &self.state
    }

    pub fn state_json(&self) -> String {
        Value::Object(self.state.clone()).to_string()
    }

    /// Applies a command payload, all of it or nothing.
    pub fn apply_command(&mut self, payload: &[u8]) -> Result<(), CommandError> {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| CommandError::BadJson(e.to_string()))?;
        let Value::Object(changes) = value else {
            return Err(CommandError::NotObject);
        };
        if changes.is_empty() {
            return Err(CommandError::Empty);
        }
        for (name, value) in &changes {
            let cap = self
                .device
                .capability(name)
                .ok_or_else(|| CommandError::UnknownCapability(name.clone()))?;
            cap.check_write(value)?;
        }
        self.state.extend(changes);
        Ok(())
    }

    /// Whether this device changes by itself over time.
    pub fn drifts(&self) -> bool {
        self.device
            .capabilities
            .iter()
            .any(|c| c.readonly && matches!(c.kind, CapabilityType::Number { .. }))
    }

    /// Moves read-only readings one tick further.
    pub fn drift(&mut self, tick: Duration) {
        let secs = tick.as_secs_f64();
        let powered = self.state.get("power").and_then(Value::as_str) != Some("off");
        let mode_off = self.state.get("mode").and_then(Value::as_str) == Some("off");
        let target = self.state.get("target_temperature").and_then(Value::as_f64);
        let speed = self
            .state
            .get("speed")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let heading: f64 = self.rng.random_range(0.0..std::f64::consts::TAU);
        for cap in self.device.capabilities.iter().filter(|c| c.readonly) {
            let CapabilityType::Number { min, max, step } = cap.kind else {
                continue;
            };
            let current = self
                .state
                .get(&cap.name)
                .and_then(Value::as_f64)
                .unwrap_or((min + max) / 2.0);
            let span = max - min;
            let noise = self.rng.random_range(-1.0..=1.0) * span * 0.01;
            let next = match cap.name.as_str() {
                "current_temperature" => match target {
                    Some(t) if !mode_off => current + (t - current) * 0.2 + noise * 0.2,
                    _ => current + noise * 0.5,
                },
                n if n.contains("power_w") || n == "watts" => {
                    if powered {
                        (current.max(span * 0.05) + noise * 5.0).max(span * 0.02)
                    } else {
                        min
                    }
                }
                // Vehicles move: about 1e-5 degrees per m.
                "lat" => current + heading.sin() * speed / 3.6 * secs * 9e-6,
                "lon" => current + heading.cos() * speed / 3.6 * secs * 9e-6,
                _ => current + noise,
            };
            let next = snap(next.clamp(min, max), step);
            self.state.insert(cap.name.clone(), rounded(next));
        }
    }
}

fn snap(x: f64, step: Option<f64>) -> f64 {
    match step {
        Some(s) if s > 0.0 => (x / s).round() * s,
        _ => x,
    }
}

/// Readings with a sensible number of decimals.
fn rounded(x: f64) -> Value {
    let digits = if x.abs() < 2.0 { 1e6 } else { 1e2 };
    number((x * digits).round() / digits)
}

fn initial_value(cap: &Capability, rng: &mut StdRng) -> Value {
    match &cap.kind {
        CapabilityType::Enum { values } => {
            let preferred = ["off", "locked", "closed", "idle", "auto", "low"];
            let pick = preferred
                .iter()
                .find_map(|p| values.iter().find(|v| v == p))
                .unwrap_or(&values[0]);
            Value::String(pick.clone())
        }
        CapabilityType::Number { min, max, step } => {
            let (min, max) = (*min, *max);
            let within = |x: f64| x.clamp(min, max);
            let name = cap.name.as_str();
            let x = match name {
                _ if name.contains("temperature") => within(20.0),
                "humidity" => within(55.0),
                "co2" => within(600.0),
                "position" | "brightness" => min,
                "sensing_quality" => within(rng.random_range(0.6..0.95)),
                "speed" if cap.readonly => within(rng.random_range(20.0..60.0)),
                _ if name.contains("power_w") => min,
                _ => min + (max - min) * rng.random_range(0.3..0.7),
            };
            rounded(snap(x, *step))
        }
        CapabilityType::Bool => Value::Bool(false),
        CapabilityType::String => Value::String(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse_str;
    use std::path::Path;

    fn light() -> SimDevice {
        let yaml = r#"
devices:
  - id: hall_light
    kind: light
    state_topic: home/hall/light/state
    command_topic: home/hall/light/set
    capabilities:
      - {name: power, type: enum, values: ["on", "off"]}
      - {name: brightness, type: number, min: 0, max: 100}
      - {name: power_w, type: number, min: 0, max: 60, readonly: true}
"#;
        let reg = parse_str(yaml, Path::new("t.yaml")).unwrap();
        SimDevice::new(reg.devices()[0].clone(), 1)
    }

    #[test]
    fn a_valid_command_changes_the_state() {
        let mut d = light();
        assert_eq!(d.state()["power"], "off");
        d.apply_command(br#"{"power":"on","brightness":10}"#)
            .unwrap();
        assert_eq!(d.state()["power"], "on");
        assert_eq!(d.state()["brightness"], 10);
    }

    #[test]
    fn an_invalid_command_changes_nothing() {
        let mut d = light();
        let before = d.state_json();
        assert!(matches!(
            d.apply_command(br#"{"power":"on","brightness":150}"#),
            Err(CommandError::Invalid(_))
        ));
        assert!(matches!(
            d.apply_command(br#"{"colour":"red"}"#),
            Err(CommandError::UnknownCapability(_))
        ));
        assert!(matches!(
            d.apply_command(br#"{"power_w":3}"#),
            Err(CommandError::Invalid(ValueError::ReadOnly { .. }))
        ));
        assert!(matches!(
            d.apply_command(b"\xff not json"),
            Err(CommandError::BadJson(_))
        ));
        assert_eq!(d.apply_command(b"[1]"), Err(CommandError::NotObject));
        assert_eq!(d.state_json(), before);
    }

    #[test]
    fn readings_drift_but_stay_in_range() {
        let mut d = light();
        d.apply_command(br#"{"power":"on"}"#).unwrap();
        assert!(d.drifts());
        for _ in 0..1000 {
            d.drift(Duration::from_secs(1));
            let w = d.state()["power_w"].as_f64().unwrap();
            assert!((0.0..=60.0).contains(&w));
        }
    }
}
