//! `giot planner eval` as a library call: every method drafts a menu for every
//! state, one at a time and timed, and is scored against the exact optimum.

use std::time::Instant;

use serde::Serialize;

use super::exact::optimal;
use super::model::MarketState;
use super::planners::{DraftError, Method, Planners};
use super::score::{Score, score};

/// One method's summary over all states.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: &'static str,
    /// Mean of `U_real / U*` (states with `U* ≤ 0` have no ratio and are left out).
    pub mean_ratio: f64,
    pub min_ratio: f64,
    /// Share of drafted menus with an IR or IC violation.
    pub violation_share: f64,
    /// Median wall time of one draft, milliseconds.
    pub p50_ms: f64,
}

/// One state's result.
#[derive(Debug, Clone, Serialize)]
pub struct StateResult {
    /// `U* / M`.
    pub optimum_per_vehicle: f64,
    pub n: usize,
    /// `U_real / U*` per method, in [`Method::ALL`] order (`null` when `U* ≤ 0`).
    pub ratios: serde_json::Map<String, serde_json::Value>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub methods: Vec<Row>,
    pub shipped: &'static str,
    pub states: Vec<StateResult>,
}

/// A drafted menu's score and the time it took.
pub struct Draft {
    pub score: Score,
    pub u_star: f64,
    pub ms: f64,
}

/// Drafts and scores one menu; `seed` is for the random baseline.
pub fn draft(
    planners: &Planners,
    method: Method,
    state: &MarketState,
    seed: u64,
) -> Result<(super::model::Menu, Draft), DraftError> {
    let u_star = optimal(state)?.utility;
    let start = Instant::now();
    let menu = planners.draft(method, state, seed)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let score = score(state, &menu, u_star)?;
    Ok((menu, Draft { score, u_star, ms }))
}

/// Evaluates every method on `states`; the random baseline of state k uses seed `seed + k`.
pub fn evaluate(
    planners: &Planners,
    states: &[MarketState],
    seed: u64,
) -> Result<Evaluation, DraftError> {
    let mut drafts: Vec<Vec<Draft>> = Vec::new();
    for method in Method::ALL {
        let per_state = (states.iter().enumerate())
            .map(|(k, s)| draft(planners, method, s, seed.wrapping_add(k as u64)).map(|d| d.1))
            .collect::<Result<Vec<_>, DraftError>>()?;
        drafts.push(per_state);
    }
    let methods = (Method::ALL.iter().zip(&drafts))
        .map(|(m, d)| summarise(m.name(), d))
        .collect();
    let states = (states.iter().enumerate())
        .map(|(k, s)| StateResult {
            optimum_per_vehicle: drafts[0][k].u_star / s.m,
            n: s.n(),
            ratios: (Method::ALL.iter().zip(&drafts))
                .map(|(m, d)| (m.name().to_string(), serde_json::json!(d[k].score.ratio)))
                .collect(),
        })
        .collect();
    Ok(Evaluation {
        methods,
        shipped: Method::shipped().name(),
        states,
    })
}

fn summarise(name: &'static str, drafts: &[Draft]) -> Row {
    let ratios: Vec<f64> = drafts.iter().filter_map(|d| d.score.ratio).collect();
    let violated = drafts
        .iter()
        .filter(|d| d.score.max_violation > 0.0)
        .count();
    let mut ms: Vec<f64> = drafts.iter().map(|d| d.ms).collect();
    ms.sort_by(f64::total_cmp);
    let share = |k: usize, of: usize| if of == 0 { 0.0 } else { k as f64 / of as f64 };
    Row {
        name,
        mean_ratio: share(1, ratios.len()) * ratios.iter().sum::<f64>(),
        min_ratio: ratios.iter().copied().fold(f64::NAN, f64::min),
        violation_share: share(violated, drafts.len()),
        p50_ms: ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN),
    }
}
