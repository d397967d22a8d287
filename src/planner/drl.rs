//! The DRL baseline and the critic it shares with the diffusion actor–critic.
//!
//! Drafting a menu is a one-step decision (a contextual bandit): the state is
//! drawn, an action drafted, the reward is what the menu earns. So the
//! double-Q critic regresses the reward directly, as GDMOPT's does, and the
//! baseline is SAC reduced to that setting: a tanh-squashed Gaussian policy
//! over the same action space as the structured diffusion head, trained on
//! `α log π − min(Q1, Q2)` with the temperature α tuned to a target entropy.

use candle_core::{D, Result, Tensor, Var};
use candle_nn::{Module, VarBuilder, VarMap};
use rand::rngs::StdRng;

use super::features::FEATURES;
use super::nn::{HIDDEN, Mlp, normal};

/// Two Q networks over `[state features, action]`.
pub struct Critic {
    q1: Mlp,
    q2: Mlp,
}

impl Critic {
    pub fn init(vm: &VarMap, prefix: &str, action_dim: usize, rng: &mut StdRng) -> Result<Self> {
        let dims = [FEATURES + action_dim, HIDDEN, HIDDEN, 1];
        Ok(Self {
            q1: Mlp::init(vm, &format!("{prefix}.q1"), &dims, rng)?,
            q2: Mlp::init(vm, &format!("{prefix}.q2"), &dims, rng)?,
        })
    }

    fn both(&self, state: &Tensor, action: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = Tensor::cat(&[state, action], D::Minus1)?;
        Ok((self.q1.forward(&x)?, self.q2.forward(&x)?))
    }

    /// The regression loss of both Q networks against `reward` `[B, 1]`.
    pub fn loss(&self, state: &Tensor, action: &Tensor, reward: &Tensor) -> Result<Tensor> {
        let (q1, q2) = self.both(state, action)?;
        q1.sub(reward)?.sqr()?.mean_all()? + q2.sub(reward)?.sqr()?.mean_all()?
    }

    /// The pessimistic estimate `min(Q1, Q2)`, `[B, 1]`.
    pub fn min_q(&self, state: &Tensor, action: &Tensor) -> Result<Tensor> {
        let (q1, q2) = self.both(state, action)?;
        q1.minimum(&q2)
    }
}

/// The SAC policy: mean and log standard deviation of a squashed Gaussian.
pub struct Sac {
    actor: Mlp,
    action_dim: usize,
}

impl Sac {
    pub fn init(vm: &VarMap, prefix: &str, action_dim: usize, rng: &mut StdRng) -> Result<Self> {
        let dims = [FEATURES, HIDDEN, HIDDEN, 2 * action_dim];
        let actor = Mlp::init(vm, &format!("{prefix}.actor"), &dims, rng)?;
        Ok(Self { actor, action_dim })
    }

    /// A trained policy read from `vb` (already under its prefix).
    pub fn load(vb: &VarBuilder, action_dim: usize) -> Result<Self> {
        let dims = [FEATURES, HIDDEN, HIDDEN, 2 * action_dim];
        let actor = Mlp::new(&vb.pp("actor"), &dims)?;
        Ok(Self { actor, action_dim })
    }

    fn mean_and_log_std(&self, state: &Tensor) -> Result<(Tensor, Tensor)> {
        let out = self.actor.forward(state)?;
        let mean = out.narrow(1, 0, self.action_dim)?;
        let log_std = out
            .narrow(1, self.action_dim, self.action_dim)?
            .clamp(-5f32, 1f32)?;
        Ok((mean, log_std))
    }

    /// The deterministic action `tanh(mean)`, used to draft.
    pub fn act(&self, state: &Tensor) -> Result<Tensor> {
        self.mean_and_log_std(state)?.0.tanh()
    }

    /// A reparameterised sample and its log-probability over the unmasked
    /// slots, `([B, A], [B, 1])`.
    pub fn sample(
        &self,
        state: &Tensor,
        mask: &Tensor,
        rng: &mut StdRng,
    ) -> Result<(Tensor, Tensor)> {
        let (mean, log_std) = self.mean_and_log_std(state)?;
        let eps = normal(rng, mean.dim(0)?, self.action_dim)?;
        let action = (mean + (log_std.exp()? * &eps)?)?.tanh()?;
        let half_log_tau = 0.5 * std::f64::consts::TAU.ln();
        let squash = (action.sqr()?.affine(-1.0, 1.0 + 1e-6)?).log()?;
        let log_p = ((eps.sqr()? * -0.5)? - log_std)?
            .affine(1.0, -half_log_tau)?
            .sub(&squash)?;
        let log_p = (log_p * mask)?.sum_keepdim(1)?;
        Ok((action, log_p))
    }
}

/// The SAC temperature, `α = exp(log α)`, tuned so that the policy's entropy
/// stays near `target` per unmasked slot.
pub struct Temperature {
    pub log_alpha: Var,
    target: f64,
}

impl Temperature {
    pub fn new(target: f64) -> Result<Self> {
        let log_alpha =
            Var::from_tensor(&Tensor::new(&[(0.05f32).ln()], &candle_core::Device::Cpu)?)?;
        Ok(Self { log_alpha, target })
    }

    pub fn alpha(&self) -> Result<f64> {
        Ok(f64::from(
            self.log_alpha.as_tensor().exp()?.to_vec1::<f32>()?[0],
        ))
    }

    /// The loss whose gradient moves α toward the target entropy.
    pub fn loss(&self, log_p: &Tensor, active: &Tensor) -> Result<Tensor> {
        let gap = (log_p.detach() + (active.detach() * self.target)?)?.mean_all()?;
        (self.log_alpha.as_tensor().sum_all()? * gap)?.neg()
    }
}
