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
//! round is kept retained on `giot/market/<id>/status`.

pub mod contract;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ledger::{self, Ledger, NodeKey};
use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::planner::exact;
use crate::planner::model::{MarketState, Menu};
use crate::registry::Registry;

/// The `market:` section of `devices.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketConfig {
    pub id: String,
    /// Types, proportions, cost and valuation; `m` is the number of vehicles.
    pub state: MarketState,
    /// How long a round waits for choices and data.
    pub round: Duration,
    /// Readings per delivery.
    pub readings: usize,
    /// Shortfall allowed before a delivery is flagged (0.5: half the quality).
    pub tolerance: f64,
}

/// Delivered quality of a contributor marked `cheat: true`, as a share of
/// what it chose.
pub const CHEAT_SHARE: f64 = 0.3;

#[derive(Debug, Clone, Serialize)]
pub struct ContributorRound {
    pub vehicle: String,
    #[serde(rename = "type")]
    pub ty: usize,
    pub item: Option<usize>,
    pub measured_quality: Option<f64>,
    pub paid: f64,
    pub flagged: bool,
    pub utility: f64,
}

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
    pub ledger_entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub market: String,
    pub menu: Menu,
    pub rounds: Vec<Round>,
    pub ledger: Option<PathBuf>,
}

fn topic(id: &str, rest: &str) -> String {
    format!("giot/market/{id}/{rest}")
}

/// The traffic speed on the road segment in round `r`: the simulation's
/// ground truth.
fn truth(seed: u64, round: u64) -> f64 {
    40.0 + 15.0 * ((round as f64) * 0.7 + seed as f64).sin()
}

/// A simulated contributor: answers each menu with its choice and its data.
async fn contributor(
    options: ConnectOptions,
    market: String,
    vehicle: String,
    ty: usize,
    cheat: bool,
    config: MarketConfig,
    seed: u64,
) {
    let Ok(mut link) = Link::start(&options, vec![topic(&market, "menu")]) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut answered = u64::MAX;
    while let Some(event) = link.recv().await {
        let LinkEvent::Message { payload, .. } = event else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&payload) else {
            continue;
        };
        let (Some(round), Ok(menu)) = (
            v["round"].as_u64(),
            serde_json::from_value::<Menu>(v["menu"].clone()),
        ) else {
            continue;
        };
        if round == answered {
            continue;
        }
        answered = round;
        let item = contract::choose(&config.state, &menu, ty);
        let base = format!("contributors/{vehicle}");
        let _ = link
            .publish(
                &topic(&market, &format!("{base}/choice")),
                json!({"round": round, "item": item}).to_string(),
                false,
            )
            .await;
        if let Some(i) = item {
            let q = menu.items[i].q * if cheat { CHEAT_SHARE } else { 1.0 };
            let data = contract::readings(
                truth(config.readings as u64, round),
                q,
                config.readings,
                &mut rng,
            );
            let _ = link
                .publish(
                    &topic(&market, &format!("{base}/data")),
                    json!({"round": round, "readings": data}).to_string(),
                    false,
                )
                .await;
        }
    }
}

