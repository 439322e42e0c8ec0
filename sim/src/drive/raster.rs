//! A small CPU rasterizer for agent cameras: flat-shaded triangles, perspective projection,
//! near-plane clipping, a z-buffer for boxes, and a sky/ground fill.
//!
//! Designed for 84x84 frames at tens of microseconds: the road mesh is precomputed and culled
//! by chunk (distance and view cone), the road lies flat on the ground so its layers are
//! drawn in order without depth tests (nothing on the ground can hide anything above it), and
//! all buffers are owned by the [`Rasterizer`] and reused, so a frame allocates nothing.

use super::scene::{Rgb, Scene, Tri};
use super::world::BodyPose;
use serde::{Deserialize, Serialize};

/// Which camera an agent sees through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Behind and above the car, looking slightly down along its heading.
    #[default]
    Chase,
    /// From the bonnet, looking ahead.
    Hood,
    /// Straight down from above, car heading up the frame.
    TopDown,
}

/// A pinhole camera with no roll: position, yaw (map heading) and pitch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub position: [f32; 3],
    /// Map heading the camera looks along, radians.
    pub yaw: f32,
    /// Radians, negative looks down.
    pub pitch: f32,
    /// Vertical field of view, degrees.
    pub fov_y_deg: f32,
    pub near: f32,
    pub far: f32,
}

impl Camera {
    /// The camera `view` places relative to the car pose and map heading.
    pub fn follow(view: View, car: &BodyPose, heading: f32) -> Camera {
        let p = car.position;
        let (s, c) = heading.sin_cos();
        // World forward of the map heading is (cos h, 0, -sin h).
        let at = |back: f32, up: f32| [p[0] - c * back, p[1] + up, p[2] + s * back];
        match view {
            View::Chase => Camera {
                position: at(7.0, 2.6),
                yaw: heading,
                pitch: -0.2,
                fov_y_deg: 60.0,
                near: 0.3,
                far: 150.0,
            },
            View::Hood => Camera {
                position: at(-1.4, 0.9),
                yaw: heading,
                pitch: -0.08,
                fov_y_deg: 65.0,
                near: 0.2,
                far: 150.0,
            },
            View::TopDown => Camera {
                position: at(-8.0, 45.0),
                yaw: heading,
                pitch: -std::f32::consts::FRAC_PI_2,
                fov_y_deg: 60.0,
                near: 1.0,
                far: 100.0,
            },
        }
    }

    /// Right, up and forward unit vectors in the world.
    fn basis(&self) -> [[f32; 3]; 3] {
        let (sh, ch) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        let f = [cp * ch, sp, -cp * sh];
        let r = [sh, 0.0, ch];
        // u = r x f
        let u = [
            r[1] * f[2] - r[2] * f[1],
            r[2] * f[0] - r[0] * f[2],
            r[0] * f[1] - r[1] * f[0],
        ];
        [r, u, f]
    }
}

/// Direction of the light for flat shading (normalised in `shade`).
const LIGHT: [f32; 3] = [0.4, 0.8, 0.3];

/// Owns the colour and depth buffers of one camera.
#[derive(Debug, Clone)]
pub struct Rasterizer {
    width: usize,
    height: usize,
    color: Vec<u8>,
    /// 1/z per pixel for boxes (0 = nothing drawn).
    depth: Vec<f32>,
}

#[derive(Clone, Copy)]
struct Proj {
    basis: [[f32; 3]; 3],
    eye: [f32; 3],
    focal: f32,
    cx: f32,
    cy: f32,
    near: f32,
}

impl Proj {
    #[inline]
    fn camera_space(&self, p: [f32; 3]) -> [f32; 3] {
        let d = [p[0] - self.eye[0], p[1] - self.eye[1], p[2] - self.eye[2]];
        let [r, u, f] = self.basis;
        [
            d[0] * r[0] + d[1] * r[1] + d[2] * r[2],
            d[0] * u[0] + d[1] * u[1] + d[2] * u[2],
            d[0] * f[0] + d[1] * f[1] + d[2] * f[2],
        ]
    }
    /// Screen x, y and 1/z of a camera-space point in front of the near plane.
    #[inline]
    fn screen_space(&self, c: [f32; 3]) -> [f32; 3] {
        let iz = 1.0 / c[2];
        [
            self.cx + self.focal * c[0] * iz,
            self.cy - self.focal * c[1] * iz,
            iz,
        ]
    }
}

