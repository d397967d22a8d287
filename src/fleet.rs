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

use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::discovery::{self, Discovery, Renamed, Shadowed};
use crate::mqtt::{LinkEvent, TopicTree};
use crate::registry::Registry;

#[derive(Debug, Clone)]
pub struct Fleet {
    /// The devices of `devices.yaml`.
    base: Registry,
    /// `base` with the discovered devices joined, built when first asked
    /// for after a change: a burst of announcements costs one merge, not
    /// one per announcement.
    merged: OnceCell<(Registry, Vec<Shadowed>, Vec<Renamed>)>,
    discovery: Option<Discovery>,
    generation: u64,
    /// Filters already subscribed to (or asked for), and those to ask for.
    filters: BTreeSet<String>,
    /// The filters among them with `+` or `#`.
    wildcards: Vec<String>,
    new_filters: Vec<String>,
    tree: TopicTree,
    connected: bool,
}

impl Fleet {
    /// A fleet that also takes in the devices discovered on the broker.
    pub fn new(registry: Registry, history: usize) -> Self {
        let mut fleet = Self {
            base: registry,
            merged: OnceCell::new(),
            discovery: Some(Discovery::default()),
            generation: 0,
            filters: BTreeSet::new(),
            wildcards: Vec::new(),
            new_filters: Vec::new(),
            tree: TopicTree::new(history),
            connected: false,
        };
        fleet.filters = fleet.state_filters().into_iter().collect();
        fleet.wildcards = fleet
            .filters
            .iter()
            .filter(|f| f.contains(['+', '#']))
            .cloned()
            .collect();
        fleet
    }

    /// The same fleet without discovery: only the devices of the registry.
    pub fn without_discovery(mut self) -> Self {
        self.discovery = None;
        self.merged = OnceCell::new();
        self
    }

    /// Discovery's announcements so far, if discovery is on.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// Discovered devices that `devices.yaml` already describes.
    pub fn shadowed(&self) -> &[Shadowed] {
        match &self.discovery {
            Some(_) => &self.merged().1,
            None => &[],
        }
    }

    /// Discovered devices kept under a new id because theirs was taken.
    pub fn renamed(&self) -> &[Renamed] {
        match &self.discovery {
            Some(_) => &self.merged().2,
            None => &[],
        }
    }

    fn merged(&self) -> &(Registry, Vec<Shadowed>, Vec<Renamed>) {
        self.merged.get_or_init(|| match &self.discovery {
            Some(d) => discovery::merge(&self.base, d.devices()),
            None => (self.base.clone(), Vec::new(), Vec::new()),
        })
    }

    /// The devices of `devices.yaml` alone.
    pub fn base_registry(&self) -> &Registry {
        &self.base
    }

    /// Counts changes of the registry (discovered devices joining or leaving).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// State topics of newly discovered devices, not yet subscribed to.
    pub fn take_new_filters(&mut self) -> Vec<String> {
        std::mem::take(&mut self.new_filters)
    }

    /// Every device: `devices.yaml`'s and those discovered so far.
    pub fn registry(&self) -> &Registry {
        match &self.discovery {
            Some(_) => &self.merged().0,
            None => &self.base,
        }
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
            .registry()
            .devices()
            .iter()
            .flat_map(|d| d.state_topics().map(String::from))
            .collect();
        if let Some(m) = &self.registry().market {
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
            // Shown in the topic tree as skipped, with its size; never
            // state, never an announcement.
            LinkEvent::Skipped {
                topic,
                size,
                retain,
            } => {
                self.tree
                    .insert_skipped(topic, *size, *retain, SystemTime::now());
                if let Some(d) = self.discovery.as_mut()
                    && discovery::is_discovery_topic(topic)
                {
                    d.oversized(topic, *size);
                }
            }
        }
    }

