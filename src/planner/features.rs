//! What the learned planners see and emit: a market state as a fixed-size
//! vector, and a menu as a vector of actions in `[-1, 1]`.
//!
//! Every learned planner (both diffusion heads and the DRL baseline) reads the
//! same features and writes actions in the same space, so their comparison is
//! about how they learn, not what they are shown. Types are padded to
//! [`MAX_TYPES`] slots with a mask; quantities enter as logarithms and ratios so
//! that one network covers ω from 5 to 20, c from 0.5 to 2 and θ from 0.5 to 5.
//! The population M is left out on purpose: the optimal menu does not depend
//! on it (utility scales linearly in M).

use super::model::{MAX_TYPES, MarketState};

/// Features per type slot.
const PER_TYPE: usize = 9;
/// Length of the feature vector of one state.
pub const FEATURES: usize = MAX_TYPES * PER_TYPE + 2;

/// The largest `ln(1 + q) / ln(θω/c)` a quality action can express: qualities
/// are drafted relative to the first-best quality of the type, and ironing can
/// push a type slightly past its first best.
pub const U_MAX: f64 = 1.3;
/// Dead zone below zero quality, so a zero quality needs no saturated output.
pub const U_DEAD: f64 = 0.05;
/// The largest reward per unit of ω the raw head can draft.
pub const V_MAX: f64 = 2.0;

/// `ln(θ_i ω / c)`: the log of `1 + q` at the first best, kept away from 0 so
/// that types the server cannot profitably serve still have a usable scale.
pub fn first_best_log(state: &MarketState, i: usize) -> f64 {
    (state.theta[i] * state.omega / state.c).ln().max(0.05)
}

/// The feature vector of a (valid) state.
pub fn features(state: &MarketState) -> Vec<f32> {
    let n = state.n();
    let mut out = vec![0f32; FEATURES];
    let mut tail = 1.0;
    for i in 0..n {
        tail -= state.rho[i];
        let tail = tail.max(0.0);
        let gap = state
            .theta
            .get(i + 1)
            .map_or(0.0, |t| (t / state.theta[i]).ln());
        let slot = [
            1.0,
            first_best_log(state, i) / 4.0,
            state.theta[i].ln() / 2.0,
            state.rho[i],
            state.rho[i].ln() / 4.0,
            tail,
            (tail + 1e-3).ln() / 4.0,
            gap,
            // ln(1 − θ_i/θ_{i+1}): the relative efficiency gap to the next type.
            (1.0 - (-gap).exp() + 1e-3).ln() / 4.0,
        ];
        for (k, v) in slot.into_iter().enumerate() {
            out[i * PER_TYPE + k] = v as f32;
        }
    }
    out[MAX_TYPES * PER_TYPE] = ((state.omega / state.c).ln() / 4.0) as f32;
    out[MAX_TYPES * PER_TYPE + 1] = n as f32 / MAX_TYPES as f32;
    out
}

/// 1 for the slots of real types, 0 for padding (`width` slots per type).
pub fn mask(state: &MarketState, width: usize) -> Vec<f32> {
    let mut m = vec![0f32; MAX_TYPES * width];
    for k in 0..width {
        m[k * MAX_TYPES..k * MAX_TYPES + state.n()].fill(1.0);
    }
    m
}

/// The action encoding `ln(1 + q)` for type i.
pub fn encode_quality(state: &MarketState, i: usize, q: f64) -> f64 {
    let u = if q <= 0.0 {
        -U_DEAD / 2.0
    } else {
        q.ln_1p() / first_best_log(state, i)
    };
    (2.0 * (u + U_DEAD) / (U_MAX + U_DEAD) - 1.0).clamp(-1.0, 1.0)
}

/// `ln(1 + q)` for type i from its action (0 in the dead zone).
pub fn decode_log_quality(state: &MarketState, i: usize, a: f64) -> f64 {
    let u = (a.clamp(-1.0, 1.0) + 1.0) / 2.0 * (U_MAX + U_DEAD) - U_DEAD;
    u.max(0.0) * first_best_log(state, i)
}

/// The action encoding a reward R (raw head only).
pub fn encode_reward(state: &MarketState, r: f64) -> f64 {
    (2.0 * r / (state.omega * V_MAX) - 1.0).clamp(-1.0, 1.0)
}

/// The reward R encoded by an action (raw head only).
pub fn decode_reward(state: &MarketState, a: f64) -> f64 {
    (a.clamp(-1.0, 1.0) + 1.0) / 2.0 * state.omega * V_MAX
}

/// The features of a batch of states, `[B, FEATURES]`.
pub fn batch_features(states: &[MarketState]) -> candle_core::Result<candle_core::Tensor> {
    let data = states.iter().flat_map(features).collect();
    super::nn::matrix(data, states.len(), FEATURES)
}

/// The action masks of a batch of states, `[B, MAX_TYPES * width]`.
pub fn batch_mask(
    states: &[MarketState],
    width: usize,
) -> candle_core::Result<candle_core::Tensor> {
    let data = states.iter().flat_map(|s| mask(s, width)).collect();
    super::nn::matrix(data, states.len(), MAX_TYPES * width)
}
