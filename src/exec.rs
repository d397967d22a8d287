//! Carrying out a plan on the broker: publish each allowed action at QoS 1,
//! then watch the devices' state topics until each shows the new value, or
//! the confirmation timeout passes. Shared by `giot run`, `giot eval`, the TUI
//! and the bridge.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet::Fleet;
use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::outcome::ActionResult;
use crate::registry::Registry;

/// A connection to the broker with the fleet's live state.
pub struct Live {
    pub link: Link,
    pub fleet: Fleet,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot reach the broker at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("publishing to {topic} failed: {reason}")]
    Publish { topic: String, reason: String },
}

impl Live {
    /// Connects, subscribes to every state topic, and waits (at most
    /// `settle`) for the retained states of the fleet to arrive.
    pub async fn connect(
        options: &ConnectOptions,
        registry: Registry,
        timeout: Duration,
        settle: Duration,
    ) -> Result<Self, ExecError> {
        let fleet = Fleet::new(registry, 16);
        let mut link =
            Link::start(options, fleet.state_filters()).map_err(|e| ExecError::Unreachable {
                url: options.url.clone(),
                reason: e.to_string(),
            })?;
        let mut live_fleet = fleet;
        link.wait_connected(timeout, |e| live_fleet.apply(&e))
            .await
            .map_err(|reason| ExecError::Unreachable {
                url: options.url.clone(),
                reason,
            })?;
        live_fleet.apply(&LinkEvent::Connected);
        let mut live = Self {
            link,
            fleet: live_fleet,
        };
        let deadline = tokio::time::Instant::now() + settle;
        let total = live.fleet.registry().len();
        while live.known_states() < total {
            match tokio::time::timeout_at(deadline, live.link.recv()).await {
                Ok(Some(e)) => live.fleet.apply(&e),
                _ => break,
            }
        }
        Ok(live)
    }

    fn known_states(&self) -> usize {
        let reg = self.fleet.registry();
        reg.devices()
            .iter()
            .filter(|d| self.fleet.tree().get(&d.state_topic).is_some())
            .count()
    }

    /// Publishes the actions and returns when each is confirmed by its
    /// device's state or `confirm_timeout` has passed; sets `confirmed`.
    /// Returns the instant of the last publish.
    pub async fn execute(
        &mut self,
        actions: &mut [ActionResult],
        confirm_timeout: Duration,
    ) -> Result<Instant, ExecError> {
        for a in actions.iter() {
            self.link
                .publish(&a.topic, a.payload.clone(), false)
                .await
                .map_err(|e| ExecError::Publish {
                    topic: a.topic.clone(),
                    reason: e.to_string(),
                })?;
        }
        let published = Instant::now();
        let deadline = tokio::time::Instant::now() + confirm_timeout;
        loop {
            for a in actions.iter_mut() {
                if a.confirmed != Some(true) {
                    a.confirmed = Some(self.fleet.shows(a));
                }
            }
            if actions.iter().all(|a| a.confirmed == Some(true)) {
                break;
            }
            match tokio::time::timeout_at(deadline, self.link.recv()).await {
                Ok(Some(e)) => self.fleet.apply(&e),
                _ => break,
            }
        }
        Ok(published)
    }
}

/// Whether a reported value is the value that was asked for (numbers within
/// rounding, also inside arrays and objects such as a market's menu).
pub fn same_value(shown: &Value, wanted: &Value) -> bool {
    match (shown, wanted) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same_value(x, y)))
        }
        _ => match (shown.as_f64(), wanted.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            _ => shown == wanted,
        },
    }
}
