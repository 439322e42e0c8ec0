//! The inset: exactly the observation the policy receives (the agent's camera frame, or the
//! stack of preprocessed frames side by side, oldest first), scaled up with nearest filtering.

use super::host::Host;
use super::scene::{nearest_texture, to_rgba};
use super::{Timings, ViewerSet};
use bevy::prelude::*;
use sim::{DType, Space};
use std::time::Instant;

/// The observation inset.
pub struct InsetPlugin;

impl Plugin for InsetPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_inset)
            .add_systems(Update, copy_observation.in_set(ViewerSet::Hud));
    }
}

/// How a `u8` observation is laid out as pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObsLayout {
    /// Frames side by side (1, or the stack depth).
    pub tiles: usize,
    pub height: usize,
    pub width: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
}

impl ObsLayout {
    /// The layout of observations of `space`, when they are pictures: `[H, W]`, `[H, W, C]`
    /// with C = 1 or 3, a frame stack `[K, H, W]`, or a stack of colour frames `[K, H, W, C]`.
    pub fn of(space: &Space) -> Option<ObsLayout> {
        let Space::Box {
            shape,
            dtype: DType::U8,
            ..
        } = space
        else {
            return None;
        };
        let l = |tiles, height, width, channels| {
            Some(ObsLayout {
                tiles,
                height,
                width,
                channels,
            })
        };
        match *shape.as_slice() {
            [h, w] => l(1, h, w, 1),
            [h, w, c] if c == 1 || c == 3 => l(1, h, w, c),
            [k, h, w] if k <= 16 => l(k, h, w, 1),
            [k, h, w, c] if k <= 16 && (c == 1 || c == 3) => l(k, h, w, c),
            _ => None,
        }
    }

    /// Copy one observation into RGBA texture bytes `(tiles * width) x height`.
    pub fn copy(&self, obs: &[u8], rgba: &mut [u8]) {
        let (w, h, c) = (self.width, self.height, self.channels);
        let row_out = self.tiles * w * 4;
        if obs.len() != self.tiles * h * w * c || rgba.len() != row_out * h {
            return;
        }
        for k in 0..self.tiles {
            for y in 0..h {
                let src = &obs[((k * h + y) * w) * c..((k * h + y) * w + w) * c];
                let dst = &mut rgba[y * row_out + k * w * 4..y * row_out + (k + 1) * w * 4];
                to_rgba(src, c, dst);
            }
        }
    }
}

#[derive(Resource)]
struct Inset {
    layout: ObsLayout,
    image: Handle<Image>,
    last_step: Option<u64>,
}

fn spawn_inset(mut commands: Commands, host: NonSend<Host>, mut images: ResMut<Assets<Image>>) {
    let space = host.env.env_ref().observation_space();
    let Some(layout) = ObsLayout::of(space) else {
        commands.spawn((
            Text::new(format!(
                "agent sees a state vector {:?} (no pixels)",
                space.shape()
            )),
            TextFont::from_font_size(12.0),
            BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.55)),
            Node {
                position_type: PositionType::Absolute,
                top: px(8),
                right: px(8),
                padding: UiRect::all(px(4)),
                ..default()
            },
        ));
        return;
    };
    let w = layout.tiles * layout.width;
    let image = nearest_texture(&mut images, w, layout.height);
    // About 250 px tall, whole multiples only, and never wider than 700 px.
    let scale = (250 / layout.height.max(1)).min(700 / w.max(1)).max(1) as f32;
    commands.spawn((
        Node {
            position_type: PositionType::Absolute,
            top: px(8),
            right: px(8),
            flex_direction: FlexDirection::Column,
            align_items: AlignItems::End,
            ..default()
        },
        children![
            (
                ImageNode::new(image.clone()),
                Node {
                    width: px(w as f32 * scale),
                    height: px(layout.height as f32 * scale),
                    border: UiRect::all(px(2)),
                    ..default()
                },
                BorderColor::all(Color::WHITE),
            ),
            (
                Text::new(format!(
                    "agent sees {:?} x{}",
                    space.shape(),
                    scale as usize
                )),
                TextFont::from_font_size(12.0),
                BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.55)),
            ),
        ],
    ));
    commands.insert_resource(Inset {
        layout,
        image,
        last_step: None,
    });
}

fn copy_observation(
    host: NonSend<Host>,
    inset: Option<ResMut<Inset>>,
    mut images: ResMut<Assets<Image>>,
    mut timings: ResMut<Timings>,
) {
    let Some(mut inset) = inset else { return };
    let step = host.stats.total_steps + host.stats.episode;
    if inset.last_step == Some(step) {
        return;
    }
    let t0 = Instant::now();
    inset.last_step = Some(step);
    if let Some(obs) = host.env.env_ref().obs().as_u8()
        && let Some(mut image) = images.get_mut(&inset.image)
        && let Some(data) = image.data.as_mut()
    {
        inset.layout.copy(obs, data);
    }
    timings.hud += t0.elapsed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_of_frames_and_stacks() {
        let img = |shape: &[usize]| Space::image(shape);
        assert_eq!(
            ObsLayout::of(&img(&[84, 84, 3])).map(|l| (l.tiles, l.channels)),
            Some((1, 3))
        );
        assert_eq!(
            ObsLayout::of(&img(&[4, 84, 84])).map(|l| (l.tiles, l.height, l.channels)),
            Some((4, 84, 1))
        );
        assert_eq!(
            ObsLayout::of(&Space::uniform_box(&[4], -1.0, 1.0, DType::F32)),
            None
        );
    }

    #[test]
    fn stack_tiles_are_placed_side_by_side_oldest_first() {
        let l = ObsLayout::of(&Space::image(&[2, 1, 2])).unwrap();
        let obs = [10, 11, 20, 21];
        let mut rgba = vec![0; 4 * 4];
        l.copy(&obs, &mut rgba);
        let grays: Vec<u8> = rgba.chunks(4).map(|p| p[0]).collect();
        assert_eq!(grays, [10, 11, 20, 21]);
        assert!(rgba.chunks(4).all(|p| p[3] == 255));
    }
}
