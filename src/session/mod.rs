//! The goal session: giot's agent core as a pure state machine.
//!
//! Every face (`giot run`, `giot eval`, the bridge, `giot mcp`, the TUI)
//! drives the same [`Session`]: it feeds [`Input`]s in — a goal, the model's
//! scores for a request the session emitted, a person's yes or no, an event
//! seen on the broker, a clock tick — and carries out the [`Effect`]s that
//! come back — score these options, ask a person, publish these actions,
//! subscribe to these topics, record this in the ledger, report this
//! outcome. The session does no I/O, reads no clock (every input carries
//! `now`) and spawns nothing, the way rumqttc's `MqttState` leaves the socket
//! to its `EventLoop`; so plan → check → publish → confirm by echo → record
//! exists once, and a goal behaves the same on every face.
//!
//! Data flow for one goal:
//!
//! ```text
//! Goal ─► plan (agent; model scores asked for as Effect::Score, replayed)
//!      ─► policy ─► refused / answered / planned ─────────────► Report
//!                 ─► needs a yes ─► AskConfirmation ─► Confirm ─┐
//!                 ─► allowed ◄──────────────────────────────────┘
//!      ─► (waits for earlier goals on the same devices) ─► Publish
//!      ─► Published ─► Record ─► echoes on the state topics or the
//!         confirmation deadline (Tick) ─► Report
//! ```
//!
//! [`driver`] is the one async driver (MQTT link, model thread, ledger) for
//! the faces that are not a render loop; the TUI feeds the session from its
//! own event loop.

pub mod driver;
mod replay;
pub mod rule;
pub mod schedule;
pub mod schedule_file;
mod state;
#[cfg(test)]
mod tests;
pub mod when;

use std::time::{Duration, Instant};

use crate::llm::{LlmError, Prompt, Scores};
use crate::mqtt::LinkEvent;
use crate::types::Action;
use crate::types::{ActionResult, Outcome};

pub use replay::ModelInfo;
pub use state::Session;

/// A goal's number within a session, chosen by the face (unique while the
/// goal is in flight).
pub type GoalId = u64;

/// A request for the model's scores, numbered by the session.
pub type RequestId = u64;

/// What a goal asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Words to understand: planned by the agent, then checked by the policy.
    Words,
    /// Actions chosen by a person (a value set by hand, a redeemed
    /// confirmation token with `yes`): checked by the policy again, never
    /// re-planned.
    Actions(Vec<Action>),
    /// Actions published before a restart: watched for their echo, never
    /// published again.
    Verify(Vec<ActionResult>),
    /// A standing rule a person said yes to (a redeemed confirmation
    /// token): checked against the registry and the policy again, then armed.
    Arm(Box<crate::types::RuleInfo>),
}

/// Where a goal came from, as the ledger's `confirmed_by` says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// When the policy alone allowed the actions, e.g. `policy (bridge)`.
    pub policy: String,
    /// When a person said yes, e.g. `operator (--yes)`.
    pub person: String,
    /// How a person gives their yes on this face, ending the
    /// `needs_confirmation` reason, e.g. `run again with --yes`.
    pub confirm_hint: String,
}

impl Origin {
    /// An origin for a face named `face` (`run`, `mcp`, ...).
    pub fn new(face: &str, person: &str, confirm_hint: &str) -> Self {
        Self {
            policy: format!("policy ({face})"),
            person: person.to_string(),
            confirm_hint: confirm_hint.to_string(),
        }
    }
}

/// One goal, as a face hands it to the session.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalRequest {
    pub id: GoalId,
    /// The goal's words (for approved or verified actions, the goal they came from).
    pub text: String,
    pub intent: Intent,
    /// The conversation the goal belongs to, if the face keeps one.
    pub conversation: Option<String>,
    /// The room the goal was said in, if known.
    pub room: Option<String>,
    /// Plan and check only: nothing is published.
    pub dry_run: bool,
    /// A person's yes given with the goal (`--yes`, MCP's `confirm: true`).
    pub yes: bool,
    /// Whether this face can ask a person and wait for the answer (the TUI);
    /// otherwise a plan that needs a yes is reported `needs_confirmation`.
    pub ask: bool,
    pub origin: Origin,
}

impl GoalRequest {
    /// A goal in words with no yes, no dry run and nobody to ask.
    pub fn words(id: GoalId, text: impl Into<String>, origin: Origin) -> Self {
        Self {
            id,
            text: text.into(),
            intent: Intent::Words,
            conversation: None,
            room: None,
            dry_run: false,
            yes: false,
            ask: false,
            origin,
        }
    }
}

