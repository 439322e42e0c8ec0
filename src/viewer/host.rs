//! The simulation the viewer shows, kept outside bevy: one env, who chooses its actions
//! (a policy, the keyboard, or a recorded episode), and what the HUD reports. bevy systems
//! call [`Host::tick`] at the sim's rate and only read the state back, so the window shows
//! exactly what a headless run of the same seed and actions computes.

use anyhow::{Result, bail};
use sim::drive::DriveEnv;
use sim::drive::scene::Scene;
use sim::scenario::ScenarioEnv;
use sim::wrappers::{EpisodeRecord, obs_hash};
use sim::{ActionScores, Env, Info, Obs, OwnedAction, Policy, Space};

/// The env, concrete for the driving envs so the viewer can read their scene and physics.
pub enum EnvHandle {
    Drive(Box<DriveEnv>),
    /// A scenario file's run (`watch --scenario`): the driving env plus its scripted actors,
    /// events and criteria.
    Scenario(Box<ScenarioEnv>),
    Other(Box<dyn Env>),
}

impl EnvHandle {
    /// Build `id`: the driving envs as [`DriveEnv`] (the same builder `sim::make` uses),
    /// anything else through `build`.
    pub fn new(
        id: &str,
        options: &sim::EnvConfig,
        build: impl FnOnce() -> Result<Box<dyn Env>>,
    ) -> Result<EnvHandle> {
        let drive_id = [sim::drive::DRIVE_ID, sim::drive::MAP_ID]
            .into_iter()
            .find(|d| *d == id);
        Ok(match drive_id {
            Some(d) => EnvHandle::Drive(Box::new(DriveEnv::new(d, options)?)),
            None => EnvHandle::Other(build()?),
        })
    }

    /// The env as the `Env` trait.
    pub fn env(&mut self) -> &mut dyn Env {
        match self {
            EnvHandle::Drive(e) => e.as_mut(),
            EnvHandle::Scenario(e) => e.as_mut(),
            EnvHandle::Other(e) => e.as_mut(),
        }
    }

    /// The env as the `Env` trait, read-only.
    pub fn env_ref(&self) -> &dyn Env {
        match self {
            EnvHandle::Drive(e) => e.as_ref(),
            EnvHandle::Scenario(e) => e.as_ref(),
            EnvHandle::Other(e) => e.as_ref(),
        }
    }

    /// The driving env, when it is one.
    pub fn drive(&self) -> Option<&DriveEnv> {
        match self {
            EnvHandle::Drive(e) => Some(e.as_ref()),
            EnvHandle::Scenario(e) => Some(e.drive()),
            EnvHandle::Other(_) => None,
        }
    }

