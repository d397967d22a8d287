//! `giot schedule list|cancel`: the goals a bridge keeps for later, read
//! from (and cancelled in) its schedules file; a running bridge notices a
//! change within a second.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::ScheduleCommand;
use giot::session::schedule::Schedule;
use giot::session::schedule_file;

pub fn run(command: ScheduleCommand) -> Result<ExitCode> {
    match command {
        ScheduleCommand::List(args) => {
            let path = args.path();
            let schedules: Vec<Schedule> = schedule_file::load(&path)?;
            let mut schedules: Vec<_> = schedules.iter().collect();
            schedules.sort_by_key(|s| s.next);
            if args.json {
                let infos: Vec<_> = schedules.iter().map(|s| s.info(false)).collect();
                outln!("{}", serde_json::to_string_pretty(&infos)?);
            } else if schedules.is_empty() {
                outln!("no schedules in {}", path.display());
            } else {
                outln!("{:<16} {:<26} {:<24} GOAL", "ID", "NEXT", "REPEATS");
                for s in schedules {
                    outln!(
                        "{:<16} {:<26} {:<24} {}",
                        s.id,
                        s.next_local().strftime("%a %Y-%m-%d %H:%M %Z"),
                        s.timing.describe(),
                        s.goal
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::Cancel { args, id } => {
            let path = args.path();
            let removed = schedule_file::edit(&path, |all: &mut Vec<Schedule>| {
                let before = all.len();
                all.retain(|s| s.id != id);
                before != all.len()
            })?;
            if removed {
                outln!("cancelled {id}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("giot: no schedule {id} in {}", path.display());
                Ok(ExitCode::from(4))
            }
        }
    }
}
