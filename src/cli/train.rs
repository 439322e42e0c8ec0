//! `pixelgym train [--config F]`: train a DQN or A3C agent (the config's `algo`) into a run
//! directory, with a progress bar.
//! Without `--config` it trains the embedded default (`configs/catch_dqn.toml`), which
//! shows learning within seconds on one core.

use agents::eval::EvalReport;
use agents::train::{Progress, TrainConfig, TrainStatus, resume, train};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// The config trained when `--config` is not given.
const DEFAULT_CONFIG: &str = include_str!("../../configs/catch_dqn.toml");

#[derive(clap::Args)]
pub struct Args {
    /// Training config (TOML). Default: the embedded configs/catch_dqn.toml.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Run directory for metrics and checkpoints (default: runs/<env>-<seed>-<unix time>).
    #[arg(long, conflicts_with = "resume")]
    run_dir: Option<PathBuf>,
    /// Continue the run in this directory from its last.safetensors (config from its
    /// config.toml unless --config is given, which then replaces it; raise --total-steps to
    /// train longer). The replay buffer comes back from last.replay when the run saved it
    /// with that checkpoint (--save-replay); otherwise it is re-collected.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Override the config's device: cpu, cuda or cuda:N (cuda needs the `cuda` feature).
    #[arg(long)]
    device: Option<String>,
    /// Override the config's total env steps.
    #[arg(long)]
    total_steps: Option<u64>,
    /// Override the config's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Save the replay buffer as RUN_DIR/last.replay when the run reaches its total steps,
    /// for a later --resume (DQN; config field `save_replay`). Large: about 7 GB for a full
    /// 1M buffer of 84x84 frames.
    #[arg(long)]
    save_replay: bool,
    /// Threads for the learner's tensor math (candle/gemm); the envs use `env_threads`.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// No progress bar (log lines only).
    #[arg(long)]
    quiet: bool,
}

/// Set up the process for learner work: candle's CPU kernels on `n` threads (0: one per
/// core) with denormals flushed to zero, and freed tensor buffers kept in the heap. Must run
/// before any tensor work starts.
pub fn set_learner_threads(n: usize) {
    if n > 0 {
        // SAFETY: called at the start of a subcommand, before this process starts any other
        // thread that could read the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    // The kernels' worker threads flush denormals like the learner thread does.
    perception::denormals::init_global_pool(n);
    // A step's tensors reuse the last step's memory instead of page-faulting in anew.
    perception::heap::keep_freed_buffers();
}

/// Draws an indicatif bar from the training loop's progress reports.
struct Bar {
    bar: ProgressBar,
    quiet: bool,
    /// A3C reports no epsilon, and its `q_mean` is the mean value estimate.
    a3c: bool,
}

impl Progress for Bar {
    fn update(&mut self, s: &TrainStatus) {
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
        let msg = if self.a3c {
            format!(
                "{:.0} steps/s (all workers) | {} updates | return {} | loss {} | v {}",
                s.steps_per_sec,
                s.updates,
                fmt(s.recent_return),
                fmt(s.loss.map(f64::from)),
                fmt(s.q_mean.map(f64::from)),
            )
        } else {
            format!(
                "{:.0} steps/s | return {} | eps {:.3} | loss {} | q {}",
                s.steps_per_sec,
                fmt(s.recent_return),
                s.epsilon,
                fmt(s.loss.map(f64::from)),
                fmt(s.q_mean.map(f64::from)),
            )
        };
        self.bar.set_position(s.step);
        if self.quiet {
            eprintln!("step {}/{} | {msg}", s.step, s.total_steps);
        } else {
            self.bar.set_message(msg);
        }
    }

    fn evaluated(&mut self, step: u64, report: &EvalReport) {
        let lap = report.lap_completion_note();
        self.message(&format!(
            "eval @ {step}: mean return {:.3} +- {:.3} over {} episodes{lap}",
            report.mean(),
            report.std(),
            report.returns.len()
        ));
    }

    fn message(&mut self, msg: &str) {
        // A hidden bar (--quiet, or stderr not a terminal) prints nothing, and these lines
        // belong in the log too.
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    set_learner_threads(args.threads);
    let mut cfg = match (&args.config, &args.resume) {
        (Some(path), _) => TrainConfig::load(path)?,
        (None, Some(dir)) => TrainConfig::load(&dir.join("config.toml"))?,
        (None, None) => TrainConfig::from_toml(
            DEFAULT_CONFIG,
            Path::new("<embedded configs/catch_dqn.toml>"),
        )?,
    };
    if let Some(d) = &args.device {
        cfg.device = d.parse()?;
    }
    if let Some(n) = args.total_steps {
        cfg.total_steps = n;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if args.save_replay {
        cfg.save_replay = true;
    }
    cfg.validate()?;
    let run_dir = args
        .resume
        .clone()
        .or(args.run_dir.clone())
        .unwrap_or_else(|| {
            PathBuf::from("runs").join(format!(
                "{}-{}-{}",
                cfg.env.id,
                cfg.seed,
                agents::checkpoint::now_unix_secs()
            ))
        });
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.total_steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    eprintln!(
        "training {} on {} into {}",
        cfg.algo_name(),
        cfg.env.id,
        run_dir.display()
    );
    let mut progress = Bar {
        bar,
        quiet: args.quiet,
        a3c: cfg.algo == agents::train::Algo::A3c,
    };
    let summary = if args.resume.is_some() {
        resume(&run_dir, Some(&cfg), &mut progress)
    } else {
        train(&cfg, &run_dir, &mut progress)
    }
    .with_context(|| format!("training run {}", run_dir.display()))?;
    progress.bar.finish_and_clear();
    println!(
        "done: {} env steps, {} updates, {} episodes in {:.1} s; final eval mean {:.3} +- {:.3}; \
         best {:.3}; checkpoints in {}",
        summary.steps,
        summary.updates,
        summary.episodes,
        summary.wall_secs,
        summary.final_eval.mean(),
        summary.final_eval.std(),
        summary.best_eval.unwrap_or(f64::NAN),
        summary.run_dir.display()
    );
    Ok(())
}
