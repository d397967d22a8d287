//! The language model, behind one narrow interface: how likely is each of
//! these continuations of this prompt?
//!
//! The agent never lets the model write free text that becomes an action: it
//! asks the model to *rank* candidates taken from the registry, so whatever
//! the model prefers is something that exists. llama.cpp decoding is
//! synchronous and its context is not `Sync`, so one inference thread owns the
//! model and context ([`llama::spawn`]) and takes requests over a channel;
//! [`LlmHandle`] is the cheap, cloneable client. A scripted fake ([`fake`])
//! serves the fast unit tests of the agent loop.

pub mod fake;
pub mod gguf;
pub mod http;
pub mod llama;
pub mod tokenizer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// A prompt in two parts: `stable` is the same across goals (its KV cache is
/// computed once and reused), `request` follows it and changes per goal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Prompt {
    pub stable: String,
    pub request: String,
}

/// Log-probabilities of options, with what it cost to compute them.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    /// `log P(option | prompt)`, summed over the option's tokens, one per option.
    pub logprobs: Vec<f32>,
    /// Tokens evaluated for this request (prompt part not already cached, plus options).
    pub tokens_evaluated: usize,
    /// Time spent inside llama.cpp's decode calls.
    pub decode_time: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error(
        "model file {} not found: run scripts/fetch-model, or give --model PATH (env GIOT_MODEL)",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("cannot load model {}: {reason} (is it a valid GGUF file?)", path.display())]
    Load { path: PathBuf, reason: String },
    #[error("inference failed: {0}")]
    Decode(String),
    #[error("the request was cancelled")]
    Cancelled,
    #[error("the inference thread has stopped")]
    Stopped,
    #[error(
        "cannot reach the model server at {url}: {reason} (is it running? check --llm URL, env GIOT_LLM)"
    )]
    Unreachable { url: String, reason: String },
    #[error("the model server at {url} refused the request (HTTP {status}): {hint}")]
    Unauthorized {
        url: String,
        status: u16,
        hint: String,
    },
    #[error("the model server does not serve model {model:?} (--llm-model, env GIOT_LLM_MODEL); {}", available_models(.available))]
    UnknownModel {
        model: String,
        available: Vec<String>,
    },
    #[error("model server: {0}")]
    Http(String),
    #[error(
        "the prompt needs {tokens} tokens but the model server's context holds {limit} (--llm-context N): use a smaller registry or a model with a longer context"
    )]
    TooLong { tokens: usize, limit: usize },
    #[error("cannot load tokenizer {}: {reason} (--tokenizer FILE)", path.display())]
    Tokenizer { path: PathBuf, reason: String },
}

pub(crate) fn available_models(models: &[String]) -> String {
    if models.is_empty() {
        "it did not list its models".into()
    } else {
        format!("it serves: {}", models.join(", "))
    }
}

/// Which model backend to run: llama.cpp in this process, or a server.
#[derive(Debug, Clone)]
pub enum Backend {
    Llama(llama::LlamaConfig),
    Http(http::HttpConfig),
}

impl Backend {
    /// A short name for status lines before the backend is ready.
    pub fn label(&self) -> String {
        match self {
            Backend::Llama(c) => c
                .model
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
            Backend::Http(c) => c.model.clone().unwrap_or_else(|| c.base.clone()),
        }
    }
}

/// Starts the backend on its own thread and returns a handle once it is
/// ready, with the time that took; the agent uses either kind the same way.
pub fn spawn(backend: Backend) -> Result<(LlmHandle, Duration), LlmError> {
    match backend {
        Backend::Llama(config) => llama::spawn(config),
        Backend::Http(config) => http::spawn(config),
    }
}

/// Anything that can rank continuations: the real model or a scripted fake.
pub trait Scorer: Send {
    fn score(&mut self, prompt: &Prompt, options: &[String]) -> Result<Scores, LlmError>;
    /// Applies the model's chat template to a system and a user message,
    /// leaving the assistant's turn open.
    fn chat(&self, system: &str, user: &str) -> String;
    /// A name for status lines.
    fn name(&self) -> String;
}

/// Lets a caller abandon a request that is in flight.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub(crate) enum Request {
    Score {
        prompt: Prompt,
        options: Vec<String>,
        cancel: CancelToken,
        reply: mpsc::Sender<Result<Scores, LlmError>>,
    },
}

/// Client side of the inference thread.
#[derive(Clone)]
pub struct LlmHandle {
    tx: mpsc::Sender<Request>,
    name: String,
    template: Arc<ChatTemplate>,
    cancel: CancelToken,
}

/// A chat template rendered once with markers, so that prompts are built by
/// string substitution without calling back into the inference thread.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    /// The rendered template with `\u{1}S\u{1}` and `\u{1}U\u{1}` in place of
    /// the system and user messages.
    rendered: String,
}

pub(crate) const SYSTEM_MARK: &str = "\u{1}S\u{1}";
pub(crate) const USER_MARK: &str = "\u{1}U\u{1}";

impl ChatTemplate {
    pub fn new(rendered: String) -> Self {
        Self { rendered }
    }

    /// ChatML, used when a model has no template of its own.
    pub fn chatml() -> Self {
        Self::new(format!(
            "<|im_start|>system\n{SYSTEM_MARK}<|im_end|>\n<|im_start|>user\n{USER_MARK}<|im_end|>\n<|im_start|>assistant\n"
        ))
    }

    pub fn apply(&self, system: &str, user: &str) -> String {
        self.rendered
            .replace(SYSTEM_MARK, system)
            .replace(USER_MARK, user)
    }

    /// The inverse of [`apply`](Self::apply) for a prompt that may continue
    /// after the template (the assistant's answer prefix): the system
    /// message, the user message and that continuation. `None` when `text`
    /// was not built from this template.
    pub fn split<'t>(&self, text: &'t str) -> Option<(&'t str, &'t str, &'t str)> {
        let (head, rest) = self.rendered.split_once(SYSTEM_MARK)?;
        let (mid, tail) = rest.split_once(USER_MARK)?;
        let body = text.strip_prefix(head)?;
        let (system, after) = body.split_once(mid)?;
        let end = after.rfind(tail)?;
        Some((system, &after[..end], &after[end + tail.len()..]))
    }
}

impl LlmHandle {
    /// Cancels whatever request this handle has in flight; later requests run normally.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

impl Scorer for LlmHandle {
    fn score(&mut self, prompt: &Prompt, options: &[String]) -> Result<Scores, LlmError> {
        let (reply, rx) = mpsc::channel();
        self.cancel = CancelToken::default();
        self.tx
            .send(Request::Score {
                prompt: prompt.clone(),
                options: options.to_vec(),
                cancel: self.cancel.clone(),
                reply,
            })
            .map_err(|_| LlmError::Stopped)?;
        rx.recv().map_err(|_| LlmError::Stopped)?
    }

    fn chat(&self, system: &str, user: &str) -> String {
        self.template.apply(system, user)
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// `log(sum(exp(x)))` over a slice, stably.
pub(crate) fn log_sum_exp(xs: &[f32]) -> f32 {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    max + xs.iter().map(|&x| (x - max).exp()).sum::<f32>().ln()
}
