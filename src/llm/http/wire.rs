//! The OpenAI wire format: the requests giot sends and how the answers
//! become [`Scores`]. Pure functions, no I/O.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::excerpt;
use crate::llm::{LlmError, Prompt, Scores};

/// Tokens a chat request needs beyond its messages and options: the
/// template's turns and the schema's braces.
pub(super) const CHAT_OVERHEAD: usize = 48;
/// Room for the answer: the JSON object around the longest option.
pub(super) const CHAT_MAX_TOKENS: usize = 64;

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
}
