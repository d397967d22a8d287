//! Training the learned planners: both diffusion heads (by behaviour cloning
//! against the exact solver, or GDMOPT's expert-free actor–critic) and the
//! SAC baseline, each for the same number of Adam steps on fresh batches from
//! the training distribution. Everything random comes from one seed.
//!
//! The actor–critic and SAC never see the exact solver: their reward is
//! `U_real / U_first-best` (the first best is a closed form), which ranks
//! menus exactly as `U_real / U*` does for a given state.

use candle_core::{Result, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::diffusion::Diffusion;
use super::drl::{Critic, Sac, Temperature};
use super::exact::{first_best, optimal};
use super::features::{batch_features, batch_mask};
use super::heads::Head;
use super::model::{MarketState, Menu};
use super::nn::{matrix, vars_under};
use super::score::score;

/// How the diffusion planner learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Behaviour cloning against `exact::optimal`.
    Bc,
    /// GDMOPT actor–critic, no expert.
    Ac,
}

/// A training method name that is neither `bc` nor `ac`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown training method {0:?}: use bc or ac")]
pub struct UnknownMethod(pub String);

impl std::str::FromStr for Method {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> std::result::Result<Self, UnknownMethod> {
        match s {
            "bc" => Ok(Method::Bc),
            "ac" => Ok(Method::Ac),
            _ => Err(UnknownMethod(s.to_owned())),
        }
    }
}

/// One training run.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub steps: usize,
    pub seed: u64,
    pub batch: usize,
    pub method: Method,
}

/// The three networks a run trains, in the order they are trained.
pub const MODELS: [&str; 3] = ["gdm_raw", "gdm_structured", "drl"];

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub model: &'a str,
    pub step: usize,
    /// The loss being minimised (the actor's, for the actor–critic methods).
    pub loss: f64,
    /// Mean reward of the batch (`U_real / U_first-best`), reward-driven methods only.
    pub reward: Option<f64>,
    /// Mean `U_real / U*` on held-out states, at checkpoints (every tenth of the run).
    pub ratio: Option<f64>,
}

/// Held-out states for the checkpoints, with their optima.
struct Validation {
    states: Vec<MarketState>,
    u_star: Vec<f64>,
    x: Tensor,
}

