//! `giot broker`: the embedded rumqttd broker on its own.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Result;
use giot::cli::BrokerArgs;

pub fn run(args: BrokerArgs) -> Result<ExitCode> {
    let addr = SocketAddr::new(args.bind, args.port);
    giot::broker::start(addr)?;
    eprintln!("giot: embedded MQTT broker listening on mqtt://{addr} (Ctrl-C to stop)");
    super::runtime()?.block_on(super::stop_signal());
    Ok(ExitCode::SUCCESS)
}
