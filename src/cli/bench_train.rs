//! `pixelgym bench-train --net nature|small --batch 32`: DQN training steps per second
//! (replay sample + frames to tensors + target forward + online forward + Huber loss on the
//! gathered Q + backward + optimizer step) on 4xNxN frames, on the CPU with a set number of
//! threads. The figure to compare with PyTorch's (benches/peers/torch_bench.py) in
//! docs/BENCHMARKS.md.
//!
//! `--infer` measures acting instead (online forward of `--batch` observations, Q-values read
//! back), `--profile` times each phase of the training step separately, and `--conv` picks
//! the convolution kernels (ours or candle's) so both can be compared in one sitting.

use agents::dqn::{Dqn, DqnConfig, QNet, td_loss, td_target};
use agents::optim::{Optimizer, OptimizerConfig};
use agents::replay::{Batch, ReplayBuffer, ReplayConfig};
use anyhow::Result;
use perception::candle_core::{DType, Module, Tensor};
use perception::candle_nn::{VarBuilder, VarMap};
use perception::conv::{ConvImpl, set_default_conv_impl};
use perception::{DeviceChoice, EncoderKind, FrameLayout, ObsSpec};
use rand::{Rng, SeedableRng};
use sim::Obs;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// Nature-DQN CNN (conv 32/64/64, fc 512).
    Nature,
    /// Small CNN (conv 16/32, fc 256).
    Small,
}

/// Convolution kernels on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Conv {
    /// perception's im2col + gemm kernels with the hand-written backward.
    Fast,
    /// candle's own conv2d and autograd.
    Candle,
}

/// Update rule of the measured step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Optim {
    /// Adam (PyTorch defaults), what benches/peers/torch_bench.py runs.
    Adam,
    /// Centered RMSProp with the Nature settings (the DQN config's default).
    Rmsprop,
}

