//! `giot bridge` against a real mosquitto, the real model and `giot sim`:
//! bursts, broker and bridge crashes, hostile input.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use giot::bridge::store::{Location, Stage, Store};
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use serde_json::{Value, json};

use super::harness::{
    Mosquitto, Postgres, Process, Watcher, demo_devices, demo_registry, giot, spawn_sim,
};
use super::llm::model_path;

const WAIT: Duration = Duration::from_secs(30);

pub(super) fn start_bridge(url: &str, store: &Path, extra: &[&str]) -> Child {
    giot()
        .args([
            "bridge",
            "--broker",
            url,
            "--metrics-every",
            "1",
            "--confirm-timeout",
            "2",
            "--devices",
        ])
        .arg(demo_devices())
        .arg("--model")
        .arg(model_path())
        .arg("--store")
        .arg(store)
        .args(extra)
        // GIOT_TEST_BRIDGE_LOG=1 shows the bridges' logs when a test fails.
        .stderr(if std::env::var_os("GIOT_TEST_BRIDGE_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap()
}

/// A client of the bridge: sends goals, collects results by id.
pub(super) struct Client {
    link: Link,
    pub(super) results: HashMap<String, Vec<Value>>,
    online: bool,
}

impl Client {
    pub(super) async fn start(url: &str) -> Self {
        let mut link = Link::start(
            &ConnectOptions::new(url, "client"),
            vec![
                "giot/operator/results/#".into(),
                "giot/operator/status".into(),
            ],
        )
        .unwrap();
        link.wait_connected(WAIT, |_| {}).await.unwrap();
        Self {
            link,
            results: HashMap::new(),
            online: false,
        }
    }

    pub(super) async fn send(&self, payload: &Value) {
        self.link
            .publish("giot/operator/goals", payload.to_string(), false)
            .await
            .unwrap();
    }

    async fn send_raw(&self, payload: Vec<u8>) {
        self.link
            .publish("giot/operator/goals", payload, false)
            .await
            .unwrap();
    }

    /// Takes events until `done` holds or `timeout` passes.
    pub(super) async fn pump_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.link.recv()).await {
                Ok(Some(LinkEvent::Message { topic, payload, .. })) => {
                    if topic == "giot/operator/status" {
                        self.online = &payload[..] == b"online";
                    } else if let Some(id) = topic.strip_prefix("giot/operator/results/") {
                        let v: Value = serde_json::from_slice(&payload).unwrap();
                        self.results.entry(id.to_string()).or_default().push(v);
                    }
                }
                Ok(Some(_)) => {}
                _ => return false,
            }
        }
        true
    }

    pub(super) async fn wait_online(&mut self) {
        self.online = false;
        assert!(
            self.pump_until(Duration::from_secs(60), |c| c.online).await,
            "the bridge did not come online"
        );
    }
}

/// Goals that each set one device to a distinct value, with what they set.
fn distinct_goals(prefix: &str) -> Vec<(String, String, &'static str, Value)> {
    let registry = demo_registry();
    let mut goals = Vec::new();
    for (i, d) in registry
        .devices()
        .iter()
        .filter(|d| d.kind == "light")
        .enumerate()
    {
        let value = 11 + i as i64 * 3;
        let goal = format!("set the {} brightness to {value}%", d.name.to_lowercase());
        goals.push((format!("{prefix}-{i}"), goal, "brightness", json!(value)));
    }
    goals
}

fn device_of(goal: &str) -> String {
    let registry = demo_registry();
    registry
        .devices()
        .iter()
        .find(|d| goal.contains(&d.name.to_lowercase()))
        .map(|d| d.id.clone())
        .unwrap()
}

/// A broker, the simulated fleet, a store and a client, ready for a bridge.
struct Setup {
    broker: Mosquitto,
    _sim: Process,
    dir: tempfile::TempDir,
    /// `--store`: a redb file, or a PostgreSQL URL.
    store: String,
    _postgres: Option<Postgres>,
    client: Client,
}

