//! The one async driver of a [`Session`]: the MQTT link, the model on its
//! own thread, the ledger, and the clock.
//!
//! `giot run`, `giot eval`, the bridge and `giot mcp` hand goals to a
//! [`Driver`] and await their [`Report`]s; one task owns the session and
//! carries out its effects. Publishing, the model and the ledger each run
//! off that task and answer it through a channel, so a slow model call, a
//! device that never echoes or an fsync holds up only its own goal: goals
//! on different devices proceed concurrently (the session keeps goals on
//! the same device in order).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::exec::Live;
use crate::fleet::Fleet;
use crate::llm::Scorer;
use crate::mqtt::{Link, LinkEvent};
use crate::types::{ActionResult, Outcome};

use super::{Effect, GoalRequest, Input, ModelInfo, PlanStats, Session, SessionConfig};
use crate::agent::AgentDefinition;

/// Runs before a goal's actions are published, with the goal's tag (the
/// face's own id for it) and the actions; an error stops the publish and
/// the goal is reported `failed` with it. The bridge records the goal as
/// executing here, so that a crash cannot publish it twice.
pub type BeforePublish = Arc<
    dyn Fn(&str, &[ActionResult]) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
        + Send
        + Sync,
>;

/// The model a driver starts with.
pub enum Model {
    Loaded(Box<dyn Scorer>),
    /// Loading: goals wait until [`Driver::set_model`] hands it over.
    Later,
}

/// What the driver needs besides the session and the link.
#[derive(Default)]
pub struct DriverConfig {
    /// The ledger executed actions are recorded in, if any.
    pub ledger: Option<PathBuf>,
    pub before_publish: Option<BeforePublish>,
    /// Compute the model's priors for every device name as soon as the
    /// model is there (long-running faces; a one-shot run would pay for them).
    pub warm: bool,
    /// Topics whose messages go to `events` instead of the session (the
    /// bridge's goals).
    pub forward: Vec<String>,
    /// Gets the messages on `forward` topics, and every connection change.
    pub events: Option<mpsc::UnboundedSender<LinkEvent>>,
    /// Where goals the local layers cannot decide are sent (`--escalate`).
    pub escalation: Option<Box<dyn Scorer>>,
    /// The file schedules are kept in (long-running faces, with
    /// [`super::SessionConfig::keeps_schedules`]): written on every change,
    /// read again when another process (`giot schedule cancel`) changed it.
    pub schedules: Option<PathBuf>,
    /// The file standing rules are kept in, the same way.
    pub rules: Option<PathBuf>,
    /// Gets the reports of goals that schedules and rules started.
    pub fired: Option<mpsc::UnboundedSender<Report>>,
}

/// A goal's outcome with the agent's reasoning.
#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    pub trace: Vec<String>,
    pub stats: PlanStats,
}

/// The driver has stopped (the link closed or the task ended).
#[derive(Debug, thiserror::Error)]
#[error("the agent's driver has stopped")]
pub struct Stopped;

type Read = Box<dyn FnOnce(&Fleet) + Send>;

enum Command {
    Goal {
        request: Box<GoalRequest>,
        tag: String,
        reply: oneshot::Sender<Report>,
    },
    Read(Read),
    Session(Box<dyn FnOnce(&mut Session) + Send>),
    Model(Option<Box<dyn Scorer>>),
    Warmed(oneshot::Sender<()>),
}

/// A handle on the driver task; cheap to clone. The task ends, and
/// disconnects from the broker, once every handle is dropped and no goal
/// is in flight.
#[derive(Clone)]
pub struct Driver {
    tx: mpsc::Sender<Command>,
    next_id: Arc<AtomicU64>,
}

impl Driver {
    /// Starts a session for the agent `definition` and its driver over a
    /// connected link and the fleet it synced.
    pub fn start(
        live: Live,
        definition: AgentDefinition,
        settings: SessionConfig,
        model: Model,
        config: DriverConfig,
    ) -> (Self, JoinHandle<()>) {
        let Live { link, fleet } = live;
        let mut session = Session::new(fleet, definition, settings);
        let model = match model {
            Model::Loaded(model) => Some(model),
            Model::Later => {
                session.expect_model();
                None
            }
        };
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(drive(session, link, model, config, rx));
        (
            Self {
                tx,
                next_id: Arc::new(AtomicU64::new(1)),
            },
            task,
        )
    }

