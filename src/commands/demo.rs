//! `giot demo`: the embedded broker, the simulated fleet and a live view of
//! the fleet's state, with nothing installed.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use giot::cli::DemoArgs;
use giot::fleet::{Fleet, display_value};
use giot::mqtt::{ConnectOptions, Link};
use giot::sim::{self, SimConfig};

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let registry = super::load_registry(&args.devices.path())?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    giot::broker::start(addr)?;
    let url = format!("mqtt://{addr}");
    super::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sim_registry = registry.clone();
        let sim_options = ConnectOptions::new(&url, "sim");
        let sim = tokio::spawn(async move {
            sim::run(&sim_registry, &sim_options, SimConfig::default(), stop_rx).await
        });
        let mut fleet = Fleet::new(registry, 16);
        let mut link = Link::start(&ConnectOptions::new(&url, "demo"), fleet.state_filters())?;
        let mut redraw = tokio::time::interval(Duration::from_secs(1));
        let stop = super::stop_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(event) = link.recv() => fleet.apply(&event),
                _ = redraw.tick() => print!("\x1b[H\x1b[2J{}", render(&fleet, &url)),
            }
        }
        let _ = stop_tx.send(true);
        link.shutdown().await;
        let _ = sim.await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The fleet's live state as text, grouped by room.
fn render(fleet: &Fleet, url: &str) -> String {
    let mut out = format!(
        "giot demo: embedded broker on {url}, {} simulated devices (Ctrl-C to stop)\n",
        fleet.registry().len()
    );
    out.push_str("try from another terminal: mosquitto_pub -t home/hallway/ceiling_light/set -m '{\"power\":\"on\"}'\n");
    let mut rooms: Vec<Option<&str>> = fleet.registry().rooms().into_iter().map(Some).collect();
    rooms.push(None);
    for room in rooms {
        let devices: Vec<_> = fleet
            .registry()
            .devices()
            .iter()
            .filter(|d| d.room.as_deref() == room)
            .collect();
        if devices.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{}\n", room.unwrap_or("(no room)")));
        for d in devices {
            let state = match fleet.state(&d.id) {
                Some(state) => d
                    .capabilities
                    .iter()
                    .filter_map(|c| {
                        state
                            .get(&c.name)
                            .map(|v| format!("{}={}", c.name, display_value(v, c.unit.as_deref())))
                    })
                    .collect::<Vec<_>>()
                    .join("  "),
                None => "(no state yet)".into(),
            };
            out.push_str(&format!("  {:<22} {state}\n", d.id));
        }
    }
    out
}
