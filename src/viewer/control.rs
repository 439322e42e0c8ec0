//! Playback control: the sim clock (one agent step per `1 / rate` seconds of real time,
//! times the speed factor), pause, single step, reset, quit, the keys a person drives with,
//! and the headless exits (`--frames N`, `--screenshot out.png`).

use super::host::{Host, Keys};
use super::{Shared, Timings, ViewerSet};
use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::render::{ExtractSchedule, MainWorld, RenderApp};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Most agent steps taken in one frame; a slow frame drops the rest instead of spiralling.
const MAX_STEPS_PER_FRAME: u32 = 8;

/// The sim clock and playback state.
#[derive(Resource, Debug, Clone)]
pub struct Clock {
    /// Agent steps per second at speed 1 (the env's own rate).
    pub rate: f64,
    /// Speed factor (+/- double and halve it).
    pub speed: f64,
    acc: f64,
    pub paused: bool,
    step_once: bool,
    /// Screenshot mode: exactly one agent step per frame, up to this many, so the picture
    /// shows a state a headless run reproduces.
    pub fixed_steps: Option<u64>,
}

impl Clock {
    /// A clock at `rate` agent steps per second times `speed`.
    pub fn new(rate: f64, speed: f64, fixed_steps: Option<u64>) -> Clock {
        Clock {
            rate,
            speed,
            acc: 0.0,
            paused: false,
            step_once: false,
            fixed_steps,
        }
    }

    /// Agent steps due after `dt` seconds of real time (the remainder carries over).
    pub fn advance(&mut self, dt: f64) -> u32 {
        if self.paused {
            self.acc = 0.0;
            return std::mem::take(&mut self.step_once) as u32;
        }
        self.acc += dt * self.speed * self.rate;
        let n = self.acc.floor().max(0.0);
        self.acc -= n;
        if n > MAX_STEPS_PER_FRAME as f64 {
            self.acc = 0.0;
        }
        (n as u32).min(MAX_STEPS_PER_FRAME)
    }
}

/// When to stop on its own.
#[derive(Resource, Debug, Clone)]
pub struct Exit {
    /// Stop after this many frames (`--frames`).
    pub frames: Option<u64>,
    /// Write the window to this PNG, then stop.
    pub screenshot: Option<PathBuf>,
    frame: u64,
    ready_frames: u64,
    requested: bool,
}

impl Exit {
    /// Exit conditions of the command line.
    pub fn new(frames: Option<u64>, screenshot: Option<PathBuf>) -> Exit {
        Exit {
            frames,
            screenshot,
            frame: 0,
            ready_frames: 0,
            requested: false,
        }
    }
}

/// Whether every render pipeline has compiled (copied from the render world each frame), so
/// a screenshot never catches a half-drawn first frame.
#[derive(Resource, Default)]
struct PipelinesReady(bool);

/// Clock, keys, sim stepping and headless exits.
pub struct ControlPlugin;

impl Plugin for ControlPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PipelinesReady>()
            .add_systems(
                Update,
                (
                    read_keys.in_set(ViewerSet::Input),
                    step_sim.in_set(ViewerSet::Sim),
                    headless_exit.after(ViewerSet::Hud),
                ),
            )
            .add_systems(Last, publish_outcome);
        app.sub_app_mut(RenderApp)
            .add_systems(ExtractSchedule, copy_pipelines_ready);
    }
}

fn copy_pipelines_ready(mut main_world: ResMut<MainWorld>, pipelines: Res<PipelineCache>) {
    if let Some(mut ready) = main_world.get_resource_mut::<PipelinesReady>() {
        ready.0 = pipelines.waiting_pipelines().count() == 0;
    }
}

fn read_keys(
    keys: Res<ButtonInput<KeyCode>>,
    mut clock: ResMut<Clock>,
    mut host: NonSendMut<Host>,
    mut exit: MessageWriter<AppExit>,
    shared: Res<Shared>,
) {
    if keys.just_pressed(KeyCode::Escape) {
        exit.write(AppExit::Success);
    }
    if clock.fixed_steps.is_none() {
        if keys.just_pressed(KeyCode::Space) {
            clock.paused = !clock.paused;
        }
        if keys.just_pressed(KeyCode::KeyN) {
            clock.paused = true;
            clock.step_once = true;
        }
        if keys.any_just_pressed([KeyCode::Equal, KeyCode::NumpadAdd]) {
            clock.speed = (clock.speed * 2.0).min(32.0);
        }
        if keys.any_just_pressed([KeyCode::Minus, KeyCode::NumpadSubtract]) {
            clock.speed = (clock.speed * 0.5).max(1.0 / 32.0);
        }
        if keys.just_pressed(KeyCode::KeyR)
            && host.replay().is_none()
            && let Err(e) = host.reset()
        {
            fail(&shared, &mut exit, format!("reset failed: {e:#}"));
        }
    }
    let held = |a: KeyCode, b: KeyCode| keys.pressed(a) || keys.pressed(b);
    host.keys = Keys {
        left: held(KeyCode::ArrowLeft, KeyCode::KeyA),
        right: held(KeyCode::ArrowRight, KeyCode::KeyD),
        up: held(KeyCode::ArrowUp, KeyCode::KeyW),
        down: held(KeyCode::ArrowDown, KeyCode::KeyS),
        fire: held(KeyCode::KeyF, KeyCode::Enter),
    };
}

