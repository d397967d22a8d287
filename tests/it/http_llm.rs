//! The HTTP model backend against a local OpenAI-compatible server on
//! loopback, written here on `std::net`. The server is a stand-in for vLLM
//! (prompt logprobs) or llama.cpp's server (no prompt logprobs: a
//! JSON-schema-constrained choice), and its answers are computed by the real
//! default model through giot's llama.cpp backend, so nothing is scripted:
//! it records every request for the tests to check their shape.
//!
//! Its one piece of giot knowledge: a ranking prompt ends with the agent's
//! answer prefix `Device:`, and the option follows it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};

use giot::llm::http::{self, HttpConfig};
use giot::llm::llama::{self, LlamaConfig};
use giot::llm::tokenizer::TokenCounter;
use giot::llm::{ChatTemplate, LlmError, LlmHandle, Prompt, Scorer};
use serde_json::{Value, json};

use super::harness::{Mosquitto, demo_devices, demo_registry, free_port, giot, spawn_sim};
use super::llm::model_path;

const ANSWER: &str = "Device:";
const MODEL: &str = "smollm2-135m";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    auth: Option<String>,
    body: Value,
}

struct Spec {
    key: Option<&'static str>,
    /// Echo prompt logprobs on /completions (vLLM) or not (llama.cpp's server).
    prompt_logprobs: bool,
    /// The real model; without it the chat endpoint answers its first option.
    llm: Option<Mutex<LlmHandle>>,
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// What the chat endpoint chose, in order.
    chosen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(spec: Spec) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let chosen = Arc::new(Mutex::new(Vec::new()));
        let spec = Arc::new(spec);
        let (s, c) = (seen.clone(), chosen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (spec, s, c) = (spec.clone(), s.clone(), c.clone());
                std::thread::spawn(move || serve(stream, &spec, &s, &c));
            }
        });
        Self { port, seen, chosen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn requests(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }
}

fn serve(stream: TcpStream, spec: &Spec, seen: &Mutex<Vec<Seen>>, chosen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut length, mut auth) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        match name.trim().to_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => auth = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        auth: auth.clone(),
        body: body.clone(),
    });
    let (status, answer) = respond(spec, &method, &path, auth.as_deref(), &body, chosen);
    let text = answer.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn respond(
    spec: &Spec,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &Value,
    chosen: &Mutex<Vec<String>>,
) -> (u16, Value) {
    if let Some(key) = spec.key
        && auth != Some(&format!("Bearer {key}"))
    {
        return (401, json!({"error": {"message": "Invalid API key"}}));
    }
    match (method, path) {
        ("GET", "/v1/models") => (
            200,
            json!({"object": "list", "data": [{"id": MODEL, "object": "model"}]}),
        ),
        ("POST", _) if body["model"] != MODEL => (
            404,
            json!({"error": {"message": format!("The model `{}` does not exist.", body["model"])}}),
        ),
        ("POST", "/v1/completions") if spec.prompt_logprobs => (200, completions(spec, body)),
        // llama.cpp's server: echo ignored, logprobs of the generated token only.
        ("POST", "/v1/completions") => (
            200,
            json!({"choices": [{"index": 0, "text": " the",
                "logprobs": {"content": [{"token": " the", "logprob": -0.7}]}}]}),
        ),
        ("POST", "/v1/chat/completions") => (200, chat(spec, body, chosen)),
        _ => (404, json!({"error": "not found"})),
    }
}

