//! The fleet as it is now: the registry joined with the live topic tree.
//!
//! Everything that needs a device's current state (the agent answering a
//! question or confirming an action, the TUI, the demo view) reads it here.
//! A state payload that is not a JSON object is kept in the tree (so it can
//! be shown) but yields no state, and is never trusted as one.

use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::mqtt::{LinkEvent, TopicTree};
use crate::registry::Registry;

#[derive(Debug, Clone)]
pub struct Fleet {
    registry: Registry,
    tree: TopicTree,
    connected: bool,
}

impl Fleet {
    pub fn new(registry: Registry, history: usize) -> Self {
        Self {
            registry,
            tree: TopicTree::new(history),
            connected: false,
        }
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
            .map(|d| d.state_topic.clone())
            .collect();
        if let Some(m) = &self.registry.market {
            topics.push(format!("giot/market/{}/status", m.id));
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
            } => self.record(topic, payload.clone(), *retain),
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
        self.tree.json_object(&device.state_topic)
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
