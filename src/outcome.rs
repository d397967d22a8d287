//! The result of one goal, in the `run --json` shape of DESIGN §3, shared by
//! `giot run`, `giot eval`, the TUI and the bridge.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::agent::{Action, Decision, Plan, PolicyOverrides};
use crate::policy::{self, Verdict};
use crate::registry::Registry;

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
}

impl Status {
    /// The documented exit code of `giot run`.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Planned | Status::Executed | Status::Answered => 0,
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
pub fn ms(d: std::time::Duration) -> f64 {
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

/// Why a plan waits for a person, with a proposed menu's audit (the
/// figures the person should weigh before saying yes).
fn confirmation_reason(
    registry: &Registry,
    actions: &[Action],
    devices: &[String],
    hint: &str,
) -> String {
    let mut reason = format!("{} need(s) confirmation: {hint}", devices.join(", "));
    let market = registry.market.as_ref();
    for a in actions
        .iter()
        .filter(|a| crate::agent::market::market_of(&a.device).is_some())
    {
        let audit = serde_json::from_value(a.value.clone())
            .ok()
            .zip(market)
            .and_then(|(menu, m)| crate::market::audit(&m.state, &menu).ok());
        if let Some(audit) = audit {
            reason.push_str(&format!(
                "; the proposed menu's audit: {}",
                crate::agent::market::audit_text(&audit)
            ));
        }
    }
    reason
}

/// Decides the status of a plan under the policy, before anything is
/// published. `Allow`ed actions come back as `Executed` unless `dry_run`;
/// the caller publishes them and fills in `confirmed`. `confirm_hint` tells
/// a person how to give their yes on this face ("run again with --yes").
pub fn decide(
    goal: &str,
    plan: &Plan,
    registry: &Registry,
    overrides: &PolicyOverrides,
    yes: bool,
    dry_run: bool,
    confirm_hint: &str,
) -> Outcome {
    let mut outcome = Outcome::new(goal, Status::Refused);
    outcome.timing_ms.llm = ms(plan.llm_time);
    match &plan.decision {
        Decision::Refuse(reason) => outcome.reason = Some(reason.clone()),
        Decision::Clarify {
            question,
            candidates,
        } => {
            outcome.status = Status::NeedsClarification;
            outcome.reason = Some(question.clone());
            outcome.candidates = candidates
                .iter()
                .map(|id| {
                    let d = registry.get(id);
                    Candidate {
                        device: id.clone(),
                        name: d.map_or_else(|| id.clone(), |d| d.name.clone()),
                        room: d.and_then(|d| d.room.clone()),
                    }
                })
                .collect();
        }
        Decision::Answer(text) => {
            outcome.status = Status::Answered;
            outcome.answer = Some(text.clone());
        }
        Decision::Act(actions) => match policy::check(registry, overrides, actions, yes) {
            Verdict::Refuse(reason) => outcome.reason = Some(reason),
            Verdict::NeedsConfirmation { actions, devices } => {
                outcome.status = Status::NeedsConfirmation;
                outcome.actions = actions.iter().map(ActionResult::from).collect();
                outcome.reason = Some(confirmation_reason(
                    registry,
                    &actions,
                    &devices,
                    confirm_hint,
                ));
            }
            Verdict::Allow(actions) => {
                outcome.status = if dry_run {
                    Status::Planned
                } else {
                    Status::Executed
                };
                outcome.actions = actions.iter().map(ActionResult::from).collect();
            }
        },
    }
    outcome
}