    /// The scenario run, when watching one.
    pub fn scenario(&self) -> Option<&ScenarioEnv> {
        match self {
            EnvHandle::Scenario(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// The scene the CPU camera draws (driving envs, after the first reset).
    pub fn scene(&self) -> Option<&Scene> {
        self.drive().and_then(|d| d.scene())
    }
}

/// Keys a person holds, as the keyboard policy reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys {
    pub left: bool,
    pub right: bool,
    pub up: bool,
    pub down: bool,
    pub fire: bool,
}

/// The discrete action of `meanings` a person means by `keys`, for the arcade and driving
/// grids. Names follow ALE (`RIGHTFIRE`) and the driving grid (`LEFT_GAS`); when the wanted
/// combination does not exist the closest simpler one is used, then `NOOP`, then `fallback`.
pub fn keyboard_discrete(meanings: &[&str], keys: Keys, fallback: usize) -> usize {
    let find = |name: &str| meanings.iter().position(|m| *m == name);
    let pick = |steer: Option<bool>, pedal: Option<bool>| match (steer, pedal) {
        // steer: Some(true) = left; pedal: Some(true) = gas.
        (None, None) => "NOOP",
        (None, Some(true)) => "GAS",
        (None, Some(false)) => "BRAKE",
        (Some(true), None) => "LEFT",
        (Some(false), None) => "RIGHT",
        (Some(true), Some(true)) => "LEFT_GAS",
        (Some(true), Some(false)) => "LEFT_BRAKE",
        (Some(false), Some(true)) => "RIGHT_GAS",
        (Some(false), Some(false)) => "RIGHT_BRAKE",
    };
    let axis = |a: bool, b: bool| match (a, b) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let mut wanted: [&str; 4] = ["NOOP"; 4];
    if meanings.contains(&"LEFT_GAS") {
        wanted[0] = pick(axis(keys.left, keys.right), axis(keys.up, keys.down));
    } else {
        // Arcade paddles: up/right move one way, down/left the other (Pong's RIGHT is up).
        let dir = axis(keys.up || keys.right, keys.down || keys.left);
        let name = |d: Option<bool>| match d {
            Some(true) => "RIGHT",
            Some(false) => "LEFT",
            None => "NOOP",
        };
        wanted = match (keys.fire, dir) {
            (true, Some(true)) => ["RIGHTFIRE", "FIRE", "RIGHT", "NOOP"],
            (true, Some(false)) => ["LEFTFIRE", "FIRE", "LEFT", "NOOP"],
            (true, None) => ["FIRE", "NOOP", "NOOP", "NOOP"],
            (false, d) => [name(d), "NOOP", "NOOP", "NOOP"],
        };
    }
    wanted
        .iter()
        .find_map(|w| find(w))
        .unwrap_or(fallback.min(meanings.len().saturating_sub(1)))
}

/// Who picks the actions.
pub enum Driver {
    Policy(Box<dyn Policy>),
    Keyboard,
    /// A recorded episode, played back and checked step by step.
    Replay(Box<ReplayCursor>),
}

/// Where a replay is, and what it found.
pub struct ReplayCursor {
    record: EpisodeRecord,
    episode: usize,
    step: usize,
    /// Steps checked so far, over all episodes.
    pub checked: u64,
    /// The first difference from the record, as a sentence.
    pub mismatch: Option<String>,
    /// Every recorded episode has been played.
    pub finished: bool,
}

impl ReplayCursor {
    /// Refuse a record this build cannot replay (unknown or changed env, other options, other
    /// format), with the reason, by replaying it headless once before the window opens.
    pub fn new(record: EpisodeRecord) -> Result<ReplayCursor> {
        if record.episodes.is_empty() {
            bail!(
                "the episode record of `{}` holds no episodes",
                record.env_id
            );
        }
        let report = sim::wrappers::replay(&record).map_err(|e| {
            anyhow::anyhow!(
                "cannot replay this record with this build: {e} (it was recorded with another \
                 version or configuration of `{}`)",
                record.env_id
            )
        })?;
        if let Some(m) = &report.mismatch {
            bail!(
                "refusing the replay: this build of `{}` does not reproduce it ({m}); it was \
                 recorded with another version or configuration of the env",
                record.env_id
            );
        }
        Ok(ReplayCursor {
            record,
            episode: 0,
            step: 0,
            checked: 0,
            mismatch: None,
            finished: false,
        })
    }

    /// The record being played.
    pub fn record(&self) -> &EpisodeRecord {
        &self.record
    }
}

/// What the HUD shows about the last step (updated in place, no allocation per step).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// 1-based episode number.
    pub episode: u64,
    /// Agent steps in this episode.
    pub step: u64,
    pub last_reward: f32,
    pub episode_return: f64,
    /// The action of the last step.
    pub action: Option<OwnedAction>,
    /// The policy's scores behind `action` (Q-values or probabilities).
    pub scores: Vec<f32>,
    /// True when `scores` are probabilities, false for Q-values.
    pub scores_are_probs: bool,
    /// The last episode ended (`terminated`, `truncated` or the env's reason).
    pub last_end: Option<&'static str>,
    /// Return of the last finished episode.
    pub last_return: Option<f64>,
    /// The last scenario run's verdict line (`watch --scenario`).
    pub scenario_result: Option<String>,
    pub info: Info,
    /// Total agent steps since start.
    pub total_steps: u64,
}

/// The env, its driver and the HUD stats.
pub struct Host {
    pub env: EnvHandle,
    pub driver: Driver,
    /// Seed of the first episode (later ones continue the env's stream, as `play` does).
    pub seed: u64,
    pub stats: Stats,
    /// Keys held, for [`Driver::Keyboard`].
    pub keys: Keys,
    /// Width and height of the env's `render()` frame (non-driving envs; the driving view
    /// is drawn from the scene instead).
    pub frame_dims: (usize, usize),
    next_action: OwnedAction,
    /// Scores behind `next_action`, moved into `stats.scores` when it is taken.
    pending_scores: Vec<f32>,
    needs_reset: bool,
    continuous: Option<(Vec<f32>, Vec<f32>)>,
}

impl Host {
    /// A host that resets `env` with `seed` on the first tick.
    pub fn new(env: EnvHandle, driver: Driver, seed: u64) -> Result<Host> {
        let space = env.env_ref().action_space().clone();
        let (next_action, continuous) = match &space {
            Space::Discrete { .. } => (OwnedAction::Discrete(0), None),
            Space::Box { low, high, .. } => (
                OwnedAction::Continuous(low.iter().map(|l| l.max(0.0)).collect()),
                Some((low.clone(), high.clone())),
            ),
        };
        if let Driver::Replay(r) = &driver
            && r.record.env_id != env.env_ref().id()
        {
            bail!(
                "the replay was recorded on `{}`, not `{}`",
                r.record.env_id,
                env.env_ref().id()
            );
        }
        let mut host = Host {
            env,
            driver,
            seed,
            stats: Stats::default(),
            keys: Keys::default(),
            frame_dims: (0, 0),
            next_action,
            pending_scores: Vec::new(),
            needs_reset: true,
            continuous,
        };
        host.reset()?;
        if let EnvHandle::Other(e) = &mut host.env {
            let f = e.render();
            host.frame_dims = (f.width, f.height);
        }
        Ok(host)
    }

