//! The bridge's durable record: every accepted goal, its progress and its
//! result, and the confirmation tokens it handed out.
//!
//! A goal moves `accepted` → `executing` (its commands are about to be
//! published) → `done` (its result is recorded). Each step is committed
//! before the next begins, so after a crash an `accepted` goal is planned
//! again (nothing was published), while an `executing` goal is only
//! verified against the devices' state, never published twice.
//!
//! Two backends keep it: [`Embedded`] (a redb file, one process, the
//! default) and [`Postgres`] (PostgreSQL, shared by several bridge
//! instances: each goal is owned by the instance that claimed it, owners
//! renew a lease, and a goal whose owner's lease ran out is taken over by
//! another instance; every write of a goal is fenced by its owner).

pub mod embedded;
pub mod postgres;

use std::time::Duration;

pub use embedded::Embedded;
pub use postgres::Postgres;

use super::message::GoalResult;
use crate::types::ActionResult;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Accepted,
    Executing,
    Done,
}

/// One goal as the bridge recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub goal: String,
    #[serde(default)]
    pub dry_run: bool,
    /// The room the goal was said in, if the message said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The conversation the goal belongs to, if the message said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// The confirmation token this goal redeemed, if it is a confirmation
    /// (spent when the goal was accepted; `actions` then hold its plan).
    #[serde(default)]
    pub confirm: Option<String>,
    /// The id of the goal a confirmation confirms.
    #[serde(default)]
    pub confirms: Option<String>,
    pub stage: Stage,
    /// The actions being published (stage `executing`).
    #[serde(default)]
    pub actions: Vec<ActionResult>,
    /// The result as published (stage `done`).
    #[serde(default)]
    pub result: Option<GoalResult>,
    /// How many times this goal's commands were published: 0 or 1.
    #[serde(default)]
    pub executions: u32,
    pub received_ms: u64,
    #[serde(default)]
    pub response_topic: Option<String>,
    /// The standing rule a confirmation arms (`confirm` redeemed a rule's token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<crate::types::RuleInfo>,
}

impl Record {
    /// A goal received now at `stage`, with nothing else known yet.
    pub fn new(goal: &str, stage: Stage) -> Self {
        Self {
            goal: goal.to_string(),
            dry_run: false,
            room: None,
            conversation: None,
            confirm: None,
            confirms: None,
            stage,
            actions: Vec::new(),
            result: None,
            executions: 0,
            received_ms: now_ms(),
            response_topic: None,
            rule: None,
        }
    }
}

/// A confirmation token: the plan it stands for, single-use, expiring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub goal_id: String,
    pub goal: String,
    pub actions: Vec<ActionResult>,
    pub expires_ms: u64,
    pub used: bool,
    /// The standing rule the yes arms, when the goal was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<crate::types::RuleInfo>,
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, connection, a corrupt record).
    #[error("{0}")]
    Backend(String),
    /// Another bridge instance took the goal over (this one's lease ran
    /// out); this one must not publish its commands or its result.
    #[error("goal {0} is now worked on by another bridge instance")]
    Lost(String),
}

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where the store is: a redb file or a PostgreSQL URL (`--store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(std::path::PathBuf),
    /// `postgres://user:password@host:port/database` (or `postgresql://`).
    Postgres(String),
}

impl Location {
    /// `postgres://…` and `postgresql://…` are PostgreSQL; a path is a
    /// file. Anything that looks like a URL but is not one of those
    /// (`postgres:/host`, `mysql://…`) is refused, rather than becoming a
    /// store file of that name, a bridge of its own.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self::Postgres(s.to_string()))
        } else if s.starts_with("postgres:") || s.starts_with("postgresql:") || s.contains("://") {
            Err(format!(
                "--store {:?} is neither a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE) nor a file path",
                Self::Postgres(s.to_string()).shown()
            ))
        } else {
            Ok(Self::File(s.into()))
        }
    }

    /// What to show in logs: a URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Self::File(p) => p.display().to_string(),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://(unparsable URL)".into(),
            },
        }
    }
}

/// How long opening a shared store (connecting, migrating) may take.
const OPEN_LIMIT: Duration = Duration::from_secs(30);

/// The bridge's store, embedded or shared.
pub enum Store {
    Embedded(Embedded),
    Postgres(Postgres),
}

impl Store {
    /// Opens (and for PostgreSQL migrates) the store. `agent` scopes the
    /// records in a shared database; `instance` names this process's claims,
    /// which live `lease` past its last heartbeat.
    pub async fn open(
        location: &Location,
        agent: &str,
        instance: &str,
        lease: Duration,
    ) -> Result<Self, StoreError> {
        Ok(match location {
            Location::File(path) => Self::Embedded(Embedded::open(path)?),
            Location::Postgres(url) => {
                let opening = Postgres::open(url, agent, instance, lease);
                match tokio::time::timeout(OPEN_LIMIT, opening).await {
                    Ok(store) => Self::Postgres(store?),
                    Err(_) => {
                        return Err(StoreError::Backend(format!(
                            "PostgreSQL did not finish opening the store within {OPEN_LIMIT:?}"
                        )));
                    }
                }
            }
        })
    }

