//! Turning a generated action into a menu: the two output heads compared.
//!
//! The raw head trusts the network for both the qualities and the rewards, so
//! any error in the rewards breaks incentive compatibility (at the optimum
//! every downward IC constraint binds, so there is no slack to absorb it).
//! The structured head generates only the qualities, irons them into a
//! non-decreasing sequence (ρ-weighted pool adjacent violators on `ln(1 + q)`)
//! and prices them with the binding IR/IC formulas `R_1 = κ_1 q_1`,
//! `R_i = R_{i−1} + κ_i (q_i − q_{i−1})`: IC and IR by construction, and the
//! cheapest such payments, so the ratio depends on the qualities alone.

use super::features::{
    U_DEAD, U_MAX, decode_log_quality, decode_reward, encode_quality, encode_reward, first_best_log,
};
use super::model::{Item, MAX_TYPES, MarketState, Menu};

/// Which output head a diffusion planner has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// q and R generated.
    Raw,
    /// q generated, then ironed and priced.
    Structured,
}

impl Head {
    /// Action slots per type.
    pub fn width(self) -> usize {
        match self {
            Head::Raw => 2,
            Head::Structured => 1,
        }
    }

    /// Length of the action vector.
    pub fn action_dim(self) -> usize {
        self.width() * MAX_TYPES
    }

    /// The method name used in evaluations.
    pub fn name(self) -> &'static str {
        match self {
            Head::Raw => "gdm_raw",
            Head::Structured => "gdm_structured",
        }
    }

    /// The menu an action (of length [`Head::action_dim`]) stands for.
    pub fn decode(self, state: &MarketState, action: &[f32]) -> Menu {
        let n = state.n();
        let z: Vec<f64> = (0..n)
            .map(|i| decode_log_quality(state, i, f64::from(action[i])))
            .collect();
        match self {
            Head::Structured => priced(state, &iron(&z, &state.rho)),
            Head::Raw => Menu {
                items: (0..n)
                    .map(|i| Item {
                        q: z[i].exp_m1(),
                        r: decode_reward(state, f64::from(action[MAX_TYPES + i])),
                    })
                    .collect(),
            },
        }
    }

    /// How much each action slot's squared error costs, for behaviour cloning
    /// (0 on padding). For the structured head this is the second-order
    /// expansion of the figure of merit: an error δa in type i's action moves
    /// `ln(1 + q_i)` by `s z_i δa` (s the action scale, `z_i = ln(θ_i ω / c)`)
    /// and loses `ρ_i ω (s z_i δa)² / 2` per vehicle, so the weighted squared
    /// error is the lost share of `U*`; a small floor keeps every slot learnt.
    /// The raw head weighs its slots equally.
    pub fn bc_weights(self, state: &MarketState, per_vehicle_optimum: f64) -> Vec<f32> {
        let n = state.n();
        let mut w = vec![0f32; self.action_dim()];
        let s = (U_MAX + U_DEAD) / 2.0;
        for i in 0..n {
            w[i] = match self {
                Head::Raw => 1.0 / (2 * n) as f32,
                Head::Structured => {
                    let z = first_best_log(state, i);
                    let lost = state.rho[i] * state.omega * (s * z).powi(2) / 2.0;
                    (lost / per_vehicle_optimum.max(1e-9)).min(10.0) as f32 + 0.01 / n as f32
                }
            };
            if self == Head::Raw {
                w[MAX_TYPES + i] = w[i];
            }
        }
        w
    }

    /// The action that decodes to (about) `menu`: the behaviour-cloning target.
    pub fn encode(self, state: &MarketState, menu: &Menu) -> Vec<f32> {
        let mut a = vec![-1f32; self.action_dim()];
        for (i, it) in menu.items.iter().enumerate() {
            a[i] = encode_quality(state, i, it.q) as f32;
            if self == Head::Raw {
                a[MAX_TYPES + i] = encode_reward(state, it.r) as f32;
            }
        }
        a
    }
}

/// Non-decreasing qualities priced with binding IR (lowest type) and binding
/// downward adjacent IC constraints; `log_q[i]` is `ln(1 + q_i)`.
pub fn priced(state: &MarketState, log_q: &[f64]) -> Menu {
    let (mut prev, mut r) = (0.0, 0.0);
    let items = (log_q.iter().enumerate())
        .map(|(i, z)| {
            let q = z.exp_m1().max(prev);
            r += state.kappa(i) * (q - prev);
            prev = q;
            Item { q, r }
        })
        .collect();
    Menu { items }
}

/// The ρ-weighted least-squares non-decreasing fit (pool adjacent violators).
pub fn iron(x: &[f64], w: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (weight, weighted sum, length)
    for (&x, &w) in x.iter().zip(w) {
        let mut cur = (w, w * x, 1);
        while let Some(&(lw, ls, ll)) = blocks.last() {
            if ls / lw <= cur.1 / cur.0 {
                break;
            }
            blocks.pop();
            cur = (lw + cur.0, ls + cur.1, ll + cur.2);
        }
        blocks.push(cur);
    }
    let mean = |&(w, s, len): &(f64, f64, usize)| std::iter::repeat_n(s / w, len);
    blocks.iter().flat_map(mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::exact::optimal;
    use crate::planner::score::score;

    #[test]
    fn encoding_the_optimum_and_decoding_it_again_loses_nothing() {
        for seed in 0..500 {
            let s = MarketState::sample_seeded(seed);
            let opt = optimal(&s).expect("valid");
            let a = Head::Structured.encode(&s, &opt.menu);
            assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)), "{a:?}");
            let got = score(&s, &Head::Structured.decode(&s, &a), opt.utility).expect("menu");
            let ratio = got.ratio.expect("U* > 0");
            assert!(ratio > 1.0 - 1e-5, "seed {seed}: {ratio}");
            // The raw head keeps q and R to f32 precision, which is not enough
            // for the binding IC constraints: that is its weakness, not tested here.
            let raw = Head::Raw.decode(&s, &Head::Raw.encode(&s, &opt.menu));
            for (got, want) in raw.items.iter().zip(&opt.menu.items) {
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b);
                assert!(close(got.q, want.q) && close(got.r, want.r), "seed {seed}");
            }
        }
    }

    #[test]
    fn the_structured_head_is_feasible_for_any_action() {
        let s = MarketState::sample_seeded(3);
        for k in 0..200 {
            let a: Vec<f32> = (0..8)
                .map(|i| ((k * 7 + i * 13) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let got = score(&s, &Head::Structured.decode(&s, &a), 1.0).expect("menu");
            // Types may still take a pooled item they are indifferent to, when
            // that favours the server: a tie, not a violation.
            assert_eq!(got.max_violation, 0.0, "{a:?}");
        }
    }

    #[test]
    fn ironing_pools_decreasing_neighbours_into_their_weighted_mean() {
        assert_eq!(iron(&[1.0, 3.0, 2.0], &[1.0, 1.0, 3.0]), [1.0, 2.25, 2.25]);
        assert_eq!(iron(&[2.0, 1.0], &[1.0, 1.0]), [1.5, 1.5]);
    }
}
