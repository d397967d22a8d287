//! Several bridge instances on one goal stream and one PostgreSQL store:
//! the store's claims, leases and tokens against a real server, and a
//! failover under a burst, with one instance SIGKILLed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use giot::bridge::store::{Location, Record, Stage, Store, StoreError, Token, now_ms};
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::{Value, json};

use super::bridge::{Client, start_bridge};
use super::harness::{
    Mosquitto, Postgres, Process, assert_ledger_verifies, demo_registry, spawn_sim, spawn_sim_with,
};
use super::rules::{Cellar, RULE, fired, fleet_without_sensor, result};
use super::schedule::{Commands, scheduled};

fn record(goal: &str) -> Record {
    Record::new(goal, Stage::Accepted)
}

async fn open(pg: &Postgres, instance: &str, lease_ms: u64) -> Store {
    Store::open(
        &Location::Postgres(pg.url.clone()),
        "agent",
        instance,
        Duration::from_millis(lease_ms),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shared_store_claims_each_goal_once_fences_its_owner_and_hands_over_after_the_lease() {
    let pg = Postgres::start();
    // Three instances starting at once migrate the schema once.
    let (a, b, c) = tokio::join!(
        open(&pg, "a", 1_000),
        open(&pg, "b", 60_000),
        open(&pg, "c", 60_000)
    );

    // Claim: the first to record an id owns it; the other is told so.
    let batch = vec![("g1".to_string(), record("turn on the hall light"))];
    assert_eq!(a.claim_new(&batch).await.unwrap(), vec![true]);
    assert_eq!(b.claim_new(&batch).await.unwrap(), vec![false]);
    // Replay: any instance reads the record.
    assert_eq!(
        c.get("g1").await.unwrap().unwrap().goal,
        "turn on the hall light"
    );

    // Fencing: only the owner may move the goal on.
    let mut executing = record("turn on the hall light");
    executing.stage = Stage::Executing;
    assert!(matches!(
        b.put("g1", &executing).await,
        Err(StoreError::Lost(_))
    ));
    a.mark_executing("g1", &[]).await.unwrap();
    assert_eq!(c.get("g1").await.unwrap().unwrap().executions, 1);

    // A live owner keeps its goals.
    assert!(b.take_unfinished().await.unwrap().is_empty());
    // Its lease runs out (no heartbeat for 1 s): one instance takes it
    // over, at its stage (executing: to be verified, not run again).
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let (tb, tc) = tokio::join!(b.take_unfinished(), c.take_unfinished());
    let (tb, tc) = (tb.unwrap(), tc.unwrap());
    assert_eq!(tb.len() + tc.len(), 1, "{tb:?} {tc:?}");
    let (winner, loser) = if tb.is_empty() { (&c, &b) } else { (&b, &c) };
    let taken = tb.iter().chain(&tc).next().unwrap();
    assert_eq!((taken.0.as_str(), taken.1.stage), ("g1", Stage::Executing));
    // The old owner, back, can no longer write it; the new one can.
    let mut done = taken.1.clone();
    done.stage = Stage::Done;
    assert!(matches!(a.put("g1", &done).await, Err(StoreError::Lost(_))));
    assert!(matches!(
        loser.put("g1", &done).await,
        Err(StoreError::Lost(_))
    ));
    winner.put("g1", &done).await.unwrap();
    assert!(a.take_unfinished().await.unwrap().is_empty());

    // A token is spent once across instances, even when both try at once.
    let token = Token {
        goal_id: "g2".into(),
        goal: "unlock the front door".into(),
        actions: Vec::new(),
        expires_ms: now_ms() + 60_000,
        used: false,
        rule: None,
    };
    b.put_token("t", &token).await.unwrap();
    let (x, y) = tokio::join!(b.spend_token("t", now_ms()), c.spend_token("t", now_ms()));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
    assert!(
        x.err().or(y.err()).unwrap().contains("already used"),
        "the loser is told the token was used"
    );
    let mut late = token.clone();
    late.expires_ms = 1;
    b.put_token("late", &late).await.unwrap();
    assert!(
        c.spend_token("late", now_ms())
            .await
            .unwrap()
            .unwrap_err()
            .contains("expired")
    );
    assert!(
        c.spend_token("none", now_ms())
            .await
            .unwrap()
            .unwrap_err()
            .contains("unknown")
    );

    // A clean stop hands its goals over at once.
    assert_eq!(
        b.claim_new(&[("g3".into(), record("x"))]).await.unwrap(),
        vec![true]
    );
    b.release().await.unwrap();
    let taken = c.take_unfinished().await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].0, "g3");

    // Reopened, the schema is not migrated again and the records are there.
    let again = open(&pg, "d", 60_000).await;
    assert_eq!(again.all().await.unwrap().len(), 2);
}

