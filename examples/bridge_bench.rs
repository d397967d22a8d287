//! Benchmark of the bridge (run by `scripts/bench`, or
//! `cargo run --example bridge_bench -- BROKER_PORT`): goals per second
//! through `giot bridge` with the default model and with a scripted fake
//! model (which shows the bridge's own overhead), with p50/p95 latency from
//! publishing a goal to receiving its result. The simulated fleet runs on
//! the same broker so that executed goals are confirmed. Every goal is
//! unique and changes a device's state (a brightness each light has not
//! had just before), spread over every dimmable light of the fleet, so the
//! bridge waits for real echoes and cannot answer from satisfied state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use giot::agent::AgentDefinition;
use giot::bridge::message::GoalMessage;
use giot::bridge::{self, BridgeConfig};
use giot::llm::Scorer;
use giot::llm::fake::FakeScorer;
use giot::llm::llama::{self, LlamaConfig};
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use giot::registry::Registry;
use giot::sim::{self, SimConfig};

const GOALS: usize = 1000;

async fn measure(port: u16, name: &str, scorer: Box<dyn Scorer>) {
    let url = format!("mqtt://127.0.0.1:{port}");
    let registry = Registry::load(&PathBuf::from("devices.yaml")).expect("run from the repository");
    let dir = tempfile::tempdir().unwrap();
    let agent = format!("bench{}", name.len());
    let config = BridgeConfig {
        agent: agent.clone(),
        registry,
        definition: AgentDefinition::builtin(),
        options: ConnectOptions::new(&url, "bench-bridge"),
        confirm_timeout: Duration::from_secs(2),
        language: None,
        store: giot::bridge::store::Location::File(dir.path().join("bridge.redb")),
        share: None,
        instance: "bench".into(),
        lease: Duration::from_secs(10),
        goal_key: None,
        queue: 4096,
        metrics_every: Duration::from_secs(60),
        token_ttl: Duration::from_secs(60),
        keep: Duration::from_secs(3600),
        ledger: None,
        escalation: None,
        schedules: dir.path().join("schedules.json"),
        rules: dir.path().join("rules.json"),
        rule_interval: Duration::from_secs(60),
        time_zone: jiff::tz::TimeZone::UTC,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let daemon = tokio::spawn(bridge::run(config, scorer, stopped));
    let mut link = Link::start(
        &ConnectOptions::new(&url, "bench-client"),
        vec![
            format!("giot/{agent}/results/#"),
            format!("giot/{agent}/status"),
        ],
    )
    .unwrap();
    // Wait for the bridge to come online.
    loop {
        if let Some(LinkEvent::Message { topic, payload, .. }) = link.recv().await
            && topic.ends_with("/status")
            && &payload[..] == b"online"
        {
            break;
        }
    }
    let lights: Vec<String> = Registry::load(&PathBuf::from("devices.yaml"))
        .unwrap()
        .devices()
        .iter()
        .filter(|d| d.kind == "light" && d.capability("brightness").is_some())
        .map(|d| d.name.to_lowercase())
        .collect();
    let mut sent = HashMap::new();
    let started = Instant::now();
    for i in 0..GOALS {
        let id = format!("{}-{i}", name.replace(' ', "_"));
        let (light, round) = (&lights[i % lights.len()], i / lights.len());
        // 10..=97 in steps of 3: consecutive goals on a light always differ.
        let value = 10 + (round * 3) % 88;
        let goal = format!("set the {light} brightness to {value}%");
        let payload = GoalMessage::goal(&id, &goal).to_json();
        sent.insert(id, Instant::now());
        link.publish(&format!("giot/{agent}/goals"), payload, false)
            .await
            .unwrap();
    }
    let mut latencies = Vec::new();
    while latencies.len() < GOALS {
        match tokio::time::timeout(Duration::from_secs(60), link.recv()).await {
            Ok(Some(LinkEvent::Message { topic, .. })) => {
                if let Some(t) = topic.rsplit('/').next().and_then(|id| sent.get(id)) {
                    latencies.push(t.elapsed().as_micros() as u64);
                }
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let total = started.elapsed();
    let _ = stop.send(true);
    let _ = daemon.await;
    println!(
        "{name:<14} {:>6} goals {:>9.1} goals/s   p50 {:>8.1} ms   p95 {:>8.1} ms",
        latencies.len(),
        latencies.len() as f64 / total.as_secs_f64(),
        giot::eval::percentile(&latencies, 50.0) as f64 / 1000.0,
        giot::eval::percentile(&latencies, 95.0) as f64 / 1000.0
    );
}

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: bridge_bench BROKER_PORT");
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
        measure(port, "fake model", Box::new(FakeScorer::default())).await;
        let model = PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        let (llm, _) = llama::spawn(LlamaConfig::new(model)).expect("scripts/fetch-model first");
        measure(port, "default model", Box::new(llm)).await;
    });
}