/// vLLM's echo: the prompt's tokens with their logprobs (the first null),
/// then one generated token. The option after `Device:` is scored by the real
/// model, the prompt before it split where giot splits it (before the goal).
fn completions(spec: &Spec, body: &Value) -> Value {
    let mut llm = spec.llm.as_ref().unwrap().lock().unwrap();
    let prompts: Vec<&str> = body["prompt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    // The prompts share everything before the option: one batch for them all.
    let split: Vec<(&str, &str)> = prompts
        .iter()
        .map(|p| p.split_at(p.rfind(ANSWER).unwrap() + ANSWER.len()))
        .collect();
    let head = split[0].0;
    assert!(
        split.iter().all(|(h, _)| *h == head),
        "one prompt per request"
    );
    let user = head
        .rfind("<|im_start|>user\n")
        .map_or(0, |u| u + "<|im_start|>user\n".len());
    let prompt = Prompt {
        stable: head[..user].to_string(),
        request: head[user..].to_string(),
    };
    let options: Vec<String> = split.iter().map(|(_, o)| o.to_string()).collect();
    let scores = llm.score(&prompt, &options).unwrap();
    let h = head.chars().count();
    let mut choices = Vec::new();
    for (i, (p, option)) in prompts.iter().zip(&options).enumerate() {
        let o = option.chars().count();
        choices.push(
            json!({"index": i, "text": format!("{p}\n"), "finish_reason": "length",
            "logprobs": {
                "tokens": [&head[..1], &head[1..], option, "\n"],
                "token_logprobs": [null, -1.0, scores.logprobs[i], -0.1],
                "text_offset": [0, 1, h, h + o],
            }}),
        );
    }
    json!({"choices": choices, "usage": {"prompt_tokens": 10 * prompts.len()}})
}

/// A constrained choice: the option with the highest lift, computed by the
/// real model as the agent would, answered as the schema asks.
fn chat(spec: &Spec, body: &Value, chosen: &Mutex<Vec<String>>) -> Value {
    let messages = body["messages"].as_array().unwrap();
    let content = |role: &str| {
        messages
            .iter()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string()
    };
    let enums: Vec<String> = body
        .pointer("/response_format/json_schema/schema/properties/choice/enum")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let best = match &spec.llm {
        None => 0,
        Some(llm) => {
            let mut llm = llm.lock().unwrap();
            let full = ChatTemplate::chatml().apply(&content("system"), "\u{2}");
            let (stable, tail) = full.split_once('\u{2}').unwrap();
            let options: Vec<String> = enums.iter().map(|e| format!(" {e}")).collect();
            let ask = |request: String, llm: &mut LlmHandle| {
                let prompt = Prompt {
                    stable: stable.to_string(),
                    request,
                };
                llm.score(&prompt, &options).unwrap().logprobs
            };
            let with = ask(format!("{}{tail}{ANSWER}", content("user")), &mut llm);
            let prior = ask(format!("{tail}{ANSWER}"), &mut llm);
            (0..options.len())
                .max_by(|&a, &b| (with[a] - prior[a]).total_cmp(&(with[b] - prior[b])))
                .unwrap()
        }
    };
    chosen.lock().unwrap().push(enums[best].clone());
    json!({"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": json!({"choice": enums[best]}).to_string()}}],
        "usage": {"prompt_tokens": 100}})
}

/// The second architecture (Gemma 3 270M, `scripts/fetch-second-model`),
/// as the escalation server's model: another GGUF than the local one.
fn second_model() -> Option<Mutex<LlmHandle>> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/gemma-3-270m-q4_k_m.gguf");
    assert!(
        path.exists(),
        "the second model is missing: run scripts/fetch-second-model"
    );
    Some(Mutex::new(llama::spawn(LlamaConfig::new(path)).unwrap().0))
}

fn real_model() -> Option<Mutex<LlmHandle>> {
    Some(Mutex::new(
        llama::spawn(LlamaConfig::new(model_path())).unwrap().0,
    ))
}

/// `giot run --json` through a model server.
fn run_with(server_url: &str, broker: &str, extra: &[&str], goal: &str) -> (Output, Value) {
    let out = giot()
        .args(["run", "--json", "--broker", broker, "--devices"])
        .arg(demo_devices())
        .args(["--llm", server_url])
        .args(extra)
        .arg(goal)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

/// Names and aliases of the devices, as the agent offers them to the model.
fn names(ids: &[&str]) -> Vec<String> {
    let registry = demo_registry();
    let mut out = Vec::new();
    for id in ids {
        let d = registry.get(id).unwrap();
        out.push(d.name.to_lowercase());
        out.extend(d.aliases.iter().map(|a| a.to_lowercase()));
    }
    out.sort();
    out
}

/// A goal the words cannot settle: "the fan" is the bedroom's or the study's.
// "where I sleep" is for the model to read: the words tie the two fans.
const GOAL: &str = "turn off the fan where I sleep";

#[test]
fn a_goal_is_ranked_by_prompt_logprobs_on_the_server_and_executed() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "0.5");
    let server = Server::start(Spec {
        key: Some("k3y"),
        prompt_logprobs: true,
        llm: real_model(),
    });
    let out = giot()
        .env("GIOT_LLM_API_KEY", "k3y")
        .args(["run", "--json", "--broker", &broker.url(), "--devices"])
        .arg(demo_devices())
        .args(["--llm", &server.url(), "--llm-model", MODEL, GOAL])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{json}");
    assert_eq!(json["status"], "executed", "{json}");
    assert_eq!(json["actions"][0]["confirmed"], true, "{json}");
    assert!(
        !stderr.contains("k3y"),
        "the key must never be printed: {stderr}"
    );

    // The same goal with the model in process chooses the same device.
    let local = giot()
        .args([
            "run",
            "--json",
            "--dry-run",
            "--broker",
            &broker.url(),
            "--devices",
        ])
        .arg(demo_devices())
        .arg("--model")
        .arg(model_path())
        .arg(GOAL)
        .output()
        .unwrap();
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(json["actions"][0]["device"], local["actions"][0]["device"]);
    eprintln!(
        "timing over HTTP {} / in process {}",
        json["timing_ms"], local["timing_ms"]
    );

    // Asked with the key, by prompt logprobs only, about the fans' names only.
    let ranked = server.requests("/v1/completions");
    assert!(!ranked.is_empty());
    assert!(server.requests("/v1/chat/completions").is_empty());
    let mut offered: Vec<String> = Vec::new();
    for r in &ranked {
        assert_eq!(r.method, "POST");
        assert_eq!(r.auth.as_deref(), Some("Bearer k3y"));
        assert_eq!(r.body["model"], MODEL);
        assert_eq!(r.body["echo"], true);
        for p in r.body["prompt"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            offered.push(
                p[p.rfind(ANSWER).unwrap() + ANSWER.len()..]
                    .trim()
                    .to_string(),
            );
        }
    }
    offered.sort();
    offered.dedup();
    assert_eq!(offered, names(&["bedroom_fan", "study_fan"]));
}

