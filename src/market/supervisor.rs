//! The market's supervisor: publishes the menu each round, collects choices
//! and data, settles, records everything in the ledger, keeps a summary of
//! the last rounds retained on `giot/market/<id>/status`, and adopts menus
//! that operators propose on `giot/market/<id>/proposal`.
//!
//! A proposal ([`Proposal`]) is `{"menu": {"items": [{"q": .., "r": ..}, ..]}}`. One that is
//! well formed (an item per type, finite, non-negative) is adopted from the
//! next round, whatever its audit says: the operator saw the audit and
//! confirmed it (the policy makes sure of that). Both adoption and rejection
//! go into the ledger and the status.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::protocol::{
    self, Choice, Delivered, Delivery, HistoryEntry, MenuAnnouncement, Proposal, ProposalAudit,
    ProposalOutcome, Settlements, Status, TypeTruth,
};
use super::{
    ContributorRound, MarketConfig, Report, Round, RunError, audit, contract, contributor, topic,
    truth,
};
use crate::ledger::{self, Ledger, NodeKey};
use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::planner::exact;
use crate::planner::model::{MarketError, Menu};
use crate::registry::Registry;

/// Rounds kept in the retained status, for "why did participation drop?".
pub const HISTORY: usize = 20;

/// How `giot market run` runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop after this many rounds; `None` runs until `stop`.
    pub rounds: Option<u64>,
    /// The least time from one round's start to the next.
    pub interval: Duration,
    /// Seed of the in-process contributors' types and noise.
    pub seed: u64,
    pub ledger: Option<PathBuf>,
    /// Run the contributors in this process instead of expecting `giot sim`.
    pub sim: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            rounds: Some(10),
            interval: Duration::ZERO,
            seed: 1,
            ledger: None,
            sim: true,
        }
    }
}

struct Supervisor {
    config: MarketConfig,
    link: Link,
    ledger: Option<Ledger>,
    entries: u64,
    vehicles: Vec<String>,
    /// Private types known from the simulation's ground truth.
    types: HashMap<String, usize>,
    menu: Menu,
    menu_from: u64,
    previous_menu: Option<Menu>,
    next_menu: Option<Menu>,
    history: VecDeque<HistoryEntry>,
    /// The last round's summary, without the menu, history and proposal
    /// that [`Supervisor::publish_status`] adds.
    status: Status,
    proposal: Option<ProposalOutcome>,
    round: u64,
    /// Whether a round is waiting for its answers.
    open: bool,
    choices: HashMap<String, Option<usize>>,
    data: HashMap<String, Vec<f64>>,
}

type Result<T, E = RunError> = std::result::Result<T, E>;

/// Why a proposed menu was rejected; its text goes into the ledger and the
/// status.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("not a menu: {0}")]
    NotAMenu(serde_json::Error),
    #[error("{0}")]
    Invalid(MarketError),
}

