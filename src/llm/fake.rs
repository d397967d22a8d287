//! A scripted stand-in for the model, for fast unit tests of the agent loop:
//! it prefers options that share words with the request, and can be told to
//! prefer particular options outright.

use std::collections::HashMap;
use std::time::Duration;

use super::{ChatTemplate, LlmError, Prompt, Scorer, Scores};

#[derive(Debug, Default, Clone)]
pub struct FakeScorer {
    /// Extra log-probability for an option when the request contains a text.
    pub boosts: HashMap<(String, String), f32>,
    pub calls: usize,
}

impl FakeScorer {
    /// Makes `option` likely whenever the request contains `needle`.
    pub fn prefer(mut self, needle: &str, option: &str) -> Self {
        self.boosts.insert((needle.into(), option.into()), 5.0);
        self
    }
}

impl Scorer for FakeScorer {
    fn score(&mut self, prompt: &Prompt, options: &[String]) -> Result<Scores, LlmError> {
        self.calls += 1;
        let request = prompt.request.to_lowercase();
        let logprobs = options
            .iter()
            .map(|o| {
                let words = o.to_lowercase();
                let overlap = words
                    .split_whitespace()
                    .filter(|w| request.contains(*w))
                    .count() as f32;
                let boost: f32 = self
                    .boosts
                    .iter()
                    .filter(|((needle, opt), _)| opt == o && request.contains(needle.as_str()))
                    .map(|(_, b)| b)
                    .sum();
                -5.0 - words.split_whitespace().count() as f32 + overlap + boost
            })
            .collect();
        Ok(Scores {
            logprobs,
            tokens_evaluated: options.len(),
            decode_time: Duration::ZERO,
        })
    }

    fn chat(&self, system: &str, user: &str) -> String {
        ChatTemplate::chatml().apply(system, user)
    }

    fn name(&self) -> String {
        "fake".into()
    }
}
