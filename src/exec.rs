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
        live.subscribe_new().await;
        // Retained announcements arrive in a burst after subscribing: wait
        // until the registry has been quiet for a moment and every device's
        // state is known, or `settle` has passed.
        let deadline = tokio::time::Instant::now() + settle;
        let quiet = Duration::from_millis(if live.fleet.discovery().is_some() {
            250
        } else {
            0
        });
        let mut changed_at = tokio::time::Instant::now();
        let mut generation = live.fleet.generation();
        loop {
            if live.fleet.generation() != generation {
                generation = live.fleet.generation();
                changed_at = tokio::time::Instant::now();
            }
            let settled = live.known_states() >= live.fleet.registry().len();
            let until = if settled {
                (changed_at + quiet).min(deadline)
            } else {
                deadline
            };
            if settled && tokio::time::Instant::now() >= until {
                break;
            }
            match tokio::time::timeout_at(until, live.link.recv()).await {
                Ok(Some(e)) => live.ingest(&e).await,
                Ok(None) => break,
                Err(_) if tokio::time::Instant::now() >= deadline => break,
                Err(_) => {}
            }
        }
        Ok(live)
    }

    /// Takes one event into the fleet, subscribing to the state topics of
    /// devices it discovers.
    pub async fn ingest(&mut self, event: &LinkEvent) {
        self.fleet.apply(event);
        self.subscribe_new().await;
    }

    async fn subscribe_new(&mut self) {
        let new = self.fleet.take_new_filters();
        if let Err(e) = self.link.subscribe(new).await {
            tracing::warn!("cannot subscribe to discovered state topics: {e}");
        }
    }

    fn known_states(&self) -> usize {
        let reg = self.fleet.registry();
        reg.devices()
            .iter()
            .filter(|d| {
                d.state_topics()
                    .next()
                    .is_none_or(|t| self.fleet.tree().get(t).is_some())
            })
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
                Ok(Some(e)) => self.ingest(&e).await,
                _ => break,
            }
        }
        Ok(published)
    }
}

/// Whether a reported value is the value that was asked for (numbers within
/// rounding).
pub fn same_value(shown: &Value, wanted: &Value) -> bool {
    match (shown.as_f64(), wanted.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
        _ => shown == wanted,
    }
}
