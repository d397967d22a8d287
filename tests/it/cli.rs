//! The binary's registry commands and exit codes.

use super::harness::{demo_devices, giot};

#[test]
fn devices_check_accepts_the_demo_fleet() {
    let out = giot()
        .args(["devices", "check"])
        .arg(demo_devices())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn devices_check_names_file_line_and_field_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "devices:\n  - id: lamp\n    kind: light\n    state_topic: a/state\n    command_topic: a/set\n    capabilities:\n      - {name: brightness, type: number, min: 9, max: 1}\n",
    )
    .unwrap();
    let out = giot()
        .args(["devices", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:7:", file.display())) && err.contains("capabilities[0].min"),
        "{err}"
    );
}

#[test]
fn a_missing_registry_file_is_a_configuration_error() {
    let out = giot()
        .args(["devices", "list", "--devices", "/nonexistent/devices.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/devices.yaml"));
}

#[test]
fn devices_list_json_holds_every_device() {
    let out = giot()
        .args(["devices", "list", "--json", "--devices"])
        .arg(demo_devices())
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let registry = super::harness::demo_registry();
    assert_eq!(list.as_array().unwrap().len(), registry.len());
    assert_eq!(list[0]["id"], registry.devices()[0].id.as_str());
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let out = giot().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("_giot") && script.contains("bridge"),
        "{script}"
    );
    let out = giot().arg("man").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH giot 1"));
}

#[test]
fn gpu_layers_are_refused_clearly_in_a_cpu_build() {
    if cfg!(feature = "cuda") {
        return;
    }
    let out = giot()
        .args(["run", "--gpu-layers", "20", "turn on the hall light"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
}
