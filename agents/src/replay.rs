//! Experience replay that stores each observation plane once.
//!
//! Frame-stacked observations (`k` planes, newest last) share `k - 1` planes with the previous
//! step, so storing whole stacks wastes `k`x the memory. Here each env has its own ring of
//! *slots*; a slot holds one plane (the newest one) plus the transition that produced it. An
//! episode starts with its reset observation written as `k` slots (`k - 1` padding planes and
//! the newest plane), so the stack of any observation slot `s` is exactly slots `s-k+1..=s`
//! and never crosses an episode boundary. Vector observations use `k = 1`: one slot, the
//! whole `f32` vector.
//!
//! Sampling is uniform over stored transitions (rejecting slots that cannot start one) and
//! writes into a preallocated [`Batch`]; it computes `n`-step returns on the fly, stopping at
//! the end of an episode. Transitions whose `n`-step window is not complete yet are not
//! sampled. With Gymnasium's next-step autoreset the caller stores the autoreset observation
//! with [`ReplayBuffer::start_episode`], never as a transition.

use crate::sum_tree::SumTree;
use rand::Rng;
use sim::Obs;
use std::io::{self, Read, Write};
use thiserror::Error;

mod file;
pub use file::ReplayFileHeader;

/// What can go wrong storing or sampling experience.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ReplayError {
    /// A configuration value is out of range.
    #[error("replay config: {0}")]
    Config(String),
    /// An observation has the wrong length or element type.
    #[error("replay: observation of {got} is not {expected}")]
    BadObs { expected: String, got: String },
    /// A stacked observation whose older planes are not the previous observation's newer
    /// planes: the env is not a frame stack, so `stack` must be 1.
    #[error(
        "replay: env {env}'s observation is not a frame stack of {stack} planes (its older \
         planes differ from the previous observation's); configure stack = 1"
    )]
    NotAFrameStack { env: usize, stack: usize },
    /// `push` before the env's first `start_episode`.
    #[error("replay: push for env {0} before start_episode")]
    NoEpisode(usize),
    /// An env index outside `0..num_envs`.
    #[error("replay: env index {env} out of range (num_envs = {num_envs})")]
    BadEnv { env: usize, num_envs: usize },
    /// A discrete action that does not fit the buffer's action store.
    #[error("replay: action {0} out of range")]
    BadAction(i64),
    /// Too few complete transitions stored to draw a batch.
    #[error("replay: no complete transitions to sample yet ({stored} slots stored)")]
    Empty { stored: usize },
    /// A saved replay file is unreadable, truncated or not a replay file.
    #[error("replay file: {0}")]
    File(String),
}

/// Shape and size of a replay buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayConfig {
    /// Total slots over all envs (about one per transition).
    pub capacity: usize,
    /// Planes per observation (`k` of a frame stack; 1 for vectors or unstacked frames).
    pub stack: usize,
    /// Elements in one plane (`H * W`, or the vector length).
    pub plane_len: usize,
    /// Envs that feed the buffer in parallel (each gets `capacity / num_envs` slots).
    pub num_envs: usize,
    /// Discount for `n`-step returns.
    pub gamma: f32,
    /// Steps summed into one return (1 = plain one-step TD).
    pub n_step: usize,
}

/// Element type of stored observations: `u8` frames or `f32` vectors.
pub trait ObsElem: Copy + Default + PartialEq + Send + 'static {
    /// The slice of this type inside an [`Obs`], if it has this type.
    fn from_obs(obs: Obs<'_>) -> Option<&[Self]>;
    /// Borrow a slice of this type as an [`Obs`].
    fn to_obs(data: &[Self]) -> Obs<'_>;
    /// Name for messages (and the element tag of replay files).
    const NAME: &'static str;
    /// Write `data` as little-endian bytes (replay files).
    fn write_le(data: &[Self], w: &mut impl Write) -> io::Result<()>;
    /// Fill `out` from little-endian bytes.
    fn read_le(r: &mut impl Read, out: &mut [Self]) -> io::Result<()>;
}

impl ObsElem for u8 {
    fn from_obs(obs: Obs<'_>) -> Option<&[u8]> {
        obs.as_u8()
    }
    fn to_obs(data: &[u8]) -> Obs<'_> {
        Obs::U8(data)
    }
    const NAME: &'static str = "u8";
    fn write_le(data: &[u8], w: &mut impl Write) -> io::Result<()> {
        w.write_all(data)
    }
    fn read_le(r: &mut impl Read, out: &mut [u8]) -> io::Result<()> {
        r.read_exact(out)
    }
}