    /// Name of who acts, for the HUD.
    pub fn driver_name(&self) -> &str {
        match &self.driver {
            Driver::Policy(p) => p.name(),
            Driver::Keyboard => "keyboard",
            Driver::Replay(_) => "replay",
        }
    }

    /// The replay, when playing one.
    pub fn replay(&self) -> Option<&ReplayCursor> {
        match &self.driver {
            Driver::Replay(r) => Some(r),
            _ => None,
        }
    }

    /// Nothing more to play: the replay ended or diverged.
    pub fn halted(&self) -> bool {
        self.replay()
            .is_some_and(|r| r.finished || r.mismatch.is_some())
    }

    /// Start a new episode: the first with `seed`, later ones continue the stream (a replay
    /// uses the recorded seeds).
    pub fn reset(&mut self) -> Result<()> {
        let seed = match &mut self.driver {
            Driver::Replay(r) => {
                if self.stats.episode > 0 {
                    r.episode += 1;
                    r.step = 0;
                }
                if r.episode >= r.record.episodes.len() {
                    r.finished = true;
                    return Ok(());
                }
                r.record.episodes[r.episode].seed
            }
            _ => (self.stats.episode == 0).then_some(self.seed),
        };
        let (obs, info) = self.env.env().reset(seed)?;
        if let Driver::Replay(r) = &mut self.driver {
            let want = r.record.episodes[r.episode].reset_obs_hash;
            let got = obs_hash(obs);
            if want != got {
                r.mismatch = Some(format!(
                    "episode {}, reset: observation hash {want:016x} recorded, {got:016x} replayed",
                    r.episode
                ));
            }
        }
        self.stats.episode += 1;
        self.stats.step = 0;
        self.stats.last_reward = 0.0;
        self.stats.episode_return = 0.0;
        self.stats.info = info;
        self.needs_reset = false;
        if let Driver::Policy(p) = &mut self.driver {
            p.reset();
        }
        self.choose()?;
        Ok(())
    }

