//! The HTTP backend: ranking by a model on an OpenAI-compatible server
//! (llama.cpp's `llama-server`, vLLM, Ollama), so a small device can hand
//! goals to a bigger model on an edge server.
//!
//! It runs on its own thread behind the same [`LlmHandle`] as llama.cpp, so
//! the agent cannot tell the two apart. Ranking asks the server in one of two
//! ways, found out on the first request and then remembered:
//!
//! 1. **Prompt logprobs** (vLLM): `POST {base}/completions` with every
//!    `prompt + option` in one batch, `echo: true`, `logprobs: 1`,
//!    `max_tokens: 1`. The server returns each prompt token's logprob with
//!    its text offset; an option's score is the sum over the tokens that
//!    cover it, exactly what the llama.cpp backend computes.
//! 2. **A constrained choice** (llama.cpp's server, Ollama, and any server
//!    that returns no prompt logprobs): `POST {base}/chat/completions` with
//!    the system and user messages and a `response_format` JSON schema whose
//!    `enum` lists exactly the options, so the server can only answer one of
//!    them. The chosen option scores highest (by its own logprob when the
//!    server reports one), the others share what is left. A request without
//!    a user message (the agent's prior) has no question to answer: every
//!    option scores 0 without a call, so the agent's lift is the choice.
//!
//! **Template.** The chat endpoint applies the server's own chat template. For
//! `/completions` the prompt text is built here, with the template of the
//! tokenizer's family when `--tokenizer` names one (recognised by its special
//! tokens: ChatML, Llama 3, Gemma), ChatML otherwise: ChatML is what the small
//! models giot targets were tuned on, and because the agent ranks by lift over
//! the same prompt without the goal, a template that is not exactly the
//! model's shifts every option alike. Running the model's Jinja template would
//! need a template engine for little gain.
//!
//! **Budget.** With a tokenizer, prompts are counted before they are sent
//! (`--llm-context`, default 4096): options that do not fit are dropped from
//! the end of the list (the agent lists its best candidates first) and score
//! `-inf`; a prompt that does not fit at all is refused with
//! [`LlmError::TooLong`].
//!
//! Everything the server sends back is data: only an answer that equals one
//! of the options counts, and server text in errors is shortened and cleaned.

mod client;
mod wire;

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::tokenizer::TokenCounter;
use super::{CancelToken, ChatTemplate, LlmError, LlmHandle, Prompt, Request, Scores};
pub use client::parse_models;
use client::{Client, excerpt};
use wire::{CHAT_MAX_TOKENS, CHAT_OVERHEAD};
pub use wire::{chat_request, completions_request, parse_choice, parse_completions};

/// The environment variable holding the server's API key (never a flag).
pub const API_KEY_ENV: &str = "GIOT_LLM_API_KEY";

/// How to reach the model server.
#[derive(Clone)]
pub struct HttpConfig {
    /// The API base, e.g. `http://127.0.0.1:8080/v1`.
    pub base: String,
    /// The model name; `None` takes the server's only model.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer`; never printed.
    pub api_key: Option<String>,
    /// `tokenizer.json` or a GGUF of the same family, for token budgeting.
    pub tokenizer: Option<PathBuf>,
    /// The server's context length, in tokens.
    pub context: usize,
    /// Limit on each HTTP request.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("tokenizer", &self.tokenizer)
            .field("context", &self.context)
            .finish()
    }
}

impl HttpConfig {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            model: None,
            api_key: std::env::var(API_KEY_ENV).ok().filter(|k| !k.is_empty()),
            tokenizer: None,
            context: 4096,
            timeout: Duration::from_secs(60),
        }
    }
}

/// How this server can rank options; found out once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unknown,
    PromptLogprobs,
    Choice,
}

/// Connects, resolves the model name, and starts the client thread.
/// The escalation server (`--escalate`), connected. One that cannot be
/// reached is reported (a warning) and left out: the local layers still
/// decide, and ask back where they would have escalated.
pub fn escalation(config: HttpConfig) -> Option<Box<dyn super::Scorer>> {
    match spawn(config) {
        Ok((server, _)) => Some(Box::new(server)),
        Err(e) => {
            tracing::warn!("--escalate: {e}; goals the local layers cannot decide are asked back");
            None
        }
    }
}

pub fn spawn(config: HttpConfig) -> Result<(LlmHandle, Duration), LlmError> {
    let started = Instant::now();
    let counter = config
        .tokenizer
        .as_deref()
        .map(TokenCounter::load)
        .transpose()?;
    let template = counter
        .as_ref()
        .map_or_else(ChatTemplate::chatml, |c| c.template().clone());
    let mut client = Client::new(&config);
    let model = client.resolve_model(config.model.as_deref())?;
    let host = url::Url::parse(&config.base)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| config.base.clone());
    let name = format!("{model} @ {host}");
    client.model = model;
    let (tx, rx) = mpsc::channel::<Request>();
    let mut scorer = HttpScorer {
        client,
        template: template.clone(),
        counter,
        context: config.context,
        mode: Mode::Unknown,
        stable_tokens: None,
    };
    std::thread::Builder::new()
        .name("giot-llm-http".into())
        .spawn(move || {
            while let Ok(Request::Score {
                prompt,
                options,
                cancel,
                reply,
            }) = rx.recv()
            {
                let _ = reply.send(scorer.score(&prompt, &options, &cancel));
            }
        })
        .map_err(|e| LlmError::Decode(e.to_string()))?;
    Ok((
        LlmHandle {
            tx,
            name,
            template: Arc::new(template),
            cancel: CancelToken::default(),
        },
        started.elapsed(),
    ))
}

