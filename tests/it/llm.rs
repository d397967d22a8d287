//! The real default model through llama.cpp.

use giot::llm::llama::{self, LlamaConfig};
use giot::llm::{LlmError, Prompt, Scorer};
use std::path::PathBuf;

pub fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
fn the_model_prefers_the_device_the_request_names() {
    let (mut llm, _) = llama::spawn(LlamaConfig::new(model_path())).unwrap();
    let stable = llm.chat(
        "You control a smart home. Devices: kitchen light, garage door, bedroom fan. Name the device the request is about.",
        "\u{2}",
    );
    let (stable, tail) = stable.split_once('\u{2}').unwrap();
    let options: Vec<String> = [" kitchen light", " garage door", " bedroom fan"]
        .map(String::from)
        .to_vec();
    for (goal, want) in [
        ("open the garage please", 1),
        ("switch off the fan in the bedroom", 2),
        ("kitchen lights on", 0),
    ] {
        let prompt = Prompt {
            stable: stable.to_string(),
            request: format!("{goal}{tail}Device:"),
        };
        let scores = llm.score(&prompt, &options).unwrap();
        // Calibrated: how much more likely the request makes each option.
        let prior = Prompt {
            request: format!("{tail}Device:"),
            ..prompt.clone()
        };
        let prior = llm.score(&prior, &options).unwrap();
        let lift: Vec<f32> = (0..3)
            .map(|i| scores.logprobs[i] - prior.logprobs[i])
            .collect();
        let best = (0..3).max_by(|&a, &b| lift[a].total_cmp(&lift[b])).unwrap();
        assert_eq!(best, want, "{goal}: {lift:?}");
        assert!(scores.tokens_evaluated > 0);
    }
}

#[test]
fn a_missing_or_corrupt_model_file_is_a_clear_error() {
    let err = llama::spawn(LlamaConfig::new("/nonexistent.gguf".into()))
        .err()
        .unwrap();
    assert!(matches!(err, LlmError::Missing(_)));
    assert!(err.to_string().contains("scripts/fetch-model"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF but not really").unwrap();
    let err = llama::spawn(LlamaConfig::new(bad)).err().unwrap();
    assert!(matches!(err, LlmError::Load { .. }), "{err}");
}
