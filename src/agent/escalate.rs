//! Edge–cloud escalation (`--escalate URL`): a goal the local layers cannot
//! decide above their margin is sent to an OpenAI-compatible server (a
//! bigger local model, an edge box, a cloud service) with its candidates,
//! and the server's answer can only be one of them (the HTTP backend asks
//! with a JSON-schema `enum`, or scores exactly these options).
//!
//! **Private by default.** What leaves the machine is the goal's text, the
//! fixed instructions below and the candidates' names ("turn on the floor
//! lamp", "the bedside lamp"); never the registry, the rooms of other
//! devices, topics or device states (questions are answered locally and
//! never escalated). "none of these" is always an option, and choosing it
//! leaves the goal asked back or refused, as without the server.

use std::time::Instant;

use super::Agent;
use crate::llm::Prompt;
use crate::types::Plan;

/// The answer that declines every candidate.
pub const NONE: &str = "none of these";

/// The escalation server's instructions.
const SYSTEM: &str = "You operate a smart home. Choose the one option that does what the person asks, or \"none of these\" if no option does.";

/// What the server's answer starts with.
const ANSWER_PREFIX: &str = "Option:";

impl Agent {
    /// The escalation server's choice among `options` for `goal` (an index
    /// into `options`), or `None` without a server, when it declines, or
    /// when it cannot be reached (said in the trace).
    pub(super) fn escalate(
        &mut self,
        goal: &str,
        options: &[String],
        plan: &mut Plan,
    ) -> Option<usize> {
        let server = self.escalation.as_mut()?;
        let (stable, tail) = super::prompt_frame(server.as_ref(), SYSTEM, ANSWER_PREFIX);
        let prompt = Prompt {
            stable,
            request: format!("{}{tail}", goal.trim()),
        };
        let mut texts: Vec<String> = options.iter().map(|o| format!(" {o}")).collect();
        texts.push(format!(" {NONE}"));
        let started = Instant::now();
        let scores = match server.score(&prompt, &texts) {
            Ok(s) => s,
            Err(e) => {
                plan.trace.push(format!("escalation unavailable: {e}"));
                return None;
            }
        };
        plan.escalated = true;
        plan.llm_time += started.elapsed();
        let best = scores
            .logprobs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)?;
        if best >= options.len() {
            plan.trace.push(format!(
                "escalated to {}: none of the candidates",
                server.name()
            ));
            return None;
        }
        plan.trace
            .push(format!("escalated to {}: {}", server.name(), options[best]));
        Some(best)
    }
}
