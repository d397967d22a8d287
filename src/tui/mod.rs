//! The operator TUI: a live device tree, a detail pane, the agent's
//! conversation, a goal line and a status bar.
//!
//! One [`AppEvent`] channel feeds the loop: terminal input (from its own
//! thread), MQTT (from the link), the agent worker (its own thread, which
//! owns the model handle) and a tick. [`App::handle`] turns events into
//! state changes and [`Effect`]s; the loop carries the effects out without
//! awaiting anything slow, and redraws at most every 16 ms. Rendering never
//! waits on the broker or the model.

pub mod app;
pub mod keymap;
pub mod ui;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use rumqttc::QoS;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use app::{AgentUpdate, ModelStatus};
pub use app::{App, AppEvent, Effect};

use crate::agent::{Agent, AgentDefinition};
use crate::fleet::Fleet;
use crate::llm::Backend;
use crate::mqtt::{ConnectOptions, Link};
use crate::outcome;
use crate::registry::Registry;

/// What the TUI needs to start.
pub struct TuiConfig {
    pub registry: Registry,
    pub definition: AgentDefinition,
    pub options: ConnectOptions,
    pub llm: Backend,
    pub confirm_timeout: Duration,
    /// Past payloads kept per topic.
    pub history: usize,
    /// The ledger executed actions are recorded in, if any.
    pub ledger: Option<std::path::PathBuf>,
}

/// A goal, the state it is planned against, and the live registry
/// (discovered devices included).
type Goal = (String, HashMap<String, Map<String, Value>>, Registry);

/// Most queued events handled between two frames, so that a flood of MQTT
/// messages delays a frame by a bounded amount (measured in `scripts/bench`).
pub const MAX_BATCH: usize = 2_000;

