//! `giot rules list|disable|enable|remove`: the standing rules a bridge
//! keeps, read from (and changed in) its rules file; a running bridge
//! notices a change within a second.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::{RulesArgs, RulesCommand};
use giot::session::rule::Rule;
use giot::session::schedule_file;

pub fn run(command: RulesCommand) -> Result<ExitCode> {
    match command {
        RulesCommand::List(args) => {
            let path = args.path();
            let mut rules: Vec<Rule> = schedule_file::load(&path)?;
            rules.sort_by_key(|r| r.created);
            if args.json {
                let infos: Vec<_> = rules.iter().map(|r| &r.info).collect();
                outln!("{}", serde_json::to_string_pretty(&infos)?);
            } else if rules.is_empty() {
                outln!("no rules in {}", path.display());
            } else {
                outln!("{:<16} {:<9} {:<8} RULE", "ID", "STATE", "PHASE");
                for r in rules {
                    outln!(
                        "{:<16} {:<9} {:<8} {}",
                        r.info.id,
                        if r.info.enabled { "armed" } else { "disabled" },
                        format!("{:?}", r.phase).to_lowercase(),
                        r.info.describe()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Disable { args, id } => change(&args, &id, "disabled", |r| {
            r.info.enabled = false;
            true
        }),
        // It starts from its next reading, as when it was armed: a crossing
        // while it was disabled is no edge.
        RulesCommand::Enable { args, id } => change(&args, &id, "enabled", |r| {
            if !r.info.enabled {
                r.phase = giot::session::rule::Phase::Unknown;
            }
            r.info.enabled = true;
            true
        }),
        RulesCommand::Remove { args, id } => change(&args, &id, "removed", |_| false),
    }
}

/// Applies `keep` to rule `id` (false removes it).
fn change(
    args: &RulesArgs,
    id: &str,
    done: &str,
    keep: impl Fn(&mut Rule) -> bool,
) -> Result<ExitCode> {
    let path = args.path();
    let found = schedule_file::edit(&path, |all: &mut Vec<Rule>| {
        let before = all.len();
        let mut found = false;
        all.retain_mut(|r| {
            if r.info.id != id {
                return true;
            }
            found = true;
            keep(r)
        });
        found || before != all.len()
    })?;
    if found {
        outln!("{done} {id}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("giot: no rule {id} in {}", path.display());
        Ok(ExitCode::from(4))
    }
}