    /// Pick the next action from the current observation (policies), the keys, or the record.
    fn choose(&mut self) -> Result<()> {
        match &mut self.driver {
            Driver::Policy(p) => {
                let obs: Obs<'_> = self.env.env_ref().obs();
                self.next_action = p.act(obs)?;
                self.pending_scores.clear();
                match p.scores() {
                    Some(ActionScores::QValues(q)) => {
                        self.pending_scores.extend_from_slice(q);
                        self.stats.scores_are_probs = false;
                    }
                    Some(ActionScores::Probabilities(pr)) => {
                        self.pending_scores.extend_from_slice(pr);
                        self.stats.scores_are_probs = true;
                    }
                    None => {}
                }
            }
            Driver::Keyboard => {} // read at step time, from the keys held then
            Driver::Replay(r) => {
                if let Some(ep) = r.record.episodes.get(r.episode)
                    && let Some(a) = ep.actions.get(r.step)
                {
                    self.next_action = match a {
                        sim::wrappers::RecordedAction::Discrete(a) => OwnedAction::Discrete(*a),
                        sim::wrappers::RecordedAction::Continuous(v) => {
                            OwnedAction::Continuous(v.clone())
                        }
                    };
                }
            }
        }
        Ok(())
    }

    fn keyboard_action(&mut self) {
        let keys = self.keys;
        match (&mut self.next_action, &self.continuous) {
            (OwnedAction::Discrete(a), _) => {
                if let Some(m) = self.env.env_ref().action_meanings() {
                    *a = keyboard_discrete(m, keys, 0) as i64;
                }
            }
            (OwnedAction::Continuous(v), Some((low, high))) => {
                // Driving's continuous actions: [steer (+ left), throttle, brake].
                let target = [
                    (keys.left as i32 - keys.right as i32) as f32,
                    keys.up as i32 as f32,
                    keys.down as i32 as f32,
                ];
                for (i, x) in v.iter_mut().enumerate() {
                    *x = target.get(i).copied().unwrap_or(0.0).clamp(low[i], high[i]);
                }
            }
            (OwnedAction::Continuous(_), None) => {}
        }
    }