/// What happened, as the session is told.
#[derive(Debug, Clone)]
pub enum Input {
    Goal(GoalRequest),
    /// The model's answer to [`Effect::Score`], with the time it took.
    Scored {
        request: RequestId,
        result: Result<Scores, LlmError>,
        took: Duration,
    },
    /// The model finished loading (`Some`) or will not be there (`None`).
    Model(Option<ModelInfo>),
    /// A person's answer to [`Effect::AskConfirmation`].
    Confirm {
        goal: GoalId,
        yes: bool,
    },
    /// The first `published` actions of [`Effect::Publish`] were accepted by
    /// the MQTT client; `error` says why the rest were not.
    Published {
        goal: GoalId,
        published: usize,
        error: Option<String>,
    },
    /// The ledger wrote [`Effect::Record`] (or could not).
    Recorded {
        goal: GoalId,
        error: Option<String>,
    },
    /// Something seen on the broker: device states, announcements, the link.
    Link(LinkEvent),
    /// Time passed; deadlines are checked.
    Tick,
    /// The wall clock reads this now; schedules that are due run. Faces
    /// that keep schedules send it with every tick (about once a second).
    Clock(jiff::Timestamp),
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Ask the model for `log P(option | prompt)` of each option; answer with
    /// [`Input::Scored`].
    Score {
        request: RequestId,
        /// Ask the escalation server (`--escalate`), not the model.
        escalate: bool,
        prompt: Prompt,
        options: Vec<String>,
    },
    /// Show a person the plan (`outcome`, status `needs_confirmation`) and
    /// answer with [`Input::Confirm`].
    AskConfirmation { goal: GoalId, outcome: Outcome },
    /// Publish each action (QoS 1, not retained) in order; answer with
    /// [`Input::Published`]. `retransmit` marks actions published before
    /// and sent again after the broker connection came back while they were
    /// unconfirmed (a broker that crashed may have acknowledged and lost
    /// them); every command is an absolute value, so sending it twice sets
    /// the same state.
    Publish {
        goal: GoalId,
        actions: Vec<ActionResult>,
        retransmit: bool,
    },
    /// Subscribe to these topic filters (state topics of discovered devices).
    Subscribe(Vec<String>),
    /// Append an `action` entry to the ledger; answer with [`Input::Recorded`].
    Record {
        goal: GoalId,
        text: String,
        actions: Vec<ActionResult>,
        confirmed_by: String,
    },
    /// A step of the agent's reasoning, for a conversation pane or the log.
    Trace { goal: GoalId, step: String },
    /// The schedules changed (one was made, ran or was cancelled): keep
    /// these, all of them, so that a restart finds them.
    SaveSchedules(Vec<schedule::Schedule>),
    /// The rules changed (one was armed, fired, disabled or removed): keep
    /// these, all of them, with where each one is.
    SaveRules(Vec<rule::Rule>),
    /// The goal is finished: this is its outcome.
    Report {
        goal: GoalId,
        outcome: Outcome,
        stats: PlanStats,
    },
}

/// What the model did for a goal, for `giot eval`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanStats {
    /// Whether the model ranked candidates for this goal.
    pub used_model: bool,
    /// Whether the goal went to the escalation server.
    pub escalated: bool,
    /// Tokens the model evaluated for it.
    pub tokens_evaluated: usize,
    /// Time inside the model's decode calls.
    pub decode_time: Duration,
}

/// Settings of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long a device has to show a published value on its state topic.
    pub confirm_timeout: Duration,
    /// How long a question to a person stays open.
    pub ask_timeout: Duration,
    /// Languages goals are read in (Home Assistant's codes), the preferred
    /// first; a goal in any of them is recognised (`--language`).
    pub languages: Vec<String>,
    /// The operator's time zone: "at 7 pm" is 19:00 there.
    pub time_zone: jiff::tz::TimeZone,
    /// Whether this face keeps schedules and standing rules (runs them at
    /// their time or on their condition, saves them): the bridge and the
    /// TUI do; `giot run` refuses a goal for later and a rule.
    pub keeps_schedules: bool,
    /// Whether a schedule's or a rule's goal that needs a person's yes can
    /// ask one (the TUI); otherwise it is reported `needs_confirmation`.
    pub schedules_ask: bool,
    /// The least time between two firings of one standing rule
    /// (`--rule-interval`): a reading that flaps around its threshold acts
    /// at most this often.
    pub rule_interval: Duration,
}

/// The languages read by default: English first, then the others whose
/// goals are tested (German, French, Spanish).
pub const DEFAULT_LANGUAGES: &[&str] = &["en", "de", "fr", "es"];

impl SessionConfig {
    /// The defaults with this confirmation timeout (`--confirm-timeout`).
    pub fn confirming_within(confirm_timeout: Duration) -> Self {
        Self {
            confirm_timeout,
            ..Self::default()
        }
    }

    /// The same with `preferred` read first (`--language`), then the
    /// default languages.
    pub fn preferring(mut self, preferred: Option<&str>) -> Self {
        if let Some(p) = preferred {
            self.languages.retain(|l| l != p);
            self.languages.insert(0, p.to_string());
        }
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            confirm_timeout: Duration::from_secs(3),
            ask_timeout: Duration::from_secs(120),
            languages: DEFAULT_LANGUAGES.iter().map(|l| l.to_string()).collect(),
            time_zone: jiff::tz::TimeZone::system(),
            keeps_schedules: false,
            schedules_ask: false,
            rule_interval: Duration::from_secs(crate::agent::RULE_MIN_INTERVAL_S),
        }
    }
}

/// The moment an input happened; every input carries one, the session
/// never reads a clock.
pub type Now = Instant;