    /// Whether several instances may share it.
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        match self {
            Self::Embedded(s) => s.get(id),
            Self::Postgres(s) => s.timed(s.get(id)).await,
        }
    }

    /// Records a goal's new stage; durable when this returns.
    /// [`StoreError::Lost`] when another instance owns the goal now.
    pub async fn put(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        match self {
            Self::Embedded(s) => s.put(id, record),
            Self::Postgres(s) => s.timed(s.put(id, record)).await,
        }
    }

    /// Records new goals in one transaction, each only if its id is new;
    /// returns, for each, whether this instance recorded (and so owns) it.
    pub async fn claim_new(&self, records: &[(String, Record)]) -> Result<Vec<bool>, StoreError> {
        match self {
            Self::Embedded(s) => s.put_many(records).map(|()| vec![true; records.len()]),
            Self::Postgres(s) => s.timed(s.claim_new(records)).await,
        }
    }

    /// Marks a goal as executing with the actions about to be published
    /// (and counts the execution); fenced like [`Store::put`].
    pub async fn mark_executing(
        &self,
        id: &str,
        actions: &[ActionResult],
    ) -> Result<(), StoreError> {
        let mut record = self
            .get(id)
            .await?
            .ok_or_else(|| StoreError::Backend(format!("no record of goal {id}")))?;
        record.stage = Stage::Executing;
        record.actions = actions.to_vec();
        record.executions += 1;
        self.put(id, &record).await
    }

    pub async fn put_token(&self, token: &str, value: &Token) -> Result<(), StoreError> {
        match self {
            Self::Embedded(s) => s.put_token(token, value),
            Self::Postgres(s) => s.timed(s.put_token(token, value)).await,
        }
    }

    /// Spends a confirmation token atomically, so that two confirmations
    /// handled at once (by one instance or two) cannot both spend it.
    /// `Ok(Err(why))` when the token is unknown, used or expired at `now_ms`.
    pub async fn spend_token(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<Result<Token, &'static str>, StoreError> {
        match self {
            Self::Embedded(s) => s.spend_token(token, now_ms),
            Self::Postgres(s) => s.timed(s.spend_token(token, now_ms)).await,
        }
    }

    /// The unfinished goals this instance should work on now: at start,
    /// every unfinished goal (embedded), or those whose owner's lease ran
    /// out, claimed for this instance (PostgreSQL; called again periodically).
    pub async fn take_unfinished(&self) -> Result<Vec<(String, Record)>, StoreError> {
        match self {
            Self::Embedded(s) => Ok(s
                .all()?
                .into_iter()
                .filter(|(_, r)| r.stage != Stage::Done)
                .collect()),
            Self::Postgres(s) => s.timed(s.take_orphans()).await,
        }
    }

    /// Renews this instance's lease (PostgreSQL; nothing for a file).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        match self {
            Self::Embedded(_) => Ok(()),
            Self::Postgres(s) => s.timed(s.heartbeat()).await,
        }
    }

    /// Ends this instance's lease at once (a clean stop): what it leaves
    /// unfinished is taken over without waiting.
    pub async fn release(&self) -> Result<(), StoreError> {
        match self {
            Self::Embedded(_) => Ok(()),
            Self::Postgres(s) => s.timed(s.release()).await,
        }
    }

    /// What conversation `id` remembers (JSON), so that its next goal is
    /// understood by whichever instance gets it, and after a restart.
    pub async fn conversation(&self, id: &str) -> Result<Option<String>, StoreError> {
        match self {
            Self::Embedded(s) => s.conversation(id),
            Self::Postgres(s) => s.timed(s.conversation(id)).await,
        }
    }

    /// Keeps what conversation `id` remembers now (JSON); forgotten with
    /// the finished goals (`prune`).
    pub async fn put_conversation(&self, id: &str, record: &str) -> Result<(), StoreError> {
        match self {
            Self::Embedded(s) => s.put_conversation(id, record),
            Self::Postgres(s) => s.timed(s.put_conversation(id, record)).await,
        }
    }

    /// Every goal, oldest first, for statistics and tests.
    pub async fn all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        match self {
            Self::Embedded(s) => s.all(),
            Self::Postgres(s) => s.timed(s.all()).await,
        }
    }

    /// Forgets finished goals and spent tokens older than `max_age_ms`.
    pub async fn prune(&self, max_age_ms: u64) -> Result<usize, StoreError> {
        match self {
            Self::Embedded(s) => s.prune(max_age_ms),
            Self::Postgres(s) => s.timed(s.prune(max_age_ms)).await,
        }
    }
}
