//! The types every layer passes around: what a goal targets, the actions
//! it becomes, the agent's decision, the policy's per-agent overrides and the
//! outcome a face reports (the `run --json` shape of DESIGN §3).
//!
//! This module is the bottom of giot's module graph: it imports nothing from
//! the rest of the crate, so the agent, the policy, the fleet, the executor,
//! discovery and the faces can all share these types without depending on
//! one another.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// What an action or a state lookup is about: a device of the registry, or a
/// market, which the agent, the policy and the state lookup name as the
/// pseudo-device `market:<id>` (its state is the supervisor's retained
/// status, its one setting the `menu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Device(&'a str),
    Market(&'a str),
}

impl<'a> Target<'a> {
    /// The target an id names.
    pub fn of(id: &'a str) -> Self {
        match market_of(id) {
            Some(m) => Target::Market(m),
            None => Target::Device(id),
        }
    }
}

/// The pseudo-device id of market `market` (`market:<id>`).
pub fn market_device(market: &str) -> String {
    format!("market:{market}")
}

/// The market a pseudo-device id names, if it names one.
pub fn market_of(device: &str) -> Option<&str> {
    device.strip_prefix("market:")
}

/// One command to one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub device: String,
    pub capability: String,
    pub value: Value,
    pub topic: String,
    pub payload: String,
}

impl Action {
    /// The device or market this action is for.
    pub fn target(&self) -> Target<'_> {
        Target::of(&self.device)
    }
}

/// What the agent decided for a goal, before the policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Act(Vec<Action>),
    Answer(String),
    Refuse(String),
    /// The goal fits several devices and nothing decides between them:
    /// ask which (`candidates` are device ids), publish nothing.
    Clarify {
        question: String,
        candidates: Vec<String>,
    },
}

/// A decision with what it took to reach it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub decision: Decision,
    /// Steps of the reasoning, for the TUI's conversation pane and logs.
    pub trace: Vec<String>,
    /// Time spent in the model (0 when the words settled everything).
    pub llm_time: Duration,
    pub llm_decode_time: Duration,
    pub tokens_evaluated: usize,
    /// Whether the model was asked at all.
    pub used_model: bool,
    /// Whether the goal went to the escalation server (`--escalate`).
    pub escalated: bool,
    /// A standing rule the goal asks for (its id empty): `decision` holds
    /// its actions, to be checked and armed, not done now.
    pub rule: Option<RuleInfo>,
}

impl Plan {
    /// A plan that is only `decision` (a person's approved actions), at no cost.
    pub fn deciding(decision: Decision) -> Self {
        Self {
            decision,
            ..Self::empty()
        }
    }

    /// A plan that has decided nothing yet and cost nothing.
    pub fn empty() -> Self {
        Self {
            decision: Decision::Refuse(String::new()),
            trace: Vec::new(),
            llm_time: Duration::ZERO,
            llm_decode_time: Duration::ZERO,
            tokens_evaluated: 0,
            used_model: false,
            escalated: false,
            rule: None,
        }
    }
}

/// Policy settings an agent adds on top of the registry's own.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyOverrides {
    pub confirm_kinds: Vec<String>,
    pub deny_devices: Vec<String>,
    pub allow_topics: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Planned,
    Executed,
    NeedsConfirmation,
    Refused,
    Answered,
    /// The goal fits several devices and nothing decides between them:
    /// `candidates` lists them, nothing was published.
    NeedsClarification,
    /// Something outside the plan failed (a publish, a store write): the
    /// reason says what, and `actions` holds only what was published.
    Failed,
    /// The bridge would not run the goal (malformed, bad signature,
    /// overloaded, a spent confirmation token); `reason` says which.
    Rejected,
    /// A delayed or recurring goal, kept to run later: `schedule` says when;
    /// `actions` are what it would do now (it is planned again then).
    Scheduled,
    /// A standing rule, armed after the person's yes: `rule` gives its id,
    /// condition and actions; `actions` are what it does when the
    /// condition starts to hold (checked as a dry run now).
    Rule,
}

