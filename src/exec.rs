//! The broker connection a face starts from: [`Live::connect`] connects,
//! subscribes to every state topic and waits until the retained states (and
//! discovery announcements) have arrived, so that the first goal is planned
//! over the fleet as it is. Publishing and confirming are the goal
//! session's ([`crate::session`]).

use std::time::Duration;

use crate::fleet::Fleet;
use crate::mqtt::{ConnectOptions, Link, LinkEvent, OptionsError, WaitError};
use crate::registry::Registry;

/// A connection to the broker with the fleet's live state.
pub struct Live {
    pub link: Link,
    pub fleet: Fleet,
}

/// Why [`Live::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The connection options cannot be used (an unreadable CA file): a
    /// configuration error.
    #[error("cannot reach the broker at {url}")]
    Options {
        url: String,
        #[source]
        source: OptionsError,
    },
    /// No connection before the timeout.
    #[error("cannot reach the broker at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: WaitError,
    },
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
        let probe_topic = format!("giot/sync/{}", hex::encode(rand::random::<[u8; 8]>()));
        let mut filters = fleet.state_filters();
        filters.push(probe_topic.clone());
        let mut link = Link::start(options, filters).map_err(|source| ExecError::Options {
            url: options.url.clone(),
            source,
        })?;
        let mut live_fleet = fleet;
        link.wait_connected(timeout, |e| live_fleet.apply(&e))
            .await
            .map_err(|source| ExecError::Unreachable {
                url: options.url.clone(),
                source,
            })?;
        live_fleet.apply(&LinkEvent::Connected);
        let mut live = Self {
            link,
            fleet: live_fleet,
        };
        // A broker sends the retained messages of a subscription before
        // anything published after it: a probe published to our own topic,
        // once it comes back, says that every retained message (device
        // states, discovery announcements) of the subscriptions made before
        // it has arrived. Probes repeat, since the link subscribes in the
        // background, and start over when discovery subscribes to the state
        // topics of new devices. Bounded by `settle` (a broker that refuses
        // the probe costs `settle`, no more).
        let deadline = tokio::time::Instant::now() + settle;
        let mut round = 0u64;
        let mut synced = None;
        let mut next_probe = tokio::time::Instant::now();
        loop {
            let new = live.fleet.take_new_filters();
            if !new.is_empty() {
                if let Err(e) = live.link.subscribe(new).await {
                    tracing::warn!("cannot subscribe to discovered state topics: {e}");
                }
                round += 1;
                next_probe = tokio::time::Instant::now();
            }
            let now = tokio::time::Instant::now();
            if (synced == Some(round) && live.known_states()) || now >= deadline {
                break;
            }
            if now >= next_probe {
                let _ = live
                    .link
                    .publish(&probe_topic, round.to_string(), false)
                    .await;
                next_probe = now + Duration::from_millis(50);
            }
            match tokio::time::timeout_at(next_probe.min(deadline), live.link.recv()).await {
                Ok(Some(LinkEvent::Message { topic, payload, .. })) if topic == probe_topic => {
                    if payload[..] == *round.to_string().as_bytes() {
                        synced = Some(round);
                    }
                }
                Ok(Some(e)) => live.fleet.apply(&e),
                Ok(None) => break,
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

    /// Whether the state of every devices.yaml device has arrived (a
    /// discovered device may have none retained).
    fn known_states(&self) -> bool {
        self.fleet
            .base_registry()
            .devices()
            .iter()
            .all(|d| self.fleet.tree().get(&d.state_topic).is_some())
    }
}
