//! The operator TUI: a live device tree, a detail pane, the agent's
//! conversation, a goal line and a status bar.
//!
//! One [`AppEvent`] channel feeds the loop: terminal input (from its own
//! thread), MQTT (from the link), the model's thread (which loads the model
//! and answers score requests) and a tick. [`App::handle`] feeds the goal
//! [`Session`] and turns events into state changes and [`Effect`]s; the loop
//! carries the effects out without awaiting anything slow (publishes are
//! queued with `try_publish`, the ledger's fsync runs on a blocking thread),
//! and redraws at most every 16 ms. Rendering never waits on the broker or
//! the model.

pub mod app;
pub mod keymap;
pub mod topics;
pub mod ui;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use rumqttc::QoS;
use tokio::sync::mpsc;

use app::ModelStatus;
pub use app::{App, AppEvent, Effect};

use crate::agent::AgentDefinition;
use crate::fleet::Fleet;
use crate::llm::{Backend, Prompt};
use crate::mqtt::{ConnectOptions, Link};
use crate::registry::Registry;
use crate::session::{self, ModelInfo, RequestId, Session, SessionConfig};

/// What the TUI needs to start.
pub struct TuiConfig {
    pub registry: Registry,
    pub definition: AgentDefinition,
    pub options: ConnectOptions,
    pub llm: Backend,
    pub confirm_timeout: Duration,
    /// The language to read goals in first (`--language`).
    pub language: Option<String>,
    /// Past payloads kept per topic.
    pub history: usize,
    /// The ledger executed actions are recorded in, if any.
    pub ledger: Option<std::path::PathBuf>,
    /// Where goals for later are kept, if the TUI keeps them (it refuses
    /// goals for later without, or when another giot holds the file).
    pub schedules: Option<std::path::PathBuf>,
    /// Where standing rules are kept, the same way.
    pub rules: Option<std::path::PathBuf>,
    /// The operator's time zone (`--time-zone`).
    pub time_zone: jiff::tz::TimeZone,
}

/// Most queued events handled between two frames, so that a flood of MQTT
/// messages delays a frame by a bounded amount (measured in `scripts/bench`).
pub const MAX_BATCH: usize = 2_000;

