//! The device registry: every device giot knows, with the capabilities it has
//! and the values each capability accepts.
//!
//! The registry is the single source of truth that the rest of giot leans on:
//! the agent only ever chooses among what is in it, the policy checks planned
//! values against it, and the simulator brings it to life. Devices come from
//! `devices.yaml` ([`load`]) and from discovery on the broker
//! ([`crate::discovery`]); a discovered device carries, per capability, where
//! and how it is commanded and read ([`wire`]).

pub mod jinja;
mod load;
pub mod value;
pub mod wire;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::types::Action;

pub use load::{LoadError, Problem, parse_str};
pub use value::ValueError;
pub use wire::{CommandSpec, CommandTemplate, PayloadFormat, StateSource};

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
    /// Where and how this capability is commanded, when not as a key of the
    /// device's JSON object on its `command_topic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// Where its value is read, when not from the device's `state_topic`
    /// object; the newest source that carries a valid value wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<StateSource>,
}

/// Where a discovered device was announced. Its name and description are
/// the broker's data: cleaned, length-limited, and quoted wherever shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovered {
    /// `homeassistant`, `zigbee2mqtt` or `tasmota`.
    pub convention: String,
    /// The topic that announced it.
    pub topic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
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
    /// Set for devices announced on the broker rather than read from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovered: Option<Discovered>,
}

impl Device {
    /// The action that sets `capability` to `value`, with the topic and
    /// payload this device's format asks for (for a discovered device, its
    /// convention's; the value snapped to the capability's step).
    pub fn action(&self, capability: &str, value: Value) -> Action {
        let cap = self.capability(capability);
        let value = match cap {
            Some(c) if c.command.is_some() => wire::snap(c, value),
            _ => value,
        };
        let (topic, payload) = match cap.and_then(|c| self.encode(c, &value)) {
            Some(tp) => tp,
            None => {
                let mut payload = serde_json::Map::new();
                payload.insert(capability.to_string(), value.clone());
                (
                    self.command_topic.clone().unwrap_or_default(),
                    Value::Object(payload).to_string(),
                )
            }
        };
        Action {
            device: self.id.clone(),
            capability: capability.to_string(),
            value,
            topic,
            payload,
        }
    }

    pub fn capability(&self, name: &str) -> Option<&Capability> {
        self.capabilities.iter().find(|c| c.name == name)
    }

    /// Capabilities that a command may set.
    pub fn writable(&self) -> impl Iterator<Item = &Capability> {
        self.capabilities.iter().filter(|c| !c.readonly)
    }

    /// The topic a capability is commanded on, if it takes commands.
    pub fn command_topic_for<'a>(&'a self, cap: &'a Capability) -> Option<&'a str> {
        match &cap.command {
            Some(spec) => Some(&spec.topic),
            None => self.command_topic.as_deref(),
        }
    }

    /// The topic and payload that set `cap` to `value`: the capability's own
    /// format when it has one, else `{"<capability>": value}` on the
    /// device's `command_topic`.
    pub fn encode(&self, cap: &Capability, value: &serde_json::Value) -> Option<(String, String)> {
        if let Some(spec) = &cap.command {
            return spec.encode(cap, value);
        }
        let mut payload = serde_json::Map::new();
        payload.insert(cap.name.clone(), value.clone());
        Some((
            self.command_topic.clone()?,
            serde_json::Value::Object(payload).to_string(),
        ))
    }

    /// Every topic this device's state is read from.
    pub fn state_topics(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.state_topic.as_str())
            .chain(
                self.capabilities
                    .iter()
                    .flat_map(|c| c.state.iter().map(|s| s.topic.as_str())),
            )
            .filter(|t| !t.is_empty())
    }

    /// Every topic this device is commanded on.
    pub fn command_topics(&self) -> impl Iterator<Item = &str> {
        self.command_topic.as_deref().into_iter().chain(
            self.capabilities
                .iter()
                .filter_map(|c| c.command.as_ref().map(|s| s.topic.as_str())),
        )
    }

    /// The room as people say it: `living_room` becomes `living room`.
    pub fn room_words(&self) -> Option<String> {
        self.room.as_ref().map(|r| r.replace('_', " "))
    }
}

/// What `devices.yaml` changes about a discovered device (its
/// `discovered:` section): a room, a better name, aliases, or its safety.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Override {
    pub id: String,
    pub name: Option<String>,
    pub room: Option<String>,
    pub aliases: Vec<String>,
    pub safety: Option<Safety>,
}

impl Override {
    pub fn apply(&self, device: &mut Device) {
        if let Some(name) = &self.name {
            device.name = name.clone();
        }
        if let Some(room) = &self.room {
            device.room = Some(room.clone());
        }
        device.aliases.extend(self.aliases.iter().cloned());
        if let Some(safety) = self.safety {
            device.safety = safety;
        }
    }
}