/// Runs `rounds` rounds with the exact solver's menu against simulated
/// contributors (one per vehicle, each with a private type drawn from the
/// market's proportions with `seed`).
pub async fn run(
    registry: &Registry,
    options: &ConnectOptions,
    rounds: u64,
    seed: u64,
    ledger_path: Option<PathBuf>,
) -> Result<Report> {
    let config = registry
        .market
        .clone()
        .context("devices.yaml has no market: section")?;
    let state = config.state.clone();
    let menu = exact::optimal(&state)?.menu;
    let mut rng = StdRng::seed_from_u64(seed);
    let vehicles: Vec<(String, usize, bool)> = registry
        .devices()
        .iter()
        .filter(|d| d.kind == "vehicle")
        .map(|d| {
            let mut x: f64 = rng.random();
            let ty = state.rho.iter().position(|&p| {
                x -= p;
                x < 0.0
            });
            (d.id.clone(), ty.unwrap_or(state.rho.len() - 1), d.cheat)
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, (id, ty, cheat)) in vehicles.iter().enumerate() {
        let mut o = options.clone();
        o.client_id = format!("{}-{id}", options.client_id);
        tasks.push(tokio::spawn(contributor(
            o,
            config.id.clone(),
            id.clone(),
            *ty,
            *cheat,
            config.clone(),
            seed.wrapping_add(i as u64 + 1),
        )));
    }
    let mut ledger = match &ledger_path {
        Some(path) => {
            let path = path.clone();
            Some(
                tokio::task::spawn_blocking(move || -> Result<Ledger> {
                    let key = NodeKey::load_or_create(&ledger::default_key_dir())?;
                    Ok(Ledger::open(&path, &key)?)
                })
                .await??,
            )
        }
        None => None,
    };
    let entries = std::cell::Cell::new(0u64);
    let record = |ledger: &mut Option<Ledger>, kind: &str, data: Value| -> Result<()> {
        if let Some(l) = ledger.as_mut() {
            // fsync: keep it off the async workers the contributors run on.
            tokio::task::block_in_place(|| l.append(kind, data))?;
            entries.set(entries.get() + 1);
        }
        Ok(())
    };

    let mut sup = Link::start(
        options,
        vec![
            topic(&config.id, "contributors/+/choice"),
            topic(&config.id, "contributors/+/data"),
        ],
    )?;
    sup.wait_connected(Duration::from_secs(5), |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the broker at {}: {e}", options.url))?;
    // Let the contributors subscribe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut report = Report {
        market: config.id.clone(),
        menu: menu.clone(),
        rounds: Vec::new(),
        ledger: ledger_path.clone(),
    };
    for round in 1..=rounds {
        let payload = json!({"round": round, "menu": menu});
        sup.publish(&topic(&config.id, "menu"), payload.to_string(), true)
            .await?;
        record(
            &mut ledger,
            ledger::kind::MENU,
            json!({"market": config.id, "round": round, "menu": menu}),
        )?;
        let mut choices: HashMap<String, Option<usize>> = HashMap::new();
        let mut data: HashMap<String, Vec<f64>> = HashMap::new();
        let deadline = tokio::time::Instant::now() + config.round;
        let complete = |c: &HashMap<String, Option<usize>>, d: &HashMap<String, Vec<f64>>| {
            c.len() == vehicles.len() && c.iter().all(|(v, i)| i.is_none() || d.contains_key(v))
        };
        while !complete(&choices, &data) {
            let Ok(Some(event)) = tokio::time::timeout_at(deadline, sup.recv()).await else {
                break;
            };
            let LinkEvent::Message {
                topic: t, payload, ..
            } = event
            else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&payload) else {
                tracing::warn!("malformed market message on {t}; skipped");
                continue;
            };
            if v["round"].as_u64() != Some(round) {
                continue;
            }
            let parts: Vec<&str> = t.split('/').collect();
            let (Some(vehicle), Some(kind)) = (parts.get(4), parts.get(5)) else {
                continue;
            };
            if !vehicles.iter().any(|(id, ..)| id == vehicle) {
                continue;
            }
            match *kind {
                "choice" => {
                    let item = v["item"]
                        .as_u64()
                        .map(|i| i as usize)
                        .filter(|&i| i < menu.items.len());
                    choices.insert(vehicle.to_string(), item);
                }
                "data" => {
                    let readings: Vec<f64> = v["readings"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_f64).collect())
                        .unwrap_or_default();
                    data.insert(vehicle.to_string(), readings);
                }
                _ => {}
            }
        }
        let truth_now = truth(config.readings as u64, round);
        let mut contributors = Vec::new();
        for (vehicle, ty, _) in &vehicles {
            let item = choices.get(vehicle).copied().flatten();
            record(
                &mut ledger,
                ledger::kind::CHOICE,
                json!({"market": config.id, "round": round, "vehicle": vehicle, "item": item}),
            )?;
            let (measured, paid, flagged, utility) = match item {
                None => (None, 0.0, false, 0.0),
                Some(i) => {
                    let it = menu.items[i];
                    let readings = data.get(vehicle).cloned().unwrap_or_default();
                    let q = contract::measured_quality(truth_now, &readings);
                    let ok = !readings.is_empty() && contract::meets(it, q, config.tolerance);
                    let paid = if ok { it.r } else { 0.0 };
                    // The contributor bears the cost of the quality it delivered.
                    let delivered = if ok { it.q } else { q.min(it.q) };
                    (Some(q), paid, !ok, paid - state.kappa(*ty) * delivered)
                }
            };
            record(
                &mut ledger,
                ledger::kind::SETTLEMENT,
                json!({"market": config.id, "round": round, "vehicle": vehicle, "item": item, "measured_quality": measured, "paid": paid, "flagged": flagged}),
            )?;
            contributors.push(ContributorRound {
                vehicle: vehicle.clone(),
                ty: *ty,
                item,
                measured_quality: measured,
                paid,
                flagged,
                utility,
            });
        }
        let settlements = json!({"round": round, "settlements": contributors});
        sup.publish(
            &topic(&config.id, "settlements"),
            settlements.to_string(),
            false,
        )
        .await?;
        let payments: f64 = contributors.iter().map(|c| c.paid).sum();
        let value: f64 = contributors
            .iter()
            .filter(|c| c.paid > 0.0 || (c.item.is_some() && !c.flagged))
            .filter_map(|c| c.item)
            .map(|i| state.server_value(menu.items[i].q))
            .sum();
        let mut by_type: HashMap<usize, (f64, usize)> = HashMap::new();
        for c in &contributors {
            let e = by_type.entry(c.ty).or_default();
            e.0 += c.utility;
            e.1 += 1;
        }
        report.rounds.push(Round {
            round,
            participation: contributors.iter().filter(|c| c.item.is_some()).count() as f64
                / vehicles.len().max(1) as f64,
            server_utility: value - payments,
            payments,
            shortfalls: contributors.iter().filter(|c| c.flagged).count(),
            flagged: contributors
                .iter()
                .filter(|c| c.flagged)
                .map(|c| c.vehicle.clone())
                .collect(),
            contributor_utility: by_type
                .into_iter()
                .map(|(t, (s, n))| (t, s / n as f64))
                .collect(),
            contributors,
            ledger_entries: entries.get(),
        });
        // The market at a glance, retained for operators and other tools.
        if let Some(last) = report.rounds.last() {
            let status = json!({"round": round, "menu": menu, "participation": last.participation,
                "server_utility": last.server_utility, "payments": last.payments, "flagged": last.flagged,
                "contributor_utility": last.contributor_utility});
            sup.publish(&topic(&config.id, "status"), status.to_string(), true)
                .await?;
        }
    }
    for t in tasks {
        t.abort();
    }
    // Clear the retained menu: the market is closed.
    let _ = sup
        .publish(&topic(&config.id, "menu"), Vec::<u8>::new(), true)
        .await;
    sup.shutdown().await;
    Ok(report)
}
