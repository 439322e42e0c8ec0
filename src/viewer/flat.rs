//! The fast look for software renderers: [`FlatMaterial`], a flat colour lit by the sun
//! (Lambert plus ambient) in a few shader instructions, and blob shadows under the boxes
//! instead of shadow maps.
//!
//! Under Mesa's lavapipe 90% of a frame went into the JIT-compiled fragment shaders: bevy's
//! PBR shader cost ~220 ns per pixel on one core, so a 1280x720 frame took ~200 ms whatever
//! the scene held. The viewer picks this look by itself when the adapter is a CPU
//! (`--look auto`), and PBR with shadow maps on a real GPU.

use bevy::pbr::{Material, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::AsBindGroup;
use bevy::shader::ShaderRef;

/// Where the sun is (unit vector towards it); the same direction the PBR look's
/// directional light comes from.
pub fn sun_direction() -> Vec3 {
    Vec3::new(0.4, 0.8, 0.3).normalize()
}

/// Share of ambient light in the fast look (faces turned away from the sun get this much).
const AMBIENT: f32 = 0.55;

/// A flat colour (times the mesh's vertex colours), lit by the sun.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct FlatMaterial {
    #[uniform(0)]
    pub color: LinearRgba,
    /// xyz towards the sun, w the ambient share (1: unlit, for blob shadows).
    #[uniform(1)]
    pub sun: Vec4,
    pub alpha: AlphaMode,
}

impl FlatMaterial {
    /// An opaque surface of `color`, sunlit.
    pub fn lit(color: Color) -> Self {
        Self {
            color: color.to_linear(),
            sun: sun_direction().extend(AMBIENT),
            alpha: AlphaMode::Opaque,
        }
    }

    /// A translucent dark patch (a blob shadow).
    pub fn shadow() -> Self {
        Self {
            color: LinearRgba::new(0.0, 0.0, 0.0, 0.4),
            sun: Vec3::Y.extend(1.0),
            alpha: AlphaMode::Blend,
        }
    }
}

impl Material for FlatMaterial {
    fn fragment_shader() -> ShaderRef {
        "embedded://pixelgym/viewer/flat.wgsl".into()
    }

    fn alpha_mode(&self) -> AlphaMode {
        self.alpha
    }

    fn enable_prepass() -> bool {
        false
    }

    fn enable_shadows() -> bool {
        false
    }
}

/// Registers [`FlatMaterial`] and its shader (embedded in the binary).
pub struct FlatPlugin;

impl Plugin for FlatPlugin {
    fn build(&self, app: &mut App) {
        bevy::asset::embedded_asset!(app, "flat.wgsl");
        app.add_plugins(MaterialPlugin::<FlatMaterial>::default());
    }
}

/// The blob shadow of a box posed by `t` (a unit cube scaled and turned): a patch on the
/// road, the box's footprint a little enlarged, moved away from the sun by its height.
pub fn blob_transform(t: &Transform, ground_y: f32) -> Transform {
    let sun = sun_direction();
    let (yaw, _, _) = t.rotation.to_euler(EulerRot::YXZ);
    let lift = t.translation.y.max(0.0);
    Transform {
        translation: Vec3::new(
            t.translation.x - sun.x / sun.y * lift,
            ground_y,
            t.translation.z - sun.z / sun.y * lift,
        ),
        rotation: Quat::from_rotation_y(yaw),
        scale: Vec3::new(t.scale.x * 1.15, 1.0, t.scale.z * 1.15),
    }
}