/// A floor of the building (`floors:` in `devices.yaml`): rooms belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    pub id: String,
    /// What people call it ("Ground floor"); the id with spaces if not given.
    pub name: String,
    /// Other names ("downstairs", "first floor").
    pub aliases: Vec<String>,
    /// 0 for the ground floor, negative below it, when given.
    pub level: Option<i32>,
    /// Room ids on this floor.
    pub rooms: Vec<String>,
}

/// A room (Home Assistant's *area*): declared under `rooms:`, or only used
/// as a device's `room:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    /// What people call it; the id with spaces when not declared.
    pub name: String,
    pub aliases: Vec<String>,
    /// The floor it is on, if a floor lists it.
    pub floor: Option<String>,
}

/// All devices giot knows, indexed by id and by topic.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    devices: Vec<Device>,
    by_id: HashMap<String, usize>,
    source: Option<PathBuf>,
    /// The incentive market, if the file configures one.
    pub market: Option<MarketConfig>,
    /// Changes to discovered devices, from `devices.yaml`.
    pub overrides: Vec<Override>,
    /// Floors, from `devices.yaml`.
    pub floors: Vec<Floor>,
    /// Rooms declared under `rooms:` (names and aliases); see [`Registry::room_list`].
    pub declared_rooms: Vec<Room>,
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
            overrides: Vec::new(),
            floors: Vec::new(),
            declared_rooms: Vec::new(),
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

    /// The same registry (file, market) with another list of devices: how
    /// discovered devices join and leave it.
    pub fn with_devices(&self, devices: Vec<Device>) -> Self {
        let mut next = Self::from_devices(devices);
        next.source = self.source.clone();
        next.market = self.market.clone();
        next.overrides = self.overrides.clone();
        next.floors = self.floors.clone();
        next.declared_rooms = self.declared_rooms.clone();
        next
    }

    /// Every name and alias of the devices, rooms and floors, as written:
    /// the words people may say for something in this home.
    pub fn names_said(&self) -> Vec<String> {
        let rooms = self.room_list();
        self.devices()
            .iter()
            .flat_map(|d| std::iter::once(&d.name).chain(&d.aliases))
            .chain(
                rooms
                    .iter()
                    .flat_map(|r| std::iter::once(&r.name).chain(&r.aliases)),
            )
            .chain(
                self.floors
                    .iter()
                    .flat_map(|f| std::iter::once(&f.name).chain(&f.aliases)),
            )
            .cloned()
            .collect()
    }

    /// Every room: those declared under `rooms:`, then those only devices
    /// name, each with the floor that lists it.
    pub fn room_list(&self) -> Vec<Room> {
        let mut rooms = self.declared_rooms.clone();
        for id in self.rooms() {
            if !rooms.iter().any(|r| r.id == id) {
                rooms.push(Room {
                    id: id.to_string(),
                    name: id.replace('_', " "),
                    aliases: Vec::new(),
                    floor: None,
                });
            }
        }
        for f in &self.floors {
            for id in &f.rooms {
                match rooms.iter_mut().find(|r| &r.id == id) {
                    Some(r) => r.floor = Some(f.id.clone()),
                    None => rooms.push(Room {
                        id: id.clone(),
                        name: id.replace('_', " "),
                        aliases: Vec::new(),
                        floor: Some(f.id.clone()),
                    }),
                }
            }
        }
        rooms
    }

    /// The id of the room called `text` (its id, name or an alias, in any
    /// case, spaces for underscores).
    pub fn room_id(&self, text: &str) -> Option<String> {
        let want = text.trim().to_lowercase().replace('_', " ");
        self.room_list()
            .into_iter()
            .find(|r| {
                r.id.replace('_', " ") == want
                    || r.name.to_lowercase() == want
                    || r.aliases.iter().any(|a| a.to_lowercase() == want)
            })
            .map(|r| r.id)
    }

    /// The floor `room` is on, if a floor lists it.
    pub fn floor_of(&self, room: &str) -> Option<&Floor> {
        self.floors
            .iter()
            .find(|f| f.rooms.iter().any(|r| r == room))
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
        self.devices
            .iter()
            .find(|d| d.state_topic == topic)
            .or_else(|| {
                self.devices
                    .iter()
                    .find(|d| d.state_topics().any(|t| t == topic))
            })
    }

    /// The device that listens for commands on `topic`.
    pub fn by_command_topic(&self, topic: &str) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| d.command_topics().any(|t| t == topic))
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

/// The `market:` section of `devices.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketConfig {
    pub id: String,
    /// Types, proportions, cost and valuation; `m` is the number of vehicles.
    pub state: crate::planner::model::MarketState,
    /// How long a round waits for choices and data.
    pub round: std::time::Duration,
    /// Readings per delivery.
    pub readings: usize,
    /// Shortfall allowed before a delivery is flagged (0.5: half the quality).
    pub tolerance: f64,
}