impl Rasterizer {
    /// Buffers for a `width` x `height` RGB frame.
    pub fn new(width: usize, height: usize) -> Rasterizer {
        Rasterizer {
            width,
            height,
            color: vec![0; width * height * 3],
            depth: vec![0.0; width * height],
        }
    }

    /// Frame width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Frame height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// The last frame, H x W x 3 RGB.
    pub fn rgb(&self) -> &[u8] {
        &self.color
    }

    /// Write the last frame as grayscale (ITU-R 601 luma, integer) into `out` (H x W).
    pub fn gray_into(&self, out: &mut [u8]) {
        for (o, px) in out.iter_mut().zip(self.color.chunks_exact(3)) {
            *o = ((77 * px[0] as u32 + 150 * px[1] as u32 + 29 * px[2] as u32) >> 8) as u8;
        }
    }

    /// Write the last frame as a binary PPM (P6) file, for people debugging a camera.
    pub fn write_ppm(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut data = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        data.extend_from_slice(&self.color);
        std::fs::write(path, data)
    }

    /// Draw `scene` through `cam` into the colour buffer.
    pub fn render(&mut self, scene: &Scene, cam: &Camera) {
        let (w, h) = (self.width, self.height);
        let focal = 0.5 * h as f32 / (0.5 * cam.fov_y_deg.to_radians()).tan();
        let proj = Proj {
            basis: cam.basis(),
            eye: cam.position,
            focal,
            cx: 0.5 * w as f32,
            cy: 0.5 * h as f32,
            near: cam.near,
        };
        // Sky above the horizon, ground below: with no roll, the sign of the world-space
        // ray's y depends on the row only.
        let [_, u, f] = proj.basis;
        for row in 0..h {
            let yc = (proj.cy - (row as f32 + 0.5)) / focal;
            let dir_y = u[1] * yc + f[1];
            let c = if dir_y < 0.0 { scene.ground } else { scene.sky };
            for px in self.color[row * w * 3..(row + 1) * w * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&c);
            }
        }
        self.depth.fill(0.0);

        // Road: visible chunks, surface then markings, no depth test.
        let half_fov_x = ((w as f32 * 0.5) / focal).atan();
        let cone_cos = (half_fov_x.max(0.5 * cam.fov_y_deg.to_radians()) + 0.15)
            .min(1.5)
            .cos();
        let cone = cone_cos.acos();
        // Markings narrower than about a pixel are skipped beyond this distance (a 0.3 m line
        // is under half a pixel there); the asphalt is drawn out to the far plane.
        let markings_far = focal.min(cam.far);
        // Distance to a chunk when any of it can be in view.
        let visible = |c: &super::scene::Chunk| -> Option<f32> {
            let d = [
                c.center[0] - cam.position[0],
                c.center[1] - cam.position[1],
                c.center[2] - cam.position[2],
            ];
            let dist = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
            if dist - c.radius > cam.far {
                return None;
            }
            if dist <= c.radius {
                return Some(0.0);
            }
            let along = d[0] * f[0] + d[1] * f[1] + d[2] * f[2];
            // Inside the view cone widened by the chunk's angular radius.
            let ang = (c.radius / dist).min(1.0).asin();
            (along / dist >= (cone + ang).min(std::f32::consts::PI).cos())
                .then_some(dist - c.radius)
        };
        for chunk in &scene.road.chunks {
            if visible(chunk).is_some() {
                for t in &scene.road.tris[chunk.surface.0..chunk.surface.1] {
                    self.draw_tri(&proj, t, false);
                }
            }
        }
        for chunk in &scene.road.chunks {
            if visible(chunk).is_some_and(|d| d <= markings_far) {
                for t in &scene.road.tris[chunk.markings.0..chunk.markings.1] {
                    self.draw_tri(&proj, t, false);
                }
            }
        }

