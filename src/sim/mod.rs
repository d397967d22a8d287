//! The simulator: brings every device of a registry to life on a broker.
//!
//! Each device publishes its state retained on its `state_topic`; valid
//! commands on its `command_topic` are applied and the new state republished
//! at once, so a command is visibly confirmed; invalid commands are logged and
//! ignored. Sensors and vehicles drift over time. The per-device logic lives
//! in [`state`], free of I/O; this file only moves messages.

pub mod state;

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;

use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::registry::Registry;
pub use state::{CommandError, SimDevice};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How often sensors and vehicles drift and publish.
    pub tick: Duration,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(2),
            seed: 7,
        }
    }
}

/// Runs the simulated fleet until `shutdown` turns true.
pub async fn run(
    registry: &Registry,
    options: &ConnectOptions,
    config: SimConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), crate::mqtt::OptionsError> {
    let mut devices: Vec<SimDevice> = registry
        .devices()
        .iter()
        .enumerate()
        .map(|(i, d)| SimDevice::new(d.clone(), config.seed.wrapping_add(i as u64)))
        .collect();
    let by_command: HashMap<String, usize> = devices
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.device().command_topic.clone().map(|t| (t, i)))
        .collect();
    let filters: Vec<String> = by_command.keys().cloned().collect();
    let mut link = Link::start(options, filters)?;
    let mut ticker = tokio::time::interval(config.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
            }
            _ = ticker.tick() => {
                for d in devices.iter_mut().filter(|d| d.drifts()) {
                    d.drift(config.tick);
                    publish_state(&link, d).await;
                }
            }
            event = link.recv() => match event {
                None => break,
                Some(LinkEvent::Connected) => {
                    tracing::info!("simulating {} devices", devices.len());
                    for d in &devices {
                        publish_state(&link, d).await;
                    }
                }
                Some(LinkEvent::Disconnected { error, retry_in }) => {
                    tracing::warn!("broker connection lost ({error}); retrying in {retry_in:?}");
                }
                // Logged by the link; the connection stays up.
                Some(LinkEvent::Skipped { .. }) => {}
                Some(LinkEvent::Message { topic, payload, .. }) => {
                    let Some(&i) = by_command.get(&topic) else { continue };
                    let device = &mut devices[i];
                    match device.apply_command(&payload) {
                        Ok(()) => publish_state(&link, device).await,
                        Err(e) => tracing::warn!(
                            "ignored command for {} on {topic}: {e} (payload: {})",
                            device.device().id,
                            String::from_utf8_lossy(&payload[..payload.len().min(200)])
                        ),
                    }
                }
            }
        }
    }
    link.shutdown().await;
    Ok(())
}

async fn publish_state(link: &Link, device: &SimDevice) {
    let topic = &device.device().state_topic;
    if let Err(e) = link.publish(topic, device.state_json(), true).await {
        tracing::warn!("cannot publish state of {}: {e}", device.device().id);
    }
}