    /// Notes a change of the discovered devices: the registry is joined
    /// again when next asked for, and new state topics wait to be
    /// subscribed to.
    fn rebuild(&mut self) {
        let Some(d) = self.discovery.as_mut() else {
            return;
        };
        let topics = d.take_topics();
        self.merged = OnceCell::new();
        self.generation += 1;
        for t in topics {
            let covered = self.filters.contains(&t)
                || self
                    .wildcards
                    .iter()
                    .any(|f| crate::mqtt::topic_matches(f, &t));
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
        if let Some(market) = crate::types::market_of(device_id) {
            return self
                .tree
                .json_object(&format!("giot/market/{market}/status"));
        }
        let device = self.registry().get(device_id)?;
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
            .registry()
            .market
            .as_ref()
            .map(|m| crate::types::market_device(&m.id));
        self.registry()
            .devices()
            .iter()
            .map(|d| d.id.clone())
            .chain(market)
            .filter_map(|id| self.state(&id).map(|s| (id, s)))
            .collect()
    }

    /// Whether the device's reported state shows the value the action set:
    /// the one confirmation rule of `run`, the bridge and the TUI.
    pub fn shows(&self, action: &crate::types::ActionResult) -> bool {
        self.value(&action.device, &action.capability)
            .is_some_and(|v| crate::registry::value::same_value(&v, &action.value))
    }

    /// The current value of one capability.
    pub fn value(&self, device_id: &str, capability: &str) -> Option<Value> {
        self.state(device_id)?.remove(capability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ActionResult;
    use serde_json::json;

    fn message(topic: &str, payload: &str) -> LinkEvent {
        LinkEvent::Message {
            topic: topic.into(),
            payload: Bytes::from(payload.to_string()),
            retain: true,
        }
    }

    fn fleet() -> Fleet {
        let base = crate::registry::parse_str(
            r#"
devices:
  - id: lamp
    kind: light
    state_topic: home/lamp/state
    command_topic: home/lamp/set
    capabilities:
      - {name: power, type: enum, values: ["on", "off"]}
discovered:
  - {id: ha_pump, room: garden}
"#,
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        Fleet::new(base, 4)
    }

    const PUMP: &str =
        r#"{"name": "Pump", "cmd_t": "garden/pump/set", "stat_t": "garden/pump/state"}"#;

    #[test]
    fn a_discovered_device_joins_is_read_and_confirmed_in_registry_words_and_leaves() {
        let mut fleet = fleet();
        assert!(
            fleet
                .state_filters()
                .contains(&"homeassistant/#".to_string())
        );
        fleet.apply(&message("homeassistant/switch/pump/config", PUMP));
        assert_eq!(fleet.generation(), 1);
        let pump = fleet.registry().get("ha_pump").unwrap().clone();
        assert_eq!(
            pump.room.as_deref(),
            Some("garden"),
            "devices.yaml's override"
        );
        assert_eq!(fleet.take_new_filters(), ["garden/pump/state"]);
        assert!(fleet.take_new_filters().is_empty());

        let action = pump.action("power", json!("on"));
        assert_eq!(
            (action.topic.as_str(), action.payload.as_str()),
            ("garden/pump/set", "ON")
        );
        let result = ActionResult::from(&action);
        assert!(!fleet.shows(&result));
        fleet.apply(&message("garden/pump/state", "garbage"));
        assert_eq!(
            fleet.state("ha_pump"),
            None,
            "a malformed state is no state"
        );
        fleet.apply(&message("garden/pump/state", "ON"));
        assert!(fleet.shows(&result));
        assert_eq!(fleet.value("ha_pump", "power"), Some(json!("on")));

        // The same config again changes nothing; an empty one removes it.
        fleet.apply(&message("homeassistant/switch/pump/config", PUMP));
        assert_eq!(fleet.generation(), 1);
        fleet.apply(&message("homeassistant/switch/pump/config", ""));
        assert!(fleet.registry().get("ha_pump").is_none());
        assert_eq!(fleet.registry().len(), 1);
    }

    #[test]
    fn a_burst_of_announcements_is_not_joined_once_per_announcement() {
        // Joining on every announcement took 2 s for 500 (quadratic); the
        // registry is now joined when asked for.
        let mut fleet = fleet();
        let started = std::time::Instant::now();
        for i in 0..2_000 {
            let config = format!(r#"{{"cmd_t": "f/{i}/set", "stat_t": "f/{i}/state"}}"#);
            fleet.apply(&message(
                &format!("homeassistant/switch/s{i}/config"),
                &config,
            ));
        }
        assert_eq!(fleet.registry().len(), 2_001);
        assert_eq!(fleet.take_new_filters().len(), 2_000);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn devices_yaml_wins_over_a_discovered_device_on_its_topics() {
        let mut fleet = fleet();
        fleet.apply(&message(
            "homeassistant/light/lamp2/config",
            r#"{"cmd_t": "home/lamp/set", "stat_t": "home/lamp/state"}"#,
        ));
        assert_eq!(fleet.registry().len(), 1);
        assert_eq!(fleet.shadowed()[0].by, "lamp");
        let mut off = fleet.without_discovery();
        off.apply(&message("homeassistant/switch/pump/config", PUMP));
        assert!(off.registry().get("ha_pump").is_none());
        assert!(
            !off.state_filters()
                .iter()
                .any(|f| f.starts_with("homeassistant"))
        );
    }

    #[test]
    fn kind5_an_oversized_message_shows_as_skipped_with_its_size_and_is_never_state() {
        let mut fleet = fleet();
        let topic = fleet.registry().devices()[0].state_topic.clone();
        let id = fleet.registry().devices()[0].id.clone();
        fleet.apply(&LinkEvent::Skipped {
            topic: topic.clone(),
            size: 9 << 20,
            retain: true,
        });
        let entry = fleet.tree().get(&topic).unwrap();
        assert_eq!(entry.skipped, Some(9 << 20));
        assert!(entry.payload.is_empty());
        assert_eq!(fleet.state(&id), None);
        // On a discovery topic it is reported as skipped, with its size.
        fleet.apply(&LinkEvent::Skipped {
            topic: "homeassistant/sensor/huge/config".into(),
            size: 9 << 20,
            retain: true,
        });
        let problems: Vec<_> = fleet.discovery().unwrap().problems().collect();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].error.contains("9437184 bytes"),
            "{:?}",
            problems[0]
        );
    }
}
