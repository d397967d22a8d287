//! The MQTT link: a rumqttc client that reconnects with backoff, subscribes
//! again after every ConnAck, and hands every message to its owner over a
//! channel.
//!
//! rumqttc's event loop reconnects as soon as it is polled again, without any
//! pause, and forgets subscriptions on a clean session; [`Link`] adds the
//! backoff and the re-subscription, and turns the loop's events into a small
//! [`LinkEvent`] enum that the faces (TUI, `run`, `bridge`, `sim`) consume.

mod options;
pub mod topic;
pub mod tree;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, ClientError, ConnectionError, Event, EventLoop, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use options::{ConnectOptions, OptionsError};
pub use tree::TopicTree;

/// Largest packet giot sends, and largest message it takes (rumqttc's
/// default is 10 KiB). A larger incoming message is skipped
/// ([`LinkEvent::Skipped`]), never a reason to drop the connection.
pub const MAX_PACKET: usize = 8 * 1024 * 1024;

/// The largest packet read off the wire: MQTT's own limit (a remaining
/// length of 268,435,455 bytes and its header). rumqttc drops the
/// connection on a packet over its limit — and the broker sends a retained
/// one again at once — so the limit giot enforces is [`MAX_PACKET`], on
/// the message, after it is read.
pub const MAX_WIRE: usize = 268_435_455 + 5;

/// What the link reports to its owner.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// Connected (again) and subscribed.
    Connected,
    /// The connection dropped or could not be made; the link retries after
    /// `retry_in`. The error is shared so that the event stays cheap to clone.
    Disconnected {
        error: Arc<ConnectionError>,
        retry_in: Duration,
    },
    /// A message on one of the subscribed topics.
    Message {
        topic: String,
        payload: Bytes,
        retain: bool,
    },
    /// A message larger than [`MAX_PACKET`]: skipped (its payload dropped),
    /// the connection kept.
    Skipped {
        topic: String,
        size: usize,
        retain: bool,
    },
}

/// Why [`Link::wait_connected`] gave up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    /// The timeout passed without a connection or any error: the broker
    /// (or something at its address) accepted the socket and stayed silent.
    #[error("no answer from the broker")]
    NoAnswer,
    /// The timeout passed; the last attempt to connect failed with this
    /// error. It is shown, not chained as a `source()`: rumqttc's errors
    /// already print their own cause ("I/O: Connection refused").
    #[error("{0}")]
    Failed(Arc<ConnectionError>),
    /// The link's background task ended (the link was shut down).
    #[error("the MQTT link stopped")]
    Stopped,
}

/// A running MQTT connection.
pub struct Link {
    client: AsyncClient,
    events: mpsc::Receiver<LinkEvent>,
    task: JoinHandle<()>,
    /// Every filter, subscribed again after each reconnection.
    filters: Arc<Mutex<Vec<String>>>,
    qos: QoS,
}

impl Link {
    /// Starts connecting in the background and subscribes to `filters` after
    /// every (re)connection. Messages arrive through [`Link::recv`].
    pub fn start(options: &ConnectOptions, filters: Vec<String>) -> Result<Self, OptionsError> {
        Self::start_with_qos(options, filters, QoS::AtLeastOnce)
    }

    /// Like [`Link::start`], subscribing at `qos`: QoS 0 for watching a
    /// busy broker (nothing queues up for a slow reader), QoS 1 where a
    /// message must not be missed.
    pub fn start_with_qos(
        options: &ConnectOptions,
        filters: Vec<String>,
        qos: QoS,
    ) -> Result<Self, OptionsError> {
        let mqtt = options.to_rumqttc()?;
        let filters = valid_filters(filters);
        let (client, mut eventloop) = AsyncClient::new(mqtt, 256);
        // Commands and results are small packets that should leave at once:
        // Nagle's algorithm would hold them back for the previous ACK.
        let mut network = eventloop.network_options();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let (tx, events) = mpsc::channel(4096);
        let filters = Arc::new(Mutex::new(filters));
        let task = tokio::spawn(drive(eventloop, client.clone(), filters.clone(), qos, tx));
        Ok(Self {
            client,
            events,
            task,
            filters,
            qos,
        })
    }

    /// Subscribes to more filters now and after every reconnection (the
    /// state topics of devices discovered while connected).
    pub async fn subscribe(&self, filters: Vec<String>) -> Result<(), ClientError> {
        let filters = valid_filters(filters);
        if filters.is_empty() {
            return Ok(());
        }
        self.filters
            .lock()
            .expect("link filters")
            .extend(filters.iter().cloned());
        let subs: Vec<_> = filters
            .into_iter()
            .map(|f| rumqttc::SubscribeFilter::new(f, self.qos))
            .collect();
        self.client.subscribe_many(subs).await
    }

    /// The next event; `None` once the link has stopped.
    pub async fn recv(&mut self) -> Option<LinkEvent> {
        self.events.recv().await
    }