impl ObsElem for f32 {
    fn from_obs(obs: Obs<'_>) -> Option<&[f32]> {
        obs.as_f32()
    }
    fn to_obs(data: &[f32]) -> Obs<'_> {
        Obs::F32(data)
    }
    const NAME: &'static str = "f32";
    fn write_le(data: &[f32], w: &mut impl Write) -> io::Result<()> {
        file::write_values(w, data, f32::to_le_bytes)
    }
    fn read_le(r: &mut impl Read, out: &mut [f32]) -> io::Result<()> {
        file::read_values(r, out, f32::from_le_bytes)
    }
}

const PAD: u8 = 0;
const FIRST: u8 = 1;
const STEP: u8 = 2;
const KIND_MASK: u8 = 0b11;
const TERMINATED: u8 = 0b100;
const TRUNCATED: u8 = 0b1000;

/// One env's ring of slots. Positions are logical (monotonic `u64`); physical = pos % cap.
#[derive(Debug, Clone)]
struct Segment<T> {
    planes: Vec<T>,
    /// Kind (`PAD`/`FIRST`/`STEP`) and end flags of the transition into this slot.
    flags: Vec<u8>,
    actions: Vec<u32>,
    rewards: Vec<f32>,
    /// Next logical position to write.
    write: u64,
    /// An episode is open (a `start_episode` happened and no forced restart since).
    open: bool,
}

/// A batch of transitions, preallocated once and refilled by [`ReplayBuffer::sample`].
#[derive(Debug, Clone)]
pub struct Batch<T> {
    /// Batch size.
    pub size: usize,
    /// `size` observations (`stack * plane_len` each), end to end.
    pub obs: Vec<T>,
    /// The observations `n` steps later (or at the episode's end) to bootstrap from.
    pub next_obs: Vec<T>,
    /// Actions taken in `obs`.
    pub actions: Vec<u32>,
    /// Discounted sums of up to `n` rewards.
    pub returns: Vec<f32>,
    /// `gamma^m` for the `m` steps summed, or 0 when the episode terminated within them.
    pub discounts: Vec<f32>,
    /// Importance-sampling weights (all 1 for uniform sampling).
    pub weights: Vec<f32>,
    /// Where each transition came from: `(env, logical slot)`.
    pub indices: Vec<(u32, u64)>,
}

impl<T: ObsElem> Batch<T> {
    /// Allocate a batch of `size` transitions for observations of `obs_len` elements.
    pub fn new(size: usize, obs_len: usize) -> Self {
        Self {
            size,
            obs: vec![T::default(); size * obs_len],
            next_obs: vec![T::default(); size * obs_len],
            actions: vec![0; size],
            returns: vec![0.0; size],
            discounts: vec![0.0; size],
            weights: vec![1.0; size],
            indices: vec![(0, 0); size],
        }
    }
}

/// Replay memory for `num_envs` parallel envs; see the module docs for the layout.
#[derive(Debug, Clone)]
pub struct ReplayBuffer<T> {
    cfg: ReplayConfig,
    seg_cap: usize,
    segments: Vec<Segment<T>>,
    prio: Option<Priorities>,
}

/// Proportional prioritized replay state (Schaul et al. 2016): one sum-tree leaf per slot
/// (`env * slots_per_env + physical slot`) holding `priority^alpha` of the transition that
/// starts there (0 for slots that start none).
#[derive(Debug, Clone)]
struct Priorities {
    tree: SumTree,
    alpha: f64,
    /// Largest `|td| + eps` seen: new transitions get it, so each is replayed at least once
    /// with high probability.
    max_priority: f64,
}

impl<T: ObsElem> ReplayBuffer<T> {
    /// An empty buffer. Fails when a per-env ring could not hold one stack plus an
    /// `n`-step window.
    pub fn new(cfg: ReplayConfig) -> Result<Self, ReplayError> {
        if cfg.stack == 0 || cfg.plane_len == 0 || cfg.num_envs == 0 || cfg.n_step == 0 {
            return Err(ReplayError::Config(format!(
                "stack, plane_len, num_envs and n_step must be positive: {cfg:?}"
            )));
        }
        if !(0.0..=1.0).contains(&cfg.gamma) {
            return Err(ReplayError::Config(format!(
                "gamma {} is outside [0, 1]",
                cfg.gamma
            )));
        }
        let seg_cap = cfg.capacity / cfg.num_envs;
        let need = cfg.stack + cfg.n_step + 1;
        if seg_cap < need {
            return Err(ReplayError::Config(format!(
                "capacity {} over {} envs leaves {seg_cap} slots per env; need at least {need} \
                 (stack + n_step + 1)",
                cfg.capacity, cfg.num_envs
            )));
        }
        let segments = (0..cfg.num_envs)
            .map(|_| Segment {
                planes: vec![T::default(); seg_cap * cfg.plane_len],
                flags: vec![PAD; seg_cap],
                actions: vec![0; seg_cap],
                rewards: vec![0.0; seg_cap],
                write: 0,
                open: false,
            })
            .collect();
        Ok(Self {
            cfg,
            seg_cap,
            segments,
            prio: None,
        })
    }