#[test]
fn a_server_without_prompt_logprobs_gets_a_choice_constrained_to_the_candidates() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "0.5");
    let server = Server::start(Spec {
        key: None,
        prompt_logprobs: false,
        llm: real_model(),
    });
    let (out, json) = run_with(&server.url(), &broker.url(), &[], GOAL);
    let status = json["status"].as_str().unwrap_or_default().to_string();
    assert!(
        out.status.success() || status == "needs_clarification",
        "{}\n{json}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Tried once, then remembered: one /completions request in all. Then
    // one constrained choice for the goal and one for the goal without the
    // words only the model can read ("sleep"): the choice counts only if
    // those words change it.
    assert_eq!(server.requests("/v1/completions").len(), 1);
    let chats = server.requests("/v1/chat/completions");
    assert_eq!(chats.len(), 2, "the prior needs no request");
    let body = &chats[0].body;
    assert_eq!(body["model"], MODEL, "the server's only model is taken");
    assert_eq!(body["messages"][1]["content"], GOAL);
    assert_eq!(
        chats[1].body["messages"][1]["content"],
        "turn off the fan where i"
    );
    let mut enums: Vec<String> = body
        .pointer("/response_format/json_schema/schema/properties/choice/enum")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    enums.sort();
    assert_eq!(enums, names(&["bedroom_fan", "study_fan"]));
    let chosen = server.chosen.lock().unwrap().clone();
    if chosen[0] == chosen[1] {
        // The same choice with and without "sleep": nothing decided, ask.
        assert_eq!(status, "needs_clarification", "{json}");
        assert_eq!(json["candidates"].as_array().unwrap().len(), 2, "{json}");
    } else {
        // The device acted on is the one the server chose for the goal.
        assert_eq!(status, "executed", "{json}");
        assert_eq!(json["actions"][0]["confirmed"], true, "{json}");
        let device = json["actions"][0]["device"].as_str().unwrap();
        assert!(
            names(&[device]).contains(&chosen[0]),
            "{chosen:?} vs {device}"
        );
    }
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unreachable_server_a_missing_key_and_an_unknown_model_are_clear_errors() {
    let broker = Mosquitto::start();
    let down = format!("http://127.0.0.1:{}/v1", free_port());
    let (out, _) = run_with(&down, &broker.url(), &[], GOAL);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("cannot reach the model server"),
        "{}",
        stderr_of(&out)
    );

    let server = Server::start(Spec {
        key: Some("k3y"),
        prompt_logprobs: false,
        llm: None,
    });
    let out = giot()
        .env_remove("GIOT_LLM_API_KEY")
        .args(["run", "--broker", &broker.url(), "--devices"])
        .arg(demo_devices())
        .args(["--llm", &server.url(), GOAL])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("401") && err.contains("set GIOT_LLM_API_KEY"),
        "{err}"
    );
    let out = giot()
        .env("GIOT_LLM_API_KEY", "wrong")
        .args(["run", "--broker", &broker.url(), "--devices"])
        .arg(demo_devices())
        .args(["--llm", &server.url(), GOAL])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("GIOT_LLM_API_KEY was not accepted"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the key must never be printed: {err}"
    );

    let out = giot()
        .env("GIOT_LLM_API_KEY", "k3y")
        .args(["run", "--broker", &broker.url(), "--devices"])
        .arg(demo_devices())
        .args(["--llm", &server.url(), "--llm-model", "gpt-9", GOAL])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("\"gpt-9\"") && err.contains(MODEL), "{err}");
}

