//! The HUD: what the agent is doing (speed, steering and pedals, step reward, return,
//! episode step, the action chosen), the policy's Q-values or probabilities as bars, the
//! replay check, FPS and the keys. Text is rewritten in place each frame (no allocation once
//! the strings have grown).

use super::camera::CameraState;
use super::control::Clock;
use super::host::Host;
use super::{Timings, ViewerSet};
use bevy::prelude::*;
use sim::OwnedAction;
use std::fmt::Write;
use std::time::Instant;

/// HUD text and action bars.
pub struct HudPlugin;

impl Plugin for HudPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Fps>()
            .add_systems(Startup, spawn_hud)
            .add_systems(Update, (update_text, update_bars).in_set(ViewerSet::Hud));
    }
}

/// Frames per second, smoothed.
#[derive(Resource, Default)]
pub struct Fps(pub f32);

#[derive(Component)]
struct HudText;

/// Bar `i` of the action scores.
#[derive(Component)]
struct ScoreBar(usize);

const BAR_PX: f32 = 160.0;
const PANEL: Color = Color::srgba(0.0, 0.0, 0.0, 0.55);
const BAR: Color = Color::srgb(0.35, 0.6, 0.95);
const BAR_CHOSEN: Color = Color::srgb(1.0, 0.75, 0.2);

fn font(size: f32) -> TextFont {
    TextFont::from_font_size(size)
}

fn spawn_hud(mut commands: Commands, host: NonSend<Host>) {
    commands.spawn((
        Text::new(String::with_capacity(512)),
        font(15.0),
        TextColor(Color::WHITE),
        BackgroundColor(PANEL),
        Node {
            position_type: PositionType::Absolute,
            top: px(8),
            left: px(8),
            padding: UiRect::all(px(6)),
            ..default()
        },
        HudText,
    ));
    commands.spawn((
        Text::new(
            "Space pause  N step  +/- speed  R reset  C or 1-4 camera  drag/wheel/Q/E/Z/X \
             orbit  arrows/WASD drive (keyboard)  F fire  Esc quit",
        ),
        font(12.0),
        TextColor(Color::srgb(0.9, 0.9, 0.9)),
        BackgroundColor(PANEL),
        Node {
            position_type: PositionType::Absolute,
            bottom: px(4),
            left: px(8),
            padding: UiRect::all(px(3)),
            ..default()
        },
    ));
    let Some(n) = host.env.env_ref().action_space().n() else {
        return;
    };
    let meanings = host.env.env_ref().action_meanings();
    let rows = commands
        .spawn((
            BackgroundColor(PANEL),
            Node {
                position_type: PositionType::Absolute,
                bottom: px(30),
                left: px(8),
                padding: UiRect::all(px(6)),
                flex_direction: FlexDirection::Column,
                row_gap: px(2),
                ..default()
            },
        ))
        .id();
    for i in 0..n {
        let label = meanings
            .and_then(|m| m.get(i))
            .map_or_else(|| format!("{i}"), |m| format!("{i} {m}"));
        let row = commands
            .spawn((Node {
                flex_direction: FlexDirection::Row,
                align_items: AlignItems::Center,
                column_gap: px(6),
                ..default()
            },))
            .with_children(|row| {
                row.spawn((
                    Text::new(label),
                    font(12.0),
                    TextColor(Color::WHITE),
                    Node {
                        width: px(110),
                        ..default()
                    },
                ));
                row.spawn((
                    BackgroundColor(Color::srgba(1.0, 1.0, 1.0, 0.12)),
                    Node {
                        width: px(BAR_PX),
                        height: px(10),
                        ..default()
                    },
                    children![(
                        BackgroundColor(BAR),
                        Node {
                            width: px(0),
                            height: Val::Percent(100.0),
                            ..default()
                        },
                        ScoreBar(i),
                    )],
                ));
            })
            .id();
        commands.entity(rows).add_child(row);
    }
}

