//! RGB to grayscale observations with the shared integer luma of [`crate::preprocess`].

use super::{bad_obs, bounds, incompatible, u8_image_shape};
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::Result;
use crate::preprocess::rgb_to_gray;
use crate::space::Space;

/// Converts `[H, W, 3]` `u8` RGB observations to one luma plane, `[H, W]` (or `[H, W, 1]`
/// with [`Grayscale::keep_dim`]), using [`rgb_to_gray`] so the result matches the native
/// fast paths byte for byte. Gymnasium: `GrayscaleObservation(keep_dim=...)`.
pub struct Grayscale<E> {
    env: E,
    space: Space,
    buf: Vec<u8>,
}

impl<E: Env> Grayscale<E> {
    /// Wrap `env`, giving `[H, W]` observations. Refuses envs whose observations are not
    /// `u8` `[H, W, 3]`.
    pub fn new(env: E) -> Result<Self> {
        Self::build(env, false)
    }

    /// Like [`Grayscale::new`] but keeps a channel axis: `[H, W, 1]`.
    pub fn keep_dim(env: E) -> Result<Self> {
        Self::build(env, true)
    }

    fn build(env: E, keep_dim: bool) -> Result<Self> {
        let shape = u8_image_shape("Grayscale", &env)?;
        if shape.len() != 3 || shape[2] != 3 {
            return Err(incompatible(
                "Grayscale",
                &env,
                format!("needs RGB observations [H, W, 3], got shape {shape:?}"),
            ));
        }
        let (h, w) = (shape[0], shape[1]);
        let (lo, hi) = bounds(env.observation_space());
        let out_shape: &[usize] = if keep_dim { &[h, w, 1] } else { &[h, w] };
        let space = Space::uniform_box(out_shape, lo, hi, crate::DType::U8);
        Ok(Self {
            env,
            space,
            buf: vec![0; h * w],
        })
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

/// Convert `obs` into `buf`; `false` when the inner env broke its own space.
fn convert(obs: Obs<'_>, buf: &mut [u8]) -> bool {
    match obs.as_u8() {
        Some(rgb) if rgb.len() == buf.len() * 3 => {
            rgb_to_gray(rgb, buf);
            true
        }
        _ => false,
    }
}

impl<E: Env> Env for Grayscale<E> {
    fn id(&self) -> &str {
        self.env.id()
    }
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<(Obs<'_>, Info)> {
        let (obs, info) = self.env.reset(seed)?;
        if !convert(obs, &mut self.buf) {
            return Err(bad_obs("Grayscale", &self.env, self.buf.len() * 3));
        }
        Ok((Obs::U8(&self.buf), info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let s = self.env.step(action)?;
        let (reward, terminated, truncated, info) = (s.reward, s.terminated, s.truncated, s.info);
        if !convert(s.obs, &mut self.buf) {
            return Err(bad_obs("Grayscale", &self.env, self.buf.len() * 3));
        }
        Ok(Step {
            obs: Obs::U8(&self.buf),
            reward,
            terminated,
            truncated,
            info,
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.buf)
    }
    fn render(&mut self) -> Frame<'_> {
        self.env.render()
    }
    fn action_meanings(&self) -> Option<&'static [&'static str]> {
        self.env.action_meanings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::test_env::{TestEnv, pixel};

    #[test]
    fn luma_of_each_pixel() {
        let mut env = Grayscale::new(TestEnv::new(0, 0, 0)).unwrap();
        assert_eq!(env.observation_space().shape(), &[4, 4]);
        env.reset(None).unwrap();
        let s = env.step(Action::Discrete(0)).unwrap();
        let got = s.obs.as_u8().unwrap().to_vec();
        // Channels are (v, v+1, v+2): luma = v + 1.
        let want: Vec<u8> = (0..16).map(|i| pixel(1, i, 0) + 1).collect();
        assert_eq!(got, want);
        let env = Grayscale::keep_dim(TestEnv::new(0, 0, 0)).unwrap();
        assert_eq!(env.observation_space().shape(), &[4, 4, 1]);
    }
}