        // Boxes, depth-tested and back-face culled, flat shaded.
        const FACES: [([usize; 4], [f32; 3]); 6] = [
            ([0, 4, 6, 2], [-1.0, 0.0, 0.0]),
            ([1, 3, 7, 5], [1.0, 0.0, 0.0]),
            ([0, 1, 5, 4], [0.0, -1.0, 0.0]),
            ([2, 6, 7, 3], [0.0, 1.0, 0.0]),
            ([0, 2, 3, 1], [0.0, 0.0, -1.0]),
            ([4, 5, 7, 6], [0.0, 0.0, 1.0]),
        ];
        let ll = (LIGHT[0] * LIGHT[0] + LIGHT[1] * LIGHT[1] + LIGHT[2] * LIGHT[2]).sqrt();
        for b in &scene.boxes {
            let p = b.pose.position;
            let d2 = (p[0] - cam.position[0]).powi(2)
                + (p[1] - cam.position[1]).powi(2)
                + (p[2] - cam.position[2]).powi(2);
            if d2 > cam.far * cam.far {
                continue;
            }
            let corners = b.corners();
            for (idx, n_local) in FACES {
                let n = super::scene::rotate(b.pose.rotation, n_local);
                // Back-face cull against the eye.
                let c0 = corners[idx[0]];
                let to_eye = [
                    cam.position[0] - c0[0],
                    cam.position[1] - c0[1],
                    cam.position[2] - c0[2],
                ];
                if n[0] * to_eye[0] + n[1] * to_eye[1] + n[2] * to_eye[2] <= 0.0 {
                    continue;
                }
                let lambert = ((n[0] * LIGHT[0] + n[1] * LIGHT[1] + n[2] * LIGHT[2]) / ll).max(0.0);
                let k = 0.55 + 0.45 * lambert;
                let color: Rgb = b.color.map(|c| (c as f32 * k).min(255.0) as u8);
                let q = idx.map(|i| corners[i]);
                self.draw_tri(
                    &proj,
                    &Tri {
                        v: [q[0], q[1], q[2]],
                        color,
                    },
                    true,
                );
                self.draw_tri(
                    &proj,
                    &Tri {
                        v: [q[0], q[2], q[3]],
                        color,
                    },
                    true,
                );
            }
        }
    }

    /// Clip a world triangle against the near plane and draw it.
    fn draw_tri(&mut self, proj: &Proj, t: &Tri, depth: bool) {
        let c = t.v.map(|p| proj.camera_space(p));
        let inside = c.map(|p| p[2] >= proj.near);
        let n_in = inside.iter().filter(|&&b| b).count();
        if n_in == 0 {
            return;
        }
        if n_in == 3 {
            let s = c.map(|p| proj.screen_space(p));
            self.fill(s, t.color, depth);
            return;
        }
        // Sutherland-Hodgman against z = near: at most 4 vertices.
        let mut poly = [[0.0f32; 3]; 4];
        let mut m = 0;
        for i in 0..3 {
            let (a, b) = (c[i], c[(i + 1) % 3]);
            let (ia, ib) = (inside[i], inside[(i + 1) % 3]);
            if ia {
                poly[m] = a;
                m += 1;
            }
            if ia != ib {
                let k = (proj.near - a[2]) / (b[2] - a[2]);
                poly[m] = [
                    a[0] + (b[0] - a[0]) * k,
                    a[1] + (b[1] - a[1]) * k,
                    proj.near,
                ];
                m += 1;
            }
        }
        let s = poly.map(|p| {
            if p[2] > 0.0 {
                proj.screen_space(p)
            } else {
                [0.0; 3]
            }
        });
        self.fill([s[0], s[1], s[2]], t.color, depth);
        if m == 4 {
            self.fill([s[0], s[2], s[3]], t.color, depth);
        }
    }

    /// Fill a screen-space triangle (x, y, 1/z) with pixel-centre sampling.
    fn fill(&mut self, s: [[f32; 3]; 3], color: Rgb, depth: bool) {
        let (w, h) = (self.width as f32, self.height as f32);
        let area =
            (s[1][0] - s[0][0]) * (s[2][1] - s[0][1]) - (s[2][0] - s[0][0]) * (s[1][1] - s[0][1]);
        if area.abs() < 1e-9 || !area.is_finite() {
            return;
        }
        let minx = s[0][0].min(s[1][0]).min(s[2][0]).max(0.0);
        let maxx = s[0][0].max(s[1][0]).max(s[2][0]).min(w);
        let miny = s[0][1].min(s[1][1]).min(s[2][1]).max(0.0);
        let maxy = s[0][1].max(s[1][1]).max(s[2][1]).min(h);
        if minx >= maxx || miny >= maxy {
            return;
        }
        let x0 = (minx - 0.5).ceil().max(0.0) as usize;
        let x1 = ((maxx - 0.5).floor() as isize).min(self.width as isize - 1);
        let y0 = (miny - 0.5).ceil().max(0.0) as usize;
        let y1 = ((maxy - 0.5).floor() as isize).min(self.height as isize - 1);
        if x1 < x0 as isize || y1 < y0 as isize {
            return;
        }
        let inv_area = 1.0 / area;
        // Edge function coefficients: e_i(x, y) = a_i x + b_i y + c_i, for the edge opposite
        // vertex i, normalised so the barycentric weights sum to 1.
        let edge = |p: [f32; 3], q: [f32; 3]| {
            let a = (p[1] - q[1]) * inv_area;
            let b = (q[0] - p[0]) * inv_area;
            let c = (p[0] * q[1] - q[0] * p[1]) * inv_area;
            (a, b, c)
        };
        let e0 = edge(s[1], s[2]);
        let e1 = edge(s[2], s[0]);
        let e2 = edge(s[0], s[1]);
        let stride = self.width;
        let xmax = x1 as f32;
        let edges = [e0, e1, e2];
        for y in y0..=(y1 as usize) {
            let py = y as f32 + 0.5;
            // The span of pixel centres x + 0.5 where all three edge functions are >= 0:
            // each is linear in x, so each bounds x from one side.
            let (mut lo, mut hi) = (x0 as f32, xmax);
            let mut empty = false;
            for &(a, b, c) in &edges {
                let cy = b * py + c;
                if a > 0.0 {
                    lo = lo.max((-cy / a - 0.5).ceil());
                } else if a < 0.0 {
                    hi = hi.min((-cy / a - 0.5).floor());
                } else if cy < 0.0 {
                    empty = true;
                }
            }
            if empty || lo > hi {
                continue;
            }
            let (xa, xb) = (lo as usize, hi as usize);
            let row = y * stride;
            if depth {
                let fx = xa as f32 + 0.5;
                // 1/z is affine in screen space: start value and step along the row.
                let iz_at = |x: f32| {
                    let w0 = e0.0 * x + e0.1 * py + e0.2;
                    let w1 = e1.0 * x + e1.1 * py + e1.2;
                    let w2 = e2.0 * x + e2.1 * py + e2.2;
                    w0 * s[0][2] + w1 * s[1][2] + w2 * s[2][2]
                };
                let mut iz = iz_at(fx);
                let diz = e0.0 * s[0][2] + e1.0 * s[1][2] + e2.0 * s[2][2];
                for x in xa..=xb {
                    let i = row + x;
                    if iz > self.depth[i] {
                        self.depth[i] = iz;
                        self.color[i * 3..i * 3 + 3].copy_from_slice(&color);
                    }
                    iz += diz;
                }
            } else {
                for px in self.color[(row + xa) * 3..(row + xb + 1) * 3].chunks_exact_mut(3) {
                    px.copy_from_slice(&color);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::scene::{GRASS, SKY, Scene, SceneBox};
    use crate::drive::track::{Segment, Track, TrackDef};
    use crate::drive::vehicle::VehicleConfig;
    use crate::drive::world::World;

    fn setup() -> (Track, World, Scene) {
        let def = TrackDef {
            name: "t".into(),
            closed: false,
            lanes: 2,
            lane_width: 4.0,
            start: [0.0; 3],
            points: vec![],
            segments: vec![Segment::Straight { length: 300.0 }],
            ..TrackDef::default()
        };
        let track = Track::from_def(&def).unwrap();
        let world = World::new(&track, &VehicleConfig::default(), [20.0, 0.0], 0.0).unwrap();
        let scene = Scene::new(&track, &world);
        (track, world, scene)
    }

    fn px(r: &Rasterizer, x: usize, y: usize) -> [u8; 3] {
        let i = (y * r.width() + x) * 3;
        [r.rgb()[i], r.rgb()[i + 1], r.rgb()[i + 2]]
    }

    #[test]
    fn chase_view_shows_sky_road_grass_and_the_car() {
        let (_, world, scene) = setup();
        let mut r = Rasterizer::new(84, 84);
        let cam = Camera::follow(View::Chase, &world.car_pose(), 0.0);
        r.render(&scene, &cam);
        if let Ok(dir) = std::env::var("DRIVE_DUMP_DIR") {
            r.write_ppm(&std::path::Path::new(&dir).join("chase_unit.ppm"))
                .unwrap();
        }
        assert_eq!(px(&r, 42, 0), SKY, "top row is sky");
        assert_eq!(px(&r, 0, 45), GRASS, "grass beside the road");
        // The car is red and sits in the lower middle of the frame.
        let red = (40..84)
            .flat_map(|y| (20..64).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = px(&r, x, y);
                p[0] > 120 && p[1] < 60
            });
        assert!(red.count() > 40, "the ego car is visible");
        // Road grey straight ahead, above the car.
        let p = px(&r, 42, 36);
        assert!(
            p[0] == p[1] && p[0] > 80 && p[0] < 120 || p == crate::drive::scene::LINE,
            "road ahead: {p:?}"
        );
    }

    #[test]
    fn depth_buffer_puts_the_nearer_box_in_front() {
        let (_, world, mut scene) = setup();
        let pose = world.car_pose();
        let mut near = pose;
        near.position[0] += 10.0;
        let mut far = pose;
        far.position[0] += 20.0;
        scene.boxes.clear();
        // Far box drawn first (blue), then the near one (green); then the other order.
        for order in [[0, 1], [1, 0]] {
            scene.boxes.clear();
            let boxes = [
                SceneBox {
                    pose: far,
                    offset: [0.0; 3],
                    half_extents: [1.0, 3.0, 3.0],
                    color: [0, 0, 250],
                },
                SceneBox {
                    pose: near,
                    offset: [0.0; 3],
                    half_extents: [1.0, 1.0, 1.0],
                    color: [0, 250, 0],
                },
            ];
            for i in order {
                scene.boxes.push(boxes[i]);
            }
            let mut r = Rasterizer::new(84, 84);
            let cam = Camera {
                position: [pose.position[0], pose.position[1], 0.0],
                yaw: 0.0,
                pitch: 0.0,
                fov_y_deg: 60.0,
                near: 0.1,
                far: 100.0,
            };
            r.render(&scene, &cam);
            let c = px(&r, 42, 42);
            assert!(
                c[1] > 100 && c[2] < 50,
                "near green box in front whatever the order: {c:?}"
            );
        }
    }

    #[test]
    fn near_plane_clipping_keeps_the_road_under_the_camera() {
        let (_, world, scene) = setup();
        let mut r = Rasterizer::new(84, 84);
        let cam = Camera::follow(View::Hood, &world.car_pose(), 0.0);
        r.render(&scene, &cam);
        let p = px(&r, 42, 80);
        assert!(
            p != GRASS && p != SKY,
            "road below the bonnet camera: {p:?}"
        );
        let mut g = vec![0u8; 84 * 84];
        r.gray_into(&mut g);
        assert!(g.iter().any(|&v| v != g[0]));
    }
}
