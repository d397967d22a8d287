//! The small networks every learned planner is made of, and the plumbing
//! that makes them reproducible and storable.
//!
//! candle cannot seed its CPU random generator, so weights are initialised
//! here from a seeded `StdRng` and put into the `VarMap` before the layers are
//! built from it: a training run is a function of its seed. Weights are saved
//! and loaded as safetensors, each network under its own prefix.

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use rand::Rng;
use rand::rngs::StdRng;

/// Hidden width of every network (GDMOPT's size).
pub const HIDDEN: usize = 256;

/// A multi-layer perceptron with Mish between layers and none after the last.
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// Builds the layers `dims[0] → dims[1] → …` from `vb` (names `l{k}.weight`).
    pub fn new(vb: &VarBuilder, dims: &[usize]) -> Result<Self> {
        let layers = (dims.windows(2).enumerate())
            .map(|(k, d)| {
                let vb = vb.pp(format!("l{k}"));
                Ok(Linear::new(
                    vb.get((d[1], d[0]), "weight")?,
                    Some(vb.get(d[1], "bias")?),
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// Fills `vm` with seeded uniform(±1/√fan_in) weights for [`Mlp::new`]
    /// with the same prefix and dims, then builds it.
    pub fn init(vm: &VarMap, prefix: &str, dims: &[usize], rng: &mut StdRng) -> Result<Self> {
        {
            let mut data = vm
                .data()
                .lock()
                .expect("the var map lock is never poisoned");
            for (k, d) in dims.windows(2).enumerate() {
                let bound = 1.0 / (d[0] as f32).sqrt();
                let mut uniform = |len: usize| -> Vec<f32> {
                    (0..len).map(|_| rng.random_range(-bound..bound)).collect()
                };
                let w = Tensor::from_vec(uniform(d[0] * d[1]), (d[1], d[0]), &Device::Cpu)?;
                let b = Tensor::from_vec(uniform(d[1]), d[1], &Device::Cpu)?;
                data.insert(format!("{prefix}.l{k}.weight"), Var::from_tensor(&w)?);
                data.insert(format!("{prefix}.l{k}.bias"), Var::from_tensor(&b)?);
            }
        }
        let vb = VarBuilder::from_varmap(vm, DType::F32, &Device::Cpu);
        Self::new(&vb.pp(prefix), dims)
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if k + 1 < self.layers.len() {
                x = candle_nn::ops::mish(&x)?;
            }
        }
        Ok(x)
    }
}

/// The trainable variables of `vm` whose names start with `prefix`.
pub fn vars_under(vm: &VarMap, prefix: &str) -> Vec<Var> {
    let data = vm
        .data()
        .lock()
        .expect("the var map lock is never poisoned");
    let mut named: Vec<(&String, &Var)> =
        data.iter().filter(|(k, _)| k.starts_with(prefix)).collect();
    named.sort_by(|a, b| a.0.cmp(b.0)); // a fixed order keeps optimisation reproducible
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// A `[rows, cols]` f32 tensor from row-major data.
pub fn matrix(data: Vec<f32>, rows: usize, cols: usize) -> Result<Tensor> {
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}

/// `rows × cols` standard normal samples from `rng` (Box–Muller).
pub fn normal(rng: &mut StdRng, rows: usize, cols: usize) -> Result<Tensor> {
    matrix(normals(rng, rows * cols), rows, cols)
}

/// `len` standard normal samples from `rng`.
pub fn normals<R: Rng + ?Sized>(rng: &mut R, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}
