//! Scores any menu, feasible or not, by what the vehicles actually do with it.
//!
//! A drafted menu (from the diffusion planner or anyone else) is not trusted
//! to be incentive compatible: each type takes whichever item serves it best,
//! or opts out, and the server earns `U_real` from those picks. By the
//! revelation principle `U_real ≤ U*`, so `U_real / U*` is the figure of merit.
//! The IR/IC violations of the menu as drafted are reported beside it, so a
//! draft that scores well only by accident is visible as such.

use super::model::{Item, MarketError, MarketState, Menu};

/// Vehicle utilities closer than this are a tie, broken in the server's favour.
pub const TIE_TOLERANCE: f64 = 1e-9;
/// Constraint slack below this is not reported as a violation.
pub const VIOLATION_TOLERANCE: f64 = 1e-9;

/// What a menu earns, and how far it is from being what it claims.
/// Types and items are indexed from 0; item i is drafted for type i.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The item each type picks, `None` when it opts out.
    pub choices: Vec<Option<usize>>,
    /// `M · Σ ρ_i [ω ln(1 + q) − R]` over the picked items (opting out gives 0).
    pub u_real: f64,
    /// `u_real / u_star`, when the given `u_star` is positive.
    pub ratio: Option<f64>,
    /// Types i whose own item leaves them worse off than opting out.
    pub ir_violations: Vec<usize>,
    /// Pairs (i, j) where type i strictly prefers item j to its own item i.
    pub ic_violations: Vec<(usize, usize)>,
    /// The largest violated amount of utility, 0 when there is none.
    pub max_violation: f64,
}

impl Score {
    /// Whether the market runtime would see every type take the item drafted for it.
    pub fn every_type_picks_its_own_item(&self) -> bool {
        self.choices.iter().enumerate().all(|(i, c)| *c == Some(i))
    }
}

/// Scores `menu` (one item per type) in `state`, against the optimum `u_star`.
pub fn score(state: &MarketState, menu: &Menu, u_star: f64) -> Result<Score, MarketError> {
    state.validate()?;
    let items = &menu.items;
    if items.len() != state.n() {
        return Err(MarketError::MenuLength {
            items: items.len(),
            types: state.n(),
        });
    }
    if let Some(j) = items
        .iter()
        .position(|it| !(it.q.is_finite() && it.r.is_finite() && it.q >= 0.0 && it.r >= 0.0))
    {
        return Err(MarketError::InvalidItem(j));
    }
    let choices: Vec<Option<usize>> = (0..state.n()).map(|i| pick(state, items, i)).collect();
    let per_vehicle: f64 = (choices.iter().zip(&state.rho))
        .map(|(c, rho)| c.map_or(0.0, |j| rho * server_gain(state, items[j])))
        .sum();
    let u_real = state.m * per_vehicle;
    let (mut ir_violations, mut ic_violations, mut max_violation) =
        (Vec::new(), Vec::new(), 0.0f64);
    for (i, &own_item) in items.iter().enumerate() {
        let own = state.vehicle_utility(i, own_item);
        if own < -VIOLATION_TOLERANCE {
            ir_violations.push(i);
            max_violation = max_violation.max(-own);
        }
        for (j, &other) in items.iter().enumerate().filter(|&(j, _)| j != i) {
            let excess = state.vehicle_utility(i, other) - own;
            if excess > VIOLATION_TOLERANCE {
                ic_violations.push((i, j));
                max_violation = max_violation.max(excess);
            }
        }
    }
    Ok(Score {
        choices,
        u_real,
        ratio: (u_star.is_finite() && u_star > 0.0).then(|| u_real / u_star),
        ir_violations,
        ic_violations,
        max_violation,
    })
}

fn server_gain(state: &MarketState, item: Item) -> f64 {
    state.server_value(item.q) - item.r
}

