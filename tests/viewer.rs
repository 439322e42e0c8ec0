//! The viewer as a user runs it, headless: `pixelgym watch --screenshot` under Xvfb with
//! Mesa's software Vulkan, checked against the simulation itself (the car and the road are
//! where the sim says, seen through the same camera maths), plus the errors a user meets
//! without a display or with a bad replay.
#![cfg(feature = "viewer")]

use sim::drive::raster::{Camera, View};
use sim::drive::track::map_to_world;
use sim::drive::{DriveEnv, MAP_ID};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pixelgym-viewer-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run `pixelgym ARGS` with no display, expecting a refusal before any window would open;
/// returns stderr (checked to hold no panic).
fn refused_without_display(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pixelgym"))
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Run `pixelgym ARGS` under `xvfb-run`; CI installs it (.ci/run), so its absence is a failure.
fn under_xvfb(args: &[&str]) -> Output {
    let probe = Command::new("xvfb-run").arg("--help").output();
    if let Err(e) = probe {
        panic!(
            "xvfb-run is not available ({e}): the viewer tests need it; install the Debian \
             packages xvfb xauth mesa-vulkan-drivers libvulkan1 (.ci/run does)"
        );
    }
    Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_pixelgym"))
        .args(args)
        .output()
        .expect("xvfb-run runs")
}

/// An RGB picture read back from a PNG.
struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Picture {
    fn load(path: &Path) -> Picture {
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(path).expect("the screenshot exists"),
        ));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb, "8-bit RGB");
        buf.truncate(info.buffer_size());
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            rgb: buf,
        }
    }

    /// Mean colour of the 5x5 pixels around `(x, y)`.
    fn around(&self, x: f32, y: f32) -> [f32; 3] {
        let (cx, cy) = (x.round() as i64, y.round() as i64);
        let mut sum = [0.0f32; 3];
        let mut n = 0.0;
        for dy in -2..=2 {
            for dx in -2..=2 {
                let (px, py) = (cx + dx, cy + dy);
                assert!(
                    px >= 0 && py >= 0 && (px as usize) < self.width && (py as usize) < self.height,
                    "({px}, {py}) is outside the {}x{} picture",
                    self.width,
                    self.height
                );
                let i = (py as usize * self.width + px as usize) * 3;
                for (s, &v) in sum.iter_mut().zip(&self.rgb[i..i + 3]) {
                    *s += v as f32;
                }
                n += 1.0;
            }
        }
        sum.map(|s| s / n)
    }

    fn std_dev(&self) -> f32 {
        let n = self.rgb.len() as f32;
        let mean = self.rgb.iter().map(|&v| v as f32).sum::<f32>() / n;
        (self
            .rgb
            .iter()
            .map(|&v| (v as f32 - mean).powi(2))
            .sum::<f32>()
            / n)
            .sqrt()
    }
}

/// Pixel of world point `p` seen by the sim camera `c` in a `w` x `h` window (the viewer uses
/// the camera's vertical field of view; the sim camera's basis, written out here again).
fn project(c: &Camera, p: [f32; 3], w: f32, h: f32) -> (f32, f32) {
    let (sh, ch) = c.yaw.sin_cos();
    let (sp, cp) = c.pitch.sin_cos();
    let f = [cp * ch, sp, -cp * sh];
    let r = [sh, 0.0, ch];
    let u = [
        r[1] * f[2] - r[2] * f[1],
        r[2] * f[0] - r[0] * f[2],
        r[0] * f[1] - r[1] * f[0],
    ];
    let d = [
        p[0] - c.position[0],
        p[1] - c.position[1],
        p[2] - c.position[2],
    ];
    let dot = |a: [f32; 3]| a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
    let (x, y, z) = (dot(r), dot(u), dot(f));
    assert!(z > 0.0, "the point is behind the camera");
    let focal = 0.5 * h / (0.5 * c.fov_y_deg.to_radians()).tan();
    (0.5 * w + focal * x / z, 0.5 * h - focal * y / z)
}

