//! Token counting for a model that runs elsewhere (the HTTP backend), with
//! Hugging Face's `tokenizers` and no network at run time.
//!
//! The tokenizer comes from a file the user points to (`--tokenizer F`):
//! either a `tokenizer.json`, or a GGUF file of the same model family, whose
//! embedded vocabulary and merges (`tokenizer.ggml.tokens`,
//! `tokenizer.ggml.merges`, `tokenizer.ggml.model == "gpt2"`) are turned into
//! the same `tokenizer.json` shape and loaded through the same path. The
//! pre-tokenizer follows `tokenizer.ggml.pre`, as llama.cpp's does, so the ids
//! match llama.cpp's own tokenizer for the families handled here.

use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use super::gguf::{self, Value};
use super::{ChatTemplate, LlmError, SYSTEM_MARK, USER_MARK};

/// A loaded tokenizer, used to count tokens before a prompt is sent.
pub struct TokenCounter {
    inner: tokenizers::Tokenizer,
    /// The chat template the tokenizer's family uses (see [`family_template`]).
    template: ChatTemplate,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCounter").finish_non_exhaustive()
    }
}

fn error(path: &Path, reason: impl std::fmt::Display) -> LlmError {
    LlmError::Tokenizer {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl TokenCounter {
    /// Loads a `tokenizer.json`, or builds the tokenizer a GGUF file embeds.
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        if !path.is_file() {
            return Err(error(path, "no such file"));
        }
        if gguf::is_gguf(path) {
            let meta = gguf::read_metadata(path, "tokenizer.").map_err(|e| error(path, e))?;
            let template = match meta.get("tokenizer.chat_template") {
                Some(Value::Str(t)) => family_template(t),
                _ => None,
            };
            let json = tokenizer_json_from_gguf(&meta).map_err(|e| error(path, e))?;
            let inner =
                tokenizers::Tokenizer::from_bytes(json.to_string()).map_err(|e| error(path, e))?;
            let template = template.unwrap_or_else(|| tokens_template(&inner));
            return Self::counting(inner, template, path);
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            error(
                path,
                format!("{e} (expected a tokenizer.json or a GGUF file)"),
            )
        })?;
        let template = tokens_template(&inner);
        Self::counting(inner, template, path)
    }

    /// Counting needs every token: a tokenizer.json's padding would add
    /// some and its truncation (often 128 or 512) would hide the excess.
    fn counting(
        mut inner: tokenizers::Tokenizer,
        template: ChatTemplate,
        path: &Path,
    ) -> Result<Self, LlmError> {
        inner.with_padding(None);
        inner.with_truncation(None).map_err(|e| error(path, e))?;
        Ok(Self { inner, template })
    }

    /// Token ids of `text`, special tokens (`<|im_start|>`) recognised, no BOS added.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| error(&PathBuf::from("tokenizer"), e))
    }

    /// How many tokens `text` takes.
    pub fn count(&self, text: &str) -> Result<usize, LlmError> {
        self.ids(text).map(|ids| ids.len())
    }

    /// The chat template of the tokenizer's model family.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }
}

