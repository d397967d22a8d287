//! The MQTT bridge daemon: goals in on `giot/<agent>/goals`, results out on
//! `giot/<agent>/results/<id>`, through the same goal session and driver as
//! `giot run` ([`crate::session`]).
//!
//! It runs unattended, so it is built to lose nothing and repeat nothing:
//! goals arrive at QoS 1 on a persistent session; every goal is recorded in
//! the store ([`store`]) before it is worked on, again just before its
//! commands are published (the driver's `before_publish`), and its result
//! after; a goal id seen before is answered from the record, never executed
//! again; after a crash, accepted goals are planned again and goals caught
//! mid-execution are only verified. Goals are worked on concurrently (the
//! session keeps goals on the same device in order); at most `queue` are in
//! flight, and a flood beyond that gets `rejected: overloaded` answers
//! instead of silent drops.

pub mod keep;
pub mod message;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::agent::AgentDefinition;
use crate::exec::Live;
use crate::fleet::Fleet;
use crate::llm::Scorer;
use crate::mqtt::{ConnectOptions, Link, LinkEvent};
use crate::registry::Registry;
use crate::session::driver::{BeforePublish, Driver, DriverConfig, Model};
use crate::session::{GoalRequest, Intent, Origin, SessionConfig};
use crate::types::Status;
use message::{GoalResult, Incoming, Rejection};
use store::{Record, Stage, Store, StoreError, Token, now_ms};

/// Everything the daemon needs.
pub struct BridgeConfig {
    pub agent: String,
    pub registry: Registry,
    pub definition: AgentDefinition,
    pub options: ConnectOptions,
    pub confirm_timeout: Duration,
    /// The language to read goals in first (`--language`).
    pub language: Option<String>,
    /// The store: a redb file (one instance) or PostgreSQL (shared).
    pub store: store::Location,
    /// The MQTT shared-subscription group (`--share`): instances in one
    /// group split the goal stream between them (they need a shared store).
    pub share: Option<String>,
    /// This instance's name, unique among the instances of one agent: its
    /// MQTT client id and its claims in a shared store (`--instance`).
    pub instance: String,
    /// How long a shared store keeps this instance's claims after its last
    /// heartbeat (`--lease`); then another instance takes its goals over.
    pub lease: Duration,
    pub goal_key: Option<Vec<u8>>,
    /// Goals waiting to be worked on, at most.
    pub queue: usize,
    pub metrics_every: Duration,
    pub token_ttl: Duration,
    /// Finished goals are forgotten after this long.
    pub keep: Duration,
    /// The ledger executed actions are recorded in, if any.
    pub ledger: Option<PathBuf>,
    /// Where goals the local layers cannot decide go (`--escalate`).
    pub escalation: Option<crate::llm::http::HttpConfig>,
    /// Where goals for later are kept (`--schedules`).
    pub schedules: PathBuf,
    /// Where standing rules are kept (`--rules`).
    pub rules: PathBuf,
    /// The least time between two firings of a rule (`--rule-interval`).
    pub rule_interval: Duration,
    /// The operator's time zone (`--time-zone`).
    pub time_zone: jiff::tz::TimeZone,
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

