//! `giot bridge [status]`: the MQTT bridge daemon, or a look at it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use giot::bridge::{self, BridgeConfig};
use giot::cli::{BridgeAction, BridgeArgs};

use super::ConfigError;

fn seconds(name: &str, value: f64) -> Result<Duration> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ConfigError::new(format!("--{name} must be a positive number, not {value}")).into())
    }
}

/// The machine's name, the default instance name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "giot".into())
}

pub fn run(args: BridgeArgs) -> Result<ExitCode> {
    args.model.check()?;
    let options = args.conn.options("bridge")?;
    if args.action == BridgeAction::Status {
        let (status, metrics) = super::runtime()?.block_on(bridge::status(
            &options,
            &args.agent.agent,
            args.instance.as_deref(),
            Duration::from_secs(3),
        ))?;
        if args.json {
            outln!(
                "{}",
                serde_json::json!({"agent": args.agent.agent, "status": status, "metrics": metrics})
            );
        } else {
            outln!(
                "bridge `{}`{} on {}: {}",
                args.agent.agent,
                args.instance
                    .as_deref()
                    .map(|i| format!(" instance `{i}`"))
                    .unwrap_or_default(),
                options.url,
                status.as_deref().unwrap_or("never seen")
            );
            match metrics {
                Some(m) => outln!("{}", serde_json::to_string_pretty(&m)?),
                None => outln!("no metrics published yet"),
            }
        }
        return Ok(ExitCode::from(if status.as_deref() == Some("online") {
            0
        } else {
            1
        }));
    }
    let goal_key = match &args.goal_key_file {
        Some(path) => {
            let key = std::fs::read(path)
                .with_context(|| format!("reading the goal key {}", path.display()))?;
            if key.len() < 32 {
                return Err(ConfigError::new(format!(
                    "the goal key {} has {} bytes; it needs at least 32",
                    path.display(),
                    key.len()
                ))
                .into());
            }
            Some(key)
        }
        None => None,
    };
    let registry = super::load_registry(&args.devices.path())?;
    let definition = super::load_agent(&args.agent.agent)?;
    let store = match &args.store {
        Some(s) => bridge::store::Location::parse(s).map_err(ConfigError::new)?,
        None => bridge::store::Location::File(
            giot::paths::data_dir().join(format!("bridge-{}.redb", args.agent.agent)),
        ),
    };
    let instance = match &args.instance {
        Some(name) => name.clone(),
        None => host_name(),
    };
    if instance.is_empty() || instance.contains(['/', '+', '#']) {
        return Err(ConfigError::new(format!(
            "--instance {instance:?} is not a usable name (it names an MQTT client: no '/', '+' or '#')"
        ))
        .into());
    }
    if let Some(group) = &args.share
        && (group.is_empty() || group.contains(['/', '+', '#']))
    {
        return Err(ConfigError::new(format!(
            "--share {group:?} is not a shared-subscription group name (no '/', '+' or '#')"
        ))
        .into());
    }
    if args.share.is_some() && !matches!(store, bridge::store::Location::Postgres(_)) {
        return Err(ConfigError::new(
            "--share needs a shared store, --store postgres://… (or GIOT_BRIDGE_STORE): \
             instances with store files of their own would not know each other's goals",
        )
        .into());
    }
    // Each bridge keeps its schedules and rules in a file: beside its store
    // file, or, for a shared store, per instance (they are not shared yet).
    let beside = |ext: &str, default: fn(&str) -> std::path::PathBuf| match &store {
        bridge::store::Location::File(path) if args.store.is_some() => path.with_extension(ext),
        bridge::store::Location::Postgres(_) => {
            default(&format!("{}-{instance}", args.agent.agent))
        }
        _ => default(&args.agent.agent),
    };
    let schedules = args
        .schedules
        .clone()
        .unwrap_or_else(|| beside("schedules.json", giot::cli::default_schedules));
    let rules = args
        .rules
        .clone()
        .unwrap_or_else(|| beside("rules.json", giot::cli::default_rules));
    let config = BridgeConfig {
        agent: args.agent.agent.clone(),
        registry,
        definition,
        options,
        confirm_timeout: super::run::confirm_timeout(args.agent.confirm_timeout)?,
        language: args.agent.language.clone(),
        store,
        goal_key,
        queue: args.queue.max(1),
        metrics_every: seconds("metrics-every", args.metrics_every)?,
        token_ttl: seconds("token-ttl", args.token_ttl)?,
        keep: seconds("keep", args.keep * 3600.0)?,
        ledger: args.agent.ledger_path(),
        escalation: args.model.escalation(),
        // Beside the store file when one is given (each bridge its own),
        // else where `giot schedules` and `giot rules` look by default.
        schedules,
        rules,
        share: args.share.clone(),
        instance,
        lease: seconds("lease", args.lease)?,
        rule_interval: seconds("rule-interval", args.rule_interval)?,
        time_zone: super::time_zone(args.time_zone.as_deref())?,
    };
    let (llm, load) = giot::llm::spawn(args.model.config())?;
    tracing::info!("model loaded in {load:?}");
    super::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            super::stop_signal().await;
            let _ = stop_tx.send(true);
        });
        bridge::run(config, Box::new(llm), stop_rx).await
    })?;
    Ok(ExitCode::SUCCESS)
}