/// Runs a reliability test on each store: `NAME::embedded` with a redb
/// file, `NAME::postgres` with a PostgreSQL server of its own.
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn embedded() {
                super::$name(super::Setup::new().await).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$name(super::Setup::postgres().await).await
            }
        }
    };
}

impl Setup {
    async fn new() -> Self {
        Self::with(None).await
    }

    async fn postgres() -> Self {
        Self::with(Some(Postgres::start())).await
    }

    async fn with(postgres: Option<Postgres>) -> Self {
        let broker = Mosquitto::start();
        let sim = spawn_sim(&broker.url(), "5");
        let dir = tempfile::tempdir().unwrap();
        let store = match &postgres {
            Some(pg) => pg.url.clone(),
            None => dir.path().join("bridge.redb").display().to_string(),
        };
        let client = Client::start(&broker.url()).await;
        Self {
            broker,
            _sim: sim,
            dir,
            store,
            _postgres: postgres,
            client,
        }
    }

    /// A bridge on the setup's broker and store, killed on drop (a test
    /// that panics leaves no bridge running), once it is online.
    async fn bridge(&mut self, extra: &[&str]) -> Process {
        let schedules = self.dir.path().join("bridge.schedules.json");
        let rules = self.dir.path().join("bridge.rules.json");
        let mut args = extra.to_vec();
        args.extend([
            "--schedules",
            schedules.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ]);
        let bridge = Process(start_bridge(
            &self.broker.url(),
            Path::new(&self.store),
            &args,
        ));
        self.client.wait_online().await;
        bridge
    }

    /// Every goal's stage, executions and status, from the store (once
    /// the bridge has stopped: a redb file has one process at a time).
    async fn executions(&self) -> HashMap<String, (Stage, u32, String)> {
        let store = Store::open(
            &Location::parse(&self.store).unwrap(),
            "operator",
            "test",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        store
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|(id, r)| {
                let status = r
                    .result
                    .as_ref()
                    .map_or("", |r| r.outcome.status.as_str())
                    .to_string();
                (id, (r.stage, r.executions, status))
            })
            .collect()
    }
}

pub(super) async fn stop(mut bridge: Process) {
    let pid = bridge.0.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::task::block_in_place(|| bridge.0.wait()).unwrap();
    assert!(
        status.success(),
        "SIGTERM must stop the bridge cleanly: {status}"
    );
}

