//! The exact optimal menu: the yardstick every drafted menu is measured
//! against (`U_real / U*`), so it must be right, not approximately right.
//!
//! With IR binding for the least efficient type and the downward adjacent IC
//! constraints binding, the payments are `R_i = R_{i-1} + κ_i (q_i − q_{i-1})`
//! and the total spend is linear in the qualities, `Σ ρ_i R_i = Σ ρ_i ψ_i q_i`
//! with the virtual costs ψ of `MARKET.md`. The server then maximises the
//! separable `Σ ρ_i [ω ln(1 + q_i) − ψ_i q_i]` over non-decreasing q:
//! ironing (pool adjacent violators, weighted by ρ) solves it in closed form.
//! A budget adds `λ Σ ρ_i ψ_i q_i` to that objective, i.e. scales every ψ by
//! `1 + λ`, which leaves the ironing unchanged, so bisection on λ is exact.
//! On a finite quality grid a dynamic programme over non-decreasing q is exact.

use super::model::{Item, MarketError, MarketState, Menu};

/// A menu together with the server utility it earns when each type takes the
/// item drafted for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub menu: Menu,
    /// `M · Σ ρ_i [ω ln(1 + q_i) − R_i]`.
    pub utility: f64,
    /// `utility / M`.
    pub per_vehicle: f64,
}

impl Solution {
    fn from_items(state: &MarketState, items: Vec<Item>) -> Self {
        let per_vehicle: f64 = (items.iter().zip(&state.rho))
            .map(|(it, rho)| rho * (state.server_value(it.q) - it.r))
            .sum();
        let utility = state.m * per_vehicle;
        Self {
            menu: Menu { items },
            utility,
            per_vehicle,
        }
    }

    /// The menu implementing non-decreasing qualities with binding constraints.
    fn from_qualities(state: &MarketState, q: &[f64]) -> Self {
        let (mut prev_q, mut r) = (0.0, 0.0);
        let items = (q.iter().enumerate())
            .map(|(i, &q)| {
                r += state.kappa(i) * (q - prev_q);
                prev_q = q;
                Item { q, r }
            })
            .collect();
        Self::from_items(state, items)
    }
}

/// The virtual costs `ψ_i = κ_i + (κ_i − κ_{i+1}) Σ_{k>i} ρ_k / ρ_i`, `ψ_N = κ_N`.
pub fn virtual_costs(state: &MarketState) -> Result<Vec<f64>, MarketError> {
    state.validate()?;
    Ok(psi(state))
}

/// The virtual costs after ironing: pooled into non-increasing block means.
pub fn ironed_virtual_costs(state: &MarketState) -> Result<Vec<f64>, MarketError> {
    state.validate()?;
    Ok(iron(&psi(state), &state.rho))
}

fn psi(state: &MarketState) -> Vec<f64> {
    let mut out = vec![0.0; state.n()];
    let mut tail = 0.0; // Σ_{k>i} ρ_k, which is 0 for the last type
    for i in (0..state.n()).rev() {
        let k = state.kappa(i);
        let next = state.theta.get(i + 1).map_or(k, |t| state.c / t);
        out[i] = k + (k - next) * tail / state.rho[i];
        tail += state.rho[i];
    }
    out
}

