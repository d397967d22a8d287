//! The device registry: every device giot knows, with the capabilities it has
//! and the values each capability accepts.
//!
//! The registry is the single source of truth that the rest of giot leans on:
//! the agent only ever chooses among what is in it, the policy checks planned
//! values against it, and the simulator brings it to life. Devices come from
//! `devices.yaml` ([`load`]) and, later, from discovery on the broker.

mod load;
pub mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use load::{LoadError, Problem, parse_str};
pub use value::ValueError;

/// How careful giot must be before acting on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Safety {
    #[default]
    Normal,
    /// Every command to this device needs an explicit yes from a person.
    Confirm,
}

/// The type of a capability and the values it accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CapabilityType {
    Enum {
        values: Vec<String>,
    },
    Number {
        min: f64,
        max: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
    },
    Bool,
    String,
}

/// One property of a device that can be read and, unless read-only, set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capability {
    pub name: String,
    #[serde(flatten)]
    pub kind: CapabilityType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub readonly: bool,
}

/// One device of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    pub kind: String,
    pub safety: Safety,
    pub state_topic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_topic: Option<String>,
    pub capabilities: Vec<Capability>,
    /// A market contributor that under-delivers (simulation only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cheat: bool,
}

impl Device {
    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| c.name == name)
    }

    /// Capabilities that a command may set.
    pub fn writable(&self) -> impl Iterator<Item = &Capability> {
        self.capabilities.iter().filter(|c| !c.readonly)
    }

    /// The room as people say it: `living_room` becomes `living room`.
    pub fn room_words(&self) -> Option<String> {
        self.room.as_ref().map(|r| r.replace('_', " "))
    }
}

/// All devices giot knows, indexed by id and by topic.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    devices: Vec<Device>,
    by_id: HashMap<String, usize>,
    source: Option<PathBuf>,
    /// The incentive market, if the file configures one.
    pub market: Option<crate::market::MarketConfig>,
}

impl Registry {
    /// Builds a registry from devices that have already been validated.
    pub fn from_devices(devices: Vec<Device>) -> Self {
        let by_id = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        Self {
            devices,
            by_id,
            source: None,
            market: None,
        }
    }

    /// Reads and validates a `devices.yaml` file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut registry = parse_str(&text, path)?;
        registry.source = Some(path.to_path_buf());
        Ok(registry)
    }

    /// The file this registry was read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn get(&self, id: &str) -> Option<&Device> {
        self.by_id.get(id).map(|&i| &self.devices[i])
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The device whose state is published on `topic`.
    pub fn by_state_topic(&self, topic: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.state_topic == topic)
    }

    /// The device that listens for commands on `topic`.
    pub fn by_command_topic(&self, topic: &str) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| d.command_topic.as_deref() == Some(topic))
    }

    /// Rooms in the order they first appear.
    pub fn rooms(&self) -> Vec<&str> {
        let mut rooms: Vec<&str> = Vec::new();
        for room in self.devices.iter().filter_map(|d| d.room.as_deref()) {
            if !rooms.contains(&room) {
                rooms.push(room);
            }
        }
        rooms
    }
}

/// Where to find `devices.yaml` when `--devices` was not given: the working
/// directory first, then `$XDG_CONFIG_HOME/giot/devices.yaml`.
pub fn default_path() -> PathBuf {
    let local = PathBuf::from("devices.yaml");
    if local.exists() {
        return local;
    }
    let config = crate::paths::config_dir().join("devices.yaml");
    if config.exists() { config } else { local }
}