/// Runs the market until `run.rounds` have passed or `stop` turns true;
/// `on_round` sees each round as it is settled.
pub async fn run(
    registry: &Registry,
    options: &ConnectOptions,
    run: RunOptions,
    mut stop: watch::Receiver<bool>,
    mut on_round: impl FnMut(&Round),
) -> Result<Report> {
    let config = registry.market.clone().ok_or(RunError::NoMarket)?;
    let menu = exact::optimal(&config.state)?.menu;
    let ledger = match &run.ledger {
        Some(path) => {
            let path = path.clone();
            Some(
                tokio::task::spawn_blocking(move || -> Result<Ledger, ledger::Error> {
                    let key = NodeKey::load_or_create(&ledger::default_key_dir())?;
                    Ledger::open(&path, &key)
                })
                .await
                .map_err(RunError::LedgerTask)??,
            )
        }
        None => None,
    };
    let link = Link::start(
        options,
        vec![
            topic(&config.id, "contributors/+/choice"),
            topic(&config.id, "contributors/+/data"),
            topic(&config.id, "proposal"),
            super::truth_topic(&config.id, "+"),
        ],
    )
    .map_err(|source| RunError::Options {
        url: options.url.clone(),
        source,
    })?;
    let contributors = if run.sim {
        Some(contributor::spawn(registry, options, run.seed)?)
    } else {
        None
    };
    let mut s = Supervisor {
        link,
        ledger,
        entries: 0,
        vehicles: super::vehicles(registry).into_iter().map(|v| v.0).collect(),
        types: contributors
            .as_ref()
            .map(|c| c.types.iter().cloned().collect())
            .unwrap_or_default(),
        menu: menu.clone(),
        menu_from: 1,
        previous_menu: None,
        next_menu: None,
        history: VecDeque::new(),
        status: Status::default(),
        proposal: None,
        round: 0,
        open: false,
        choices: HashMap::new(),
        data: HashMap::new(),
        config,
    };
    s.link
        .wait_connected(Duration::from_secs(5), |_| {})
        .await
        .map_err(|source| RunError::Unreachable {
            url: options.url.clone(),
            source,
        })?;
    // Let the contributors (and retained ground truth) arrive.
    s.listen_until(Instant::now() + Duration::from_millis(300), &mut stop)
        .await;
    let mut report = Report {
        market: s.config.id.clone(),
        menu,
        rounds: Vec::new(),
        ledger: run.ledger.clone(),
    };
    let mut round = 0;
    while run.rounds.is_none_or(|n| round < n) && !*stop.borrow() {
        round += 1;
        let started = Instant::now();
        let r = s.round(round, &mut stop).await?;
        on_round(&r);
        report.rounds.push(r);
        if run.rounds != Some(round) {
            s.listen_until(started + run.interval, &mut stop).await;
        }
    }
    drop(contributors);
    // Clear the retained menu: the market is closed.
    let _ = s
        .link
        .publish(&topic(&s.config.id, "menu"), Vec::<u8>::new(), true)
        .await;
    s.link.shutdown().await;
    Ok(report)
}

impl Supervisor {
    fn record(&mut self, kind: &str, data: Value) -> Result<()> {
        if let Some(l) = self.ledger.as_mut() {
            // fsync: keep it off the async workers the contributors run on.
            tokio::task::block_in_place(|| l.append(kind, data))?;
            self.entries += 1;
        }
        Ok(())
    }

    /// Handles messages until `deadline`, or until the round's answers are in
    /// when a round is open.
    async fn listen_until(&mut self, deadline: Instant, stop: &mut watch::Receiver<bool>) {
        loop {
            if self.open && self.complete() {
                return;
            }
            let event = tokio::select! {
                _ = stop.changed() => return,
                e = tokio::time::timeout_at(deadline, self.link.recv()) => e,
            };
            match event {
                Ok(Some(e)) => {
                    if let Err(e) = self.handle(e).await {
                        tracing::warn!("market: {e:#}");
                    }
                }
                _ => return,
            }
        }
    }

    fn complete(&self) -> bool {
        self.choices.len() == self.vehicles.len()
            && self
                .choices
                .iter()
                .all(|(v, i)| i.is_none() || self.data.contains_key(v))
    }