    /// The topics of one instance of a shared group: goals and results are
    /// the agent's, status and metrics each instance's own
    /// (`giot/<agent>/instances/<instance>/status`), so that one instance
    /// stopping does not say the agent is offline.
    pub fn instance(agent: &str, instance: &str) -> Self {
        Self {
            status: format!("giot/{agent}/instances/{instance}/status"),
            metrics: format!("giot/{agent}/instances/{instance}/metrics"),
            ..Self::new(agent)
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
    /// With a shared store: whether this instance runs the schedules and
    /// rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    keeper: Option<bool>,
    #[serde(skip)]
    latencies: Vec<f64>,
}

/// Shared between the MQTT loop and the goal tasks.
struct Shared {
    config: BridgeConfig,
    topics: Topics,
    store: Arc<Store>,
    metrics: Mutex<Metrics>,
    client: AsyncClient,
    driver: Driver,
    /// Goals accepted and not yet answered.
    in_flight: AtomicUsize,
    /// With a shared store: the schedules and rules shared with the other
    /// instances, and whether this one runs them.
    keeper: Option<tokio::sync::Mutex<keep::Keeper>>,
    /// Whether this instance ran the schedules and rules after the last
    /// round, for the metrics (which must not wait on a round in progress).
    keeping: std::sync::atomic::AtomicBool,
}

enum Job {
    /// Plan (or redeem a token) and, if allowed, execute.
    Run(String),
    /// Found mid-execution after a restart: check, never publish again.
    Verify(String),
}

/// Why the bridge could not start (once running, it answers every goal and
/// keeps going).
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The goal store cannot be opened, pruned or written.
    #[error("the bridge's store")]
    Store(#[from] store::StoreError),
    /// The broker connection options cannot be used (a configuration error).
    #[error("the MQTT connection options")]
    Options(#[from] crate::mqtt::OptionsError),
    /// `giot bridge status` got no connection before its timeout.
    #[error("cannot reach the broker at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: crate::mqtt::WaitError,
    },
    /// The before-publish hook could not mark a goal as executing (or
    /// another instance owns it now), so its actions were not published.
    #[error("the bridge cannot record goal {0} as executing")]
    Unrecorded(String, #[source] store::StoreError),
    /// `--share` without a shared store: every instance would run the
    /// goals it was given with no record of the others'.
    #[error(
        "--share needs a shared store (--store postgres://…): with a store file each instance would answer replays and run takeovers alone"
    )]
    ShareNeedsSharedStore,
    /// The schedules file cannot be read, or another giot runs it.
    #[error("the bridge's schedules")]
    Schedules(#[from] crate::session::schedule_file::FileError),
}

/// Runs the bridge until `shutdown` turns true. `scorer` is the model.
pub async fn run(
    config: BridgeConfig,
    scorer: Box<dyn Scorer>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BridgeError> {
    let topics = match &config.share {
        Some(_) => Topics::instance(&config.agent, &config.instance),
        None => Topics::new(&config.agent),
    };
    // A stop asked for while the store is opening is honoured.
    let opening = Store::open(&config.store, &config.agent, &config.instance, config.lease);
    let store = tokio::select! {
        store = opening => Arc::new(store?),
        _ = shutdown.changed() => {
            tracing::info!("stopped while opening the store");
            return Ok(());
        }
    };
    if config.share.is_some() && !store.is_shared() {
        return Err(BridgeError::ShareNeedsSharedStore);
    }
    tracing::info!(
        "store: {}{}",
        config.store.shown(),
        match &config.share {
            Some(g) => format!(
                "; sharing the goals of group {g} as instance {}",
                config.instance
            ),
            None => String::new(),
        }
    );
    // One process runs a schedules file's goals: held until the bridge stops.
    let _schedules_owner = crate::session::schedule_file::own(&config.schedules)?;
    let schedules = crate::session::schedule_file::load(&config.schedules)?;
    let _rules_owner = crate::session::schedule_file::own(&config.rules)?;
    let rules: Vec<crate::session::rule::Rule> =
        crate::session::schedule_file::load(&config.rules)?;
    let pruned = store.prune(config.keep.as_millis() as u64).await?;
    if pruned > 0 {
        tracing::info!(
            "forgot {pruned} finished goals older than {:?}",
            config.keep
        );
    }
    let mut options = config.options.clone();
    options.clean_session = false;
    let goals_filter = match &config.share {
        // One client per instance; the broker hands each goal to one
        // member of the group. Clean sessions: a persistent one goes on
        // taking its share of the goals while its instance is down (EMQX
        // queues them there), where no other instance can reach them.
        Some(group) => {
            options.client_id = format!("giot-bridge-{}-{}", config.agent, config.instance);
            options.clean_session = true;
            format!("$share/{group}/{}", topics.goals)
        }
        None => {
            options.client_id = format!("giot-bridge-{}", config.agent);
            topics.goals.clone()
        }
    };
    options.last_will = Some((topics.status.clone(), "offline".into()));
    let fleet = Fleet::new(config.registry.clone(), 8);
    let mut filters = vec![goals_filter.clone()];
    filters.extend(fleet.state_filters());
    let link = Link::start(&options, filters)?;
    let client = link.client();

    // The store records a goal as executing before its commands go out: a
    // crash after this point verifies the goal, never publishes it again.
    // With a shared store the write is fenced: a goal another instance took
    // over is not published by this one.
    let before_publish: BeforePublish = {
        let store = store.clone();
        let runtime = tokio::runtime::Handle::current();
        // Runs on a blocking thread (see the driver's publish).
        Arc::new(move |id: &str, actions: &[crate::types::ActionResult]| {
            runtime
                .block_on(store.mark_executing(id, actions))
                .map_err(|e| BridgeError::Unrecorded(id.to_string(), e).into())
        })
    };
    let (events, mut link_events) = mpsc::unbounded_channel();
    let definition = config.definition.clone();
    let session_config = SessionConfig {
        time_zone: config.time_zone.clone(),
        keeps_schedules: true,
        rule_interval: config.rule_interval,
        ..SessionConfig::confirming_within(config.confirm_timeout)
            .preferring(config.language.as_deref())
    };
    let (fired_tx, mut fired) = mpsc::unbounded_channel();
    let (driver, driver_task) = Driver::start(
        Live { link, fleet },
        definition,
        session_config,
        Model::Loaded(scorer),
        DriverConfig {
            ledger: config.ledger.clone(),
            before_publish: Some(before_publish),
            warm: true,
            forward: vec![topics.goals.clone()],
            events: Some(events),
            escalation: config
                .escalation
                .clone()
                .and_then(crate::llm::http::escalation),
            schedules: Some(config.schedules.clone()),
            rules: Some(config.rules.clone()),
            fired: Some(fired_tx),
        },
    );
    if !schedules.is_empty() {
        tracing::info!(
            "keeping {} schedules from {}",
            schedules.len(),
            config.schedules.display()
        );
    }
    if !rules.is_empty() {
        tracing::info!(
            "keeping {} rules from {}",
            rules.len(),
            config.rules.display()
        );
    }
    // With a shared store one instance runs the schedules and rules (the
    // keeper); until this one knows it is, it only keeps them.
    let keeper = match &config.store {
        store::Location::Postgres(url) => Some(tokio::sync::Mutex::new(keep::Keeper::new(
            url,
            &config.agent,
            config.schedules.clone(),
            config.rules.clone(),
        ))),
        store::Location::File(_) => None,
    };
    let fires = keeper.is_none();
    let _ = driver
        .with_session(move |session| {
            session.set_schedules(schedules);
            session.set_rules(rules);
            session.set_fires(fires);
        })
        .await;
    let shared = Arc::new(Shared {
        topics,
        store,
        metrics: Mutex::new(Metrics::default()),
        client,
        driver,
        in_flight: AtomicUsize::new(0),
        config,
        keeper,
        keeping: Default::default(),
    });
    if shared.keeper.is_some() {
        keep_round(&shared).await;
    }

    // Work found unfinished in the store comes first.
    let mut tasks = JoinSet::new();
    let recovered = resume(&shared, &mut tasks, shared.store.take_unfinished().await?);
    if recovered > 0 {
        tracing::info!("resuming {recovered} goals recorded before the last stop");
    }
    // A shared store: renew this instance's lease, and take over the goals
    // of instances whose lease ran out.
    let (orphans_tx, mut orphans) = mpsc::unbounded_channel();
    let keep_task = shared.keeper.is_some().then(|| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                keep_round(&shared).await;
            }
        })
    });
    let lease_task = shared.store.is_shared().then(|| {
        let store = shared.store.clone();
        let every = shared.config.lease / 4;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = store.heartbeat().await {
                    tracing::warn!("cannot renew this instance's lease: {e}");
                    continue;
                }
                match store.take_unfinished().await {
                    Ok(taken) if !taken.is_empty() => {
                        if orphans_tx.send(taken).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot look for goals to take over: {e}"),
                }
            }
        })
    });

    // "online" once the model's priors are computed: goals that arrive
    // before wait on the broker's session, not behind the warming.
    if shared.driver.warmed().await.is_err() {
        tracing::error!("the agent's driver stopped while warming");
    }
    let started = Instant::now();
    let mut connected_once = false;
    let mut metrics_tick = tokio::time::interval(shared.config.metrics_every);
    loop {
        tokio::select! {
            _ = shutdown.changed() => if *shutdown.borrow() { break },
            _ = metrics_tick.tick() => publish_metrics(&shared, started).await,
            // A schedule's or a rule's goal ran: its result goes out under
            // the schedule's or the rule's id.
            Some(report) = fired.recv() => {
                let id = report
                    .outcome
                    .schedule
                    .as_ref()
                    .map(|s| s.id.clone())
                    .or_else(|| report.outcome.rule.as_ref().map(|r| r.id.clone()));
                if let Some(id) = id {
                    let mut result = GoalResult::new(&id, report.outcome);
                    if shared.config.share.is_some() {
                        result.instance = Some(shared.config.instance.clone());
                    }
                    publish_result(&shared, &id, &result).await;
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            Some(taken) = orphans.recv() => {
                let n = resume(&shared, &mut tasks, taken);
                tracing::info!("took over {n} goals of an instance whose lease ran out");
            }
            event = link_events.recv() => {
                let Some(event) = event else { break };
                // Group commit: the goals already waiting are accepted in
                // one store transaction (one fsync), not one each.
                let mut payloads = Vec::new();
                let mut next = Some(event);
                while let Some(event) = next.take() {
                    match event {
                        LinkEvent::Message { payload, .. } => payloads.push(payload),
                        LinkEvent::Connected => {
                            if connected_once {
                                shared.metrics.lock().expect("metrics").reconnects += 1;
                            }
                            connected_once = true;
                            tracing::info!("connected; taking goals on {goals_filter}");
                            let _ = shared.client.try_publish(&shared.topics.status, QoS::AtLeastOnce, true, "online");
                        }
                        LinkEvent::Disconnected { .. } => {}
                        LinkEvent::Skipped { size, .. } => {
                            tracing::warn!("dropped a goal message of {size} bytes: larger than the link takes");
                            count(&shared, "rejected");
                        }
                    }
                    if payloads.len() < MAX_BATCH {
                        next = link_events.try_recv().ok();
                    }
                }
                for job in accept(&shared, &payloads).await {
                    tasks.spawn(handle(shared.clone(), job));
                }
            }
        }
    }
    // Stop taking goals; the goals in flight finish (each is bounded by the
    // model and the confirmation timeout), goals not yet taken stay queued
    // on the broker's persistent session for the next start.
    // Bounded: with the broker gone, a result may never be handed over; the
    // goal then stays recorded and is verified or rerun at the next start.
    tracing::info!("stopping: finishing the {} goals in flight", tasks.len());
    let grace = shared.config.confirm_timeout + Duration::from_secs(10);
    if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!("{} goals did not finish within {grace:?}", tasks.len());
        tasks.abort_all();
    }
    if let Some(task) = lease_task {
        task.abort();
    }
    if let Some(task) = keep_task {
        task.abort();
    }
    // What is left unfinished is taken over at once, not after the lease.
    if let Err(e) = shared.store.release().await {
        tracing::warn!("cannot end this instance's lease: {e}");
    }
    // Never waits on a dead broker: the last will says offline then.
    let _ = shared
        .client
        .try_publish(&shared.topics.status, QoS::AtLeastOnce, true, "offline");
    drop(shared);
    if tokio::time::timeout(Duration::from_secs(5), driver_task)
        .await
        .is_err()
    {
        tracing::warn!("the driver did not stop within 5 s");
    }
    Ok(())
}