/// Runs the TUI until the operator quits. The terminal is restored on exit
/// and on panic.
pub async fn run(config: TuiConfig) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<AppEvent>(4096);
    let fleet = Fleet::new(config.registry.clone(), config.history);
    let mut app = App::new(
        fleet,
        config.definition.policy.clone(),
        config.options.url.clone(),
    );
    app.confirm_timeout = config.confirm_timeout;
    app.model = ModelStatus::Loading(config.llm.label());

    // Everything on the broker, at QoS 0: a watcher must never make the
    // broker queue messages for it.
    let mut link = Link::start_with_qos(&config.options, vec!["#".into()], QoS::AtMostOnce)?;
    let client = link.client();
    let mqtt_tx = tx.clone();
    let mqtt_task = tokio::spawn(async move {
        while let Some(e) = link.recv().await {
            if mqtt_tx.send(AppEvent::Mqtt(e)).await.is_err() {
                break;
            }
        }
        link.shutdown().await;
    });

    let goals = spawn_agent(
        config.registry.clone(),
        config.definition.clone(),
        config.llm.clone(),
        tx.clone(),
    );

    if let Some(path) = config.ledger.clone() {
        tokio::spawn(audit_ledger(path, tx.clone()));
    }

    let mut terminal = ratatui::init();
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), stop.clone());

    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let frame_every = Duration::from_millis(16);
    let mut last_frame = Instant::now() - frame_every;
    let result: Result<()> = async {
        'outer: loop {
            if app.dirty && last_frame.elapsed() >= frame_every {
                terminal.draw(|f| ui::draw(f, &mut app))?;
                app.dirty = false;
                last_frame = Instant::now();
            }
            let event = tokio::select! {
                e = rx.recv() => e,
                _ = ticker.tick() => Some(AppEvent::Tick),
                _ = tokio::time::sleep(frame_every), if app.dirty => continue,
            };
            let Some(event) = event else { break };
            // Take everything already queued before drawing again.
            let mut batch = vec![event];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            // The TUI already watches `#`: discovered state topics need no
            // subscription of their own.
            let _ = app.fleet.take_new_filters();
            for event in batch {
                for effect in app.handle(event) {
                    match effect {
                        Effect::Quit => break 'outer,
                        Effect::RunGoal { goal, state } => {
                            let registry = app.fleet.registry().clone();
                            if goals.send((goal, state, registry)).is_err() {
                                app.say("giot", "the agent has stopped");
                                app.agent_busy = false;
                            }
                        }
                        Effect::Publish { goal, actions } => {
                            for a in &actions {
                                if let Err(e) = client.try_publish(
                                    &a.topic,
                                    QoS::AtLeastOnce,
                                    false,
                                    a.payload.clone(),
                                ) {
                                    app.say(
                                        "giot",
                                        format!("publishing to {} failed: {e}", a.topic),
                                    );
                                }
                            }
                            if let Some(path) = config.ledger.clone() {
                                // fsync happens off the render loop.
                                let tx = tx.clone();
                                tokio::task::spawn_blocking(move || {
                                    if let Err(e) = crate::ledger::record_action(
                                        &path,
                                        &goal,
                                        &actions,
                                        "operator (tui)",
                                    ) {
                                        let _ =
                                            tx.blocking_send(AppEvent::Agent(AgentUpdate::Step(
                                                format!("the ledger could not record this: {e}"),
                                            )));
                                    }
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
    .await;

    stop.store(true, Ordering::Relaxed);
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    let _ = input.join();
    let _ = client.try_disconnect();
    mqtt_task.abort();
    result
}

/// Checks the ledger every few seconds, off the render loop, for the audit tab.
async fn audit_ledger(path: std::path::PathBuf, tx: mpsc::Sender<AppEvent>) {
    let mut every = tokio::time::interval(Duration::from_secs(3));
    loop {
        every.tick().await;
        let path = path.clone();
        let checked = tokio::task::spawn_blocking(move || {
            if !path.exists() {
                return app::Audit {
                    ok: true,
                    verdict: format!("{}: no entries yet", path.display()),
                    lines: Vec::new(),
                };
            }
            match crate::ledger::verify(&path, None) {
                Ok(report) => {
                    let shown = crate::ledger::show(&path).unwrap_or_default();
                    // Newest first: the tab shows what just happened.
                    let all: Vec<&str> = shown.lines().skip(1).collect();
                    let lines: Vec<String> =
                        all.iter().rev().take(40).map(|l| l.to_string()).collect();
                    app::Audit {
                        ok: report.ok(),
                        verdict: report
                            .to_string()
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                        lines,
                    }
                }
                Err(e) => app::Audit {
                    ok: false,
                    verdict: format!("cannot read the ledger: {e}"),
                    lines: Vec::new(),
                },
            }
        })
        .await;
        let Ok(audit) = checked else { break };
        if tx.send(AppEvent::Audit(audit)).await.is_err() {
            break;
        }
    }
}

/// Terminal input on its own thread: crossterm's reads block.
fn spawn_input(tx: mpsc::Sender<AppEvent>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => {
                    let event = match event::read() {
                        Ok(Event::Key(k)) if k.kind != event::KeyEventKind::Release => {
                            AppEvent::Key(k)
                        }
                        Ok(Event::Mouse(m)) => AppEvent::Mouse(m),
                        Ok(Event::Resize(..)) => AppEvent::Tick,
                        Ok(_) => continue,
                        Err(_) => break,
                    };
                    if tx.blocking_send(event).is_err() {
                        break;
                    }
                }
                Ok(false) => {}
                Err(_) => break,
            }
        }
    })
}

/// The agent worker: loads the model, then plans goals one at a time.
fn spawn_agent(
    registry: Registry,
    definition: AgentDefinition,
    llm: Backend,
    tx: mpsc::Sender<AppEvent>,
) -> std::sync::mpsc::Sender<Goal> {
    let (goal_tx, goal_rx) = std::sync::mpsc::channel::<Goal>();
    std::thread::Builder::new()
        .name("giot-agent".into())
        .spawn(move || {
            let started = Instant::now();
            let scorer = match crate::llm::spawn(llm) {
                Ok((handle, _)) => Some(handle),
                Err(e) => {
                    let _ = tx.blocking_send(AppEvent::Model(ModelStatus::Failed(e.to_string())));
                    None
                }
            };
            let Some(scorer) = scorer else { return };
            let name = crate::llm::Scorer::name(&scorer);
            let policy = definition.policy.clone();
            let mut agent = Agent::new(registry.clone(), definition, Some(Box::new(scorer)));
            agent.warm();
            let load_ms = started.elapsed().as_millis() as u64;
            if tx
                .blocking_send(AppEvent::Model(ModelStatus::Ready { name, load_ms }))
                .is_err()
            {
                return;
            }
            while let Ok((goal, state, live)) = goal_rx.recv() {
                agent.set_registry(live);
                let registry = agent.registry().clone();
                let t0 = Instant::now();
                let plan = agent.plan(&goal, &|id| state.get(id).cloned());
                for step in plan.trace.iter().filter(|s| !s.starts_with("plan:")) {
                    let _ = tx.blocking_send(AppEvent::Agent(AgentUpdate::Step(step.clone())));
                }
                let mut decided = outcome::decide(&goal, &plan, &registry, &policy, false, false);
                decided.timing_ms.total = outcome::ms(t0.elapsed());
                if tx
                    .blocking_send(AppEvent::Agent(AgentUpdate::Decided(decided)))
                    .is_err()
                {
                    break;
                }
            }
        })
        .expect("starting the agent thread");
    goal_tx
}
