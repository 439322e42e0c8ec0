//! The shipped scenario suite graded with the scripted reference driver: scenarios it should
//! pass pass, the traps fail for the reason they were built for, runs are deterministic and
//! malformed files are refused before any simulation.

use sim::scenario::{self, InfractionKind, Report, RunOptions, Scenario, ScenarioError, Verdict};
use std::path::{Path, PathBuf};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios")
}

fn run_scripted(sc: &Scenario) -> Report {
    let mut overrides = sim::EnvConfig::new();
    overrides.insert("obs".into(), "state".into());
    let (id, cfg) = scenario::env_setup(sc, &overrides).unwrap();
    let mut policy = sim::make_scripted(id, &cfg).unwrap();
    scenario::run(
        sc,
        policy.as_mut(),
        &overrides,
        RunOptions::default(),
        &mut Vec::new(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", sc.file))
}

fn kinds(r: &Report) -> Vec<InfractionKind> {
    r.outcome.infractions.iter().map(|i| i.kind).collect()
}

#[test]
fn shipped_suite_meets_its_expected_verdicts() {
    let files = scenario::collect_files(&suite_dir()).unwrap();
    assert!(files.len() >= 12, "suite has {} scenarios", files.len());
    let mut wrong = Vec::new();
    let mut reports = Vec::new();
    for f in &files {
        let sc = Scenario::load(f).unwrap();
        let r = run_scripted(&sc);
        if r.outcome.verdict != r.expect {
            wrong.push(format!(
                "{}: got {:?} (failed {:?}, infractions {:?}, route {:.2}), expected {:?}",
                r.scenario,
                r.outcome.verdict,
                r.outcome.failed,
                kinds(&r),
                r.outcome.route_completion,
                r.expect
            ));
        }
        reports.push(r);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let by_name = |n: &str| reports.iter().find(|r| r.scenario == n).unwrap();

    // The traps fail for the reason they were built for.
    let stalled = by_name("stalled_car");
    assert_eq!(
        kinds(stalled),
        vec![InfractionKind::Blocked],
        "stops, no crash"
    );
    let cut_in = by_name("cut_in_aggressive");
    assert!(kinds(cut_in).contains(&InfractionKind::CollisionVehicle));
    assert!((cut_in.outcome.driving_score - cut_in.outcome.route_completion * 0.6).abs() < 1e-5);
    let crossing = by_name("crossing_car_conflict");
    assert!(kinds(crossing).contains(&InfractionKind::CollisionVehicle));
    let speeding = by_name("speed_limit_zone");
    assert!(kinds(speeding).contains(&InfractionKind::SpeedLimit));
    assert_eq!(
        speeding.outcome.route_completion, 1.0,
        "only the limit fails"
    );

    // Passing runs: full route, a perfect score, and the follow scenarios kept their gap.
    for r in reports.iter().filter(|r| r.expect == Verdict::Pass) {
        assert_eq!(r.outcome.route_completion, 1.0, "{}", r.scenario);
        assert_eq!(r.outcome.driving_score, 1.0, "{}", r.scenario);
    }
    let sudden = by_name("sudden_brake");
    assert!(
        sudden.outcome.min_ttc_s.is_some(),
        "the leader's stop was seen"
    );
}

#[test]
fn a_scenario_run_twice_gives_the_identical_report() {
    let sc = Scenario::load(&suite_dir().join("stop_and_go.toml")).unwrap();
    let a = run_scripted(&sc);
    let b = run_scripted(&sc);
    assert_eq!(a, b);
    assert!(a.steps > 100);
}

fn refused(text: &str) -> ScenarioError {
    // Parse errors come from `parse`; world errors (lanes, roads) from the setup, both
    // before a single step is simulated.
    let sc = match Scenario::parse(text, "bad.toml", "bad") {
        Ok(sc) => sc,
        Err(e) => return e,
    };
    let mut overrides = sim::EnvConfig::new();
    overrides.insert("obs".into(), "state".into());
    if let Err(e) = scenario::env_setup(&sc, &overrides) {
        return e;
    }
    let mut policy = sim::RandomPolicy::new(sim::Space::Discrete { n: 9 }, 0);
    match scenario::run(
        &sc,
        &mut policy,
        &overrides,
        RunOptions::default(),
        &mut Vec::new(),
    ) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => e,
    }
}

const BASE: &str = "time_limit_s = 10.0\n[map]\nlayout = \"straight\"\n";

#[test]
fn malformed_files_are_refused_with_file_and_field() {
    let e = refused("time_limit_s = 10.0\n").to_string();
    assert!(e.contains("bad.toml") && e.contains("map"), "{e}");

    let e = refused(&format!(
        "{BASE}[[actors]]\nid = \"a\"\nkind = \"car\"\nlane = 7\ns = 50.0\n"
    ))
    .to_string();
    assert!(e.contains("actors[0].lane") && e.contains("no lane"), "{e}");
    // BASE is 3 lines; `lane = 7` is the 4th line of the actor table.
    assert!(e.starts_with("bad.toml:7: "), "line of `lane = 7`: {e}");

    let e = refused(&format!(
        "{BASE}[[events]]\nactor = \"ghost\"\nwhen = {{ time_s = 1.0 }}\naction = \"stop\"\n"
    ))
    .to_string();
    assert!(e.contains("events[0].actor") && e.contains("ghost"), "{e}");

    let e = refused(&BASE.replace("10.0", "-5.0")).to_string();
    assert!(e.contains("time_limit_s"), "{e}");

    let e = refused(&BASE.replace("straight", "moon")).to_string();
    assert!(
        e.contains("map.layout") && e.contains("intersection"),
        "{e}"
    );

    let e = refused(&format!(
        "{BASE}[[actors]]\nid = \"c\"\nkind = \"car\"\nroad = \"cross\"\ns = 50.0\n"
    ))
    .to_string();
    assert!(e.contains("actors[0].road"), "{e}");

    let e = refused(&format!("{BASE}[ego]\nlane = 5\n")).to_string();
    assert!(e.contains("ego.lane"), "{e}");
}

/// The viewer steps a scenario through `ScenarioEnv` one agent step at a time: that must be
/// the very run `scenario::run` grades (same steps, same outcome), the episode must end
/// where the scenario ends, and a reset must start the same run again.
#[test]
fn scenario_env_steps_the_graded_run() {
    use sim::Env;
    let sc = Scenario::load(&suite_dir().join("cut_in_aggressive.toml")).unwrap();
    let report = run_scripted(&sc);
    let mut overrides = sim::EnvConfig::new();
    overrides.insert("obs".into(), "state".into());
    let (id, cfg) = scenario::env_setup(&sc, &overrides).unwrap();
    let mut env = scenario::ScenarioEnv::start(sc.clone(), &overrides).unwrap();
    let mut rewards = Vec::new();
    for round in 0..2 {
        let mut policy = sim::make_scripted(id, &cfg).unwrap();
        let (obs, _) = env.reset(Some(999)).unwrap();
        let mut action = policy.act(obs).unwrap();
        let mut run_rewards = Vec::new();
        let mut steps = 0u64;
        loop {
            let step = env.step(action.as_action()).unwrap();
            steps += 1;
            run_rewards.push(step.reward.to_bits());
            if step.done() {
                assert!(step.terminated, "a scenario end terminates the episode");
                break;
            }
            action = policy.act(step.obs).unwrap();
        }
        assert_eq!(steps, report.steps, "round {round}");
        assert_eq!(env.steps(), report.steps);
        assert_eq!(env.outcome(), Some(&report.outcome), "round {round}");
        let err = env.step(action.as_action()).unwrap_err().to_string();
        assert!(err.contains("after the scenario ended"), "{err}");
        rewards.push(run_rewards);
    }
    assert_eq!(
        rewards[0], rewards[1],
        "a reset replays the scenario bit for bit"
    );
}