/// Type i's pick: the best item for it, or opting out at utility 0. Among
/// options tied for the best (within [`TIE_TOLERANCE`]) the server's gain
/// decides; options tied on that too go to type i's own item first, then the
/// lowest index, with opting out last.
fn pick(state: &MarketState, items: &[Item], i: usize) -> Option<usize> {
    let utility = |o: Option<usize>| o.map_or(0.0, |j| state.vehicle_utility(i, items[j]));
    let best = (0..items.len())
        .map(|j| utility(Some(j)))
        .fold(0.0, f64::max);
    let order = std::iter::once(i).chain((0..items.len()).filter(|&j| j != i));
    let mut chosen: Option<(Option<usize>, f64)> = None;
    for option in order.map(Some).chain([None]) {
        if utility(option) < best - TIE_TOLERANCE {
            continue;
        }
        let gain = option.map_or(0.0, |j| server_gain(state, items[j]));
        if chosen.is_none_or(|(_, g)| gain > g + TIE_TOLERANCE) {
            chosen = Some((option, gain));
        }
    }
    chosen.and_then(|(option, _)| option)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::exact::optimal;

    fn row_one() -> MarketState {
        crate::planner::testkit::state(&[1.0, 2.0, 3.0], &[1.0 / 3.0; 3], 10.0)
    }

    fn menu(items: &[(f64, f64)]) -> Menu {
        Menu {
            items: items.iter().map(|&(q, r)| Item { q, r }).collect(),
        }
    }

    #[test]
    fn the_exact_menu_scores_a_ratio_of_one_with_every_type_picking_its_own_item() {
        let states = (0..300).map(MarketState::sample_seeded).chain([row_one()]);
        for s in states {
            let opt = optimal(&s).expect("valid state");
            let got = score(&s, &opt.menu, opt.utility).expect("valid menu");
            assert!(
                got.every_type_picks_its_own_item(),
                "{s:?}: {:?}",
                got.choices
            );
            let ratio = got.ratio.expect("U* > 0");
            assert!((ratio - 1.0).abs() < 1e-9, "{s:?}: ratio {ratio}");
            assert!(got.ir_violations.is_empty() && got.ic_violations.is_empty());
            assert_eq!(got.max_violation, 0.0);
        }
    }

    #[test]
    fn a_high_quality_item_paid_too_little_is_scored_by_what_the_types_actually_pick() {
        // Item 2 asks type 2 for 29 units at a reward below its cost: type 2
        // takes item 1 instead, and type 1 breaks its tie between items 0 and 1
        // (utility 2 each) in the server's favour.
        let s = row_one();
        let got = score(
            &s,
            &menu(&[(4.0, 4.0), (14.0, 9.0), (29.0, 5.0)]),
            16.728952,
        )
        .expect("valid menu");
        assert_eq!(got.choices, vec![Some(0), Some(1), Some(1)]);
        let want = (10.0 * 5f64.ln() - 4.0 + 2.0 * (10.0 * 15f64.ln() - 9.0)) / 3.0;
        assert!(
            (got.u_real - want).abs() < 1e-12,
            "{} vs {want}",
            got.u_real
        );
        assert!(got.ratio.expect("positive U*") < 1.0);
        assert_eq!(got.ir_violations, vec![2]);
        assert_eq!(got.ic_violations, vec![(2, 0), (2, 1)]);
        assert!((got.max_violation - 9.0).abs() < 1e-12);
    }

    #[test]
    fn a_cheap_item_paid_too_much_attracts_the_efficient_types() {
        let s = row_one();
        let got = score(
            &s,
            &menu(&[(4.0, 8.0), (14.0, 9.0), (29.0, 14.0)]),
            16.728952,
        )
        .expect("valid menu");
        assert_eq!(got.choices, vec![Some(0), Some(0), Some(0)]);
        assert!((got.u_real - (10.0 * 5f64.ln() - 8.0)).abs() < 1e-12);
        assert_eq!(got.ic_violations, vec![(1, 0), (2, 0)]);
        assert!(!got.every_type_picks_its_own_item());
    }

    #[test]
    fn a_type_for_which_every_item_is_a_loss_opts_out() {
        let s = row_one();
        let got = score(
            &s,
            &menu(&[(4.0, 1.0), (14.0, 5.0), (29.0, 9.5)]),
            16.728952,
        )
        .expect("valid menu");
        assert_eq!(got.choices, vec![None, None, Some(1)]);
        assert!((got.u_real - (10.0 * 15f64.ln() - 5.0) / 3.0).abs() < 1e-12);
        assert_eq!(got.ir_violations, vec![0, 1, 2]);
    }

    #[test]
    fn malformed_menus_are_rejected_and_a_non_positive_optimum_gives_no_ratio() {
        let s = row_one();
        let short = menu(&[(4.0, 4.0)]);
        assert_eq!(
            score(&s, &short, 1.0),
            Err(MarketError::MenuLength { items: 1, types: 3 })
        );
        let negative = menu(&[(4.0, 4.0), (-1.0, 9.0), (29.0, 14.0)]);
        assert_eq!(score(&s, &negative, 1.0), Err(MarketError::InvalidItem(1)));
        let nan = menu(&[(4.0, 4.0), (14.0, 9.0), (29.0, f64::NAN)]);
        assert_eq!(score(&s, &nan, 1.0), Err(MarketError::InvalidItem(2)));
        let fine = menu(&[(4.0, 4.0), (14.0, 9.0), (29.0, 14.0)]);
        assert_eq!(score(&s, &fine, 0.0).expect("valid menu").ratio, None);
    }
}