#[allow(clippy::too_many_arguments)]
fn update_text(
    host: NonSend<Host>,
    clock: Res<Clock>,
    cam: Res<CameraState>,
    time: Res<Time>,
    mut fps: ResMut<Fps>,
    mut q: Query<&mut Text, With<HudText>>,
    mut timings: ResMut<Timings>,
) {
    let t0 = Instant::now();
    let dt = time.delta_secs();
    if dt > 0.0 {
        let now = 1.0 / dt;
        fps.0 = if fps.0 == 0.0 {
            now
        } else {
            0.95 * fps.0 + 0.05 * now
        };
    }
    let Ok(mut text) = q.single_mut() else { return };
    let s = &mut text.0;
    s.clear();
    let env = host.env.env_ref();
    let st = &host.stats;
    let _ = write!(
        s,
        "{}  seed {}  {}  speed x{}  {:.0} agent steps/s",
        env.id(),
        host.seed,
        host.driver_name(),
        clock.speed,
        clock.rate * clock.speed
    );
    if host.env.scene().is_some() {
        let _ = write!(s, "  camera {}", cam.mode.name());
    }
    if clock.paused {
        s.push_str("  PAUSED");
    }
    let _ = write!(
        s,
        "\nepisode {}  step {}  reward {:+.3}  return {:.2}",
        st.episode, st.step, st.last_reward, st.episode_return
    );
    if let (Some(r), Some(end)) = (st.last_return, st.last_end) {
        let _ = write!(s, "  (last episode {r:.2}, {end})");
    }
    s.push_str("\naction ");
    match &st.action {
        Some(OwnedAction::Discrete(a)) => {
            let name = env
                .action_meanings()
                .and_then(|m| m.get(*a as usize))
                .copied()
                .unwrap_or("");
            let _ = write!(s, "{a} {name}");
        }
        Some(OwnedAction::Continuous(v)) => {
            for x in v {
                let _ = write!(s, "{x:+.2} ");
            }
        }
        None => s.push('-'),
    }
    if let Some(d) = st.info.drive {
        let steer = host
            .env
            .drive()
            .and_then(|e| e.world())
            .map_or(0.0, |w| w.steer_angle().to_degrees());
        let _ = write!(
            s,
            "\nspeed {:.1} km/h  steer {steer:+.1} deg  progress {:.0} m ({:.0}%)  lane offset {:+.2} m",
            d.speed * 3.6,
            d.progress,
            100.0 * d.route_fraction,
            d.lateral_offset
        );
        if d.off_road {
            s.push_str("  OFF ROAD");
        }
        if d.collision {
            s.push_str("  COLLISION");
        }
    }
    if let Some(sc) = host.env.scenario() {
        let _ = write!(
            s,
            "\nscenario {}  {:.1} / {:.0} s",
            sc.scenario().spec.name,
            sc.steps() as f32 * sim::drive::world::DT * sc.drive().options().action_repeat as f32,
            sc.scenario().spec.time_limit_s
        );
        if let Some(r) = &st.scenario_result {
            let _ = write!(s, "\nlast {r}");
        }
    }
    if let Some(r) = host.replay() {
        match &r.mismatch {
            Some(m) => {
                let _ = write!(s, "\nREPLAY MISMATCH: {m}");
            }
            None => {
                let _ = write!(
                    s,
                    "\nreplay: {} steps match the record{}",
                    r.checked,
                    if r.finished { " (finished)" } else { "" }
                );
            }
        }
    }
    let _ = write!(s, "\nfps {:.1}", fps.0);
    timings.hud += t0.elapsed();
}

fn update_bars(
    host: NonSend<Host>,
    mut bars: Query<(&ScoreBar, &mut Node, &mut BackgroundColor)>,
    mut timings: ResMut<Timings>,
) {
    let t0 = Instant::now();
    let st = &host.stats;
    let chosen = match &st.action {
        Some(OwnedAction::Discrete(a)) => Some(*a as usize),
        _ => None,
    };
    let scores = &st.scores;
    let (lo, hi) = scores
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    for (bar, mut node, mut bg) in &mut bars {
        let frac = match scores.get(bar.0) {
            Some(&x) if st.scores_are_probs => x.clamp(0.0, 1.0),
            // Q-values: min..max of this step mapped to 5%..100%.
            Some(&x) if hi > lo => 0.05 + 0.95 * (x - lo) / (hi - lo),
            Some(_) => 1.0,
            None => {
                if chosen == Some(bar.0) {
                    1.0
                } else {
                    0.0
                }
            }
        };
        node.width = px(frac * BAR_PX);
        bg.0 = if chosen == Some(bar.0) {
            BAR_CHOSEN
        } else {
            BAR
        };
    }
    timings.hud += t0.elapsed();
}
