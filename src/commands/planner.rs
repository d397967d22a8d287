//! `giot planner train|draft|eval`: thin drivers over `giot::planner`.
//!
//! Progress and diagnostics go to stderr, results to stdout. Bad input (a
//! malformed state, an unreadable weights file) exits 2, naming the file and
//! line; anything else that fails exits 1.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use giot::cli::PlannerCommand;
use giot::planner::evaluate::{draft, evaluate};
use giot::planner::model::MarketState;
use giot::planner::planners::{DRAFT_SEED, Method, Planners, SHIPPED_WEIGHTS_PATH};
use giot::planner::train::{MODELS, Method as TrainMethod, Progress, TrainConfig, train};
use indicatif::{ProgressBar, ProgressStyle};

use super::ConfigError;

/// Training batch size (GDMOPT's).
const BATCH: usize = 256;
/// The environment variable candle's CPU kernels read their thread count from.
const THREADS_VAR: &str = "RAYON_NUM_THREADS";

pub fn run(cmd: PlannerCommand) -> Result<ExitCode> {
    match cmd {
        PlannerCommand::Train {
            steps,
            seed,
            out,
            method,
            threads,
        } => {
            let method: TrainMethod = method.parse()?;
            if let Some(code) = with_threads(threads)? {
                return Ok(code);
            }
            let out = out.unwrap_or_else(|| PathBuf::from(SHIPPED_WEIGHTS_PATH));
            train_command(
                TrainConfig {
                    steps,
                    seed,
                    batch: BATCH,
                    method,
                },
                &out,
            )
        }
        PlannerCommand::Draft {
            state,
            weights,
            json,
        } => draft_command(state.as_deref(), weights.as_deref(), json),
        PlannerCommand::Eval {
            states,
            seed,
            states_file,
            weights,
            json,
        } => {
            let planners = load(weights.as_deref())?;
            let states = match states_file {
                Some(file) => read_states(&file)?,
                None => {
                    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
                    (0..states).map(|_| MarketState::sample(&mut rng)).collect()
                }
            };
            let eval = evaluate(&planners, &states, seed)?;
            if json {
                outln!("{}", serde_json::to_string(&eval)?);
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "{:<16} {:>10} {:>10} {:>10} {:>8}",
                "method",
                "mean",
                "min",
                "violating",
                "p50 ms"
            );
            for r in &eval.methods {
                let (mean, min) = (r.mean_ratio, r.min_ratio);
                let share = 100.0 * r.violation_share;
                outln!(
                    "{:<16} {mean:>10.4} {min:>10.4} {share:>9.1}% {:>8.3}",
                    r.name,
                    r.p50_ms
                );
            }
            outln!("{} states; shipped head: {}", states.len(), eval.shipped);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// candle reads its thread count from the environment, which safe Rust may
/// not change in a running process: when the count is not already the one
/// wanted, run this same command again with it set, and pass its exit code on.
fn with_threads(threads: Option<usize>) -> Result<Option<ExitCode>> {
    let want = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if std::env::var(THREADS_VAR).ok().and_then(|v| v.parse().ok()) == Some(want) {
        return Ok(None);
    }
    let exe = std::env::current_exe().context("finding giot's own executable")?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(THREADS_VAR, want.to_string())
        .status()
        .context("starting the training process")?;
    Ok(Some(ExitCode::from(
        status.code().map_or(1, |c| c.clamp(0, 255) as u8),
    )))
}

fn train_command(cfg: TrainConfig, out: &Path) -> Result<ExitCode> {
    let threads = std::env::var(THREADS_VAR).unwrap_or_default();
    eprintln!(
        "training {} networks for {} steps each, batch {}, method {:?}, seed {}, {threads} threads",
        MODELS.len(),
        cfg.steps,
        cfg.batch,
        cfg.method,
        cfg.seed
    );
    let bar = ProgressBar::new((MODELS.len() * cfg.steps) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg} (eta {eta})")?
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let mut on_progress = |p: Progress| {
        bar.inc(1);
        let reward = p
            .reward
            .map_or(String::new(), |r| format!(" reward {r:.4}"));
        bar.set_message(format!("{} loss {:.5}{reward}", p.model, p.loss));
        if let Some(ratio) = p.ratio {
            let line = format!(
                "{:<15} step {:>6}/{} loss {:>10.5}{reward} held-out U/U* {ratio:.4}",
                p.model,
                p.step + 1,
                cfg.steps,
                p.loss
            );
            // A hidden bar (stderr is not a terminal) prints nothing, not even these lines.
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
    };
    let vm = train(&cfg, &mut on_progress).context("training")?;
    bar.finish_and_clear();
    let data = vm
        .data()
        .lock()
        .expect("the var map lock is never poisoned");
    // Only what drafting needs is saved: the critics stay behind.
    let shipped: std::collections::HashMap<String, candle_core::Tensor> = (data.iter())
        .filter(|(k, _)| MODELS.iter().any(|m| k.starts_with(&format!("{m}."))))
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    candle_core::safetensors::save(&shipped, out)
        .with_context(|| format!("writing {}", out.display()))?;
    let size = std::fs::metadata(out).map_or(0, |m| m.len());
    outln!(
        "wrote {} ({} KB) in {:.1} s",
        out.display(),
        size / 1024,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn load(weights: Option<&Path>) -> Result<Planners> {
    match weights {
        None => Planners::shipped().map_err(|e| {
            ConfigError::caused(
                "the shipped planner weights cannot be read (run `giot planner train`)",
                e,
            )
            .into()
        }),
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| ConfigError::caused(path.display().to_string(), e))?;
            Planners::from_bytes(bytes).map_err(|e| {
                ConfigError::caused(format!("{}: not planner weights", path.display()), e).into()
            })
        }
    }
}

fn parse_state(text: &str, origin: &str) -> Result<MarketState> {
    let state: MarketState =
        serde_json::from_str(text).map_err(|e| ConfigError::caused(origin, e))?;
    state
        .validate()
        .map_err(|e| ConfigError::caused(origin, e))?;
    Ok(state)
}

fn read_states(file: &Path) -> Result<Vec<MarketState>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::caused(file.display().to_string(), e))?;
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let states = lines
        .map(|(k, l)| parse_state(l, &format!("{}:{}", file.display(), k + 1)))
        .collect::<Result<Vec<_>>>()?;
    if states.is_empty() {
        return Err(ConfigError::new(format!("{}: no market states", file.display())).into());
    }
    Ok(states)
}

fn draft_command(state: Option<&Path>, weights: Option<&Path>, json: bool) -> Result<ExitCode> {
    let (text, origin) = match state {
        Some(p) if p != Path::new("-") => (
            std::fs::read_to_string(p)
                .map_err(|e| ConfigError::caused(p.display().to_string(), e))?,
            p.display().to_string(),
        ),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the state from stdin")?;
            (s, "<stdin>".to_string())
        }
    };
    let state = parse_state(&text, &origin)?;
    let planners = load(weights)?;
    let method = Method::shipped();
    let (menu, d) = draft(&planners, method, &state, DRAFT_SEED)?;
    let s = &d.score;
    if json {
        let value = serde_json::json!({
            "method": method.name(), "menu": menu.items, "choices": s.choices,
            "u_real": s.u_real, "u_star": d.u_star, "ratio": s.ratio,
            "ir_violations": s.ir_violations, "ic_violations": s.ic_violations,
            "max_violation": s.max_violation, "ms": d.ms,
        });
        outln!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{:<6} {:>12} {:>12}  picked by", "type", "q", "R");
    for (i, it) in menu.items.iter().enumerate() {
        let takers: Vec<String> = (s.choices.iter().enumerate())
            .filter(|(_, c)| **c == Some(i))
            .map(|(t, _)| t.to_string())
            .collect();
        outln!("{i:<6} {:>12.4} {:>12.4}  {}", it.q, it.r, takers.join(","));
    }
    let ratio = s.ratio.map_or("n/a".to_string(), |r| format!("{r:.6}"));
    outln!(
        "U_real {:.4}  U* {:.4}  ratio {ratio}  ({}, {:.3} ms)",
        s.u_real,
        d.u_star,
        method.name(),
        d.ms
    );
    outln!(
        "IR violations {:?}  IC violations {:?}  max violation {:.3e}",
        s.ir_violations,
        s.ic_violations,
        s.max_violation
    );
    Ok(ExitCode::SUCCESS)
}
