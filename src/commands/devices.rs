//! `giot devices check|list`: validate and show the registry, or
//! (`list --discovered`) the devices announced on the broker.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use giot::cli::{BrokerConnArgs, DevicesArgs, DevicesCommand};
use giot::exec::Live;
use giot::registry::{Capability, CapabilityType, Device, PayloadFormat, Registry, Safety};
use serde_json::{Value, json};

use super::ConfigError;

pub fn run(cmd: DevicesCommand) -> Result<ExitCode> {
    match cmd {
        DevicesCommand::Check { file } => {
            let path = file.unwrap_or_else(|| DevicesArgs { devices: None }.path());
            let registry = super::load_registry(&path)?;
            outln!(
                "{}: ok, {} devices in {} rooms",
                path.display(),
                registry.len(),
                registry.rooms().len()
            );
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::List {
            devices,
            json,
            discovered: true,
            wait,
            conn,
        } => list_discovered(&devices, json, wait, &conn),
        DevicesCommand::List { devices, json, .. } => {
            let registry = super::load_registry(&devices.path())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(registry.devices())?);
            } else {
                out!("{}", table(&registry, "ROOM"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Connects, listens for `wait` seconds, and shows the discovered devices,
/// those `devices.yaml` already describes, and the announcements skipped.
fn list_discovered(
    devices: &DevicesArgs,
    json: bool,
    wait: f64,
    conn: &BrokerConnArgs,
) -> Result<ExitCode> {
    if !(wait.is_finite() && wait >= 0.0) {
        return Err(
            ConfigError::new(format!("--wait must be a number of seconds, not {wait}")).into(),
        );
    }
    // devices.yaml only matters here for what it shadows or overrides.
    let path = devices.path();
    let registry = if devices.devices.is_some() || path.exists() {
        super::load_registry(&path)?
    } else {
        Registry::default()
    };
    let options = conn.options("devices")?;
    let rt = super::runtime()?;
    let live = rt.block_on(async {
        let mut live =
            Live::connect(&options, registry, Duration::from_secs(3), Duration::ZERO).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(wait);
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, live.link.recv()).await {
            live.ingest(&e).await;
        }
        anyhow::Ok(live)
    })?;
    let fleet = &live.fleet;
    let found: Vec<&Device> = fleet
        .registry()
        .devices()
        .iter()
        .filter(|d| d.discovered.is_some())
        .collect();
    let skipped: Vec<_> = fleet
        .discovery()
        .into_iter()
        .flat_map(|d| d.problems())
        .collect();
    if json {
        let devices: Vec<Value> = found
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                v["state"] = fleet.state(&d.id).map_or(Value::Null, Value::Object);
                v
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "broker": options.url,
                "devices": devices,
                "shadowed": fleet.shadowed(),
                "renamed": fleet.renamed(),
                "skipped": skipped,
            }))?
        );
    } else {
        let shown = Registry::from_devices(found.into_iter().cloned().collect());
        out!("{}", table(&shown, "FOUND BY"));
        for s in fleet.shadowed() {
            eprintln!(
                "giot: {} is described in devices.yaml as {}; that entry wins",
                s.id, s.by
            );
        }
        for r in fleet.renamed() {
            eprintln!(
                "giot: {} (announced on {}) has an id another device took first; listed as {}",
                r.was, r.topic, r.id
            );
        }
        for s in &skipped {
            eprintln!("giot: skipped {}: {}", s.topic, s.error);
        }
    }
    rt.block_on(live.link.shutdown());
    Ok(ExitCode::SUCCESS)
}

fn capability_text(c: &Capability) -> String {
    let ty = match &c.kind {
        CapabilityType::Enum { values } => values.join("|"),
        // A reading that announced no range.
        CapabilityType::Number { min, max, .. }
            if *min <= -giot::discovery::UNBOUNDED && *max >= giot::discovery::UNBOUNDED =>
        {
            match c.unit.as_deref() {
                Some(u) => format!("number ({u})"),
                None => "number".into(),
            }
        }
        CapabilityType::Number { min, max, .. } => {
            format!("{min}..{max}{}", c.unit.as_deref().unwrap_or(""))
        }
        CapabilityType::Bool => "bool".into(),
        CapabilityType::String => "string".into(),
    };
    let ro = if c.readonly { " ro" } else { "" };
    let format = match &c.command {
        Some(spec) => {
            let f = match (spec.format, &spec.template) {
                // The payload is what its (Home Assistant) template writes.
                (_, Some(_)) => "template",
                (PayloadFormat::Json, None) => "json",
                (PayloadFormat::Plain, None) => "plain",
            };
            format!(" [{f} {}]", spec.topic)
        }
        None => String::new(),
    };
    format!("{}={ty}{ro}{format}", c.name)
}

fn table(registry: &Registry, place: &str) -> String {
    let rows: Vec<[String; 5]> = registry
        .devices()
        .iter()
        .map(|d| {
            let caps = d
                .capabilities
                .iter()
                .map(capability_text)
                .collect::<Vec<_>>()
                .join(" ");
            let safety = if d.safety == Safety::Confirm {
                "confirm"
            } else {
                ""
            };
            // A discovered device shows its (quoted) name and convention
            // where a devices.yaml device shows its room.
            let place = match &d.discovered {
                Some(found) => format!("{} \"{}\"", found.convention, d.name),
                None => d.room.clone().unwrap_or_default(),
            };
            [
                d.id.clone(),
                place,
                d.kind.clone(),
                safety.to_string(),
                caps,
            ]
        })
        .collect();
    let header = ["ID", place, "KIND", "SAFETY", "CAPABILITIES"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter().zip(row) {
            out.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}
