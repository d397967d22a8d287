//! The model as the session sees it: a cache of answers, replayed.
//!
//! The agent's planning ([`crate::agent::Agent::plan`]) asks its scorer
//! synchronously, in the middle of its reasoning. The session cannot wait
//! for a model, so it plans with a [`ReplayScorer`]: a request whose answer
//! is cached is answered at once; the first one that is not is remembered
//! and fails, the plan is thrown away, and the session emits the request as
//! an effect. When the answer comes back it is cached and the goal is
//! planned again from the start. Planning without the model costs
//! microseconds and is deterministic, so a replay reaches the same request
//! again and goes one step further: a goal that needs the model plans at
//! most three times (the priors, the goal's scores, the decision).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::llm::{ChatTemplate, LlmError, Prompt, Scorer, Scores};

/// What the session needs of a loaded model: its chat template (prompts are
/// built without calling the model) and its name.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub template: ChatTemplate,
}

/// A request: whether it goes to the escalation server (`--escalate`)
/// rather than the model, the prompt and the options.
pub(crate) type Key = (bool, Prompt, Vec<String>);

/// Answers known for the goal being planned, and the first one missing.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub answers: HashMap<Key, Result<Scores, LlmError>>,
    pub missing: Option<Key>,
}

/// The scorer the agent plans with inside the session.
pub(crate) struct ReplayScorer {
    pub replay: Arc<Mutex<Replay>>,
    pub model: ModelInfo,
    /// This scorer stands for the escalation server, not the model.
    pub escalation: bool,
}

impl Scorer for ReplayScorer {
    fn score(&mut self, prompt: &Prompt, options: &[String]) -> Result<Scores, LlmError> {
        let mut replay = self.replay.lock().expect("replay");
        let key = (self.escalation, prompt.clone(), options.to_vec());
        if let Some(answer) = replay.answers.get(&key) {
            return answer.clone();
        }
        if replay.missing.is_none() {
            replay.missing = Some(key);
        }
        Err(LlmError::Cancelled)
    }

    fn chat(&self, system: &str, user: &str) -> String {
        self.model.template.apply(system, user)
    }

    fn name(&self) -> String {
        self.model.name.clone()
    }
}

impl ModelInfo {
    /// The name and chat template of a scorer (its template is rendered once
    /// with markers, so prompts are built without calling the model).
    pub fn of(scorer: &dyn Scorer) -> Self {
        Self {
            name: scorer.name(),
            template: ChatTemplate::new(
                scorer.chat(crate::llm::SYSTEM_MARK, crate::llm::USER_MARK),
            ),
        }
    }
}
