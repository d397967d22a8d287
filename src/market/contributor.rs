//! Simulated contributors: one MQTT client per vehicle, each with a private
//! type, answering every menu with the item best for itself and delivering
//! readings of the road segment's traffic with the quality it chose (a
//! vehicle marked `cheat: true` delivers [`CHEAT_SHARE`] of it).
//!
//! Run by `giot sim` (beside the simulated devices) or in-process by
//! `giot market run --sim`. Each publishes its type retained on
//! [`truth_topic`]: the simulation's ground truth, for reports and tests.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::task::JoinHandle;

use super::protocol::{self, Choice, Delivery, MenuAnnouncement, TypeTruth};
use super::{CHEAT_SHARE, MarketConfig, RunError, contract, topic, truth, truth_topic};
use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::registry::Registry;

/// The running contributors; dropping this stops them.
pub struct Contributors {
    tasks: Vec<JoinHandle<()>>,
    /// Each vehicle and its private type.
    pub types: Vec<(String, usize)>,
}

impl Drop for Contributors {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts one contributor per vehicle of the registry's market, with types
/// drawn with `seed`. Client ids are `<options.client_id>-<vehicle>`.
pub fn spawn(
    registry: &Registry,
    options: &ConnectOptions,
    seed: u64,
) -> Result<Contributors, RunError> {
    let config = registry.market.clone().ok_or(RunError::NoMarket)?;
    let vehicles = super::vehicles(registry);
    let types = super::draw_types(&config.state, &vehicles, seed);
    let mut tasks = Vec::new();
    for (i, ((vehicle, cheat), &ty)) in vehicles.iter().zip(&types).enumerate() {
        let mut o = options.clone();
        o.client_id = format!("{}-{vehicle}", options.client_id);
        let link = Link::start(&o, vec![topic(&config.id, "menu")]).map_err(|source| {
            RunError::Options {
                url: options.url.clone(),
                source,
            }
        })?;
        tasks.push(tokio::spawn(run(
            link,
            config.clone(),
            vehicle.clone(),
            ty,
            *cheat,
            seed.wrapping_add(i as u64 + 1),
        )));
    }
    Ok(Contributors {
        tasks,
        types: vehicles.into_iter().map(|(v, _)| v).zip(types).collect(),
    })
}

async fn run(
    mut link: Link,
    config: MarketConfig,
    vehicle: String,
    ty: usize,
    cheat: bool,
    seed: u64,
) {
    let market = &config.id;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut answered = u64::MAX;
    let base = format!("contributors/{vehicle}");
    while let Some(event) = link.recv().await {
        let payload = match event {
            LinkEvent::Connected => {
                let t = truth_topic(market, &vehicle);
                let _ = link
                    .publish(&t, protocol::encode(&TypeTruth { ty }), true)
                    .await;
                continue;
            }
            LinkEvent::Disconnected { .. } | LinkEvent::Skipped { .. } => continue,
            LinkEvent::Message { payload, .. } => payload,
        };
        // An empty retained menu means the market is closed.
        let Ok(MenuAnnouncement { round, menu }) = serde_json::from_slice(&payload) else {
            continue;
        };
        if round == answered || menu.items.len() != config.state.n() {
            continue;
        }
        answered = round;
        let item = contract::choose(&config.state, &menu, ty);
        let choice = protocol::encode(&Choice { round, item });
        let _ = link
            .publish(&topic(market, &format!("{base}/choice")), choice, false)
            .await;
        if let Some(i) = item {
            let q = menu.items[i].q * if cheat { CHEAT_SHARE } else { 1.0 };
            let readings = contract::readings(truth(round), q, config.readings, &mut rng);
            let data = protocol::encode(&Delivery { round, readings });
            let _ = link
                .publish(&topic(market, &format!("{base}/data")), data, false)
                .await;
        }
    }
}
