//! The incentive market over a real mosquitto: self-selection observed, a
//! cheating contributor caught, and `giot market run` end to end.

use giot::mqtt::ConnectOptions;
use giot::registry::Registry;

use super::harness::{Mosquitto, demo_devices, giot};

fn honest_demo() -> Registry {
    let text = std::fs::read_to_string(demo_devices())
        .unwrap()
        .replace("    cheat: true\n", "");
    giot::registry::parse_str(&text, std::path::Path::new("devices.yaml")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_exact_menu_every_contributor_picks_the_item_of_its_own_type() {
    let broker = Mosquitto::start();
    let registry = honest_demo();
    let report = giot::market::run(
        &registry,
        &ConnectOptions::new(broker.url(), "market"),
        3,
        7,
        None,
    )
    .await
    .unwrap();
    let state = &registry.market.as_ref().unwrap().state;
    assert_eq!(report.rounds.len(), 3);
    for round in &report.rounds {
        assert_eq!(round.contributors.len(), 6);
        for c in &round.contributors {
            assert_eq!(
                c.item,
                Some(c.ty),
                "{} of type {} picked {:?}",
                c.vehicle,
                c.ty,
                c.item
            );
            assert!(
                !c.flagged,
                "{} was flagged: {:?}",
                c.vehicle, c.measured_quality
            );
            // Individually rational: nobody is worse off than opting out.
            assert!(c.utility >= -1e-6, "{}: {}", c.vehicle, c.utility);
            assert!((c.paid - report.menu.items[c.ty].r).abs() < 1e-9);
        }
        assert_eq!(round.participation, 1.0);
    }
    let _ = state;
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
        3,
        7,
        Some(ledger.clone()),
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

#[test]
fn giot_market_run_reports_every_round_and_leaves_a_ledger_that_verifies() {
    let broker = Mosquitto::start();
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
        assert!(r["flagged"].is_array());
    }
    assert_eq!(report["ledger"], ledger.to_str().unwrap());
    // The last round's summary stays retained on the broker.
    let status = std::process::Command::new("mosquitto_sub")
        .args([
            "-p",
            &broker.port.to_string(),
            "-t",
            "giot/market/traffic/status",
            "-C",
            "1",
            "-W",
            "5",
        ])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["round"], 20);
    assert_eq!(status["flagged"][0], "taxi_01");

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
        draft["answer"].as_str().unwrap().contains("violations: 0"),
        "{draft}"
    );
    super::harness::assert_ledger_verifies(&ledger);
}
