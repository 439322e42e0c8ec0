//! The one place where the sim's plain arrays become bevy's glam types. The sim hands out
//! `[f32; 3]` positions and `[x, y, z, w]` quaternions (rapier 0.36 uses glam 0.33, bevy 0.19
//! glam 0.32), so nothing else in the viewer touches either glam directly.

use bevy::prelude::*;
use sim::drive::raster::Camera as SimCamera;
use sim::drive::scene::{Rgb, SceneBox};

/// A sim position or vector.
pub fn vec3(a: [f32; 3]) -> Vec3 {
    Vec3::from_array(a)
}

/// A sim rotation, `[x, y, z, w]`.
pub fn quat(q: [f32; 4]) -> Quat {
    Quat::from_array(q)
}

/// A scene colour (sRGB bytes).
pub fn color(c: Rgb) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}

/// A scene colour as a linear RGBA vertex colour.
pub fn vertex_color(c: Rgb) -> [f32; 4] {
    color(c).to_linear().to_f32_array()
}

/// Transform of a unit cube that covers `b`: the body pose, then the box offset in the body
/// frame, scaled to the full extents.
pub fn box_transform(b: &SceneBox) -> Transform {
    let rotation = quat(b.pose.rotation);
    Transform {
        translation: vec3(b.pose.position) + rotation * vec3(b.offset),
        rotation,
        scale: 2.0 * vec3(b.half_extents),
    }
}

/// Rotation of a camera that looks along map heading `yaw` with `pitch` (the sim camera's
/// convention: forward `(cos p cos y, sin p, -cos p sin y)`, no roll). bevy cameras look
/// down their local -Z.
pub fn yaw_pitch(yaw: f32, pitch: f32) -> Quat {
    Quat::from_rotation_y(yaw - std::f32::consts::FRAC_PI_2) * Quat::from_rotation_x(pitch)
}

/// Transform of the sim camera `c` (same place, same view direction).
pub fn camera_transform(c: &SimCamera) -> Transform {
    Transform::from_translation(vec3(c.position)).with_rotation(yaw_pitch(c.yaw, c.pitch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_rotation_matches_the_sim_basis() {
        for (yaw, pitch) in [(0.0f32, 0.0f32), (0.7, -0.2), (-2.0, -1.2), (3.0, 0.3)] {
            let q = yaw_pitch(yaw, pitch);
            let fwd = q * Vec3::NEG_Z;
            let want = Vec3::new(
                pitch.cos() * yaw.cos(),
                pitch.sin(),
                -pitch.cos() * yaw.sin(),
            );
            assert!((fwd - want).length() < 1e-5, "{fwd} vs {want}");
            let right = q * Vec3::X;
            assert!(
                (right - Vec3::new(yaw.sin(), 0.0, yaw.cos())).length() < 1e-5,
                "{right}"
            );
        }
    }

    #[test]
    fn box_transform_places_the_offset_in_the_body_frame() {
        let h = 0.9f32;
        let b = SceneBox {
            pose: sim::drive::world::BodyPose {
                position: [1.0, 2.0, 3.0],
                rotation: [0.0, (0.5 * h).sin(), 0.0, (0.5 * h).cos()],
            },
            offset: [1.0, 0.5, 0.0],
            half_extents: [2.0, 0.5, 1.0],
            color: [0, 0, 0],
        };
        let t = box_transform(&b);
        // The cube's +x,+y,+z corner is the sim's corner 7.
        let corner = t.transform_point(Vec3::splat(0.5));
        let want = vec3(b.corners()[7]);
        assert!((corner - want).length() < 1e-5, "{corner} vs {want}");
    }
}