struct HttpScorer {
    client: Client,
    template: ChatTemplate,
    counter: Option<TokenCounter>,
    context: usize,
    mode: Mode,
    /// Token count of the last stable prompt, which rarely changes.
    stable_tokens: Option<(String, usize)>,
}

impl HttpScorer {
    fn score(
        &mut self,
        prompt: &Prompt,
        options: &[String],
        cancel: &CancelToken,
    ) -> Result<Scores, LlmError> {
        if cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let started = Instant::now();
        if self.mode != Mode::Choice {
            let fit = self.fit_completions(prompt, options)?;
            let body = completions_request(&self.client.model, prompt, options, &fit);
            let answer = self.client.send("completions", Some(&body))?;
            let parsed = if answer.status == 200 {
                parse_completions(&answer.json()?, prompt, options, &fit)
            } else if answer.status == 404 && answer.body.to_lowercase().contains("model") {
                return Err(self.client.failure("completions", &answer));
            } else {
                // A server without /completions, or one that refuses echo
                // (llama.cpp's server: "Only no echo is supported"); if the
                // chat endpoint fails too, its error is the one reported.
                tracing::info!(
                    "{}/completions answered HTTP {}: {}",
                    self.client.base,
                    answer.status,
                    excerpt(&answer.body)
                );
                None
            };
            if let Some(mut scores) = parsed {
                if self.mode == Mode::Unknown {
                    tracing::info!("{}: ranking by prompt logprobs", self.client.base);
                }
                self.mode = Mode::PromptLogprobs;
                scores.decode_time = started.elapsed();
                return Ok(scores);
            }
            tracing::info!(
                "{}: no prompt logprobs from /completions; ranking by a constrained choice",
                self.client.base
            );
            self.mode = Mode::Choice;
        }
        let mut scores = self.choose(prompt, options)?;
        scores.decode_time = started.elapsed();
        Ok(scores)
    }

    fn count(&self, text: &str) -> Result<Option<usize>, LlmError> {
        self.counter.as_ref().map(|c| c.count(text)).transpose()
    }

    fn count_stable(&mut self, stable: &str) -> Result<Option<usize>, LlmError> {
        if let Some((s, n)) = &self.stable_tokens
            && s == stable
        {
            return Ok(Some(*n));
        }
        let Some(n) = self.count(stable)? else {
            return Ok(None);
        };
        self.stable_tokens = Some((stable.to_string(), n));
        Ok(Some(n))
    }

    /// Which options fit the context after the prompt (all of them without a tokenizer).
    fn fit_completions(
        &mut self,
        prompt: &Prompt,
        options: &[String],
    ) -> Result<Vec<bool>, LlmError> {
        let Some(stable) = self.count_stable(&prompt.stable)? else {
            return Ok(vec![true; options.len()]);
        };
        let base = stable + self.count(&prompt.request)?.unwrap_or(0) + 1;
        let mut fit = Vec::with_capacity(options.len());
        for o in options {
            fit.push(base + self.count(o)?.unwrap_or(0) <= self.context);
        }
        if !fit.iter().any(|&f| f) {
            return Err(LlmError::TooLong {
                tokens: base,
                limit: self.context,
            });
        }
        Ok(fit)
    }

    /// Ranking by a constrained choice on the chat endpoint.
    fn choose(&mut self, prompt: &Prompt, options: &[String]) -> Result<Scores, LlmError> {
        let full = format!("{}{}", prompt.stable, prompt.request);
        let (system, user) = match self.template.split(&full) {
            Some((s, u, _)) => (s.to_string(), u.to_string()),
            // Not built from our template: the whole text is the request.
            None => (String::new(), full.clone()),
        };
        if user.trim().is_empty() {
            return Ok(Scores {
                logprobs: vec![0.0; options.len()],
                ..Scores::default()
            });
        }
        let mut keep = options.len();
        if self.counter.is_some() {
            let fixed = self.count_stable(&system)?.unwrap_or(0)
                + self.count(&user)?.unwrap_or(0)
                + CHAT_OVERHEAD
                + CHAT_MAX_TOKENS;
            let mut total = fixed;
            keep = 0;
            for o in options {
                total += self.count(o)?.unwrap_or(0) + 3;
                if total > self.context {
                    break;
                }
                keep += 1;
            }
            if keep == 0 {
                return Err(LlmError::TooLong {
                    tokens: total,
                    limit: self.context,
                });
            }
        }
        let body = chat_request(&self.client.model, &system, &user, &options[..keep]);
        let answer = self.client.send("chat/completions", Some(&body))?;
        if answer.status != 200 {
            return Err(self.client.failure("chat/completions", &answer));
        }
        let mut scores = parse_choice(&answer.json()?, options, keep)?;
        if scores.tokens_evaluated == 0 {
            scores.tokens_evaluated = self.count(&full)?.unwrap_or(0);
        }
        Ok(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_built_from_the_template_splits_back_into_its_messages() {
        let t = ChatTemplate::chatml();
        let text = format!("{}Device:", t.apply("the system", "dim it"));
        assert_eq!(t.split(&text), Some(("the system", "dim it", "Device:")));
        assert_eq!(t.split("plain text"), None);
    }

    #[test]
    fn the_api_key_is_never_in_debug_output() {
        let mut c = HttpConfig::new("http://h/v1/");
        c.api_key = Some("sekrit".into());
        assert!(!format!("{c:?}").contains("sekrit"));
        assert_eq!(c.base, "http://h/v1");
    }
}
