//! `giot devices check|list`: validate and show the registry.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::{DevicesArgs, DevicesCommand};
use giot::registry::{CapabilityType, Registry, Safety};

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
        DevicesCommand::List { devices, json } => {
            let registry = super::load_registry(&devices.path())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(registry.devices())?);
            } else {
                out!("{}", table(&registry));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn table(registry: &Registry) -> String {
    let rows: Vec<[String; 5]> = registry
        .devices()
        .iter()
        .map(|d| {
            let caps = d
                .capabilities
                .iter()
                .map(|c| {
                    let ty = match &c.kind {
                        CapabilityType::Enum { values } => values.join("|"),
                        CapabilityType::Number { min, max, .. } => {
                            format!("{min}..{max}{}", c.unit.as_deref().unwrap_or(""))
                        }
                        CapabilityType::Bool => "bool".into(),
                        CapabilityType::String => "string".into(),
                    };
                    let ro = if c.readonly { " ro" } else { "" };
                    format!("{}={ty}{ro}", c.name)
                })
                .collect::<Vec<_>>()
                .join(" ");
            let safety = if d.safety == Safety::Confirm {
                "confirm"
            } else {
                ""
            };
            [
                d.id.clone(),
                d.room.clone().unwrap_or_default(),
                d.kind.clone(),
                safety.to_string(),
                caps,
            ]
        })
        .collect();
    let header = ["ID", "ROOM", "KIND", "SAFETY", "CAPABILITIES"].map(String::from);
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