    /// Waits until the link is connected, passing other events to `on_event`.
    /// Gives up after `timeout` with the last connection error.
    pub async fn wait_connected(
        &mut self,
        timeout: Duration,
        mut on_event: impl FnMut(LinkEvent),
    ) -> Result<(), WaitError> {
        let mut last_error = WaitError::NoAnswer;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return Err(last_error),
                Ok(None) => return Err(WaitError::Stopped),
                Ok(Some(LinkEvent::Connected)) => return Ok(()),
                Ok(Some(LinkEvent::Disconnected { error, .. })) => {
                    last_error = WaitError::Failed(error);
                }
                Ok(Some(other)) => on_event(other),
            }
        }
    }

    /// A handle for publishing; cheap to clone.
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Publishes `payload` at QoS 1.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        retain: bool,
    ) -> Result<(), ClientError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
    }

    /// Disconnects politely and waits for the background task to finish.
    pub async fn shutdown(self) {
        // Ignore the result: the event loop may already be gone.
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// The filters that MQTT allows; the others are reported and left out
/// (one invalid filter in a SUBSCRIBE makes the broker drop the client, at
/// every reconnection).
fn valid_filters(filters: Vec<String>) -> Vec<String> {
    filters
        .into_iter()
        .filter(|f| match topic::filter_problem(f) {
            None => true,
            Some(why) => {
                let shown: String = f.chars().take(80).collect();
                tracing::warn!("not subscribing to {shown:?}: the filter {why}");
                false
            }
        })
        .collect()
}

/// Backoff between reconnection attempts: 100 ms doubling up to 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

/// How long a connection must last before it counts as a success that
/// resets the backoff.
const STABLE: Duration = Duration::from_secs(10);

/// The reconnection backoff: grows with every failure, and is reset only by
/// a connection that lasted [`STABLE`] — a broker that accepts the
/// connection and drops it at once (an oversized message, a rejected
/// SUBSCRIBE) is retried ever more slowly, not ten times a second.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    connected_at: Option<std::time::Instant>,
}

impl Backoff {
    fn connected(&mut self, now: std::time::Instant) {
        self.connected_at = Some(now);
    }

    /// The pause before the next attempt after a failure at `now`.
    fn failed(&mut self, now: std::time::Instant) -> Duration {
        if self
            .connected_at
            .take()
            .is_some_and(|at| now.saturating_duration_since(at) >= STABLE)
        {
            self.failures = 0;
        }
        let pause = backoff(self.failures);
        self.failures = self.failures.saturating_add(1);
        pause
    }
}

async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Arc<Mutex<Vec<String>>>,
    qos: QoS,
    tx: mpsc::Sender<LinkEvent>,
) {
    let mut backoff = Backoff::default();
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.connected(std::time::Instant::now());
                let filters = filters.lock().expect("link filters").clone();
                if !filters.is_empty() {
                    // The request channel is drained by this very loop, so the
                    // subscription must not be awaited here. It is queued
                    // before `Connected` goes out, so that anything the owner
                    // publishes on hearing it (a simulator's states) reaches
                    // the broker after the SUBSCRIBE: whoever reacts to those
                    // messages cannot beat the subscription.
                    let subs: Vec<_> = filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos))
                        .collect();
                    if let Err(e) = client.try_subscribe_many(subs.clone()) {
                        tracing::debug!("request queue full ({e}); subscribing in the background");
                        let client = client.clone();
                        tokio::spawn(async move {
                            if let Err(e) = client.subscribe_many(subs).await {
                                tracing::warn!("cannot subscribe: {e}");
                            }
                        });
                    }
                }
                LinkEvent::Connected
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.payload.len() > MAX_PACKET => {
                let shown: String = p.topic.chars().take(120).collect();
                tracing::warn!(
                    "skipped a message of {} bytes on {shown:?}: larger than {MAX_PACKET} bytes",
                    p.payload.len()
                );
                LinkEvent::Skipped {
                    size: p.payload.len(),
                    topic: p.topic,
                    retain: p.retain,
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => LinkEvent::Message {
                topic: p.topic,
                payload: p.payload,
                retain: p.retain,
            },
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(_) => continue,
            Err(ConnectionError::RequestsDone) => break,
            Err(e) => {
                let retry_in = backoff.failed(std::time::Instant::now());
                tracing::debug!("mqtt connection error: {e}; retrying in {retry_in:?}");
                if tx
                    .send(LinkEvent::Disconnected {
                        error: Arc::new(e),
                        retry_in,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(retry_in).await;
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            break;
        }
    }
}

/// MQTT topic filter matching (`+` one level, `#` the rest).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_like_mqtt() {
        assert!(topic_matches("home/#", "home/a/b"));
        assert!(topic_matches("home/+/set", "home/hall/set"));
        assert!(!topic_matches("home/+/set", "home/hall/x/set"));
        assert!(!topic_matches("home/a", "home/a/b"));
    }

    #[test]
    fn kind8_a_connection_dropped_right_after_it_is_made_does_not_reset_the_backoff() {
        let start = std::time::Instant::now();
        let mut b = Backoff::default();
        let mut pauses = Vec::new();
        for i in 0..8 {
            let now = start + Duration::from_millis(i * 50);
            b.connected(now);
            pauses.push(b.failed(now + Duration::from_millis(5)).as_millis());
        }
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // A connection that lasted is a success: the next failure starts over.
        let later = start + Duration::from_secs(60);
        b.connected(later);
        assert_eq!(b.failed(later + STABLE).as_millis(), 100);
        // Failing to connect at all keeps growing it.
        assert_eq!(b.failed(later + STABLE).as_millis(), 200);
    }

    #[test]
    fn kind8_invalid_filters_are_left_out_of_every_subscribe() {
        let kept = valid_filters(vec![
            "a/b".into(),
            "a\0b".into(),
            "a/#/b".into(),
            "x".repeat(70_000),
            "zigbee2mqtt/Kitchen Lamp".into(),
            "+/x".into(),
        ]);
        assert_eq!(kept, ["a/b", "zigbee2mqtt/Kitchen Lamp", "+/x"]);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(20), Duration::from_millis(5_000));
    }
}
