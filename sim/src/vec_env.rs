//! `VecEnv`: N envs stepped across a thread pool into one contiguous batch buffer.
//!
//! Shaped like Gymnasium 1.x's vector envs with `AutoresetMode.NEXT_STEP`: an env whose last
//! step ended (terminated or truncated) is reset by the *next* `step` call, which ignores its
//! action and reports the reset observation with reward 0, `terminated = truncated = false`
//! and the reset's info.
//!
//! Threads: the N envs are split into contiguous chunks, one per thread. The calling thread
//! steps chunk 0 itself; each long-lived worker steps one other chunk and writes its slice of
//! the batch buffers in place. A step hand-off is an atomic generation bump plus an `unpark`
//! (an atomic swap unless the worker really sleeps): workers spin briefly before parking, so
//! back-to-back steps of ~10 us envs do not pay for a futex round trip. Nothing on the
//! stepping path allocates.
//!
//! Determinism: every env is stepped by exactly one thread, in the order of its own calls, and
//! writes only its own slots, so the batch bytes do not depend on the thread count.

use crate::config::EnvConfig;
use crate::env::{Action, Env, EpisodeStats, Frame, Info, Obs, check_discrete};
use crate::error::{Result, SimError};
use crate::seeding::sub_seed;
use crate::space::{DType, Space};
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// One action per env, flattened: `Discrete` holds N actions for a `Discrete` action space,
/// `Continuous` holds N x action_dim values (env-major) for a `Box` action space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchActions<'a> {
    Discrete(&'a [i64]),
    Continuous(&'a [f32]),
}

/// N envs with identical spaces, stepped in parallel into one contiguous batch.
///
/// Episode statistics are kept by the `VecEnv` itself: on the final step of an episode
/// `infos()[i].episode` holds its return and length (unless the env already reported its own
/// statistics there, which then win, see [`VecEnv::set_own_episode_stats`]).
pub struct VecEnv {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    num_envs: usize,
    obs_space: Space,
    action_space: Space,
    obs_u8: Vec<u8>,
    obs_f32: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    infos: Vec<Info>,
    /// False before the first reset and after a failed reset or step.
    ready: bool,
    own_stats: bool,
    /// The envs are only `Send`; `env(i)` hands out `&dyn Env`, so `&VecEnv` must not cross
    /// threads.
    _not_sync: PhantomData<Cell<()>>,
}

impl VecEnv {
    /// Wrap `envs` (at least one, all with identical observation and action spaces) and start
    /// `num_threads - 1` workers (the caller is the remaining thread). `num_threads == 0` means
    /// one per available core; the count is clamped to the number of envs.
    pub fn new(envs: Vec<Box<dyn Env>>, num_threads: usize) -> Result<VecEnv> {
        let Some(first) = envs.first() else {
            return Err(SimError::Invalid("VecEnv needs at least one env".into()));
        };
        let obs_space = first.observation_space().clone();
        let action_space = first.action_space().clone();
        for (i, env) in envs.iter().enumerate().skip(1) {
            for (what, mine, theirs) in [
                ("observation", env.observation_space(), &obs_space),
                ("action", env.action_space(), &action_space),
            ] {
                if mine != theirs {
                    return Err(SimError::Invalid(format!(
                        "VecEnv needs identical spaces: env {i} (`{}`) has {what} space {mine}, \
                         env 0 (`{}`) has {theirs}",
                        env.id(),
                        first.id()
                    )));
                }
            }
        }
        let dtype = match &obs_space {
            Space::Box { dtype, .. } => *dtype,
            Space::Discrete { .. } => {
                return Err(SimError::Invalid(format!(
                    "VecEnv needs a Box observation space; `{}` has {obs_space}",
                    first.id()
                )));
            }
        };
        let action_dim = action_space.flat_len();
        let obs_len = obs_space.flat_len();
        let num_envs = envs.len();
        let num_threads = resolve_threads(num_threads, num_envs);

        let mut envs = envs.into_iter();
        let chunks: Box<[UnsafeCell<Chunk>]> = chunk_ranges(num_envs, num_threads)
            .map(|(start, len)| {
                UnsafeCell::new(Chunk::new(start, envs.by_ref().take(len).collect()))
            })
            .collect();
        let shared = Arc::new(Shared {
            generation: Padded(AtomicUsize::new(0)),
            pending: Padded(AtomicUsize::new(0)),
            job: UnsafeCell::new(Job::idle()),
            chunks,
            layout: Layout {
                obs_len,
                action_dim,
                dtype,
            },
        });
        let (obs_u8, obs_f32) = match dtype {
            DType::U8 => (vec![0; num_envs * obs_len], Vec::new()),
            DType::F32 => (Vec::new(), vec![0.0; num_envs * obs_len]),
        };
        let mut vec_env = VecEnv {
            shared,
            workers: Vec::with_capacity(num_threads - 1),
            num_envs,
            obs_space,
            action_space,
            obs_u8,
            obs_f32,
            rewards: vec![0.0; num_envs],
            terminated: vec![false; num_envs],
            truncated: vec![false; num_envs],
            infos: vec![Info::default(); num_envs],
            ready: false,
            own_stats: true,
            _not_sync: PhantomData,
        };
        for index in 1..num_threads {
            let shared = Arc::clone(&vec_env.shared);
            let handle = thread::Builder::new()
                .name(format!("vec-env-{index}"))
                .spawn(move || worker_main(&shared, index))
                .map_err(|e| SimError::Invalid(format!("VecEnv: cannot spawn a worker: {e}")))?;
            // On an early return, Drop shuts down the workers spawned so far.
            vec_env.workers.push(handle);
        }
        Ok(vec_env)
    }

    /// Build `num_envs` copies of the registered env `id` with `options`.
    pub fn make(
        id: &str,
        options: &EnvConfig,
        num_envs: usize,
        num_threads: usize,
    ) -> Result<VecEnv> {
        Self::from_fn(num_envs, num_threads, |_| {
            crate::registry::make(id, options)
        })
    }

    /// Build env `i` with `build(i)` for `i in 0..num_envs`, so callers can wrap each env
    /// (preprocessing, time limits) before it is batched.
    pub fn from_fn(
        num_envs: usize,
        num_threads: usize,
        build: impl FnMut(usize) -> Result<Box<dyn Env>>,
    ) -> Result<VecEnv> {
        let envs = (0..num_envs).map(build).collect::<Result<Vec<_>>>()?;
        Self::new(envs, num_threads)
    }

    /// Reset every env; env `i` gets seed `sub_seed(seed, i)` (Gymnasium: `seed + i`), or
    /// continues its own stream when `seed` is `None`. Clears rewards, flags and statistics.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<()> {
        self.ready = false;
        self.run(JobKind::Reset(seed), RawActions::None)?;
        self.ready = true;
        Ok(())
    }

    /// Step every env with its action (next-step autoreset, see the module docs).
    ///
    /// Errors before anything is stepped: wrong action kind or count, a discrete action
    /// outside the space (as [`SimError::SubEnv`] naming the env), or no reset yet. An error
    /// from an env while stepping is returned as [`SimError::SubEnv`]; the batch is then
    /// partly stepped, so the `VecEnv` refuses to step again until [`VecEnv::reset`].
    pub fn step(&mut self, actions: BatchActions<'_>) -> Result<()> {
        if !self.ready {
            return Err(SimError::NeedsReset {
                id: self.id().to_string(),
                when: "before the first reset or after a failed batch",
            });
        }
        let raw = self.check_actions(actions)?;
        // Stays false if an env errors or panics part-way through the batch.
        self.ready = false;
        self.run(JobKind::Step, raw)?;
        self.ready = true;
        Ok(())
    }

    fn check_actions(&self, actions: BatchActions<'_>) -> Result<RawActions> {
        let n = self.num_envs;
        match (actions, &self.action_space) {
            (BatchActions::Discrete(a), Space::Discrete { .. }) => {
                if a.len() != n {
                    return Err(SimError::Invalid(format!(
                        "VecEnv::step: got {} discrete actions for {n} envs",
                        a.len()
                    )));
                }
                for (index, &action) in a.iter().enumerate() {
                    check_discrete(self.id(), &self.action_space, Action::Discrete(action))
                        .map_err(|e| SimError::SubEnv {
                            index,
                            error: Box::new(e),
                        })?;
                }
                Ok(RawActions::Discrete(a.as_ptr()))
            }
            (BatchActions::Continuous(a), Space::Box { .. }) => {
                let dim = self.action_space.flat_len();
                if a.len() != n * dim {
                    return Err(SimError::Invalid(format!(
                        "VecEnv::step: got {} continuous values for {n} envs x {dim} action dims",
                        a.len()
                    )));
                }
                Ok(RawActions::Continuous(a.as_ptr()))
            }
            (given, space) => Err(SimError::Invalid(format!(
                "VecEnv::step: {} actions given for action space {space}",
                match given {
                    BatchActions::Discrete(_) => "discrete",
                    BatchActions::Continuous(_) => "continuous",
                }
            ))),
        }
    }

    /// Run one job on every chunk: workers take chunks 1.., the caller chunk 0. Returns after
    /// every worker has finished, also when the caller's chunk panics.
    fn run(&mut self, kind: JobKind, actions: RawActions) -> Result<()> {
        let out = RawBatch {
            obs: match self.shared.layout.dtype {
                DType::U8 => RawObs::U8(self.obs_u8.as_mut_ptr()),
                DType::F32 => RawObs::F32(self.obs_f32.as_mut_ptr()),
            },
            rewards: self.rewards.as_mut_ptr(),
            terminated: self.terminated.as_mut_ptr(),
            truncated: self.truncated.as_mut_ptr(),
            infos: self.infos.as_mut_ptr(),
        };
        let shared = &*self.shared;
        let has_workers = !self.workers.is_empty();
        // SAFETY: every worker is idle: none has started (generation unchanged since the last
        // run) or each has decremented `pending` after its last access to `job` and its chunk,
        // and the previous `run` observed `pending == 0` with Acquire before returning.
        // `&mut self` excludes a concurrent `run` on another thread.
        unsafe {
            *shared.job.get() = Job {
                kind,
                out,
                actions,
                own_stats: self.own_stats,
                caller: has_workers.then(thread::current),
            };
        }
        if has_workers {
            shared
                .pending
                .0
                .store(self.workers.len(), Ordering::Relaxed);
            // Release: publishes the job (and the caller's writes to the actions and the
            // batch buffers) to workers that load the new generation with Acquire.
            shared.generation.0.fetch_add(1, Ordering::Release);
            for w in &self.workers {
                // An atomic swap unless the worker is parked.
                w.thread().unpark();
            }
        }
        {
            let _wait = WaitForWorkers {
                shared,
                active: has_workers,
            };
            // SAFETY: chunk 0 is touched only by the calling thread; workers only read `job`.
            let (chunk, job) = unsafe { (&mut *shared.chunks[0].get(), &*shared.job.get()) };
            run_chunk(chunk, job, &shared.layout);
            // `_wait` blocks here (or while unwinding) until every worker is done, so no
            // worker can still be writing to the buffers or reading the actions.
        }
        let mut first_error = None;
        let mut panic = None;
        for cell in shared.chunks.iter() {
            // SAFETY: all workers are idle again (see WaitForWorkers).
            let chunk = unsafe { &mut *cell.get() };
            if let Some(p) = chunk.panic.take() {
                panic.get_or_insert(p);
            }
            if let Some(e) = chunk.error.take() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(p) = panic {
            resume_unwind(p);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Choose who reports episode statistics. On (the default), the `VecEnv` fills
    /// `Info::episode` on every final step the env left it empty. Off, only statistics the
    /// env itself reports pass through: use this when an episode-statistics wrapper sits
    /// inside an episodic-life wrapper, so a lost life is not counted as an episode.
    pub fn set_own_episode_stats(&mut self, on: bool) {
        self.own_stats = on;
    }

    /// Id of env 0 (all envs share spaces; usually they share the id too).
    pub fn id(&self) -> &str {
        self.env_ref(0).id()
    }

    /// Number of envs in the batch.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Threads stepping the batch, the caller included (after clamping).
    pub fn num_threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// The observation space of one env.
    pub fn single_observation_space(&self) -> &Space {
        &self.obs_space
    }

    /// The action space of one env.
    pub fn single_action_space(&self) -> &Space {
        &self.action_space
    }

    /// Scalars in one env's observation; the batch is `num_envs() x single_obs_len()`.
    pub fn single_obs_len(&self) -> usize {
        self.shared.layout.obs_len
    }

    /// The batch of observations, N x single_obs_len, env-major.
    pub fn obs(&self) -> Obs<'_> {
        match self.shared.layout.dtype {
            DType::U8 => Obs::U8(&self.obs_u8),
            DType::F32 => Obs::F32(&self.obs_f32),
        }
    }

    /// The observation batch of a `u8` observation space (empty for an `f32` one).
    pub fn obs_u8(&self) -> &[u8] {
        &self.obs_u8
    }

    /// The observation batch of an `f32` observation space (empty for a `u8` one).
    pub fn obs_f32(&self) -> &[f32] {
        &self.obs_f32
    }

    /// Rewards of the last step, one per env (0 for envs that were just reset).
    pub fn rewards(&self) -> &[f32] {
        &self.rewards
    }

    /// Which envs reached a terminal state on the last step.
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    /// Which envs were cut short (time limit) on the last step.
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    /// Info of each env from the last step (or from its reset, after an autoreset).
    pub fn infos(&self) -> &[Info] {
        &self.infos
    }

    /// Episodes that ended on the last step, as (env index, statistics), in env order.
    /// Reads the infos buffer, so it allocates nothing.
    pub fn finished_episodes(&self) -> impl Iterator<Item = (usize, EpisodeStats)> + '_ {
        self.infos
            .iter()
            .enumerate()
            .filter_map(|(i, info)| info.episode.map(|e| (i, e)))
    }

    /// Env `i`, to query it (action meanings, id); `None` when out of range.
    pub fn env(&self, i: usize) -> Option<&dyn Env> {
        (i < self.num_envs).then(|| self.env_ref(i))
    }

    /// An RGB picture of env `i` (for the viewer and GIFs).
    pub fn render(&mut self, i: usize) -> Result<Frame<'_>> {
        let (c, j) = self.locate(i)?;
        // SAFETY: workers are idle outside `run`, and `&mut self` excludes other access.
        let chunk = unsafe { &mut *self.shared.chunks[c].get() };
        Ok(chunk.envs[j].render())
    }

    fn locate(&self, i: usize) -> Result<(usize, usize)> {
        if i >= self.num_envs {
            return Err(SimError::Invalid(format!(
                "env index {i} out of range for {} envs",
                self.num_envs
            )));
        }
        let chunks = &self.shared.chunks;
        // SAFETY: workers are idle outside `run`; `start` never changes after construction.
        let c = chunks.partition_point(|cell| unsafe { (*cell.get()).start } <= i) - 1;
        Ok((c, i - unsafe { (*chunks[c].get()).start }))
    }

    fn env_ref(&self, i: usize) -> &dyn Env {
        let (c, j) = self.locate(i).expect("index checked by the caller");
        // SAFETY: workers are idle outside `run` (which needs `&mut self`), and `VecEnv` is
        // not `Sync`, so this shared borrow cannot overlap a step or another thread's access.
        let chunk = unsafe { &*self.shared.chunks[c].get() };
        &*chunk.envs[j]
    }
}