/// One round of the shared schedules and rules: this instance's changes to
/// the store, the others' to this session, and whether it runs them.
async fn keep_round(shared: &Shared) {
    let Some(keeper) = &shared.keeper else {
        return;
    };
    let mut k = keeper.lock().await;
    let changes = match k.sync().await {
        Ok(changes) => changes,
        Err(e) => {
            tracing::warn!("cannot share the schedules and rules: {e}");
            keep::Changes::default()
        }
    };
    let fires = k.is_keeper();
    shared.keeping.store(fires, Ordering::Relaxed);
    let taken = shared
        .driver
        .with_session(move |session| {
            fn current<T: Serialize>(list: Vec<&T>) -> Vec<Value> {
                list.into_iter()
                    .filter_map(|x| serde_json::to_value(x).ok())
                    .collect()
            }
            fn typed<T: serde::de::DeserializeOwned>(list: &[Value]) -> Vec<T> {
                list.iter()
                    .filter_map(|v| serde_json::from_value(v.clone()).ok())
                    .collect()
            }
            // Only over the lists the store's were merged with: a change
            // the session made since goes to the store first.
            let mut took = (None, None);
            if let Some(stored) = changes.schedules
                && keep::by_id(&current(session.schedules())) == stored.over
            {
                session.set_schedules(typed(&stored.list));
                took.0 = Some(stored.list);
            }
            if let Some(stored) = changes.rules
                && keep::by_id(&current(session.rules())) == stored.over
            {
                session.set_rules(typed(&stored.list));
                took.1 = Some(stored.list);
            }
            if session.fires() != fires {
                session.set_fires(fires);
            }
            took
        })
        .await;
    if let Ok((schedules, rules)) = taken {
        if let Some(list) = schedules {
            k.took_schedules(&list);
        }
        if let Some(list) = rules {
            k.took_rules(&list);
        }
    }
}

