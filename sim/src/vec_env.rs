//! `VecEnv`: N envs stepped across a thread pool into one contiguous batch buffer.
//!
//! Shaped like Gymnasium 1.x's vector envs with `AutoresetMode.NEXT_STEP`: an env whose last
//! step ended (terminated or truncated) is reset by the *next* `step` call, which ignores its
//! action and reports the reset observation with reward 0, `terminated = truncated = false`
//! and the reset's info.
//!
//! Threads: the N envs are split into contiguous chunks, one per thread. The calling thread
//! works on chunk 0 itself; each long-lived worker on one other chunk, writing its envs' slots
//! of the batch buffers in place. Envs are claimed one at a time from an atomic counter per
//! chunk, and a thread that finishes its own chunk takes unclaimed envs from the others: on an
//! idle machine every thread steps exactly its own chunk, and when a worker is descheduled
//! (a loaded machine, a learner thread sharing the cores) the others step its envs instead of
//! waiting for it. A step hand-off is a few atomic stores plus an `unpark` (an atomic swap
//! unless the worker really sleeps): waiting threads spin briefly before parking, so
//! back-to-back steps of ~10 us envs do not pay for a futex round trip. Nothing on the
//! stepping path allocates.
//!
//! Determinism: each env is stepped exactly once per call, by whichever thread claimed it, and
//! its result depends only on its own state and action and goes to its own slots, so the batch
//! bytes do not depend on the thread count or on who stepped what.

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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// One action per env, flattened: `Discrete` holds N actions for a `Discrete` action space,
/// `Continuous` holds N x action_dim values (env-major) for a `Box` action space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchActions<'a> {
    /// One action index per env.
    Discrete(&'a [i64]),
    /// `action_dim` values per env, env after env.
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
    /// The caller's spin budget while it waits for workers.
    waiter: Waiter,
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

        let shared = Arc::new(Shared {
            generation: Padded(AtomicUsize::new(0)),
            shutdown: AtomicBool::new(false),
            done: Padded(AtomicUsize::new(num_envs)),
            job: UnsafeCell::new(Job::idle()),
            chunks: chunk_ranges(num_envs, num_threads)
                .map(|(start, len)| {
                    Padded(ChunkQueue {
                        start,
                        len,
                        // Exhausted: nothing to claim until the first job.
                        next: AtomicUsize::new(len),
                    })
                })
                .collect(),
            slots: envs
                .into_iter()
                .map(|env| Padded(UnsafeCell::new(Slot::new(env))))
                .collect(),
            layout: Layout {
                num_envs,
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
            waiter: Waiter::new(),
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

    /// Run one job on every env: the caller starts on chunk 0, worker `k` on chunk `k`, and
    /// all help with what is left. Returns once every env is done, so no worker can still be
    /// writing to the buffers or reading the actions.
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
        // SAFETY: no thread holds a claim: every chunk counter is exhausted and the previous
        // `run` observed `done == num_envs` with Acquire, after each claimer's Release
        // increment that followed its last access to `job` and its slot. Threads read `job`
        // only while holding a claim, and `&mut self` excludes a concurrent `run`.
        unsafe {
            *shared.job.get() = Job {
                kind,
                out,
                actions,
                own_stats: self.own_stats,
                caller: has_workers.then(thread::current),
            };
        }
        shared.done.0.store(0, Ordering::Relaxed);
        for q in shared.chunks.iter() {
            // Release: a thread whose claiming `fetch_add` (Acquire) reads this value sees the
            // job above and every earlier write of the caller (actions, buffers, slots).
            q.0.next.store(0, Ordering::Release);
        }
        if has_workers {
            shared.generation.0.fetch_add(1, Ordering::Release);
            for w in &self.workers {
                // An atomic swap unless the worker is parked.
                w.thread().unpark();
            }
        }
        claim_and_run(shared, 0, false);
        // Acquire pairs with the Release increments of `done`: every env's writes to the
        // buffers and its slot happen before the caller reads them. The thread finishing the
        // last env unparks us.
        let num_envs = shared.layout.num_envs;
        self.waiter
            .wait_until(|| shared.done.0.load(Ordering::Acquire) == num_envs);
        let mut first_error = None;
        let mut panic = None;
        for slot in shared.slots.iter() {
            // SAFETY: no claims are outstanding (see above).
            let slot = unsafe { &mut *slot.0.get() };
            if let Some(p) = slot.panic.take() {
                panic.get_or_insert(p);
            }
            if let Some(e) = slot.error.take() {
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
        let Some(slot) = self.shared.slots.get(i) else {
            return Err(SimError::Invalid(format!(
                "env index {i} out of range for {} envs",
                self.num_envs
            )));
        };
        // SAFETY: no thread holds a claim outside `run`, and `&mut self` excludes other access.
        Ok(unsafe { &mut *slot.0.get() }.env.render())
    }

    fn env_ref(&self, i: usize) -> &dyn Env {
        // SAFETY: no thread holds a claim outside `run` (which needs `&mut self`), and
        // `VecEnv` is not `Sync`, so this shared borrow cannot overlap a step or another
        // thread's access.
        let slot = unsafe { &*self.shared.slots[i].0.get() };
        &*slot.env
    }
}

impl Drop for VecEnv {
    fn drop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        self.shared.shutdown.store(true, Ordering::Relaxed);
        // Release: a worker that sees the new generation sees `shutdown`.
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
    num_envs: usize,
    obs_len: usize,
    action_dim: usize,
    dtype: DType,
}

/// State shared by the caller and the workers.
struct Shared {
    /// Bumped (Release) by the caller after posting a job, to wake waiting workers.
    generation: Padded<AtomicUsize>,
    /// Set before the last generation bump: workers exit.
    shutdown: AtomicBool,
    /// Envs finished in the current job; each claimer increments it (Release) per env.
    done: Padded<AtomicUsize>,
    /// Written by the caller only while no claim is outstanding; read by a thread only while
    /// it holds a claim.
    job: UnsafeCell<Job>,
    /// The contiguous chunks, with their claim counters.
    chunks: Box<[Padded<ChunkQueue>]>,
    /// Slot `i` is touched only by the thread holding the claim on env `i` during a job, and
    /// by the caller outside jobs.
    slots: Box<[Padded<UnsafeCell<Slot>>]>,
    layout: Layout,
}

// SAFETY: the `UnsafeCell`s follow the protocol documented on the fields. A claim on env `i`
// is a `fetch_add` (Acquire) on its chunk counter returning an index inside the chunk; it
// reads from the caller's Release reset of that counter (or from the chain of `fetch_add`s
// after it), so the job and every earlier write are visible. The claimer's Release increment
// of `done` after its last access, and the caller's Acquire load that sees `done == num_envs`,
// order those accesses before anything the caller does next. Each env index is claimed once
// per job (counters only grow until the next reset), so no two threads touch one slot or one
// env's part of the buffers at the same time. The envs are `Send`, so stepping them from
// different threads is fine; the raw pointers in `job` point into the `VecEnv`'s buffers and
// the caller's action slice, which outlive every job because `run` waits for all claims.
unsafe impl Send for Shared {}
// SAFETY: see above.
unsafe impl Sync for Shared {}

/// A chunk of envs `start..start + len`; `next` is the next index (relative to `start`) to
/// claim, `>= len` when the chunk is exhausted.
struct ChunkQueue {
    start: usize,
    len: usize,
    next: AtomicUsize,
}

/// One env and what the `VecEnv` tracks for it.
struct Slot {
    env: Box<dyn Env>,
    /// The env's last step ended: the next step resets it instead.
    needs_reset: bool,
    ep_return: f64,
    ep_len: u64,
    error: Option<SimError>,
    panic: Option<Box<dyn Any + Send>>,
}

impl Slot {
    fn new(env: Box<dyn Env>) -> Self {
        Slot {
            env,
            needs_reset: false,
            ep_return: 0.0,
            ep_len: 0,
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
}

/// Base pointers of the whole batch; each env offsets them to its own slots.
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

/// One unit of work for every env.
struct Job {
    kind: JobKind,
    out: RawBatch,
    actions: RawActions,
    own_stats: bool,
    /// The thread that posted the job, woken by the worker finishing the last env.
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

/// One env's slots in the batch buffers.
struct EnvOut<'a> {
    obs: ObsMut<'a>,
    reward: &'a mut f32,
    terminated: &'a mut bool,
    truncated: &'a mut bool,
    info: &'a mut Info,
}

enum ObsMut<'a> {
    U8(&'a mut [u8]),
    F32(&'a mut [f32]),
}

/// Claim envs, starting with chunk `home` and then helping with the others, and run the job
/// on each. A worker (`is_worker`) wakes the caller when it finishes the last env.
fn claim_and_run(shared: &Shared, home: usize, is_worker: bool) {
    let k = shared.chunks.len();
    for c in (0..k).map(|o| (home + o) % k) {
        let q = &shared.chunks[c].0;
        // The Relaxed load skips exhausted chunks without writing to their cache line.
        while q.next.load(Ordering::Relaxed) < q.len {
            let idx = q.next.fetch_add(1, Ordering::Acquire);
            if idx >= q.len {
                break;
            }
            let i = q.start + idx;
            // SAFETY: we hold the claim on env `i` (see `Shared`): the job is posted and
            // stays unchanged until `done` reaches `num_envs`, which needs our increment, and
            // no other thread touches slot `i`.
            let (job, slot) = unsafe { (&*shared.job.get(), &mut *shared.slots[i].0.get()) };
            // Cloned (a reference count, no allocation) because the job may be replaced as
            // soon as `done` is complete.
            let caller = if is_worker { job.caller.clone() } else { None };
            let result = catch_unwind(AssertUnwindSafe(|| run_env(slot, job, i, &shared.layout)));
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    slot.error = Some(SimError::SubEnv {
                        index: i,
                        error: Box::new(e),
                    })
                }
                Err(p) => slot.panic = Some(p),
            }
            if shared.done.0.fetch_add(1, Ordering::Release) + 1 == shared.layout.num_envs
                && let Some(caller) = caller
            {
                caller.unpark();
            }
        }
    }
}

/// Reset or step env `i` and write its slots of the batch.
fn run_env(slot: &mut Slot, job: &Job, i: usize, layout: &Layout) -> Result<()> {
    let (obs_len, d) = (layout.obs_len, layout.action_dim);
    // SAFETY: `job.out` holds the base pointers of buffers sized for `num_envs` envs, valid for
    // the whole job (`run` waits for every claim before the buffers can be touched again).
    // Env `i` is claimed by this thread alone, so no other reference to its slots exists,
    // and the caller creates no reference to the buffers during the job.
    let mut out = unsafe {
        let b = job.out;
        EnvOut {
            obs: match b.obs {
                RawObs::U8(p) => {
                    ObsMut::U8(std::slice::from_raw_parts_mut(p.add(i * obs_len), obs_len))
                }
                RawObs::F32(p) => {
                    ObsMut::F32(std::slice::from_raw_parts_mut(p.add(i * obs_len), obs_len))
                }
            },
            reward: &mut *b.rewards.add(i),
            terminated: &mut *b.terminated.add(i),
            truncated: &mut *b.truncated.add(i),
            info: &mut *b.infos.add(i),
        }
    };
    match job.kind {
        JobKind::Reset(seed) => reset_one(slot, &mut out, seed.map(|s| sub_seed(s, i))),
        JobKind::Step if slot.needs_reset => reset_one(slot, &mut out, None),
        JobKind::Step => {
            // SAFETY: `check_actions` verified the slice holds `num_envs` actions (x `d`
            // values); the caller's borrow outlives the job.
            let action = unsafe {
                match job.actions {
                    RawActions::Discrete(p) => Action::Discrete(*p.add(i)),
                    RawActions::Continuous(p) => {
                        Action::Continuous(std::slice::from_raw_parts(p.add(i * d), d))
                    }
                    RawActions::None => unreachable!("a step job always carries actions"),
                }
            };
            step_one(slot, &mut out, action, job.own_stats)
        }
        JobKind::Idle => Ok(()),
    }
}

fn reset_one(slot: &mut Slot, out: &mut EnvOut<'_>, seed: Option<u64>) -> Result<()> {
    let (obs, mut info) = slot.env.reset(seed)?;
    copy_obs(&mut out.obs, obs)?;
    info.episode = None;
    *out.info = info;
    *out.reward = 0.0;
    *out.terminated = false;
    *out.truncated = false;
    slot.needs_reset = false;
    slot.ep_return = 0.0;
    slot.ep_len = 0;
    Ok(())
}

fn step_one(
    slot: &mut Slot,
    out: &mut EnvOut<'_>,
    action: Action<'_>,
    own_stats: bool,
) -> Result<()> {
    let step = slot.env.step(action)?;
    copy_obs(&mut out.obs, step.obs)?;
    slot.ep_return += f64::from(step.reward);
    slot.ep_len += 1;
    let mut info = step.info;
    if step.done() {
        slot.needs_reset = true;
        if own_stats && info.episode.is_none() {
            info.episode = Some(EpisodeStats {
                episode_return: slot.ep_return,
                length: slot.ep_len,
            });
        }
    }
    *out.info = info;
    *out.reward = step.reward;
    *out.terminated = step.terminated;
    *out.truncated = step.truncated;
    Ok(())
}

/// Copy one env's observation into its slot, checking kind and length.
fn copy_obs(dst: &mut ObsMut<'_>, src: Obs<'_>) -> Result<()> {
    match (dst, src) {
        (ObsMut::U8(d), Obs::U8(s)) if s.len() == d.len() => d.copy_from_slice(s),
        (ObsMut::F32(d), Obs::F32(s)) if s.len() == d.len() => d.copy_from_slice(s),
        (d, s) => {
            let (want, len) = match d {
                ObsMut::U8(d) => ("u8", d.len()),
                ObsMut::F32(d) => ("f32", d.len()),
            };
            let got = if matches!(s, Obs::U8(_)) { "u8" } else { "f32" };
            return Err(SimError::Invalid(format!(
                "observation of {} {got} values does not match the observation space \
                 ({len} {want} values)",
                s.len()
            )));
        }
    }
    Ok(())
}

/// Spin-then-park waiting with an adaptive spin budget. A wait that ends while spinning
/// doubles the budget (back-to-back steps: the next job comes within microseconds, and a
/// parked thread would take a futex round trip to wake); a wait that has to park halves it
/// (a learner working between steps, or a loaded machine, where spinning only burns the
/// thread's share of the CPU and gets it preempted at the wrong moment). Never `yield_now`:
/// on a loaded machine that hands the core away for a whole time slice (measured: no scaling).
#[derive(Debug, Clone, Copy)]
struct Waiter {
    budget: Duration,
}

impl Waiter {
    const MIN: Duration = Duration::from_micros(2);
    const MAX: Duration = Duration::from_micros(50);

    fn new() -> Self {
        Waiter {
            budget: Duration::from_micros(16),
        }
    }

    /// Return once `ready()` is true; woken by `unpark` once parked (`unpark` before `park`
    /// makes `park` return at once, so no wake-up is lost; spurious wake-ups just loop).
    fn wait_until(&mut self, mut ready: impl FnMut() -> bool) {
        if ready() {
            return;
        }
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            std::hint::spin_loop();
            if ready() {
                self.budget = (self.budget * 2).min(Self::MAX);
                return;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(16) && start.elapsed() >= self.budget {
                break;
            }
        }
        while !ready() {
            thread::park();
        }
        self.budget = (self.budget / 2).max(Self::MIN);
    }
}

/// A worker: wait for a new generation, claim and run envs (its own chunk `home` first),
/// repeat until shutdown.
fn worker_main(shared: &Shared, home: usize) {
    let mut seen = 0usize;
    let mut waiter = Waiter::new();
    loop {
        // Acquire pairs with the caller's Release bump (for `shutdown`; claims carry their
        // own synchronisation).
        waiter.wait_until(|| shared.generation.0.load(Ordering::Acquire) != seen);
        seen = shared.generation.0.load(Ordering::Acquire);
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        claim_and_run(shared, home, true);
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