/// The chat template for a family recognised by its special tokens, in a
/// Jinja template's text or among a tokenizer's tokens. giot does not run
/// Jinja: the few families below cover the small models it targets, and the
/// same markers decide as llama.cpp's own template detection does.
pub fn family_template(text: &str) -> Option<ChatTemplate> {
    let (s, u) = (SYSTEM_MARK, USER_MARK);
    if text.contains("<|im_start|>") {
        Some(ChatTemplate::chatml())
    } else if text.contains("<|start_header_id|>") {
        Some(ChatTemplate::new(format!(
            "<|start_header_id|>system<|end_header_id|>\n\n{s}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{u}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        )))
    } else if text.contains("<start_of_turn>") {
        // Gemma has no system turn: the system text opens the user's.
        Some(ChatTemplate::new(format!(
            "<start_of_turn>user\n{s}\n\n{u}<end_of_turn>\n<start_of_turn>model\n"
        )))
    } else {
        None
    }
}

/// The family template from the tokenizer's special tokens; ChatML otherwise.
fn tokens_template(tokenizer: &tokenizers::Tokenizer) -> ChatTemplate {
    let specials: String = tokenizer
        .get_added_tokens_decoder()
        .values()
        .map(|t| t.content.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    family_template(&specials).unwrap_or_else(ChatTemplate::chatml)
}

/// llama.cpp's pre-tokenizer regexes (`llama-vocab.cpp`), by `tokenizer.ggml.pre`.
fn pre_tokenizer(pre: &str) -> Json {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
    match pre {
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "llama-bpe" | "llama3" | "falcon3" | "pixtral" => {
            json!({"type": "Sequence", "pretokenizers": [
            split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
            byte_level(false)]})
        }
        "qwen2" | "deepseek-r1-qwen" => json!({"type": "Sequence", "pretokenizers": [
            split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
            byte_level(false)]}),
        other => {
            if other != "gpt2" && other != "default" {
                tracing::warn!(
                    "GGUF pre-tokenizer {other:?} is not known to giot: using GPT-2's; token counts are approximate"
                );
            }
            byte_level(true)
        }
    }
}

/// Why a GGUF's metadata does not make a tokenizer.
#[derive(Debug, thiserror::Error)]
enum GgufTokenizerError {
    /// A key the tokenizer cannot be built without.
    #[error("the GGUF has no {0}")]
    Missing(&'static str),
    /// A SentencePiece (or other non-BPE) vocabulary.
    #[error(
        "the GGUF's tokenizer is {0:?}; only BPE (\"gpt2\") tokenizers can be built from a GGUF: give its tokenizer.json instead"
    )]
    NotBpe(String),
}

/// The `tokenizer.json` equivalent of a GGUF's embedded BPE tokenizer.
fn tokenizer_json_from_gguf(
    meta: &std::collections::HashMap<String, Value>,
) -> Result<Json, GgufTokenizerError> {
    use GgufTokenizerError::{Missing, NotBpe};
    let model = match meta.get("tokenizer.ggml.model") {
        Some(Value::Str(m)) => m.as_str(),
        _ => return Err(Missing("tokenizer.ggml.model")),
    };
    if model != "gpt2" {
        return Err(NotBpe(model.to_owned()));
    }
    let Some(Value::Strs(tokens)) = meta.get("tokenizer.ggml.tokens") else {
        return Err(Missing("tokenizer.ggml.tokens"));
    };
    let Some(Value::Strs(merges)) = meta.get("tokenizer.ggml.merges") else {
        return Err(Missing("tokenizer.ggml.merges"));
    };
    let types = match meta.get("tokenizer.ggml.token_type") {
        Some(Value::Ints(t)) => t.as_slice(),
        _ => &[],
    };
    let pre = match meta.get("tokenizer.ggml.pre") {
        Some(Value::Str(p)) => p.as_str(),
        _ => "gpt2",
    };
    let vocab: serde_json::Map<String, Json> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    // Control (3) and user-defined (4) tokens are matched whole, as llama.cpp does.
    let added: Vec<Json> = tokens
        .iter()
        .zip(types)
        .enumerate()
        .filter(|(_, (_, ty))| matches!(ty, 3 | 4))
        .map(|(i, (t, ty))| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": *ty == 3})
        })
        .collect();
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer(pre),
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A toy byte-level BPE vocabulary: bytes as GPT-2 maps them, two merges.
    fn toy() -> HashMap<String, Value> {
        let mut tokens: Vec<String> = vec!["<|im_start|>".into()];
        tokens.extend(["h", "i", "Ġ", "t", "hi", "Ġt"].map(String::from));
        let mut types = vec![3];
        types.extend([1; 6]);
        HashMap::from([
            ("tokenizer.ggml.model".into(), Value::Str("gpt2".into())),
            ("tokenizer.ggml.tokens".into(), Value::Strs(tokens)),
            ("tokenizer.ggml.token_type".into(), Value::Ints(types)),
            (
                "tokenizer.ggml.merges".into(),
                Value::Strs(vec!["h i".into(), "Ġ t".into()]),
            ),
        ])
    }

    #[test]
    fn a_gguf_bpe_vocabulary_becomes_a_working_tokenizer() {
        let json = tokenizer_json_from_gguf(&toy()).unwrap();
        let tok = tokenizers::Tokenizer::from_bytes(json.to_string()).unwrap();
        let ids = tok.encode_fast("<|im_start|>hi t", false).unwrap();
        assert_eq!(ids.get_ids(), &[0, 5, 6]);
        assert!(family_template("<|im_start|>").is_some());
    }

    #[test]
    fn a_sentencepiece_gguf_is_refused_with_a_hint() {
        let mut meta = toy();
        meta.insert("tokenizer.ggml.model".into(), Value::Str("llama".into()));
        let err = tokenizer_json_from_gguf(&meta).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }

    #[test]
    fn family_templates_keep_both_messages() {
        for marker in ["<|im_start|>", "<|start_header_id|>", "<start_of_turn>"] {
            let t = family_template(marker).unwrap().apply("SYS", "USR");
            assert!(t.contains("SYS") && t.contains("USR"), "{t}");
            assert!(t.find("SYS") < t.find("USR"), "{t}");
        }
        assert!(family_template("[INST]").is_none());
    }
}