async fn send_missing(client: &Client, goals: &[(String, String, &'static str, Value)]) {
    for (id, goal, _, _) in goals {
        if !client.results.contains_key(id) {
            client.send(&json!({"id": id, "goal": goal})).await;
        }
    }
}

async fn until_all_answered(client: &mut Client, goals: &[(String, String, &'static str, Value)]) {
    for _ in 0..20 {
        let ids: Vec<String> = goals.iter().map(|g| g.0.clone()).collect();
        if client
            .pump_until(Duration::from_secs(3), |c| {
                ids.iter().all(|id| c.results.contains_key(id))
            })
            .await
        {
            return;
        }
        send_missing(client, goals).await;
    }
    panic!("some goals never got a result");
}

async fn assert_devices_show(url: &str, goals: &[(String, String, &'static str, Value)]) {
    let mut watcher = Watcher::start(url, demo_registry());
    let wanted: Vec<(String, &'static str, Value)> = goals
        .iter()
        .map(|(_, g, c, v)| (device_of(g), *c, v.clone()))
        .collect();
    watcher
        .until(WAIT, "the devices to show what the goals asked", |f| {
            wanted
                .iter()
                .all(|(d, c, v)| f.value(d, c).as_ref() == Some(v))
        })
        .await;
}

async fn a_burst_of_200_goals_gets_exactly_one_result_each(mut s: Setup) {
    let bridge = s.bridge(&[]).await;
    let goals = [
        "turn on the hall light",
        "dim the desk lamp to 30%",
        "is the front door locked?",
        "turn on the sauna",
    ];
    for i in 0..200 {
        s.client
            .send(&json!({"id": format!("b{i}"), "goal": goals[i % goals.len()]}))
            .await;
    }
    assert!(
        s.client.pump_until(WAIT, |c| c.results.len() == 200).await,
        "only {} results",
        s.client.results.len()
    );
    // Nothing more arrives: exactly one result per id.
    s.client.pump_until(Duration::from_secs(2), |_| false).await;
    for i in 0..200 {
        let results = &s.client.results[&format!("b{i}")];
        assert_eq!(results.len(), 1, "b{i}: {results:?}");
        assert_eq!(results[0]["id"], format!("b{i}"));
    }
    assert_eq!(s.client.results["b2"][0]["status"], "answered");
    assert_eq!(s.client.results["b3"][0]["status"], "refused");
    stop(bridge).await;
}

async fn a_broker_killed_mid_run_loses_no_goal_and_repeats_none(mut s: Setup) {
    let bridge = s.bridge(&[]).await;
    let goals = distinct_goals("k");
    send_missing(&s.client, &goals).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    s.broker.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.broker.restart();
    s.client.wait_online().await;
    until_all_answered(&mut s.client, &goals).await;
    for (id, ..) in &goals {
        let result = &s.client.results[id][0];
        assert!(result.get("ledger_error").is_none(), "{result}");
    }
    assert_devices_show(&s.broker.url(), &goals).await;
    stop(bridge).await;
    let record = s.executions().await;
    for (id, ..) in &goals {
        let (stage, runs, status) = &record[id];
        assert_eq!(*stage, Stage::Done, "{id}");
        assert_eq!(status, "executed", "{id}");
        assert_eq!(*runs, 1, "{id} was executed {runs} times");
    }
}

async fn a_bridge_killed_mid_run_and_restarted_loses_no_goal_and_repeats_none(mut s: Setup) {
    let mut bridge = s.bridge(&[]).await;
    let goals = distinct_goals("r");
    send_missing(&s.client, &goals).await;
    tokio::time::sleep(Duration::from_millis(40)).await;
    bridge.0.kill().unwrap(); // SIGKILL
    bridge.0.wait().unwrap();
    let bridge = s.bridge(&[]).await;
    until_all_answered(&mut s.client, &goals).await;
    stop(bridge).await;
    let records = s.executions().await;
    for (id, (stage, runs, status)) in &records {
        assert_eq!(*stage, Stage::Done, "{id}");
        assert!(*runs <= 1, "{id} was executed {runs} times");
        if status == "executed" {
            assert_eq!(*runs, 1, "{id}");
        }
    }
    // A SIGKILL between "executing" and the publish leaves a goal that the
    // restarted bridge only verifies (never republishes), so its device may
    // not show the value; every goal that was executed must.
    let executed: Vec<_> = goals
        .iter()
        .filter(|g| records.get(&g.0).is_some_and(|r| r.2 == "executed"))
        .cloned()
        .collect();
    assert!(!executed.is_empty(), "{records:?}");
    assert_devices_show(&s.broker.url(), &executed).await;
}

async fn malformed_and_unsigned_goals_are_answered_or_dropped_and_the_bridge_keeps_serving(
    mut s: Setup,
) {
    let key_file = s.dir.path().join("goal.key");
    let key = [42u8; 32];
    std::fs::write(&key_file, key).unwrap();
    let bridge = s
        .bridge(&["--goal-key-file", key_file.to_str().unwrap()])
        .await;

    s.client.send_raw(b"{not json".to_vec()).await;
    s.client.send_raw(b"\xff\xfe\xfd".to_vec()).await;
    s.client
        .send_raw(
            json!({"goal": "turn on the hall light"})
                .to_string()
                .into_bytes(),
        )
        .await;
    s.client.send_raw(vec![b'x'; 1 << 20]).await;
    s.client
        .send(&json!({"id": "unsigned", "goal": "turn on the hall light"}))
        .await;
    s.client
        .send(&json!({"id": "forged", "goal": "turn on the hall light", "sig": "00".repeat(32)}))
        .await;
    let signed = giot::bridge::message::GoalMessage::goal("signed", "turn on the hall light")
        .signed(&key)
        .to_json();
    s.client
        .send(&serde_json::from_str::<serde_json::Value>(&signed).unwrap())
        .await;

    assert!(
        s.client.pump_until(WAIT, |c| c.results.len() == 3).await,
        "{:?}",
        s.client.results
    );
    assert_eq!(s.client.results["unsigned"][0]["status"], "rejected");
    assert_eq!(s.client.results["forged"][0]["status"], "rejected");
    assert_eq!(s.client.results["forged"][0]["reason"], "bad signature");
    assert_eq!(s.client.results["signed"][0]["status"], "executed");
    stop(bridge).await;
    let record = s.executions().await;
    assert!(!record.contains_key("unsigned") && !record.contains_key("forged"));
}

async fn a_confirmation_token_runs_the_plan_once(mut s: Setup) {
    let bridge = s.bridge(&[]).await;
    s.client
        .send(&json!({"id": "ask", "goal": "unlock the front door"}))
        .await;
    assert!(
        s.client
            .pump_until(WAIT, |c| c.results.contains_key("ask"))
            .await
    );
    let asked = &s.client.results["ask"][0];
    assert_eq!(asked["status"], "needs_confirmation");
    let token = asked["confirm_token"].as_str().unwrap().to_string();
    s.client
        .send(&json!({"id": "yes1", "confirm": token}))
        .await;
    s.client
        .send(&json!({"id": "yes2", "confirm": token}))
        .await;
    s.client
        .send(&json!({"id": "bogus", "confirm": "nope"}))
        .await;
    assert!(
        s.client
            .pump_until(WAIT, |c| ["yes1", "yes2", "bogus"]
                .iter()
                .all(|k| c.results.contains_key(*k)))
            .await
    );
    assert_eq!(s.client.results["yes1"][0]["status"], "executed");
    assert_eq!(s.client.results["yes1"][0]["actions"][0]["confirmed"], true);
    assert_eq!(s.client.results["yes2"][0]["status"], "rejected");
    assert_eq!(s.client.results["bogus"][0]["status"], "rejected");
    stop(bridge).await;
}

async fn a_flood_beyond_the_queue_is_answered_overloaded_not_dropped(mut s: Setup) {
    let bridge = s.bridge(&["--queue", "2"]).await;
    for i in 0..60 {
        s.client
            .send(&json!({"id": format!("f{i}"), "goal": "dim the hall light to 20%"}))
            .await;
    }
    assert!(
        s.client.pump_until(WAIT, |c| c.results.len() == 60).await,
        "only {} results",
        s.client.results.len()
    );
    s.client.pump_until(Duration::from_secs(1), |_| false).await;
    assert!(s.client.results.values().all(|r| r.len() == 1));
    let overloaded = s
        .client
        .results
        .values()
        .filter(|r| r[0]["reason"] == "overloaded")
        .count();
    assert!(overloaded > 0, "a queue of 2 took 60 goals at once");
    assert!(
        s.client
            .results
            .values()
            .any(|r| r[0]["status"] == "executed")
    );
    stop(bridge).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn market_goals_work_over_the_bridge_and_a_menu_needs_a_confirmation_token() {
    let mut s = Setup::new().await;
    let _market = Process(
        giot()
            .args(["market", "run", "--sim", "--interval", "0.5", "--no-ledger"])
            .args(["--broker", &s.broker.url(), "--devices"])
            .arg(demo_devices())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let bridge = s.bridge(&[]).await;
    let mut status = json!(null);
    for attempt in 0..20 {
        let id = format!("status{attempt}");
        s.client
            .send(&json!({"id": id, "goal": "how is the traffic market doing?"}))
            .await;
        assert!(
            s.client
                .pump_until(WAIT, |c| c.results.contains_key(&id))
                .await
        );
        status = s.client.results[&id][0].clone();
        if status["answer"]
            .as_str()
            .is_some_and(|a| a.contains("after round"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status["status"], "answered", "{status}");
    assert!(
        status["answer"].as_str().unwrap().contains("participation"),
        "{status}"
    );

    s.client
        .send(&json!({"id": "menu", "goal": "publish the cheaper menu"}))
        .await;
    assert!(
        s.client
            .pump_until(WAIT, |c| c.results.contains_key("menu"))
            .await
    );
    let asked = &s.client.results["menu"][0];
    assert_eq!(asked["status"], "needs_confirmation", "{asked}");
    assert_eq!(asked["actions"][0]["topic"], "giot/market/traffic/proposal");
    let token = asked["confirm_token"].as_str().unwrap().to_string();
    s.client.send(&json!({"id": "yes", "confirm": token})).await;
    assert!(
        s.client
            .pump_until(WAIT, |c| c.results.contains_key("yes"))
            .await
    );
    let done = &s.client.results["yes"][0];
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(done["actions"][0]["confirmed"], true, "{done}");
    drop(bridge);
}

/// Issue 15, kind 9: a signed "plan only" goal rejected as overloaded is
/// recorded, and a third party replaying it with `dry_run: false` is
/// refused (the signature covers every field), while the exact replay is
/// answered from the record.
async fn kind9_a_replayed_overloaded_goal_with_dry_run_changed_is_refused_and_answered_from_the_record(
    mut s: Setup,
) {
    use giot::bridge::message::GoalMessage;

    let key_file = s.dir.path().join("goal.key");
    let key = [7u8; 32];
    std::fs::write(&key_file, key).unwrap();
    let bridge = s
        .bridge(&[
            "--goal-key-file",
            key_file.to_str().unwrap(),
            "--queue",
            "1",
        ])
        .await;
    let signed: Vec<Value> = (0..40)
        .map(|i| {
            let mut m = GoalMessage::goal(&format!("p{i}"), "turn on the hall light");
            m.dry_run = Some(true);
            serde_json::from_str(&m.signed(&key).to_json()).unwrap()
        })
        .collect();
    for m in &signed {
        s.client.send(m).await;
    }
    assert!(s.client.pump_until(WAIT, |c| c.results.len() == 40).await);
    let over = signed
        .iter()
        .find(|m| s.client.results[m["id"].as_str().unwrap()][0]["reason"] == "overloaded")
        .expect("a queue of 1 took 40 goals at once")
        .clone();
    let id = over["id"].as_str().unwrap().to_string();
    // The replay that would act: same id and signature, dry_run false.
    let mut forged = over.clone();
    forged["dry_run"] = json!(false);
    s.client.send(&forged).await;
    // The exact replay: answered from the record, the same rejection.
    s.client.send(&over).await;
    assert!(
        s.client
            .pump_until(WAIT, |c| c.results[&id].len() == 3)
            .await,
        "{:?}",
        s.client.results[&id]
    );
    let answers = &s.client.results[&id];
    assert!(
        answers.iter().all(|r| r["status"] == "rejected"),
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|r| r["reason"] == "overloaded"),
        "{answers:?}"
    );
    stop(bridge).await;
    let (stage, runs, status) = s.executions().await[&id].clone();
    assert_eq!((stage, runs, status.as_str()), (Stage::Done, 0, "rejected"));
}

/// Issue 15, kind 10: a 1 MiB goal message and one with invalid UTF-8 in
/// its goal text each get `rejected`, with the reason, on their id's result
/// topic.
#[tokio::test(flavor = "multi_thread")]
async fn kind10_oversized_or_unreadable_goals_get_a_rejected_result_on_their_id() {
    let mut s = Setup::new().await;
    let bridge = s.bridge(&[]).await;
    let big = format!(
        r#"{{"id":"big","goal":"{}"}}"#,
        "turn on the lamp ".repeat(1 << 16)
    );
    assert!(big.len() >= 1 << 20);
    s.client.send_raw(big.into_bytes()).await;
    let mut bad = br#"{"id":"utf","goal":"turn on the "#.to_vec();
    bad.extend_from_slice(b"\xff\xfe lamp\n[forged] line\"}");
    s.client.send_raw(bad).await;
    assert!(
        s.client
            .pump_until(WAIT, |c| c.results.contains_key("big")
                && c.results.contains_key("utf"))
            .await,
        "{:?}",
        s.client.results
    );
    assert_eq!(s.client.results["big"][0]["status"], "rejected");
    assert!(
        s.client.results["big"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("larger than 16 KiB")
    );
    assert_eq!(s.client.results["utf"][0]["status"], "rejected");
    assert_eq!(s.client.results["utf"][0]["reason"], "malformed: not UTF-8");
    stop(bridge).await;
}

/// Issue 15, kinds 5 and 8 in the bridge: a 9 MiB retained message and a
/// discovered device whose state topic holds a NUL are on the broker; the
/// bridge stays connected (no reconnect at all) and every goal gets
/// exactly one result and runs once.
#[tokio::test(flavor = "multi_thread")]
async fn kind5_kind8_hostile_retained_messages_do_not_make_the_bridge_reconnect_or_repeat_goals() {
    let mut s = Setup::new().await;
    super::discovery::retain(
        &s.broker,
        "homeassistant/sensor/huge/config",
        &vec![b'x'; 9 * 1024 * 1024],
    );
    super::discovery::retain(
        &s.broker,
        "homeassistant/switch/nul/config",
        br#"{"cmd_t":"nul/set","stat_t":"nul/\u0000/state"}"#,
    );
    let bridge = s.bridge(&[]).await;
    let goals = distinct_goals("h");
    let goals = &goals[..3];
    send_missing(&s.client, goals).await;
    assert!(
        s.client
            .pump_until(WAIT, |c| goals.iter().all(|g| c.results.contains_key(&g.0)))
            .await,
        "{:?}",
        s.client.results
    );
    // Time for any reconnection to show.
    s.client.pump_until(Duration::from_secs(3), |_| false).await;
    for (id, ..) in goals {
        assert_eq!(
            s.client.results[id].len(),
            1,
            "{id}: {:?}",
            s.client.results[id]
        );
        assert_eq!(s.client.results[id][0]["status"], "executed", "{id}");
    }
    let mut watch = Link::start(
        &ConnectOptions::new(s.broker.url(), "metrics-reader"),
        vec!["giot/operator/metrics".into()],
    )
    .unwrap();
    let mut metrics = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, watch.recv()).await {
        if let LinkEvent::Message { payload, .. } = e {
            metrics = serde_json::from_slice(&payload).unwrap();
            break;
        }
    }
    assert_eq!(metrics["reconnects"], 0, "{metrics}");
    stop(bridge).await;
    let record = s.executions().await;
    for (id, ..) in goals {
        assert_eq!(record[id].1, 1, "{id} ran {} times", record[id].1);
    }
}

// The reliability tests above, on the embedded store and on PostgreSQL.
on_both_stores!(a_burst_of_200_goals_gets_exactly_one_result_each);
on_both_stores!(a_broker_killed_mid_run_loses_no_goal_and_repeats_none);
on_both_stores!(a_bridge_killed_mid_run_and_restarted_loses_no_goal_and_repeats_none);
on_both_stores!(malformed_and_unsigned_goals_are_answered_or_dropped_and_the_bridge_keeps_serving);
on_both_stores!(a_confirmation_token_runs_the_plan_once);
on_both_stores!(a_flood_beyond_the_queue_is_answered_overloaded_not_dropped);
on_both_stores!(
    kind9_a_replayed_overloaded_goal_with_dry_run_changed_is_refused_and_answered_from_the_record
);
