//! The training loop end to end: learning on Catch, run-directory contents, NaN stop, config
//! errors.

use agents::AgentError;
use agents::dqn::DqnPolicy;
use agents::eval::evaluate;
use agents::train::{TrainConfig, train, train_with};
use candle_core::Device;
use sim::{Action, Env, Frame, Info, Obs, RandomPolicy, Space, Step};
use std::path::Path;

const CATCH: &str = r#"
total_steps = 4000
seed = 1
log_every = 500
checkpoint_every = 1000
[env]
id = "Catch-v0"
[eval]
every_steps = 2000
episodes = 20
[dqn]
encoder = "mlp"
mlp_hidden = [64]
learning_rate = 0.001
optimizer = { kind = "adam" }
buffer_size = 10000
learning_starts = 300
train_every = 1
target_update_every = 100
epsilon_start = 1.0
epsilon_end = 0.05
epsilon_decay_steps = 1500
eval_epsilon = 0.0
"#;

/// DQN must clearly beat a random policy on Catch within a few thousand steps.
#[test]
fn dqn_learns_catch_well_above_random() {
    let cfg = TrainConfig::from_toml(CATCH, Path::new("catch.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&cfg, dir.path(), &mut ()).unwrap();
    assert_eq!(summary.steps, 4000);

    // Grade the saved best checkpoint on fresh episodes, beside a random policy.
    let mut env = sim::make("Catch-v0", &Default::default()).unwrap();
    let mut policy = DqnPolicy::load(
        &dir.path().join("best.safetensors"),
        &Device::Cpu,
        Some("Catch-v0"),
        0.0,
        0,
    )
    .unwrap();
    let trained = evaluate(&mut policy, env.as_mut(), 100, 12345)
        .unwrap()
        .mean();
    let mut random = RandomPolicy::new(env.action_space().clone(), 9);
    let baseline = evaluate(&mut random, env.as_mut(), 100, 12345)
        .unwrap()
        .mean();
    eprintln!("catch: trained {trained}, random {baseline}");
    assert!(
        baseline < 0.0,
        "random policy should mostly miss: {baseline}"
    );
    assert!(
        trained > 0.8,
        "trained mean return {trained} (random {baseline})"
    );

    for f in [
        "config.toml",
        "metrics.csv",
        "episodes.csv",
        "eval.csv",
        "last.safetensors",
        "last.json",
        "best.safetensors",
        "best.json",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 8, "{metrics}");
    let events: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    assert_eq!(events.len(), 1);
    let ev = std::fs::read(events[0].path()).unwrap();
    assert!(ev.windows(16).any(|w| w == b"eval/mean_return"));
    assert!(
        metrics
            .lines()
            .next()
            .unwrap()
            .starts_with("step,updates,episodes")
    );
    // The resolved config parses back to the same config.
    let again = TrainConfig::load(&dir.path().join("config.toml")).unwrap();
    assert_eq!(again, cfg);
    // A second run into the same directory is refused rather than mixing two runs.
    let err = train(&cfg, dir.path(), &mut ()).unwrap_err().to_string();
    assert!(err.contains("already holds a run"), "{err}");
}

#[test]
fn config_errors_name_the_file_and_field() {
    let text = CATCH.replace("total_steps", "total_step");
    let err = TrainConfig::from_toml(&text, Path::new("configs/x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("configs/x.toml") && err.contains("total_step"),
        "{err}"
    );
    let text = CATCH.replace("train_every = 1", "train_evry = 1");
    let err = TrainConfig::from_toml(&text, Path::new("y.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("train_evry"), "{err}");
    let text = CATCH.replace("learning_rate = 0.001", "learning_rate = -1.0");
    let err = TrainConfig::from_toml(&text, Path::new("z.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("z.toml") && err.contains("dqn.learning_rate"),
        "{err}"
    );
    let text = CATCH.replace("seed = 1", "seed = 1\ndevice = \"tpu\"");
    let err = TrainConfig::from_toml(&text, Path::new("d.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("tpu"), "{err}");
}

/// A one-number env whose reward turns NaN after `poison_at` steps.
struct Poison {
    space: Space,
    actions: Space,
    obs: [f32; 1],
    t: u32,
    poison_at: u32,
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
        let reward = if self.t >= self.poison_at {
            f32::NAN
        } else {
            1.0
        };
        Ok(Step {
            obs: Obs::F32(&self.obs),
            reward,
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

#[test]
fn nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint() {
    let text = r#"
total_steps = 10000
log_every = 10
checkpoint_every = 50
[env]
id = "Poison-v0"
[dqn]
encoder = "mlp"
mlp_hidden = [8]
buffer_size = 1000
batch_size = 64
learning_starts = 20
train_every = 1
"#;
    let cfg = TrainConfig::from_toml(text, Path::new("poison.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let make = |_: usize| -> sim::Result<Box<dyn Env>> {
        Ok(Box::new(Poison {
            space: Space::uniform_box(&[1], 0.0, 1.0, sim::DType::F32),
            actions: Space::Discrete { n: 2 },
            obs: [0.0],
            t: 0,
            poison_at: 120,
        }))
    };
    let err = train_with(&cfg, dir.path(), &mut (), &make).unwrap_err();
    let AgentError::NonFiniteLoss { step, .. } = err else {
        panic!("{err}")
    };
    assert!((120..10_000).contains(&step), "stopped at {step}");
    assert!(
        err.to_string().contains(&format!("env step {step}")),
        "{err}"
    );
    // The last checkpoint is intact, from before the NaN, and loads.
    let last = dir.path().join("last.safetensors");
    let meta = agents::checkpoint::read_meta(&last).unwrap();
    assert!(meta.step < step && meta.step >= 50, "{}", meta.step);
    DqnPolicy::load(&last, &Device::Cpu, Some("Poison-v0"), 0.0, 0).unwrap();
}

/// A run stopped at 2,000 steps and resumed to 4,000 continues where it was (counters,
/// appended metrics, config.toml updated) and still learns Catch.
#[test]
fn resume_continues_the_run() {
    let mut cfg = TrainConfig::from_toml(CATCH, Path::new("catch.toml")).unwrap();
    cfg.total_steps = 2000;
    let dir = tempfile::tempdir().unwrap();
    let first = train(&cfg, dir.path(), &mut ()).unwrap();
    let meta = agents::checkpoint::read_meta(&dir.path().join("last.safetensors")).unwrap();
    assert_eq!((meta.step, meta.updates), (2000, first.updates));

    cfg.total_steps = 4000;
    let second = agents::train::resume(dir.path(), Some(&cfg), &mut ()).unwrap();
    assert_eq!(second.steps, 4000);
    // Updates continue from the saved count (the replay refills for learning_starts steps).
    let expected = first.updates + (4000 - 2000 - 300) as u64 + 1;
    assert_eq!(second.updates, expected);
    let metrics = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(steps, (1..=8).map(|i| i * 500).collect::<Vec<_>>());
    assert!(second.final_eval.mean() > 0.8, "{:?}", second.final_eval);
    // The run directory records the config it continued with, for the next plain resume.
    let recorded = TrainConfig::load(&dir.path().join("config.toml")).unwrap();
    assert_eq!(recorded.total_steps, 4000);

    // Nothing to resume from: a clear error naming the file.
    let empty = tempfile::tempdir().unwrap();
    let err = agents::train::resume(empty.path(), Some(&cfg), &mut ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("last.safetensors"), "{err}");
}

/// Copy the run directory's files (not its subdirectories), leaving out `skip`.
fn copy_run_files(from: &Path, to: &Path, skip: &str) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() && e.file_name() != skip {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// With `save_replay`, a resume goes on learning from the saved replay at once instead of
/// waiting `learning_starts` steps for a new one; a replay file from another checkpoint is
/// set aside, and a damaged one is an error naming it.
#[test]
fn a_saved_replay_comes_back_on_resume() {
    let mut cfg = TrainConfig::from_toml(CATCH, Path::new("catch.toml")).unwrap();
    cfg.total_steps = 2000;
    cfg.save_replay = true;
    cfg.dqn.prioritized_replay = true;
    let dir = tempfile::tempdir().unwrap();
    let first = train(&cfg, dir.path(), &mut ()).unwrap();
    let replay = dir.path().join(agents::train::REPLAY_FILE);
    let saved = std::fs::read(&replay).unwrap();
    assert!(saved.len() > 2000, "{} bytes", saved.len());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
    // The same run without its replay file.
    let bare = tempfile::tempdir().unwrap();
    copy_run_files(dir.path(), bare.path(), agents::train::REPLAY_FILE);

    cfg.total_steps = 3000;
    let restored = agents::train::resume(dir.path(), Some(&cfg), &mut ()).unwrap();
    assert_eq!(restored.updates, first.updates + 1000 + 1);
    assert!(
        restored.final_eval.mean() > 0.5,
        "{:?}",
        restored.final_eval
    );
    let recollected = agents::train::resume(bare.path(), Some(&cfg), &mut ()).unwrap();
    assert_eq!(recollected.updates, first.updates + (1000 - 300) + 1);

    // A replay saved at step 2000 beside a checkpoint of step 3000 is not used.
    std::fs::write(bare.path().join(agents::train::REPLAY_FILE), &saved).unwrap();
    cfg.total_steps = 3500;
    cfg.save_replay = false;
    let stale = agents::train::resume(bare.path(), Some(&cfg), &mut ()).unwrap();
    assert_eq!(stale.updates, recollected.updates + (500 - 300) + 1);

    // A truncated replay of the right step: an error naming the file, not a panic.
    let full = std::fs::read(&replay).unwrap();
    std::fs::write(&replay, &full[..full.len() - 100]).unwrap();
    let err = agents::train::resume(dir.path(), Some(&cfg), &mut ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("last.replay") && err.contains("truncated"),
        "{err}"
    );
}

/// `snapshot_every` keeps the weights of each point of the run, last step included; a
/// snapshot loads as a policy and holds the same weights as `last` at that step.
#[test]
fn snapshots_keep_each_point_of_the_run() {
    let mut cfg = TrainConfig::from_toml(CATCH, Path::new("catch.toml")).unwrap();
    cfg.total_steps = 3000;
    cfg.snapshot_every = 1000;
    let dir = tempfile::tempdir().unwrap();
    train(&cfg, dir.path(), &mut ()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = [1000u64, 2000, 3000]
        .iter()
        .flat_map(|s| {
            [
                format!("step_{s:010}.json"),
                format!("step_{s:010}.safetensors"),
            ]
        })
        .collect();
    assert_eq!(names, expected);
    let snapshot = agents::train::snapshot_path(dir.path(), 3000).unwrap();
    let meta = agents::checkpoint::read_meta(&snapshot).unwrap();
    assert_eq!((meta.step, meta.eval_return), (3000, None));

    // Same weights as `last` at the final step: the same play and Q-values on the same games.
    let load = |p: &Path| DqnPolicy::load(p, &Device::Cpu, Some("Catch-v0"), 0.0, 0).unwrap();
    let (mut from_snapshot, mut from_last) =
        (load(&snapshot), load(&dir.path().join("last.safetensors")));
    let mut env = sim::make("Catch-v0", &Default::default()).unwrap();
    let a = evaluate(&mut from_snapshot, env.as_mut(), 5, 77).unwrap();
    let b = evaluate(&mut from_last, env.as_mut(), 5, 77).unwrap();
    assert_eq!(a.returns, b.returns);
    // The Q-values of the last observation each policy acted on.
    assert_eq!(from_snapshot.q_values(), from_last.q_values());
    assert!(!from_snapshot.q_values().is_empty());
}

/// Every DQN option at once (dueling, Double DQN, 3-step returns, prioritized replay,
/// Polyak target, RMSProp, gradient clipping) still learns Catch.
#[test]
fn all_options_together_still_learn_catch() {
    let text = CATCH
        .replace(
            "optimizer = { kind = \"adam\" }",
            "optimizer = { kind = \"rms_prop\", alpha = 0.95, eps = 0.00001, centered = true }",
        )
        .replace("learning_rate = 0.001", "learning_rate = 0.0005")
        .replace(
            "target_update_every = 100",
            "target_update_every = 1\ntau = 0.02\ndueling = true\ndouble_dqn = true\nn_step = 3\n\
             prioritized_replay = true\npriority_beta_steps = 4000\nmax_grad_norm = 10.0",
        );
    let cfg = TrainConfig::from_toml(&text, Path::new("catch_all.toml")).unwrap();
    assert!(cfg.dqn.prioritized_replay && cfg.dqn.dueling && cfg.dqn.n_step == 3);
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&cfg, dir.path(), &mut ()).unwrap();
    let mut env = sim::make("Catch-v0", &Default::default()).unwrap();
    let mut policy = DqnPolicy::load(
        &dir.path().join("best.safetensors"),
        &Device::Cpu,
        Some("Catch-v0"),
        0.0,
        0,
    )
    .unwrap();
    let trained = evaluate(&mut policy, env.as_mut(), 100, 777)
        .unwrap()
        .mean();
    eprintln!(
        "catch, all options: trained {trained}, final eval {:?}",
        summary.final_eval.mean()
    );
    assert!(trained > 0.8, "trained mean return {trained}");
}

/// The trainer follows `learning_rate_end`: with the rate decayed to almost nothing by the
/// first update, the weights stay put between two snapshots, where a constant rate moves them.
#[test]
fn learning_rate_schedule_reaches_the_learner() {
    let weight_change = |schedule: bool| {
        let mut cfg = TrainConfig::from_toml(CATCH, Path::new("catch.toml")).unwrap();
        cfg.total_steps = 2000;
        cfg.snapshot_every = 1000;
        if schedule {
            cfg.dqn.learning_rate_end = Some(1e-12);
            cfg.dqn.learning_rate_decay_steps = 1;
        }
        cfg.validate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        train(&cfg, dir.path(), &mut ()).unwrap();
        let load = |step| {
            let path = agents::train::snapshot_path(dir.path(), step).unwrap();
            candle_core::safetensors::load(path, &Device::Cpu).unwrap()
        };
        let (a, b) = (load(1000), load(2000));
        let mut max = 0f32;
        for (name, ta) in &a {
            let diff = (ta - &b[name]).unwrap().abs().unwrap();
            let m = diff.flatten_all().unwrap().max(0).unwrap();
            max = max.max(m.to_scalar::<f32>().unwrap());
        }
        max
    };
    let (constant, decayed) = (weight_change(false), weight_change(true));
    assert!(
        constant > 1e-3,
        "constant rate moved the weights by {constant}"
    );
    assert!(
        decayed < 1e-6,
        "decayed rate moved the weights by {decayed}"
    );
}
