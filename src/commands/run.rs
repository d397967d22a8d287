//! `giot run GOAL`: one goal through the agent, the policy and the broker.
//! Data on stdout (one JSON object with `--json`), diagnostics on stderr,
//! exit codes as in DESIGN §3.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use giot::cli::RunArgs;
use giot::exec::Live;
use giot::session::driver::{Driver, DriverConfig, Model};
use giot::session::{GoalRequest, Origin, SessionConfig};
use giot::types::{Outcome, Status};

use super::ConfigError;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    args.model.check()?;
    let goal = args.goal.join(" ").trim().to_string();
    if goal.is_empty() {
        return Err(ConfigError::new("the goal is empty: say what giot should do, e.g. giot run \"dim the hall light to 10%\"").into());
    }
    let confirm_timeout = confirm_timeout(args.agent.confirm_timeout)?;
    let kept = args
        .conversation
        .as_deref()
        .map(conversation_file)
        .transpose()?;
    let registry = super::load_registry(&args.devices.path())?;
    let definition = super::load_agent(&args.agent.agent)?;
    let options = args.conn.options("run")?;

    // Load the model while connecting.
    let config = args.model.config();
    let loader = std::thread::spawn(move || giot::llm::spawn(config));
    let escalation = args
        .model
        .escalation()
        .and_then(giot::llm::http::escalation);
    let rt = super::runtime()?;
    let started = Instant::now();
    let live = rt.block_on(Live::connect(
        &options,
        registry.clone(),
        Duration::from_secs(3),
        Duration::from_millis(700),
    ))?;
    let connect_time = started.elapsed();
    let (llm, load_time) = loader
        .join()
        .map_err(|_| anyhow::anyhow!("the model loader panicked"))??;

    // One goal through the session and its driver, over the registry as the
    // broker showed it: devices.yaml plus the devices discovered while
    // connecting. No warming here: a one-shot run would pay ~4 s for the
    // priors of every device name, while most goals never ask the model. A
    // goal that does computes the priors of its few candidates, inside its
    // own timing.
    let ledger = args.agent.ledger_path();
    let (driver, task) = rt.block_on(async {
        Driver::start(
            live,
            definition,
            SessionConfig::confirming_within(confirm_timeout)
                .preferring(args.agent.language.as_deref()),
            Model::Loaded(Box::new(llm)),
            DriverConfig {
                ledger,
                escalation,
                ..DriverConfig::default()
            },
        )
    });
    let mut request = GoalRequest::words(
        0,
        &goal,
        Origin::new("run", "operator (--yes)", "run again with --yes"),
    );
    request.origin.policy = "policy".into();
    request.yes = args.yes;
    request.dry_run = args.dry_run;
    request.room = args.room.clone();
    request.conversation = args.conversation.clone();
    // A conversation kept on disk: what its last goal did, restored first
    // and saved after.
    if let (Some(id), Some(path)) = (&args.conversation, &kept) {
        let remembered = read_conversation(path)?;
        let id = id.clone();
        rt.block_on(driver.with_session(move |s| s.remember(id, remembered)))
            .context("restoring the conversation")?;
    }
    let report = rt
        .block_on(driver.run(request, "run"))
        .context("running the goal")?;
    if let (Some(id), Some(path)) = (args.conversation.clone(), &kept) {
        let remembered = rt
            .block_on(driver.with_session(move |s| s.conversation(&id).cloned()))
            .context("reading the conversation")?
            .unwrap_or_default();
        write_conversation(path, &remembered)?;
    }
    drop(driver);
    rt.block_on(task).context("the agent's driver failed")?;
    for step in &report.trace {
        if step.starts_with("model unavailable") {
            eprintln!("giot: {step}");
        }
    }
    let mut outcome = report.outcome;
    if let Some(e) = &outcome.ledger_error {
        eprintln!("giot: the actions were published but the ledger could not record them: {e}");
    }
    outcome.timing_ms.load = Some(giot::types::ms(load_time));
    outcome.timing_ms.connect = Some(giot::types::ms(connect_time));

    let code = outcome.status.exit_code();
    if args.json {
        outln!("{}", serde_json::to_string(&outcome)?);
    } else {
        out!("{}", human(&outcome));
        eprintln!(
            "({} ms; model {} ms; load {} ms; connect {} ms)",
            outcome.timing_ms.total,
            outcome.timing_ms.llm,
            giot::types::ms(load_time),
            giot::types::ms(connect_time)
        );
    }
    Ok(ExitCode::from(code))
}

/// Where conversation `id` is kept; ids are 1–64 letters, digits, `_`,
/// `.` or `-`, not starting with a dot (they name a file).
fn conversation_file(id: &str) -> Result<std::path::PathBuf> {
    let valid = (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(ConfigError::new(format!(
            "--conversation {id:?}: use 1 to 64 letters, digits, '_', '.' or '-' (not starting with '.')"
        ))
        .into());
    }
    Ok(giot::paths::state_dir()
        .join("conversations")
        .join(format!("{id}.json")))
}

fn read_conversation(path: &std::path::Path) -> Result<giot::agent::Conversation> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{}: not a giot conversation", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the conversation whole or not at all (a temporary file renamed).
fn write_conversation(path: &std::path::Path, c: &giot::agent::Conversation) -> Result<()> {
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(c)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn confirm_timeout(secs: f64) -> Result<Duration> {
    if secs.is_finite() && secs >= 0.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(ConfigError::new(format!(
            "--confirm-timeout must be a number of seconds, not {secs}"
        ))
        .into())
    }
}

/// A proposed menu as its items (its JSON when it is not a menu).
fn menu_items(menu: &serde_json::Value) -> String {
    serde_json::from_value(menu.clone())
        .map(|m| giot::market::explain::menu_text(&m))
        .unwrap_or_else(|_| menu.to_string())
}

/// The outcome for a person to read.
pub fn human(o: &Outcome) -> String {
    let mut out = String::new();
    match o.status {
        Status::Answered => out.push_str(&format!("{}\n", o.answer.as_deref().unwrap_or(""))),
        Status::Refused => out.push_str(&format!(
            "refused: {}\n",
            o.reason.as_deref().unwrap_or("no reason given")
        )),
        Status::Failed => out.push_str(&format!(
            "failed: {}\n",
            o.reason.as_deref().unwrap_or("no reason given")
        )),
        _ => {
            out.push_str(&format!("{}:\n", o.status.as_str().replace('_', " ")));
            for a in &o.actions {
                let mark = match a.confirmed {
                    Some(true) => "  confirmed",
                    Some(false) => "  NOT confirmed (no matching state before the timeout)",
                    None => "",
                };
                let line = match giot::types::market_of(&a.device) {
                    // A menu reads as its items; the payload is the same menu.
                    Some(market) => format!(
                        "  the {market} market's menu = {}  ({})",
                        menu_items(&a.value),
                        a.topic
                    ),
                    None => format!(
                        "  {}.{} = {}  ({} {})",
                        a.device, a.capability, a.value, a.topic, a.payload
                    ),
                };
                out.push_str(&format!("{line}{mark}\n"));
            }
            if let Some(reason) = &o.reason {
                out.push_str(&format!("{reason}\n"));
            }
            // The devices to choose from, as a person names them.
            for c in &o.candidates {
                let room = c
                    .room
                    .as_deref()
                    .map(|r| format!(", {}", r.replace('_', " ")));
                out.push_str(&format!(
                    "  {} ({}{})\n",
                    c.device,
                    c.name,
                    room.unwrap_or_default()
                ));
            }
        }
    }
    out
}