impl Drop for VecEnv {
    fn drop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        // SAFETY: workers are idle (no `run` in progress while we hold `&mut self`).
        unsafe {
            *self.shared.job.get() = Job {
                kind: JobKind::Shutdown,
                ..Job::idle()
            };
        }
        self.shared.generation.0.fetch_add(1, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            // A worker never panics outside `catch_unwind`; nothing useful to do if it did.
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for VecEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecEnv")
            .field("id", &self.id())
            .field("num_envs", &self.num_envs)
            .field("num_threads", &self.num_threads())
            .field("observation_space", &self.obs_space.to_string())
            .field("action_space", &self.action_space.to_string())
            .finish()
    }
}

/// `0` means one thread per core; never more threads than envs.
fn resolve_threads(requested: usize, num_envs: usize) -> usize {
    let t = if requested == 0 {
        thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    };
    t.clamp(1, num_envs.max(1))
}

/// `(start, len)` of `parts` contiguous chunks covering `0..n`, sizes differing by at most one.
fn chunk_ranges(n: usize, parts: usize) -> impl Iterator<Item = (usize, usize)> {
    let (base, extra) = (n / parts, n % parts);
    (0..parts).map(move |k| (k * base + k.min(extra), base + usize::from(k < extra)))
}

/// Keeps a hot atomic on its own cache line (two lines, for adjacent-line prefetch).
#[repr(align(128))]
struct Padded<T>(T);