/// Spawns the jobs for unfinished goals now this instance's: `accepted`
/// ones are planned again, `executing` ones only verified. Returns how many.
fn resume(shared: &Arc<Shared>, tasks: &mut JoinSet<()>, goals: Vec<(String, Record)>) -> usize {
    let mut n = 0;
    for (id, record) in goals {
        let job = match record.stage {
            Stage::Accepted => Job::Run(id),
            Stage::Executing => Job::Verify(id),
            Stage::Done => continue,
        };
        n += 1;
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(handle(shared.clone(), job));
    }
    n
}

async fn publish_metrics(shared: &Shared, started: Instant) {
    // Read without the keeper's lock: a round may hold it for seconds,
    // and this runs on the bridge's main loop.
    let keeper = shared
        .keeper
        .as_ref()
        .map(|_| shared.keeping.load(Ordering::Relaxed));
    let text = {
        let mut m = shared.metrics.lock().expect("metrics");
        m.keeper = keeper;
        m.queue = shared.in_flight.load(Ordering::Relaxed);
        m.uptime_s = started.elapsed().as_secs();
        let lat: Vec<u64> = m.latencies.iter().map(|&x| (x * 1000.0) as u64).collect();
        for (name, p) in [("p50", 50.0), ("p95", 95.0)] {
            let v = crate::eval::percentile(&lat, p) as f64 / 1000.0;
            m.latency_ms.insert(name.into(), v);
        }
        serde_json::to_string(&*m).unwrap_or_default()
    };
    // Never blocks the loop: with the broker away, metrics are dropped.
    let _ = shared
        .client
        .try_publish(&shared.topics.metrics, QoS::AtMostOnce, true, text);
}

