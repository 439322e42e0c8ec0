//! The `pixelgym` binary as a user runs it: listing envs, playing with a GIF, benchmarking
//! with JSON output, and clear errors on bad input.

use std::process::{Command, Output};

fn pixelgym(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pixelgym"))
        .args(args)
        .output()
        .expect("the pixelgym binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An empty directory `pixelgym-cli-<name>-<pid>` under the system temp dir.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pixelgym-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `dir/name` (a test's config file) and returns its path.
fn write_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn envs_json_lists_every_registered_env_with_its_spaces() {
    let out = pixelgym(&["envs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let registered: Vec<&str> = sim::registry().iter().map(|s| s.id).collect();
    assert_eq!(ids, registered);
    let pong = rows.iter().find(|r| r["id"] == "Pong-v0").unwrap();
    assert_eq!(pong["action_space"], "Discrete(6)");
    assert_eq!(
        pong["observation_space"],
        "Box(0, 255, [210, 160, 3], uint8)"
    );
}

#[test]
fn play_scripted_catch_catches_every_ball_and_writes_a_gif() {
    let dir = fresh_dir("gif");
    let gif = dir.join("catch.gif");
    let out = pixelgym(&[
        "play",
        "Catch-v0",
        "--policy",
        "scripted",
        "--episodes",
        "3",
        "--seed",
        "5",
        "--gif",
        gif.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("return 1.00, length 9 steps").count(),
        3,
        "{text}"
    );
    assert!(text.contains("mean return 1.00"), "{text}");
    let bytes = std::fs::read(&gif).unwrap();
    assert_eq!(&bytes[..6], b"GIF89a");
    // Atomic write: no temp file is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_json_has_the_documented_keys() {
    let out = pixelgym(&[
        "bench",
        "CartPole-v1",
        "--num-envs",
        "1,2",
        "--seconds",
        "0.05",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for (row, n) in rows.iter().zip([1, 2]) {
        assert_eq!(row["env"], "CartPole-v1");
        assert_eq!(row["num_envs"], n);
        assert_eq!(row["preprocess"], "none");
        assert!(row["steps_per_sec"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bad_input_is_a_clear_error_and_a_failing_exit_code() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["play", "Pongg-v0"], &["Pongg-v0", "Pong-v0"]),
        (
            &["play", "Pong-v0", "--option", "frameskp=2"],
            &["frameskp", "frameskip"],
        ),
        (
            &[
                "play",
                "Pong-v0",
                "--option",
                "repeat_action_probability=1.5",
            ],
            &["repeat_action_probability", "[0, 1]"],
        ),
        (
            &[
                "bench",
                "Catch-v0",
                "--preprocess",
                "atari",
                "--seconds",
                "0.05",
            ],
            &["--preprocess atari", "Catch-v0"],
        ),
    ];
    for (args, needles) in cases {
        let out = pixelgym(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        for needle in *needles {
            assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
        }
    }
}

/// `pixelgym train` runs A3C when the config says `algo = "a3c"`, and `eval` loads the A3C
/// checkpoint through the same loader as DQN ones (refusing --epsilon, which is DQN's).
#[test]
fn train_and_eval_an_a3c_config() {
    let dir = fresh_dir("a3c");
    let cfg = write_file(
        &dir,
        "catch_a3c.toml",
        "algo = \"a3c\"\ntotal_steps = 2000\nlog_every = 500\n[env]\nid = \"Catch-v0\"\n\
         [eval]\nepisodes = 5\n[a3c]\nmode = \"sync\"\nworkers = 2\nencoder = \"mlp\"\n\
         mlp_hidden = [16]\n",
    );
    let run = dir.join("run");
    let out = pixelgym(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("training a3c on Catch-v0"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("done: 2000 env steps, 200 updates"),
        "{}",
        stdout(&out)
    );
    // --quiet drops the bar, not the evaluation lines.
    assert!(
        stderr(&out).contains("eval @ 2000: mean return"),
        "{}",
        stderr(&out)
    );
    let best = run.join("best.safetensors");
    let eval = |flags: &[&str]| {
        let mut args = vec!["eval", "--checkpoint", best.to_str().unwrap()];
        args.extend_from_slice(flags);
        pixelgym(&args)
    };
    let out = eval(&["--episodes", "3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["episodes"], 3);
    let out = eval(&["--epsilon", "0.1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("epsilon applies to DQN checkpoints"),
        "{}",
        stderr(&out)
    );
    // Arg-max acting is chosen at evaluation time and said in the report.
    let out = eval(&["--episodes", "2", "--greedy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("(greedy, step"), "{}", stdout(&out));
    // `--option` replaces one of the run's env options; the JSON says what was played.
    let out = eval(&["--episodes", "2", "--option", "rows=10", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["env_options"]["rows"], 10, "{v}");
    // An option the network cannot take (another board width) or that the env does not
    // know is refused before any episode is played.
    let out = eval(&["--option", "columns=7"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("observation shape of Catch-v0 from [10, 5, 1] "),
        "{}",
        stderr(&out)
    );
    let out = eval(&["--option", "colour=1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `train --save-replay` leaves `last.replay` beside the final checkpoint, and `--resume`
/// says that it goes on with it (and, without the file, that it re-collects).
#[test]
fn a_dqn_run_resumes_with_its_saved_replay() {
    let dir = fresh_dir("replay");
    let cfg = write_file(
        &dir,
        "catch.toml",
        "total_steps = 1000\nlog_every = 500\n[env]\nid = \"Catch-v0\"\n[eval]\n\
         episodes = 3\n[dqn]\nencoder = \"mlp\"\nmlp_hidden = [16]\nbuffer_size = 5000\n\
         learning_starts = 200\n",
    );
    let run = dir.join("run");
    let (cfg, run_s) = (cfg.to_str().unwrap(), run.to_str().unwrap());
    let out = pixelgym(&[
        "train",
        "-c",
        cfg,
        "--run-dir",
        run_s,
        "--save-replay",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run.join("last.replay").is_file());
    let resume = |total: &str| {
        pixelgym(&[
            "train",
            "--resume",
            run_s,
            "--total-steps",
            total,
            "--quiet",
        ])
    };
    let out = resume("1500");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("resumed at step 1000 with the replay saved in last.replay"),
        "{}",
        stderr(&out)
    );
    // save_replay stays in the run's config: that resume saved the replay of step 1500.
    let out = resume("1600");
    assert!(
        stderr(&out).contains("resumed at step 1500 with the replay saved in last.replay"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(run.join("last.replay")).unwrap();
    let out = resume("1700");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "resumed at step 1600; re-collecting the replay: updates resume after 200 steps"
        ),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