#[derive(clap::Args)]
pub struct Args {
    /// Encoder to measure.
    #[arg(long, value_enum, default_value = "nature")]
    net: Net,
    /// Transitions per update (observations per forward with --infer).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Frame side (84 as in Atari preprocessing; 42 for the small CNN's fast setting).
    #[arg(long, default_value_t = 84)]
    size: usize,
    /// Measure for about this many seconds (after 3 warm-up updates).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Threads for the tensor math.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Convolution kernels on the CPU (CUDA always runs candle's).
    #[arg(long, value_enum, default_value = "fast")]
    conv: Conv,
    /// Optimizer of the measured step.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: Optim,
    /// Measure acting (forward only, Q-values read back) instead of training.
    #[arg(long, conflicts_with = "profile")]
    infer: bool,
    /// Time each phase of the training step and print the breakdown.
    #[arg(long)]
    profile: bool,
    /// One JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Measurement {
    net: Net,
    mode: &'static str,
    conv: Conv,
    optimizer: Optim,
    batch: usize,
    size: usize,
    threads: usize,
    device: String,
    updates: u64,
    seconds: f64,
    /// Training steps (or forward calls with --infer) per second.
    steps_per_sec: f64,
    /// Observations per second (`steps_per_sec * batch`).
    samples_per_sec: f64,
    /// Resident memory before the measured loop (binary, replay of 4,096 frames, networks).
    baseline_rss_mib: f64,
    /// Peak resident memory during the measured loop.
    peak_rss_mib: f64,
    /// Load average over the last minute when the measurement ended.
    load_avg_1m: f64,
    /// CPU time all threads of this process spent in the measured loop; on a machine shared
    /// with other jobs `updates / cpu_seconds * threads` is less disturbed than wall time.
    cpu_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile_ms: Option<Vec<(&'static str, f64)>>,
}

/// `VmRSS` / `VmHWM` of this process in MiB (0 where /proc is missing).
fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Reset the kernel's peak-RSS counter so `VmHWM` covers only what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time of all threads of this process so far, from the scheduler's statistics.
fn process_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let ns: u64 = dir
        .filter_map(|e| {
            let s = std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok()?;
            s.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    ns as f64 * 1e-9
}

fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

pub fn run(args: Args) -> Result<()> {
    super::train::set_learner_threads(args.threads);
    set_default_conv_impl(match args.conv {
        Conv::Fast => ConvImpl::Fast,
        Conv::Candle => ConvImpl::Candle,
    });
    let device = args.device.device()?;
    let obs = ObsSpec::Frames {
        channels: 4,
        height: args.size,
        width: args.size,
        layout: FrameLayout::Chw,
    };
    let cfg = DqnConfig {
        encoder: match args.net {
            Net::Nature => EncoderKind::Nature,
            Net::Small => EncoderKind::Small,
        },
        batch_size: args.batch,
        optimizer: match args.optimizer {
            Optim::Adam => OptimizerConfig::ADAM,
            Optim::Rmsprop => OptimizerConfig::NATURE_RMSPROP,
        },
        learning_rate: match args.optimizer {
            Optim::Adam => 1e-4,
            Optim::Rmsprop => DqnConfig::default().learning_rate,
        },
        ..DqnConfig::default()
    };
    let mut dqn = Dqn::new_seeded(cfg.clone(), obs, 6, &device, 0)?;

    // A replay of 4,000 noisy frames in episodes of 100 steps.
    let plane = args.size * args.size;
    let mut replay = ReplayBuffer::<u8>::new(ReplayConfig {
        capacity: 4096,
        stack: 4,
        plane_len: plane,
        num_envs: 1,
        gamma: 0.99,
        n_step: 1,
    })?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut stack: Vec<u8> = (0..4 * plane).map(|_| rng.random()).collect();
    for t in 0..4000 {
        if t % 100 == 0 {
            replay.start_episode(0, Obs::U8(&stack))?;
        } else {
            stack.copy_within(plane.., 0);
            rng.fill(&mut stack[3 * plane..]);
            let end = t % 100 == 99;
            replay.push(
                0,
                rng.random_range(0..6),
                rng.random(),
                end,
                false,
                Obs::U8(&stack),
            )?;
        }
    }
    let mut batch = Batch::new(args.batch, 4 * plane);
    let mut profile = None;
    let mode;
    let (updates, seconds, baseline, peak);
    let cpu0;
    if args.infer {
        mode = "infer";
        replay.sample(&mut rng, &mut batch)?;
        let mut q = Vec::new();
        let call = |q: &mut Vec<f32>| -> Result<()> {
            let t = dqn.q_values(Obs::U8(&batch.obs), args.batch)?;
            q.clear();
            q.extend(t.flatten_all()?.to_vec1::<f32>()?);
            Ok(())
        };
        for _ in 0..10 {
            call(&mut q)?;
        }
        baseline = rss_mib("VmRSS");
        reset_peak_rss();
        cpu0 = process_cpu_seconds();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < args.seconds || n < 10 {
            call(&mut q)?;
            n += 1;
        }
        (updates, seconds) = (n, start.elapsed().as_secs_f64());
        peak = rss_mib("VmHWM");
    } else if args.profile {
        mode = "train-profile";
        let mut p = Profiler::new(&cfg, obs, &device)?;
        for _ in 0..3 {
            replay.sample(&mut rng, &mut batch)?;
            p.step(&batch, None)?;
        }
        baseline = rss_mib("VmRSS");
        reset_peak_rss();
        cpu0 = process_cpu_seconds();
        let mut acc = [0f64; PHASES.len()];
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < args.seconds || n < 3 {
            let clock = phase_clock();
            let t0 = clock();
            replay.sample(&mut rng, &mut batch)?;
            acc[0] += clock() - t0;
            p.step(&batch, Some(&mut acc))?;
            n += 1;
        }
        (updates, seconds) = (n, start.elapsed().as_secs_f64());
        peak = rss_mib("VmHWM");
        profile = Some(
            PHASES
                .iter()
                .zip(acc)
                .map(|(name, s)| (*name, 1e3 * s / n as f64))
                .collect(),
        );
    } else {
        mode = "train";
        for _ in 0..3 {
            replay.sample(&mut rng, &mut batch)?;
            dqn.train_step(&batch)?;
        }
        baseline = rss_mib("VmRSS");
        reset_peak_rss();
        cpu0 = process_cpu_seconds();
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < args.seconds || n < 3 {
            replay.sample(&mut rng, &mut batch)?;
            dqn.train_step(&batch)?;
            n += 1;
        }
        (updates, seconds) = (n, start.elapsed().as_secs_f64());
        peak = rss_mib("VmHWM");
    }
    let m = Measurement {
        net: args.net,
        mode,
        conv: args.conv,
        optimizer: args.optimizer,
        batch: args.batch,
        size: args.size,
        threads: args.threads,
        device: args.device.to_string(),
        updates,
        seconds,
        steps_per_sec: updates as f64 / seconds,
        samples_per_sec: (updates * args.batch as u64) as f64 / seconds,
        baseline_rss_mib: baseline,
        peak_rss_mib: peak,
        load_avg_1m: load_avg(),
        cpu_seconds: process_cpu_seconds() - cpu0,
        profile_ms: profile,
    };
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        let what = if args.infer {
            format!(
                "{:.1} forward calls/s ({:.0} samples/s)",
                m.steps_per_sec, m.samples_per_sec
            )
        } else {
            format!("{:.2} training steps/s", m.steps_per_sec)
        };
        println!(
            "{:?} CNN, {} conv, {:?}, batch {}, 4x{}x{}, {} thread(s), {}: {what} ({} in {:.1} s, \
             {:.1} s CPU; peak RSS {:.0} MiB, {:.0} MiB before; load {:.2})",
            m.net,
            match m.conv {
                Conv::Fast => "fast",
                Conv::Candle => "candle",
            },
            m.optimizer,
            m.batch,
            m.size,
            m.size,
            m.threads,
            m.device,
            m.updates,
            m.seconds,
            m.cpu_seconds,
            m.peak_rss_mib,
            m.baseline_rss_mib,
            m.load_avg_1m,
        );
        if let Some(p) = &m.profile_ms {
            let total: f64 = p.iter().map(|(_, ms)| ms).sum();
            for (name, ms) in p {
                println!("  {name:<14} {ms:8.2} ms  {:5.1}%", 100.0 * ms / total);
            }
            println!("  {:<14} {total:8.2} ms", "total");
        }
    }
    Ok(())
}

/// Seconds of CPU time of the whole process (rayon runs the math on its pool's threads, not
/// the caller's) when the math runs on one thread, else wall seconds.
fn phase_clock() -> fn() -> f64 {
    fn wall() -> f64 {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_secs_f64()
    }
    if rayon_threads() == 1 {
        process_cpu_seconds
    } else {
        wall
    }
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Phases of one training step, in order.
const PHASES: [&str; 7] = [
    "replay sample",
    "to tensors",
    "target fwd",
    "online fwd",
    "loss",
    "backward",
    "optimizer",
];

/// The DQN training step of `Dqn::train_step`, rebuilt from the same public pieces (QNet,
/// td_target, td_loss, Optimizer) so each phase can be timed on its own.
struct Profiler {
    obs: ObsSpec,
    device: perception::candle_core::Device,
    online: QNet,
    target: QNet,
    opt: Optimizer,
    loss_kind: agents::dqn::LossKind,
    delta: f64,
}

impl Profiler {
    fn new(
        cfg: &DqnConfig,
        obs: ObsSpec,
        device: &perception::candle_core::Device,
    ) -> Result<Self> {
        let (ov, tv) = (VarMap::new(), VarMap::new());
        let online = QNet::new(
            cfg,
            &obs,
            6,
            VarBuilder::from_varmap(&ov, DType::F32, device),
        )?;
        let target = QNet::new(
            cfg,
            &obs,
            6,
            VarBuilder::from_varmap(&tv, DType::F32, device),
        )?;
        perception::seeded_init(&ov, 0)?;
        perception::seeded_init(&tv, 0)?;
        let mut named: Vec<_> = ov
            .data()
            .lock()
            .expect("var map lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            obs,
            device: device.clone(),
            online,
            target,
            opt: Optimizer::new_named(named, cfg.optimizer, cfg.learning_rate)?,
            loss_kind: cfg.loss,
            delta: cfg.huber_delta,
        })
    }

    /// One step; adds each phase's seconds to `acc[1..]` when given (CPU time of the process
    /// with one learner thread, so other jobs on the machine inflate it less; wall time
    /// otherwise).
    fn step(&mut self, batch: &Batch<u8>, mut acc: Option<&mut [f64; PHASES.len()]>) -> Result<()> {
        let clock = phase_clock();
        let mut t = clock();
        let mut lap = |i: usize| {
            let now = clock();
            if let Some(a) = acc.as_deref_mut() {
                a[i] += now - t;
            }
            t = now;
        };
        let (b, dev) = (batch.size, &self.device);
        let obs = self.obs.to_tensor(Obs::U8(&batch.obs), b, dev)?;
        let next = self.obs.to_tensor(Obs::U8(&batch.next_obs), b, dev)?;
        let actions = Tensor::from_slice(&batch.actions, b, dev)?;
        let returns = Tensor::from_slice(&batch.returns, b, dev)?;
        let discounts = Tensor::from_slice(&batch.discounts, b, dev)?;
        let weights = Tensor::from_slice(&batch.weights, b, dev)?;
        lap(1);
        let y = td_target(
            &self.online,
            &self.target,
            &next,
            &returns,
            &discounts,
            false,
        )?;
        lap(2);
        let q_all = self.online.forward(&obs)?;
        lap(3);
        let (loss, td) = td_loss(&q_all, &actions, &y, &weights, self.loss_kind, self.delta)?;
        let _ = loss.to_scalar::<f32>()?;
        let _ = td.to_vec1::<f32>()?;
        lap(4);
        let grads = loss.backward()?;
        lap(5);
        self.opt.step(&grads, None)?;
        lap(6);
        Ok(())
    }
}