    /// Switch to proportional prioritized sampling with exponent `alpha` (0 = uniform).
    /// Call before storing anything.
    pub fn set_prioritized(&mut self, alpha: f64) -> Result<(), ReplayError> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(ReplayError::Config(format!(
                "priority alpha {alpha} is outside [0, 1]"
            )));
        }
        if !self.is_empty() {
            return Err(ReplayError::Config(
                "prioritized replay must be enabled before anything is stored".into(),
            ));
        }
        self.prio = Some(Priorities {
            tree: SumTree::new(self.cfg.num_envs * self.seg_cap),
            alpha,
            max_priority: 1.0,
        });
        Ok(())
    }

    /// Whether sampling is prioritized.
    pub fn is_prioritized(&self) -> bool {
        self.prio.is_some()
    }

    /// Give the slot just written at logical position `pos` of `env` priority 0 (it starts
    /// no transition yet), and the slot before it the maximal priority when it can start one.
    fn prioritize_new_slot(&mut self, env: usize, pos: u64) {
        let cap = self.seg_cap as u64;
        let seg = &self.segments[env];
        let leaf = |p: u64| env * self.seg_cap + (p % cap) as usize;
        let prev_is_obs = pos > 0 && seg.flags[((pos - 1) % cap) as usize] & KIND_MASK != PAD;
        let new_is_step = seg.flags[(pos % cap) as usize] & KIND_MASK == STEP;
        if let Some(pr) = &mut self.prio {
            pr.tree.set(leaf(pos), 0.0);
            if new_is_step && prev_is_obs {
                pr.tree.set(leaf(pos - 1), pr.max_priority.powf(pr.alpha));
            }
        }
    }

    /// The buffer's configuration.
    pub fn config(&self) -> &ReplayConfig {
        &self.cfg
    }

    /// Elements in one (stacked) observation.
    pub fn obs_len(&self) -> usize {
        self.cfg.stack * self.cfg.plane_len
    }

    /// Memory per stored transition: one plane, the action (4), reward (4) and flags (1).
    /// Each episode also spends `stack` slots on its reset observation.
    pub fn bytes_per_transition(&self) -> usize {
        Self::bytes_per_slot(self.cfg.plane_len)
    }

    /// [`Self::bytes_per_transition`] for a plane of `plane_len` elements, before building.
    pub fn bytes_per_slot(plane_len: usize) -> usize {
        plane_len * std::mem::size_of::<T>() + 4 + 4 + 1
    }

    /// Slots currently stored over all envs.
    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| self.stored(s)).sum()
    }

    /// True before anything was stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stored(&self, seg: &Segment<T>) -> usize {
        (seg.write as usize).min(self.seg_cap)
    }

    fn check_obs<'a>(&self, obs: Obs<'a>) -> Result<&'a [T], ReplayError> {
        let expected = self.obs_len();
        match T::from_obs(obs) {
            Some(d) if d.len() == expected => Ok(d),
            _ => Err(ReplayError::BadObs {
                expected: format!("{expected} {}", T::NAME),
                got: format!(
                    "{} {}",
                    obs.len(),
                    if obs.as_u8().is_some() { "u8" } else { "f32" }
                ),
            }),
        }
    }

    fn segment(&mut self, env: usize) -> Result<&mut Segment<T>, ReplayError> {
        let num_envs = self.cfg.num_envs;
        self.segments
            .get_mut(env)
            .ok_or(ReplayError::BadEnv { env, num_envs })
    }

    /// Store env `env`'s reset observation: the start of a new episode. An episode still
    /// open in that env simply ends (its last transitions bootstrap from its last obs).
    pub fn start_episode(&mut self, env: usize, obs: Obs<'_>) -> Result<(), ReplayError> {
        let data = self.check_obs(obs)?;
        let (pl, k, cap) = (self.cfg.plane_len, self.cfg.stack, self.seg_cap);
        let seg = self.segment(env)?;
        for (i, plane) in data.chunks_exact(pl).enumerate() {
            let p = (seg.write % cap as u64) as usize;
            seg.planes[p * pl..(p + 1) * pl].copy_from_slice(plane);
            seg.flags[p] = if i + 1 == k { FIRST } else { PAD };
            seg.actions[p] = 0;
            seg.rewards[p] = 0.0;
            seg.write += 1;
        }
        seg.open = true;
        if self.prio.is_some() {
            let w = self.segments[env].write;
            for pos in w - k as u64..w {
                self.prioritize_new_slot(env, pos);
            }
        }
        Ok(())
    }

    /// Store one step of env `env`: `action` taken in its current observation gave `reward`
    /// and `next_obs`. `truncated` episodes still bootstrap from `next_obs`; `terminated` ones
    /// do not. After either, the next call for this env must be [`Self::start_episode`].
    pub fn push(
        &mut self,
        env: usize,
        action: i64,
        reward: f32,
        terminated: bool,
        truncated: bool,
        next_obs: Obs<'_>,
    ) -> Result<(), ReplayError> {
        let data = self.check_obs(next_obs)?;
        let action = u32::try_from(action).map_err(|_| ReplayError::BadAction(action))?;
        let (pl, k, cap) = (self.cfg.plane_len, self.cfg.stack, self.seg_cap);
        let seg = self.segment(env)?;
        if !seg.open {
            return Err(ReplayError::NoEpisode(env));
        }
        // The older k-1 planes of next_obs must be the newer k-1 planes already stored.
        for j in 0..k - 1 {
            let p = ((seg.write - (k as u64 - 1) + j as u64) % cap as u64) as usize;
            if seg.planes[p * pl..(p + 1) * pl] != data[j * pl..(j + 1) * pl] {
                return Err(ReplayError::NotAFrameStack { env, stack: k });
            }
        }
        let p = (seg.write % cap as u64) as usize;
        seg.planes[p * pl..(p + 1) * pl].copy_from_slice(&data[(k - 1) * pl..]);
        seg.flags[p] =
            STEP | if terminated { TERMINATED } else { 0 } | if truncated { TRUNCATED } else { 0 };
        seg.actions[p] = action;
        seg.rewards[p] = reward;
        seg.write += 1;
        if terminated || truncated {
            seg.open = false;
        }
        let pos = seg.write - 1;
        if self.prio.is_some() {
            self.prioritize_new_slot(env, pos);
        }
        Ok(())
    }

    /// The `n`-step transition starting at observation slot `s` of `seg`, if it is complete:
    /// `(action, return, discount, bootstrap slot)`.
    fn transition(&self, seg: &Segment<T>, s: u64) -> Option<(u32, f32, f32, u64)> {
        let cap = self.seg_cap as u64;
        let oldest = seg.write.saturating_sub(cap);
        let k = self.cfg.stack as u64;
        let flag = |pos: u64| seg.flags[(pos % cap) as usize];
        if s + 1 >= seg.write || s < oldest + (k - 1) || flag(s) & KIND_MASK == PAD {
            return None;
        }
        if flag(s + 1) & KIND_MASK != STEP {
            return None;
        }
        let action = seg.actions[((s + 1) % cap) as usize];
        let (mut ret, mut disc, mut m) = (0.0f32, 1.0f32, 0u64);
        loop {
            let pos = s + 1 + m;
            let f = flag(pos);
            ret += disc * seg.rewards[(pos % cap) as usize];
            disc *= self.cfg.gamma;
            m += 1;
            if f & TERMINATED != 0 {
                return Some((action, ret, 0.0, pos));
            }
            if f & TRUNCATED != 0 || m == self.cfg.n_step as u64 {
                return Some((action, ret, disc, pos));
            }
            if pos + 1 >= seg.write {
                return None; // the window is not complete yet
            }
            if flag(pos + 1) & KIND_MASK != STEP {
                // The episode was abandoned here (restarted without an end flag).
                return Some((action, ret, disc, pos));
            }
        }
    }

    /// Copy the stacked observation at slot `s` into `out`.
    fn copy_stack(&self, seg: &Segment<T>, s: u64, out: &mut [T]) {
        let (pl, k, cap) = (
            self.cfg.plane_len,
            self.cfg.stack as u64,
            self.seg_cap as u64,
        );
        for (j, dst) in out.chunks_exact_mut(pl).enumerate() {
            let p = ((s + 1 - k + j as u64) % cap) as usize;
            dst.copy_from_slice(&seg.planes[p * pl..(p + 1) * pl]);
        }
    }

    /// The complete transition at `(env, slot)`, written as row `row` of `batch`.
    /// Returns false (and writes nothing) when that slot does not start one.
    pub fn fill_row(&self, env: usize, slot: u64, batch: &mut Batch<T>, row: usize) -> bool {
        let Some(seg) = self.segments.get(env) else {
            return false;
        };
        let Some((action, ret, disc, boot)) = self.transition(seg, slot) else {
            return false;
        };
        let n = self.obs_len();
        self.copy_stack(seg, slot, &mut batch.obs[row * n..(row + 1) * n]);
        self.copy_stack(seg, boot, &mut batch.next_obs[row * n..(row + 1) * n]);
        batch.actions[row] = action;
        batch.returns[row] = ret;
        batch.discounts[row] = disc;
        batch.weights[row] = 1.0;
        batch.indices[row] = (env as u32, slot);
        true
    }

    /// Fill `batch` with transitions drawn uniformly (with replacement) from those stored.
    /// Allocates nothing.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        batch: &mut Batch<T>,
    ) -> Result<(), ReplayError> {
        let total = self.len();
        if total == 0 {
            return Err(ReplayError::Empty { stored: 0 });
        }
        let mut attempts = 0usize;
        let max_attempts = 100 * batch.size.max(1) + 1000;
        let mut row = 0;
        while row < batch.size {
            attempts += 1;
            if attempts > max_attempts {
                return Err(ReplayError::Empty { stored: total });
            }
            let mut u = rng.random_range(0..total);
            let mut env = 0;
            while u >= self.stored(&self.segments[env]) {
                u -= self.stored(&self.segments[env]);
                env += 1;
            }
            let seg = &self.segments[env];
            let slot = seg.write.saturating_sub(self.seg_cap as u64) + u as u64;
            if self.fill_row(env, slot, batch, row) {
                row += 1;
            }
        }
        Ok(())
    }
}

