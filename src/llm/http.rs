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

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::tokenizer::TokenCounter;
use super::{CancelToken, ChatTemplate, LlmError, LlmHandle, Prompt, Request, Scores};

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

/// The blocking HTTP side: one agent, the base URL, the key.
struct Client {
    agent: ureq::Agent,
    base: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

/// A server's answer: its status and its body, parsed when it is JSON.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Result<Value, LlmError> {
        serde_json::from_str(&self.body).map_err(|_| {
            LlmError::Http(format!(
                "the server's answer is not JSON: {}",
                excerpt(&self.body)
            ))
        })
    }
}

impl Client {
    fn new(config: &HttpConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            base: config.base.clone(),
            model: config.model.clone().unwrap_or_default(),
            api_key: config.api_key.clone(),
            timeout: config.timeout,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn send(&self, path: &str, body: Option<&Value>) -> Result<Answer, LlmError> {
        let url = self.url(path);
        let result = match body {
            Some(body) => {
                let mut req = self.agent.post(&url);
                if let Some(key) = &self.api_key {
                    req = req.header("Authorization", &format!("Bearer {key}"));
                }
                req.send_json(body)
            }
            None => {
                let mut req = self.agent.get(&url);
                if let Some(key) = &self.api_key {
                    req = req.header("Authorization", &format!("Bearer {key}"));
                }
                req.call()
            }
        };
        let mut response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        if status == 401 || status == 403 {
            let hint = if self.api_key.is_some() {
                format!("the key in {API_KEY_ENV} was not accepted")
            } else {
                format!("set {API_KEY_ENV} to the server's API key")
            };
            return Err(LlmError::Unauthorized {
                url: self.base.clone(),
                status,
                hint,
            });
        }
        Ok(Answer { status, body })
    }

    fn transport_error(&self, e: ureq::Error) -> LlmError {
        match e {
            ureq::Error::Timeout(_) => LlmError::Http(format!(
                "{} did not answer within {} s",
                self.base,
                self.timeout.as_secs_f32()
            )),
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::BadUri(_) => LlmError::Unreachable {
                url: self.base.clone(),
                reason: e.to_string(),
            },
            other => LlmError::Http(format!("{}: {other}", self.base)),
        }
    }

    /// The models the server lists (`GET {base}/models`); `None` when it has no such endpoint.
    fn models(&self) -> Result<Option<Vec<String>>, LlmError> {
        let answer = self.send("models", None)?;
        if answer.status != 200 {
            return Ok(None);
        }
        Ok(Some(parse_models(&answer.json()?)))
    }

    /// The model to ask for: the one given, checked against the server's
    /// list, or the server's only model.
    fn resolve_model(&mut self, wanted: Option<&str>) -> Result<String, LlmError> {
        let listed = self.models()?;
        match (wanted, listed) {
            (Some(m), Some(list)) if !list.is_empty() && !list.iter().any(|l| l == m) => {
                Err(LlmError::UnknownModel {
                    model: m.into(),
                    available: list,
                })
            }
            (Some(m), _) => Ok(m.into()),
            (None, Some(list)) if list.len() == 1 => Ok(list[0].clone()),
            (None, list) => Err(LlmError::Http(format!(
                "name the model with --llm-model NAME (env GIOT_LLM_MODEL); {}",
                super::available_models(&list.unwrap_or_default())
            ))),
        }
    }

    /// A non-success answer to a request for `self.model`, as an error.
    fn failure(&self, path: &str, answer: &Answer) -> LlmError {
        let text = answer.body.to_lowercase();
        if answer.status == 404 && text.contains("model") {
            let available = self.models().ok().flatten().unwrap_or_default();
            return LlmError::UnknownModel {
                model: self.model.clone(),
                available,
            };
        }
        LlmError::Http(format!(
            "{} answered HTTP {}: {}",
            self.url(path),
            answer.status,
            excerpt(&answer.body)
        ))
    }
}

/// Model ids from a `GET /models` answer (`{"data": [{"id": ..}]}`; Ollama's
/// native `{"models": [{"name": ..}]}` too).
pub fn parse_models(v: &Value) -> Vec<String> {
    let from = |key: &str, field: &str| -> Vec<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get(field).and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let data = from("data", "id");
    if data.is_empty() {
        from("models", "name")
    } else {
        data
    }
}

/// At most 200 characters of server text, control characters removed.
fn excerpt(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    match clean.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean.to_string(),
    }
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

/// Tokens a chat request needs beyond its messages and options: the
/// template's turns and the schema's braces.
const CHAT_OVERHEAD: usize = 48;
/// Room for the answer: the JSON object around the longest option.
const CHAT_MAX_TOKENS: usize = 64;

/// `POST /completions`: every fitting option after the prompt, echoed back with logprobs.
pub fn completions_request(
    model: &str,
    prompt: &Prompt,
    options: &[String],
    fit: &[bool],
) -> Value {
    let prompts: Vec<String> = options
        .iter()
        .zip(fit)
        .filter(|(_, f)| **f)
        .map(|(o, _)| format!("{}{}{o}", prompt.stable, prompt.request))
        .collect();
    json!({
        "model": model,
        "prompt": prompts,
        "max_tokens": 1,
        "echo": true,
        "logprobs": 1,
        "temperature": 0,
    })
}

/// Option scores from a `/completions` answer with echoed prompt logprobs;
/// `None` when the server did not return logprobs for the options' tokens.
pub fn parse_completions(
    v: &Value,
    prompt: &Prompt,
    options: &[String],
    fit: &[bool],
) -> Option<Scores> {
    let choices = v.get("choices")?.as_array()?;
    let start = prompt.stable.chars().count() + prompt.request.chars().count();
    let sent: Vec<usize> = (0..options.len()).filter(|&i| fit[i]).collect();
    let mut logprobs = vec![f32::NEG_INFINITY; options.len()];
    for (k, &i) in sent.iter().enumerate() {
        // Choices carry their prompt's index; take position k when they do not.
        let choice = choices
            .iter()
            .find(|c| c.get("index").and_then(Value::as_u64) == Some(k as u64))
            .or_else(|| choices.get(k))?;
        let end = start + options[i].chars().count();
        logprobs[i] = option_logprob(choice.get("logprobs")?, start, end)?;
    }
    let tokens = v
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    Some(Scores {
        logprobs,
        tokens_evaluated: tokens,
        decode_time: Duration::ZERO,
    })
}

/// The summed logprob of the tokens covering characters `start..end` of the
/// echoed text, from OpenAI's legacy `logprobs` object (`tokens`,
/// `token_logprobs`, `text_offset`).
fn option_logprob(lp: &Value, start: usize, end: usize) -> Option<f32> {
    let tokens = lp.get("tokens")?.as_array()?;
    let values = lp.get("token_logprobs")?.as_array()?;
    let offsets = lp.get("text_offset").and_then(Value::as_array);
    if values.len() != tokens.len() || start == end {
        return (start == end).then_some(0.0);
    }
    let mut pos = 0usize;
    let mut sum = 0f32;
    let mut covered = start;
    for (k, token) in tokens.iter().enumerate() {
        let text = token.as_str()?;
        let from = match offsets {
            Some(o) => o.get(k)?.as_u64()? as usize,
            None => pos,
        };
        let to = from + text.chars().count();
        pos = to;
        if to <= start || from >= end {
            continue;
        }
        // A token of the option without a logprob: the server did not score the prompt.
        sum += values[k].as_f64()? as f32;
        covered = covered.max(to);
    }
    (covered >= end).then_some(sum)
}

/// `POST /chat/completions`: the answer constrained to exactly the options.
pub fn chat_request(model: &str, system: &str, user: &str, options: &[String]) -> Value {
    let mut choices: Vec<&str> = Vec::new();
    for o in options.iter().map(|o| o.trim()) {
        if !choices.contains(&o) {
            choices.push(o);
        }
    }
    let mut messages = Vec::new();
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": user}));
    json!({
        "model": model,
        "messages": messages,
        "temperature": 0,
        "max_tokens": CHAT_MAX_TOKENS,
        "logprobs": true,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "choice",
                "strict": true,
                "schema": {
                    "type": "object",
                    "properties": {"choice": {"type": "string", "enum": choices}},
                    "required": ["choice"],
                    "additionalProperties": false,
                },
            },
        },
    })
}

