//! Seeded weight initialisation. candle's CPU backend draws initial weights from an unseeded
//! thread RNG, so two runs with the same seed would start from different networks; this
//! re-draws every variable from a seeded ChaCha stream with the same distributions candle
//! uses (Kaiming-normal weights for ReLU nets, uniform `±1/sqrt(fan_in)` biases).

use crate::error::Result;
use candle_core::Tensor;
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};

/// Re-initialise every variable of `vars` from `seed`, in name order, so the same seed and
/// architecture always give the same weights. Variables named `*.weight` with two or more
/// dimensions get `N(0, 2 / fan_in)`; `*.bias` gets `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
/// the fan-in of its sibling weight; anything else is left alone.
pub fn seeded_init(vars: &VarMap, seed: u64) -> Result<()> {
    let data = vars.data().lock().expect("var map lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let fan_in = |weight: &str| -> Option<usize> {
        let dims = data.get(weight)?.dims().to_vec();
        (dims.len() >= 2).then(|| dims[1..].iter().product())
    };
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let values: Vec<f32> = if let Some(prefix) = name.strip_suffix(".weight") {
            let Some(fan) = fan_in(&format!("{prefix}.weight")) else {
                continue;
            };
            let std = (2.0 / fan as f64).sqrt();
            (0..n).map(|_| (normal(&mut rng) * std) as f32).collect()
        } else if let Some(prefix) = name.strip_suffix(".bias") {
            let Some(fan) = fan_in(&format!("{prefix}.weight")) else {
                continue;
            };
            let bound = 1.0 / (fan as f64).sqrt();
            (0..n)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect()
        } else {
            continue;
        };
        let t = Tensor::from_vec(values, var.shape(), var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// A standard normal draw (Box-Muller).
fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{Encoder, EncoderKind};
    use crate::frames::ObsSpec;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;

    fn weights(seed: u64) -> Vec<(String, Vec<f32>)> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        Encoder::new(EncoderKind::Mlp, &ObsSpec::Vector { dim: 200 }, &[300], vb).unwrap();
        seeded_init(&vm, seed).unwrap();
        let mut out: Vec<_> = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn same_seed_same_weights_and_the_right_scale() {
        let a = weights(3);
        assert_eq!(a, weights(3));
        assert_ne!(a, weights(4));
        let (_, w) = a.iter().find(|(k, _)| k == "fc0.weight").unwrap();
        let var = w.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!(
            (var - 2.0 / 200.0).abs() < 0.1 * 2.0 / 200.0,
            "variance {var}"
        );
        let (_, b) = a.iter().find(|(k, _)| k == "fc0.bias").unwrap();
        let bound = 1.0 / 200f32.sqrt();
        assert!(b.iter().all(|x| x.abs() <= bound));
    }
}
