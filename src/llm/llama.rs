//! The llama.cpp backend: one thread owns the model and its context.
//!
//! Scoring reuses work at two levels. The stable part of the prompt is
//! decoded once into sequence 0 and kept while it does not change. For each
//! request, the request tokens are decoded once after it; then sequence 0's
//! KV cache is shared with one sequence per option, and every option's tokens
//! are decoded together in a single batch.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::{
    CancelToken, ChatTemplate, LlmError, LlmHandle, Prompt, Request, SYSTEM_MARK, Scores,
    USER_MARK, log_sum_exp,
};

/// Sequences available for options in one batch (sequence 0 holds the prompt).
const OPTION_SEQS: usize = 31;
const N_CTX: u32 = 2048;
const N_BATCH: u32 = 1024;

/// How to run the model.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub model: PathBuf,
    /// CPU threads for decoding.
    pub threads: usize,
    /// Layers to offload to a GPU (CUDA builds only).
    pub gpu_layers: u32,
}

impl LlamaConfig {
    pub fn new(model: PathBuf) -> Self {
        Self {
            model,
            threads: default_threads(),
            gpu_layers: 0,
        }
    }
}

/// One thread fewer than the machine has cores, and at least one: giot's
/// own threads (MQTT, the TUI) keep a core, and llama.cpp's thread pool, which
/// spins while it waits, never competes with them for the last one.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, 8)
}

fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, llama_cpp_2::LlamaCppError>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init()?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| LlmError::Load {
            path: PathBuf::new(),
            reason: e.to_string(),
        })
}

/// Loads the model on a new inference thread and returns a handle to it once
/// the model is ready, with the time loading took.
pub fn spawn(config: LlamaConfig) -> Result<(LlmHandle, Duration), LlmError> {
    if !config.model.is_file() {
        return Err(LlmError::Missing(config.model));
    }
    let (tx, rx) = mpsc::channel::<Request>();
    let (ready_tx, ready_rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .name("giot-llm".into())
        .spawn(move || serve(config, rx, ready_tx))
        .map_err(|e| LlmError::Decode(e.to_string()))?;
    let (name, template) = ready_rx.recv().map_err(|_| LlmError::Stopped)??;
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

type Ready = Result<(String, ChatTemplate), LlmError>;

fn serve(config: LlamaConfig, rx: mpsc::Receiver<Request>, ready: mpsc::Sender<Ready>) {
    let load_error = |reason: String| LlmError::Load {
        path: config.model.clone(),
        reason,
    };
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let params = LlamaModelParams::default().with_n_gpu_layers(config.gpu_layers);
    let model = match LlamaModel::load_from_file(backend, &config.model, &params) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(load_error(e.to_string())));
            return;
        }
    };
    let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(std::num::NonZeroU32::new(N_CTX))
        .with_n_batch(N_BATCH)
        .with_n_ubatch(N_BATCH)
        .with_n_seq_max(OPTION_SEQS as u32 + 1)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        // One KV buffer shared by all sequences: copying the prompt to an
        // option sequence then only tags cells instead of copying them.
        .with_kv_unified(true);
    let mut ctx = match model.new_context(backend, ctx_params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(load_error(e.to_string())));
            return;
        }
    };
    let name = config
        .model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let template = chat_template(&model);
    if ready.send(Ok((name, template))).is_err() {
        return;
    }
    let mut session = Session {
        model: &model,
        cached: Vec::new(),
    };
    while let Ok(request) = rx.recv() {
        match request {
            Request::Score {
                prompt,
                options,
                cancel,
                reply,
            } => {
                let result = session.score(&mut ctx, &prompt, &options, &cancel);
                if result.is_err() {
                    // Start from a clean cache after any failure.
                    ctx.clear_kv_cache();
                    session.cached.clear();
                }
                let _ = reply.send(result);
            }
        }
    }
}

/// The model's own chat template, rendered once with markers; ChatML if the
/// model has none or it cannot be applied.
fn chat_template(model: &LlamaModel) -> ChatTemplate {
    let render = || -> Option<String> {
        let template = model.chat_template(None).ok()?;
        let messages = [
            LlamaChatMessage::new("system".into(), SYSTEM_MARK.into()).ok()?,
            LlamaChatMessage::new("user".into(), USER_MARK.into()).ok()?,
        ];
        let rendered = model.apply_chat_template(&template, &messages, true).ok()?;
        // Some templates drop the system turn: then fold it into the user's.
        if rendered.contains(USER_MARK) && !rendered.contains(SYSTEM_MARK) {
            Some(rendered.replace(USER_MARK, &format!("{SYSTEM_MARK}\n\n{USER_MARK}")))
        } else {
            rendered.contains(USER_MARK).then_some(rendered)
        }
    };
    render().map_or_else(ChatTemplate::chatml, ChatTemplate::new)
}

struct Session<'m> {
    model: &'m LlamaModel,
    /// Tokens of the stable prompt currently held in sequence 0.
    cached: Vec<LlamaToken>,
}