/// Pool adjacent violators: merge blocks while a block's weighted mean is
/// below the next one's, so the result is non-increasing.
fn iron(psi: &[f64], rho: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (weight, weighted sum, length)
    for (&p, &w) in psi.iter().zip(rho) {
        let mut cur = (w, w * p, 1);
        while let Some(&(lw, ls, ll)) = blocks.last() {
            if ls / lw >= cur.1 / cur.0 {
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

/// The exact optimum, honouring `state.budget` when there is one.
pub fn optimal(state: &MarketState) -> Result<Solution, MarketError> {
    state.validate()?;
    let psi_bar = iron(&psi(state), &state.rho);
    let quality = |lambda: f64, p: f64| (state.omega / ((1.0 + lambda) * p) - 1.0).max(0.0);
    let q_at = |lambda: f64| -> Vec<f64> { psi_bar.iter().map(|&p| quality(lambda, p)).collect() };
    // The spend M Σ ρ_i R_i of the binding-constraint payments is M Σ ρ_i ψ̄_i q_i.
    let w: Vec<f64> = (psi_bar.iter().zip(&state.rho))
        .map(|(p, r)| state.m * p * r)
        .collect();
    let spend = |q: &[f64]| -> f64 { q.iter().zip(&w).map(|(q, w)| q * w).sum() };
    let unconstrained = q_at(0.0);
    let budget = match state.budget {
        Some(b) if spend(&unconstrained) > b => b,
        _ => return Ok(Solution::from_qualities(state, &unconstrained)),
    };
    // Spending falls continuously to 0 as λ grows; `hi` stays feasible.
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..4096 {
        if spend(&q_at(hi)) <= budget {
            break;
        }
        (lo, hi) = (hi, 2.0 * hi);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if spend(&q_at(mid)) > budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(Solution::from_qualities(state, &q_at(hi)))
}

/// The exact optimum when qualities must come from `grid` (plus 0, which is
/// always allowed: it is the same as opting out). Budgets are not supported.
pub fn grid_optimal(state: &MarketState, grid: &[f64]) -> Result<Solution, MarketError> {
    state.validate()?;
    if state.budget.is_some() {
        return Err(MarketError::GridWithBudget);
    }
    if grid.iter().any(|g| !(g.is_finite() && *g >= 0.0)) {
        return Err(MarketError::InvalidGrid);
    }
    let mut g: Vec<f64> = grid.iter().copied().chain([0.0]).collect();
    g.sort_by(f64::total_cmp);
    g.dedup();
    let psi = psi(state);
    // best[k]: best value of the types so far with the last quality <= g[k];
    // argmax[i][k]: the grid index type i takes in that best.
    let mut best = vec![0.0; g.len()];
    let mut argmax: Vec<Vec<usize>> = Vec::with_capacity(state.n());
    for (&rho, &psi) in state.rho.iter().zip(&psi) {
        let value: Vec<f64> = (g.iter().zip(&best))
            .map(|(&q, &b)| b + rho * (state.server_value(q) - psi * q))
            .collect();
        let mut arg = Vec::with_capacity(g.len());
        for (k, &v) in value.iter().enumerate() {
            arg.push(match arg.last() {
                Some(&a) if value[a] >= v => a,
                _ => k,
            });
        }
        best = arg.iter().map(|&a| value[a]).collect();
        argmax.push(arg);
    }
    let mut q = vec![0.0; state.n()];
    let mut k = g.len() - 1;
    for i in (0..state.n()).rev() {
        k = argmax[i][k];
        q[i] = g[k];
    }
    Ok(Solution::from_qualities(state, &q))
}

/// The first-best bound: the server knows every type, so IR binds for all
/// and `q_i = max(0, θ_i ω / c − 1)`. Not IC; an upper bound on `U*`.
pub fn first_best(state: &MarketState) -> Result<Solution, MarketError> {
    state.validate()?;
    let items = (0..state.n())
        .map(|i| {
            let q = (state.theta[i] * state.omega / state.c - 1.0).max(0.0);
            let r = state.kappa(i) * q;
            Item { q, r }
        })
        .collect();
    Ok(Solution::from_items(state, items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::score::score;
    use crate::planner::testkit::state;

    fn assert_close(got: impl IntoIterator<Item = f64>, want: &[f64]) {
        let got: Vec<f64> = got.into_iter().collect();
        let ok = got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5);
        assert!(ok, "got {got:?}, want {want:?}");
    }

    fn assert_row(s: &MarketState, q: &[f64], r: &[f64], per_vehicle: f64) {
        let sol = optimal(s).expect("valid state");
        assert_close(sol.menu.items.iter().map(|it| it.q), q);
        assert_close(sol.menu.items.iter().map(|it| it.r), r);
        assert_close([sol.per_vehicle, sol.utility], &[per_vehicle, per_vehicle]);
    }

    #[test]
    fn the_exact_solver_reproduces_the_first_reference_row() {
        let s = state(&[1.0, 2.0, 3.0], &[1.0 / 3.0; 3], 10.0);
        let psi = virtual_costs(&s).expect("valid");
        assert_close(psi, &[2.0, 2.0 / 3.0, 1.0 / 3.0]);
        assert_row(&s, &[4.0, 14.0, 29.0], &[4.0, 9.0, 14.0], 16.728952);
        let integers: Vec<f64> = (0..=40).map(f64::from).collect();
        let on_integers = grid_optimal(&s, &integers).expect("valid").menu;
        assert_close(on_integers.items.iter().map(|it| it.q), &[4.0, 14.0, 29.0]);
    }

    #[test]
    fn the_exact_solver_reproduces_the_second_reference_row_by_pooling_types_one_and_two() {
        let s = state(&[1.0, 1.1, 3.0], &[0.1, 0.1, 0.8], 10.0);
        let psi_bar = ironed_virtual_costs(&s).expect("valid");
        assert_close(psi_bar, &[11.0 / 3.0, 11.0 / 3.0, 1.0 / 3.0]);
        let (q, r) = ([1.727273, 1.727273, 29.0], [1.727273, 1.727273, 10.818182]);
        assert_row(&s, &q, &r, 20.216183);
    }

    #[test]
    fn the_first_best_bound_is_never_below_the_exact_optimum() {
        for seed in 0..300 {
            let s = MarketState::sample_seeded(seed);
            let (fb, opt) = (first_best(&s).expect("valid"), optimal(&s).expect("valid"));
            let slack = 1e-9 * fb.utility.abs();
            assert!(fb.utility >= opt.utility - slack, "seed {seed}");
        }
    }

    #[test]
    fn the_grid_programme_with_a_fine_grid_approaches_the_exact_optimum() {
        let h = 1e-3;
        let grid: Vec<f64> = (0..=200_000).map(|k| k as f64 * h).collect();
        for seed in 0..20 {
            let s = MarketState::sample_seeded(seed);
            let dp = grid_optimal(&s, &grid).expect("valid").per_vehicle;
            let gap = optimal(&s).expect("valid").per_vehicle - dp;
            // Rounding the optimum to the grid loses at most ω h² / 8 (second order).
            let bound = s.omega * h * h / 8.0 + 1e-9;
            assert!((-1e-9..=bound).contains(&gap), "seed {seed}: {gap}");
        }
    }

    #[test]
    fn a_budget_below_the_unconstrained_spend_is_respected_and_beats_scaling_the_menu_down() {
        for seed in 0..60 {
            let mut s = MarketState::sample_seeded(seed);
            let free = optimal(&s).expect("valid");
            let b = s.spend(&free.menu) * [0.0, 0.1, 0.5, 0.9][seed as usize % 4];
            s.budget = Some(b);
            let sol = optimal(&s).expect("valid");
            let spent = s.spend(&sol.menu);
            let within = b * (1.0 - 1e-6)..=b * (1.0 + 1e-6);
            assert!(within.contains(&spent), "seed {seed}: {spent} vs {b}");
            // Scaling q and R alike keeps the menu IC and IR and spends exactly b.
            let (k, mut scaled) = (b / s.spend(&free.menu), free.menu.items.clone());
            for it in &mut scaled {
                (it.q, it.r) = (k * it.q, k * it.r);
            }
            let by_scaling = Solution::from_items(&s, scaled).utility;
            assert!(sol.utility >= by_scaling - 1e-9, "seed {seed}");
            let report = score(&s, &sol.menu, sol.utility).expect("valid menu");
            let clean = report.max_violation == 0.0 && report.every_type_picks_its_own_item();
            assert!(clean, "seed {seed}: {report:?}");
        }
    }

    #[test]
    fn a_budget_above_the_unconstrained_spend_changes_nothing() {
        let mut s = state(&[1.0, 2.0, 3.0], &[1.0 / 3.0; 3], 10.0);
        let free = optimal(&s).expect("valid");
        s.budget = Some(9.0 + 0.01); // the unconstrained spend is (4 + 9 + 14) / 3 = 9
        assert_eq!(optimal(&s).expect("valid"), free);
    }

    #[test]
    fn the_solvers_reject_bad_grids_budgeted_grids_and_invalid_states() {
        let mut s = state(&[1.0, 2.0], &[0.5, 0.5], 10.0);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(grid_optimal(&s, &[1.0, bad]), Err(MarketError::InvalidGrid));
        }
        s.budget = Some(1.0);
        assert_eq!(grid_optimal(&s, &[1.0]), Err(MarketError::GridWithBudget));
        s.rho = vec![0.5, 0.6];
        assert!(matches!(optimal(&s), Err(MarketError::RhoNotNormalised(_))));
        assert!(matches!(
            first_best(&s),
            Err(MarketError::RhoNotNormalised(_))
        ));
    }
}
