//! The denoising diffusion planner, after GDMOPT (Du et al., COMST 2024).
//!
//! A denoiser MLP reads `[noisy action, time embedding, state features]` and
//! predicts the clean action (GDMOPT's `predict_epsilon = False`), squashed
//! into `[-1, 1]` by a tanh. Drafting runs the reverse chain of [`STEPS`]
//! steps of a variance-preserving schedule from Gaussian noise; the noise is
//! drawn from a seeded `StdRng`, so a draft is a function of (state, seed).
//! The chain is differentiable, which is what actor–critic training needs
//! (the actor loss −Q is backpropagated through every denoising step);
//! behaviour cloning instead uses the usual one-step denoising loss.

use candle_core::{D, Result, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::features::FEATURES;
use super::heads::Head;
use super::nn::{HIDDEN, Mlp, matrix, normal};

/// The seed of the reverse chain's noise when drafting.
pub const DRAFT_SEED: u64 = 0;

/// Denoising steps.
pub const STEPS: usize = 6;
/// Width of the sinusoidal time embedding.
const T_DIM: usize = 16;

/// The variance-preserving schedule of GDMOPT (`vp_beta_schedule`) and the
/// DDPM posterior coefficients derived from it.
struct Schedule {
    sqrt_abar: [f64; STEPS],
    sqrt_one_minus_abar: [f64; STEPS],
    coef_x0: [f64; STEPS],
    coef_xt: [f64; STEPS],
    sigma: [f64; STEPS],
}

impl Schedule {
    fn vp() -> Self {
        let (b_min, b_max, t_len) = (0.1, 10.0, STEPS as f64);
        let mut s = Self {
            sqrt_abar: [0.0; STEPS],
            sqrt_one_minus_abar: [0.0; STEPS],
            coef_x0: [0.0; STEPS],
            coef_xt: [0.0; STEPS],
            sigma: [0.0; STEPS],
        };
        let mut abar_prev = 1.0;
        for t in 0..STEPS {
            let k = (t + 1) as f64;
            let alpha =
                (-b_min / t_len - 0.5 * (b_max - b_min) * (2.0 * k - 1.0) / (t_len * t_len)).exp();
            let (beta, abar) = (1.0 - alpha, abar_prev * alpha);
            s.sqrt_abar[t] = abar.sqrt();
            s.sqrt_one_minus_abar[t] = (1.0 - abar).sqrt();
            s.coef_x0[t] = beta * f64::sqrt(abar_prev) / (1.0 - abar);
            s.coef_xt[t] = (1.0 - abar_prev) * alpha.sqrt() / (1.0 - abar);
            s.sigma[t] = (beta * (1.0 - abar_prev) / (1.0 - abar)).max(1e-20).sqrt();
            abar_prev = abar;
        }
        s
    }
}

/// The sinusoidal embedding of step `t`, as in GDMOPT's `SinusoidalPosEmb`.
fn embedding(t: usize) -> [f32; T_DIM] {
    let half = T_DIM / 2;
    let scale = (10_000f64).ln() / (half - 1) as f64;
    let mut e = [0f32; T_DIM];
    for k in 0..half {
        let x = t as f64 * (-(k as f64) * scale).exp();
        (e[k], e[half + k]) = (x.sin() as f32, x.cos() as f32);
    }
    e
}

/// A diffusion planner: the denoiser and its output head.
pub struct Diffusion {
    pub head: Head,
    time: Mlp,
    net: Mlp,
    schedule: Schedule,
}

fn dims(head: Head) -> ([usize; 3], [usize; 4]) {
    let input = head.action_dim() + T_DIM + FEATURES;
    (
        [T_DIM, 2 * T_DIM, T_DIM],
        [input, HIDDEN, HIDDEN, head.action_dim()],
    )
}

impl Diffusion {
    /// A freshly initialised planner whose weights live in `vm` under `prefix`.
    pub fn init(vm: &VarMap, prefix: &str, head: Head, rng: &mut StdRng) -> Result<Self> {
        let (t, n) = dims(head);
        let time = Mlp::init(vm, &format!("{prefix}.time"), &t, rng)?;
        let net = Mlp::init(vm, &format!("{prefix}.net"), &n, rng)?;
        Ok(Self {
            head,
            time,
            net,
            schedule: Schedule::vp(),
        })
    }

    /// A trained planner read from `vb` (already under its prefix).
    pub fn load(vb: &VarBuilder, head: Head) -> Result<Self> {
        let (t, n) = dims(head);
        let time = Mlp::new(&vb.pp("time"), &t)?;
        let net = Mlp::new(&vb.pp("net"), &n)?;
        Ok(Self {
            head,
            time,
            net,
            schedule: Schedule::vp(),
        })
    }

    /// The denoiser's estimate of the clean action from `x` at steps `t`.
    fn denoise(&self, x: &Tensor, t: &[usize], state: &Tensor) -> Result<Tensor> {
        let emb: Vec<f32> = t.iter().flat_map(|&t| embedding(t)).collect();
        let emb = self.time.forward(&matrix(emb, t.len(), T_DIM)?)?;
        let input = Tensor::cat(&[x, &emb, state], D::Minus1)?;
        self.net.forward(&input)?.tanh()
    }

    /// Runs the reverse chain for a batch of state features `[B, FEATURES]`,
    /// with noise from `rng`. Differentiable with respect to the weights.
    pub fn sample(&self, state: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        let (b, a) = (state.dim(0)?, self.head.action_dim());
        let s = &self.schedule;
        let mut x = normal(rng, b, a)?;
        for t in (0..STEPS).rev() {
            let x0 = self.denoise(&x, &vec![t; b], state)?;
            x = ((x0 * s.coef_x0[t])? + (x * s.coef_xt[t])?)?;
            if t > 0 {
                x = (x + (normal(rng, b, a)? * s.sigma[t])?)?;
            }
        }
        Ok(x)
    }

    /// Drafts actions for a batch of states, reproducibly for a given seed.
    pub fn draft(&self, state: &Tensor, seed: u64) -> Result<Vec<Vec<f32>>> {
        self.draft_tensor_seeded(state, seed)?.to_vec2()
    }

    /// [`Diffusion::draft`] as a detached tensor, with the drafting seed.
    pub fn draft_tensor(&self, state: &Tensor) -> Result<Tensor> {
        self.draft_tensor_seeded(state, DRAFT_SEED)
    }

    fn draft_tensor_seeded(&self, state: &Tensor, seed: u64) -> Result<Tensor> {
        self.sample(state, &mut StdRng::seed_from_u64(seed))?
            .detach()
            .clamp(-1f32, 1f32)
    }

    /// The behaviour-cloning loss: noise the expert actions `target` to a
    /// random step, and score the denoiser's estimate of them: the squared
    /// errors weighted by `weight` (0 on padding), summed per state, averaged.
    pub fn bc_loss(
        &self,
        state: &Tensor,
        target: &Tensor,
        weight: &Tensor,
        rng: &mut StdRng,
    ) -> Result<Tensor> {
        let (b, a) = target.dims2()?;
        let t: Vec<usize> = (0..b).map(|_| rng.random_range(0..STEPS)).collect();
        let column =
            |f: &dyn Fn(usize) -> f64| matrix(t.iter().map(|&t| f(t) as f32).collect(), b, 1);
        let keep = column(&|t| self.schedule.sqrt_abar[t])?;
        let spread = column(&|t| self.schedule.sqrt_one_minus_abar[t])?;
        let noisy = (target.broadcast_mul(&keep)? + normal(rng, b, a)?.broadcast_mul(&spread)?)?;
        let err = (self.denoise(&noisy, &t, state)? - target)?;
        (err.sqr()? * weight)?.sum_all()? / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::features::batch_features;
    use crate::planner::model::MarketState;

    fn planner(seed: u64) -> Diffusion {
        let vm = VarMap::new();
        Diffusion::init(
            &vm,
            "gdm",
            Head::Structured,
            &mut StdRng::seed_from_u64(seed),
        )
        .expect("init")
    }

    #[test]
    fn sampling_is_deterministic_for_a_fixed_seed() {
        let states: Vec<MarketState> = (0..4).map(MarketState::sample_seeded).collect();
        let x = batch_features(&states).expect("features");
        let (a, b) = (planner(1), planner(1));
        let first = a.draft(&x, 7).expect("draft");
        assert_eq!(first, b.draft(&x, 7).expect("draft"));
        assert_eq!(first, a.draft(&x, 7).expect("draft"));
        assert_ne!(first, a.draft(&x, 8).expect("draft"));
        assert_ne!(first, planner(2).draft(&x, 7).expect("draft"));
        assert!(first.iter().flatten().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn the_schedule_ends_almost_at_pure_noise_and_starts_almost_clean() {
        let s = Schedule::vp();
        assert!(s.sqrt_abar[STEPS - 1] < 0.1, "{:?}", s.sqrt_abar);
        assert!(s.sqrt_abar[0] > 0.9, "{:?}", s.sqrt_abar);
        // The last reverse step returns the denoiser's estimate itself.
        assert!((s.coef_x0[0] - 1.0).abs() < 1e-12 && s.coef_xt[0].abs() < 1e-12);
    }
}