/// Sizes every thread needs; fixed at construction.
struct Layout {
    obs_len: usize,
    action_dim: usize,
    dtype: DType,
}

/// State shared by the caller and the workers.
struct Shared {
    /// Bumped (Release) by the caller to hand out a new `job`.
    generation: Padded<AtomicUsize>,
    /// Workers still busy with the current job; each decrements it (Release) when done.
    pending: Padded<AtomicUsize>,
    /// Written by the caller only while every worker is idle; read by workers after they
    /// observe a new generation.
    job: UnsafeCell<Job>,
    /// Chunk `k` is touched by worker `k` during a job (chunk 0 by the caller), by the caller
    /// otherwise.
    chunks: Box<[UnsafeCell<Chunk>]>,
    layout: Layout,
}

// SAFETY: the `UnsafeCell`s are accessed under the protocol documented on the fields: `job` is
// written only while no worker runs and read by workers only between the Acquire of a new
// generation and their Release decrement of `pending`; each chunk is accessed by one thread
// at a time with the same happens-before edges. The envs inside are `Send`, so moving their
// use between threads is fine; the raw pointers in `job` point into the `VecEnv`'s buffers
// and the caller's action slice, which outlive every job (`run` waits for all workers).
unsafe impl Send for Shared {}
// SAFETY: see above.
unsafe impl Sync for Shared {}

