//! Area resize of image observations with the exact integer [`AreaResizer`].

use super::{bad_obs, bounds, incompatible, u8_image_shape};
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::Result;
use crate::preprocess::AreaResizer;
use crate::space::{DType, Space};

/// Resizes `u8` observations `[H, W]` or `[H, W, C]` to `[h, w]` / `[h, w, C]` by area
/// averaging (like OpenCV's `INTER_AREA`, which Gymnasium's `AtariPreprocessing` uses, but
/// exact in integers), each channel separately. [`Resize::squeeze`] drops a unit channel axis
/// (`[H, W, 1]` -> `[h, w]`).
pub struct Resize<E> {
    env: E,
    space: Space,
    resizer: AreaResizer,
    channels: usize,
    in_len: usize,
    buf: Vec<u8>,
    /// One de-interleaved input channel and its resized plane (only when `channels > 1`).
    plane_in: Vec<u8>,
    plane_out: Vec<u8>,
}

impl<E: Env> Resize<E> {
    /// Wrap `env`, resizing to `height x width` and keeping the channel layout.
    pub fn new(env: E, height: usize, width: usize) -> Result<Self> {
        Self::build(env, height, width, false)
    }

    /// Like [`Resize::new`], but `[H, W, 1]` observations become `[h, w]` (what Gymnasium's
    /// `AtariPreprocessing` returns for grayscale).
    pub fn squeeze(env: E, height: usize, width: usize) -> Result<Self> {
        Self::build(env, height, width, true)
    }

    fn build(env: E, height: usize, width: usize, squeeze: bool) -> Result<Self> {
        let shape = u8_image_shape("Resize", &env)?;
        let (h, w) = (shape[0], shape[1]);
        let channels = shape.get(2).copied().unwrap_or(1);
        let resizer = AreaResizer::new(h, w, height, width)
            .map_err(|e| incompatible("Resize", &env, e.to_string()))?;
        let out_shape = if shape.len() == 2 || (squeeze && channels == 1) {
            vec![height, width]
        } else {
            vec![height, width, channels]
        };
        let (lo, hi) = bounds(env.observation_space());
        let multi = channels > 1;
        Ok(Self {
            space: Space::uniform_box(&out_shape, lo, hi, DType::U8),
            resizer,
            channels,
            in_len: h * w * channels,
            buf: vec![0; height * width * channels],
            plane_in: if multi { vec![0; h * w] } else { Vec::new() },
            plane_out: if multi {
                vec![0; height * width]
            } else {
                Vec::new()
            },
            env,
        })
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }
}

/// Resize `obs` into `buf`; `false` when the observation has the wrong size.
fn convert(
    obs: Obs<'_>,
    in_len: usize,
    channels: usize,
    resizer: &mut AreaResizer,
    plane_in: &mut [u8],
    plane_out: &mut [u8],
    buf: &mut [u8],
) -> bool {
    let Some(src) = obs.as_u8().filter(|s| s.len() == in_len) else {
        return false;
    };
    if channels == 1 {
        resizer.resize(src, buf);
        return true;
    }
    for c in 0..channels {
        for (p, px) in plane_in.iter_mut().zip(src.chunks_exact(channels)) {
            *p = px[c];
        }
        resizer.resize(plane_in, plane_out);
        for (px, &p) in buf.chunks_exact_mut(channels).zip(plane_out.iter()) {
            px[c] = p;
        }
    }
    true
}

impl<E: Env> Env for Resize<E> {
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
        let ok = convert(
            obs,
            self.in_len,
            self.channels,
            &mut self.resizer,
            &mut self.plane_in,
            &mut self.plane_out,
            &mut self.buf,
        );
        if !ok {
            return Err(bad_obs("Resize", &self.env, self.in_len));
        }
        Ok((Obs::U8(&self.buf), info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let s = self.env.step(action)?;
        let (reward, terminated, truncated, info) = (s.reward, s.terminated, s.truncated, s.info);
        let ok = convert(
            s.obs,
            self.in_len,
            self.channels,
            &mut self.resizer,
            &mut self.plane_in,
            &mut self.plane_out,
            &mut self.buf,
        );
        if !ok {
            return Err(bad_obs("Resize", &self.env, self.in_len));
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
    fn halves_each_channel_by_2x2_means() {
        let mut env = Resize::new(TestEnv::new(0, 0, 0), 2, 2).unwrap();
        assert_eq!(env.observation_space().shape(), &[2, 2, 3]);
        env.reset(None).unwrap();
        let s = env.step(Action::Discrete(0)).unwrap();
        // Every 2x2 block holds two pixels of each parity: mean of (10+c) and (190+c) = 100+c.
        let want: Vec<u8> = (0..4).flat_map(|_| [100, 101, 102]).collect();
        assert_eq!(s.obs.as_u8().unwrap(), &want[..]);
        assert_eq!(pixel(1, 0, 0), 190);
        assert!(Resize::new(TestEnv::new(0, 0, 0), 0, 2).is_err());
    }
}