/// Why the TUI stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The broker connection options cannot be used (before the screen opens).
    #[error("the MQTT connection options")]
    Options(#[from] crate::mqtt::OptionsError),
    /// The terminal could not be set up, drawn on or read from.
    #[error("drawing on the terminal")]
    Terminal(#[from] std::io::Error),
}

/// Runs the TUI until the operator quits. The terminal is restored on exit
/// and on panic.
pub async fn run(config: TuiConfig) -> Result<(), TuiError> {
    let (tx, mut rx) = mpsc::channel::<AppEvent>(4096);
    let fleet = Fleet::new(config.registry.clone(), config.history);
    // Goals for later: the TUI keeps them when it can hold their file.
    let mut kept = None;
    let mut schedules_note = None;
    if let Some(path) = &config.schedules {
        match crate::session::schedule_file::own(path)
            .and_then(|owner| Ok((owner, crate::session::schedule_file::load(path)?)))
        {
            Ok((owner, list)) => kept = Some((path.clone(), owner, list)),
            Err(e) => schedules_note = Some(format!("goals for later are refused here: {e}")),
        }
    }
    let mut rules_kept = None;
    if let (Some(path), Some(_)) = (&config.rules, &kept) {
        match crate::session::schedule_file::own(path).and_then(|owner| {
            Ok((
                owner,
                crate::session::schedule_file::load::<crate::session::rule::Rule>(path)?,
            ))
        }) {
            Ok((owner, list)) => rules_kept = Some((path.clone(), owner, list)),
            Err(e) => {
                schedules_note = Some(format!(
                    "goals for later and standing rules are refused here: {e}"
                ));
                kept = None;
            }
        }
    }
    let mut session = Session::new(
        fleet,
        config.definition.clone(),
        SessionConfig {
            time_zone: config.time_zone.clone(),
            keeps_schedules: kept.is_some(),
            schedules_ask: true,
            ..SessionConfig::confirming_within(config.confirm_timeout)
                .preferring(config.language.as_deref())
        },
    );
    let schedules_path = kept.as_ref().map(|(path, _, _)| path.clone());
    // Held while the TUI runs: no other giot runs these schedules.
    let _schedules_owner = kept.map(|(_, owner, list)| {
        session.set_schedules(list);
        owner
    });
    let rules_path = rules_kept.as_ref().map(|(path, _, _)| path.clone());
    let _rules_owner = rules_kept.map(|(_, owner, list)| {
        session.set_rules(list);
        owner
    });
    // Goals wait in the session while the model loads.
    session.expect_model();
    let mut app = App::new(session, config.options.url.clone());
    if let Some(note) = schedules_note {
        app.handle(AppEvent::Note(note));
    }
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

    let scores = spawn_model(config.llm.clone(), tx.clone());

    if let Some(path) = config.ledger.clone() {
        tokio::spawn(audit_ledger(path, tx.clone()));
    }

    // ratatui's hook restores the screen on panic; mouse capture is ours.
    let mut terminal = ratatui::init();
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        restore(info);
    }));
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), stop.clone());

    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let frame_every = Duration::from_millis(16);
    let mut last_frame = Instant::now() - frame_every;
    let result: Result<(), TuiError> = async {
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
            for event in batch {
                let mut effects = app.handle(event);
                while !effects.is_empty() {
                    let mut answers = Vec::new();
                    for effect in effects {
                        match effect {
                            Effect::Quit => break 'outer,
                            Effect::Session(session::Effect::Score {
                                request,
                                prompt,
                                options,
                                ..
                            }) => {
                                if scores.send((request, prompt, options)).is_err() {
                                    answers.push(
                                        app.handle(AppEvent::Note("the model has stopped".into())),
                                    );
                                }
                            }
                            Effect::Session(session::Effect::Publish { goal, actions, .. }) => {
                                // Never waits: the client queues the publish.
                                let mut published = 0;
                                let mut error = None;
                                for a in &actions {
                                    match client.try_publish(
                                        &a.topic,
                                        QoS::AtLeastOnce,
                                        false,
                                        a.payload.clone(),
                                    ) {
                                        Ok(()) => published += 1,
                                        Err(e) => {
                                            error = Some(format!(
                                                "publishing to {} failed: {e}",
                                                a.topic
                                            ));
                                            break;
                                        }
                                    }
                                }
                                answers.push(app.handle(AppEvent::Session(
                                    session::Input::Published {
                                        goal,
                                        published,
                                        error,
                                    },
                                )));
                            }
                            Effect::Session(session::Effect::Record {
                                goal,
                                text,
                                actions,
                                confirmed_by,
                            }) => {
                                let path = config.ledger.clone();
                                let tx = tx.clone();
                                // fsync happens off the render loop.
                                tokio::task::spawn_blocking(move || {
                                    let error = path.and_then(|path| {
                                        crate::ledger::record_action(
                                            &path,
                                            &text,
                                            &actions,
                                            &confirmed_by,
                                        )
                                        .err()
                                        .map(|e| e.to_string())
                                    });
                                    let _ = tx.blocking_send(AppEvent::Session(
                                        session::Input::Recorded { goal, error },
                                    ));
                                });
                            }
                            // The app handles the others itself.
                            Effect::Session(session::Effect::SaveSchedules(list)) => {
                                if let Some(path) = schedules_path.clone() {
                                    let tx = tx.clone();
                                    // Written off the render loop.
                                    tokio::task::spawn_blocking(move || {
                                        if let Err(e) =
                                            crate::session::schedule_file::save(&path, &list)
                                        {
                                            let _ = tx.blocking_send(AppEvent::Note(format!(
                                                "cannot keep the schedules: {e}"
                                            )));
                                        }
                                    });
                                }
                            }
                            Effect::Session(session::Effect::SaveRules(list)) => {
                                if let Some(path) = rules_path.clone() {
                                    let tx = tx.clone();
                                    // Written off the render loop.
                                    tokio::task::spawn_blocking(move || {
                                        if let Err(e) =
                                            crate::session::schedule_file::save(&path, &list)
                                        {
                                            let _ = tx.blocking_send(AppEvent::Note(format!(
                                                "cannot keep the rules: {e}"
                                            )));
                                        }
                                    });
                                }
                            }
                            Effect::Session(_) => {}
                        }
                    }
                    effects = answers.into_iter().flatten().collect();
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
    // DISCONNECT goes out before the MQTT task ends: the link's event loop
    // sends it, then the task sees the link close and finishes.
    let _ = client.try_disconnect();
    drop(rx);
    if tokio::time::timeout(Duration::from_secs(2), mqtt_task)
        .await
        .is_err()
    {
        tracing::warn!("the MQTT task did not end within 2 s of DISCONNECT");
    }
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

/// A model request from the session: its id, the prompt and the options.
type ScoreRequest = (RequestId, Prompt, Vec<String>);

/// The model's thread: loads the model, then answers the session's score
/// requests one at a time, off the render loop.
fn spawn_model(llm: Backend, tx: mpsc::Sender<AppEvent>) -> std::sync::mpsc::Sender<ScoreRequest> {
    let (requests, incoming) = std::sync::mpsc::channel::<ScoreRequest>();
    std::thread::Builder::new()
        .name("giot-model".into())
        .spawn(move || {
            let started = Instant::now();
            let mut scorer = match crate::llm::spawn(llm) {
                Ok((handle, _)) => handle,
                Err(e) => {
                    let _ = tx.blocking_send(AppEvent::Model(ModelStatus::Failed(e.to_string())));
                    let _ = tx.blocking_send(AppEvent::Session(session::Input::Model(None)));
                    return;
                }
            };
            let name = crate::llm::Scorer::name(&scorer);
            let info = ModelInfo::of(&scorer);
            let load_ms = started.elapsed().as_millis() as u64;
            if tx
                .blocking_send(AppEvent::Model(ModelStatus::Ready { name, load_ms }))
                .is_err()
                || tx
                    .blocking_send(AppEvent::Session(session::Input::Model(Some(info))))
                    .is_err()
            {
                return;
            }
            while let Ok((request, prompt, options)) = incoming.recv() {
                let t0 = Instant::now();
                let result = crate::llm::Scorer::score(&mut scorer, &prompt, &options);
                let scored = session::Input::Scored {
                    request,
                    result,
                    took: t0.elapsed(),
                };
                if tx.blocking_send(AppEvent::Session(scored)).is_err() {
                    break;
                }
            }
        })
        .expect("starting the model thread");
    requests
}
