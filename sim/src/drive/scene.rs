//! One description of what the driving world looks like, read by the CPU camera and (later)
//! by the bevy viewer, so the window and the agent see the same world.
//!
//! The scene is in world coordinates (Y-up, metres). It has two parts:
//! * a static road mesh built once per track: flat triangles on the ground (asphalt, kerbs,
//!   lane lines), grouped in chunks along the road for distance culling, each chunk split
//!   into a surface layer and a markings layer drawn after it;
//! * boxes updated every frame from the physics world (the ego car's body, cabin and wheels,
//!   obstacles, NPC cars), each with a pose and a colour.

use super::track::{ObstacleKind, Track, map_to_world};
use super::world::{BodyPose, World};

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Sky colour.
pub const SKY: Rgb = [140, 190, 235];
/// Grass colour (the ground away from the road).
pub const GRASS: Rgb = [86, 170, 72];
/// Asphalt, two shades alternating every 4 m (a motion cue, as in CarRacing); darker than
/// the grass so the road stands out in grayscale too (luma ~85 against ~135).
pub const ASPHALT: [Rgb; 2] = [[92, 92, 96], [82, 82, 86]];
/// Lane and edge lines.
pub const LINE: Rgb = [240, 240, 240];
/// The solid line between the two directions of a two-way road.
pub const CENTRE_LINE: Rgb = [235, 195, 40];
/// Kerb stripes on circuits.
pub const KERB: [Rgb; 2] = [[220, 40, 40], [240, 240, 240]];
/// Ego car body.
pub const EGO_BODY: Rgb = [210, 30, 30];
/// NPC car bodies, by NPC index (none red, so the ego stays the only red car).
pub const NPC_BODY: [Rgb; 4] = [
    [235, 190, 30],
    [60, 140, 235],
    [30, 165, 150],
    [160, 90, 210],
];
/// Ego car cabin (NPC cabins too).
pub const EGO_CABIN: Rgb = [40, 40, 75];
/// Tyres.
pub const TYRE: Rgb = [25, 25, 25];

/// A flat-coloured triangle in world coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tri {
    pub v: [[f32; 3]; 3],
    pub color: Rgb,
}

/// A run of road triangles along the road, with a bounding sphere for culling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chunk {
    /// Surface triangles `tris[surface.0..surface.1]`.
    pub surface: (usize, usize),
    /// Markings drawn over the surface, `tris[markings.0..markings.1]`.
    pub markings: (usize, usize),
    pub center: [f32; 3],
    pub radius: f32,
}

/// The static road mesh of one track.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoadMesh {
    pub tris: Vec<Tri>,
    pub chunks: Vec<Chunk>,
}

/// A coloured box: `pose` of the body it belongs to, then `offset` in the body frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneBox {
    pub pose: BodyPose,
    /// Centre of the box in the body frame.
    pub offset: [f32; 3],
    pub half_extents: [f32; 3],
    pub color: Rgb,
}

/// Everything drawn: the road mesh (static) and the boxes (refreshed each frame).
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub sky: Rgb,
    pub ground: Rgb,
    pub road: RoadMesh,
    pub boxes: Vec<SceneBox>,
}

/// Segments per culling chunk.
const CHUNK_SEGMENTS: usize = 6;

fn quad(out: &mut Vec<Tri>, a: [f32; 2], b: [f32; 2], c: [f32; 2], d: [f32; 2], color: Rgb) {
    // a, b on one end (left, right), c, d on the other (left, right).
    let w = |p: [f32; 2]| map_to_world(p, 0.0);
    out.push(Tri {
        v: [w(a), w(b), w(d)],
        color,
    });
    out.push(Tri {
        v: [w(a), w(d), w(c)],
        color,
    });
}

impl RoadMesh {
    /// Build the road mesh of every road of the map `track`: asphalt, kerbs on circuits,
    /// edge lines on roads, dashed lane dividers, a solid yellow line between the two
    /// directions of a two-way road, and a start line on the route. Edge lines and
    /// markings are left out where a road crosses another (the junction stays clear).
    pub fn build(track: &Track) -> RoadMesh {
        let mut mesh = RoadMesh::default();
        for k in 0..track.road_count() {
            let road = track.road(k).expect("k < road_count");
            mesh.build_road(track, k, road);
        }
        mesh
    }

