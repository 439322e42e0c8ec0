//! Scripted scenarios that grade a driving policy, in the manner of CARLA's ScenarioRunner:
//! a TOML file names a map, the ego start, actors with triggered behaviours, a time limit
//! and the criteria that decide the verdict ([`spec`]); a monitor evaluates the criteria
//! every step and closes the run with route completion, infractions and a driving score
//! ([`criteria`]).

pub mod criteria;
pub mod runner;
pub mod spec;

pub use criteria::{
    ActorSample, Contact, EgoSample, Infraction, InfractionKind, Monitor, Outcome, RunEnd,
};
pub use runner::{Report, RunOptions, ScenarioEnv, env_setup, run};
pub use spec::{Scenario, ScenarioError, ScenarioSpec, Verdict, collect_files};