    /// Runs one goal to its report. `request.id` is chosen by the driver;
    /// `tag` is the face's own id for the goal (see [`BeforePublish`]).
    pub async fn run(&self, mut request: GoalRequest, tag: &str) -> Result<Report, Stopped> {
        request.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Goal {
                request: Box::new(request),
                tag: tag.to_string(),
                reply,
            })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Runs `look` on the live fleet (registry with discovered devices, states).
    pub async fn read<T: Send + 'static>(
        &self,
        look: impl FnOnce(&Fleet) -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |fleet| {
            let _ = reply.send(look(fleet));
        });
        self.tx
            .send(Command::Read(read))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Runs `f` on the session between inputs: what a conversation
    /// remembers, read before a goal or restored from disk.
    pub async fn with_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Session(Box::new(move |session| {
                let _ = reply.send(f(session));
            })))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Resolves once the model's priors are computed (at once without
    /// `warm` or without a model), so that measurements start warm.
    pub async fn warmed(&self) -> Result<(), Stopped> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Warmed(reply))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// The model finished loading (`Some`) or failed (`None`: goals are
    /// planned from the words alone).
    pub async fn set_model(&self, model: Option<Box<dyn Scorer>>) -> Result<(), Stopped> {
        self.tx
            .send(Command::Model(model))
            .await
            .map_err(|_| Stopped)
    }
}

struct Waiting {
    tag: String,
    trace: Vec<String>,
    reply: oneshot::Sender<Report>,
}

struct Task {
    session: Session,
    client: AsyncClient,
    model: Option<Arc<Mutex<Box<dyn Scorer>>>>,
    /// The escalation server (`--escalate`), if any.
    escalation: Option<Arc<Mutex<Box<dyn Scorer>>>>,
    config: DriverConfig,
    waiting: HashMap<u64, Waiting>,
    inputs: mpsc::UnboundedSender<Input>,
    subscribe: Vec<String>,
    /// When the schedules file was last written by this driver.
    schedules_written: Option<std::time::SystemTime>,
    /// When the rules file was last written by this driver.
    rules_written: Option<std::time::SystemTime>,
}

/// The list in `path` when it was written since `written` (by another
/// process), noting the new time; `None` when unchanged or unreadable.
fn changed<T: serde::de::DeserializeOwned>(
    path: Option<&std::path::Path>,
    written: &mut Option<std::time::SystemTime>,
    what: &str,
) -> Option<Vec<T>> {
    let path = path?;
    let modified = super::schedule_file::modified(path);
    if modified == *written {
        return None;
    }
    match super::schedule_file::load::<T>(path) {
        Ok(list) => {
            tracing::info!("{what} changed on disk: {} kept", list.len());
            *written = modified;
            Some(list)
        }
        Err(e) => {
            tracing::warn!("cannot read the {what} again: {e}");
            None
        }
    }
}