    fn build_road(&mut self, map: &Track, k: usize, road: &Track) {
        let nseg = road.segments();
        let hw = road.half_width();
        let tris = &mut self.tris;
        tris.reserve(nseg * 12);
        let e = |i: usize, off: f32| road.edge_point(i, off);
        // Markings of segment `i` are drawn unless its middle is inside another road.
        let clear = |i: usize, off: f32| {
            let (a, b) = (e(i, off), e(i + 1, off));
            !map.inside_other_road(k, [0.5 * (a[0] + b[0]), 0.5 * (a[1] + b[1])])
        };
        let mut start = 0;
        while start < nseg {
            let end = (start + CHUNK_SEGMENTS).min(nseg);
            let s0 = tris.len();
            for i in start..end {
                let shade = ASPHALT[(i / 2) % 2];
                quad(
                    tris,
                    e(i, hw),
                    e(i, -hw),
                    e(i + 1, hw),
                    e(i + 1, -hw),
                    shade,
                );
            }
            let m0 = tris.len();
            for i in start..end {
                if road.closed() {
                    let kc = KERB[i % 2];
                    quad(
                        tris,
                        e(i, hw + 0.8),
                        e(i, hw),
                        e(i + 1, hw + 0.8),
                        e(i + 1, hw),
                        kc,
                    );
                    quad(
                        tris,
                        e(i, -hw),
                        e(i, -hw - 0.8),
                        e(i + 1, -hw),
                        e(i + 1, -hw - 0.8),
                        kc,
                    );
                } else {
                    for side in [hw - 0.3, -hw + 0.3] {
                        if clear(i, side) {
                            quad(
                                tris,
                                e(i, side + 0.12),
                                e(i, side - 0.12),
                                e(i + 1, side + 0.12),
                                e(i + 1, side - 0.12),
                                LINE,
                            );
                        }
                    }
                }
                let divider = road.divider_offset();
                if let Some(off) = divider
                    && clear(i, off)
                {
                    quad(
                        tris,
                        e(i, off + 0.15),
                        e(i, off - 0.15),
                        e(i + 1, off + 0.15),
                        e(i + 1, off - 0.15),
                        CENTRE_LINE,
                    );
                }
                // Dashed dividers between lanes: 2 segments on, 2 off.
                if (i / 2) % 2 == 0 {
                    for l in 1..road.lanes() {
                        let off = -hw + road.lane_width() * l as f32;
                        if divider.is_some_and(|d| (d - off).abs() < 1e-3) || !clear(i, off) {
                            continue;
                        }
                        quad(
                            tris,
                            e(i, off + 0.15),
                            e(i, off - 0.15),
                            e(i + 1, off + 0.15),
                            e(i + 1, off - 0.15),
                            LINE,
                        );
                    }
                }
                if i == 0 && k == 0 {
                    // Start line, 1 m deep across the road.
                    let (a, b) = (e(0, hw), e(0, -hw));
                    let (p1, _) = road.pose_at(1.0, hw);
                    let (p2, _) = road.pose_at(1.0, -hw);
                    quad(tris, a, b, p1, p2, LINE);
                }
            }
            let m1 = tris.len();
            let (mut c, mut cnt) = ([0.0f32; 3], 0.0f32);
            for t in &tris[s0..m1] {
                for v in &t.v {
                    c = [c[0] + v[0], c[1] + v[1], c[2] + v[2]];
                    cnt += 1.0;
                }
            }
            let c = [c[0] / cnt, c[1] / cnt, c[2] / cnt];
            let mut r2 = 0.0f32;
            for t in &tris[s0..m1] {
                for v in &t.v {
                    r2 = r2
                        .max((v[0] - c[0]).powi(2) + (v[1] - c[1]).powi(2) + (v[2] - c[2]).powi(2));
                }
            }
            self.chunks.push(Chunk {
                surface: (s0, m0),
                markings: (m0, m1),
                center: c,
                radius: r2.sqrt(),
            });
            start = end;
        }
    }
}

fn obstacle_color(kind: ObstacleKind) -> Rgb {
    match kind {
        ObstacleKind::Cone => [250, 130, 20],
        ObstacleKind::Barrier => [200, 200, 190],
        ObstacleKind::ParkedCar => [40, 90, 200],
    }
}

impl Scene {
    /// The scene of `track`, with boxes for the car and obstacles of `world`.
    pub fn new(track: &Track, world: &World) -> Scene {
        let mut scene = Scene {
            sky: SKY,
            ground: GRASS,
            road: RoadMesh::build(track),
            boxes: Vec::new(),
        };
        scene.update(world);
        scene
    }

