//! Stacks of the `k` most recent observations (Gymnasium's `FrameStackObservation` with
//! `padding_type="reset"`), without copying the whole stack per step.

use super::{bad_obs, incompatible};
use crate::env::{Action, Env, Frame, Info, Obs, Step};
use crate::error::{Result, SimError};
use crate::space::{DType, Space};

/// The ring of planes, duplicated so any `k` consecutive planes are one contiguous window.
#[derive(Debug)]
enum Planes {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// Observation `[k, ...inner shape]`: the `k` most recent inner observations, oldest first.
/// After reset every slot holds the reset observation.
///
/// Each plane is stored twice in a buffer of `2k` planes, at slots `i` and `i + k`; after
/// writing the newest plane at slot `i`, slots `i + 1 ..= i + k` are the stack in order. So a
/// step costs two plane copies, however large `k` is, and the observation is a borrowed
/// window of the buffer. Works for `u8` frames and `f32` vectors.
pub struct FrameStack<E> {
    env: E,
    k: usize,
    plane: usize,
    /// Slot of the newest plane, in `0..k`.
    newest: usize,
    planes: Planes,
    space: Space,
}

impl<E: Env> FrameStack<E> {
    /// Wrap `env`, stacking `k >= 1` observations.
    pub fn new(env: E, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(SimError::Invalid(format!(
                "FrameStack on `{}`: k must be >= 1",
                env.id()
            )));
        }
        let (space, plane, dtype) = match env.observation_space() {
            Space::Box {
                shape,
                low,
                high,
                dtype,
            } => {
                let mut s = Vec::with_capacity(shape.len() + 1);
                s.push(k);
                s.extend_from_slice(shape);
                let space = Space::Box {
                    shape: s,
                    low: low.repeat(k),
                    high: high.repeat(k),
                    dtype: *dtype,
                };
                (space, low.len(), *dtype)
            }
            other => {
                return Err(incompatible(
                    "FrameStack",
                    &env,
                    format!("needs Box observations, got {other}"),
                ));
            }
        };
        let planes = match dtype {
            DType::U8 => Planes::U8(vec![0; 2 * k * plane]),
            DType::F32 => Planes::F32(vec![0.0; 2 * k * plane]),
        };
        Ok(Self {
            env,
            k,
            plane,
            newest: k - 1,
            planes,
            space,
        })
    }

    /// Number of stacked observations.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.env
    }

    fn window(&self) -> Obs<'_> {
        let start = (self.newest + 1) * self.plane;
        let end = start + self.k * self.plane;
        match &self.planes {
            Planes::U8(b) => Obs::U8(&b[start..end]),
            Planes::F32(b) => Obs::F32(&b[start..end]),
        }
    }
}

/// Write `src` at slots `i` and `i + k` (or at every slot when `fill`).
fn put<T: Copy>(buf: &mut [T], src: &[T], plane: usize, k: usize, i: usize, fill: bool) {
    if fill {
        for dst in buf.chunks_exact_mut(plane) {
            dst.copy_from_slice(src);
        }
    } else {
        buf[i * plane..(i + 1) * plane].copy_from_slice(src);
        buf[(i + k) * plane..(i + k + 1) * plane].copy_from_slice(src);
    }
}

/// Push `obs` into the planes; `false` if its type or length does not match.
fn push(planes: &mut Planes, obs: Obs<'_>, plane: usize, k: usize, i: usize, fill: bool) -> bool {
    match (planes, obs) {
        (Planes::U8(b), Obs::U8(o)) if o.len() == plane => put(b, o, plane, k, i, fill),
        (Planes::F32(b), Obs::F32(o)) if o.len() == plane => put(b, o, plane, k, i, fill),
        _ => return false,
    }
    true
}

impl<E: Env> Env for FrameStack<E> {
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
        self.newest = self.k - 1;
        if !push(&mut self.planes, obs, self.plane, self.k, 0, true) {
            return Err(bad_obs("FrameStack", &self.env, self.plane));
        }
        Ok((self.window(), info))
    }
    fn step(&mut self, action: Action<'_>) -> Result<Step<'_>> {
        let s = self.env.step(action)?;
        let (reward, terminated, truncated, info) = (s.reward, s.terminated, s.truncated, s.info);
        let i = (self.newest + 1) % self.k;
        if !push(&mut self.planes, s.obs, self.plane, self.k, i, false) {
            return Err(bad_obs("FrameStack", &self.env, self.plane));
        }
        self.newest = i;
        Ok(Step {
            obs: self.window(),
            reward,
            terminated,
            truncated,
            info,
        })
    }
    fn obs(&self) -> Obs<'_> {
        self.window()
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
    use crate::wrappers::test_env::{TestEnv, frame};

    #[test]
    fn oldest_first_after_reset_and_steps() {
        let mut env = FrameStack::new(TestEnv::new(0, 0, 0), 3).unwrap();
        assert_eq!(env.observation_space().shape(), &[3, 4, 4, 3]);
        let (obs, _) = env.reset(Some(0)).unwrap();
        assert_eq!(obs.as_u8().unwrap(), &frame(0).repeat(3)[..]);
        for t in 1..=7u64 {
            let s = env.step(Action::Discrete(0)).unwrap();
            // Oldest first; before the stack is full the reset frame pads the front.
            let want = [
                frame(t.saturating_sub(2)),
                frame(t.saturating_sub(1)),
                frame(t),
            ]
            .concat();
            assert_eq!(s.obs.as_u8().unwrap(), &want[..], "t = {t}");
            assert_eq!(env.obs().as_u8().unwrap(), &want[..]);
        }
        // A reset refills the stack with the new first frame.
        let (obs, _) = env.reset(None).unwrap();
        assert_eq!(obs.as_u8().unwrap(), &frame(0).repeat(3)[..]);
    }
}