fn rejected(id: &str, goal: Option<&str>, reason: &str) -> GoalResult {
    GoalResult::rejected(id, goal, reason)
}

async fn publish_result(shared: &Shared, id: &str, result: &GoalResult) {
    let topic = format!("{}/{id}", shared.topics.results);
    let payload = match serde_json::to_vec(result) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("cannot encode the result of {id}: {e}");
            return;
        }
    };
    if let Err(e) = shared
        .client
        .publish(topic, QoS::AtLeastOnce, false, payload)
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

/// Most goal messages accepted in one store transaction.
const MAX_BATCH: usize = 256;

/// Messages on the goals topic: records the goals to run (in one store
/// transaction) and returns their jobs; answers the others, recording the
/// rejected ones so that a replay of their id is answered from the record.
async fn accept(shared: &Shared, payloads: &[bytes::Bytes]) -> Vec<Job> {
    let mut batch: Vec<(String, Record)> = Vec::new();
    let mut answered: Vec<(String, Record)> = Vec::new();
    for payload in payloads {
        match incoming(shared, payload, &batch, &answered).await {
            Some(Verdict::Run(id, record)) => batch.push((id, record)),
            Some(Verdict::Rejected(id, record)) => answered.push((id, record)),
            None => {}
        }
    }
    if !answered.is_empty()
        && let Err(e) = shared.store.claim_new(&answered).await
    {
        tracing::error!("cannot record rejected goals: {e}");
    }
    if batch.is_empty() {
        return Vec::new();
    }
    let claimed = match shared.store.claim_new(&batch).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::error!("{e}");
            for (id, record) in &batch {
                let result = rejected(id, Some(&record.goal), "the bridge cannot record goals");
                publish_result(shared, id, &result).await;
            }
            return Vec::new();
        }
    };
    // A goal another instance recorded first (the same id sent twice at
    // once) is that instance's to answer.
    let jobs: Vec<Job> = batch
        .into_iter()
        .zip(claimed)
        .filter_map(|((id, _), mine)| mine.then_some(Job::Run(id)))
        .collect();
    shared.in_flight.fetch_add(jobs.len(), Ordering::Relaxed);
    jobs
}