/// Per-chunk state: the envs and what the `VecEnv` tracks for each.
struct Chunk {
    /// Global index of the first env.
    start: usize,
    envs: Vec<Box<dyn Env>>,
    /// The env's last step ended: the next step resets it instead.
    needs_reset: Vec<bool>,
    ep_return: Vec<f64>,
    ep_len: Vec<u64>,
    error: Option<SimError>,
    panic: Option<Box<dyn Any + Send>>,
}

impl Chunk {
    fn new(start: usize, envs: Vec<Box<dyn Env>>) -> Self {
        let n = envs.len();
        Chunk {
            start,
            envs,
            needs_reset: vec![false; n],
            ep_return: vec![0.0; n],
            ep_len: vec![0; n],
            error: None,
            panic: None,
        }
    }
}

#[derive(Clone, Copy)]
enum JobKind {
    Idle,
    Reset(Option<u64>),
    Step,
    Shutdown,
}

/// Base pointers of the whole batch; each thread offsets them to its own chunk.
#[derive(Clone, Copy)]
struct RawBatch {
    obs: RawObs,
    rewards: *mut f32,
    terminated: *mut bool,
    truncated: *mut bool,
    infos: *mut Info,
}

#[derive(Clone, Copy)]
enum RawObs {
    U8(*mut u8),
    F32(*mut f32),
}

