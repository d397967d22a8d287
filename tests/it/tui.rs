//! The TUI end to end: `giot demo` inside tmux, a goal typed with
//! send-keys, and the device tree read back with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

use super::harness::{demo_devices, free_port};
use super::llm::model_path;

pub(super) struct Tmux(pub(super) String);

impl Tmux {
    pub(super) fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.0])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(super) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(super) fn wait_for(&self, what: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

#[test]
fn a_goal_typed_in_the_demo_changes_the_device_in_the_tree() {
    let port = free_port();
    let session = Tmux(format!("giot-e2e-{port}"));
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "{} demo --port {port} --devices {} --model {} --log-file {}",
        env!("CARGO_BIN_EXE_giot"),
        demo_devices().display(),
        model_path().display(),
        dir.path().join("giot.log").display()
    );
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            "150",
            "-y",
            "45",
            &command,
        ])
        .status()
        .expect("tmux is installed (scripts/setup)");
    assert!(status.success());
    session.wait_for("ready", Duration::from_secs(60));
    session.wait_for("● broker", Duration::from_secs(10));

    session.keys(&[":"]);
    session.keys(&["-l", "dim the hall light to 10%"]);
    session.keys(&["Enter"]);
    session.wait_for(
        "hall_light.brightness = 10 confirmed",
        Duration::from_secs(10),
    );

    // Find the light in the tree and open it: its brightness shows 10%.
    // Tab leaves the goal line (Escape followed at once by a key reads as Alt+key).
    session.keys(&["Tab"]);
    session.wait_for("/ filter the tree", Duration::from_secs(5));
    session.keys(&["/"]);
    session.keys(&["-l", "hallway ceiling"]);
    session.wait_for("filter: hallway ceiling", Duration::from_secs(5));
    session.keys(&["Enter", "j", "l"]);
    let screen = session.wait_for("brightness     ", Duration::from_secs(5));
    let line = screen
        .lines()
        .find(|l| l.contains("brightness     "))
        .unwrap();
    assert!(line.contains("10%"), "{screen}");

    session.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while session.screen().contains("Devices") {
        assert!(Instant::now() < deadline, "giot did not quit on q");
        std::thread::sleep(Duration::from_millis(100));
    }
}