impl Status {
    /// The documented exit code of `giot run`.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Planned
            | Status::Executed
            | Status::Answered
            | Status::Scheduled
            | Status::Rule => 0,
            Status::NeedsConfirmation => 3,
            Status::Refused => 4,
            Status::NeedsClarification => 5,
            Status::Failed => 1,
            Status::Rejected => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Executed => "executed",
            Status::NeedsConfirmation => "needs_confirmation",
            Status::Refused => "refused",
            Status::Answered => "answered",
            Status::NeedsClarification => "needs_clarification",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Scheduled => "scheduled",
            Status::Rule => "rule",
        }
    }
}

/// One action as reported, with whether the device confirmed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub device: String,
    pub capability: String,
    pub value: Value,
    pub topic: String,
    pub payload: String,
    pub confirmed: Option<bool>,
}

impl ActionResult {
    /// The action again, for the policy to check once more.
    pub fn to_action(&self) -> Action {
        Action {
            device: self.device.clone(),
            capability: self.capability.clone(),
            value: self.value.clone(),
            topic: self.topic.clone(),
            payload: self.payload.clone(),
        }
    }
}

impl From<&Action> for ActionResult {
    fn from(a: &Action) -> Self {
        Self {
            device: a.device.clone(),
            capability: a.capability.clone(),
            value: a.value.clone(),
            topic: a.topic.clone(),
            payload: a.payload.clone(),
            confirmed: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub total: f64,
    #[serde(default)]
    pub llm: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<f64>,
}

/// Milliseconds with a tenth of a millisecond's precision.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The goal's words (empty when a rejected message had none readable).
    #[serde(default, deserialize_with = "text_or_null")]
    pub goal: String,
    pub status: Status,
    pub actions: Vec<ActionResult>,
    pub answer: Option<String>,
    pub reason: Option<String>,
    pub timing_ms: Timing,
    /// Set when the actions were published but the ledger could not record them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
    /// With `needs_clarification`: the devices the goal could mean.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    /// With `scheduled`, and on the result of a goal a schedule ran: which
    /// schedule and when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleInfo>,
    /// With `rule` (and `needs_confirmation` before the yes that arms it),
    /// and on the result of a goal a rule started: which rule, on what
    /// condition, doing what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleInfo>,
}

/// A standing rule as outcomes show it and stores keep it: "if the cellar
/// humidity goes above 70%, switch on the dehumidifier (and off again
/// below 60%)".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Its id, for `giot rules disable|remove` (empty before it is armed).
    pub id: String,
    /// The rule as it was said.
    pub said: String,
    /// When it acts: the moment this starts to hold (an edge, not every
    /// reading while it holds).
    pub condition: Condition,
    /// What it does then; planned once, checked by the policy again each time.
    pub actions: Vec<RuleAction>,
    /// What it does when the reverse condition starts to hold after it
    /// acted ("and off again below 60%"), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Otherwise>,
    /// Whether it is evaluated (`giot rules disable` clears it).
    pub enabled: bool,
    /// The least time between two of its firings, in seconds.
    pub min_interval_s: u64,
}

impl RuleInfo {
    /// The rule in one line: `when Cellar sensor humidity above 70%:
    /// dehumidifier_plug.power = on; when … below 60%: … = off`.
    pub fn describe(&self) -> String {
        let acts = |actions: &[RuleAction]| {
            actions
                .iter()
                .map(RuleAction::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!("when {}: {}", self.condition.says, acts(&self.actions));
        if let Some(o) = &self.otherwise {
            out.push_str(&format!(
                "; when {}: {}",
                o.condition.says,
                acts(&o.actions)
            ));
        }
        out
    }
}

/// The reverse half of a rule: its condition and actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Otherwise {
    pub condition: Condition,
    pub actions: Vec<RuleAction>,
}

/// A value a rule sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleAction {
    pub device: String,
    pub capability: String,
    pub value: Value,
}

