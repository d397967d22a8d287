//! The two reference points below the learned planners: the best single
//! contract offered to everyone, and a random feasible menu.

use rand::Rng;

use super::features::first_best_log;
use super::heads::{iron, priced};
use super::model::{Item, MarketState, Menu};

/// The best single contract (q, R) for all types.
///
/// With one contract the types that accept it are those with `κ_i q ≤ R`, an
/// upper set `{k, …, N}` since κ falls with θ, and the server pays the least
/// it can, `R = κ_k q`. For that set the best quality is `ω / κ_k − 1`, so the
/// optimum is the best of N closed forms.
pub fn pooled(state: &MarketState) -> Menu {
    let mut share = 1.0; // Σ_{i≥k} ρ_i
    let mut best = (f64::NEG_INFINITY, 0, Item { q: 0.0, r: 0.0 });
    for k in 0..state.n() {
        let kappa = state.kappa(k);
        let q = (state.omega / kappa - 1.0).max(0.0);
        let u = share * (state.server_value(q) - kappa * q);
        if u > best.0 {
            best = (u, k, Item { q, r: kappa * q });
        }
        share -= state.rho[k];
    }
    // The types left out are offered nothing, so the menu drafted for them is
    // honest about it (their own item is opting out).
    let (_, k, item) = best;
    let items = (0..state.n())
        .map(|i| if i < k { Item { q: 0.0, r: 0.0 } } else { item })
        .collect();
    Menu { items }
}

/// A random feasible menu: `ln(1 + q_i)` uniform between 0 and the type's
/// first best, ironed and priced with the binding constraints.
pub fn random<R: Rng + ?Sized>(state: &MarketState, rng: &mut R) -> Menu {
    let z: Vec<f64> = (0..state.n())
        .map(|i| rng.random::<f64>() * first_best_log(state, i))
        .collect();
    priced(state, &iron(&z, &state.rho))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::exact::optimal;
    use crate::planner::score::score;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn the_pooled_contract_is_feasible_and_no_better_than_the_optimum_nor_any_grid_contract() {
        let mut rng = StdRng::seed_from_u64(5);
        for seed in 0..200 {
            let s = MarketState::sample_seeded(seed);
            let u_star = optimal(&s).expect("valid").utility;
            let got = score(&s, &pooled(&s), u_star).expect("menu");
            assert_eq!(got.max_violation, 0.0);
            assert!(got.u_real <= u_star * (1.0 + 1e-12), "seed {seed}");
            // No single contract (q, κ_k q) on a grid does better.
            for _ in 0..50 {
                let q = rng.random::<f64>() * 200.0;
                let k = rng.random_range(0..s.n());
                let single = Menu {
                    items: vec![
                        Item {
                            q,
                            r: s.kappa(k) * q
                        };
                        s.n()
                    ],
                };
                let other = score(&s, &single, u_star).expect("menu").u_real;
                assert!(other <= got.u_real + 1e-9 * got.u_real.abs(), "seed {seed}");
            }
        }
    }

    #[test]
    fn random_menus_are_feasible() {
        let mut rng = StdRng::seed_from_u64(9);
        for seed in 0..200 {
            let s = MarketState::sample_seeded(seed);
            let got = score(&s, &random(&s, &mut rng), 1.0).expect("menu");
            assert_eq!(got.max_violation, 0.0, "seed {seed}");
        }
    }
}
