//! A3C/A2C end to end through the training loop: learning on Catch, determinism of the
//! sync mode, worker failures (NaN, panic) naming the worker, config errors, continuous
//! actions, resume, and loading through `agents::load_policy`.

use agents::AgentError;
use agents::eval::evaluate;
use agents::train::{TrainConfig, train, train_with};
use candle_core::Device;
use sim::{Action, Env, Frame, Info, Obs, RandomPolicy, Space, Step};
use std::path::Path;

/// Catch with 2 workers and a small MLP. `every_steps` > 0 evaluates periodically, so
/// `best.safetensors` is the best evaluated policy rather than the last one.
fn catch_cfg(mode: &str, total: u64, every_steps: u64, entropy_beta: f64) -> TrainConfig {
    let text = format!(
        r#"
algo = "a3c"
total_steps = {total}
seed = 1
log_every = 1000
checkpoint_every = 5000
[env]
id = "Catch-v0"
[eval]
every_steps = {every_steps}
episodes = 20
[a3c]
mode = "{mode}"
workers = 2
encoder = "mlp"
mlp_hidden = [64]
t_max = 5
learning_rate = 0.01
entropy_beta = {entropy_beta}
"#
    );
    TrainConfig::from_toml(&text, Path::new("catch_a3c.toml")).unwrap()
}

fn grade(path: &Path) -> (f64, f64) {
    let mut env = sim::make("Catch-v0", &Default::default()).unwrap();
    let mut policy = agents::load_policy(
        path,
        &Device::Cpu,
        Some("Catch-v0"),
        agents::Acting::AsTrained,
        0,
    )
    .unwrap();
    let trained = evaluate(policy.as_mut(), env.as_mut(), 100, 12345)
        .unwrap()
        .mean();
    // An epsilon belongs to DQN; asking it of an A3C checkpoint is refused, naming the file.
    match agents::load_policy(
        path,
        &Device::Cpu,
        Some("Catch-v0"),
        agents::Acting::Epsilon(0.1),
        0,
    ) {
        Ok(_) => panic!("an epsilon was accepted for an A3C checkpoint"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("epsilon") && msg.contains(&*path.to_string_lossy()),
                "{msg}"
            );
        }
    }
    let mut random = RandomPolicy::new(env.action_space().clone(), 9);
    let baseline = evaluate(&mut random, env.as_mut(), 100, 12345)
        .unwrap()
        .mean();
    (trained, baseline)
}

/// A3C with 2 asynchronous workers must clearly beat a random policy on Catch in seconds.
///
/// Hogwild updates make this run depend on thread timing, so its settings are chosen for
/// margin, not speed. With 20k steps and entropy 0.01, 3 of 40 runs beside a busy CPU ended
/// on a policy that misses one or two ball columns (0.34..0.54 over 100 games); with 40k
/// steps (so the annealed learning rate stays higher for longer) and entropy 0.03, 40 of 40
/// scored 1.0, every one of them by its 15k-step evaluation.
#[test]
fn a3c_learns_catch_well_above_random() {
    let cfg = catch_cfg("async", 40_000, 5_000, 0.03);
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&cfg, dir.path(), &mut ()).unwrap();
    assert!(
        summary.steps >= 40_000 && summary.steps < 40_100,
        "{}",
        summary.steps
    );
    let (trained, baseline) = grade(&dir.path().join("best.safetensors"));
    eprintln!("catch a3c: trained {trained}, random {baseline}");
    assert!(baseline < 0.0, "random should mostly miss: {baseline}");
    assert!(trained > 0.5, "trained {trained} (random {baseline})");

    for f in [
        "config.toml",
        "metrics.csv",
        "episodes.csv",
        "eval.csv",
        "last.safetensors",
        "best.safetensors",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let episodes = std::fs::read_to_string(dir.path().join("episodes.csv")).unwrap();
    assert!(episodes.starts_with("step,worker,return,length\n"));
    // Both workers finished episodes.
    for w in ["0", "1"] {
        assert!(
            episodes
                .lines()
                .skip(1)
                .any(|l| l.split(',').nth(1) == Some(w)),
            "no episode of worker {w}"
        );
    }
    let meta = agents::checkpoint::read_meta(&dir.path().join("last.safetensors")).unwrap();
    assert_eq!(meta.agent, "a3c");
    assert_eq!(meta.a3c.as_ref().unwrap().workers, 2);
    // The recorded config parses again (it is what resume reads).
    TrainConfig::load(&dir.path().join("config.toml")).unwrap();

    // One evaluation every 5k steps plus the final one, and best.safetensors holds the
    // highest of them.
    let eval = std::fs::read_to_string(dir.path().join("eval.csv")).unwrap();
    let means: Vec<f64> = eval
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert!((8..=9).contains(&means.len()), "{eval}");
    let best = agents::checkpoint::read_meta(&dir.path().join("best.safetensors")).unwrap();
    let highest = means.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(best.eval_return, Some(highest), "{eval}");
}