#[test]
fn flags_of_the_other_backend_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (
            vec!["--llm", "http://127.0.0.1:9/v1", "--model", "x.gguf"],
            "--model",
        ),
        (
            vec!["--llm", "http://127.0.0.1:9/v1", "--threads", "2"],
            "--threads",
        ),
        (vec!["--tokenizer", "t.json"], "--tokenizer"),
        (vec!["--llm", "127.0.0.1:8080"], "--llm must be"),
    ] {
        let out = giot()
            .env_remove("GIOT_MODEL")
            .env_remove("GIOT_LLM")
            .args(["run", "--dry-run"])
            .args(&args)
            .arg(GOAL)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr_of(&out).contains(flag),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
}

fn minilm() -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/all-MiniLM-L6-v2.tokenizer.json");
    assert!(path.is_file(), "run scripts/fetch-tokenizer first");
    path
}

#[test]
fn a_real_tokenizer_json_counts_tokens_as_its_vocabulary_says() {
    let t = TokenCounter::load(&minilm()).unwrap();
    // Ids are the line numbers (from 0) of the words in the package's vocab.txt.
    assert_eq!(
        t.ids("dim the hall light to 10%").unwrap(),
        vec![11737, 1996, 2534, 2422, 2000, 2184, 1003]
    );
    assert_eq!(
        t.ids("Unlock the FRONT door").unwrap(),
        vec![19829, 1996, 2392, 2341]
    );
    assert_eq!(t.count("").unwrap(), 0);
    // Neither padded nor truncated (the file asks for both, at 128).
    assert_eq!(t.count(&"light ".repeat(1000)).unwrap(), 1000);
    // A BERT tokenizer has no chat tokens: ChatML.
    assert_eq!(
        t.template().apply("s", "u"),
        ChatTemplate::chatml().apply("s", "u")
    );
    let err = TokenCounter::load(&demo_devices()).unwrap_err();
    assert!(matches!(err, LlmError::Tokenizer { .. }), "{err}");
}

#[test]
fn a_tokenizer_built_from_the_gguf_matches_llama_cpps_own() {
    let started = std::time::Instant::now();
    let t = TokenCounter::load(&model_path()).unwrap();
    eprintln!("tokenizer built from the GGUF in {:?}", started.elapsed());
    let chat = ChatTemplate::chatml().apply(
        "You are giot. Devices:\n- Hallway ceiling light (hall_light)",
        "dim the hall light to 10% and set 21.5 °C",
    );
    for text in [
        "dim the hall light to 10%",
        "What's the temperature in the cellar?  It's 12345 degrees!\n\nok",
        "Ünïcödé  —  naïve café 🚀 don't",
        chat.as_str(),
        " bedside lamp",
    ] {
        let want = llama::tokenize(&model_path(), text).unwrap();
        assert_eq!(t.ids(text).unwrap(), want, "{text:?}");
    }
    // SmolLM2's template is ChatML.
    assert_eq!(
        t.template().apply("s", "u"),
        ChatTemplate::chatml().apply("s", "u")
    );
}

#[test]
fn prompts_over_the_context_are_trimmed_or_refused() {
    let server = Server::start(Spec {
        key: None,
        prompt_logprobs: false,
        llm: None,
    });
    let spawn = |context: usize| {
        let mut config = HttpConfig::new(&server.url());
        config.api_key = None;
        config.tokenizer = Some(model_path());
        config.context = context;
        http::spawn(config).unwrap().0
    };
    let mut llm = spawn(200);
    let full = llm.chat("Name the device.", "turn off the fan");
    let (stable, rest) = full.split_at(full.find("turn off").unwrap());
    let prompt = Prompt {
        stable: stable.to_string(),
        request: format!("{rest}Device:"),
    };
    let long = format!(" {}", "very ".repeat(200));
    let options = vec![" desk fan".to_string(), long];
    let started = std::time::Instant::now();
    let scores = llm.score(&prompt, &options).unwrap();
    eprintln!(
        "two HTTP round trips (/completions, /chat/completions) with counting: {:?}",
        started.elapsed()
    );
    assert!(scores.logprobs[0].is_finite());
    assert_eq!(
        scores.logprobs[1],
        f32::NEG_INFINITY,
        "the long option is dropped"
    );
    let chats = server.requests("/v1/chat/completions");
    let sent = &chats.last().unwrap().body["response_format"]["json_schema"]["schema"]["properties"]
        ["choice"]["enum"];
    assert_eq!(sent, &json!(["desk fan"]));

    let mut tiny = spawn(20);
    let err = tiny.score(&prompt, &options[..1]).unwrap_err();
    assert!(matches!(err, LlmError::TooLong { limit: 20, .. }), "{err}");
    assert!(err.to_string().contains("--llm-context"));
}

