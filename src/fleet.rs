//! The fleet as it is now: the registry joined with the live topic tree.
//!
//! Everything that needs a device's current state (the agent answering a
//! question or confirming an action, the TUI, the demo view) reads it here.
//! A state payload that is not a JSON object is kept in the tree (so it can
//! be shown) but yields no state, and is never trusted as one.
//!
//! The fleet also reads discovery announcements ([`crate::discovery`]) as
//! they arrive: discovered devices join (and leave) its registry, each
//! change bumps [`Fleet::generation`] so that an agent holding a copy of the
//! registry can refresh it, and the state topics of new devices wait in
//! [`Fleet::take_new_filters`] for the face to subscribe to them.

use std::collections::BTreeSet;
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::discovery::{self, Discovery, Shadowed};
use crate::mqtt::{LinkEvent, TopicTree};
use crate::registry::Registry;

#[derive(Debug, Clone)]
pub struct Fleet {
    /// The devices of `devices.yaml`.
    base: Registry,
    /// `base` with the discovered devices joined.
    registry: Registry,
    discovery: Option<Discovery>,
    shadowed: Vec<Shadowed>,
    generation: u64,
    /// Filters already subscribed to (or asked for), and those to ask for.
    filters: BTreeSet<String>,
    new_filters: Vec<String>,
    tree: TopicTree,
    connected: bool,
}

impl Fleet {
    /// A fleet that also takes in the devices discovered on the broker.
    pub fn new(registry: Registry, history: usize) -> Self {
        let mut fleet = Self {
            base: registry.clone(),
            registry,
            discovery: Some(Discovery::default()),
            shadowed: Vec::new(),
            generation: 0,
            filters: BTreeSet::new(),
            new_filters: Vec::new(),
            tree: TopicTree::new(history),
            connected: false,
        };
        fleet.filters = fleet.state_filters().into_iter().collect();
        fleet
    }

    /// The same fleet without discovery: only the devices of the registry.
    pub fn without_discovery(mut self) -> Self {
        self.discovery = None;
        self.registry = self.base.clone();
        self
    }

    /// Discovery's announcements so far, if discovery is on.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// Discovered devices that `devices.yaml` already describes.
    pub fn shadowed(&self) -> &[Shadowed] {
        &self.shadowed
    }

    /// Counts changes of the registry (discovered devices joining or leaving).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// State topics of newly discovered devices, not yet subscribed to.
    pub fn take_new_filters(&mut self) -> Vec<String> {
        std::mem::take(&mut self.new_filters)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn tree(&self) -> &TopicTree {
        &self.tree
    }

    pub fn connected(&self) -> bool {
        self.connected
    }

    /// The topic filters that keep this fleet's state current.
    pub fn state_filters(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .registry
            .devices()
            .iter()
            .flat_map(|d| d.state_topics().map(String::from))
            .collect();
        if let Some(m) = &self.registry.market {
            topics.push(format!("giot/market/{}/status", m.id));
        }
        if self.discovery.is_some() {
            topics.extend(discovery::FILTERS.iter().map(|f| f.to_string()));
        }
        topics.sort();
        topics.dedup();
        topics
    }

    /// Takes one event from the MQTT link.
    pub fn apply(&mut self, event: &LinkEvent) {
        match event {
            LinkEvent::Connected => self.connected = true,
            LinkEvent::Disconnected { .. } => self.connected = false,
            LinkEvent::Message {
                topic,
                payload,
                retain,
            } => {
                self.record(topic, payload.clone(), *retain);
                if let Some(d) = self.discovery.as_mut()
                    && discovery::is_discovery_topic(topic)
                    && d.handle(topic, payload)
                {
                    self.rebuild();
                }
            }
        }
    }

    /// Joins the discovered devices to the registry again.
    fn rebuild(&mut self) {
        let Some(d) = &self.discovery else { return };
        let (registry, shadowed) = discovery::merge(&self.base, d.devices());
        self.registry = registry;
        self.shadowed = shadowed;
        self.generation += 1;
        let topics: Vec<String> = self
            .registry
            .devices()
            .iter()
            .flat_map(|d| d.state_topics().map(String::from))
            .collect();
        for t in topics {
            let covered = self
                .filters
                .iter()
                .any(|f| crate::policy::topic_matches(f, &t));
            if !covered {
                self.filters.insert(t.clone());
                self.new_filters.push(t);
            }
        }
    }

    pub fn record(&mut self, topic: &str, payload: Bytes, retain: bool) {
        self.tree.insert(topic, payload, retain, SystemTime::now());
    }

    /// The last state a device published, if it was a JSON object.
    ///
    /// `market:<id>` gives the market supervisor's last retained summary.
    pub fn state(&self, device_id: &str) -> Option<Map<String, Value>> {
        if let Some(market) = device_id.strip_prefix("market:") {
            return self
                .tree
                .json_object(&format!("giot/market/{market}/status"));
        }
        let device = self.registry.get(device_id)?;
        let mut state = if device.discovered.is_none() {
            self.tree.json_object(&device.state_topic)
        } else {
            None
        };
        // Capabilities read from sources of their own: the newest valid value.
        for cap in device.capabilities.iter().filter(|c| !c.state.is_empty()) {
            let newest = cap
                .state
                .iter()
                .filter_map(|s| {
                    let entry = self.tree.get(&s.topic)?;
                    Some((entry.updated, s.decode(cap, &entry.payload)?))
                })
                .reduce(|a, b| if b.0 > a.0 { b } else { a });
            if let Some((_, value)) = newest {
                state
                    .get_or_insert_with(Map::new)
                    .insert(cap.name.clone(), value);
            }
        }
        state
    }

    /// Every known state the agent may read, by the keys [`Fleet::state`]
    /// takes (device ids and `market:<id>`): what a planner on another
    /// thread gets instead of the whole topic tree.
    pub fn snapshot(&self) -> std::collections::HashMap<String, Map<String, Value>> {
        let market = self
            .registry
            .market
            .as_ref()
            .map(|m| crate::agent::market::status_key(&m.id));
        self.registry
            .devices()
            .iter()
            .map(|d| d.id.clone())
            .chain(market)
            .filter_map(|id| self.state(&id).map(|s| (id, s)))
            .collect()
    }

    /// Whether the device's reported state shows the value the action set:
    /// the one confirmation rule of `run`, the bridge and the TUI.
    pub fn shows(&self, action: &crate::outcome::ActionResult) -> bool {
        self.value(&action.device, &action.capability)
            .is_some_and(|v| crate::exec::same_value(&v, &action.value))
    }

    /// The current value of one capability.
    pub fn value(&self, device_id: &str, capability: &str) -> Option<Value> {
        self.state(device_id)?.remove(capability)
    }
}

/// A value as people read it: strings without quotes, units appended.
pub fn display_value(value: &Value, unit: Option<&str>) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match unit {
        Some(u) if !matches!(value, Value::String(_)) => {
            if u == "%" {
                format!("{text}%")
            } else {
                format!("{text} {u}")
            }
        }
        _ => text,
    }
}
