//! The incentive market of `MARKET.md`: who the vehicles are, what a menu is,
//! and what each side gets from an item.
//!
//! The exact solver, the scorer and any learned planner all read the same
//! market state, so this module is the one place that checks a state is
//! meaningful (the formulas divide by θ, ρ and take logarithms) and the one
//! place that draws states from the training distribution.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The largest number of vehicle types a market may have.
pub const MAX_TYPES: usize = 8;
/// How far Σρ may stray from 1.
pub const RHO_TOLERANCE: f64 = 1e-6;

/// Why a market state, a menu or a quality grid cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarketError {
    #[error("the market has no vehicle types")]
    NoTypes,
    #[error("the market has {0} vehicle types, at most {MAX_TYPES} are supported")]
    TooManyTypes(usize),
    #[error("theta has {theta} entries but rho has {rho}")]
    LengthMismatch { theta: usize, rho: usize },
    #[error("{0} must be finite and positive")]
    NotPositive(&'static str),
    #[error("theta must be strictly increasing, but theta[{0}] does not exceed the one before it")]
    ThetaNotIncreasing(usize),
    #[error("rho sums to {0}, not 1")]
    RhoNotNormalised(f64),
    #[error("the budget must be finite and non-negative, got {0}")]
    InvalidBudget(f64),
    #[error("the menu has {items} items for {types} vehicle types")]
    MenuLength { items: usize, types: usize },
    #[error("menu item {0} needs a finite, non-negative quality and reward")]
    InvalidItem(usize),
    #[error("quality grid values must be finite and non-negative")]
    InvalidGrid,
    #[error("the quality-grid programme does not handle a budget")]
    GridWithBudget,
}

/// What the planner is conditioned on: the types, their shares, the cost and
/// value scales, the population and an optional total budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketState {
    /// Sensing efficiencies, strictly increasing.
    pub theta: Vec<f64>,
    /// Type proportions, summing to 1.
    pub rho: Vec<f64>,
    /// Cost scale: type i pays `c / theta[i]` per unit of quality.
    pub c: f64,
    /// Value scale of the server's `omega * ln(1 + q)`.
    pub omega: f64,
    /// Population.
    pub m: f64,
    /// Optional cap on the total spend `m * Σ rho[i] * R[i]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
}

/// One contract: quality `q` delivered for reward `r`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub q: f64,
    pub r: f64,
}

/// A menu of contracts; item i is the one drafted for type i.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Menu {
    pub items: Vec<Item>,
}

fn positive(x: f64, name: &'static str) -> Result<(), MarketError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(MarketError::NotPositive(name))
    }
}

impl MarketState {
    /// Checks everything the formulas rely on. Every ρ must be positive: a
    /// type with no vehicles has no place in the model (ψ divides by ρ).
    pub fn validate(&self) -> Result<(), MarketError> {
        let n = self.theta.len();
        if n == 0 {
            return Err(MarketError::NoTypes);
        }
        if n > MAX_TYPES {
            return Err(MarketError::TooManyTypes(n));
        }
        if self.rho.len() != n {
            return Err(MarketError::LengthMismatch {
                theta: n,
                rho: self.rho.len(),
            });
        }
        for (name, x) in [("c", self.c), ("omega", self.omega), ("m", self.m)] {
            positive(x, name)?;
        }
        for (i, (&t, &r)) in self.theta.iter().zip(&self.rho).enumerate() {
            positive(t, "theta")?;
            positive(r, "rho")?;
            if i > 0 && t <= self.theta[i - 1] {
                return Err(MarketError::ThetaNotIncreasing(i));
            }
        }
        let sum: f64 = self.rho.iter().sum();
        if (sum - 1.0).abs() > RHO_TOLERANCE {
            return Err(MarketError::RhoNotNormalised(sum));
        }
        match self.budget {
            Some(b) if !(b.is_finite() && b >= 0.0) => Err(MarketError::InvalidBudget(b)),
            _ => Ok(()),
        }
    }

    /// The number of vehicle types N.
    pub fn n(&self) -> usize {
        self.theta.len()
    }

    /// Marginal cost of quality for type i, `c / theta[i]`.
    ///
    /// What a menu pays per round, `M · Σ ρ_i R_i`, if every type takes
    /// its own item.
    pub fn spend(&self, menu: &Menu) -> f64 {
        self.m
            * (menu.items.iter().zip(&self.rho))
                .map(|(it, p)| p * it.r)
                .sum::<f64>()
    }

    /// # Panics
    /// If `i >= N`, like slice indexing.
    pub fn kappa(&self, i: usize) -> f64 {
        self.c / self.theta[i]
    }

    /// What type i gets from an item: `R - kappa_i * q`.
    ///
    /// # Panics
    /// If `i >= N`, like slice indexing.
    pub fn vehicle_utility(&self, i: usize, item: Item) -> f64 {
        item.r - self.kappa(i) * item.q
    }

    /// What the server gets from quality q before paying for it.
    pub fn server_value(&self, q: f64) -> f64 {
        self.omega * q.ln_1p()
    }