async fn drive(
    session: Session,
    mut link: Link,
    model: Option<Box<dyn Scorer>>,
    config: DriverConfig,
    mut commands: mpsc::Receiver<Command>,
) {
    let (inputs, mut answers) = mpsc::unbounded_channel();
    let mut config = config;
    let mut session = session;
    let escalation = config.escalation.take().map(|e| {
        session.set_escalation(Some(ModelInfo::of(e.as_ref())));
        Arc::new(Mutex::new(e))
    });
    let mut task = Task {
        session,
        client: link.client(),
        model: None,
        escalation,
        config,
        waiting: HashMap::new(),
        inputs,
        subscribe: Vec::new(),
        schedules_written: None,
        rules_written: None,
    };
    if let Some(path) = &task.config.schedules {
        task.schedules_written = super::schedule_file::modified(path);
    }
    if let Some(path) = &task.config.rules {
        task.rules_written = super::schedule_file::modified(path);
    }
    // The wall clock, for goals said with a time ("in 10 minutes").
    task.input(Input::Clock(jiff::Timestamp::now()));
    if let Some(model) = model {
        task.set_model(Some(model));
    }
    let mut open = true;
    let mut link_open = true;
    let mut warmed: Vec<oneshot::Sender<()>> = Vec::new();
    while open || task.session.in_flight() > 0 {
        // Faces that keep schedules read the clock about once a second.
        let deadline = match (
            task.session.next_deadline(),
            task.config.schedules.is_some() || task.config.rules.is_some(),
        ) {
            (d, true) => {
                let second = Instant::now() + Duration::from_secs(1);
                Some(d.map_or(second, |d| d.min(second)))
            }
            (d, false) => d,
        };
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv(), if open => match command {
                None => open = false,
                Some(Command::Goal { request, tag, reply }) => {
                    task.waiting.insert(request.id, Waiting { tag, trace: Vec::new(), reply });
                    task.input(Input::Goal(*request));
                }
                Some(Command::Read(look)) => look(task.session.fleet()),
                Some(Command::Session(change)) => change(&mut task.session),
                Some(Command::Model(model)) => task.set_model(model),
                Some(Command::Warmed(reply)) => warmed.push(reply),
            },
            Some(input) = answers.recv() => task.input(input),
            event = link.recv(), if link_open => match event {
                Some(event) => {
                    let forwarded = match &event {
                        LinkEvent::Message { topic, .. } => task.config.forward.contains(topic),
                        LinkEvent::Disconnected { error, retry_in } => {
                            tracing::warn!("broker connection lost ({error}); retrying in {retry_in:?}");
                            false
                        }
                        LinkEvent::Connected | LinkEvent::Skipped { .. } => false,
                    };
                    if let Some(events) = &task.config.events
                        && (forwarded || !matches!(event, LinkEvent::Message { .. }))
                    {
                        let _ = events.send(event.clone());
                    }
                    if !forwarded {
                        task.input(Input::Link(event));
                    }
                }
                None => {
                    // Nothing can be published or confirmed any more.
                    link_open = false;
                    open = false;
                }
            },
            _ = sleep => {
                task.reload();
                task.input(Input::Clock(jiff::Timestamp::now()));
            }
        }
        if !task.session.warming() {
            for reply in warmed.drain(..) {
                let _ = reply.send(());
            }
        }
        if !task.subscribe.is_empty() {
            let filters = std::mem::take(&mut task.subscribe);
            if let Err(e) = link.subscribe(filters).await {
                tracing::warn!("cannot subscribe to discovered state topics: {e}");
            }
        }
        if !link_open && task.session.in_flight() > 0 {
            // Let the deadlines run out: the goals report unconfirmed.
            tokio::time::sleep(Duration::from_millis(5)).await;
            task.input(Input::Tick);
        }
    }
    link.shutdown().await;
}

impl Task {
    /// Takes the schedules and rules files again when another process
    /// changed them (`giot schedule cancel`, `giot rules disable`).
    fn reload(&mut self) {
        if let Some(list) = changed(
            self.config.schedules.as_deref(),
            &mut self.schedules_written,
            "schedules",
        ) {
            self.session.set_schedules(list);
        }
        if let Some(list) = changed(
            self.config.rules.as_deref(),
            &mut self.rules_written,
            "rules",
        ) {
            self.session.set_rules(list);
        }
    }

    fn set_model(&mut self, model: Option<Box<dyn Scorer>>) {
        let info = model.as_deref().map(ModelInfo::of);
        self.model = model.map(|m| Arc::new(Mutex::new(m)));
        self.input(Input::Model(info));
        if self.config.warm {
            let effects = self.session.warm();
            self.effects(effects);
        }
    }

    fn input(&mut self, input: Input) {
        let effects = self.session.handle(input, Instant::now());
        self.effects(effects);
    }