impl<T: ObsElem> ReplayBuffer<T> {
    /// Fill `batch` by prioritized sampling: transition `i` with probability
    /// `P(i) = p_i^alpha / sum p^alpha` (stratified over the batch), with importance weights
    /// `(N P(i))^-beta` normalised by the batch's largest. Falls back to [`Self::sample`]
    /// when prioritization is off. Allocates nothing.
    pub fn sample_prioritized<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        batch: &mut Batch<T>,
        beta: f64,
    ) -> Result<(), ReplayError> {
        let Some(pr) = &self.prio else {
            return self.sample(rng, batch);
        };
        let total = pr.tree.total();
        let stored = self.len();
        if total <= 0.0 {
            return Err(ReplayError::Empty { stored });
        }
        let cap = self.seg_cap as u64;
        let max_attempts = 100 * batch.size.max(1) + 1000;
        let (mut row, mut attempts) = (0, 0usize);
        let mut max_w = 0f64;
        while row < batch.size {
            attempts += 1;
            if attempts > max_attempts {
                return Err(ReplayError::Empty { stored });
            }
            // Stratified on the first try of each row, uniform over the whole mass on retries.
            let u = if attempts <= batch.size {
                let seg = total / batch.size as f64;
                seg * (row as f64 + rng.random::<f64>())
            } else {
                rng.random_range(0.0..total)
            };
            let leaf = pr.tree.find(u.min(total * (1.0 - 1e-12)));
            let (env, phys) = (leaf / self.seg_cap, (leaf % self.seg_cap) as u64);
            let seg = &self.segments[env];
            if seg.write == 0 {
                continue;
            }
            // The logical slot stored at this physical index (the newest such position).
            let last = seg.write - 1;
            let slot = last - ((last % cap + cap - phys) % cap);
            if self.fill_row(env, slot, batch, row) {
                let p = pr.tree.get(leaf) / total;
                let w = (stored as f64 * p).powf(-beta);
                batch.weights[row] = w as f32;
                max_w = max_w.max(w);
                row += 1;
            }
        }
        for w in &mut batch.weights {
            *w = (*w as f64 / max_w) as f32;
        }
        Ok(())
    }

    /// Set the priorities of the transitions in `indices` (as in [`Batch::indices`]) from
    /// their TD errors: `(|td| + eps)^alpha`. Transitions overwritten since they were
    /// sampled are skipped. No-op when prioritization is off.
    pub fn update_priorities(&mut self, indices: &[(u32, u64)], td_errors: &[f32], eps: f64) {
        let cap = self.seg_cap as u64;
        let Some(pr) = &mut self.prio else {
            return;
        };
        for (&(env, slot), &td) in indices.iter().zip(td_errors) {
            let seg = &self.segments[env as usize];
            if slot < seg.write.saturating_sub(cap) || slot + 1 >= seg.write {
                continue;
            }
            let p = (td.abs() as f64 + eps).max(f64::MIN_POSITIVE);
            if p.is_finite() {
                pr.max_priority = pr.max_priority.max(p);
                pr.tree.set(
                    env as usize * self.seg_cap + (slot % cap) as usize,
                    p.powf(pr.alpha),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cfg(capacity: usize, stack: usize, n_step: usize) -> ReplayConfig {
        ReplayConfig {
            capacity,
            stack,
            plane_len: 2,
            num_envs: 1,
            gamma: 0.5,
            n_step,
        }
    }

    /// A stacked obs of `k` planes whose planes are `[v, v]` for the given values.
    fn stack(values: &[u8]) -> Vec<u8> {
        values.iter().flat_map(|&v| [v, v]).collect()
    }

    /// Plane values of a stacked obs.
    fn planes(obs: &[u8]) -> Vec<u8> {
        obs.chunks(2).map(|c| c[0]).collect()
    }

    /// Run one frame-stacked episode: reset frame `first`, then frames `first+1..`.
    fn episode(buf: &mut ReplayBuffer<u8>, first: u8, steps: u8, end: Option<bool>) {
        let mut hist = vec![first; 3];
        buf.start_episode(0, Obs::U8(&stack(&hist))).unwrap();
        for i in 1..=steps {
            hist.remove(0);
            hist.push(first + i);
            let last = i == steps;
            let term = last && end == Some(true);
            let trunc = last && end == Some(false);
            buf.push(0, i as i64, i as f32, term, trunc, Obs::U8(&stack(&hist)))
                .unwrap();
        }
    }

    #[test]
    fn stacks_rebuild_by_index_and_respect_episode_starts() {
        let mut buf = ReplayBuffer::<u8>::new(cfg(100, 3, 1)).unwrap();
        episode(&mut buf, 10, 4, Some(true));
        episode(&mut buf, 50, 3, Some(false));
        let mut b = Batch::new(1, 6);
        // Slots: 0,1 pad, 2 first(10), 3..6 steps 11..14, 7,8 pad, 9 first(50), 10..12 steps.
        assert!(buf.fill_row(0, 2, &mut b, 0));
        assert_eq!(planes(&b.obs), vec![10, 10, 10]);
        assert_eq!(planes(&b.next_obs), vec![10, 10, 11]);
        assert_eq!((b.actions[0], b.returns[0], b.discounts[0]), (1, 1.0, 0.5));
        assert!(buf.fill_row(0, 4, &mut b, 0));
        assert_eq!(planes(&b.obs), vec![10, 11, 12]);
        // Last step of a terminated episode: no bootstrap.
        assert!(buf.fill_row(0, 5, &mut b, 0));
        assert_eq!(planes(&b.next_obs), vec![12, 13, 14]);
        assert_eq!((b.returns[0], b.discounts[0]), (4.0, 0.0));
        // The terminal obs, the pads and the slot before them start no transition.
        for s in [0, 1, 6, 7, 8] {
            assert!(!buf.fill_row(0, s, &mut b, 0), "slot {s}");
        }
        // The second episode's first obs repeats its own reset frame, never the old episode's.
        assert!(buf.fill_row(0, 9, &mut b, 0));
        assert_eq!(planes(&b.obs), vec![50, 50, 50]);
        // Truncated: bootstraps from the final obs.
        assert!(buf.fill_row(0, 11, &mut b, 0));
        assert_eq!(planes(&b.next_obs), vec![51, 52, 53]);
        assert_eq!((b.returns[0], b.discounts[0]), (3.0, 0.5));
        assert!(!buf.fill_row(0, 12, &mut b, 0));
    }

    #[test]
    fn n_step_returns_stop_at_episode_end_and_wait_for_full_windows() {
        let mut buf = ReplayBuffer::<u8>::new(cfg(100, 3, 3)).unwrap();
        episode(&mut buf, 10, 4, Some(true));
        let mut b = Batch::new(1, 6);
        // From the reset obs: r1 + .5 r2 + .25 r3 = 1 + 1 + .75, bootstrap at 13 with .125.
        assert!(buf.fill_row(0, 2, &mut b, 0));
        assert_eq!((b.returns[0], b.discounts[0]), (2.75, 0.125));
        assert_eq!(planes(&b.next_obs), vec![11, 12, 13]);
        // From obs 12: r3 + .5 r4 = 3 + 2, terminated -> discount 0.
        assert!(buf.fill_row(0, 4, &mut b, 0));
        assert_eq!((b.returns[0], b.discounts[0]), (5.0, 0.0));
        // An open episode: only complete windows are sampleable.
        let mut hist = vec![90u8; 3];
        buf.start_episode(0, Obs::U8(&stack(&hist))).unwrap(); // slots 7,8 pad, 9 first
        for i in 1..=2u8 {
            hist.remove(0);
            hist.push(90 + i);
            buf.push(0, 0, 1.0, false, false, Obs::U8(&stack(&hist)))
                .unwrap();
        }
        assert!(!buf.fill_row(0, 9, &mut b, 0));
        hist.remove(0);
        hist.push(93);
        buf.push(0, 0, 1.0, false, false, Obs::U8(&stack(&hist)))
            .unwrap();
        assert!(buf.fill_row(0, 9, &mut b, 0));
        assert_eq!((b.returns[0], b.discounts[0]), (1.75, 0.125));
    }

    #[test]
    fn ring_wraps_and_never_samples_overwritten_stacks() {
        let mut buf = ReplayBuffer::<u8>::new(cfg(8, 3, 1)).unwrap();
        episode(&mut buf, 10, 20, None);
        // 23 slots (2 pads, the reset obs, 20 steps) written into 8: slots 15..=22 remain,
        // slot s holds frame 8 + s, and an obs slot needs its 2 older planes too.
        let mut b = Batch::new(1, 6);
        assert!(!buf.fill_row(0, 14, &mut b, 0));
        assert!(!buf.fill_row(0, 15, &mut b, 0));
        assert!(!buf.fill_row(0, 16, &mut b, 0));
        assert!(buf.fill_row(0, 17, &mut b, 0));
        assert_eq!(planes(&b.obs), vec![23, 24, 25]);
        assert_eq!(planes(&b.next_obs), vec![24, 25, 26]);
        assert!(buf.fill_row(0, 21, &mut b, 0));
        assert!(!buf.fill_row(0, 22, &mut b, 0)); // newest: no next obs yet
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut big = Batch::new(64, 6);
        buf.sample(&mut rng, &mut big).unwrap();
        for (row, obs) in big.obs.chunks(6).enumerate() {
            let p = planes(obs);
            assert!(p[0] >= 23 && p[1] == p[0] + 1 && p[2] == p[0] + 2, "{p:?}");
            assert_eq!(planes(&big.next_obs[row * 6..(row + 1) * 6])[2], p[2] + 1);
        }
    }

    #[test]
    fn vector_obs_are_stored_as_f32_with_parallel_envs() {
        let c = ReplayConfig {
            capacity: 40,
            stack: 1,
            plane_len: 3,
            num_envs: 2,
            gamma: 0.9,
            n_step: 1,
        };
        let mut buf = ReplayBuffer::<f32>::new(c).unwrap();
        for env in 0..2 {
            buf.start_episode(env, Obs::F32(&[env as f32; 3])).unwrap();
        }
        for t in 1..=5 {
            for env in 0..2 {
                let v = (10 * env + t) as f32;
                buf.push(env, env as i64, v, false, false, Obs::F32(&[v; 3]))
                    .unwrap();
            }
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut b = Batch::new(50, 3);
        buf.sample(&mut rng, &mut b).unwrap();
        let mut seen = [false; 2];
        for r in 0..50 {
            let env = b.indices[r].0 as usize;
            seen[env] = true;
            assert_eq!(b.actions[r] as usize, env);
            // next obs is this env's next vector and the reward equals it.
            assert_eq!(b.next_obs[r * 3], b.returns[r]);
            assert_eq!(b.discounts[r], 0.9);
            assert!(b.next_obs[r * 3] as usize / 10 == env);
        }
        assert_eq!(seen, [true, true]);
        assert_eq!(ReplayBuffer::<f32>::bytes_per_slot(4), 25);
        assert_eq!(ReplayBuffer::<u8>::bytes_per_slot(84 * 84), 7065);
    }

    #[test]
    fn prioritized_sampling_follows_priorities_and_weights_correct_for_it() {
        let c = ReplayConfig {
            capacity: 50,
            stack: 1,
            plane_len: 1,
            num_envs: 1,
            gamma: 0.9,
            n_step: 1,
        };
        let mut buf = ReplayBuffer::<f32>::new(c).unwrap();
        buf.set_prioritized(1.0).unwrap();
        buf.start_episode(0, Obs::F32(&[0.0])).unwrap();
        for t in 1..=4 {
            buf.push(0, 0, t as f32, t == 4, false, Obs::F32(&[t as f32]))
                .unwrap();
        }
        // Transitions start at slots 0..=3; all got the initial max priority 1.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut b = Batch::new(400, 1);
        buf.sample_prioritized(&mut rng, &mut b, 1.0).unwrap();
        let count = |b: &Batch<f32>, s: u64| b.indices.iter().filter(|i| i.1 == s).count();
        for s in 0..4 {
            assert!(
                (count(&b, s) as i64 - 100).abs() < 25,
                "slot {s}: {}",
                count(&b, s)
            );
        }
        assert!(b.weights.iter().all(|w| (*w - 1.0).abs() < 1e-6));
        // Slot 2 gets 7x the priority of the others.
        buf.update_priorities(
            &[(0, 0), (0, 1), (0, 2), (0, 3)],
            &[1.0, 1.0, 7.0, 1.0],
            0.0,
        );
        buf.sample_prioritized(&mut rng, &mut b, 1.0).unwrap();
        let frac = count(&b, 2) as f64 / 400.0;
        assert!((frac - 0.7).abs() < 0.06, "{frac}");
        // beta = 1: weights are 1/(N P) normalised, so slot 2's weight is 1/7 of the others'.
        let w2 = b.weights[b.indices.iter().position(|i| i.1 == 2).unwrap()];
        let w0 = b.weights[b.indices.iter().position(|i| i.1 == 0).unwrap()];
        assert!((w2 / w0 - 1.0 / 7.0).abs() < 1e-4, "{w2} {w0}");
        assert!((w0 - 1.0).abs() < 1e-6);
        // The terminal obs (slot 4) and later episode starts are never drawn.
        assert_eq!(count(&b, 4), 0);
    }

    #[test]
    fn prioritized_ring_overwrites_reset_priorities() {
        let mut buf = ReplayBuffer::<u8>::new(cfg(8, 3, 1)).unwrap();
        buf.set_prioritized(0.6).unwrap();
        episode(&mut buf, 10, 20, None);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut b = Batch::new(64, 6);
        buf.sample_prioritized(&mut rng, &mut b, 0.4).unwrap();
        for (row, obs) in b.obs.chunks(6).enumerate() {
            let p = planes(obs);
            assert!(p[0] >= 23 && p[1] == p[0] + 1 && p[2] == p[0] + 2, "{p:?}");
            assert!(b.indices[row].1 >= 17 && b.indices[row].1 <= 21);
        }
        // Updating an overwritten slot is ignored rather than corrupting a live one.
        buf.update_priorities(&[(0, 3)], &[100.0], 1e-6);
        buf.sample_prioritized(&mut rng, &mut b, 0.4).unwrap();
        assert!(b.indices.iter().all(|i| i.1 >= 17));
        assert!(
            buf.set_prioritized(0.5).is_err(),
            "too late once data is stored"
        );
    }

    #[test]
    fn misuse_is_reported() {
        let mut buf = ReplayBuffer::<u8>::new(cfg(100, 3, 1)).unwrap();
        let obs = stack(&[1, 2, 3]);
        assert_eq!(
            buf.push(0, 0, 0.0, false, false, Obs::U8(&obs)),
            Err(ReplayError::NoEpisode(0))
        );
        buf.start_episode(0, Obs::U8(&obs)).unwrap();
        // Planes not shifted by one: not a frame stack.
        assert!(matches!(
            buf.push(0, 0, 0.0, false, false, Obs::U8(&stack(&[7, 8, 9]))),
            Err(ReplayError::NotAFrameStack { .. })
        ));
        assert!(matches!(
            buf.push(0, 0, 0.0, false, false, Obs::U8(&[0; 4])),
            Err(ReplayError::BadObs { .. })
        ));
        assert!(matches!(
            buf.push(0, -1, 0.0, false, false, Obs::U8(&stack(&[2, 3, 4]))),
            Err(ReplayError::BadAction(-1))
        ));
        assert!(matches!(
            buf.start_episode(3, Obs::U8(&obs)),
            Err(ReplayError::BadEnv { .. })
        ));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        assert!(matches!(
            buf.sample(&mut rng, &mut Batch::new(4, 6)),
            Err(ReplayError::Empty { .. })
        ));
        assert!(ReplayBuffer::<u8>::new(cfg(4, 3, 1)).is_err());
    }
}
