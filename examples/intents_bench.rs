//! The template layer's speed: goal-to-decision time of `Agent::plan` (no
//! model) over the intent bench's template sentences, on the fixture home
//! and on a 2,000-device registry made of 50 copies of it, with the memory
//! the loaded templates and vocabularies take. Run by `scripts/bench`.

use std::path::Path;
use std::time::{Duration, Instant};

use giot::agent::{Agent, AgentDefinition};
use giot::registry::{Device, Registry};
use serde_json::Value;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn goals(lang: &str) -> Vec<String> {
    std::fs::read_to_string(format!("tests/eval/templates/{lang}.jsonl"))
        .expect("tests/eval/templates")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["goal"].as_str().map(String::from))
        .collect()
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// 50 copies of the fixture's devices, ids and names suffixed, topics apart.
fn scaled(base: &Registry, copies: usize) -> Registry {
    let mut devices: Vec<Device> = Vec::new();
    for c in 0..copies {
        for d in base.devices() {
            let mut d = d.clone();
            if c > 0 {
                d.id = format!("{}_{c}", d.id);
                d.name = format!("{} {c}", d.name);
                d.aliases = d.aliases.iter().map(|a| format!("{a} {c}")).collect();
                d.state_topic = format!("{}/{c}", d.state_topic);
                d.command_topic = d.command_topic.map(|t| format!("{t}/{c}"));
            }
            devices.push(d);
        }
    }
    base.with_devices(devices)
}

fn run(label: &str, registry: Registry, lang: &str) {
    let before = rss_mb();
    let started = Instant::now();
    let mut agent = Agent::new(registry, AgentDefinition::builtin(), None);
    agent.set_languages(&["en".into(), "de".into(), "fr".into(), "es".into()]);
    let build = started.elapsed();
    let mem = rss_mb() - before;
    let goals = goals(lang);
    let no_state = |_: &str| None;
    let mut times = Vec::with_capacity(goals.len());
    for g in &goals {
        let t = Instant::now();
        let _ = agent.plan(g, &no_state);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{label:<28} {lang:>4} {:>6} {:>9.3} {:>9.3} {:>9.1} {:>10.1}",
        goals.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        build.as_secs_f64() * 1000.0,
        mem
    );
}

fn main() {
    let base = Registry::load(Path::new("bench/intents/home.en.yaml")).expect("fixture");
    println!(
        "{:<28} {:>4} {:>6} {:>9} {:>9} {:>9} {:>10}",
        "registry", "lang", "goals", "p50_ms", "p95_ms", "build_ms", "rss_mb+"
    );
    run(
        &format!("fixture ({} devices)", base.len()),
        base.clone(),
        "en",
    );
    let de = Registry::load(Path::new("bench/intents/home.de.yaml")).expect("fixture");
    run(&format!("fixture ({} devices)", de.len()), de, "de");
    let big = scaled(&base, 50);
    run(&format!("scaled ({} devices)", big.len()), big, "en");
}