/// A2C (sync mode) learns Catch too, and a seed fixes every weight: two runs agree bit for
/// bit.
#[test]
fn a2c_learns_catch_and_is_deterministic_under_seed() {
    let cfg = catch_cfg("sync", 12_000, 0, 0.01);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s1 = train(&cfg, d1.path(), &mut ()).unwrap();
    let s2 = train(&cfg, d2.path(), &mut ()).unwrap();
    assert_eq!((s1.steps, s1.updates), (s2.steps, s2.updates));
    // 12,000 steps = 1,200 rollouts of 5 steps x 2 envs.
    assert_eq!((s1.steps, s1.updates), (12_000, 1_200));
    let m1 = agents::checkpoint::read_meta(&d1.path().join("last.safetensors")).unwrap();
    let m2 = agents::checkpoint::read_meta(&d2.path().join("last.safetensors")).unwrap();
    assert_eq!(m1.weights_fnv1a64, m2.weights_fnv1a64);
    assert_eq!(s1.final_eval.returns, s2.final_eval.returns);
    let e1 = std::fs::read_to_string(d1.path().join("episodes.csv")).unwrap();
    let e2 = std::fs::read_to_string(d2.path().join("episodes.csv")).unwrap();
    assert_eq!(e1, e2);
    let (trained, baseline) = grade(&d1.path().join("last.safetensors"));
    eprintln!("catch a2c: trained {trained}, random {baseline}");
    assert!(trained > 0.5, "trained {trained} (random {baseline})");
}