/// 300 goals, each setting one light to a brightness no other goal sets.
fn burst() -> Vec<(String, String, String, i64)> {
    let registry = demo_registry();
    let lights: Vec<_> = registry
        .devices()
        .iter()
        .filter(|d| d.kind == "light")
        .collect();
    (0..300)
        .map(|i| {
            let d = lights[i % lights.len()];
            let value = 1 + (i / lights.len()) as i64;
            (
                format!("c{i}"),
                format!("set the {} brightness to {value}%", d.name.to_lowercase()),
                d.command_topic.clone().unwrap_or_default(),
                value,
            )
        })
        .collect()
}

/// A client watching every instance's status.
fn status_watch(broker: &Mosquitto) -> Link {
    Link::start(
        &ConnectOptions::new(broker.url(), "status-watch"),
        vec!["giot/operator/instances/+/status".into()],
    )
    .unwrap()
}

/// Reads `giot/operator/instances/<name>/<leaf>` messages into `seen`
/// (name → payload) until `done` holds; panics with `what` after `wait`.
async fn until_instances(
    link: &mut Link,
    leaf: &str,
    wait: Duration,
    what: &str,
    done: impl Fn(&HashMap<String, Vec<u8>>) -> Option<String>,
) -> String {
    let mut seen: HashMap<String, Vec<u8>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(found) = done(&seen) {
            return found;
        }
        match tokio::time::timeout_at(deadline, link.recv()).await {
            Ok(Some(LinkEvent::Message { topic, payload, .. })) => {
                if let Some(name) = topic
                    .strip_prefix("giot/operator/instances/")
                    .and_then(|t| t.strip_suffix(&format!("/{leaf}")))
                {
                    seen.insert(name.into(), payload.to_vec());
                }
            }
            Ok(Some(_)) => {}
            _ => panic!("{what}: {:?}", seen.keys()),
        }
    }
}