impl RuleAction {
    /// `dehumidifier_plug.power = on` (strings unquoted).
    pub fn describe(&self) -> String {
        let v = match &self.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        format!("{}.{} = {v}", self.device, self.capability)
    }
}

/// A test on one reported value of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub device: String,
    pub capability: String,
    pub test: Comparison,
    /// The threshold (a number, in the capability's unit) or the state.
    pub value: Value,
    /// The capability's unit, as the registry gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The condition in words: `Cellar sensor humidity above 70 %`.
    pub says: String,
}

/// How a [`Condition`] compares the reading with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Greater than the value.
    Above,
    /// Greater than or equal.
    AtLeast,
    /// Less than the value.
    Below,
    /// Less than or equal.
    AtMost,
    /// Equal (a state: `open`, `on`, `true`).
    Is,
    /// Anything but the value.
    IsNot,
}

impl Comparison {
    /// The test that holds exactly when this one does not.
    pub fn negated(self) -> Self {
        match self {
            Comparison::Above => Comparison::AtMost,
            Comparison::AtLeast => Comparison::Below,
            Comparison::Below => Comparison::AtLeast,
            Comparison::AtMost => Comparison::Above,
            Comparison::Is => Comparison::IsNot,
            Comparison::IsNot => Comparison::Is,
        }
    }

    /// As people read it: `above`, `at least`, `is`.
    pub fn words(self) -> &'static str {
        match self {
            Comparison::Above => "above",
            Comparison::AtLeast => "at least",
            Comparison::Below => "below",
            Comparison::AtMost => "at most",
            Comparison::Is => "is",
            Comparison::IsNot => "is not",
        }
    }
}

impl Condition {
    /// Whether `reading` passes the test; `None` when it cannot be compared
    /// (no number where a threshold needs one).
    pub fn holds(&self, reading: &Value) -> Option<bool> {
        let number = |v: &Value| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        };
        let same = || match (reading, &self.value) {
            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
                b.eq_ignore_ascii_case(if *a { "true" } else { "false" })
            }
            (a, b) => match (number(a), number(b)) {
                (Some(x), Some(y)) => x == y,
                _ => a == b,
            },
        };
        Some(match self.test {
            Comparison::Is => same(),
            Comparison::IsNot => !same(),
            test => {
                let (x, y) = (number(reading)?, number(&self.value)?);
                match test {
                    Comparison::Above => x > y,
                    Comparison::AtLeast => x >= y,
                    Comparison::Below => x < y,
                    _ => x <= y,
                }
            }
        })
    }
}

/// A schedule as the outcome shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// Its id, for `giot schedule cancel`.
    pub id: String,
    /// The goal it runs, without its time phrase.
    pub goal: String,
    /// The next run, RFC 3339 with the offset (`2026-12-01T07:00:00+01:00`);
    /// absent once a one-off schedule has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The operator's time zone the times are in (IANA name).
    pub time_zone: String,
    /// "once", or the days and time it repeats ("every day at 07:00").
    pub repeats: String,
}

/// A device a goal could mean, for the person to choose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub device: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

impl Outcome {
    /// An outcome with this status and nothing else.
    pub fn new(goal: &str, status: Status) -> Self {
        Self {
            goal: goal.to_string(),
            status,
            actions: Vec::new(),
            answer: None,
            reason: None,
            timing_ms: Timing::default(),
            ledger_error: None,
            candidates: Vec::new(),
            schedule: None,
            rule: None,
        }
    }

    /// An outcome with this status and reason, and nothing else.
    pub fn with_reason(goal: &str, status: Status, reason: &str) -> Self {
        Self {
            reason: Some(reason.to_string()),
            ..Self::new(goal, status)
        }
    }
}

/// A string that older records may have written as `null`.
fn text_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Text from the network (a goal, a payload) made safe for one log line: control, line and
/// format characters (newlines, escapes, bidi overrides) escaped, at most
/// `max` characters. Goal text cannot forge log lines.
pub fn loggable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control()
            || (c.is_whitespace() && c != ' ')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
