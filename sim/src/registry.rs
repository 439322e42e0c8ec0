//! The env registry: `make("Pong-v0", &options)`. Ids carry a version suffix that changes
//! whenever dynamics, rewards or observations change, so results stay comparable.

use crate::config::EnvConfig;
use crate::env::Env;
use crate::error::{Result, SimError};
use crate::policy::Policy;

/// Builds an env from its options.
pub type EnvBuilder = fn(&EnvConfig) -> Result<Box<dyn Env>>;
/// Builds the env's scripted (hand-written, non-learning) policy for the same options.
pub type ScriptedBuilder = fn(&EnvConfig) -> Result<Box<dyn Policy>>;

/// One registered environment.
pub struct EnvSpec {
    pub id: &'static str,
    /// One line for `pixelgym envs`.
    pub description: &'static str,
    pub build: EnvBuilder,
    /// A competent scripted policy for demos and tests, if the env has one.
    pub scripted: Option<ScriptedBuilder>,
    /// Env options the scripted policy drives best with (e.g. the driving envs' privileged
    /// `obs = "state"`); [`scripted_defaults`] adds them where the user set nothing.
    pub scripted_options: &'static [(&'static str, &'static str)],
}

/// Every registered env, in the order `pixelgym envs` lists them.
// Each env module adds its own line here.
static SPECS: &[EnvSpec] = &[
    EnvSpec {
        id: crate::arcade::pong::ID,
        description: "Native Atari Pong, ALE v5 conventions: 210x160x3 frames, 6 actions, sticky actions, frameskip 4, game to 21",
        build: crate::arcade::pong::build,
        scripted: Some(crate::arcade::pong::build_scripted),
        scripted_options: &[],
    },
    EnvSpec {
        id: crate::arcade::breakout::ID,
        description: "Native Atari Breakout, ALE v5 conventions: 210x160x3 frames, 4 actions, 5 lives, FIRE to serve, two walls",
        build: crate::arcade::breakout::build,
        scripted: Some(crate::arcade::breakout::build_scripted),
        scripted_options: &[],
    },
    EnvSpec {
        id: crate::classic::cartpole::ID,
        description: "Classic cart-pole balancing, step-for-step Gymnasium's CartPole-v1 (f32 x4 obs, 2 actions, 500-step cap)",
        build: crate::classic::cartpole::build,
        scripted: Some(crate::classic::cartpole::build_scripted),
        scripted_options: &[],
    },
    EnvSpec {
        id: crate::classic::catch::ID,
        description: "bsuite Catch: catch a falling ball with a paddle on a 10x5 u8 board, reward +1/-1 (learns in seconds)",
        build: crate::classic::catch::build,
        scripted: Some(crate::classic::catch::build_scripted),
        scripted_options: &[],
    },
    EnvSpec {
        id: crate::drive::DRIVE_ID,
        description: "3D driving on a new procedural circuit per seed: rapier vehicle physics at 60 Hz, 84x84 RGB chase camera, 9 actions, option npcs = N for IDM traffic",
        build: crate::drive::env::build_drive,
        scripted: Some(crate::drive::driver::build_scripted_drive),
        scripted_options: &[("obs", "state")],
    },
    EnvSpec {
        id: crate::drive::MAP_ID,
        description: "3D driving on a fixed road map (option map = straight | curve | s_bend | intersection | two_way), same physics, camera, actions and traffic options as Drive-v0",
        build: crate::drive::env::build_map,
        scripted: Some(crate::drive::driver::build_scripted_map),
        scripted_options: &[("obs", "state")],
    },
];

/// All registered envs.
pub fn registry() -> &'static [EnvSpec] {
    SPECS
}

/// The spec for `id`, or an error listing the registered ids.
pub fn spec(id: &str) -> Result<&'static EnvSpec> {
    SPECS
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| SimError::UnknownEnv {
            id: id.to_string(),
            known: SPECS.iter().map(|s| s.id).collect::<Vec<_>>().join(", "),
        })
}

/// Build the env registered as `id` with `options` (an empty table gives the defaults).
pub fn make(id: &str, options: &EnvConfig) -> Result<Box<dyn Env>> {
    (spec(id)?.build)(options)
}

/// Add the options `id`'s scripted policy prefers to `options`, where the user set none of
/// them (an explicit choice is kept: the policy then works from what it is given).
pub fn scripted_defaults(id: &str, options: &mut EnvConfig) -> Result<()> {
    for (key, value) in spec(id)?.scripted_options {
        options
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::String(value.to_string()));
    }
    Ok(())
}

/// Build the scripted policy of `id`, or explain that it has none.
pub fn make_scripted(id: &str, options: &EnvConfig) -> Result<Box<dyn Policy>> {
    let spec = spec(id)?;
    let build = spec.scripted.ok_or_else(|| {
        SimError::Invalid(format!(
            "`{id}` has no scripted policy; envs that do: {}",
            SPECS
                .iter()
                .filter(|s| s.scripted.is_some())
                .map(|s| s.id)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    build(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_defaults_fill_only_missing_options() {
        let mut opts = EnvConfig::new();
        scripted_defaults("Drive-v0", &mut opts).unwrap();
        assert_eq!(opts["obs"].as_str(), Some("state"));
        let mut opts = EnvConfig::new();
        opts.insert("obs".into(), toml::Value::String("rgb".into()));
        scripted_defaults("Drive-v0", &mut opts).unwrap();
        assert_eq!(opts["obs"].as_str(), Some("rgb"));
        let mut opts = EnvConfig::new();
        scripted_defaults("Pong-v0", &mut opts).unwrap();
        assert!(opts.is_empty());
    }

    #[test]
    fn unknown_id_lists_known_ids() {
        let err = make("Pongg-v0", &EnvConfig::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("Pongg-v0"), "{err}");
    }
}
