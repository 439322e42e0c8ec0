//! What is drawn: for the driving envs, bevy meshes built from the very scene description the
//! CPU camera draws (road triangles with their colours, every box the scene holds, sky and
//! ground, a sun with shadows); for the other envs, the env's own rendered frame as a texture
//! scaled with nearest filtering.

use super::convert::{box_transform, color, vertex_color};
use super::flat::{FlatMaterial, blob_transform, sun_direction};
use super::host::Host;
use super::{CameraMsaa, LookChoice, Timings, ViewerSet};
use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::light::{CascadeShadowConfigBuilder, NotShadowCaster};
use bevy::prelude::*;
use bevy::render::render_resource::PrimitiveTopology;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::render::renderer::RenderAdapterInfo;
use sim::drive::scene::{Rgb, Scene};
use std::collections::HashMap;
use std::time::Instant;

/// Road surface and markings sit slightly above the ground (and markings above the surface)
/// so the depth test never mixes them; the CPU camera draws them in order instead.
const SURFACE_Y: f32 = 0.01;
const MARKINGS_Y: f32 = 0.03;
const GROUND_Y: f32 = -0.02;
/// Blob shadows lie above the markings.
const BLOB_Y: f32 = 0.045;

/// Draws the driving scene or the env's frame.
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, (choose_look, setup_scene).chain())
            .add_systems(Update, (sync_boxes, copy_env_frame).in_set(ViewerSet::Draw));
    }
}

/// How the driving scene is shaded, decided at start-up (see [`LookChoice`]).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// bevy's PBR materials, a sun with cascaded shadow maps.
    Pbr,
    /// [`FlatMaterial`] and blob shadows, no multisampling (which cost 2.6x the frame time
    /// under lavapipe): for software renderers.
    Fast,
}

/// A box's material in either look.
#[derive(Clone)]
enum BoxMaterial {
    Pbr(Handle<StandardMaterial>),
    Fast(Handle<FlatMaterial>),
}

impl BoxMaterial {
    fn insert(&self, e: &mut EntityCommands) {
        match self {
            BoxMaterial::Pbr(h) => e.insert(MeshMaterial3d(h.clone())),
            BoxMaterial::Fast(h) => e.insert(MeshMaterial3d(h.clone())),
        };
    }
}

/// One bevy entity per scene box, reused frame to frame; materials cached per colour. In
/// the fast look each box also has a blob shadow entity.
#[derive(Resource)]
struct BoxPool {
    look: Look,
    entities: Vec<Entity>,
    shadows: Vec<Entity>,
    colors: Vec<Rgb>,
    materials: HashMap<Rgb, BoxMaterial>,
    cube: Handle<Mesh>,
    blob: Option<(Handle<Mesh>, Handle<FlatMaterial>)>,
}

/// The env's rendered frame (non-driving envs) and its texture.
#[derive(Resource)]
struct EnvFrame {
    image: Handle<Image>,
    last_step: Option<u64>,
}

/// An RGBA texture of `w` x `h`, sampled with nearest filtering (pixels stay pixels).
pub fn nearest_texture(images: &mut Assets<Image>, w: usize, h: usize) -> Handle<Image> {
    let mut image = Image::new_fill(
        Extent3d {
            width: w as u32,
            height: h as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[0, 0, 0, 255],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    image.sampler = ImageSampler::nearest();
    images.add(image)
}

/// Copy `channels`-channel bytes (1 = gray, 3 = RGB) into RGBA texture bytes.
pub fn to_rgba(src: &[u8], channels: usize, dst: &mut [u8]) {
    match channels {
        3 => {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                d[..3].copy_from_slice(s);
                d[3] = 255;
            }
        }
        _ => {
            for (d, &g) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&[g, g, g, 255]);
            }
        }
    }
}

fn road_mesh(scene: &Scene) -> Mesh {
    let tris = &scene.road.tris;
    let mut pos = Vec::with_capacity(tris.len() * 3);
    let mut col = Vec::with_capacity(tris.len() * 3);
    let mut markings = vec![false; tris.len()];
    for c in &scene.road.chunks {
        markings[c.markings.0..c.markings.1].fill(true);
    }
    for (t, &is_marking) in tris.iter().zip(&markings) {
        let y = if is_marking { MARKINGS_Y } else { SURFACE_Y };
        let c = vertex_color(t.color);
        for v in &t.v {
            pos.push([v[0], v[1] + y, v[2]]);
            col.push(c);
        }
    }
    let normals = vec![[0.0f32, 1.0, 0.0]; pos.len()];
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, pos)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, col)
}

