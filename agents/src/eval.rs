//! Evaluation: run a policy for whole episodes on one env and report the returns. Used by
//! the training loop, `pixelgym eval`, and anything else that grades a `sim::Policy`.

use crate::error::{AgentError, Result};
use crate::tensorboard::EventWriter;
use serde::Serialize;
use sim::{Env, Policy};
use std::io::Write;
use std::path::Path;

/// Header of `eval.csv` in a run directory (`lap_completion` is empty for envs without a
/// route, i.e. everything but the driving envs).
pub(crate) const EVAL_CSV_HEADER: &str =
    "step,wall_secs,episodes,mean_return,std_return,min_return,max_return,lap_completion";

/// Returns and lengths of evaluation episodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// Undiscounted return of each episode (sum of the env's rewards).
    pub returns: Vec<f64>,
    /// Agent steps of each episode.
    pub lengths: Vec<u64>,
    /// Fraction of the route (the lap of a circuit) each episode completed, in `[0, 1]`, from
    /// the last step's `info.drive`; empty for envs that report no driving state.
    pub lap_completions: Vec<f64>,
}

impl EvalReport {
    /// Mean return (0 for no episodes).
    pub fn mean(&self) -> f64 {
        mean_of(&self.returns).unwrap_or(0.0)
    }

    /// Mean lap completion in `[0, 1]`, for driving envs (None elsewhere).
    pub fn mean_lap_completion(&self) -> Option<f64> {
        mean_of(&self.lap_completions)
    }

    /// `", lap completion 97.5%"` for driving envs, empty elsewhere: the tail of the one-line
    /// summaries `pixelgym train` and `pixelgym eval` print.
    pub fn lap_completion_note(&self) -> String {
        self.mean_lap_completion()
            .map(|l| format!(", lap completion {:.1}%", 100.0 * l))
            .unwrap_or_default()
    }

    /// Lowest and highest return (infinities for no episodes).
    pub fn min_max(&self) -> (f64, f64) {
        self.returns
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &r| {
                (a.min(r), b.max(r))
            })
    }

    /// Population standard deviation of the returns.
    pub fn std(&self) -> f64 {
        if self.returns.is_empty() {
            return 0.0;
        }
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / self.returns.len() as f64)
            .sqrt()
    }
}

/// Arithmetic mean (None for no values).
fn mean_of(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Play `episodes` full episodes of `policy` on `env`. The first reset gets `seed`, later ones
/// continue the env's stream, so a run is reproducible. Episodes end on termination or
/// truncation (the env's own limits apply).
pub fn evaluate(
    policy: &mut dyn Policy,
    env: &mut dyn Env,
    episodes: usize,
    seed: u64,
) -> Result<EvalReport> {
    let mut report = EvalReport::default();
    for ep in 0..episodes {
        let (obs, _) = env.reset(if ep == 0 { Some(seed) } else { None })?;
        policy.reset();
        let mut action = policy.act(obs)?;
        let (mut ret, mut len) = (0.0f64, 0u64);
        let route = loop {
            let step = env.step(action.as_action())?;
            ret += step.reward as f64;
            len += 1;
            if step.done() {
                break step.info.drive.map(|d| d.route_fraction);
            }
            action = policy.act(step.obs)?;
        };
        report.returns.push(ret);
        report.lengths.push(len);
        if let Some(fraction) = route {
            report
                .lap_completions
                .push(f64::from(fraction).clamp(0.0, 1.0));
        }
    }
    Ok(report)
}

/// Append one periodic evaluation to `eval.csv` (see [`EVAL_CSV_HEADER`]) and to
/// TensorBoard: the one row format both training loops (DQN and A3C) write.
pub(crate) fn log_eval(
    csv: &mut impl Write,
    csv_path: &Path,
    tb: &mut EventWriter,
    step: u64,
    wall_secs: f64,
    report: &EvalReport,
) -> Result<()> {
    let (min, max) = report.min_max();
    let lap = report
        .mean_lap_completion()
        .map(|l| l.to_string())
        .unwrap_or_default();
    writeln!(
        csv,
        "{step},{wall_secs:.3},{},{},{},{min},{max},{lap}",
        report.returns.len(),
        report.mean(),
        report.std()
    )
    .and_then(|_| csv.flush())
    .map_err(|e| AgentError::io(csv_path, e))?;
    tb.scalar("eval/mean_return", step, report.mean())?;
    tb.scalar("eval/std_return", step, report.std())?;
    if let Some(lap) = report.mean_lap_completion() {
        tb.scalar("eval/lap_completion", step, lap)?;
    }
    tb.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::EnvConfig;

    /// Driving envs report how much of the lap each episode completed: all of it for the
    /// scripted reference driver, a small part for random controls; other envs report none.
    #[test]
    fn lap_completion_is_reported_for_driving_envs_only() {
        let mut opts = EnvConfig::new();
        opts.insert("obs".into(), "state".into());
        opts.insert("action_repeat".into(), 4.into());
        let mut env = sim::make("Drive-v0", &opts).unwrap();
        let mut driver = sim::make_scripted("Drive-v0", &opts).unwrap();
        let report = evaluate(driver.as_mut(), env.as_mut(), 2, 3).unwrap();
        assert_eq!(report.lap_completions, vec![1.0, 1.0], "{report:?}");
        assert_eq!(report.mean_lap_completion(), Some(1.0));

        let mut random = sim::RandomPolicy::new(env.action_space().clone(), 5);
        let report = evaluate(&mut random, env.as_mut(), 2, 3).unwrap();
        assert_eq!(report.lap_completions.len(), 2);
        let lap = report.mean_lap_completion().unwrap();
        assert!((0.0..0.5).contains(&lap), "random controls: {report:?}");

        let mut cartpole = sim::make("CartPole-v1", &EnvConfig::new()).unwrap();
        let mut random = sim::RandomPolicy::new(cartpole.action_space().clone(), 5);
        let report = evaluate(&mut random, cartpole.as_mut(), 3, 1).unwrap();
        assert_eq!(report.returns.len(), 3);
        assert!(report.lap_completions.is_empty());
        assert_eq!(report.mean_lap_completion(), None);
    }

    #[test]
    fn eval_row_has_an_empty_lap_column_without_a_route() {
        let dir = tempfile::tempdir().unwrap();
        let mut tb = EventWriter::create(dir.path()).unwrap();
        let mut csv = Vec::new();
        let report = EvalReport {
            returns: vec![1.0, 3.0],
            lengths: vec![10, 20],
            lap_completions: vec![],
        };
        log_eval(&mut csv, dir.path(), &mut tb, 500, 1.5, &report).unwrap();
        let with_lap = EvalReport {
            lap_completions: vec![0.5, 1.0],
            ..report.clone()
        };
        log_eval(&mut csv, dir.path(), &mut tb, 600, 2.0, &with_lap).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(text, "500,1.500,2,2,1,1,3,\n600,2.000,2,2,1,1,3,0.75\n");
        assert_eq!(EVAL_CSV_HEADER.split(',').count(), 8);
    }
}