    /// Refresh the boxes from the physics world (allocation-free once the box count is
    /// stable).
    pub fn update(&mut self, world: &World) {
        self.boxes.clear();
        let pose = world.car_pose();
        let cfg = world.vehicle_config();
        let he = cfg.half_extents;
        self.boxes.push(SceneBox {
            pose,
            offset: [0.0, 0.15, 0.0],
            half_extents: he,
            color: EGO_BODY,
        });
        self.boxes.push(SceneBox {
            pose,
            offset: [-0.25 * he[0], 0.15 + he[1] + 0.25, 0.0],
            half_extents: [0.5 * he[0], 0.25, 0.85 * he[2]],
            color: EGO_CABIN,
        });
        let (hx, hz) = (0.5 * cfg.wheelbase, 0.5 * cfg.track_width);
        let r = cfg.wheel_radius;
        for (x, z) in [(hx, -hz), (hx, hz), (-hx, -hz), (-hx, hz)] {
            // Wheels drawn at their rest position under the body.
            let y = -0.2 - cfg.suspension_rest_length + 0.08;
            let zz = z + z.signum() * 0.12;
            self.boxes.push(SceneBox {
                pose,
                offset: [x, y, zz],
                half_extents: [r, r, 0.12],
                color: TYRE,
            });
        }
        for (i, n) in world.npc_bodies().iter().enumerate() {
            if !n.active {
                continue;
            }
            let he = n.half_extents;
            // Lower body, then a darker cabin on top (wheels are not drawn for NPCs: at 84x84
            // they are a pixel or two and would double the boxes to raster).
            let body_h = 0.6 * he[1];
            self.boxes.push(SceneBox {
                pose: n.pose,
                offset: [0.0, -he[1] + body_h, 0.0],
                half_extents: [he[0], body_h, he[2]],
                color: NPC_BODY[i % NPC_BODY.len()],
            });
            let cabin_h = he[1] - body_h;
            self.boxes.push(SceneBox {
                pose: n.pose,
                offset: [-0.2 * he[0], he[1] - cabin_h, 0.0],
                half_extents: [0.55 * he[0], cabin_h, 0.85 * he[2]],
                color: EGO_CABIN,
            });
        }
        for o in world.obstacles() {
            self.boxes.push(SceneBox {
                pose: o.pose,
                offset: [0.0; 3],
                half_extents: o.half_extents,
                color: obstacle_color(o.kind),
            });
        }
    }
}

/// Rotate `v` by the quaternion `q = [x, y, z, w]`.
pub fn rotate(q: [f32; 4], v: [f32; 3]) -> [f32; 3] {
    let [qx, qy, qz, qw] = q;
    // t = 2 * cross(q.xyz, v); v' = v + w t + cross(q.xyz, t)
    let t = [
        2.0 * (qy * v[2] - qz * v[1]),
        2.0 * (qz * v[0] - qx * v[2]),
        2.0 * (qx * v[1] - qy * v[0]),
    ];
    [
        v[0] + qw * t[0] + (qy * t[2] - qz * t[1]),
        v[1] + qw * t[1] + (qz * t[0] - qx * t[2]),
        v[2] + qw * t[2] + (qx * t[1] - qy * t[0]),
    ]
}

impl SceneBox {
    /// The 8 world corners, index bits `(x, y, z)` = `(1, 2, 4)` for the positive side.
    pub fn corners(&self) -> [[f32; 3]; 8] {
        let mut out = [[0.0; 3]; 8];
        for (i, c) in out.iter_mut().enumerate() {
            let sx = if i & 1 != 0 { 1.0 } else { -1.0 };
            let sy = if i & 2 != 0 { 1.0 } else { -1.0 };
            let sz = if i & 4 != 0 { 1.0 } else { -1.0 };
            let local = [
                self.offset[0] + sx * self.half_extents[0],
                self.offset[1] + sy * self.half_extents[1],
                self.offset[2] + sz * self.half_extents[2],
            ];
            let r = rotate(self.pose.rotation, local);
            let p = self.pose.position;
            *c = [p[0] + r[0], p[1] + r[1], p[2] + r[2]];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_rotation_matches_yaw() {
        let h = 0.7f32;
        let q = [0.0, (0.5 * h).sin(), 0.0, (0.5 * h).cos()];
        let f = rotate(q, [1.0, 0.0, 0.0]);
        assert!(
            (f[0] - h.cos()).abs() < 1e-6 && (f[2] + h.sin()).abs() < 1e-6,
            "{f:?}"
        );
    }
}