/// The look `choice` means on this adapter: `auto` is fast on a CPU (software) adapter.
fn decide_look(choice: LookChoice, adapter: Option<&RenderAdapterInfo>) -> Look {
    match choice {
        LookChoice::Pbr => Look::Pbr,
        LookChoice::Fast => Look::Fast,
        LookChoice::Auto => {
            let software = adapter.is_some_and(|a| a.device_type == wgpu_types::DeviceType::Cpu);
            if software { Look::Fast } else { Look::Pbr }
        }
    }
}

/// Decide the look once the render adapter is known (before the scene and camera spawn).
pub fn choose_look(
    mut commands: Commands,
    choice: Res<LookChoice>,
    adapter: Option<Res<RenderAdapterInfo>>,
) {
    commands.insert_resource(decide_look(*choice, adapter.as_deref()));
}

#[allow(clippy::too_many_arguments)]
fn setup_scene(
    mut commands: Commands,
    host: NonSend<Host>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut flat: ResMut<Assets<FlatMaterial>>,
    mut images: ResMut<Assets<Image>>,
    msaa: Res<CameraMsaa>,
    look: Res<Look>,
) {
    let Some(scene) = host.env.scene() else {
        // Arcade and classic envs: their own frame, centred, pixel aspect kept.
        let mut env_frame = None;
        commands.spawn((Camera2d, msaa.0));
        commands.insert_resource(ClearColor(Color::BLACK));
        let (w, h) = frame_size(&host);
        if w > 0 {
            let image = nearest_texture(&mut images, w, h);
            env_frame = Some(image.clone());
            commands.spawn((
                // Below the HUD panels, which would otherwise be hidden behind the frame.
                GlobalZIndex(-1),
                Node {
                    width: Val::Percent(100.0),
                    height: Val::Percent(100.0),
                    justify_content: JustifyContent::Center,
                    align_items: AlignItems::Center,
                    ..default()
                },
                children![(
                    ImageNode::new(image),
                    Node {
                        height: Val::Percent(100.0),
                        aspect_ratio: Some(w as f32 / h as f32),
                        ..default()
                    },
                )],
            ));
        }
        if let Some(image) = env_frame {
            commands.insert_resource(EnvFrame {
                image,
                last_step: None,
            });
        }
        return;
    };
    let look = *look;
    commands.insert_resource(ClearColor(color(scene.sky)));

    // Ground: a plane covering the road's extent with a wide margin.
    let (mut lo, mut hi) = (Vec2::splat(f32::MAX), Vec2::splat(f32::MIN));
    for t in &scene.road.tris {
        for v in &t.v {
            lo = lo.min(Vec2::new(v[0], v[2]));
            hi = hi.max(Vec2::new(v[0], v[2]));
        }
    }
    if lo.x > hi.x {
        (lo, hi) = (Vec2::splat(-100.0), Vec2::splat(100.0));
    }
    let size = hi - lo + Vec2::splat(600.0);
    let mid = 0.5 * (lo + hi);
    let road = meshes.add(road_mesh(scene));
    let ground = meshes.add(Plane3d::default().mesh().size(size.x, size.y));
    let ground_at = Transform::from_xyz(mid.x, GROUND_Y, mid.y);
    let cube = meshes.add(Cuboid::new(1.0, 1.0, 1.0));

    if look == Look::Fast {
        // The road's vertex colours times white; the ground its colour; the sun in the
        // shader; no light entities, no shadow maps.
        commands.spawn((
            Mesh3d(road),
            MeshMaterial3d(flat.add(FlatMaterial::lit(Color::WHITE))),
        ));
        commands.spawn((
            Mesh3d(ground),
            MeshMaterial3d(flat.add(FlatMaterial::lit(color(scene.ground)))),
            ground_at,
        ));
        let blob = (
            meshes.add(Plane3d::default().mesh().size(1.0, 1.0)),
            flat.add(FlatMaterial::shadow()),
        );
        commands.insert_resource(BoxPool::new(look, cube, Some(blob)));
        return;
    }

    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 600.0,
        ..default()
    });
    // The road: one mesh, flat-coloured triangles as the CPU camera draws them.
    commands.spawn((
        Mesh3d(road),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::WHITE,
            perceptual_roughness: 0.95,
            cull_mode: None,
            double_sided: true,
            ..default()
        })),
        NotShadowCaster,
    ));
    commands.spawn((
        Mesh3d(ground),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: color(scene.ground),
            perceptual_roughness: 1.0,
            ..default()
        })),
        ground_at,
        NotShadowCaster,
    ));
    // The sun, from the direction the CPU camera shades with.
    commands.spawn((
        DirectionalLight {
            illuminance: 9000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_translation(sun_direction()).looking_at(Vec3::ZERO, Vec3::Y),
        CascadeShadowConfigBuilder {
            num_cascades: 2,
            first_cascade_far_bound: 25.0,
            maximum_distance: 120.0,
            ..default()
        }
        .build(),
    ));
    commands.insert_resource(BoxPool::new(look, cube, None));
}