    fn effects(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Score {
                    request,
                    escalate,
                    prompt,
                    options,
                } => self.score(request, escalate, prompt, options),
                Effect::AskConfirmation { goal, .. } => {
                    // Nobody to ask on these faces (requests say ask: false).
                    let _ = self.inputs.send(Input::Confirm { goal, yes: false });
                }
                Effect::Publish {
                    goal,
                    actions,
                    retransmit,
                } => self.publish(goal, actions, retransmit),
                Effect::Subscribe(filters) => self.subscribe.extend(filters),
                Effect::Record {
                    goal,
                    text,
                    actions,
                    confirmed_by,
                } => self.record(goal, text, actions, confirmed_by),
                Effect::Trace { goal, step } => {
                    // Steps quote the goal: escaped, they cannot forge log lines.
                    tracing::info!("{}", crate::types::loggable(&step, 600));
                    if let Some(w) = self.waiting.get_mut(&goal) {
                        w.trace.push(step);
                    }
                }
                Effect::Report {
                    goal,
                    outcome,
                    stats,
                } => {
                    tracing::info!("goal {:?}: {}", outcome.goal, outcome.status.as_str());
                    if let Some(w) = self.waiting.remove(&goal) {
                        let _ = w.reply.send(Report {
                            outcome,
                            trace: w.trace,
                            stats,
                        });
                    } else if let Some(fired) = &self.config.fired
                        && (outcome.schedule.is_some() || outcome.rule.is_some())
                    {
                        let _ = fired.send(Report {
                            outcome,
                            trace: Vec::new(),
                            stats,
                        });
                    }
                }
                Effect::SaveSchedules(schedules) => {
                    if let Some(path) = &self.config.schedules {
                        match super::schedule_file::save(path, &schedules) {
                            Ok(()) => self.schedules_written = super::schedule_file::modified(path),
                            Err(e) => tracing::error!("cannot keep the schedules: {e}"),
                        }
                    }
                }
                Effect::SaveRules(rules) => {
                    if let Some(path) = &self.config.rules {
                        match super::schedule_file::save(path, &rules) {
                            Ok(()) => self.rules_written = super::schedule_file::modified(path),
                            Err(e) => tracing::error!("cannot keep the rules: {e}"),
                        }
                    }
                }
            }
        }
    }

    fn score(
        &self,
        request: u64,
        escalate: bool,
        prompt: crate::llm::Prompt,
        options: Vec<String>,
    ) {
        let inputs = self.inputs.clone();
        let model = if escalate {
            self.escalation.clone()
        } else {
            self.model.clone()
        };
        let Some(model) = model else {
            let _ = inputs.send(Input::Scored {
                request,
                result: Err(crate::llm::LlmError::Stopped),
                took: Duration::ZERO,
            });
            return;
        };
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let result = model.lock().expect("model").score(&prompt, &options);
            let _ = inputs.send(Input::Scored {
                request,
                result,
                took: started.elapsed(),
            });
        });
    }

    /// Publishes off the driver's task; the face's `before_publish` runs
    /// first, except for a retransmission (the same execution again).
    fn publish(&self, goal: u64, actions: Vec<ActionResult>, retransmit: bool) {
        let tag = self
            .waiting
            .get(&goal)
            .map(|w| w.tag.clone())
            .unwrap_or_default();
        let (client, inputs, hook) = (
            self.client.clone(),
            self.inputs.clone(),
            // A schedule's goal has no record of the face's to mark.
            self.config
                .before_publish
                .clone()
                .filter(|_| !retransmit && self.waiting.contains_key(&goal)),
        );
        // The hook (an fsync) and the publishes run on one blocking thread,
        // back to back: the moment between "recorded as executing" and
        // "handed to the MQTT client" is as short as it can be.
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            if let Some(hook) = hook
                && let Err(error) = hook(&tag, &actions)
            {
                let _ = inputs.send(Input::Published {
                    goal,
                    published: 0,
                    error: Some(crate::error_chain(error.as_ref())),
                });
                return;
            }
            let mut published = 0;
            let mut error = None;
            for a in &actions {
                let sent = runtime.block_on(client.publish(
                    &a.topic,
                    QoS::AtLeastOnce,
                    false,
                    a.payload.clone(),
                ));
                match sent {
                    Ok(()) => published += 1,
                    Err(e) => {
                        error = Some(format!("publishing to {} failed: {e}", a.topic));
                        break;
                    }
                }
            }
            let _ = inputs.send(Input::Published {
                goal,
                published,
                error,
            });
        });
    }

    fn record(&self, goal: u64, text: String, actions: Vec<ActionResult>, who: String) {
        let inputs = self.inputs.clone();
        let Some(path) = self.config.ledger.clone() else {
            let _ = inputs.send(Input::Recorded { goal, error: None });
            return;
        };
        tokio::task::spawn_blocking(move || {
            let error = crate::ledger::record_action(&path, &text, &actions, &who)
                .err()
                .map(|e| crate::error_chain(&e));
            if let Some(e) = &error {
                tracing::error!(
                    "the actions were published but the ledger could not record them: {e}"
                );
            }
            let _ = inputs.send(Input::Recorded { goal, error });
        });
    }
}
