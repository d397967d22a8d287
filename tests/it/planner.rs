//! `giot planner draft|eval|train` through the binary, with the shipped weights.

use std::io::Write;
use std::process::Stdio;

use super::harness::giot;

const ROW_ONE: &str = r#"{"theta": [1, 2, 3], "rho": [0.3333333333, 0.3333333333, 0.3333333334], "c": 1, "omega": 10, "m": 1}"#;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn draft_reads_a_state_from_stdin_and_audits_a_feasible_near_optimal_menu() {
    let mut child = giot()
        .args(["planner", "draft", "--state", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ROW_ONE.as_bytes())
        .unwrap();
    let v = json(&child.wait_with_output().unwrap());
    assert_eq!(v["method"], "gdm_structured");
    assert_eq!(v["menu"].as_array().unwrap().len(), 3);
    assert!(
        (v["u_star"].as_f64().unwrap() - 16.728952).abs() < 1e-5,
        "{v}"
    );
    assert!(v["ratio"].as_f64().unwrap() > 0.95, "{v}");
    assert_eq!(v["max_violation"], 0.0);
    assert!(v["ms"].as_f64().unwrap() < 1000.0);
}

#[test]
fn eval_reports_every_method_in_order_and_each_state_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("states.jsonl");
    let second = r#"{"theta": [1, 1.1, 3], "rho": [0.1, 0.1, 0.8], "c": 1, "omega": 10, "m": 1}"#;
    std::fs::write(&file, format!("{ROW_ONE}\n\n{second}\n")).unwrap();
    let v = json(
        &giot()
            .args(["planner", "eval", "--json", "--states-file"])
            .arg(&file)
            .output()
            .unwrap(),
    );
    let names: Vec<&str> = v["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "exact",
            "gdm_raw",
            "gdm_structured",
            "drl",
            "pooled",
            "random"
        ]
    );
    assert_eq!(v["shipped"], "gdm_structured");
    let optima: Vec<f64> = v["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["optimum_per_vehicle"].as_f64().unwrap())
        .collect();
    assert!(
        (optima[0] - 16.728952).abs() < 1e-5 && (optima[1] - 20.216183).abs() < 1e-5,
        "{optima:?}"
    );
    let exact = &v["methods"][0];
    assert_eq!(
        (
            exact["mean_ratio"].as_f64(),
            exact["violation_share"].as_f64()
        ),
        (Some(1.0), Some(0.0))
    );
    for m in v["methods"].as_array().unwrap() {
        for key in ["mean_ratio", "min_ratio", "violation_share", "p50_ms"] {
            assert!(m[key].is_number(), "{m}");
        }
    }
}

#[test]
fn eval_names_the_file_and_line_of_a_malformed_state_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("states.jsonl");
    std::fs::write(&file, format!("{ROW_ONE}\n{{\"theta\": [2, 1], \"rho\": [0.5, 0.5], \"c\": 1, \"omega\": 10, \"m\": 1}}\n")).unwrap();
    let out = giot()
        .args(["planner", "eval", "--states-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2", file.display())) && err.contains("theta"),
        "{err}"
    );
}

#[test]
fn a_tiny_training_run_writes_weights_that_draft_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    let out = giot()
        .args([
            "planner",
            "train",
            "--steps",
            "3",
            "--seed",
            "4",
            "--threads",
            "1",
            "--out",
        ])
        .arg(&weights)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = dir.path().join("state.json");
    std::fs::write(&state, ROW_ONE).unwrap();
    let draft = |w: &std::path::Path| {
        let out = giot()
            .args(["planner", "draft", "--json", "--state"])
            .arg(&state)
            .arg("--weights")
            .arg(w)
            .output()
            .unwrap();
        json(&out)
    };
    let v = draft(&weights);
    assert_eq!(v["max_violation"], 0.0, "{v}");
    assert_eq!(
        draft(&weights)["menu"],
        v["menu"],
        "drafting is reproducible"
    );
    let bad = giot()
        .args(["planner", "draft", "--state"])
        .arg(&state)
        .arg("--weights")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
