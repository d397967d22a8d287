//! The MQTT bridge daemon: goals in on `giot/<agent>/goals`, results out on
//! `giot/<agent>/results/<id>`, through the same agent core and policy as
//! `giot run`.
//!
//! It runs unattended, so it is built to lose nothing and repeat nothing:
//! goals arrive at QoS 1 on a persistent session; every goal is recorded in
//! the store ([`store`]) before it is worked on and its result after; a goal
//! id seen before is answered from the record, never executed again; after a
//! crash, accepted goals are planned again and goals caught mid-execution are
//! only verified. A bounded queue turns a flood into `rejected: overloaded`
//! answers instead of silent drops.

pub mod message;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::agent::{Action, Agent, AgentDefinition};
use crate::fleet::Fleet;
use crate::llm::Scorer;
use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::outcome::{self, ActionResult, Outcome, Status};
use crate::policy::{self, Verdict};
use crate::registry::Registry;
use message::{Incoming, Rejection};
use store::{Record, Stage, Store, Token, now_ms};

/// Everything the daemon needs.
pub struct BridgeConfig {
    pub agent: String,
    pub registry: Registry,
    pub definition: AgentDefinition,
    pub options: ConnectOptions,
    pub confirm_timeout: Duration,
    pub store: PathBuf,
    pub goal_key: Option<Vec<u8>>,
    /// Goals waiting to be worked on, at most.
    pub queue: usize,
    pub metrics_every: Duration,
    pub token_ttl: Duration,
    /// Finished goals are forgotten after this long.
    pub keep: Duration,
    /// The ledger executed actions are recorded in, if any.
    pub ledger: Option<PathBuf>,
}

/// The daemon's topics.
#[derive(Debug, Clone)]
pub struct Topics {
    pub goals: String,
    pub results: String,
    pub status: String,
    pub metrics: String,
}

