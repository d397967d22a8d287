//! The broker connection an MCP session keeps open: one task owns the
//! [`Live`] link and fleet, applies every MQTT event as it arrives (so
//! `get_state` reads live state), and takes requests from the tool handlers.
//!
//! Execution goes through [`Live::execute`], the same publish-and-confirm as
//! `giot run`; while it waits for the devices' echoes the task answers no
//! other request, so plans run one at a time, each under its own echoes.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::exec::{ExecError, Live};
use crate::fleet::Fleet;
use crate::mqtt::LinkEvent;
use crate::outcome::ActionResult;

type Read = Box<dyn FnOnce(&Fleet) + Send>;
type Executed = Result<(Vec<ActionResult>, Instant), ExecError>;

enum Request {
    Read(Read),
    Execute {
        actions: Vec<ActionResult>,
        timeout: Duration,
        reply: oneshot::Sender<Executed>,
    },
}

/// The broker connection has stopped (the session is ending).
#[derive(Debug, thiserror::Error)]
#[error("the broker connection has stopped")]
pub struct Stopped;

/// A handle on the task that owns the live fleet; cheap to clone.
#[derive(Clone)]
pub struct LiveFleet {
    tx: mpsc::Sender<Request>,
}

impl LiveFleet {
    /// Starts the task. It ends, and disconnects, when every handle is dropped.
    pub fn start(live: Live) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(64);
        (Self { tx }, tokio::spawn(drive(live, rx)))
    }

    /// Runs `look` on the fleet as it is now.
    pub async fn read<T: Send + 'static>(
        &self,
        look: impl FnOnce(&Fleet) -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |fleet| {
            let _ = reply.send(look(fleet));
        });
        self.tx
            .send(Request::Read(read))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Publishes the actions and waits for their echoes ([`Live::execute`]);
    /// returns them with `confirmed` set, and the instant of the last publish.
    pub async fn execute(
        &self,
        actions: Vec<ActionResult>,
        timeout: Duration,
    ) -> Result<Executed, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Execute {
                actions,
                timeout,
                reply,
            })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

async fn drive(mut live: Live, mut requests: mpsc::Receiver<Request>) {
    let mut link_open = true;
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                None => break,
                Some(Request::Read(look)) => look(&live.fleet),
                Some(Request::Execute { mut actions, timeout, reply }) => {
                    let done = live.execute(&mut actions, timeout).await.map(|t| (actions, t));
                    let _ = reply.send(done);
                }
            },
            event = live.link.recv(), if link_open => match event {
                Some(event) => {
                    match &event {
                        LinkEvent::Connected => tracing::info!("connected to the broker"),
                        LinkEvent::Disconnected { error, retry_in } => {
                            tracing::warn!("broker connection lost ({error}); retrying in {retry_in:?}");
                        }
                        LinkEvent::Message { .. } => {}
                    }
                    live.fleet.apply(&event);
                }
                None => link_open = false,
            },
        }
    }
    live.link.shutdown().await;
}