/// What becomes of one message on the goals topic.
enum Verdict {
    /// A goal to record and run.
    Run(String, Record),
    /// A goal answered `rejected`, to record with its result.
    Rejected(String, Record),
}

/// The record of a goal answered `rejected` with `result` (published).
fn rejected_record(goal: &str, dry_run: bool, result: GoalResult) -> Record {
    Record {
        dry_run,
        result: Some(result),
        ..Record::new(goal, Stage::Done)
    }
}

/// Longest goal text written into a log line.
const LOGGED: usize = 120;

/// One message on the goals topic: the goal to record and run, or the
/// rejection to record. `pending` and `answered` are the goals taken with
/// it, not yet recorded.
async fn incoming(
    shared: &Shared,
    payload: &[u8],
    pending: &[(String, Record)],
    answered: &[(String, Record)],
) -> Option<Verdict> {
    let parsed = message::parse(payload, shared.config.goal_key.as_deref());
    let seen_now = |id: &str| pending.iter().chain(answered).any(|(p, _)| p == id);
    let (id, goal, dry_run, confirm, room, conversation) = match parsed {
        Err(Rejection { id: None, reason }) => {
            let shown = String::from_utf8_lossy(&payload[..payload.len().min(LOGGED)]);
            tracing::warn!(
                "dropped a goal message ({reason}): {}",
                message::loggable(&shown, LOGGED)
            );
            count(shared, "rejected");
            return None;
        }
        Err(Rejection {
            id: Some(id),
            reason,
        }) => {
            tracing::warn!("rejected goal {id}: {}", message::loggable(&reason, 300));
            count(shared, "rejected");
            if seen_now(&id) {
                return None;
            }
            // A known id keeps its one result.
            if let Ok(Some(record)) = shared.store.get(&id).await {
                if let Some(result) = record.result {
                    publish_result(shared, &id, &result).await;
                }
                return None;
            }
            let result = rejected(&id, None, &reason);
            publish_result(shared, &id, &result).await;
            // Without a goal key anyone may send any id, so the rejection
            // is the id's one result; with a key, a message that was not
            // verified must not use up a sender's id.
            if shared.config.goal_key.is_some() {
                return None;
            }
            return Some(Verdict::Rejected(id, rejected_record("", false, result)));
        }
        Ok(Incoming::Goal {
            id,
            goal,
            dry_run,
            room,
            conversation,
        }) => (id, goal, dry_run, None, room, conversation),
        Ok(Incoming::Confirm { id, token }) => (id, String::new(), false, Some(token), None, None),
    };
    if seen_now(&id) {
        // The same id twice in one batch: the first one answers.
        return None;
    }
    let id_seen = shared.store.get(&id).await;
    match id_seen {
        Ok(Some(record)) => {
            // Seen before: answer from the record; never run it again.
            if let Some(result) = record.result {
                tracing::info!("goal {id} seen before: answering from the record");
                publish_result(shared, &id, &result).await;
            }
            return None;
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
            return None;
        }
    }
    if shared.in_flight.load(Ordering::Relaxed) + pending.len() >= shared.config.queue {
        count(shared, "rejected");
        let result = rejected(&id, Some(&goal), "overloaded");
        publish_result(shared, &id, &result).await;
        // Recorded: a replay of this id (whatever it says) is answered
        // from the record, never run.
        return Some(Verdict::Rejected(
            id,
            rejected_record(&goal, dry_run, result),
        ));
    }
    let mut record = Record {
        dry_run,
        room,
        conversation,
        ..Record::new(&goal, Stage::Accepted)
    };
    // A confirmation spends its token now, in arrival order: of two
    // confirmations with one token, the first one sent runs the plan.
    if let Some(token) = confirm {
        match redeem(shared, &token).await {
            Ok(spent) => {
                record.goal = spent.goal;
                record.actions = spent.actions;
                record.confirm = Some(token);
                record.confirms = Some(spent.goal_id);
                record.rule = spent.rule;
            }
            Err(reason) => {
                count(shared, "rejected");
                let result = rejected(&id, None, reason);
                publish_result(shared, &id, &result).await;
                return Some(Verdict::Rejected(id, rejected_record("", false, result)));
            }
        }
    }
    Some(Verdict::Run(id, record))
}