impl Validation {
    fn new(seed: u64) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0005_eed0_f7a1);
        let states: Vec<MarketState> = (0..128).map(|_| MarketState::sample(&mut rng)).collect();
        let u_star = states
            .iter()
            .map(|s| optimal(s).expect("valid").utility)
            .collect();
        Ok(Self {
            x: batch_features(&states)?,
            states,
            u_star,
        })
    }

    /// Mean `U_real / U*` of the menus `head` decodes from `actions`.
    fn ratio(&self, head: Head, actions: &Tensor) -> Result<f64> {
        let actions: Vec<Vec<f32>> = actions.clamp(-1f32, 1f32)?.to_vec2()?;
        let total: f64 = (self.states.iter().zip(&actions).zip(&self.u_star))
            .map(|((s, a), &u)| score(s, &head.decode(s, a), u).map_or(0.0, |r| r.u_real / u))
            .sum();
        Ok(total / self.states.len() as f64)
    }

    /// The ratio at checkpoints, `None` between them.
    fn at(
        &self,
        step: usize,
        steps: usize,
        ratio: impl FnOnce(&Self) -> Result<f64>,
    ) -> Result<Option<f64>> {
        let every = (steps / 10).max(1);
        if (step + 1).is_multiple_of(every) || step + 1 == steps {
            ratio(self).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// What earns a reward without an expert: `U_real / U_first-best`.
pub fn reward(state: &MarketState, menu: &Menu) -> f64 {
    let fb = first_best(state).map_or(f64::NAN, |s| s.utility);
    score(state, menu, fb).map_or(-1.0, |s| s.u_real / fb)
}

/// Trains the three networks; returns their weights (prefixes [`MODELS`]).
pub fn train(cfg: &TrainConfig, progress: &mut dyn FnMut(Progress)) -> Result<VarMap> {
    let vm = VarMap::new();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let val = Validation::new(cfg.seed)?;
    for (model, head) in MODELS[..2].iter().zip([Head::Raw, Head::Structured]) {
        let gdm = Diffusion::init(&vm, model, head, &mut rng)?;
        match cfg.method {
            Method::Bc => clone(cfg, &vm, model, &gdm, &val, &mut rng, progress)?,
            Method::Ac => actor_critic(cfg, &vm, model, &gdm, &val, &mut rng, progress)?,
        }
    }
    sac(cfg, &vm, MODELS[2], &val, &mut rng, progress)?;
    Ok(vm)
}

fn adam(vm: &VarMap, prefix: &str, lr: f64) -> Result<AdamW> {
    let params = ParamsAdamW {
        lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    AdamW::new(vars_under(vm, &format!("{prefix}.")), params)
}

/// Linear decay to a tenth of `lr` over the run.
fn decayed(lr: f64, step: usize, steps: usize) -> f64 {
    lr * (1.0 - 0.9 * step as f64 / steps.max(1) as f64)
}

fn batch(cfg: &TrainConfig, rng: &mut StdRng) -> Vec<MarketState> {
    (0..cfg.batch).map(|_| MarketState::sample(rng)).collect()
}

fn clone(
    cfg: &TrainConfig,
    vm: &VarMap,
    model: &str,
    gdm: &Diffusion,
    val: &Validation,
    rng: &mut StdRng,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let mut opt = adam(vm, model, 1e-3)?;
    for step in 0..cfg.steps {
        opt.set_learning_rate(decayed(1e-3, step, cfg.steps));
        let states = batch(cfg, rng);
        let (mut target, mut weight) = (Vec::new(), Vec::new());
        for s in &states {
            let opt = optimal(s).expect("sampled states are valid");
            target.extend(gdm.head.encode(s, &opt.menu));
            weight.extend(gdm.head.bc_weights(s, opt.per_vehicle));
        }
        let a = gdm.head.action_dim();
        let (target, weight) = (matrix(target, cfg.batch, a)?, matrix(weight, cfg.batch, a)?);
        let loss = gdm.bc_loss(&batch_features(&states)?, &target, &weight, rng)?;
        opt.backward_step(&loss)?;
        let loss = f64::from(loss.to_scalar::<f32>()?);
        let ratio = val.at(step, cfg.steps, |v| {
            v.ratio(gdm.head, &gdm.draft_tensor(&v.x)?)
        })?;
        progress(Progress {
            model,
            step,
            loss,
            reward: None,
            ratio,
        });
    }
    Ok(())
}

/// The mean reward of drafting `actions` through `head`, and the rewards `[B, 1]`.
fn rewards(states: &[MarketState], head: Head, actions: &Tensor) -> Result<(f64, Tensor)> {
    let actions: Vec<Vec<f32>> = actions.clamp(-1f32, 1f32)?.to_vec2()?;
    let r: Vec<f32> = (states.iter().zip(&actions))
        .map(|(s, a)| reward(s, &head.decode(s, a)) as f32)
        .collect();
    let mean = r.iter().map(|&x| f64::from(x)).sum::<f64>() / r.len() as f64;
    Ok((mean, matrix(r, states.len(), 1)?))
}

fn actor_critic(
    cfg: &TrainConfig,
    vm: &VarMap,
    model: &str,
    gdm: &Diffusion,
    val: &Validation,
    rng: &mut StdRng,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let critic_prefix = format!("critic_{model}");
    let critic = Critic::init(vm, &critic_prefix, gdm.head.action_dim(), rng)?;
    let (mut actor_opt, mut critic_opt) = (adam(vm, model, 3e-4)?, adam(vm, &critic_prefix, 1e-3)?);
    for step in 0..cfg.steps {
        let states = batch(cfg, rng);
        let x = batch_features(&states)?;
        let action = gdm.sample(&x, rng)?;
        // Exploration: Gaussian noise on the drafted action, as in GDMOPT.
        let explore = (action.detach()
            + (super::nn::normal(rng, states.len(), gdm.head.action_dim())? * 0.1)?)?
            .clamp(-1f32, 1f32)?;
        let (mean_reward, r) = rewards(&states, gdm.head, &explore)?;
        critic_opt.backward_step(&critic.loss(&x, &explore, &r)?)?;
        let loss = critic.min_q(&x, &action)?.mean_all()?.neg()?;
        actor_opt.backward_step(&loss)?;
        let loss = f64::from(loss.to_scalar::<f32>()?);
        let ratio = val.at(step, cfg.steps, |v| {
            v.ratio(gdm.head, &gdm.draft_tensor(&v.x)?)
        })?;
        progress(Progress {
            model,
            step,
            loss,
            reward: Some(mean_reward),
            ratio,
        });
    }
    Ok(())
}

fn sac(
    cfg: &TrainConfig,
    vm: &VarMap,
    model: &str,
    val: &Validation,
    rng: &mut StdRng,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let head = Head::Structured;
    let critic_prefix = format!("critic_{model}");
    let policy = Sac::init(vm, model, head.action_dim(), rng)?;
    let critic = Critic::init(vm, &critic_prefix, head.action_dim(), rng)?;
    let (mut actor_opt, mut critic_opt) = (adam(vm, model, 3e-4)?, adam(vm, &critic_prefix, 1e-3)?);
    let temperature = Temperature::new(-1.0)?;
    let mut alpha_opt = AdamW::new(
        vec![temperature.log_alpha.clone()],
        ParamsAdamW {
            lr: 3e-4,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    for step in 0..cfg.steps {
        let states = batch(cfg, rng);
        let (x, mask) = (batch_features(&states)?, batch_mask(&states, head.width())?);
        let (action, log_p) = policy.sample(&x, &mask, rng)?;
        let (mean_reward, r) = rewards(&states, head, &action)?;
        critic_opt.backward_step(&critic.loss(&x, &action.detach(), &r)?)?;
        let alpha = temperature.alpha()?;
        let loss = ((&log_p * alpha)? - critic.min_q(&x, &action)?)?.mean_all()?;
        actor_opt.backward_step(&loss)?;
        alpha_opt.backward_step(&temperature.loss(&log_p, &mask.sum_keepdim(1)?)?)?;
        let loss = f64::from(loss.to_scalar::<f32>()?);
        let ratio = val.at(step, cfg.steps, |v| v.ratio(head, &policy.act(&v.x)?))?;
        progress(Progress {
            model,
            step,
            loss,
            reward: Some(mean_reward),
            ratio,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::evaluate::evaluate;
    use crate::planner::planners::Planners;

    fn mean_ratio(vm: &VarMap, states: &[MarketState], name: &str) -> f64 {
        let eval = evaluate(&Planners::from_varmap(vm).expect("load"), states, 0).expect("eval");
        eval.methods
            .iter()
            .find(|r| r.name == name)
            .expect("row")
            .mean_ratio
    }

    #[test]
    fn a_short_training_run_improves_the_mean_ratio_on_a_fixed_set_of_states() {
        let states: Vec<MarketState> = (1000..1040).map(MarketState::sample_seeded).collect();
        let cfg = |steps| TrainConfig {
            steps,
            seed: 3,
            batch: 32,
            method: Method::Bc,
        };
        let untrained = train(&cfg(0), &mut |_| {}).expect("init");
        let mut checkpoints = 0;
        let trained = train(&cfg(200), &mut |p| {
            checkpoints += usize::from(p.ratio.is_some())
        })
        .expect("train");
        assert_eq!(checkpoints, 3 * 10);
        for name in ["gdm_structured", "drl"] {
            let (before, after) = (
                mean_ratio(&untrained, &states, name),
                mean_ratio(&trained, &states, name),
            );
            assert!(after > before + 0.02, "{name}: {before} -> {after}");
        }
    }

    #[test]
    fn the_training_method_is_parsed_from_its_cli_name() {
        assert_eq!("bc".parse(), Ok(Method::Bc));
        assert_eq!("ac".parse(), Ok(Method::Ac));
        assert!("ppo".parse::<Method>().is_err());
    }
}
