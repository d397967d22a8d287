//! Every way giot can draft a menu, behind one call: the exact solver, the
//! trained networks (both diffusion heads and the DRL baseline, loaded from
//! one safetensors file) and the two reference baselines.
//!
//! The weights shipped with giot are compiled into the binary, so `draft` and
//! `eval` work from any directory; `--weights` overrides them.

use candle_core::{DType, Device, Result};
use candle_nn::VarBuilder;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::baselines::{pooled, random};
use super::diffusion::Diffusion;
use super::drl::Sac;
use super::exact::optimal;
use super::features::batch_features;
use super::heads::Head;
use super::model::{MarketError, MarketState, Menu};
use super::train::MODELS;

/// The weights trained by the command in `planner/TRAINING.md`.
pub static SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../planner/gdm.safetensors");
/// Where `giot planner train` writes by default: the shipped weights file.
pub const SHIPPED_WEIGHTS_PATH: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/planner/gdm.safetensors");
/// The diffusion head giot drafts with: feasible by construction, and the
/// better of the two in every evaluation so far (see `planner/TRAINING.md`).
pub const SHIPPED_HEAD: Head = Head::Structured;
pub use super::diffusion::DRAFT_SEED;

/// Why a menu could not be drafted.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// The market state cannot be used (bad input: the formulas divide by θ
    /// and ρ and take logarithms), or the exact solver or the scorer refused it.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// A network failed to run (a tensor shape or dtype that does not fit
    /// the weights).
    #[error(transparent)]
    Network(#[from] candle_core::Error),
}

impl DraftError {
    /// Whether the error came from a state the model cannot use (bad input).
    pub fn is_bad_state(&self) -> bool {
        matches!(self, DraftError::Market(_))
    }
}

/// A way to draft a menu, as named in evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Exact,
    GdmRaw,
    GdmStructured,
    Drl,
    Pooled,
    Random,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Exact,
        Method::GdmRaw,
        Method::GdmStructured,
        Method::Drl,
        Method::Pooled,
        Method::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::GdmRaw => Head::Raw.name(),
            Method::GdmStructured => Head::Structured.name(),
            Method::Drl => "drl",
            Method::Pooled => "pooled",
            Method::Random => "random",
        }
    }

    /// The method of the shipped diffusion head.
    pub fn shipped() -> Self {
        match SHIPPED_HEAD {
            Head::Raw => Method::GdmRaw,
            Head::Structured => Method::GdmStructured,
        }
    }
}

/// The trained networks.
pub struct Planners {
    raw: Diffusion,
    structured: Diffusion,
    drl: Sac,
}

impl Planners {
    /// Reads the networks from safetensors bytes (the names [`MODELS`] prefix).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_var_builder(&VarBuilder::from_buffered_safetensors(
            bytes,
            DType::F32,
            &Device::Cpu,
        )?)
    }

    /// The networks of a training run that has just finished.
    pub fn from_varmap(vm: &candle_nn::VarMap) -> Result<Self> {
        Self::from_var_builder(&VarBuilder::from_varmap(vm, DType::F32, &Device::Cpu))
    }

    fn from_var_builder(vb: &VarBuilder) -> Result<Self> {
        Ok(Self {
            raw: Diffusion::load(&vb.pp(MODELS[0]), Head::Raw)?,
            structured: Diffusion::load(&vb.pp(MODELS[1]), Head::Structured)?,
            drl: Sac::load(&vb.pp(MODELS[2]), Head::Structured.action_dim())?,
        })
    }

    /// The weights compiled into giot.
    pub fn shipped() -> Result<Self> {
        Self::from_bytes(SHIPPED_WEIGHTS.to_vec())
    }

    /// The diffusion planner with `head`.
    pub fn diffusion(&self, head: Head) -> &Diffusion {
        match head {
            Head::Raw => &self.raw,
            Head::Structured => &self.structured,
        }
    }

    /// Drafts a menu for `state` with `method`; `seed` only matters for `random`.
    pub fn draft(
        &self,
        method: Method,
        state: &MarketState,
        seed: u64,
    ) -> std::result::Result<Menu, DraftError> {
        state.validate()?;
        let first = |rows: Vec<Vec<f32>>| rows.into_iter().next().unwrap_or_default();
        Ok(match method {
            Method::Exact => optimal(state)?.menu,
            Method::GdmRaw | Method::GdmStructured => {
                let head = if method == Method::GdmRaw {
                    Head::Raw
                } else {
                    Head::Structured
                };
                let x = batch_features(std::slice::from_ref(state))?;
                let action = first(self.diffusion(head).draft(&x, DRAFT_SEED)?);
                scaled_to_budget(state, head.decode(state, &action))
            }
            Method::Drl => {
                let x = batch_features(std::slice::from_ref(state))?;
                let action = first(self.drl.act(&x)?.to_vec2()?);
                scaled_to_budget(state, Head::Structured.decode(state, &action))
            }
            Method::Pooled => scaled_to_budget(state, pooled(state)),
            Method::Random => {
                scaled_to_budget(state, random(state, &mut StdRng::seed_from_u64(seed)))
            }
        })
    }
}

/// Budgets are outside the training distribution: a menu that overspends is
/// scaled down (q and R alike, which keeps IR and IC) to spend exactly the budget.
fn scaled_to_budget(state: &MarketState, mut menu: Menu) -> Menu {
    let spend = state.spend(&menu);
    if let Some(b) = state.budget.filter(|&b| spend > b) {
        let k = b / spend;
        for it in &mut menu.items {
            (it.q, it.r) = (k * it.q, k * it.r);
        }
    }
    menu
}