/// Base pointer of the caller's action slice (its length was checked against the layout).
#[derive(Clone, Copy)]
enum RawActions {
    None,
    Discrete(*const i64),
    Continuous(*const f32),
}

/// One unit of work for every thread.
struct Job {
    kind: JobKind,
    out: RawBatch,
    actions: RawActions,
    own_stats: bool,
    /// The thread that posted the job, woken by the last worker to finish.
    caller: Option<Thread>,
}

impl Job {
    fn idle() -> Self {
        Job {
            kind: JobKind::Idle,
            out: RawBatch {
                obs: RawObs::U8(std::ptr::null_mut()),
                rewards: std::ptr::null_mut(),
                terminated: std::ptr::null_mut(),
                truncated: std::ptr::null_mut(),
                infos: std::ptr::null_mut(),
            },
            actions: RawActions::None,
            own_stats: false,
            caller: None,
        }
    }
}

/// A chunk's slice of the batch buffers.
struct ChunkOut<'a> {
    obs: ObsMut<'a>,
    rewards: &'a mut [f32],
    terminated: &'a mut [bool],
    truncated: &'a mut [bool],
    infos: &'a mut [Info],
}

enum ObsMut<'a> {
    U8(&'a mut [u8]),
    F32(&'a mut [f32]),
}

/// Step (or reset) every env of `chunk`, recording the first error in `chunk.error`.
fn run_chunk(chunk: &mut Chunk, job: &Job, layout: &Layout) {
    let (start, len, obs_len) = (chunk.start, chunk.envs.len(), layout.obs_len);
    // SAFETY: `job.out` holds the base pointers of buffers of `num_envs` envs, valid for the
    // whole job (`run` waits for every thread before the buffers can be touched again).
    // Chunks are disjoint ranges `start..start + len`, so no two threads build overlapping
    // slices, and the caller creates no reference to the buffers during the job.
    let mut out = unsafe {
        let b = job.out;
        ChunkOut {
            obs: match b.obs {
                RawObs::U8(p) => ObsMut::U8(std::slice::from_raw_parts_mut(
                    p.add(start * obs_len),
                    len * obs_len,
                )),
                RawObs::F32(p) => ObsMut::F32(std::slice::from_raw_parts_mut(
                    p.add(start * obs_len),
                    len * obs_len,
                )),
            },
            rewards: std::slice::from_raw_parts_mut(b.rewards.add(start), len),
            terminated: std::slice::from_raw_parts_mut(b.terminated.add(start), len),
            truncated: std::slice::from_raw_parts_mut(b.truncated.add(start), len),
            infos: std::slice::from_raw_parts_mut(b.infos.add(start), len),
        }
    };
    for j in 0..len {
        let result = match job.kind {
            JobKind::Reset(seed) => reset_one(
                chunk,
                &mut out,
                j,
                seed.map(|s| sub_seed(s, start + j)),
                obs_len,
            ),
            JobKind::Step => {
                let d = layout.action_dim;
                // SAFETY: `check_actions` verified the slice holds `num_envs` actions (x `d`
                // values); the caller's borrow outlives the job.
                let action = unsafe {
                    match job.actions {
                        RawActions::Discrete(p) => Action::Discrete(*p.add(start + j)),
                        RawActions::Continuous(p) => Action::Continuous(
                            std::slice::from_raw_parts(p.add((start + j) * d), d),
                        ),
                        RawActions::None => unreachable!("a step job always carries actions"),
                    }
                };
                if chunk.needs_reset[j] {
                    reset_one(chunk, &mut out, j, None, obs_len)
                } else {
                    step_one(chunk, &mut out, j, action, obs_len, job.own_stats)
                }
            }
            JobKind::Idle | JobKind::Shutdown => Ok(()),
        };
        if let Err(e) = result {
            chunk.error = Some(SimError::SubEnv {
                index: start + j,
                error: Box::new(e),
            });
            return;
        }
    }
}

fn reset_one(
    chunk: &mut Chunk,
    out: &mut ChunkOut<'_>,
    j: usize,
    seed: Option<u64>,
    obs_len: usize,
) -> Result<()> {
    let env = &mut chunk.envs[j];
    let (obs, mut info) = env.reset(seed)?;
    copy_obs(&mut out.obs, j, obs_len, obs)?;
    info.episode = None;
    out.infos[j] = info;
    out.rewards[j] = 0.0;
    out.terminated[j] = false;
    out.truncated[j] = false;
    chunk.needs_reset[j] = false;
    chunk.ep_return[j] = 0.0;
    chunk.ep_len[j] = 0;
    Ok(())
}

fn step_one(
    chunk: &mut Chunk,
    out: &mut ChunkOut<'_>,
    j: usize,
    action: Action<'_>,
    obs_len: usize,
    own_stats: bool,
) -> Result<()> {
    let step = chunk.envs[j].step(action)?;
    copy_obs(&mut out.obs, j, obs_len, step.obs)?;
    chunk.ep_return[j] += f64::from(step.reward);
    chunk.ep_len[j] += 1;
    let mut info = step.info;
    let done = step.done();
    if done {
        chunk.needs_reset[j] = true;
        if own_stats && info.episode.is_none() {
            info.episode = Some(EpisodeStats {
                episode_return: chunk.ep_return[j],
                length: chunk.ep_len[j],
            });
        }
    }
    out.infos[j] = info;
    out.rewards[j] = step.reward;
    out.terminated[j] = step.terminated;
    out.truncated[j] = step.truncated;
    Ok(())
}

/// Copy one env's observation into slot `j`, checking kind and length.
fn copy_obs(dst: &mut ObsMut<'_>, j: usize, obs_len: usize, src: Obs<'_>) -> Result<()> {
    let range = j * obs_len..(j + 1) * obs_len;
    match (dst, src) {
        (ObsMut::U8(d), Obs::U8(s)) if s.len() == obs_len => d[range].copy_from_slice(s),
        (ObsMut::F32(d), Obs::F32(s)) if s.len() == obs_len => d[range].copy_from_slice(s),
        (d, s) => {
            let want = if matches!(d, ObsMut::U8(_)) {
                "u8"
            } else {
                "f32"
            };
            let got = if matches!(s, Obs::U8(_)) { "u8" } else { "f32" };
            return Err(SimError::Invalid(format!(
                "observation of {} {got} values does not match the observation space \
                 ({obs_len} {want} values)",
                s.len()
            )));
        }
    }
    Ok(())
}

/// How long a waiting thread spins before it parks. Long enough to bridge back-to-back steps
/// without a futex round trip, short enough not to steal a core from a learner for long.
const SPIN_BUDGET: Duration = Duration::from_micros(50);

/// Spin-then-park helper: `true` while the caller should keep spinning.
struct Spinner {
    start: Option<Instant>,
    count: u32,
}

impl Spinner {
    fn new() -> Self {
        Spinner {
            start: None,
            count: 0,
        }
    }

    /// Spin once; returns false once the budget is used up (then the caller parks).
    fn spin(&mut self) -> bool {
        std::hint::spin_loop();
        self.count = self.count.wrapping_add(1);
        if !self.count.is_multiple_of(64) {
            return true;
        }
        let start = *self.start.get_or_insert_with(Instant::now);
        start.elapsed() < SPIN_BUDGET
    }
}

/// Waits (spin, then park) until every worker has finished the current job; in `drop`, so
/// it also waits while the caller's own chunk unwinds from a panic.
struct WaitForWorkers<'a> {
    shared: &'a Shared,
    active: bool,
}

