//! `giot ledger verify|show`.

use std::process::ExitCode;

use anyhow::Result;
use giot::cli::LedgerCommand;
use giot::ledger;

pub fn run(cmd: LedgerCommand) -> Result<ExitCode> {
    match cmd {
        LedgerCommand::Verify { file, pubkey } => {
            let path = file.unwrap_or_else(ledger::default_path);
            let key = match &pubkey {
                Some(p) => Some(ledger::read_public_key(p)?),
                None => None,
            };
            let report = ledger::verify(&path, key.as_ref())?;
            outln!("{report}");
            Ok(ExitCode::from(if report.ok() { 0 } else { 1 }))
        }
        LedgerCommand::Show { file } => {
            let path = file.unwrap_or_else(ledger::default_path);
            out!("{}", ledger::show(&path)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