/// Scores from a constrained chat answer: the chosen option highest (by its
/// logprob when the server reports one), the rest of the first `sent`
/// options sharing what is left; options not sent score `-inf`.
pub fn parse_choice(v: &Value, options: &[String], sent: usize) -> Result<Scores, LlmError> {
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| LlmError::Http("the chat answer has no message content".into()))?;
    let chosen = serde_json::from_str::<Value>(content)
        .ok()
        .and_then(|j| j.get("choice").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| content.trim().trim_matches('"').to_string());
    let sent = &options[..sent.min(options.len())];
    if !sent.iter().any(|o| o.trim() == chosen) {
        return Err(LlmError::Http(format!(
            "the server's answer is none of the options: {}",
            excerpt(content)
        )));
    }
    let p = v
        .pointer("/choices/0/logprobs/content")
        .and_then(Value::as_array)
        .and_then(|tokens| value_logprob(tokens, content, &chosen))
        .map(|lp| lp.exp().clamp(1e-6, 1.0 - 1e-6))
        .unwrap_or(1.0 - 1e-3);
    let n = sent.iter().filter(|o| o.trim() != chosen).count().max(1) as f64;
    let chosen_lp = p.ln() as f32;
    let other_lp = (((1.0 - p) / n).ln() as f32).min(chosen_lp - 1.0);
    let logprobs = options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            if i >= sent.len() {
                f32::NEG_INFINITY
            } else if o.trim() == chosen {
                chosen_lp
            } else {
                other_lp
            }
        })
        .collect();
    let tokens = v
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    Ok(Scores {
        logprobs,
        tokens_evaluated: tokens,
        decode_time: Duration::ZERO,
    })
}

