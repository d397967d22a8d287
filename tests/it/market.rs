//! The incentive market over a real mosquitto: self-selection observed, a
//! cheating contributor caught, and `giot market run` end to end.

use std::time::Duration;

use giot::market::protocol::{MenuAnnouncement, ProposalOutcome, Status};
use giot::market::{RunOptions, topic, truth};
use giot::mqtt::{ConnectOptions, Link, LinkEvent};
use giot::planner::model::Menu;
use giot::registry::Registry;

use super::harness::{Mosquitto, Process, demo_devices, giot, spawn_sim};

fn honest_demo() -> Registry {
    let text = std::fs::read_to_string(demo_devices())
        .unwrap()
        .replace("    cheat: true\n", "");
    giot::registry::parse_str(&text, std::path::Path::new("devices.yaml")).unwrap()
}

fn rounds(n: u64, sim: bool, ledger: Option<std::path::PathBuf>) -> RunOptions {
    RunOptions {
        rounds: Some(n),
        interval: Duration::ZERO,
        seed: 7,
        ledger,
        sim,
    }
}

fn never() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    rx
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_exact_menu_every_contributor_of_giot_sim_picks_the_item_of_its_own_type() {
    let broker = Mosquitto::start();
    // The contributors are the vehicles of a real `giot sim` process; the
    // cheat is taken out so that every delivery is honest.
    let dir = tempfile::tempdir().unwrap();
    let devices = dir.path().join("devices.yaml");
    std::fs::write(
        &devices,
        std::fs::read_to_string(demo_devices())
            .unwrap()
            .replace("    cheat: true\n", ""),
    )
    .unwrap();
    let _sim = Process(
        giot()
            .args(["sim", "--broker", &broker.url(), "--devices"])
            .arg(&devices)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let registry = honest_demo();
    // Wait for the contributors to announce themselves.
    std::thread::sleep(Duration::from_millis(1500));
    let report = giot::market::run(
        &registry,
        &ConnectOptions::new(broker.url(), "market"),
        rounds(3, false, None),
        never(),
        |_| {},
    )
    .await
    .unwrap();
    let state = &registry.market.as_ref().unwrap().state;
    let mut types_seen = std::collections::HashSet::new();
    assert_eq!(report.rounds.len(), 3);
    for round in &report.rounds {
        assert_eq!(round.contributors.len(), 6);
        assert!(round.silent.is_empty(), "{:?}", round.silent);
        for c in &round.contributors {
            // The type is the simulation's ground truth, not the choice.
            let ty = c.ty.expect("giot sim publishes each contributor's type");
            types_seen.insert(ty);
            assert_eq!(
                c.item,
                Some(ty),
                "{} of type {ty} picked {:?}",
                c.vehicle,
                c.item
            );
            assert!(
                !c.flagged,
                "{} was flagged: {:?}",
                c.vehicle, c.measured_quality
            );
            // Individually rational: nobody is worse off than opting out.
            assert!(c.utility >= -1e-6, "{}: {}", c.vehicle, c.utility);
            assert!((c.paid - report.menu.items[ty].r).abs() < 1e-9);
            assert!(state.vehicle_utility(ty, report.menu.items[ty]) >= -1e-9);
        }
        assert_eq!(round.participation, 1.0);
    }
    assert!(
        types_seen.len() >= 2,
        "only types {types_seen:?} were drawn"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cheating_contributor_is_caught_and_not_paid_and_the_ledger_says_so() {
    let broker = Mosquitto::start();
    let registry = Registry::load(&demo_devices()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("market.ledger");
    let report = giot::market::run(
        &registry,
        &ConnectOptions::new(broker.url(), "market"),
        rounds(3, true, Some(ledger.clone())),
        never(),
        |_| {},
    )
    .await
    .unwrap();
    for round in &report.rounds {
        assert_eq!(round.flagged, ["taxi_01"]);
        let taxi = round
            .contributors
            .iter()
            .find(|c| c.vehicle == "taxi_01")
            .unwrap();
        assert_eq!(taxi.paid, 0.0);
        assert!(
            round
                .contributors
                .iter()
                .filter(|c| c.vehicle != "taxi_01")
                .all(|c| !c.flagged && c.paid > 0.0)
        );
    }
    let text = std::fs::read_to_string(&ledger).unwrap();
    let settlements: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"settlement\"") && l.contains("taxi_01"))
        .collect();
    assert_eq!(settlements.len(), 3);
    assert!(
        settlements
            .iter()
            .all(|l| l.contains("\"flagged\":true") && l.contains("\"paid\":0.0")),
        "{settlements:?}"
    );
}

/// Regression (issue 12, the market's messages as types): a choice or a
/// delivery that is not the protocol's is skipped, or read as it always was.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_choices_and_deliveries_are_skipped_or_read_as_before() {
    let broker = Mosquitto::start();
    let registry = honest_demo();
    let vehicles: Vec<String> = giot::market::vehicles(&registry)
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert!(vehicles.len() >= 6, "{vehicles:?}");
    let mut link = Link::start(
        &ConnectOptions::new(broker.url(), "rogue"),
        vec![topic("traffic", "menu")],
    )
    .unwrap();
    link.wait_connected(Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    let v = vehicles.clone();
    let rogue = tokio::spawn(async move {
        while let Some(e) = link.recv().await {
            let LinkEvent::Message { payload, .. } = e else {
                continue;
            };
            let Ok(MenuAnnouncement { round, .. }) = serde_json::from_slice(&payload) else {
                continue;
            };
            let at =
                |i: usize, kind: &str| topic("traffic", &format!("contributors/{}/{kind}", v[i]));
            let t = truth(round);
            for (i, kind, payload) in [
                (0, "choice", "{not json".to_string()),
                (1, "choice", r#"{"item": 0}"#.to_string()),
                (
                    2,
                    "choice",
                    format!(r#"{{"round": {round}, "item": "one"}}"#),
                ),
                (
                    3,
                    "choice",
                    format!(r#"{{"round": {}, "item": 0}}"#, round + 100),
                ),
                (4, "choice", format!(r#"{{"round": {round}, "item": 0}}"#)),
                (
                    4,
                    "data",
                    format!(r#"{{"round": {round}, "readings": [{t}, "x", {t}]}}"#),
                ),
                (5, "choice", format!(r#"{{"round": {round}, "item": 0}}"#)),
                (
                    5,
                    "data",
                    format!(r#"{{"round": {round}, "readings": "fast"}}"#),
                ),
            ] {
                let _ = link.publish(&at(i, kind), payload, false).await;
            }
        }
    });
    let report = giot::market::run(
        &registry,
        &ConnectOptions::new(broker.url(), "market"),
        rounds(2, false, None),
        never(),
        |_| {},
    )
    .await
    .unwrap();
    rogue.abort();
    assert_eq!(report.rounds.len(), 2);
    for round in &report.rounds {
        let mut silent = round.silent.clone();
        silent.sort();
        let mut expected = vec![
            vehicles[0].clone(),
            vehicles[1].clone(),
            vehicles[3].clone(),
        ];
        expected.extend(vehicles[6..].iter().cloned());
        expected.sort();
        assert_eq!(silent, expected, "round {}", round.round);
        assert_eq!(
            round.opted_out,
            [vehicles[2].clone()],
            "round {}",
            round.round
        );
        let c = |i: usize| {
            round
                .contributors
                .iter()
                .find(|c| c.vehicle == vehicles[i])
                .unwrap()
        };
        assert_eq!(c(4).item, Some(0));
        assert!(
            !c(4).flagged && c(4).paid == report.menu.items[0].r,
            "{:?}",
            c(4)
        );
        assert_eq!(c(5).item, Some(0));
        assert!(c(5).flagged && c(5).paid == 0.0, "{:?}", c(5));
    }
}

#[test]
fn giot_market_run_reports_every_round_and_leaves_a_ledger_that_verifies() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "2");
    std::thread::sleep(Duration::from_millis(1000));
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("m.ledger");
    let out = giot()
        .args([
            "market",
            "run",
            "--rounds",
            "20",
            "--json",
            "--broker",
            &broker.url(),
            "--devices",
        ])
        .arg(demo_devices())
        .arg("--ledger")
        .arg(&ledger)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 20);
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r["round"], i as u64 + 1);
        for field in ["participation", "server_utility", "payments", "shortfalls"] {
            assert!(r[field].is_number(), "{field} in {r}");
        }
        assert_eq!(r["flagged"], serde_json::json!(["taxi_01"]), "{r}");
        assert_eq!(r["silent"], serde_json::json!([]), "{r}");
    }
    assert_eq!(report["ledger"], ledger.to_str().unwrap());
    // The last round's summary stays retained on the broker.
    let status = status(&broker);
    assert_eq!(status.round, 20);
    assert_eq!(status.flagged.unwrap()[0], "taxi_01");

    // The operator agent answers from it, and drafts without publishing.
    let ask = |goal: &str| {
        let out = giot()
            .args(["run", "--json", "--broker", &broker.url(), "--devices"])
            .arg(demo_devices())
            .arg("--model")
            .arg(super::llm::model_path())
            .arg(goal)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let answer = ask("how is the traffic market doing?");
    assert_eq!(answer["status"], "answered", "{answer}");
    assert!(
        answer["answer"].as_str().unwrap().contains("round 20"),
        "{answer}"
    );
    let draft = ask("draft a cheaper menu for the traffic market");
    assert_eq!(draft["status"], "answered", "{draft}");
    assert!(draft["actions"].as_array().unwrap().is_empty());
    assert!(
        draft["answer"]
            .as_str()
            .unwrap()
            .contains("no IR/IC violations"),
        "{draft}"
    );
    super::harness::assert_ledger_verifies(&ledger);
}

/// The retained market status, read with mosquitto_sub (empty when there is
/// none yet).
fn status(broker: &Mosquitto) -> Status {
    let out = std::process::Command::new("mosquitto_sub")
        .args([
            "-p",
            &broker.port.to_string(),
            "-t",
            "giot/market/traffic/status",
        ])
        .args(["-C", "1", "-W", "5"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// Waits until the retained status satisfies `ok`.
fn status_until(broker: &Mosquitto, what: &str, ok: impl Fn(&Status) -> bool) -> Status {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(broker);
        if ok(&s) {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waiting for {what}; last status: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn an_operator_publishes_a_cheaper_menu_only_with_a_yes_and_learns_why_participation_dropped() {
    let broker = Mosquitto::start();
    let sim = spawn_sim(&broker.url(), "2");
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("m.ledger");
    let _market = Process(
        giot()
            .args([
                "market",
                "run",
                "--interval",
                "0.5",
                "--broker",
                &broker.url(),
                "--devices",
            ])
            .arg(demo_devices())
            .arg("--ledger")
            .arg(&ledger)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let first = status_until(&broker, "a full round", |s| s.participation == Some(1.0));
    let ask = |goal: &str, yes: bool| {
        let mut cmd = giot();
        cmd.args(["run", "--json", "--broker", &broker.url(), "--devices"])
            .arg(demo_devices())
            .arg("--model")
            .arg(super::llm::model_path());
        if yes {
            cmd.arg("--yes");
        }
        let out = cmd.arg(goal).output().unwrap();
        (
            out.status.code(),
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr))),
        )
    };

    // Without a yes nothing is proposed.
    let (code, o) = ask("publish the cheaper menu", false);
    assert_eq!(
        (code, o["status"].as_str()),
        (Some(3), Some("needs_confirmation")),
        "{o}"
    );
    assert_eq!(o["actions"][0]["topic"], "giot/market/traffic/proposal");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(status(&broker).menu, first.menu);
    assert!(status(&broker).proposal.is_none());

    // With one, the supervisor adopts it and the echo confirms it.
    let (code, o) = ask("publish the cheaper menu", true);
    assert_eq!(code, Some(0), "{o}");
    assert_eq!(o["status"], "executed", "{o}");
    assert_eq!(o["actions"][0]["confirmed"], true, "{o}");
    let proposed: Menu = serde_json::from_value(o["actions"][0]["value"].clone()).unwrap();
    let adopted = status_until(&broker, "a round with the new menu", |s| {
        s.menu.as_ref() == Some(&proposed) && s.round >= s.menu_from_round
    });
    assert!(
        matches!(&adopted.proposal, Some(ProposalOutcome::Adopted { menu, .. }) if *menu == proposed),
        "{:?}",
        adopted.proposal
    );
    assert!(
        adopted.payments.unwrap() < first.payments.unwrap(),
        "the cheaper menu pays {:?} against {:?}",
        adopted.payments,
        first.payments
    );

    // The fleet goes quiet: the agent says who stopped answering.
    drop(sim);
    status_until(&broker, "a round without contributors", |s| {
        s.participation == Some(0.0)
    });
    let (_, why) = ask("why did participation drop?", false);
    assert_eq!(why["status"], "answered", "{why}");
    let text = why["answer"].as_str().unwrap();
    assert!(
        text.contains("sent no choice") && text.contains("taxi_01"),
        "{text}"
    );

    let entries = std::fs::read_to_string(&ledger).unwrap();
    assert!(entries.contains("\"proposal\"") && entries.contains("\"adopted\""));
    super::harness::assert_ledger_verifies(&ledger);
}