/// Waits until every instance says it is online.
async fn until_online(status: &mut Link, names: &[&str]) {
    let online = |seen: &HashMap<String, Vec<u8>>| {
        names
            .iter()
            .all(|n| seen.get(*n).is_some_and(|p| p == b"online"))
            .then(String::new)
    };
    until_instances(
        status,
        "status",
        Duration::from_secs(90),
        "the instances did not come online",
        online,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_bridges_share_a_burst_and_one_killed_loses_no_goal_and_repeats_none() {
    let pg = Postgres::start();
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "5");
    let dir = tempfile::tempdir().unwrap();
    let mut client = Client::start(&broker.url()).await;
    // Every brightness command the fleet is sent, counted as it arrives.
    let mut commands = Link::start(
        &ConnectOptions::new(broker.url(), "command-watch"),
        vec!["home/+/+/set".into()],
    )
    .unwrap();
    commands
        .wait_connected(Duration::from_secs(10), |_| {})
        .await
        .unwrap();
    let sent: Arc<Mutex<HashMap<(String, i64), usize>>> = Default::default();
    let counter = {
        let sent = sent.clone();
        tokio::spawn(async move {
            while let Some(event) = commands.recv().await {
                if let LinkEvent::Message { topic, payload, .. } = event
                    && let Ok(v) = serde_json::from_slice::<Value>(&payload)
                    && let Some(b) = v.get("brightness").and_then(Value::as_i64)
                {
                    *sent.lock().unwrap().entry((topic, b)).or_default() += 1;
                }
            }
        })
    };
    let mut status = status_watch(&broker);

    let names = ["b1", "b2", "b3"];
    let mut bridges: Vec<Option<Process>> = names
        .iter()
        .map(|name| Some(instance(&broker.url(), &pg, dir.path(), name)))
        .collect();
    until_online(&mut status, &names).await;

    let goals = burst();
    for (id, goal, ..) in &goals {
        client.send(&json!({"id": id, "goal": goal})).await;
    }
    // Mid-burst, one instance dies without a word.
    assert!(
        client
            .pump_until(Duration::from_secs(60), |c| c.results.len() >= 60)
            .await,
        "no results: {}",
        client.results.len()
    );
    let mut killed = bridges[1].take().unwrap();
    killed.0.kill().unwrap();
    killed.0.wait().unwrap();

    // A client resends what it has no answer for, with the same id.
    let mut answered = false;
    for _ in 0..30 {
        if client
            .pump_until(Duration::from_secs(3), |c| {
                goals.iter().all(|g| c.results.contains_key(&g.0))
            })
            .await
        {
            answered = true;
            break;
        }
        for (id, goal, ..) in &goals {
            if !client.results.contains_key(id) {
                client.send(&json!({"id": id, "goal": goal})).await;
            }
        }
    }
    assert!(
        answered,
        "{} of {} goals answered",
        client.results.len(),
        goals.len()
    );

    // One outcome per goal: a repeated answer is the record's, unchanged.
    for (id, results) in &client.results {
        assert!(
            results.iter().all(|r| r["status"] == results[0]["status"]),
            "{id}: {results:?}"
        );
    }
    for (id, goal, ..) in goals.iter().take(5) {
        assert_eq!(client.results[id][0]["goal"], json!(goal), "{id}");
    }

    // The store: every goal done, published at most once, and once if executed.
    let store = Store::open(
        &Location::Postgres(pg.url.clone()),
        "operator",
        "test",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let records: HashMap<String, Record> = store.all().await.unwrap().into_iter().collect();
    assert_eq!(records.len(), goals.len());
    let mut executed = 0;
    for (id, r) in &records {
        assert_eq!(r.stage, Stage::Done, "{id}");
        assert!(
            r.executions <= 1,
            "{id} was executed {} times",
            r.executions
        );
        let status = r.result.as_ref().map(|r| r.outcome.status.as_str());
        if status == Some("executed") {
            assert_eq!(r.executions, 1, "{id}");
            executed += 1;
        }
    }
    assert!(executed >= goals.len() * 9 / 10, "only {executed} executed");

    // The fleet: no brightness command sent twice, and one for each
    // executed goal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    counter.abort();
    let sent = sent.lock().unwrap().clone();
    assert!(!sent.is_empty(), "no brightness command seen");
    for ((topic, value), n) in &sent {
        assert_eq!(*n, 1, "{topic} was sent brightness {value} {n} times");
    }
    // A goal whose echo confirmed it was sent its command; one caught
    // between "executing" and its publish by the SIGKILL is only verified
    // by the instance that took it over, and may be unconfirmed.
    let mut unconfirmed = 0;
    for (id, _, topic, value) in &goals {
        let Some(result) = &records[id].result else {
            continue;
        };
        if result.outcome.status.as_str() != "executed" {
            continue;
        }
        let actions = &result.outcome.actions;
        if !actions.is_empty() && actions.iter().all(|a| a.confirmed == Some(true)) {
            assert!(
                sent.contains_key(&(topic.clone(), *value)),
                "{id}: confirmed, but {topic} never got brightness {value}"
            );
        } else {
            unconfirmed += 1;
        }
    }
    assert!(unconfirmed <= 10, "{unconfirmed} goals unconfirmed");

    for bridge in bridges.into_iter().flatten() {
        super::bridge::stop(bridge).await;
    }
    for name in names {
        let ledger = dir.path().join(format!("{name}.ledger"));
        if ledger.exists() {
            assert_ledger_verifies(&ledger);
        }
    }
}

/// An instance of group `g` on the shared store, with files of its own.
fn instance(broker: &str, pg: &Postgres, dir: &Path, name: &str) -> Process {
    instance_with(broker, pg, dir, name, &[])
}

fn instance_with(broker: &str, pg: &Postgres, dir: &Path, name: &str, extra: &[&str]) -> Process {
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    Process(start_bridge(
        broker,
        Path::new(&pg.url),
        &[
            "--share",
            "g",
            "--instance",
            name,
            "--lease",
            "2",
            "--time-zone",
            "Europe/Berlin",
            "--ledger",
            file("ledger").to_str().unwrap(),
            "--schedules",
            file("schedules.json").to_str().unwrap(),
            "--rules",
            file("rules.json").to_str().unwrap(),
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect::<Vec<_>>(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_made_through_one_instance_runs_once_after_that_instance_is_killed() {
    let pg = Postgres::start();
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "5");
    let dir = tempfile::tempdir().unwrap();
    let mut client = Client::start(&broker.url()).await;
    let mut commands = Commands::watch(&broker.url()).await;
    let mut status = status_watch(&broker);

    // Made through b1, alone: b1 keeps it and is the one to run it.
    let mut b1 = instance(&broker.url(), &pg, dir.path(), "b1");
    until_online(&mut status, &["b1"]).await;
    let result = scheduled(
        &mut client,
        "later-1",
        "turn on the hall light in 20 seconds",
    )
    .await;
    assert_eq!(result["instance"], "b1", "{result}");
    let sid = result["schedule"]["id"].as_str().unwrap().to_string();

    // b2 joins; b1 dies before the time comes.
    let _b2 = instance(&broker.url(), &pg, dir.path(), "b2");
    until_online(&mut status, &["b2"]).await;
    b1.0.kill().unwrap();
    b1.0.wait().unwrap();
    assert_eq!(commands.settle(Duration::from_millis(200)).await, 0);

    // b2 takes over the schedules and runs it, once.
    assert!(
        client
            .pump_until(Duration::from_secs(40), |c| c.results.contains_key(&sid))
            .await,
        "schedule {sid} did not run after b1 was killed"
    );
    let ran = &client.results[&sid][0];
    assert_eq!(ran["status"], "executed", "{ran}");
    assert_eq!(ran["instance"], "b2", "{ran}");
    assert_eq!(commands.settle(Duration::from_secs(3)).await, 1, "run once");
    assert_eq!(client.results[&sid].len(), 1);

    // A schedule made through b2 now is kept in the store too: b1,
    // restarted, has it, and it runs once (by whichever is the keeper).
    let result = scheduled(
        &mut client,
        "later-2",
        "turn off the hall light in 6 seconds",
    )
    .await;
    let sid = result["schedule"]["id"].as_str().unwrap().to_string();
    let _b1 = instance(&broker.url(), &pg, dir.path(), "b1");
    until_online(&mut status, &["b1"]).await;
    assert!(
        client
            .pump_until(Duration::from_secs(30), |c| c.results.contains_key(&sid))
            .await,
        "schedule {sid} did not run"
    );
    assert_eq!(commands.settle(Duration::from_secs(3)).await, 2, "run once");
    assert_eq!(client.results[&sid].len(), 1);
    let kept = std::fs::read_to_string(dir.path().join("b1.schedules.json")).unwrap();
    assert_eq!(kept.trim(), "[]", "b1's copy lost the one-off that ran");
}

/// The instance whose metrics say it runs the schedules and rules.
async fn keeper(metrics: &mut Link) -> String {
    let keeping = |seen: &HashMap<String, Vec<u8>>| {
        seen.iter()
            .find(|(_, p)| serde_json::from_slice::<Value>(p).is_ok_and(|m| m["keeper"] == true))
            .map(|(name, _)| name.clone())
    };
    until_instances(
        metrics,
        "metrics",
        Duration::from_secs(30),
        "no instance says it is the keeper",
        keeping,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_armed_through_any_instance_acts_once_per_crossing_and_after_its_keeper_dies() {
    let pg = Postgres::start();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let _sim = spawn_sim_with(&broker.url(), "5", &fleet_without_sensor(dir.path()));
    let mut client = Client::start(&broker.url()).await;
    let mut cellar = Cellar::start(&broker.url()).await;
    cellar.humidity(50.0).await;
    let mut status = status_watch(&broker);
    let names = ["b1", "b2", "b3"];
    let mut bridges: HashMap<&str, Process> = names
        .iter()
        .map(|n| {
            let p = instance_with(&broker.url(), &pg, dir.path(), n, &["--rule-interval", "1"]);
            (*n, p)
        })
        .collect();
    until_online(&mut status, &names).await;

    // Asked by one instance, confirmed through whichever gets the yes.
    client.send(&json!({"id": "rule-1", "goal": RULE})).await;
    let asked = result(&mut client, "rule-1").await;
    assert_eq!(asked["status"], "needs_confirmation", "{asked}");
    let token = asked["confirm_token"].as_str().unwrap();
    client
        .send(&json!({"id": "rule-1-yes", "confirm": token}))
        .await;
    let armed = result(&mut client, "rule-1-yes").await;
    assert_eq!(armed["status"], "rule", "{armed}");
    let rule = armed["rule"]["id"].as_str().unwrap().to_string();

    // Every instance sees the sensor; one acts, once.
    cellar.humidity(72.0).await;
    let on = fired(&mut client, &rule, 1).await;
    assert_eq!(on["actions"][0]["value"], "on", "{on}");
    cellar.humidity(75.0).await;
    assert_eq!(cellar.settle(Duration::from_secs(3)).await, ["on"]);
    assert_eq!(client.results[&rule].len(), 1);

    // The keeper dies; the next crossing is acted on once, by another.
    let mut metrics = Link::start(
        &ConnectOptions::new(broker.url(), "metrics-watch"),
        vec!["giot/operator/instances/+/metrics".into()],
    )
    .unwrap();
    let first = keeper(&mut metrics).await;
    assert_eq!(on["instance"], json!(first), "{on}");
    let mut dead = bridges.remove(first.as_str()).unwrap();
    dead.0.kill().unwrap();
    dead.0.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cellar.humidity(55.0).await;
    let off = fired(&mut client, &rule, 2).await;
    assert_eq!(off["actions"][0]["value"], "off", "{off}");
    assert_ne!(off["instance"], json!(first), "{off}");
    cellar.humidity(50.0).await;
    assert_eq!(cellar.settle(Duration::from_secs(3)).await, ["on", "off"]);
    assert_eq!(client.results[&rule].len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_goes_on_through_another_instance() {
    let pg = Postgres::start();
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "5");
    let dir = tempfile::tempdir().unwrap();
    let mut client = Client::start(&broker.url()).await;
    let mut status = status_watch(&broker);
    let mut b1 = instance(&broker.url(), &pg, dir.path(), "b1");
    until_online(&mut status, &["b1"]).await;
    client
        .send(&json!({"id": "c-1", "goal": "turn on the hall light", "conversation": "kitchen-panel"}))
        .await;
    let first = result(&mut client, "c-1").await;
    assert_eq!(first["status"], "executed", "{first}");
    b1.0.kill().unwrap();
    b1.0.wait().unwrap();

    // b2 never saw the first goal: "it" is the hall light all the same.
    let _b2 = instance(&broker.url(), &pg, dir.path(), "b2");
    until_online(&mut status, &["b2"]).await;
    client
        .send(&json!({"id": "c-2", "goal": "turn it off again", "conversation": "kitchen-panel"}))
        .await;
    let next = result(&mut client, "c-2").await;
    assert_eq!(next["instance"], "b2", "{next}");
    assert_eq!(next["status"], "executed", "{next}");
    assert_eq!(next["actions"][0]["device"], "hall_light", "{next}");
    assert_eq!(next["actions"][0]["value"], "off", "{next}");
    // Another conversation shares nothing.
    client
        .send(&json!({"id": "c-3", "goal": "turn it off again", "conversation": "other"}))
        .await;
    let other = result(&mut client, "c-3").await;
    assert_ne!(other["status"], "executed", "{other}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shared_store_speaks_tls_checks_the_server_and_says_why_it_cannot_connect() {
    let pg = Postgres::start_tls();
    let open = |url: String| async move {
        Store::open(
            &Location::Postgres(url),
            "agent",
            "a",
            Duration::from_secs(10),
        )
        .await
    };
    // The CA the database signs with, as libpq names it: TLS, verified.
    let with_ca = format!("{}&sslrootcert={}", pg.url, pg.ca().display());
    let store = open(with_ca).await.unwrap();
    assert_eq!(
        store
            .claim_new(&[("g1".into(), record("x"))])
            .await
            .unwrap(),
        vec![true]
    );
    // Without it the certificate is not trusted, and the error says so.
    let e = open(pg.url.clone()).await.err().unwrap().to_string();
    assert!(e.contains("certificate"), "{e}");
    // Without TLS the server refuses, and the error says that.
    let plain = pg.url.replace("sslmode=require", "sslmode=disable");
    let e = open(plain).await.err().unwrap().to_string();
    assert!(e.contains("no encryption"), "{e}");
    // A CA file that is not one.
    let e = open(format!("{}&sslrootcert=/nonexistent.pem", pg.url))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sslrootcert /nonexistent.pem"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_instance_under_a_running_name_is_refused_and_a_dead_ones_name_is_reused() {
    let pg = Postgres::start();
    let running = std::sync::Arc::new(open(&pg, "edge-1", 60_000).await);
    let beating = {
        let running = running.clone();
        tokio::spawn(async move {
            loop {
                running.heartbeat().await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let second = Store::open(
        &Location::Postgres(pg.url.clone()),
        "agent",
        "edge-1",
        Duration::from_secs(1),
    )
    .await;
    let e = second.err().expect("refused").to_string();
    assert!(e.contains("give each instance its own --instance"), "{e}");
    // Another name is no conflict; a name whose holder died (its lease
    // not renewed) is taken once the lease ends.
    open(&pg, "edge-2", 1_000).await;
    beating.abort();
    let died = open(&pg, "edge-3", 1_000).await;
    drop(died);
    let started = std::time::Instant::now();
    open(&pg, "edge-3", 1_000).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited for the old lease"
    );
}