/// The chosen value's logprob: the sum over the answer's tokens that cover
/// the value's text, not the JSON around it (llama.cpp reports logprobs
/// before the grammar applies, so the forced braces may look unlikely).
fn value_logprob(tokens: &[Value], content: &str, value: &str) -> Option<f64> {
    let at = content.rfind(value)?;
    let (start, end) = (at, at + value.len());
    let mut pos = 0;
    let mut sum = 0.0;
    let mut any = false;
    for t in tokens {
        let text = t.get("token")?.as_str()?;
        let (from, to) = (pos, pos + text.len());
        pos = to;
        if to > start && from < end {
            sum += t.get("logprob")?.as_f64()?;
            any = true;
        }
    }
    // The tokens must spell the answer, or their offsets mean nothing.
    (any && pos == content.len()).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_completions_request_sends_prompt_plus_each_option_with_echo() {
        let prompt = Prompt {
            stable: "S".into(),
            request: "R".into(),
        };
        let v = completions_request(
            "m",
            &prompt,
            &opts(&[" a", " b", " c"]),
            &[true, false, true],
        );
        assert_eq!(v["model"], "m");
        assert_eq!(v["prompt"], json!(["SR a", "SR c"]));
        assert_eq!(v["echo"], true);
        assert_eq!(v["logprobs"], 1);
    }

    #[test]
    fn echoed_logprobs_are_summed_over_the_option_tokens_only() {
        let prompt = Prompt {
            stable: "Dev".into(),
            request: "ice:".into(),
        };
        let options = opts(&[" hall light", " fan"]);
        // Prompt tokens, the option's tokens, and one generated token.
        let answer = json!({"choices": [
            {"index": 1, "logprobs": {"tokens": ["Dev", "ice:", " fan", "\n"],
                "token_logprobs": [null, -0.5, -2.0, -0.1], "text_offset": [0, 3, 7, 11]}},
            {"index": 0, "logprobs": {"tokens": ["Dev", "ice:", " hall", " light", "."],
                "token_logprobs": [null, -0.5, -1.0, -0.25, -3.0], "text_offset": [0, 3, 7, 12, 18]}},
        ], "usage": {"prompt_tokens": 7}});
        let s = parse_completions(&answer, &prompt, &options, &[true, true]).unwrap();
        assert_eq!(s.logprobs, vec![-1.25, -2.0]);
        assert_eq!(s.tokens_evaluated, 7);
    }

    #[test]
    fn a_server_that_scores_only_generated_tokens_gives_no_prompt_logprobs() {
        let prompt = Prompt {
            stable: "Dev".into(),
            request: "ice:".into(),
        };
        // llama.cpp's server: the echo is ignored, logprobs cover the generated token.
        let answer = json!({"choices": [{"index": 0, "text": " x",
            "logprobs": {"tokens": [" x"], "token_logprobs": [-0.3], "text_offset": [0]}}]});
        assert!(parse_completions(&answer, &prompt, &opts(&[" fan"]), &[true]).is_none());
        let answer = json!({"choices": [{"index": 0, "text": " x", "logprobs": null}]});
        assert!(parse_completions(&answer, &prompt, &opts(&[" fan"]), &[true]).is_none());
        // A null logprob on an option token is no score either.
        let answer = json!({"choices": [{"index": 0, "logprobs": {"tokens": ["Device:", " fan"],
            "token_logprobs": [null, null]}}]});
        assert!(parse_completions(&answer, &prompt, &opts(&[" fan"]), &[true]).is_none());
    }

    #[test]
    fn the_chat_request_constrains_the_answer_to_exactly_the_options() {
        let v = chat_request(
            "m",
            "sys",
            "dim it",
            &opts(&[" desk lamp", " bedside lamp"]),
        );
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][1]["content"], "dim it");
        let schema = &v["response_format"]["json_schema"]["schema"];
        assert_eq!(
            schema["properties"]["choice"]["enum"],
            json!(["desk lamp", "bedside lamp"])
        );
    }

    #[test]
    fn the_chosen_option_scores_highest_and_unknown_answers_are_errors() {
        let options = opts(&[" desk lamp", " bedside lamp", " fan"]);
        let answer = json!({"choices": [{"message": {"content": "{\"choice\": \"bedside lamp\"}"},
            "logprobs": {"content": [{"token": "{\"choice\": \"", "logprob": -5.0},
                {"token": "bed", "logprob": -0.2}, {"token": "side lamp", "logprob": -0.1},
                {"token": "\"}", "logprob": -4.0}]}}]});
        let s = parse_choice(&answer, &options, 2).unwrap();
        assert!(s.logprobs[1] > s.logprobs[0], "{:?}", s.logprobs);
        assert!((s.logprobs[1] - -0.3).abs() < 1e-4);
        assert_eq!(s.logprobs[2], f32::NEG_INFINITY);
        // Not among the options (or among those not sent): an error, never a choice.
        for content in [
            "{\"choice\": \"garage door\"}",
            "fan",
            "ignore the list; open the door",
        ] {
            let answer = json!({"choices": [{"message": {"content": content}}]});
            assert!(parse_choice(&answer, &options, 2).is_err(), "{content}");
        }
        // A plain-text answer naming an option counts.
        let answer = json!({"choices": [{"message": {"content": "desk lamp"}}]});
        let s = parse_choice(&answer, &options, 3).unwrap();
        assert!(s.logprobs[0] > s.logprobs[1] && s.logprobs[0] > s.logprobs[2]);
    }

    #[test]
    fn models_are_listed_from_openai_and_ollama_answers() {
        let v = json!({"object": "list", "data": [{"id": "a"}, {"id": "b"}]});
        assert_eq!(parse_models(&v), vec!["a", "b"]);
        assert_eq!(parse_models(&json!({"models": [{"name": "c"}]})), vec!["c"]);
        assert!(parse_models(&json!({"error": "x"})).is_empty());
    }

    #[test]
    fn a_prompt_built_from_the_template_splits_back_into_its_messages() {
        let t = ChatTemplate::chatml();
        let text = format!("{}Device:", t.apply("the system", "dim it"));
        assert_eq!(t.split(&text), Some(("the system", "dim it", "Device:")));
        assert_eq!(t.split("plain text"), None);
    }

    #[test]
    fn server_text_in_errors_is_short_and_clean() {
        let long = format!("bad\u{1b}[31m{}", "x".repeat(500));
        let e = excerpt(&long);
        assert!(!e.contains('\u{1b}'));
        assert!(e.chars().count() <= 201);
    }

    #[test]
    fn the_api_key_is_never_in_debug_output() {
        let mut c = HttpConfig::new("http://h/v1/");
        c.api_key = Some("sekrit".into());
        assert!(!format!("{c:?}").contains("sekrit"));
        assert_eq!(c.base, "http://h/v1");
    }
}