impl Drop for WaitForWorkers<'_> {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        let mut spinner = Spinner::new();
        // Acquire pairs with the workers' Release decrements: their writes to the buffers and
        // chunks happen before the caller reads them.
        while self.shared.pending.0.load(Ordering::Acquire) != 0 {
            if !spinner.spin() {
                // Woken by the last worker; spurious wake-ups just loop.
                thread::park();
            }
        }
    }
}

/// A worker: wait for a new generation, run its chunk, report, repeat until shutdown.
fn worker_main(shared: &Shared, index: usize) {
    let mut seen = 0usize;
    loop {
        let mut spinner = Spinner::new();
        loop {
            // Acquire pairs with the caller's Release bump: the job is fully written.
            let g = shared.generation.0.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            if !spinner.spin() {
                // `unpark` before `park` makes `park` return at once, so no wake-up is lost.
                thread::park();
            }
        }
        let caller = {
            // SAFETY: the caller wrote `job` before its Release bump and does not write it
            // again until `pending` reaches 0, which needs our decrement below.
            let job = unsafe { &*shared.job.get() };
            if matches!(job.kind, JobKind::Shutdown) {
                return;
            }
            // SAFETY: chunk `index` belongs to this worker until it decrements `pending`.
            let chunk = unsafe { &mut *shared.chunks[index].get() };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| run_chunk(chunk, job, &shared.layout)))
            {
                chunk.panic = Some(p);
            }
            // Cloned (a reference count, no allocation) because `job` may be rewritten as
            // soon as `pending` reaches 0.
            job.caller.clone()
        };
        // Release: our writes to the buffers and the chunk happen before the caller's Acquire.
        if shared.pending.0.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(caller) = caller
        {
            caller.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_all_envs_contiguously() {
        for n in 1..20 {
            for parts in 1..=n {
                let ranges: Vec<_> = chunk_ranges(n, parts).collect();
                assert_eq!(ranges.len(), parts);
                let mut next = 0;
                for &(start, len) in &ranges {
                    assert_eq!(start, next, "n={n} parts={parts}");
                    assert!(len == n / parts || len == n / parts + 1);
                    next += len;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn thread_count_is_clamped_to_envs() {
        assert_eq!(resolve_threads(8, 3), 3);
        assert_eq!(resolve_threads(2, 3), 2);
        assert!((1..=3).contains(&resolve_threads(0, 3)));
        assert_eq!(resolve_threads(0, 1), 1);
    }

    #[test]
    fn vec_env_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<VecEnv>();
    }
}
