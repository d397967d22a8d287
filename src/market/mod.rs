//! The incentive market: an edge server buys traffic-sensing data from the
//! fleet's vehicles, whose sensing efficiency (type) is private.
//!
//! Each round the supervisor publishes the menu retained on
//! `giot/market/<id>/menu`; every contributor picks the item best for its
//! own type ([`contract::choose`]) and answers on
//! `.../contributors/<vehicle>/choice`, then delivers readings of the road
//! segment's traffic on `.../data`; the supervisor measures the delivered
//! quality against the simulation's ground truth, pays the contracted reward
//! or flags a shortfall and pays nothing, and publishes the settlements.
//! Menus, choices and settlements go into the ledger; a summary of the last
//! rounds is kept retained on `giot/market/<id>/status`.
//!
//! The contributors are simulated ([`contributor`]): by `giot sim` on the same
//! broker, or in-process with `giot market run --sim`. An operator changes the
//! menu by proposing one on `giot/market/<id>/proposal` (the agent's
//! `publish_menu`, always confirmed by a person); the supervisor checks it
//! and adopts it from the next round ([`supervisor`]). Every one of these
//! messages is a type of [`protocol`].

pub mod contract;
pub mod contributor;
pub mod explain;
pub mod protocol;
pub mod supervisor;

pub use protocol::ContributorRound;
pub use supervisor::{RunOptions, run};

use std::collections::HashMap;
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use crate::planner::exact;
use crate::planner::model::{MarketError, MarketState, Menu};
use crate::planner::score::{self, Score};
use crate::registry::{MarketConfig, Registry};
use crate::types::{Action, market_device};

/// Delivered quality of a contributor marked `cheat: true`, as a share of
/// what it chose.
pub const CHEAT_SHARE: f64 = 0.3;

#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub round: u64,
    pub participation: f64,
    pub server_utility: f64,
    pub payments: f64,
    pub shortfalls: usize,
    pub flagged: Vec<String>,
    /// Mean utility of the contributors of each type (type index as key).
    pub contributor_utility: HashMap<usize, f64>,
    pub contributors: Vec<ContributorRound>,
    /// Vehicles that sent no choice this round.
    pub silent: Vec<String>,
    /// Vehicles that answered and opted out.
    pub opted_out: Vec<String>,
    /// Whether a newly adopted menu took effect this round.
    pub menu_changed: bool,
    pub ledger_entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub market: String,
    pub menu: Menu,
    pub rounds: Vec<Round>,
    pub ledger: Option<PathBuf>,
}

/// Why the market's supervisor or its simulated contributors stopped (or
/// could not start). A round's own troubles (a malformed message, a rejected
/// proposal) are logged and recorded, not errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The registry has no `market:` section.
    #[error("devices.yaml has no market: section")]
    NoMarket,
    /// The market's state cannot be used (the exact solver refused it).
    #[error(transparent)]
    Market(#[from] MarketError),
    /// The node key or the ledger cannot be opened, or an entry not appended.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::Error),
    /// The task opening the ledger panicked or was cancelled.
    #[error("opening the ledger")]
    LedgerTask(#[source] tokio::task::JoinError),
    /// The connection options cannot be used (an unreadable CA file).
    #[error("cannot reach the broker at {url}")]
    Options {
        url: String,
        #[source]
        source: crate::mqtt::OptionsError,
    },
    /// No connection to the broker before the timeout.
    #[error("cannot reach the broker at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: crate::mqtt::WaitError,
    },
    /// A menu, the status or the settlements could not be queued for
    /// publishing (the link has stopped).
    #[error(transparent)]
    Publish(#[from] rumqttc::ClientError),
}

/// The action that proposes `menu` to market `id`'s supervisor.
pub fn menu_action(id: &str, menu: &Menu) -> Action {
    Action {
        device: market_device(id),
        capability: "menu".into(),
        value: json!(menu),
        topic: topic(id, "proposal"),
        payload: protocol::encode(&protocol::Proposal { menu: menu.clone() }),
    }
}

/// A topic of market `id`: `giot/market/<id>/<rest>`.
pub fn topic(id: &str, rest: &str) -> String {
    format!("giot/market/{id}/{rest}")
}

/// Where the simulation publishes a contributor's private type (retained):
/// ground truth for reports and tests, never used to pay anybody.
pub fn truth_topic(id: &str, vehicle: &str) -> String {
    format!("giot/sim/market/{id}/types/{vehicle}")
}

/// The traffic speed on the road segment in round `round`: the simulation's
/// ground truth, which the supervisor measures deliveries against.
pub fn truth(round: u64) -> f64 {
    40.0 + 15.0 * ((round as f64) * 0.7 + 200.0).sin()
}

/// The vehicles of the fleet: the market's contributors, with their
/// `cheat` flag.
pub fn vehicles(registry: &Registry) -> Vec<(String, bool)> {
    registry
        .devices()
        .iter()
        .filter(|d| d.kind == "vehicle")
        .map(|d| (d.id.clone(), d.cheat))
        .collect()
}

/// Draws each vehicle's private type from the market's proportions.
pub fn draw_types(state: &MarketState, vehicles: &[(String, bool)], seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    vehicles
        .iter()
        .map(|_| {
            let mut x: f64 = rng.random();
            state
                .rho
                .iter()
                .position(|&p| {
                    x -= p;
                    x < 0.0
                })
                .unwrap_or(state.rho.len() - 1)
        })
        .collect()
}

/// A proposed menu's audit against the optimum; fails if the market state
/// has no optimum or the menu does not fit it (see [`MarketError`]), which is
/// why it cannot be adopted.
pub fn audit(state: &MarketState, menu: &Menu) -> Result<Score, MarketError> {
    let optimum = exact::optimal(state)?;
    score::score(state, menu, optimum.utility)
}
