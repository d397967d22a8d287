//! Benchmark of the bridge (run by `scripts/bench`, or `cargo run --example
//! bridge_bench -- BROKER_PORT [POSTGRES_URL]`): goals per second through
//! `giot bridge`, with p50/p95 latency from publishing a goal to receiving
//! its result, for
//! - one instance on the embedded store with the default model and with a
//!   scripted fake model (which shows the bridge's own overhead);
//! - with a PostgreSQL URL, 1, 2 and 3 instances sharing the goals
//!   (`--share`) on that store, on the fake model: the bridge and its
//!   store, not inference.
//!
//! The instances run in this process; the simulated fleet answers every
//! command on the same broker. Every goal is unique and changes a device's
//! state (a brightness each light has not had just before), spread over
//! every dimmable light of the fleet, so the bridge waits for real echoes
//! and cannot answer from satisfied state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use giot::agent::AgentDefinition;
use giot::bridge::message::GoalMessage;
use giot::bridge::store::Location;
use giot::bridge::{self, BridgeConfig};
use giot::llm::Scorer;
use giot::llm::fake::FakeScorer;
use giot::llm::llama::{self, LlamaConfig};
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use giot::registry::Registry;
use giot::sim::{self, SimConfig};

const GOALS: usize = 1000;

/// Runs one bridge instance per scorer, on `store` (a PostgreSQL URL, the
/// instances sharing the goals) or each on an embedded store of its own.
async fn measure(port: u16, name: &str, store: Option<&str>, scorers: Vec<Box<dyn Scorer>>) {
    let instances = scorers.len();
    let url = format!("mqtt://127.0.0.1:{port}");
    let registry = Registry::load(&PathBuf::from("devices.yaml")).expect("run from the repository");
    let dir = tempfile::tempdir().unwrap();
    let agent = format!("bench{}", name.replace([' ', ','], ""));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut daemons = Vec::new();
    for (i, scorer) in scorers.into_iter().enumerate() {
        let instance = format!("i{i}");
        let config = BridgeConfig {
            agent: agent.clone(),
            registry: registry.clone(),
            definition: AgentDefinition::builtin(),
            options: ConnectOptions::new(&url, "bench-bridge"),
            confirm_timeout: Duration::from_secs(2),
            language: None,
            store: match store {
                Some(pg) => Location::Postgres(pg.to_string()),
                None => Location::File(dir.path().join("bridge.redb")),
            },
            share: store.map(|_| "bench".to_string()),
            instance: instance.clone(),
            lease: Duration::from_secs(10),
            goal_key: None,
            queue: 4096,
            metrics_every: Duration::from_secs(60),
            token_ttl: Duration::from_secs(60),
            keep: Duration::from_secs(3600),
            ledger: None,
            escalation: None,
            schedules: dir.path().join(format!("{instance}.schedules.json")),
            rules: dir.path().join(format!("{instance}.rules.json")),
            rule_interval: Duration::from_secs(60),
            time_zone: jiff::tz::TimeZone::UTC,
        };
        daemons.push(tokio::spawn(bridge::run(config, scorer, stopped.clone())));
    }
    let mut link = Link::start(
        &ConnectOptions::new(&url, "bench-client"),
        vec![
            format!("giot/{agent}/results/#"),
            format!("giot/{agent}/status"),
            format!("giot/{agent}/instances/+/status"),
        ],
    )
    .unwrap();
    let mut online = 0;
    while online < instances {
        if let Some(LinkEvent::Message { topic, payload, .. }) = link.recv().await
            && topic.ends_with("/status")
            && &payload[..] == b"online"
        {
            online += 1;
        }
    }
    let lights: Vec<String> = registry
        .devices()
        .iter()
        .filter(|d| d.kind == "light" && d.capability("brightness").is_some())
        .map(|d| d.name.to_lowercase())
        .collect();
    let mut sent = HashMap::new();
    let started = Instant::now();
    for i in 0..GOALS {
        let id = format!("{agent}-{i}");
        let (light, round) = (&lights[i % lights.len()], i / lights.len());
        let value = 10 + (round * 3) % 88;
        let goal = format!("set the {light} brightness to {value}%");
        sent.insert(id.clone(), Instant::now());
        link.publish(
            &format!("giot/{agent}/goals"),
            GoalMessage::goal(&id, &goal).to_json(),
            false,
        )
        .await
        .unwrap();
    }
    let mut latencies = Vec::new();
    while latencies.len() < GOALS {
        match tokio::time::timeout(Duration::from_secs(60), link.recv()).await {
            Ok(Some(LinkEvent::Message { topic, .. })) => {
                if let Some(t) = topic.rsplit('/').next().and_then(|id| sent.remove(id)) {
                    latencies.push(t.elapsed().as_micros() as u64);
                }
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let total = started.elapsed();
    let _ = stop.send(true);
    for d in daemons {
        let _ = d.await;
    }
    println!(
        "{name:<30} {:>6} goals {:>9.1} goals/s   p50 {:>8.1} ms   p95 {:>8.1} ms",
        latencies.len(),
        latencies.len() as f64 / total.as_secs_f64(),
        giot::eval::percentile(&latencies, 50.0) as f64 / 1000.0,
        giot::eval::percentile(&latencies, 95.0) as f64 / 1000.0
    );
}

fn fake() -> Box<dyn Scorer> {
    Box::new(FakeScorer::default())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: bridge_bench BROKER_PORT [POSTGRES_URL]");
    let pg = args.next();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("mqtt://127.0.0.1:{port}");
        let registry = Registry::load(&PathBuf::from("devices.yaml")).unwrap();
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let options = ConnectOptions::new(&url, "bench-sim");
        tokio::spawn(
            async move { sim::run(&registry, &options, SimConfig::default(), stopped).await },
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        measure(port, "fake model", None, vec![fake()]).await;
        let model = PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        let (llm, _) = llama::spawn(LlamaConfig::new(model)).expect("scripts/fetch-model first");
        measure(port, "default model", None, vec![Box::new(llm)]).await;
        let Some(pg) = pg else { return };
        println!("instances sharing the goals on PostgreSQL, fake model:");
        for n in 1..=3 {
            let name = format!("{n} instance{}, PostgreSQL", if n == 1 { "" } else { "s" });
            measure(port, &name, Some(&pg), (0..n).map(|_| fake()).collect()).await;
        }
    });
}
