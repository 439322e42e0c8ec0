//! Checkpoint round trip and refusal of bad checkpoints.

use agents::checkpoint::{self, CheckpointMeta};
use agents::dqn::{Dqn, DqnConfig, DqnPolicy};
use candle_core::Device;
use perception::{EncoderKind, FrameLayout, ObsSpec};
use sim::{ActionScores, Obs, Policy};
use std::path::Path;

fn cfg(dueling: bool) -> DqnConfig {
    DqnConfig {
        encoder: EncoderKind::Small,
        dueling,
        ..DqnConfig::default()
    }
}

const OBS: ObsSpec = ObsSpec::Frames {
    channels: 2,
    height: 42,
    width: 42,
    layout: FrameLayout::Chw,
};

fn meta(dqn: &DqnConfig) -> CheckpointMeta {
    CheckpointMeta {
        format: checkpoint::FORMAT_VERSION,
        agent: "dqn".into(),
        env_id: "Toy-v0".into(),
        env_options: serde_json::json!({}),
        env_atari: None,
        obs_shape: vec![2, 42, 42],
        obs_dtype: "u8".into(),
        n_actions: 3,
        dqn: dqn.clone(),
        a3c: None,
        action_bounds: None,
        step: 1234,
        updates: 56,
        eval_return: Some(1.5),
        git_hash: checkpoint::git_hash(),
        created_unix_secs: checkpoint::now_unix_secs(),
        weights_fnv1a64: String::new(),
        train_config: None,
    }
}

fn frames(seed: u8) -> Vec<u8> {
    (0..2 * 42 * 42)
        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
        .collect()
}

fn saved(dir: &Path, dueling: bool) -> (Dqn, std::path::PathBuf) {
    let c = cfg(dueling);
    let dqn = Dqn::new(c.clone(), OBS, 3, &Device::Cpu).unwrap();
    let path = dir.join("last.safetensors");
    dqn.save(&path, &meta(&c)).unwrap();
    (dqn, path)
}

