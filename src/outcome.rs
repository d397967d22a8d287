//! A plan's outcome under the policy, before anything is published: the
//! status, actions and reason every face reports (the types themselves live
//! in [`crate::types`]).

use crate::policy::{self, Verdict};
use crate::registry::Registry;
use crate::types::{
    Action, ActionResult, Candidate, Decision, Outcome, Plan, PolicyOverrides, Status, ms,
};

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
        .filter(|a| crate::types::market_of(&a.device).is_some())
    {
        let audit = serde_json::from_value(a.value.clone())
            .ok()
            .zip(market)
            .and_then(|(menu, m)| crate::market::audit(&m.state, &menu).ok());
        if let Some(audit) = audit {
            reason.push_str(&format!(
                "; the proposed menu's audit: {}",
                crate::market::explain::audit_text(&audit)
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
