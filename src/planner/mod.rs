//! The contract planner: the market model of `../shared/MARKET.md`, its exact
//! optimum, and the scoring of any menu against it.
//!
//! The learned planners sit on top: `features` turns a state into network
//! input, `diffusion` (the GDMOPT denoiser) and `drl` (the SAC baseline)
//! generate actions, `heads` turns actions into menus, `train` fits them,
//! `planners` loads the shipped weights and drafts with any method, and
//! `evaluate` scores every method against `exact::optimal`.

pub mod baselines;
pub mod diffusion;
pub mod drl;
pub mod evaluate;
pub mod exact;
pub mod features;
pub mod heads;
pub mod model;
pub mod nn;
pub mod planners;
pub mod score;
pub mod train;

/// Helpers shared by the planner's tests.
#[cfg(test)]
mod testkit {
    use super::model::MarketState;

    /// A market with c = 1 and M = 1, as in the reference rows of `MARKET.md`.
    pub fn state(theta: &[f64], rho: &[f64], omega: f64) -> MarketState {
        let (theta, rho) = (theta.to_vec(), rho.to_vec());
        MarketState {
            theta,
            rho,
            c: 1.0,
            omega,
            m: 1.0,
            budget: None,
        }
    }
}

/// The solvers checked against an exhaustive search that knows nothing of
/// virtual costs, ironing or binding constraints: it tries every quality
/// vector on a grid, in any order, with the cheapest payments satisfying
/// every IR and IC constraint, and keeps the best.
#[cfg(test)]
mod exhaustive_search {
    use super::exact::{grid_optimal, optimal};
    use super::model::MarketState;
    use super::testkit::state;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// The least solution of `R_i ≥ κ_i q_i`, `R_i ≥ R_j + κ_i (q_i − q_j)`
    /// (Bellman–Ford; it is the cheapest for any ρ), or `None` when the
    /// constraints have a positive cycle, i.e. no payments make `q` IC.
    fn least_payments(s: &MarketState, q: &[f64]) -> Option<Vec<f64>> {
        let n = q.len();
        let mut r: Vec<f64> = (0..n).map(|i| s.kappa(i) * q[i]).collect();
        for _ in 0..=n {
            let mut changed = false;
            for i in 0..n {
                for j in 0..n {
                    let need = r[j] + s.kappa(i) * (q[i] - q[j]);
                    if need > r[i] + 1e-12 {
                        (r[i], changed) = (need, true);
                    }
                }
            }
            if !changed {
                return Some(r);
            }
        }
        None
    }

    /// The best per-vehicle utility over all IC/IR menus with qualities on
    /// `grid` that spend at most `budget`.
    fn brute_force(s: &MarketState, grid: &[f64], budget: f64) -> f64 {
        let (n, mut idx, mut best) = (s.n(), vec![0usize; s.n()], f64::NEG_INFINITY);
        loop {
            let q: Vec<f64> = idx.iter().map(|&k| grid[k]).collect();
            if let Some(r) = least_payments(s, &q) {
                let spent: f64 = s.m * r.iter().zip(&s.rho).map(|(r, p)| r * p).sum::<f64>();
                let u: f64 = (0..n)
                    .map(|i| s.rho[i] * (s.server_value(q[i]) - r[i]))
                    .sum();
                if spent <= budget {
                    best = best.max(u);
                }
            }
            let Some(pos) = idx.iter().position(|&k| k + 1 < grid.len()) else {
                return best;
            };
            idx[pos] += 1;
            idx[..pos].iter_mut().for_each(|k| *k = 0);
        }
    }

    /// Small random markets with their grid and its step: N = 2 on a fine
    /// grid, N = 3 on a coarser one, qualities up to 20 (θ ≤ 2, c = 1, ω ≤ 10).
    fn small_cases() -> Vec<(MarketState, Vec<f64>, f64)> {
        let mut rng = StdRng::seed_from_u64(11);
        let cases = (0..8).map(|case| {
            let n = 2 + case % 2;
            let theta: Vec<f64> = (0..n)
                .map(|i| i as f64 * 0.5 + rng.random_range(0.5..1.0))
                .collect();
            let w: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..1.0)).collect();
            let rho: Vec<f64> = w.iter().map(|x| x / w.iter().sum::<f64>()).collect();
            let h = if n == 2 { 0.05 } else { 0.25 };
            let grid = (0..=(20.0 / h) as usize).map(|k| k as f64 * h).collect();
            (state(&theta, &rho, rng.random_range(5.0..10.0)), grid, h)
        });
        cases.collect()
    }

    #[test]
    fn no_ic_and_ir_menu_beats_the_exact_optimum_and_the_best_on_a_grid_comes_close() {
        for (s, grid, h) in small_cases() {
            let u = optimal(&s).expect("valid").per_vehicle;
            let brute = brute_force(&s, &grid, f64::INFINITY);
            // Rounding the optimum to the grid loses at most ω h² / 8 (second order).
            assert!(
                brute <= u + 1e-9 && brute >= u - s.omega * h * h / 8.0,
                "{s:?}: {brute} vs {u}"
            );
        }
    }

    #[test]
    fn the_grid_programme_is_exact_on_its_grid() {
        for (s, grid, _) in small_cases() {
            let dp = grid_optimal(&s, &grid).expect("valid").per_vehicle;
            let brute = brute_force(&s, &grid, f64::INFINITY);
            assert!((dp - brute).abs() < 1e-9, "{s:?}: {dp} vs {brute}");
        }
    }

    #[test]
    fn no_ic_and_ir_menu_within_the_budget_beats_the_budgeted_optimum() {
        for (mut s, grid, _) in small_cases().into_iter().filter(|(s, _, _)| s.n() == 2) {
            let b = 0.5 * s.spend(&optimal(&s).expect("valid").menu);
            s.budget = Some(b);
            let u = optimal(&s).expect("valid").per_vehicle;
            assert!(brute_force(&s, &grid, b) <= u + 1e-9, "{s:?}");
        }
    }
}