#[test]
fn config_errors_name_the_field() {
    let base = "total_steps = 100\n[env]\nid = \"Catch-v0\"\n";
    let err = TrainConfig::from_toml(&format!("{base}[a3c]\nworkers = 2\n"), Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a3c") && err.contains("algo"), "{err}");
    let err = TrainConfig::from_toml(
        &format!("algo = \"a3c\"\n{base}[dqn]\ngamma = 0.9\n"),
        Path::new("x.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("dqn:") && err.contains("[a3c]"), "{err}");
    let err = TrainConfig::from_toml(
        &format!("algo = \"a3c\"\n{base}[a3c]\nt_maxx = 5\n"),
        Path::new("x.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("t_maxx") && err.contains("x.toml"), "{err}");
    let err = TrainConfig::from_toml(
        &format!("algo = \"a3c\"\n{base}[a3c]\nt_max = 0\n"),
        Path::new("x.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("a3c.t_max"), "{err}");
    let err = TrainConfig::from_toml(&format!("algo = \"a2c\"\n{base}"), Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("a2c"), "{err}");
    // Existing DQN configs still parse (algo defaults to dqn).
    let cfg = TrainConfig::from_toml(base, Path::new("x.toml")).unwrap();
    assert_eq!(cfg.algo, agents::train::Algo::Dqn);
}

/// A one-number env whose reward turns NaN after `poison_at` steps (or that panics then).
struct Poison {
    space: Space,
    actions: Space,
    obs: [f32; 1],
    t: u32,
    poison_at: u32,
    panic: bool,
}

fn poison(poison_at: u32, panic: bool) -> Poison {
    Poison {
        space: Space::uniform_box(&[1], 0.0, 1.0, sim::DType::F32),
        actions: Space::Discrete { n: 2 },
        obs: [0.0],
        t: 0,
        poison_at,
        panic,
    }
}

impl Env for Poison {
    fn id(&self) -> &str {
        "Poison-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        &self.actions
    }
    fn reset(&mut self, _seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        self.obs = [0.0];
        Ok((Obs::F32(&self.obs), Info::default()))
    }
    fn step(&mut self, _a: Action<'_>) -> sim::Result<Step<'_>> {
        self.t += 1;
        self.obs[0] = (self.t % 7) as f32 / 7.0;
        let poisoned = self.t >= self.poison_at;
        if poisoned && self.panic {
            panic!("poisoned env");
        }
        Ok(Step {
            obs: Obs::F32(&self.obs),
            reward: if poisoned { f32::NAN } else { 1.0 },
            terminated: self.t.is_multiple_of(10),
            truncated: false,
            info: Info::default(),
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::F32(&self.obs)
    }
    fn render(&mut self) -> Frame<'_> {
        Frame {
            height: 0,
            width: 0,
            channels: 3,
            data: &[],
        }
    }
}

const POISON_CFG: &str = r#"
algo = "a3c"
total_steps = 1000000
log_every = 10
checkpoint_every = 100
[env]
id = "Poison-v0"
[a3c]
workers = 2
encoder = "mlp"
mlp_hidden = [8]
"#;

/// Worker 1's env poisons its rewards: training stops with an error naming worker 1 and
/// the step, other workers stop too (no hang), and the last checkpoint holds clean weights.
#[test]
fn nan_in_one_worker_stops_training_naming_it() {
    let cfg = TrainConfig::from_toml(POISON_CFG, Path::new("poison.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let make = |i: usize| -> sim::Result<Box<dyn Env>> {
        Ok(Box::new(poison(if i == 1 { 600 } else { u32::MAX }, false)))
    };
    let err = train_with(&cfg, dir.path(), &mut (), &make).unwrap_err();
    let AgentError::Worker {
        worker,
        step,
        ref reason,
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(worker, 1, "{err}");
    assert!(reason.contains("NaN"), "{err}");
    assert!((600..1_000_000).contains(&step), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("worker 1") && msg.contains(&format!("env step {step}")),
        "{msg}"
    );
    // The kept checkpoint may postdate worker 1's last env step (worker 0 runs on while
    // worker 1 computes its poisoned gradients), but the NaN gradients were never applied:
    // every weight in it is finite.
    let last = dir.path().join("last.safetensors");
    let meta = agents::checkpoint::read_meta(&last).unwrap();
    assert!(meta.step >= 100, "{}", meta.step);
    let weights = candle_core::safetensors::load(&last, &Device::Cpu).unwrap();
    assert!(!weights.is_empty());
    for (name, t) in &weights {
        let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{name} is not finite");
    }
    agents::load_policy(
        &last,
        &Device::Cpu,
        Some("Poison-v0"),
        agents::Acting::AsTrained,
        0,
    )
    .unwrap();
}

/// A worker that panics stops the run with an error naming it, never a hang or an abort.
#[test]
fn panicking_worker_stops_training_naming_it() {
    let cfg = TrainConfig::from_toml(POISON_CFG, Path::new("poison.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let make = |i: usize| -> sim::Result<Box<dyn Env>> {
        Ok(Box::new(poison(if i == 0 { 300 } else { u32::MAX }, true)))
    };
    let err = train_with(&cfg, dir.path(), &mut (), &make).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, AgentError::Worker { worker: 0, .. }), "{msg}");
    assert!(msg.contains("panicked: poisoned env"), "{msg}");
}

/// A 1-D continuous task: observe a target in [-1, 1], get `-(a - target)^2`.
struct Target {
    obs_space: Space,
    act_space: Space,
    obs: [f32; 1],
    rng: u64,
    t: u32,
}

impl Target {
    fn new() -> Self {
        Self {
            obs_space: Space::uniform_box(&[1], -1.0, 1.0, sim::DType::F32),
            act_space: Space::uniform_box(&[1], -1.0, 1.0, sim::DType::F32),
            obs: [0.0],
            rng: 1,
            t: 0,
        }
    }
    fn draw(&mut self) {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.obs[0] = ((self.rng >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0;
    }
}

impl Env for Target {
    fn id(&self) -> &str {
        "Target-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        if let Some(s) = seed {
            self.rng = s;
        }
        self.t = 0;
        self.draw();
        Ok((Obs::F32(&self.obs), Info::default()))
    }
    fn step(&mut self, a: Action<'_>) -> sim::Result<Step<'_>> {
        let Action::Continuous(v) = a else {
            return Err(sim::SimError::Invalid("continuous only".into()));
        };
        assert!(
            (-1.0..=1.0).contains(&v[0]),
            "action {v:?} outside the bounds"
        );
        let reward = -(v[0] - self.obs[0]).powi(2);
        self.t += 1;
        self.draw();
        Ok(Step {
            obs: Obs::F32(&self.obs),
            reward,
            terminated: false,
            truncated: self.t >= 20,
            info: Info::default(),
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::F32(&self.obs)
    }
    fn render(&mut self) -> Frame<'_> {
        Frame {
            height: 0,
            width: 0,
            channels: 3,
            data: &[],
        }
    }
}

/// The Gaussian policy learns a continuous task (truncated episodes bootstrap), actions stay
/// inside the bounds, and a stopped run resumes where it was.
#[test]
fn gaussian_policy_learns_a_continuous_target_and_resumes() {
    let text = r#"
algo = "a3c"
total_steps = 6000
seed = 3
log_every = 1000
checkpoint_every = 1000
snapshot_every = 2000
[env]
id = "Target-v0"
[eval]
episodes = 10
[a3c]
mode = "sync"
workers = 4
encoder = "mlp"
mlp_hidden = [32]
learning_rate = 0.003
gamma = 0.0
init_log_std = -0.5
"#;
    let mut cfg = TrainConfig::from_toml(text, Path::new("target.toml")).unwrap();
    let make = |_: usize| -> sim::Result<Box<dyn Env>> { Ok(Box::new(Target::new())) };
    let dir = tempfile::tempdir().unwrap();
    let first = train_with(&cfg, dir.path(), &mut (), &make).unwrap();
    cfg.total_steps = 20_000;
    let resumed = agents::train::resume_with(dir.path(), Some(&cfg), &mut (), &make).unwrap();
    assert_eq!(resumed.steps, 20_000);
    assert!(resumed.updates > first.updates);
    let recorded = TrainConfig::load(&dir.path().join("config.toml")).unwrap();
    assert_eq!(recorded.total_steps, 20_000);
    let meta = agents::checkpoint::read_meta(&dir.path().join("last.safetensors")).unwrap();
    assert_eq!(meta.action_bounds.as_ref().unwrap().low, vec![-1.0]);
    // Weights-only snapshots every 2,000 steps over both sittings, each a loadable policy
    // recording its step. Workers overshoot the exact multiple by a few steps, and the
    // coordinator, when the scheduler wakes it past two multiples at once (seen on a loaded
    // machine), writes one snapshot for both: so count distinct periods, not files.
    let mut periods = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("snapshots")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            let meta = agents::checkpoint::read_meta(&path).unwrap();
            assert_eq!(
                path,
                agents::train::snapshot_path(dir.path(), meta.step).unwrap()
            );
            agents::load_policy(
                &path,
                &Device::Cpu,
                Some("Target-v0"),
                agents::Acting::AsTrained,
                0,
            )
            .unwrap();
            periods.push(meta.step / 2000);
        }
    }
    periods.sort();
    let files = periods.len();
    periods.dedup();
    assert_eq!(
        files,
        periods.len(),
        "a period snapshotted twice: {periods:?}"
    );
    assert!(
        periods.iter().any(|&p| p <= 3) && periods.iter().any(|&p| p >= 4),
        "snapshots from both sittings (the first ends at step 6,000): {periods:?}"
    );
    assert!(periods.len() >= 5, "snapshot periods {periods:?}");
    // A random policy scores about -20 * E[(a - t)^2] = -20 * 2/3; greedy should be close to 0.
    let mut env = Target::new();
    let mut policy = agents::load_policy(
        &dir.path().join("last.safetensors"),
        &Device::Cpu,
        Some("Target-v0"),
        agents::Acting::AsTrained,
        0,
    )
    .unwrap();
    let mean = evaluate(policy.as_mut(), &mut env, 10, 77).unwrap().mean();
    eprintln!(
        "target: first {} -> resumed {mean}",
        first.final_eval.mean()
    );
    assert!(mean > -2.0, "greedy return {mean}");
}

/// The shipped A3C configs parse, validate and record themselves in a form that parses
/// again (what a resumed run reads).
#[test]
fn shipped_a3c_configs_parse() {
    for name in ["cartpole_a3c", "pong_a3c", "drive_a3c"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs")
            .join(format!("{name}.toml"));
        let cfg = TrainConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cfg.algo, agents::train::Algo::A3c, "{name}");
        let again = TrainConfig::from_toml(&cfg.resolved_toml().unwrap(), &path).unwrap();
        assert_eq!(again, cfg.resolved(), "{name}");
    }
}
