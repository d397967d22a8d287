//! The embedded broker: rumqttd in-process, so `giot demo` works with nothing
//! installed. Every other command connects to `--broker` instead.

use std::net::{SocketAddr, TcpListener};

use serde_json::json;

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr} (another broker there? pick a free port with --port)")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("building the embedded broker's configuration")]
    Config(#[source] serde_json::Error),
    #[error("starting the embedded broker thread")]
    Thread(#[source] std::io::Error),
    #[error("the embedded broker did not start listening on {0}")]
    NotListening(SocketAddr),
}

/// Starts rumqttd on `addr` in background threads and returns once it is
/// about to accept connections. The broker lives as long as the process.
pub fn start(addr: SocketAddr) -> Result<(), BrokerError> {
    // rumqttd binds inside its own thread and only logs a failure there;
    // binding once here first turns "port in use" into a clear error.
    drop(TcpListener::bind(addr).map_err(|source| BrokerError::Listen { addr, source })?);
    let connections = json!({
        "connection_timeout_ms": 60000,
        "max_payload_size": super::mqtt::MAX_PACKET,
        "max_inflight_count": 200,
        "dynamic_filters": true,
    });
    let config: rumqttd::Config = serde_json::from_value(json!({
        "id": 0,
        "router": {
            "id": 0,
            "max_connections": 10010,
            "max_outgoing_packet_count": 200,
            "max_segment_size": 104857600,
            "max_segment_count": 10,
        },
        "v4": {"1": {
            "name": "v4-1",
            "listen": addr.to_string(),
            "next_connection_delay_ms": 1,
            "connections": connections,
        }},
    }))
    .map_err(BrokerError::Config)?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("giot-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!("embedded broker stopped: {e}");
            }
        })
        .map_err(BrokerError::Thread)?;
    // Wait until the listener is up so that clients connecting right after
    // this returns do not see "connection refused".
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(BrokerError::NotListening(addr))
}