impl BoxPool {
    fn new(
        look: Look,
        cube: Handle<Mesh>,
        blob: Option<(Handle<Mesh>, Handle<FlatMaterial>)>,
    ) -> Self {
        Self {
            look,
            entities: Vec::new(),
            shadows: Vec::new(),
            colors: Vec::new(),
            materials: HashMap::new(),
            cube,
            blob,
        }
    }
}

/// Size of the env's rendered frame (0 x 0 when it has none).
fn frame_size(host: &Host) -> (usize, usize) {
    host.frame_dims
}

/// Put one entity on every box of the scene (ego, obstacles, NPC cars: however many the
/// scene holds this frame) at the scene's pose.
fn sync_boxes(
    mut commands: Commands,
    host: NonSend<Host>,
    pool: Option<ResMut<BoxPool>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut flat: ResMut<Assets<FlatMaterial>>,
    mut q: Query<(&mut Transform, &mut Visibility)>,
    mut timings: ResMut<Timings>,
) {
    let (Some(mut pool), Some(scene)) = (pool, host.env.scene()) else {
        return;
    };
    let t0 = Instant::now();
    let pool = &mut *pool;
    let look = pool.look;
    for (i, b) in scene.boxes.iter().enumerate() {
        let mat = pool
            .materials
            .entry(b.color)
            .or_insert_with(|| match look {
                Look::Pbr => BoxMaterial::Pbr(materials.add(StandardMaterial {
                    base_color: color(b.color),
                    perceptual_roughness: 0.6,
                    ..default()
                })),
                Look::Fast => BoxMaterial::Fast(flat.add(FlatMaterial::lit(color(b.color)))),
            })
            .clone();
        let transform = box_transform(b);
        if i >= pool.entities.len() {
            let mut e = commands.spawn((Mesh3d(pool.cube.clone()), transform));
            mat.insert(&mut e);
            pool.entities.push(e.id());
            pool.colors.push(b.color);
            if let Some((mesh, shadow)) = &pool.blob {
                let s = commands.spawn((
                    Mesh3d(mesh.clone()),
                    MeshMaterial3d(shadow.clone()),
                    blob_transform(&transform, BLOB_Y),
                ));
                pool.shadows.push(s.id());
            }
            continue;
        }
        if let Ok((mut t, mut vis)) = q.get_mut(pool.entities[i]) {
            *t = transform;
            *vis = Visibility::Inherited;
        }
        if let Some(&s) = pool.shadows.get(i)
            && let Ok((mut t, mut vis)) = q.get_mut(s)
        {
            *t = blob_transform(&transform, BLOB_Y);
            *vis = Visibility::Inherited;
        }
        if pool.colors[i] != b.color {
            pool.colors[i] = b.color;
            mat.insert(&mut commands.entity(pool.entities[i]));
        }
    }
    let n = scene.boxes.len();
    let hidden = pool
        .entities
        .iter()
        .skip(n)
        .chain(pool.shadows.iter().skip(n));
    for &e in hidden {
        if let Ok((_, mut vis)) = q.get_mut(e) {
            *vis = Visibility::Hidden;
        }
    }
    timings.poses += t0.elapsed();
}

/// Copy the env's rendered frame into its texture when the env has stepped.
fn copy_env_frame(
    mut host: NonSendMut<Host>,
    frame: Option<ResMut<EnvFrame>>,
    mut images: ResMut<Assets<Image>>,
    mut timings: ResMut<Timings>,
) {
    let Some(mut frame) = frame else { return };
    let step = host.stats.total_steps + host.stats.episode;
    if frame.last_step == Some(step) {
        return;
    }
    let t0 = Instant::now();
    frame.last_step = Some(step);
    let f = host.env.env().render();
    if let Some(mut image) = images.get_mut(&frame.image)
        && let Some(data) = image.data.as_mut()
        && data.len() == f.width * f.height * 4
    {
        to_rgba(f.data, f.channels, data);
    }
    timings.poses += t0.elapsed();
}