fn fail(shared: &Shared, exit: &mut MessageWriter<AppExit>, msg: String) {
    if let Ok(mut o) = shared.0.lock() {
        o.error.get_or_insert(msg);
    }
    exit.write(AppExit::error());
}

fn step_sim(
    time: Res<Time>,
    mut clock: ResMut<Clock>,
    mut host: NonSendMut<Host>,
    mut timings: ResMut<Timings>,
    mut exit: MessageWriter<AppExit>,
    shared: Res<Shared>,
) {
    let n = match clock.fixed_steps {
        Some(limit) => (host.stats.total_steps < limit) as u32,
        None => clock.advance(time.delta_secs_f64()),
    };
    let t0 = Instant::now();
    for _ in 0..n {
        match host.tick() {
            Ok(true) => {}
            Ok(false) => {
                clock.paused = true;
                break;
            }
            Err(e) => {
                fail(&shared, &mut exit, format!("the env failed: {e:#}"));
                break;
            }
        }
    }
    timings.sim += t0.elapsed();
    timings.steps += n as u64;
}

fn headless_exit(
    mut commands: Commands,
    mut state: ResMut<Exit>,
    ready: Res<PipelinesReady>,
    host: NonSend<Host>,
    clock: Res<Clock>,
    mut exit: MessageWriter<AppExit>,
    mut timings: ResMut<Timings>,
) {
    state.frame += 1;
    timings.frames = state.frame;
    if timings.started.is_none() {
        timings.started = Some(Instant::now());
    }
    let Some(path) = state.screenshot.clone() else {
        if state.frames.is_some_and(|n| state.frame >= n) {
            exit.write(AppExit::Success);
        }
        return;
    };
    if state.requested {
        return;
    }
    // The state is final once the fixed steps are done (or the replay halted); then wait
    // for compiled pipelines over a few frames so the picture is complete.
    let sim_done = clock
        .fixed_steps
        .is_none_or(|n| host.stats.total_steps >= n || host.halted());
    let frames_done = state.frames.is_none_or(|n| state.frame >= n);
    state.ready_frames = if sim_done && frames_done && ready.0 {
        state.ready_frames + 1
    } else {
        0
    };
    // Give up waiting for pipelines after ~20 s at software-rendering rates.
    if state.ready_frames >= 4 || (sim_done && frames_done && state.frame > 600) {
        state.requested = true;
        commands
            .spawn(Screenshot::primary_window())
            .observe(save_screenshot(path));
    }
}

/// Observer: write the captured window to `path` atomically, then stop the app.
fn save_screenshot(
    path: PathBuf,
) -> impl FnMut(On<ScreenshotCaptured>, MessageWriter<AppExit>, Res<Shared>) {
    move |captured, mut exit, shared| match write_png(&captured.image, &path) {
        Ok(()) => {
            if let Ok(mut o) = shared.0.lock() {
                o.screenshot = Some(path.clone());
            }
            exit.write(AppExit::Success);
        }
        Err(e) => fail(
            &shared,
            &mut exit,
            format!("cannot write {}: {e:#}", path.display()),
        ),
    }
}

/// Encode `image` as an 8-bit RGB PNG at `path`: a temporary file beside it, then a rename.
fn write_png(image: &Image, path: &Path) -> anyhow::Result<()> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .map_err(|e| anyhow::anyhow!("unsupported screenshot format: {e:?}"))?
        .to_rgb8();
    let (w, h) = (rgb.width(), rgb.height());
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("the path has no file name"))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut bytes = Vec::with_capacity((w * h) as usize);
    let mut enc = png::Encoder::new(&mut bytes, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb.as_raw())?;
    writer.finish()?;
    let write = || -> anyhow::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn publish_outcome(timings: Res<Timings>, host: NonSend<Host>, shared: Res<Shared>) {
    if let Ok(mut o) = shared.0.lock() {
        o.timings = timings.clone();
        o.steps = host.stats.total_steps;
        o.replay = host
            .replay()
            .map(|r| (r.checked, r.finished, r.mismatch.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_steps_at_rate_times_speed_and_carries_the_remainder() {
        let mut c = Clock::new(60.0, 1.0, None);
        let total: u32 = (0..30).map(|_| c.advance(1.0 / 30.0)).sum();
        assert_eq!(total, 60);
        c.speed = 0.5;
        let total: u32 = (0..60).map(|_| c.advance(1.0 / 60.0)).sum();
        assert_eq!(total, 30);
    }

    #[test]
    fn clock_caps_slow_frames_and_pauses() {
        let mut c = Clock::new(60.0, 1.0, None);
        assert_eq!(c.advance(2.0), MAX_STEPS_PER_FRAME);
        assert_eq!(c.advance(0.0), 0, "the backlog is dropped, not replayed");
        c.paused = true;
        assert_eq!(c.advance(1.0), 0);
        c.step_once = true;
        assert_eq!(c.advance(1.0), 1);
        assert_eq!(c.advance(1.0), 0);
    }
}