#[test]
fn save_then_load_gives_identical_q_values() {
    for dueling in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (dqn, path) = saved(dir.path(), dueling);
        let obs = frames(7);
        let want = dqn
            .q_values(Obs::U8(&obs), 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();

        let mut policy = DqnPolicy::load(&path, &Device::Cpu, Some("Toy-v0"), 0.0, 0).unwrap();
        policy.act(Obs::U8(&obs)).unwrap();
        let Some(ActionScores::QValues(got)) = policy.scores() else {
            panic!("no q-values")
        };
        assert_eq!(
            got,
            &want[..],
            "bit-identical Q-values after the round trip"
        );

        // A fresh learner loading the weights agrees too, and the metadata survives.
        let mut other = Dqn::new(cfg(dueling), OBS, 3, &Device::Cpu).unwrap();
        let m = other.load_weights(&path).unwrap();
        assert_eq!((m.step, m.updates, m.env_id.as_str()), (1234, 56, "Toy-v0"));
        let again = other
            .q_values(Obs::U8(&obs), 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(again, want);
        // The human-readable copy is there, and no temporary file is left behind.
        assert!(dir.path().join("last.json").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}

#[test]
fn truncated_corrupt_and_mismatched_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = saved(dir.path(), false);
    let bytes = std::fs::read(&path).unwrap();
    let msg =
        |r: Result<DqnPolicy, agents::AgentError>| r.err().expect("must be refused").to_string();

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let m = msg(DqnPolicy::load(&truncated, &Device::Cpu, None, 0.0, 0));
    assert!(
        m.contains("truncated") && m.contains("truncated.safetensors"),
        "{m}"
    );

    let flipped = dir.path().join("flipped.safetensors");
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 10] ^= 0xff;
    std::fs::write(&flipped, &b).unwrap();
    let m = msg(DqnPolicy::load(&flipped, &Device::Cpu, None, 0.0, 0));
    assert!(m.contains("corrupt"), "{m}");

    let m = msg(DqnPolicy::load(
        &path,
        &Device::Cpu,
        Some("Pong-v0"),
        0.0,
        0,
    ));
    assert!(m.contains("Toy-v0") && m.contains("Pong-v0"), "{m}");

    // Weights of a plain head into a dueling network: tensors missing.
    let mut dueling = Dqn::new(cfg(true), OBS, 3, &Device::Cpu).unwrap();
    let m = dueling.load_weights(&path).unwrap_err().to_string();
    assert!(m.contains("head.advantage"), "{m}");
    // Different number of actions: wrong shape, named.
    let mut wide = Dqn::new(cfg(false), OBS, 5, &Device::Cpu).unwrap();
    let m = wide.load_weights(&path).unwrap_err().to_string();
    assert!(
        m.contains("head.") && m.contains("shape") && m.contains("[3]"),
        "{m}"
    );

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint").unwrap();
    assert!(
        msg(DqnPolicy::load(&garbage, &Device::Cpu, None, 0.0, 0)).contains("not a safetensors")
    );
    let missing = dir.path().join("missing.safetensors");
    assert!(
        msg(DqnPolicy::load(&missing, &Device::Cpu, None, 0.0, 0)).contains("missing.safetensors")
    );
}

/// Full learner state (online, target, optimizer moments, update count) survives
/// save_full -> load_full: the resumed learner's next update is bit-identical to the
/// original's.
#[test]
fn resumed_learner_continues_bit_identically() {
    use agents::replay::{Batch, ReplayBuffer, ReplayConfig};
    use rand::{Rng, SeedableRng};
    for opt in [
        agents::optim::OptimizerConfig::ADAM,
        agents::optim::OptimizerConfig::NATURE_RMSPROP,
    ] {
        let c = DqnConfig {
            encoder: EncoderKind::Mlp,
            mlp_hidden: vec![16],
            optimizer: opt,
            learning_rate: 0.01,
            target_update_every: 3,
            tau: 0.5,
            double_dqn: true,
            batch_size: 8,
            ..DqnConfig::default()
        };
        let obs = ObsSpec::Vector { dim: 3 };
        let mut replay = ReplayBuffer::<f32>::new(ReplayConfig {
            capacity: 200,
            stack: 1,
            plane_len: 3,
            num_envs: 1,
            gamma: 0.9,
            n_step: 2,
        })
        .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        replay.start_episode(0, Obs::F32(&[0.0; 3])).unwrap();
        for t in 0..150 {
            let v: [f32; 3] = [rng.random(), rng.random(), rng.random()];
            replay
                .push(0, t % 3, v[0], t % 20 == 19, false, Obs::F32(&v))
                .unwrap();
            if t % 20 == 19 {
                replay.start_episode(0, Obs::F32(&[0.0; 3])).unwrap();
            }
        }
        let mut batch = Batch::new(8, 3);
        let mut a = Dqn::new_seeded(c.clone(), obs, 3, &Device::Cpu, 1).unwrap();
        for _ in 0..7 {
            replay.sample(&mut rng, &mut batch).unwrap();
            a.train_step(&batch).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let mut m = meta(&c);
        m.obs_shape = vec![3];
        m.obs_dtype = "f32".into();
        a.save_full(&path, &m).unwrap();

        // A learner with different initial weights, restored from the file.
        let mut b = Dqn::new_seeded(c.clone(), obs, 3, &Device::Cpu, 99).unwrap();
        let restored = b.load_full(&path).unwrap();
        assert_eq!((restored.updates, b.updates()), (7, 7));
        // Two more updates on identical batches (the second crosses a Polyak update).
        for _ in 0..2 {
            replay.sample(&mut rng, &mut batch).unwrap();
            let sa = a.train_step(&batch).unwrap();
            let sb = b.train_step(&batch).unwrap();
            assert_eq!(sa.loss, sb.loss);
        }
        let probe = [0.3f32, -0.2, 0.9, 0.1, 0.5, 0.7];
        let qa = a
            .q_values(Obs::F32(&probe), 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let qb = b
            .q_values(Obs::F32(&probe), 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(qa, qb, "{opt:?}");
        // A policy can still load the file (training state is skipped).
        DqnPolicy::load(&path, &Device::Cpu, None, 0.0, 0).unwrap();
        // A weights-only checkpoint cannot be resumed from, and says why.
        let plain = dir.path().join("plain.safetensors");
        a.save(&plain, &m).unwrap();
        let err = b.load_full(&plain).unwrap_err().to_string();
        assert!(err.contains("training state"), "{err}");
    }
}
