//! The bevy viewer behind `pixelgym watch` (feature `viewer`): a window on the very
//! simulation a headless run computes. The env lives in [`host::Host`], outside bevy's
//! scheduling concerns: one system calls `Host::tick` at the sim's own rate, every other
//! system only reads the state back and draws it. One plugin per feature: scene, camera,
//! HUD, observation inset, and control (clock, keys, replay, headless exits).

pub mod camera;
pub mod control;
pub mod convert;
pub mod flat;
pub mod host;
pub mod hud;
pub mod inset;
pub mod scene;

use anyhow::{Result, bail};
use bevy::prelude::*;
use bevy::render::view::Msaa;
use bevy::window::{PresentMode, WindowResolution};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use host::{Driver, EnvHandle, Host, ReplayCursor};

/// Which look the driving scene gets (`--look`).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LookChoice {
    /// Fast on a software (CPU) adapter such as lavapipe, PBR on a GPU.
    #[default]
    Auto,
    /// bevy's PBR materials and shadow maps.
    Pbr,
    /// Flat sunlit colours and blob shadows: a few shader instructions per pixel.
    Fast,
}

/// How the window runs.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub title: String,
    pub width: u32,
    pub height: u32,
    /// Agent steps per second at speed 1.
    pub steps_per_sec: f64,
    /// Initial speed factor.
    pub speed: f64,
    /// Write the window to this PNG and exit (the sim takes one step per frame, up to
    /// `frames`, so the picture is reproducible).
    pub screenshot: Option<PathBuf>,
    /// Exit after this many frames (with `screenshot`: agent steps before the picture).
    pub frames: Option<u64>,
    /// Multisample anti-aliasing (4x); off halves the work of software renderers.
    pub msaa: bool,
    /// Shading of the driving scene.
    pub look: LookChoice,
}

/// The viewer's own CPU time, outside rendering, summed over the run.
#[derive(Resource, Debug, Clone, Default)]
pub struct Timings {
    /// Agent steps: env step plus policy.
    pub sim: Duration,
    /// Copying poses into transforms (and env frames into textures).
    pub poses: Duration,
    /// HUD text, bars and the observation inset.
    pub hud: Duration,
    pub steps: u64,
    pub frames: u64,
    pub started: Option<Instant>,
}

/// What a run ended with, for the command line.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub error: Option<String>,
    pub screenshot: Option<PathBuf>,
    pub timings: Timings,
    pub steps: u64,
    /// Steps checked, finished, first mismatch.
    pub replay: Option<(u64, bool, Option<String>)>,
}

/// Anti-aliasing of the window's camera.
#[derive(Resource, Clone, Copy)]
pub struct CameraMsaa(pub Msaa);

/// Shared with the app so the command line can read the outcome after the window closed.
#[derive(Resource, Clone)]
pub struct Shared(pub Arc<Mutex<Outcome>>);

/// Update order inside a frame: input, then the sim step, then drawing, then the HUD.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum ViewerSet {
    Input,
    Sim,
    Draw,
    Hud,
}

/// How to run the viewer without a screen, for error messages.
pub const HEADLESS_HINT: &str = "run it under a virtual X server: `xvfb-run -a pixelgym watch \
     ...` (Debian: apt-get install xvfb xauth mesa-vulkan-drivers libvulkan1); add \
     `--screenshot out.png --frames 60` to write a picture and exit, or use `pixelgym play ENV \
     --gif out.gif` for a fully headless look";

/// Refuse early, with a way forward, when there is no X display to open a window on (this
/// build talks X11 only; winit would otherwise panic).
pub fn check_display() -> Result<()> {
    let display = std::env::var("DISPLAY").unwrap_or_default();
    if display.is_empty() {
        let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some();
        bail!(
            "no display: DISPLAY is not set{}. To watch without a screen, {HEADLESS_HINT}",
            if wayland {
                " (this build speaks X11 only; Wayland sessions need XWayland's DISPLAY)"
            } else {
                ""
            }
        );
    }
    // A local display `:N` has a socket; a missing one would only fail inside winit.
    if let Some(n) = display.strip_prefix(':') {
        let n = n.split('.').next().unwrap_or(n);
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !socket.exists() {
            bail!(
                "no X server at DISPLAY={display} ({} does not exist). To watch without a \
                 screen, {HEADLESS_HINT}",
                socket.display()
            );
        }
    }
    Ok(())
}

/// Turn the panics bevy raises for a missing display or GPU into one clear error line.
fn install_panic_hint() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let known = if msg.contains("Unable to find a GPU") {
            Some(
                "no GPU adapter: wgpu found no Vulkan or GL device. Install Mesa's software \
                 Vulkan (Debian: apt-get install mesa-vulkan-drivers libvulkan1) or use a \
                 machine with a GPU",
            )
        } else if msg.contains("event loop")
            || msg.contains("wgpu surface")
            || msg.contains("XOpenDisplay")
            || msg.contains("X11")
        {
            Some("cannot open a window on this display")
        } else {
            None
        };
        match known {
            Some(what) => {
                eprintln!("error: {what} ({msg}). To watch without a screen, {HEADLESS_HINT}");
                std::process::exit(1);
            }
            None => previous(info),
        }
    }));
}

/// Open the window on `host` and run until it is closed, `--frames` are done or the
/// screenshot is written.
pub fn run(host: Host, cfg: WatchConfig) -> Result<Outcome> {
    check_display()?;
    install_panic_hint();
    let shared = Shared(Arc::new(Mutex::new(Outcome::default())));
    let present_mode = if cfg.frames.is_some() || cfg.screenshot.is_some() {
        PresentMode::AutoNoVsync
    } else {
        PresentMode::AutoVsync
    };
    let fixed = cfg.screenshot.as_ref().map(|_| cfg.frames.unwrap_or(1));
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: cfg.title.clone(),
                    resolution: WindowResolution::new(cfg.width, cfg.height),
                    present_mode,
                    ..default()
                }),
                ..default()
            })
            // Our own tracing subscriber is already installed (RUST_LOG works as usual).
            .disable::<bevy::log::LogPlugin>(),
    )
    .configure_sets(
        Update,
        (
            ViewerSet::Input,
            ViewerSet::Sim,
            ViewerSet::Draw,
            ViewerSet::Hud,
        )
            .chain(),
    )
    .insert_non_send(host)
    .insert_resource(control::Clock::new(cfg.steps_per_sec, cfg.speed, fixed))
    .insert_resource(control::Exit::new(cfg.frames, cfg.screenshot.clone()))
    .insert_resource(CameraMsaa(if cfg.msaa { Msaa::Sample4 } else { Msaa::Off }))
    .insert_resource(cfg.look)
    .insert_resource(shared.clone())
    .init_resource::<Timings>()
    .add_plugins((
        flat::FlatPlugin,
        scene::ScenePlugin,
        camera::CameraPlugin,
        hud::HudPlugin,
        inset::InsetPlugin,
        control::ControlPlugin,
    ));
    let exit = app.run();
    let outcome = shared.0.lock().map(|o| o.clone()).unwrap_or_default();
    if let Some(e) = &outcome.error {
        bail!("{e}");
    }
    if let AppExit::Error(code) = exit {
        bail!("the viewer exited with code {code}");
    }
    if cfg.screenshot.is_some() && outcome.screenshot.is_none() {
        bail!("the window closed before the screenshot was taken");
    }
    Ok(outcome)
}
