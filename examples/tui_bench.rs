//! Benchmark of the TUI's live tree (run by `scripts/bench`, or
//! `cargo run --example tui_bench -- [BROKER_PORT]`):
//! 1. time to draw one frame of a tree of 20,000 topics;
//! 2. how fast the live tree ingests 20,000 retained topics from a broker on
//!    loopback, beside `mosquitto_sub -t '#'` on the same broker;
//! 3. resident memory after one million messages on 20,000 topics.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use giot::agent::AgentDefinition;
use giot::fleet::Fleet;
use giot::mqtt::{ConnectOptions, Link, LinkEvent, TopicTree};
use giot::registry::Registry;
use giot::session::{Session, SessionConfig};
use giot::tui::{App, AppEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const TOPICS: usize = 20_000;

fn topic(i: usize) -> String {
    format!("site/{}/floor{}/dev{}/state", i % 20, (i / 20) % 10, i)
}

fn new_app() -> App {
    let session = Session::new(
        Fleet::new(Registry::default(), 16),
        AgentDefinition::builtin(),
        SessionConfig::default(),
    );
    App::new(session, "bench".into())
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn frame_time() {
    let mut app = new_app();
    for i in 0..TOPICS {
        app.session
            .fleet_mut()
            .record(&topic(i), Bytes::from(format!("{{\"v\":{i}}}")), true);
    }
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('t'),
        KeyModifiers::NONE,
    )));
    terminal.draw(|f| giot::tui::ui::draw(f, &mut app)).unwrap();
    // Open the first site and floor so that the frame shows a deep tree.
    for key in [KeyCode::Right, KeyCode::Down, KeyCode::Right] {
        app.handle(AppEvent::Key(KeyEvent::new(key, KeyModifiers::NONE)));
        terminal.draw(|f| giot::tui::ui::draw(f, &mut app)).unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        terminal.draw(|f| giot::tui::ui::draw(f, &mut app)).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "frame, 20,000 topics (topic view)   p50 {:>8.2} ms   p95 {:>8.2} ms   (goal < 2 ms)",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 95 / 100].as_secs_f64() * 1e3
    );
}

async fn ingest(port: u16) {
    let url = format!("mqtt://127.0.0.1:{port}");
    // Fill the broker with retained topics.
    let link = Link::start(&ConnectOptions::new(&url, "bench-pub"), vec![]).unwrap();
    for i in 0..TOPICS {
        link.publish(&topic(i), format!("{{\"v\":{i}}}"), true)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let t = Instant::now();
    let out = std::process::Command::new("mosquitto_sub")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "site/#",
            "-C",
            &TOPICS.to_string(),
        ])
        .output()
        .expect("mosquitto_sub");
    let sub = t.elapsed();
    assert!(out.status.success());

    let t = Instant::now();
    let mut tree = TopicTree::new(64);
    let mut link = Link::start_with_qos(
        &ConnectOptions::new(&url, "bench-sub"),
        vec!["site/#".into()],
        rumqttc::QoS::AtMostOnce,
    )
    .unwrap();
    while tree.len() < TOPICS {
        match tokio::time::timeout(Duration::from_secs(30), link.recv())
            .await
            .ok()
            .flatten()
        {
            Some(LinkEvent::Message {
                topic,
                payload,
                retain,
            }) => tree.insert(&topic, payload, retain, SystemTime::now()),
            Some(_) => {}
            None => break,
        }
    }
    let ours = t.elapsed();
    if tree.len() < TOPICS {
        println!(
            "ingest: giot's tree got {} of {TOPICS} topics before timing out",
            tree.len()
        );
    }
    println!(
        "ingest 20,000 retained topics        giot tree {:>8.0} msg/s   mosquitto_sub {:>8.0} msg/s",
        TOPICS as f64 / ours.as_secs_f64(),
        TOPICS as f64 / sub.as_secs_f64()
    );
}

fn memory() {
    let before = rss_mb();
    let mut tree = TopicTree::new(64);
    let payload = Bytes::from_static(b"{\"temperature\":21.5,\"humidity\":40}");
    for i in 0..1_000_000 {
        tree.insert(
            &topic(i % TOPICS),
            payload.clone(),
            false,
            SystemTime::now(),
        );
    }
    let after_1m = rss_mb();
    for i in 0..1_000_000 {
        tree.insert(
            &topic(i % TOPICS),
            payload.clone(),
            false,
            SystemTime::now(),
        );
    }
    println!(
        "memory, 20,000 topics, history 64    after 1M msgs +{:.0} MB   after 2M msgs +{:.0} MB (bounded by history, not messages)",
        after_1m - before,
        rss_mb() - before
    );
}

/// Frames while 20,000 retained topics pour in: the runtime handles queued
/// events in batches (at most `giot::tui::MAX_BATCH`) and draws between them.
fn frames_while_ingesting() {
    let mut app = new_app();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('t'),
        KeyModifiers::NONE,
    )));
    let mut worst = Duration::ZERO;
    let mut frames = 0;
    let started = Instant::now();
    let mut i = 0;
    while i < TOPICS {
        let t = Instant::now();
        for _ in 0..giot::tui::MAX_BATCH.min(TOPICS - i) {
            app.handle(AppEvent::Mqtt(LinkEvent::Message {
                topic: topic(i),
                payload: Bytes::from(format!("{{\"v\":{i}}}")),
                retain: true,
            }));
            i += 1;
        }
        terminal.draw(|f| giot::tui::ui::draw(f, &mut app)).unwrap();
        frames += 1;
        worst = worst.max(t.elapsed());
    }
    println!(
        "frames while ingesting 20,000 topics  {frames} frames, worst batch+frame {:>6.2} ms, {:>8.0} msg/s handled",
        worst.as_secs_f64() * 1e3,
        TOPICS as f64 / started.elapsed().as_secs_f64()
    );
}

fn main() {
    frame_time();
    frames_while_ingesting();
    memory();
    if let Some(port) = std::env::args().nth(1).and_then(|p| p.parse().ok()) {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(ingest(port));
    } else {
        println!("ingest: pass the port of a broker (scripts/bench starts mosquitto)");
    }
}