impl Session<'_> {
    fn tokenize(&self, text: &str, bos: bool) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), bos, true)
    }

    fn score(
        &mut self,
        ctx: &mut LlamaContext<'_>,
        prompt: &Prompt,
        options: &[String],
        cancel: &CancelToken,
    ) -> Result<Scores, LlmError> {
        let mut decode_time = Duration::ZERO;
        let mut evaluated = 0;
        let stable = self.tokenize(&prompt.stable, true);
        let request = self.tokenize(&prompt.request, false);
        if request.is_empty() {
            return Err(LlmError::Decode("empty request".into()));
        }
        if stable != self.cached {
            ctx.clear_kv_cache();
            self.cached.clear();
            evaluated += stable.len();
            decode(ctx, &stable, 0, &[0], false, &mut decode_time)?;
            self.cached = stable;
        }
        let base = self.cached.len();
        // Drop what the previous request left after the stable part.
        let _ = ctx.clear_kv_cache_seq(Some(0), Some(base as u32), None);
        for seq in 1..=OPTION_SEQS as u32 {
            let _ = ctx.clear_kv_cache_seq(Some(seq), None, None);
        }
        if cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        evaluated += request.len();
        let last = decode(ctx, &request, base, &[0], true, &mut decode_time)?;
        let end = base + request.len();
        let first_logits = ctx.get_logits_ith(last).to_vec();
        let first_norm = log_sum_exp(&first_logits);

        let mut logprobs = Vec::with_capacity(options.len());
        for chunk in options.chunks(OPTION_SEQS) {
            if cancel.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            let tokens: Vec<Vec<LlamaToken>> =
                chunk.iter().map(|o| self.tokenize(o, false)).collect();
            let total: usize = tokens.iter().map(Vec::len).sum();
            let mut batch = LlamaBatch::new(total.max(1), 1);
            let mut rows = Vec::with_capacity(chunk.len());
            for (i, toks) in tokens.iter().enumerate() {
                let seq = i as i32 + 1;
                ctx.copy_kv_cache_seq(0, seq, None, None)
                    .map_err(|e| LlmError::Decode(e.to_string()))?;
                let start = batch.n_tokens();
                for (j, &t) in toks.iter().enumerate() {
                    // The last token's own logits are not needed: its
                    // probability comes from the token before it.
                    let want = j + 1 < toks.len();
                    batch
                        .add(t, (end + j) as i32, &[seq], want)
                        .map_err(|e| LlmError::Decode(e.to_string()))?;
                }
                rows.push(start);
            }
            if total > 0 {
                evaluated += total;
                let t0 = Instant::now();
                ctx.decode(&mut batch)
                    .map_err(|e| LlmError::Decode(e.to_string()))?;
                decode_time += t0.elapsed();
            }
            for (toks, start) in tokens.iter().zip(rows) {
                let Some(&first) = toks.first() else {
                    logprobs.push(0.0);
                    continue;
                };
                let mut lp = first_logits[first.0 as usize] - first_norm;
                for (j, t) in toks.iter().enumerate().skip(1) {
                    let row = ctx.get_logits_ith(start + j as i32 - 1);
                    lp += row[t.0 as usize] - log_sum_exp(row);
                }
                logprobs.push(lp);
            }
            for seq in 1..=chunk.len() as u32 {
                let _ = ctx.clear_kv_cache_seq(Some(seq), None, None);
            }
        }
        Ok(Scores {
            logprobs,
            tokens_evaluated: evaluated,
            decode_time,
        })
    }
}

/// Decodes `tokens` at positions `start..` in `seqs`, in batches; returns the
/// batch index of the last token when `logits_last` (for `get_logits_ith`).
fn decode(
    ctx: &mut LlamaContext<'_>,
    tokens: &[LlamaToken],
    start: usize,
    seqs: &[i32],
    logits_last: bool,
    time: &mut Duration,
) -> Result<i32, LlmError> {
    let mut last = 0;
    let chunks: Vec<_> = tokens.chunks(N_BATCH as usize).collect();
    let mut pos = start;
    for (c, chunk) in chunks.iter().enumerate() {
        let mut batch = LlamaBatch::new(chunk.len(), 1);
        for (i, &t) in chunk.iter().enumerate() {
            let is_last = c + 1 == chunks.len() && i + 1 == chunk.len();
            batch
                .add(t, pos as i32, seqs, logits_last && is_last)
                .map_err(|e| LlmError::Decode(e.to_string()))?;
            pos += 1;
        }
        let t0 = Instant::now();
        ctx.decode(&mut batch)
            .map_err(|e| LlmError::Decode(e.to_string()))?;
        *time += t0.elapsed();
        last = batch.n_tokens() - 1;
    }
    Ok(last)
}

/// The token ids llama.cpp's own tokenizer gives `text` (special tokens
/// parsed, no BOS), loading only the model's vocabulary: the reference the
/// HTTP backend's GGUF-built tokenizer is checked against.
pub fn tokenize(model: &Path, text: &str) -> Result<Vec<u32>, LlmError> {
    if !model.is_file() {
        return Err(LlmError::Missing(model.to_path_buf()));
    }
    let params = LlamaModelParams::default().with_vocab_only(true);
    let loaded =
        LlamaModel::load_from_file(backend()?, model, &params).map_err(|e| LlmError::Load {
            path: model.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(loaded
        .vocab()
        .tokenize(text.as_bytes(), false, true)
        .into_iter()
        .map(|t| t.0 as u32)
        .collect())
}

/// The default model file: `./models/` first, then `$XDG_DATA_HOME/giot/models/`.
pub fn default_model_path() -> PathBuf {
    const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let local = Path::new("models").join(FILE);
    if local.exists() {
        return local;
    }
    let data = crate::paths::data_dir().join("models").join(FILE);
    if data.exists() { data } else { local }
}