    async fn handle(&mut self, event: LinkEvent) -> Result<()> {
        let LinkEvent::Message {
            topic: t, payload, ..
        } = event
        else {
            return Ok(());
        };
        if payload.is_empty() {
            return Ok(());
        }
        // JSON first, to tell a payload that is not JSON at all (warned
        // about) from one that is not the topic's message (ignored, or a
        // rejected proposal recorded as it came); then the topic's type.
        let v = match serde_json::from_slice::<Value>(&payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(
                    "malformed market message on {t} ({e}); skipped: {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(200)])
                );
                return Ok(());
            }
        };
        if t == topic(&self.config.id, "proposal") {
            return self.propose(v).await;
        }
        let parts: Vec<&str> = t.split('/').collect();
        if t.starts_with("giot/sim/") {
            if let (Some(vehicle), Ok(truth)) =
                (parts.last(), serde_json::from_value::<TypeTruth>(v))
            {
                self.types.insert(vehicle.to_string(), truth.ty);
            }
            return Ok(());
        }
        let (Some(vehicle), Some(kind)) = (parts.get(4), parts.get(5)) else {
            return Ok(());
        };
        if !self.open || !self.vehicles.iter().any(|id| id == vehicle) {
            return Ok(());
        }
        // A message that is not this round's choice or data is ignored.
        match *kind {
            "choice" => {
                if let Ok(c) = serde_json::from_value::<Choice>(v)
                    && c.round == self.round
                {
                    let item = c.item.filter(|&i| i < self.menu.items.len());
                    self.choices.insert(vehicle.to_string(), item);
                }
            }
            "data" => {
                if let Ok(d) = serde_json::from_value::<Delivery>(v)
                    && d.round == self.round
                {
                    self.data.insert(vehicle.to_string(), d.readings);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Adopts a well-formed proposed menu from the next round on.
    async fn propose(&mut self, v: Value) -> Result<()> {
        let from = self.round + 1;
        let checked = serde_json::from_value::<Proposal>(v.clone())
            .map_err(Rejection::NotAMenu)
            .and_then(|Proposal { menu: m }| {
                audit(&self.config.state, &m)
                    .map(|a| (m, a))
                    .map_err(Rejection::Invalid)
            });
        let (entry, note) = match checked {
            Ok((menu, a)) => {
                let audit = ProposalAudit::from(&a);
                tracing::info!(
                    "market {}: adopted a proposed menu from round {from}",
                    self.config.id
                );
                self.next_menu = Some(menu.clone());
                (
                    json!({"market": self.config.id, "decision": "adopted", "from_round": from, "menu": menu, "audit": audit}),
                    ProposalOutcome::Adopted {
                        from_round: from,
                        menu,
                        audit,
                    },
                )
            }
            Err(rejection) => {
                let reason = rejection.to_string();
                tracing::warn!("market {}: proposal rejected: {reason}", self.config.id);
                (
                    json!({"market": self.config.id, "decision": "rejected", "reason": reason, "proposal": v}),
                    ProposalOutcome::Rejected { reason },
                )
            }
        };
        self.record(ledger::kind::PROPOSAL, entry)?;
        self.proposal = Some(note);
        self.publish_status().await
    }

    async fn publish_status(&mut self) -> Result<()> {
        let (menu, from) = match &self.next_menu {
            Some(m) => (m.clone(), self.round + 1),
            None => (self.menu.clone(), self.menu_from),
        };
        let status = Status {
            menu: Some(menu),
            menu_from_round: from,
            history: self.history.iter().cloned().collect(),
            previous_menu: self.previous_menu.clone(),
            proposal: self.proposal.clone(),
            ..self.status.clone()
        };
        self.link
            .publish(
                &topic(&self.config.id, "status"),
                protocol::encode(&status),
                true,
            )
            .await?;
        Ok(())
    }

    async fn round(&mut self, round: u64, stop: &mut watch::Receiver<bool>) -> Result<Round> {
        let id = self.config.id.clone();
        let state = self.config.state.clone();
        let menu_changed = if let Some(next) = self.next_menu.take() {
            self.previous_menu = Some(std::mem::replace(&mut self.menu, next));
            self.menu_from = round;
            true
        } else {
            false
        };
        let menu = self.menu.clone();
        self.round = round;
        self.choices.clear();
        self.data.clear();
        self.link
            .publish(
                &topic(&id, "menu"),
                protocol::encode(&MenuAnnouncement {
                    round,
                    menu: menu.clone(),
                }),
                true,
            )
            .await?;
        self.record(
            ledger::kind::MENU,
            json!({"market": id, "round": round, "menu": menu}),
        )?;
        self.open = true;
        self.listen_until(Instant::now() + self.config.round, stop)
            .await;
        self.open = false;

        let truth_now = truth(round);
        let mut contributors = Vec::new();
        for vehicle in self.vehicles.clone() {
            let answer = self.choices.get(&vehicle).copied();
            let item = answer.flatten();
            self.record(
                ledger::kind::CHOICE,
                json!({"market": id, "round": round, "vehicle": vehicle, "item": item, "answered": answer.is_some()}),
            )?;
            let ty = self.types.get(&vehicle).copied().or(item);
            let (measured, paid, flagged, utility) = match item {
                None => (None, 0.0, false, 0.0),
                Some(i) => {
                    let it = menu.items[i];
                    let readings = self.data.get(&vehicle).cloned().unwrap_or_default();
                    let q = contract::measured_quality(truth_now, &readings);
                    let ok = !readings.is_empty() && contract::meets(it, q, self.config.tolerance);
                    let paid = if ok { it.r } else { 0.0 };
                    // The contributor bears the cost of the quality it delivered.
                    let delivered = if ok { it.q } else { q.min(it.q) };
                    let cost = ty.map_or(0.0, |t| state.kappa(t) * delivered);
                    (Some(q), paid, !ok, paid - cost)
                }
            };
            self.record(
                ledger::kind::SETTLEMENT,
                json!({"market": id, "round": round, "vehicle": vehicle, "item": item, "measured_quality": measured, "paid": paid, "flagged": flagged}),
            )?;
            contributors.push(ContributorRound {
                vehicle,
                ty,
                item,
                measured_quality: measured,
                paid,
                flagged,
                utility,
            });
        }
        self.link
            .publish(
                &topic(&id, "settlements"),
                protocol::encode(&Settlements {
                    round,
                    settlements: contributors.clone(),
                }),
                false,
            )
            .await?;
        let r = summarise(
            &self.config,
            &menu,
            round,
            contributors,
            menu_changed,
            &self.choices,
            self.entries,
        );
        self.history.push_back(HistoryEntry {
            round,
            participation: r.participation,
            server_utility: r.server_utility,
            payments: r.payments,
            silent: r.silent.clone(),
            opted_out: r.opted_out.clone(),
            flagged: r.flagged.clone(),
            menu_changed,
        });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let mut chosen = vec![0usize; menu.items.len()];
        let mut delivered: Vec<(f64, usize)> = vec![(0.0, 0); menu.items.len()];
        for c in &r.contributors {
            if let (Some(i), Some(q)) = (c.item, c.measured_quality) {
                chosen[i] += 1;
                delivered[i].0 += q;
                delivered[i].1 += 1;
            }
        }
        let delivered: Vec<Delivered> = delivered
            .iter()
            .zip(&menu.items)
            .map(|(&(sum, n), it)| Delivered {
                contracted: it.q,
                measured: (n > 0).then(|| sum / n as f64),
                n,
            })
            .collect();
        self.status = Status {
            round,
            participation: Some(r.participation),
            server_utility: Some(r.server_utility),
            payments: Some(r.payments),
            flagged: Some(r.flagged.clone()),
            silent: Some(r.silent.clone()),
            opted_out: Some(r.opted_out.clone()),
            choices: Some(chosen),
            delivered: Some(delivered),
            contributor_utility: Some(r.contributor_utility.clone()),
            ..Status::default()
        };
        // The market at a glance, retained for operators and other tools.
        self.publish_status().await?;
        Ok(r)
    }
}

fn summarise(
    config: &MarketConfig,
    menu: &Menu,
    round: u64,
    contributors: Vec<ContributorRound>,
    menu_changed: bool,
    choices: &HashMap<String, Option<usize>>,
    entries: u64,
) -> Round {
    let state = &config.state;
    let payments: f64 = contributors.iter().map(|c| c.paid).sum();
    let value: f64 = contributors
        .iter()
        .filter(|c| !c.flagged)
        .filter_map(|c| c.item)
        .map(|i| state.server_value(menu.items[i].q))
        .sum();
    let mut by_type: HashMap<usize, (f64, usize)> = HashMap::new();
    for c in &contributors {
        if let Some(t) = c.ty {
            let e = by_type.entry(t).or_default();
            e.0 += c.utility;
            e.1 += 1;
        }
    }
    let names = |f: &dyn Fn(&ContributorRound) -> bool| -> Vec<String> {
        contributors
            .iter()
            .filter(|c| f(c))
            .map(|c| c.vehicle.clone())
            .collect()
    };
    Round {
        round,
        participation: contributors.iter().filter(|c| c.item.is_some()).count() as f64
            / contributors.len().max(1) as f64,
        server_utility: value - payments,
        payments,
        shortfalls: contributors.iter().filter(|c| c.flagged).count(),
        flagged: names(&|c| c.flagged),
        silent: names(&|c| !choices.contains_key(&c.vehicle)),
        opted_out: names(&|c| choices.get(&c.vehicle) == Some(&None)),
        contributor_utility: by_type
            .into_iter()
            .map(|(t, (s, n))| (t, s / n as f64))
            .collect(),
        menu_changed,
        ledger_entries: entries,
        contributors,
    }
}