#[test]
fn a_server_that_never_answers_times_out_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, reads, never answers; holds the connections until the test ends.
    let held = std::thread::spawn(move || {
        let mut streams = Vec::new();
        if let Ok((s, _)) = listener.accept() {
            streams.push(s);
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
    });
    let mut config = HttpConfig::new(&format!("http://127.0.0.1:{port}/v1"));
    config.timeout = std::time::Duration::from_millis(500);
    let started = std::time::Instant::now();
    let err = http::spawn(config).err().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(
        err.to_string().contains("did not answer within 0.5 s"),
        "{err}"
    );
    held.join().unwrap();
}

/// `giot run --json` on `devices` with the default model locally and
/// `server` as the escalation server.
fn run_escalating(
    broker: &Mosquitto,
    devices: &std::path::Path,
    server: &str,
    goal: &str,
) -> Output {
    giot()
        .args([
            "run",
            "--json",
            "--no-ledger",
            "--broker",
            &broker.url(),
            "--devices",
        ])
        .arg(devices)
        .arg("--model")
        .arg(model_path())
        .args(["--escalate", server, goal])
        .output()
        .unwrap()
}

/// Edge–cloud escalation: the default model runs locally, and a goal it
/// cannot decide above its margin goes to a second server (here the
/// stand-in above, answering with a second GGUF of another architecture,
/// Gemma 3 270M) with only the goal and its candidates; the server's
/// choice is one of them or "none of these".
#[test]
fn a_goal_the_local_model_cannot_decide_is_escalated_with_only_its_candidates() {
    let broker = Mosquitto::start();
    let fixture =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/intents/home.en.yaml");
    let _sim = super::harness::spawn_sim_with(&broker.url(), "0.5", &fixture);
    let server = Server::start(Spec {
        key: None,
        prompt_logprobs: false,
        llm: second_model(),
    });
    // Three lights in the living room: the words leave all three.
    let goal = "it's too dark in the living room";
    let out = run_escalating(&broker, &fixture, &server.url(), goal);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let chats = server.requests("/v1/chat/completions");
    assert_eq!(chats.len(), 1, "{json} {}", stderr_of(&out));
    let body = &chats[0].body;
    let mut offered: Vec<String> = body
        .pointer("/response_format/json_schema/schema/properties/choice/enum")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    offered.sort();
    assert_eq!(
        offered,
        [
            "none of these",
            "turn on the floor lamp",
            "turn on the led strip",
            "turn on the living room ceiling light",
        ]
    );
    // Only the goal and the candidates leave the machine: no other device,
    // no topic, no state.
    let user = &body["messages"][1]["content"];
    assert_eq!(user.as_str().unwrap().trim(), goal, "{body}");
    let text = body.to_string();
    for private in [
        "desk lamp",
        "kitchen",
        "bench/",
        "front door",
        "brightness",
        "state",
    ] {
        assert!(!text.contains(private), "{private} was sent: {text}");
    }
    let chosen = server.chosen.lock().unwrap().clone();
    match chosen[0].as_str() {
        "none of these" => assert_eq!(json["status"], "needs_clarification", "{json}"),
        light => {
            assert_eq!(json["status"], "executed", "{json}");
            let want = match light {
                "turn on the floor lamp" => "floor_lamp",
                "turn on the led strip" => "led_strip",
                _ => "living_ceiling_light",
            };
            assert_eq!(json["actions"][0]["device"], want, "{json}");
            assert_eq!(json["actions"][0]["confirmed"], true, "{json}");
        }
    }
}

#[test]
fn an_unreachable_escalation_server_leaves_the_goal_to_the_local_layers() {
    let broker = Mosquitto::start();
    let _sim = spawn_sim(&broker.url(), "0.5");
    let dead = format!("http://127.0.0.1:{}/v1", free_port());
    let out = run_escalating(&broker, &demo_devices(), &dead, "turn on the hall light");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(json["status"], "executed", "{json}");
    assert!(
        stderr_of(&out).contains("--escalate"),
        "{}",
        stderr_of(&out)
    );
    let out = giot()
        .args(["run", "--escalate-model", "m", "turn on the hall light"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("give --escalate URL too"));
}