fn origin(shared: &Shared, person: &str) -> Origin {
    Origin::new(
        "bridge",
        person,
        &format!(
            "to go ahead, publish {{\"id\": \"<new id>\", \"confirm\": \"<confirm_token>\"}} to {}",
            shared.topics.goals
        ),
    )
}

/// One goal, from its record to its published result.
async fn handle(shared: Arc<Shared>, job: Job) {
    let (id, verify_only) = match job {
        Job::Run(id) => (id, false),
        Job::Verify(id) => (id, true),
    };
    let t0 = Instant::now();
    let result = match shared.store.get(&id).await {
        Ok(Some(record)) => Some(work(&shared, &id, &record, verify_only).await),
        Ok(None) => None,
        Err(e) => Some(rejected(
            &id,
            None,
            &format!("the bridge cannot read its record: {e}"),
        )),
    };
    if let Some(mut result) = result {
        if shared.config.share.is_some() {
            result.instance = Some(shared.config.instance.clone());
        }
        let status = result.outcome.status.as_str();
        {
            let mut m = shared.metrics.lock().expect("metrics");
            m.latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
            if m.latencies.len() > 1000 {
                m.latencies.remove(0);
            }
        }
        count(&shared, status);
        // The record as it is now (the driver may have marked it executing).
        let mut record = match shared.store.get(&id).await {
            Ok(Some(r)) => r,
            _ => Record::new(&result.outcome.goal, Stage::Done),
        };
        record.stage = Stage::Done;
        record.result = Some(result.clone());
        // A schedule or rule just made is in the shared store before its
        // answer goes out: this instance may die the moment after.
        if matches!(result.outcome.status, Status::Scheduled | Status::Rule) {
            keep_round(&shared).await;
        }
        match shared.store.put(&id, &record).await {
            Ok(()) => publish_result(&shared, &id, &result).await,
            // The instance that took the goal over answers it.
            Err(e @ StoreError::Lost(_)) => tracing::warn!("{e}; its result is that instance's"),
            Err(e) => {
                tracing::error!("{e}");
                publish_result(&shared, &id, &result).await;
            }
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
}

async fn work(shared: &Shared, id: &str, record: &Record, verify_only: bool) -> GoalResult {
    let mut request = GoalRequest::words(0, record.goal.clone(), origin(shared, "bridge"));
    request.room = record.room.clone();
    request.conversation = record.conversation.clone();
    let mut confirms = None;
    if verify_only {
        request.intent = Intent::Verify(record.actions.clone());
    } else if record.confirm.is_some() {
        // The token was spent when the confirmation arrived; its plan is
        // checked by the policy again, with the person's yes.
        let goal_id = record.confirms.clone().unwrap_or_default();
        request.origin = origin(shared, &format!("confirmation {id} of goal {goal_id}"));
        request.intent = match &record.rule {
            // The yes arms the rule it was asked for.
            Some(rule) => Intent::Arm(Box::new(rule.clone())),
            None => Intent::Actions(
                record
                    .actions
                    .iter()
                    .map(crate::types::ActionResult::to_action)
                    .collect(),
            ),
        };
        request.yes = true;
        confirms = Some(goal_id);
    } else {
        request.dry_run = record.dry_run;
    }
    // The conversation as the store keeps it: its last goal may have gone
    // to another instance, or come before a restart.
    let conversation = record.conversation.clone();
    if let Some(c) = &conversation {
        load_conversation(shared, c).await;
    }
    let report = match shared.driver.run(request, id).await {
        Ok(report) => report,
        Err(e) => return rejected(id, Some(&record.goal), &e.to_string()),
    };
    if let Some(c) = &conversation {
        save_conversation(shared, c).await;
    }
    let decided = report.outcome.clone();
    let mut result = GoalResult::new(id, report.outcome);
    result.confirms = confirms;
    if decided.status == Status::NeedsConfirmation {
        let token = hex::encode(rand::random::<[u8; 16]>());
        let ttl = shared.config.token_ttl;
        let saved = shared
            .store
            .put_token(
                &token,
                &Token {
                    goal_id: id.to_string(),
                    goal: decided.goal.clone(),
                    actions: decided.actions.clone(),
                    expires_ms: now_ms() + ttl.as_millis() as u64,
                    used: false,
                    rule: decided.rule.clone(),
                },
            )
            .await;
        match saved {
            Ok(()) => {
                result.confirm_token = Some(token);
                result.confirm_expires_s = Some(ttl.as_secs());
            }
            Err(e) => {
                tracing::error!("{e}");
                result.outcome.reason = Some(format!(
                    "{}; but the bridge cannot record a confirmation token, so it cannot be confirmed",
                    decided.reason.clone().unwrap_or_default()
                ));
            }
        }
    }
    result
}

/// Hands the session what the store remembers of conversation `id`.
async fn load_conversation(shared: &Shared, id: &str) {
    let kept = match shared.store.conversation(id).await {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("cannot read conversation {id}: {e}");
            return;
        }
    };
    match serde_json::from_str::<crate::agent::Conversation>(&kept) {
        Ok(conversation) => {
            let id = id.to_string();
            let _ = shared
                .driver
                .with_session(move |s| s.remember(id, conversation))
                .await;
        }
        Err(e) => tracing::warn!("conversation {id} in the store is unreadable: {e}"),
    }
}

/// Keeps what the session remembers of conversation `id` in the store.
async fn save_conversation(shared: &Shared, id: &str) {
    let key = id.to_string();
    let now = shared
        .driver
        .with_session(move |s| s.conversation(&key).cloned())
        .await;
    let Ok(Some(conversation)) = now else {
        return;
    };
    let text = match serde_json::to_string(&conversation) {
        Ok(text) => text,
        Err(e) => {
            tracing::error!("cannot encode conversation {id}: {e}");
            return;
        }
    };
    if let Err(e) = shared.store.put_conversation(id, &text).await {
        tracing::warn!("cannot keep conversation {id}: {e}");
    }
}

/// Spends a confirmation token: the plan it stands for, or why not.
async fn redeem(shared: &Shared, token: &str) -> Result<Token, &'static str> {
    match shared.store.spend_token(token, now_ms()).await {
        Ok(spent) => spent,
        Err(e) => {
            tracing::error!("{e}");
            Err("the bridge cannot record the confirmation")
        }
    }
}

/// `giot bridge status`: the daemon's retained status and metrics.
/// With `instance`, that instance's of a shared group.
pub async fn status(
    options: &ConnectOptions,
    agent: &str,
    instance: Option<&str>,
    wait: Duration,
) -> Result<(Option<String>, Option<Value>), BridgeError> {
    let topics = match instance {
        Some(i) => Topics::instance(agent, i),
        None => Topics::new(agent),
    };
    let mut link = Link::start(options, vec![topics.status.clone(), topics.metrics.clone()])?;
    link.wait_connected(Duration::from_secs(3), |_| {})
        .await
        .map_err(|source| BridgeError::Unreachable {
            url: options.url.clone(),
            source,
        })?;
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
