//! Test harness: a real mosquitto on a free loopback port, and helpers to
//! watch a broker until something is true.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use giot::fleet::Fleet;
use giot::mqtt::{ConnectOptions, Link};
use giot::registry::Registry;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mosquitto_binary() -> PathBuf {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed: run scripts/setup")
}

/// A mosquitto process on 127.0.0.1, killed on drop.
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Self {
            port: free_port(),
            dir,
            child: None,
        };
        m.spawn();
        m
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
                self.port,
                self.dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the broker (SIGKILL): clients see the connection drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn demo_registry() -> Registry {
    Registry::load(&demo_devices()).unwrap()
}

pub fn demo_devices() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("devices.yaml")
}

/// A fleet watcher: a link subscribed to every state topic, feeding a [`Fleet`].
pub struct Watcher {
    pub fleet: Fleet,
    pub link: Link,
}

impl Watcher {
    pub fn start(url: &str, registry: Registry) -> Self {
        let fleet = Fleet::new(registry, 8);
        let link = Link::start(&ConnectOptions::new(url, "test"), fleet.state_filters()).unwrap();
        Self { fleet, link }
    }

    /// Feeds events into the fleet until `done` holds; panics after `timeout`.
    pub async fn until(&mut self, timeout: Duration, what: &str, done: impl Fn(&Fleet) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.fleet) {
            match tokio::time::timeout_at(deadline, self.link.recv()).await {
                Ok(Some(event)) => self.fleet.apply(&event),
                Ok(None) => panic!("link closed while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Feeds events for `duration`, whatever happens.
    pub async fn settle(&mut self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.link.recv()).await {
            self.fleet.apply(&event);
        }
    }
}

/// The `giot` binary built for these tests, with its data directory (key,
/// ledger, bridge store, log) in a temporary folder, never the user's.
pub fn giot() -> Command {
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let data = DATA.get_or_init(|| tempfile::tempdir().unwrap());
    let mut command = Command::new(env!("CARGO_BIN_EXE_giot"));
    command.env("XDG_DATA_HOME", data.path());
    command
}

/// A child process killed on drop.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `giot sim` on the demo fleet, publishing every `tick` seconds.
pub fn spawn_sim(url: &str, tick: &str) -> Process {
    spawn_sim_with(url, tick, &demo_devices())
}

/// `giot sim` on the fleet of `devices`.
pub fn spawn_sim_with(url: &str, tick: &str, devices: &std::path::Path) -> Process {
    Process(
        giot()
            .args(["sim", "--tick", tick, "--broker", url, "--devices"])
            .arg(devices)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Asserts that `giot ledger verify` accepts the ledger at `path`.
pub fn assert_ledger_verifies(path: &std::path::Path) {
    let out = giot()
        .args(["ledger", "verify"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A PostgreSQL server in a temporary directory on a free loopback port,
/// started and stopped by the project's `scripts/postgres`.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Postgres {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server that takes TLS only, its certificate signed by a CA of its
    /// own: `url` asks for TLS, `ca` is that CA's certificate.
    pub fn start_tls() -> Self {
        Self::start_with(&["--tls"])
    }

    /// The CA that signed a TLS server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("tls/ca.crt")
    }

    fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres");
        let out = Command::new(&script)
            .arg("start")
            .arg(dir.path())
            .arg(free_port().to_string())
            .args(extra)
            .output()
            .expect("running scripts/postgres");
        assert!(
            out.status.success(),
            "scripts/postgres start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Self { dir, url }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres");
        let _ = Command::new(script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
