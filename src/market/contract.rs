//! What a contributor and the supervisor each compute, free of I/O: which
//! item a type picks, the readings a contributor delivers for a quality, and
//! the quality the supervisor measures from them against the ground truth.

use rand::Rng;
use rand_distr::{Distribution, Normal};

use crate::planner::model::{Item, MarketState, Menu};

/// The item type `ty` picks: the one maximising its utility; ties go to the
/// item designed for its own type, then to the server's advantage
/// (MARKET.md); `None` (opt out) when every item leaves it worse off.
pub fn choose(state: &MarketState, menu: &Menu, ty: usize) -> Option<usize> {
    const TIE: f64 = 1e-9;
    let mut best: Option<(usize, f64)> = None;
    for (i, item) in menu.items.iter().enumerate() {
        let u = state.vehicle_utility(ty, *item);
        let better = match best {
            None => true,
            Some((b, bu)) => {
                u > bu + TIE
                    || (u > bu - TIE
                        && (i == ty
                            || (b != ty
                                && state.server_value(item.q) - item.r
                                    > state.server_value(menu.items[b].q) - menu.items[b].r)))
            }
        };
        if better {
            best = Some((i, u));
        }
    }
    best.filter(|&(_, u)| u >= -TIE).map(|(i, _)| i)
}

/// `n` readings of `truth` whose noise variance is `1 / q`: quality is
/// precision.
pub fn readings(truth: f64, q: f64, n: usize, rng: &mut impl Rng) -> Vec<f64> {
    let sd = 1.0 / q.max(1e-9).sqrt();
    let noise = Normal::new(0.0, sd).expect("a positive standard deviation");
    (0..n).map(|_| truth + noise.sample(rng)).collect()
}

/// The quality the readings show: the inverse of their mean squared error
/// against the ground truth.
pub fn measured_quality(truth: f64, readings: &[f64]) -> f64 {
    if readings.is_empty() {
        return 0.0;
    }
    let mse = readings.iter().map(|r| (r - truth).powi(2)).sum::<f64>() / readings.len() as f64;
    1.0 / mse.max(1e-12)
}

/// Whether a delivery meets its item's quality, within `tolerance`.
pub fn meets(item: Item, measured: f64, tolerance: f64) -> bool {
    item.q <= 0.0 || measured >= item.q * (1.0 - tolerance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::exact;
    use rand::SeedableRng;

    fn reference() -> MarketState {
        MarketState {
            theta: vec![1.0, 2.0, 3.0],
            rho: vec![1.0 / 3.0; 3],
            c: 1.0,
            omega: 10.0,
            m: 1.0,
            budget: None,
        }
    }

    #[test]
    fn with_the_optimal_menu_every_type_picks_its_own_item() {
        let state = reference();
        let menu = exact::optimal(&state).unwrap().menu;
        for ty in 0..3 {
            assert_eq!(choose(&state, &menu, ty), Some(ty));
            assert!(state.vehicle_utility(ty, menu.items[ty]) >= -1e-9);
        }
    }

    #[test]
    fn a_type_opts_out_when_every_item_is_a_loss() {
        let state = reference();
        let menu = Menu {
            items: vec![Item { q: 10.0, r: 1.0 }; 3],
        };
        assert_eq!(choose(&state, &menu, 0), None);
    }

    #[test]
    fn measured_quality_tracks_delivered_quality_and_catches_a_shortfall() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let item = Item { q: 14.0, r: 9.0 };
        let honest = measured_quality(30.0, &readings(30.0, 14.0, 200, &mut rng));
        assert!((honest / 14.0 - 1.0).abs() < 0.35, "{honest}");
        assert!(meets(item, honest, 0.5));
        let cheat = measured_quality(30.0, &readings(30.0, 14.0 * 0.3, 200, &mut rng));
        assert!(!meets(item, cheat, 0.5), "{cheat}");
    }
}