#[test]
fn drive_screenshot_shows_the_car_and_road_where_the_sim_has_them() {
    // The look a software renderer gets by default (flat sunlit colours, blob shadows).
    check_drive_screenshot("fast");
}

#[test]
fn drive_screenshot_in_the_pbr_look_too() {
    // A real GPU's default: bevy's PBR with shadow maps.
    check_drive_screenshot("pbr");
}

fn check_drive_screenshot(look: &str) {
    let (seed, steps, w, h) = (3u64, 30u64, 1280usize, 720usize);
    let dir = tmp_dir(&format!("drive-{look}"));
    let shot = dir.join("drive.png");
    let out = under_xvfb(&[
        "watch",
        MAP_ID,
        "--policy",
        "scripted",
        "--option",
        "map=curve",
        "--seed",
        &seed.to_string(),
        "--frames",
        &steps.to_string(),
        "--width",
        &w.to_string(),
        "--height",
        &h.to_string(),
        "--look",
        look,
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "watch failed: {}", stderr(&out));
    let pic = Picture::load(&shot);
    assert_eq!((pic.width, pic.height), (w, h));
    assert!(pic.std_dev() > 20.0, "the picture is nearly blank");

    // The same episode headless: the scripted driver's options, seed and step count.
    let mut opts = sim::EnvConfig::new();
    opts.insert("map".into(), toml::Value::String("curve".into()));
    sim::registry::scripted_defaults(MAP_ID, &mut opts).unwrap();
    let mut env = DriveEnv::new(MAP_ID, &opts).unwrap();
    let mut policy = sim::make_scripted(MAP_ID, &opts).unwrap();
    use sim::Env;
    let (obs, _) = env.reset(Some(seed)).unwrap();
    let mut action = policy.act(obs).unwrap();
    for _ in 0..steps {
        let s = env.step(action.as_action()).unwrap();
        assert!(!s.done());
        action = policy.act(s.obs).unwrap();
    }
    let world = env.world().unwrap();
    let track = env.track().unwrap();
    let pose = world.car_pose();
    let (pos2, heading) = world.car_map_pose();
    let cam = Camera::follow(View::Chase, &pose, heading);
    let (wf, hf) = (w as f32, h as f32);

    // The ego's red body: the middle of its rear face, which the chase camera looks at
    // (the cabin hides the body's centre).
    let he = world.vehicle_config().half_extents;
    let body = sim::drive::scene::rotate(pose.rotation, [-0.95 * he[0], 0.15, 0.0]);
    let centre = [
        pose.position[0] + body[0],
        pose.position[1] + body[1],
        pose.position[2] + body[2],
    ];
    let (x, y) = project(&cam, centre, wf, hf);
    let c = pic.around(x, y);
    assert!(
        c[0] > 60.0 && c[0] > 1.6 * c[1] && c[0] > 1.6 * c[2],
        "expected the red ego car at ({x:.0}, {y:.0}), got {c:?}"
    );

    // Asphalt 20 m ahead in the car's lane, grass well beyond the right edge.
    let proj = track.project(pos2, None);
    let (ahead, _) = track.pose_at(track.wrap_s(proj.s + 20.0), proj.lateral);
    let (x, y) = project(&cam, map_to_world(ahead, 0.0), wf, hf);
    let c = pic.around(x, y);
    let spread =
        c.iter().cloned().fold(f32::MIN, f32::max) - c.iter().cloned().fold(f32::MAX, f32::min);
    assert!(
        spread < 30.0 && c[1] < 200.0 && c[1] > 15.0,
        "expected grey asphalt at ({x:.0}, {y:.0}), got {c:?}"
    );
    let (grass, _) = track.pose_at(track.wrap_s(proj.s + 20.0), -(track.half_width() + 10.0));
    let (x, y) = project(&cam, map_to_world(grass, 0.0), wf, hf);
    let c = pic.around(x, y);
    assert!(
        c[1] > c[0] + 15.0 && c[1] > c[2] + 15.0,
        "expected green grass at ({x:.0}, {y:.0}), got {c:?}"
    );

    // Sky above the horizon, below the HUD text.
    let far = [
        cam.position[0] + 400.0 * heading.cos(),
        60.0,
        cam.position[2] - 400.0 * heading.sin(),
    ];
    let (x, y) = project(&cam, far, wf, hf);
    let c = pic.around(x.clamp(10.0, wf - 10.0), y.clamp(150.0, hf - 10.0));
    assert!(
        c[2] > c[0] + 20.0,
        "expected blue sky near ({x:.0}, {y:.0}), got {c:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pong_screenshot_shows_the_game_frame_scaled() {
    let dir = tmp_dir("pong");
    let shot = dir.join("pong.png");
    let out = under_xvfb(&[
        "watch",
        "Pong-v0",
        "--policy",
        "random",
        "--frames",
        "5",
        "--width",
        "640",
        "--height",
        "480",
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "watch failed: {}", stderr(&out));
    let pic = Picture::load(&shot);
    // The 210x160 frame fills the height, centred: Pong's brown court in the middle, black
    // margins on both sides (the left one holds the action bars).
    let c = pic.around(320.0, 300.0);
    assert!(
        c[0] > 100.0 && c[0] > c[1] + 30.0 && c[1] > c[2] + 20.0,
        "expected Pong's brown court at the centre, got {c:?}"
    );
    let side = pic.around(600.0, 300.0);
    assert!(
        side.iter().all(|&v| v < 20.0),
        "expected black margins, got {side:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn without_a_display_watch_says_how_to_run_headless() {
    let err = refused_without_display(&["watch", "Catch-v0"]);
    assert!(
        err.contains("no display") && err.contains("xvfb-run -a"),
        "{err}"
    );
}

#[test]
fn a_replay_is_played_back_checked_and_a_tampered_one_refused() {
    let dir = tmp_dir("replay");
    let rec = dir.join("catch.json");
    let out = Command::new(env!("CARGO_BIN_EXE_pixelgym"))
        .args(["play", "Catch-v0", "--policy", "random", "--episodes", "2"])
        .args(["--seed", "4", "--record", rec.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let shot = dir.join("catch.png");
    let out = under_xvfb(&[
        "watch",
        "--replay",
        rec.to_str().unwrap(),
        "--frames",
        "100",
        "--width",
        "320",
        "--height",
        "240",
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("replay: 18 steps matched the record (all of it)"),
        "{text}"
    );

    // Change one recorded reward: refused before any window opens, with the reason.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    let r = &mut record["episodes"][0]["rewards"][8];
    *r = serde_json::json!(r.as_f64().unwrap() + 2.0);
    std::fs::write(&rec, serde_json::to_vec(&record).unwrap()).unwrap();
    let err = refused_without_display(&["watch", "--replay", rec.to_str().unwrap()]);
    assert!(
        err.contains("refusing the replay") && err.contains("step 9: reward"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scenario_plays_in_the_window_with_its_verdict() {
    let dir = tmp_dir("scenario");
    let shot = dir.join("cut_in.png");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/scenarios/cut_in_aggressive.toml"
    );
    // The scripted driver meets the aggressive cut-in: the same collision at 1.0 s as
    // `pixelgym scenario run` grades (sim/tests/scenarios.rs), reported per run.
    let out = under_xvfb(&[
        "watch",
        "--scenario",
        file,
        "--frames",
        "70",
        "--width",
        "320",
        "--height",
        "240",
        "--no-msaa",
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(out.status.success(), "watch failed: {err}");
    assert!(
        err.contains("scenario `cut_in_aggressive` run 1: FAIL")
            && err.contains("collision_vehicle at 1.0 s"),
        "{err}"
    );
    assert!(Picture::load(&shot).std_dev() > 10.0, "blank screenshot");

    // A broken scenario is refused before any window opens, naming file, line and field.
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(file)
        .unwrap()
        .replace("lane = 1", "lane = 7");
    std::fs::write(&bad, text).unwrap();
    let err = refused_without_display(&["watch", "--scenario", bad.to_str().unwrap()]);
    assert!(
        err.contains("bad.toml") && err.contains("actors[0].lane"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