    /// One agent step (a reset first if the last episode ended). Returns false when there is
    /// nothing more to play (a replay that ended or diverged).
    pub fn tick(&mut self) -> Result<bool> {
        if self.halted() {
            return Ok(false);
        }
        if self.needs_reset {
            self.reset()?;
            if self.halted() {
                return Ok(false);
            }
        }
        if matches!(self.driver, Driver::Keyboard) {
            self.keyboard_action();
        }
        let step = self.env.env().step(self.next_action.as_action())?;
        let (reward, terminated, truncated, info) =
            (step.reward, step.terminated, step.truncated, step.info);
        let hash = matches!(self.driver, Driver::Replay(_)).then(|| obs_hash(step.obs));
        self.stats.step += 1;
        self.stats.total_steps += 1;
        self.stats.last_reward = reward;
        self.stats.episode_return += reward as f64;
        self.stats.info = info;
        match (&mut self.stats.action, &self.next_action) {
            (Some(OwnedAction::Continuous(dst)), OwnedAction::Continuous(src)) => {
                dst.clear();
                dst.extend_from_slice(src);
            }
            (dst, src) => *dst = Some(src.clone()),
        }
        std::mem::swap(&mut self.stats.scores, &mut self.pending_scores);
        let mut record_ended = false;
        if let (Driver::Replay(r), Some(hash)) = (&mut self.driver, hash) {
            check_replay_step(r, reward, terminated, truncated, hash);
            r.step += 1;
            r.checked += 1;
            // An episode cut short by the recorder's caller (`play --max-steps`) ends here.
            record_ended = r
                .record
                .episodes
                .get(r.episode)
                .is_none_or(|ep| r.step >= ep.len());
        }
        if record_ended && !(terminated || truncated) {
            self.stats.last_end = Some("end of the recorded episode");
            self.stats.last_return = Some(self.stats.episode_return);
            self.needs_reset = true;
        } else if terminated || truncated {
            self.stats.last_end = Some(info.end_reason.unwrap_or(if terminated {
                "terminated"
            } else {
                "truncated"
            }));
            self.stats.last_return = Some(self.stats.episode_return);
            self.needs_reset = true;
            if let Some(outcome) = self.env.scenario().and_then(|e| e.outcome()) {
                let line = format!(
                    "scenario `{}` run {}: {}",
                    self.env.scenario().map_or("", |e| &e.scenario().spec.name),
                    self.stats.episode,
                    outcome.summary()
                );
                eprintln!("{line}");
                self.stats.scenario_result = Some(line);
            }
        } else {
            self.choose()?;
        }
        Ok(true)
    }
}

/// Compare one replayed step with the record; the first difference is kept.
fn check_replay_step(
    r: &mut ReplayCursor,
    reward: f32,
    terminated: bool,
    truncated: bool,
    hash: u64,
) {
    if r.mismatch.is_some() {
        return;
    }
    let Some(ep) = r.record.episodes.get(r.episode) else {
        r.mismatch = Some(format!("episode {}: more steps than recorded", r.episode));
        return;
    };
    let j = r.step;
    if j >= ep.len() {
        r.mismatch = Some(format!(
            "episode {}, step {}: the record ended but the env did not",
            r.episode,
            j + 1
        ));
        return;
    }
    let what = if reward.to_bits() != ep.rewards[j].to_bits() {
        Some(("reward", ep.rewards[j].to_string(), reward.to_string()))
    } else if terminated != ep.terminated[j] {
        Some((
            "terminated",
            ep.terminated[j].to_string(),
            terminated.to_string(),
        ))
    } else if truncated != ep.truncated[j] {
        Some((
            "truncated",
            ep.truncated[j].to_string(),
            truncated.to_string(),
        ))
    } else if hash != ep.obs_hashes[j] {
        Some((
            "observation",
            format!("{:016x}", ep.obs_hashes[j]),
            format!("{hash:016x}"),
        ))
    } else {
        None
    };
    if let Some((field, want, got)) = what {
        r.mismatch = Some(format!(
            "episode {}, step {}: {field} recorded {want}, replayed {got}",
            r.episode,
            j + 1
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::wrappers::RecordEpisode;

    const DRIVE: &[&str] = sim::drive::env::ACTION_MEANINGS;
    const PONG: &[&str] = &["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"];

    #[test]
    fn keyboard_maps_to_the_driving_grid() {
        let k = |left, right, up, down| Keys {
            left,
            right,
            up,
            down,
            fire: false,
        };
        let name = |keys| DRIVE[keyboard_discrete(DRIVE, keys, 0)];
        assert_eq!(name(k(false, false, false, false)), "NOOP");
        assert_eq!(name(k(true, false, true, false)), "LEFT_GAS");
        assert_eq!(name(k(false, true, false, true)), "RIGHT_BRAKE");
        assert_eq!(name(k(false, false, true, false)), "GAS");
        assert_eq!(name(k(true, true, false, false)), "NOOP");
    }

    #[test]
    fn keyboard_maps_to_ale_names_with_fallbacks() {
        let keys = Keys {
            up: true,
            fire: true,
            ..Keys::default()
        };
        assert_eq!(PONG[keyboard_discrete(PONG, keys, 0)], "RIGHTFIRE");
        // Breakout has no RIGHTFIRE: FIRE comes first among the fallbacks.
        let breakout = &["NOOP", "FIRE", "RIGHT", "LEFT"];
        assert_eq!(breakout[keyboard_discrete(breakout, keys, 0)], "FIRE");
        let left = Keys {
            left: true,
            ..Keys::default()
        };
        assert_eq!(breakout[keyboard_discrete(breakout, left, 0)], "LEFT");
        // CartPole has no NOOP: nothing held keeps the fallback.
        let cart = &["LEFT", "RIGHT"];
        assert_eq!(keyboard_discrete(cart, Keys::default(), 1), 1);
    }

    fn record_catch(seed: u64, steps: usize) -> EpisodeRecord {
        let opts = sim::EnvConfig::new();
        let mut env = RecordEpisode::new(sim::make("Catch-v0", &opts).unwrap(), opts);
        env.reset(Some(seed)).unwrap();
        for i in 0..steps {
            if env
                .step(sim::Action::Discrete((i % 3) as i64))
                .unwrap()
                .done()
            {
                env.reset(None).unwrap();
            }
        }
        env.into_record()
    }

    fn host_for(record: EpisodeRecord) -> Result<Host> {
        // As `watch --replay` does: check the record first, then build its env.
        let cursor = ReplayCursor::new(record)?;
        let rec = cursor.record();
        let env = EnvHandle::new(&rec.env_id, &rec.options, || {
            Ok(sim::make(&rec.env_id, &rec.options)?)
        })?;
        Host::new(env, Driver::Replay(Box::new(cursor)), 0)
    }

    #[test]
    fn replay_plays_the_record_to_the_end_without_mismatch() {
        let record = record_catch(7, 40);
        let total: usize = record.episodes.iter().map(|e| e.len()).sum();
        let mut host = host_for(record).unwrap();
        let mut ticks = 0;
        while host.tick().unwrap() {
            ticks += 1;
            assert!(ticks <= total, "the replay ran past the record");
        }
        let r = host.replay().unwrap();
        assert_eq!(r.mismatch, None);
        assert!(r.finished);
        assert_eq!(r.checked as usize, total);
    }

    #[test]
    fn a_tampered_record_is_refused_with_the_step() {
        let mut record = record_catch(3, 12);
        let j = record.episodes[0].len() - 1;
        record.episodes[0].rewards[j] += 1.0;
        let err = host_for(record).err().unwrap().to_string();
        assert!(
            err.contains("refusing the replay") && err.contains("reward"),
            "{err}"
        );
    }

    #[test]
    fn a_record_of_other_options_is_refused() {
        let mut record = record_catch(3, 5);
        record
            .options
            .insert("no_such_option".into(), toml::Value::Integer(1));
        let err = host_for(record).err().unwrap().to_string();
        assert!(
            err.contains("cannot replay") && err.contains("no_such_option"),
            "{err}"
        );
    }

    #[test]
    fn a_divergence_while_playing_is_reported_not_hidden() {
        let record = record_catch(11, 30);
        let mut host = host_for(record).unwrap();
        // Corrupt the copy being played after the pre-check passed.
        if let Driver::Replay(r) = &mut host.driver {
            r.record.episodes[0].obs_hashes[2] ^= 1;
        }
        while host.tick().unwrap() {}
        let m = host.replay().unwrap().mismatch.clone().unwrap();
        assert!(m.contains("step 3") && m.contains("observation"), "{m}");
    }

    #[test]
    fn policy_driver_steps_like_play_with_the_same_seed() {
        let opts = sim::EnvConfig::new();
        let env = EnvHandle::new("Catch-v0", &opts, || Ok(sim::make("Catch-v0", &opts)?)).unwrap();
        let policy = sim::make_scripted("Catch-v0", &opts).unwrap();
        let mut host = Host::new(env, Driver::Policy(policy), 5).unwrap();
        // Same thing by hand.
        let mut env2 = sim::make("Catch-v0", &opts).unwrap();
        let mut p2 = sim::make_scripted("Catch-v0", &opts).unwrap();
        let (obs, _) = env2.reset(Some(5)).unwrap();
        let mut a = p2.act(obs).unwrap();
        let mut ret = 0.0;
        loop {
            let s = env2.step(a.as_action()).unwrap();
            ret += s.reward as f64;
            if s.done() {
                break;
            }
            a = p2.act(s.obs).unwrap();
        }
        while host.stats.last_return.is_none() {
            host.tick().unwrap();
        }
        assert_eq!(host.stats.last_return, Some(ret));
    }
}