impl Topics {
    pub fn new(agent: &str) -> Self {
        Self {
            goals: format!("giot/{agent}/goals"),
            results: format!("giot/{agent}/results"),
            status: format!("giot/{agent}/status"),
            metrics: format!("giot/{agent}/metrics"),
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Metrics {
    queue: usize,
    goals: BTreeMap<String, u64>,
    latency_ms: BTreeMap<String, f64>,
    reconnects: u64,
    uptime_s: u64,
    #[serde(skip)]
    latencies: Vec<f64>,
}

/// Shared between the MQTT loop and the worker.
struct Shared {
    config: BridgeConfig,
    topics: Topics,
    store: Store,
    fleet: Mutex<Fleet>,
    changed: Notify,
    metrics: Mutex<Metrics>,
    client: AsyncClient,
}

enum Job {
    /// Plan (or redeem a token) and, if allowed, execute.
    Run(String),
    /// Found mid-execution after a restart: check, never publish again.
    Verify(String),
}

/// Runs the bridge until `shutdown` turns true. `scorer` is the model.
pub async fn run(
    config: BridgeConfig,
    scorer: Box<dyn Scorer>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let topics = Topics::new(&config.agent);
    let store = Store::open(&config.store).context("opening the bridge's store")?;
    let pruned = store.prune(config.keep.as_millis() as u64)?;
    if pruned > 0 {
        tracing::info!(
            "forgot {pruned} finished goals older than {:?}",
            config.keep
        );
    }
    let mut options = config.options.clone();
    options.client_id = format!("giot-bridge-{}", config.agent);
    options.clean_session = false;
    options.last_will = Some((topics.status.clone(), "offline".into()));
    let fleet = Fleet::new(config.registry.clone(), 8);
    let mut filters = vec![topics.goals.clone()];
    filters.extend(fleet.state_filters());
    let mut link = Link::start(&options, filters)?;
    let mut agent = Agent::new(
        config.registry.clone(),
        config.definition.clone(),
        Some(scorer),
    );
    agent.warm();
    let shared = Arc::new(Shared {
        topics,
        store,
        fleet: Mutex::new(fleet),
        changed: Notify::new(),
        metrics: Mutex::new(Metrics::default()),
        client: link.client(),
        config,
    });

    // Work found unfinished in the store comes first.
    let (jobs, queue_rx) = mpsc::channel::<Job>(shared.config.queue.max(1));
    let mut recovered = Vec::new();
    for (id, record) in shared.store.all()? {
        match record.stage {
            Stage::Accepted => recovered.push(Job::Run(id)),
            Stage::Executing => recovered.push(Job::Verify(id)),
            Stage::Done => {}
        }
    }
    if !recovered.is_empty() {
        tracing::info!(
            "resuming {} goals recorded before the last stop",
            recovered.len()
        );
    }
    let (stop_worker, worker_stop) = watch::channel(false);
    let worker = tokio::spawn(work(
        shared.clone(),
        agent,
        recovered,
        queue_rx,
        worker_stop,
    ));

    let started = Instant::now();
    let mut connected_once = false;
    let mut metrics_tick = tokio::time::interval(shared.config.metrics_every);
    loop {
        tokio::select! {
            _ = shutdown.changed() => if *shutdown.borrow() { break },
            _ = metrics_tick.tick() => publish_metrics(&shared, &jobs, started).await,
            event = link.recv() => {
                let Some(event) = event else { break };
                match &event {
                    LinkEvent::Connected => {
                        if connected_once {
                            shared.metrics.lock().expect("metrics").reconnects += 1;
                        }
                        connected_once = true;
                        tracing::info!("connected; taking goals on {}", shared.topics.goals);
                        let _ = shared.client.publish(&shared.topics.status, QoS::AtLeastOnce, true, "online").await;
                    }
                    LinkEvent::Disconnected { error, retry_in } => {
                        tracing::warn!("broker connection lost ({error}); retrying in {retry_in:?}");
                    }
                    LinkEvent::Message { topic, payload, .. } if *topic == shared.topics.goals => {
                        incoming(&shared, &jobs, payload).await;
                        continue;
                    }
                    LinkEvent::Message { .. } => {}
                }
                let new_filters = {
                    let mut fleet = shared.fleet.lock().expect("fleet");
                    fleet.apply(&event);
                    fleet.take_new_filters()
                };
                if let Err(e) = link.subscribe(new_filters).await {
                    tracing::warn!("cannot subscribe to discovered state topics: {e}");
                }
                shared.changed.notify_waiters();
            }
        }
    }
    // Stop taking goals; the one being worked on finishes, queued ones stay
    // recorded as accepted and are resumed at the next start.
    tracing::info!("stopping: finishing the goal in flight");
    let _ = stop_worker.send(true);
    drop(jobs);
    let _ = worker.await;
    let _ = shared
        .client
        .publish(&shared.topics.status, QoS::AtLeastOnce, true, "offline")
        .await;
    link.shutdown().await;
    Ok(())
}

async fn publish_metrics(shared: &Shared, jobs: &mpsc::Sender<Job>, started: Instant) {
    let text = {
        let mut m = shared.metrics.lock().expect("metrics");
        m.queue = jobs.max_capacity() - jobs.capacity();
        m.uptime_s = started.elapsed().as_secs();
        let lat: Vec<u64> = m.latencies.iter().map(|&x| (x * 1000.0) as u64).collect();
        for (name, p) in [("p50", 50.0), ("p95", 95.0)] {
            let v = crate::eval::percentile(&lat, p) as f64 / 1000.0;
            m.latency_ms.insert(name.into(), v);
        }
        serde_json::to_string(&*m).unwrap_or_default()
    };
    let _ = shared
        .client
        .publish(&shared.topics.metrics, QoS::AtMostOnce, true, text)
        .await;
}

fn rejected(id: &str, goal: Option<&str>, reason: &str) -> Value {
    json!({"id": id, "goal": goal, "status": "rejected", "actions": [], "answer": null, "reason": reason,
           "timing_ms": {"total": 0.0, "llm": 0.0}})
}

async fn publish_result(shared: &Shared, id: &str, result: &Value) {
    let topic = format!("{}/{id}", shared.topics.results);
    if let Err(e) = shared
        .client
        .publish(topic, QoS::AtLeastOnce, false, result.to_string())
        .await
    {
        tracing::warn!("cannot publish the result of {id}: {e}");
    }
}

fn count(shared: &Shared, status: &str) {
    *shared
        .metrics
        .lock()
        .expect("metrics")
        .goals
        .entry(status.into())
        .or_default() += 1;
}

/// A message on the goals topic.
async fn incoming(shared: &Shared, jobs: &mpsc::Sender<Job>, payload: &[u8]) {
    let parsed = message::parse(payload, shared.config.goal_key.as_deref());
    let (id, goal, dry_run, confirm) = match parsed {
        Err(Rejection { id: None, reason }) => {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(120)]).into_owned();
            tracing::warn!("dropped a goal message ({reason}): {shown}");
            count(shared, "rejected");
            return;
        }
        Err(Rejection {
            id: Some(id),
            reason,
        }) => {
            tracing::warn!("rejected goal {id}: {reason}");
            count(shared, "rejected");
            // A known id keeps its one result.
            if let Ok(Some(record)) = shared.store.get(&id) {
                if let Some(result) = record.result {
                    publish_result(shared, &id, &result).await;
                }
                return;
            }
            publish_result(shared, &id, &rejected(&id, None, &reason)).await;
            return;
        }
        Ok(Incoming::Goal { id, goal, dry_run }) => (id, goal, dry_run, None),
        Ok(Incoming::Confirm { id, token }) => (id, String::new(), false, Some(token)),
    };
    match shared.store.get(&id) {
        Ok(Some(record)) => {
            // Seen before: answer from the record; never run it again.
            if let Some(result) = record.result {
                tracing::info!("goal {id} seen before: answering from the record");
                publish_result(shared, &id, &result).await;
            }
            return;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!("{e}");
            publish_result(
                shared,
                &id,
                &rejected(&id, Some(&goal), "the bridge cannot record goals"),
            )
            .await;
            return;
        }
    }
    if jobs.capacity() == 0 {
        count(shared, "rejected");
        publish_result(shared, &id, &rejected(&id, Some(&goal), "overloaded")).await;
        return;
    }
    let record = Record {
        goal,
        dry_run,
        confirm,
        stage: Stage::Accepted,
        actions: Vec::new(),
        result: None,
        executions: 0,
        received_ms: now_ms(),
        response_topic: None,
    };
    if let Err(e) = shared.store.put(&id, &record) {
        tracing::error!("{e}");
        publish_result(
            shared,
            &id,
            &rejected(&id, Some(&record.goal), "the bridge cannot record goals"),
        )
        .await;
        return;
    }
    if jobs.try_send(Job::Run(id)).is_err() {
        // Cannot happen (capacity was checked and only this loop sends);
        // the goal stays accepted in the store and runs at the next start.
        tracing::error!("queue full after the capacity check");
    }
}

/// The worker: one goal at a time, in arrival order.
async fn work(
    shared: Arc<Shared>,
    agent: Agent,
    recovered: Vec<Job>,
    mut queue: mpsc::Receiver<Job>,
    stop: watch::Receiver<bool>,
) {
    let agent = Arc::new(Mutex::new(agent));
    for job in recovered {
        handle(&shared, &agent, job).await;
    }
    while let Some(job) = queue.recv().await {
        if *stop.borrow() {
            break;
        }
        handle(&shared, &agent, job).await;
    }
}

async fn handle(shared: &Arc<Shared>, agent: &Arc<Mutex<Agent>>, job: Job) {
    let (id, verify_only) = match job {
        Job::Run(id) => (id, false),
        Job::Verify(id) => (id, true),
    };
    let Ok(Some(mut record)) = shared.store.get(&id) else {
        return;
    };
    let t0 = Instant::now();
    let mut result = if verify_only {
        let mut actions = record.actions.clone();
        wait_confirmed(shared, &mut actions).await;
        let outcome = Outcome {
            goal: record.goal.clone(),
            status: Status::Executed,
            actions,
            answer: None,
            reason: Some("the bridge restarted while executing this goal: its commands were not published again; confirmed shows what the devices report".into()),
            timing_ms: Default::default(),
        };
        serde_json::to_value(&outcome).unwrap_or_default()
    } else if let Some(token) = record.confirm.clone() {
        redeem(shared, &id, &mut record, &token).await
    } else {
        plan_and_run(shared, agent, &id, &mut record).await
    };
    if let Value::Object(map) = &mut result {
        map.insert("id".into(), Value::from(id.clone()));
        if let Some(timing) = map.get_mut("timing_ms").and_then(Value::as_object_mut) {
            timing.insert("total".into(), Value::from(outcome::ms(t0.elapsed())));
        }
    }
    let status = result["status"].as_str().unwrap_or("unknown").to_string();
    {
        let mut m = shared.metrics.lock().expect("metrics");
        m.latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        if m.latencies.len() > 1000 {
            m.latencies.remove(0);
        }
    }
    count(shared, &status);
    record.stage = Stage::Done;
    record.result = Some(result.clone());
    if let Err(e) = shared.store.put(&id, &record) {
        tracing::error!("{e}");
    }
    publish_result(shared, &id, &result).await;
}

async fn plan_and_run(
    shared: &Arc<Shared>,
    agent: &Arc<Mutex<Agent>>,
    id: &str,
    record: &mut Record,
) -> Value {
    let goal = record.goal.clone();
    // The live registry: devices.yaml plus the devices discovered so far.
    let (snapshot, registry) = {
        let fleet = shared.fleet.lock().expect("fleet");
        (fleet.snapshot(), fleet.registry().clone())
    };
    let plan = tokio::task::block_in_place(|| {
        let mut agent = agent.lock().expect("agent");
        agent.set_registry(registry.clone());
        agent.plan(&goal, &|d| snapshot.get(d).cloned())
    });
    let policy = &shared.config.definition.policy;
    let mut decided = outcome::decide(&goal, &plan, &registry, policy, false, record.dry_run);
    match decided.status {
        Status::Executed => {
            execute(shared, id, record, &mut decided.actions).await;
            record_in_ledger(shared, &goal, &decided.actions, "policy (bridge)").await;
            serde_json::to_value(&decided).unwrap_or_default()
        }
        Status::NeedsConfirmation => {
            let token = hex::encode(rand::random::<[u8; 16]>());
            let ttl = shared.config.token_ttl;
            let saved = shared.store.put_token(
                &token,
                &Token {
                    goal_id: id.to_string(),
                    goal: goal.clone(),
                    actions: decided.actions.clone(),
                    expires_ms: now_ms() + ttl.as_millis() as u64,
                    used: false,
                },
            );
            let mut value = serde_json::to_value(&decided).unwrap_or_default();
            if saved.is_ok() {
                value["confirm_token"] = Value::from(token);
                value["confirm_expires_s"] = Value::from(ttl.as_secs());
                value["reason"] = Value::from(format!(
                    "{} To go ahead, publish {{\"id\": \"<new id>\", \"confirm\": \"<confirm_token>\"}} to {}.",
                    decided.reason.clone().unwrap_or_default(),
                    shared.topics.goals
                ));
            }
            value
        }
        _ => serde_json::to_value(&decided).unwrap_or_default(),
    }
}

/// A confirmation: the token's plan, checked by the policy again, executed once.
async fn redeem(shared: &Arc<Shared>, id: &str, record: &mut Record, token: &str) -> Value {
    let found = shared.store.token(token).ok().flatten();
    let reason = match &found {
        None => Some("unknown confirmation token"),
        Some(t) if t.used => Some("duplicate confirmation: the token was already used"),
        Some(t) if t.expires_ms < now_ms() => Some("the confirmation token has expired"),
        Some(_) => None,
    };
    if let Some(reason) = reason {
        return rejected(id, None, reason);
    }
    let mut spent = found.expect("checked above");
    spent.used = true;
    if shared.store.put_token(token, &spent).is_err() {
        return rejected(
            id,
            Some(&spent.goal),
            "the bridge cannot record the confirmation",
        );
    }
    record.goal = spent.goal.clone();
    let registry = shared.fleet.lock().expect("fleet").registry().clone();
    // The policy rebuilds topics and payloads (and refuses what no longer
    // exists), so the stored plan is handed to it as it was.
    let wanted: Vec<Action> = spent
        .actions
        .iter()
        .map(|a| Action {
            device: a.device.clone(),
            capability: a.capability.clone(),
            value: a.value.clone(),
            topic: a.topic.clone(),
            payload: a.payload.clone(),
        })
        .collect();
    let mut decided = Outcome {
        goal: spent.goal.clone(),
        status: Status::Refused,
        actions: Vec::new(),
        answer: None,
        reason: None,
        timing_ms: Default::default(),
    };
    match policy::check(&registry, &shared.config.definition.policy, &wanted, true) {
        Verdict::Allow(actions) => {
            decided.status = Status::Executed;
            decided.actions = actions.iter().map(ActionResult::from).collect();
            execute(shared, id, record, &mut decided.actions).await;
            let who = format!("confirmation {id} of goal {}", spent.goal_id);
            record_in_ledger(shared, &spent.goal, &decided.actions, &who).await;
        }
        Verdict::Refuse(reason) => decided.reason = Some(reason),
        Verdict::NeedsConfirmation { .. } => {
            decided.reason = Some("confirmation did not apply".into())
        }
    }
    let mut value = serde_json::to_value(&decided).unwrap_or_default();
    value["confirms"] = Value::from(spent.goal_id);
    value
}

/// Records that the actions are being published, publishes them, waits for
/// the devices to show them.
async fn execute(
    shared: &Arc<Shared>,
    id: &str,
    record: &mut Record,
    actions: &mut [ActionResult],
) {
    record.stage = Stage::Executing;
    record.actions = actions.to_vec();
    record.executions += 1;
    if let Err(e) = shared.store.put(id, record) {
        tracing::error!("not publishing {id}: {e}");
        return;
    }
    for a in actions.iter() {
        if let Err(e) = shared
            .client
            .publish(&a.topic, QoS::AtLeastOnce, false, a.payload.clone())
            .await
        {
            tracing::warn!("publishing to {} failed: {e}", a.topic);
        }
    }
    wait_confirmed(shared, actions).await;
}

/// Appends the executed actions to the ledger, off the async threads.
async fn record_in_ledger(shared: &Shared, goal: &str, actions: &[ActionResult], who: &str) {
    let Some(path) = shared.config.ledger.clone() else {
        return;
    };
    let (goal, actions, who) = (goal.to_string(), actions.to_vec(), who.to_string());
    let recorded = tokio::task::spawn_blocking(move || {
        crate::ledger::record_action(&path, &goal, &actions, &who)
    })
    .await;
    match recorded {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!("the ledger could not record executed actions: {e}"),
        Err(e) => tracing::error!("the ledger writer failed: {e}"),
    }
}

async fn wait_confirmed(shared: &Shared, actions: &mut [ActionResult]) {
    let deadline = tokio::time::Instant::now() + shared.config.confirm_timeout;
    loop {
        // Register interest before looking, so no change slips between.
        let changed = shared.changed.notified();
        {
            let fleet = shared.fleet.lock().expect("fleet");
            for a in actions.iter_mut() {
                a.confirmed = Some(fleet.shows(a));
            }
        }
        if actions.iter().all(|a| a.confirmed == Some(true)) {
            return;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return;
        }
    }
}

/// `giot bridge status`: the daemon's retained status and metrics.
pub async fn status(
    options: &ConnectOptions,
    agent: &str,
    wait: Duration,
) -> Result<(Option<String>, Option<Value>)> {
    let topics = Topics::new(agent);
    let mut link = Link::start(options, vec![topics.status.clone(), topics.metrics.clone()])?;
    link.wait_connected(Duration::from_secs(3), |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the broker at {}: {e}", options.url))?;
    let (mut status, mut metrics) = (None, None);
    let deadline = tokio::time::Instant::now() + wait;
    while status.is_none() || metrics.is_none() {
        match tokio::time::timeout_at(deadline, link.recv()).await {
            Ok(Some(LinkEvent::Message { topic, payload, .. })) => {
                if topic == topics.status {
                    status = Some(String::from_utf8_lossy(&payload).into_owned());
                } else {
                    metrics = serde_json::from_slice(&payload).ok();
                }
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    link.shutdown().await;
    Ok((status, metrics))
}