    /// Draws a state from the training distribution: N uniform in 2..=8,
    /// θ sorted uniform in [0.5, 5], ρ ~ Dirichlet(1), c uniform in [0.5, 2],
    /// ω uniform in [5, 20], M an integer uniform in 10..=1000, no budget.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let n = rng.random_range(2..=MAX_TYPES);
        let theta = loop {
            let mut t: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..=5.0)).collect();
            t.sort_by(f64::total_cmp);
            if t.windows(2).all(|w| w[0] < w[1]) {
                break t;
            }
        };
        // Exponentials from 1 - U, U in [0, 1), so the logarithm is finite.
        let exp: Vec<f64> = (0..n)
            .map(|_| {
                loop {
                    let e = -(1.0 - rng.random::<f64>()).ln();
                    if e > 0.0 {
                        break e;
                    }
                }
            })
            .collect();
        let total: f64 = exp.iter().sum();
        Self {
            theta,
            rho: exp.iter().map(|e| e / total).collect(),
            c: rng.random_range(0.5..=2.0),
            omega: rng.random_range(5.0..=20.0),
            m: rng.random_range(10..=1000u32) as f64,
            budget: None,
        }
    }

    /// [`MarketState::sample`] from a fresh `StdRng` seeded with `seed`.
    pub fn sample_seeded(seed: u64) -> Self {
        Self::sample(&mut StdRng::seed_from_u64(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_one() -> MarketState {
        crate::planner::testkit::state(&[1.0, 2.0, 3.0], &[1.0 / 3.0; 3], 10.0)
    }

    #[test]
    fn sampled_states_are_valid_and_follow_the_training_distribution() {
        for seed in 0..500 {
            let s = MarketState::sample_seeded(seed);
            assert_eq!(s.validate(), Ok(()), "seed {seed}: {s:?}");
            assert!((2..=8).contains(&s.n()));
            assert!(s.theta.iter().all(|t| (0.5..=5.0).contains(t)));
            assert!((0.5..=2.0).contains(&s.c) && (5.0..=20.0).contains(&s.omega));
            assert!(s.m.fract() == 0.0 && (10.0..=1000.0).contains(&s.m));
            assert!(s.budget.is_none());
        }
        assert_eq!(MarketState::sample_seeded(7), MarketState::sample_seeded(7));
    }

    #[test]
    fn malformed_states_are_rejected_with_the_reason() {
        let with = |f: fn(&mut MarketState)| {
            let mut s = row_one();
            f(&mut s);
            s.validate()
        };
        assert_eq!(with(|s| s.theta.clear()), Err(MarketError::NoTypes));
        assert_eq!(
            with(|s| s.theta = vec![1.0; 9]),
            Err(MarketError::TooManyTypes(9))
        );
        assert_eq!(
            with(|s| s.theta = vec![1.0, 3.0, 2.0]),
            Err(MarketError::ThetaNotIncreasing(2))
        );
        assert_eq!(
            with(|s| s.theta = vec![1.0, 1.0, 2.0]),
            Err(MarketError::ThetaNotIncreasing(1))
        );
        assert_eq!(
            with(|s| s.theta[0] = -1.0),
            Err(MarketError::NotPositive("theta"))
        );
        assert_eq!(with(|s| s.c = 0.0), Err(MarketError::NotPositive("c")));
        assert_eq!(
            with(|s| s.omega = f64::NAN),
            Err(MarketError::NotPositive("omega"))
        );
        assert_eq!(with(|s| s.m = -3.0), Err(MarketError::NotPositive("m")));
        assert_eq!(
            with(|s| s.rho = vec![0.5, 0.5, 0.0]),
            Err(MarketError::NotPositive("rho"))
        );
        assert!(matches!(
            with(|s| s.rho[0] = 0.5),
            Err(MarketError::RhoNotNormalised(_))
        ));
        assert!(matches!(
            with(|s| {
                s.rho.pop();
            }),
            Err(MarketError::LengthMismatch { .. })
        ));
        assert_eq!(
            with(|s| s.budget = Some(-1.0)),
            Err(MarketError::InvalidBudget(-1.0))
        );
        assert_eq!(with(|s| s.rho[0] += 5e-7), Ok(()));
    }

    #[test]
    fn the_state_and_menu_serialise_with_the_documented_field_names() {
        let json = serde_json::to_value(row_one()).expect("serialise");
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5);
        for k in ["theta", "rho", "c", "omega", "m"] {
            assert!(keys.contains(&k), "{k} missing from {json}");
        }
        let budgeted: MarketState = serde_json::from_str(
            r#"{"theta":[1,2],"rho":[0.5,0.5],"c":1,"omega":10,"m":50,"budget":120.5}"#,
        )
        .expect("parse");
        assert_eq!(budgeted.budget, Some(120.5));
        let menu = Menu {
            items: vec![Item { q: 4.0, r: 4.0 }],
        };
        assert_eq!(
            serde_json::to_string(&menu).expect("serialise"),
            r#"{"items":[{"q":4.0,"r":4.0}]}"#
        );
    }

    #[test]
    fn utilities_follow_the_model() {
        let s = row_one();
        assert_eq!(s.kappa(1), 0.5);
        assert_eq!(s.vehicle_utility(1, Item { q: 14.0, r: 9.0 }), 2.0);
        assert!((s.server_value(4.0) - 10.0 * 5f64.ln()).abs() < 1e-12);
    }
}
