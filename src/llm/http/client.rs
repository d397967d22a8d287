//! The blocking HTTP side of the backend: one `ureq` agent, the key, and
//! the server's failures turned into errors that say what to do.

use std::time::Duration;

use serde_json::Value;

use super::{API_KEY_ENV, HttpConfig};
use crate::llm::LlmError;

/// The blocking HTTP side: one agent, the base URL, the key.
pub(super) struct Client {
    pub(super) agent: ureq::Agent,
    pub(super) base: String,
    pub(super) model: String,
    pub(super) api_key: Option<String>,
    pub(super) timeout: Duration,
}

/// A server's answer: its status and its body, parsed when it is JSON.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn json(&self) -> Result<Value, LlmError> {
        serde_json::from_str(&self.body).map_err(|_| {
            LlmError::Http(format!(
                "the server's answer is not JSON: {}",
                excerpt(&self.body)
            ))
        })
    }
}

impl Client {
    pub(super) fn new(config: &HttpConfig) -> Self {
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

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub(super) fn send(&self, path: &str, body: Option<&Value>) -> Result<Answer, LlmError> {
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

    pub(super) fn transport_error(&self, e: ureq::Error) -> LlmError {
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
    pub(super) fn models(&self) -> Result<Option<Vec<String>>, LlmError> {
        let answer = self.send("models", None)?;
        if answer.status != 200 {
            return Ok(None);
        }
        Ok(Some(parse_models(&answer.json()?)))
    }

    /// The model to ask for: the one given, checked against the server's
    /// list, or the server's only model.
    pub(super) fn resolve_model(&mut self, wanted: Option<&str>) -> Result<String, LlmError> {
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
                crate::llm::available_models(&list.unwrap_or_default())
            ))),
        }
    }

    /// A non-success answer to a request for `self.model`, as an error.
    pub(super) fn failure(&self, path: &str, answer: &Answer) -> LlmError {
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
pub(super) fn excerpt(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn models_are_listed_from_openai_and_ollama_answers() {
        let v = json!({"object": "list", "data": [{"id": "a"}, {"id": "b"}]});
        assert_eq!(parse_models(&v), vec!["a", "b"]);
        assert_eq!(parse_models(&json!({"models": [{"name": "c"}]})), vec!["c"]);
        assert!(parse_models(&json!({"error": "x"})).is_empty());
    }

    #[test]
    fn server_text_in_errors_is_short_and_clean() {
        let long = format!("bad\u{1b}[31m{}", "x".repeat(500));
        let e = excerpt(&long);
        assert!(!e.contains('\u{1b}'));
        assert!(e.chars().count() <= 201);
    }
}
