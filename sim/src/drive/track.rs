//! Tracks and road maps: a centreline polyline with arc length, lanes, and obstacles.
//!
//! Tracks are data ([`TrackDef`], serde) so `assets/tracks/` can hold named layouts and
//! scenarios can refer to them; [`Track::from_def`] validates and resamples a definition into
//! the runtime form used for progress, lateral offset and the road mesh.
//!
//! Coordinates: tracks live in a 2D *map* plane `(x, y)` with angles counter-clockwise from
//! `+x`, so a left turn increases the heading. The 3D world (rapier, bevy) is Y-up; a map point
//! `(x, y)` is the world point `(x, 0, -y)` (see [`map_to_world`]). Lateral offsets are positive
//! to the left of the direction of travel.

use crate::error::{Result, SimError};
use crate::seeding::EnvRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::f32::consts::{PI, TAU};

/// The world point (Y-up) of a map point at height `h`.
pub fn map_to_world(p: [f32; 2], h: f32) -> [f32; 3] {
    [p[0], h, -p[1]]
}

/// Wrap an angle into `(-pi, pi]`.
pub fn wrap_angle(a: f32) -> f32 {
    let mut a = a % TAU;
    if a > PI {
        a -= TAU;
    } else if a <= -PI {
        a += TAU;
    }
    a
}

/// A piece of a hand-built layout, laid end to end from the start pose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Segment {
    /// A straight of `length` metres.
    Straight { length: f32 },
    /// A circular arc of `radius` metres turning `angle_deg` degrees (positive = left).
    Arc { radius: f32, angle_deg: f32 },
}

/// What an obstacle is; sets its size and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObstacleKind {
    /// A traffic cone (0.4 m wide, 0.7 m tall).
    Cone,
    /// A concrete barrier block (2 m long, 0.6 m wide, 0.9 m tall).
    Barrier,
    /// A parked car (same box as the ego car).
    ParkedCar,
}

impl ObstacleKind {
    /// Half extents `(along, up, across)` in metres.
    pub fn half_extents(self) -> [f32; 3] {
        match self {
            ObstacleKind::Cone => [0.2, 0.35, 0.2],
            ObstacleKind::Barrier => [1.0, 0.45, 0.3],
            ObstacleKind::ParkedCar => [2.1, 0.7, 0.9],
        }
    }
}

/// An obstacle placed in track coordinates, so it stays on the road when the layout changes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObstacleDef {
    pub kind: ObstacleKind,
    /// Arc length along the centreline, metres.
    pub s: f32,
    /// Lateral offset from the centreline, metres, positive to the left.
    #[serde(default)]
    pub offset: f32,
    /// Yaw relative to the road direction, degrees.
    #[serde(default)]
    pub heading_deg: f32,
}

/// A track as data: either an explicit centreline (`points`) or `segments` from `start`.
///
/// A map may hold several roads: this one is road 0, the route the ego drives and the
/// reference for progress; `cross_roads` adds roads 1, 2, ... (e.g. the crossing road of an
/// intersection), on which NPCs can drive. The paved area is the union of all roads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TrackDef {
    /// Name, e.g. `"s_bend"`.
    pub name: String,
    /// A closed circuit (the last point joins the first) or an open road.
    #[serde(default)]
    pub closed: bool,
    /// Number of lanes (>= 1).
    pub lanes: u32,
    /// Width of one lane, metres (> 0).
    pub lane_width: f32,
    /// Start pose for `segments`: map `x`, `y` and heading in degrees.
    #[serde(default)]
    pub start: [f32; 3],
    /// Explicit centreline points (map coordinates, metres); used when non-empty.
    #[serde(default)]
    pub points: Vec<[f32; 2]>,
    /// Layout pieces, used when `points` is empty.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Obstacles on the road.
    #[serde(default)]
    pub obstacles: Vec<ObstacleDef>,
    /// How many of the `lanes` (the leftmost ones) carry traffic against the direction of
    /// travel (0 = one-way). Must leave at least one forward lane. A solid yellow line is
    /// painted between the two directions.
    #[serde(default)]
    pub oncoming_lanes: u32,
    /// Further roads in the same map coordinates (road `k + 1` is `cross_roads[k]`): open
    /// roads with their own lanes and obstacles, and no cross roads of their own.
    #[serde(default)]
    pub cross_roads: Vec<TrackDef>,
}

/// Where a point lies relative to the centreline.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Projection {
    /// Arc length of the closest centreline point, metres, in `[0, length)`.
    pub s: f32,
    /// Signed distance from the centreline, metres, positive to the left.
    pub lateral: f32,
    /// Index of the closest segment (the hint for the next query).
    pub index: usize,
    /// Centreline heading at `s`, radians.
    pub heading: f32,
}

/// Spacing of the resampled centreline, metres.
pub const SPACING: f32 = 2.0;

/// A validated track: a uniformly resampled centreline with arc length and lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    name: String,
    closed: bool,
    lanes: u32,
    lane_width: f32,
    /// Centreline points; segment `i` joins `pts[i]` and `pts[i + 1]` (wrapping when closed).
    pts: Vec<[f32; 2]>,
    /// Arc length at `pts[i]`.
    s: Vec<f32>,
    /// Unit direction of segment `i`.
    dir: Vec<[f32; 2]>,
    /// Length of segment `i`.
    seg_len: Vec<f32>,
    length: f32,
    obstacles: Vec<ObstacleDef>,
    oncoming_lanes: u32,
    /// Roads 1.. of the map.
    cross: Vec<Track>,
    /// Road edges of the whole map, for ray distances (empty on cross roads).
    edges: EdgeSet,
}

/// Paved-edge pieces of a map (all roads, minus the pieces inside another road), grouped
/// in runs with a bounding circle so a ray only tests the runs within its range.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeSet {
    /// Edge segments `[ax, ay, bx, by]`, map coordinates.
    segs: Vec<[f32; 4]>,
    /// Runs of `segs`: `(start, end, centre, radius)`.
    runs: Vec<(usize, usize, [f32; 2], f32)>,
}

/// Edge segments per culling run of an [`EdgeSet`].
const EDGE_RUN: usize = 8;

/// Distance along the ray `o + t d` (`d` unit) to the segment `seg`, if it is hit.
fn ray_segment(o: [f32; 2], d: [f32; 2], seg: &[f32; 4]) -> Option<f32> {
    let e = [seg[2] - seg[0], seg[3] - seg[1]];
    let denom = d[0] * e[1] - d[1] * e[0];
    if denom.abs() < 1e-9 {
        return None;
    }
    let w = [seg[0] - o[0], seg[1] - o[1]];
    let t = (w[0] * e[1] - w[1] * e[0]) / denom;
    let u = (w[0] * d[1] - w[1] * d[0]) / denom;
    (t >= 0.0 && (0.0..=1.0).contains(&u)).then_some(t)
}

impl EdgeSet {
    /// Distance from `o` along unit direction `d` to the nearest edge, capped at `max`.
    pub fn ray(&self, o: [f32; 2], d: [f32; 2], max: f32) -> f32 {
        let mut best = max;
        for &(a, b, c, r) in &self.runs {
            let (cx, cy) = (c[0] - o[0], c[1] - o[1]);
            // Skip runs out of reach, behind the origin, or off to the side of the ray.
            let along = cx * d[0] + cy * d[1];
            let across = (cx * d[1] - cy * d[0]).abs();
            if along < -r || along - r > best || across > r || cx.hypot(cy) - r > best {
                continue;
            }
            for seg in &self.segs[a..b] {
                if let Some(t) = ray_segment(o, d, seg) {
                    best = best.min(t);
                }
            }
        }
        best
    }
}

fn bad(name: &str, msg: impl std::fmt::Display) -> SimError {
    SimError::Invalid(format!("track `{name}`: {msg}"))
}

fn finite2(p: [f32; 2]) -> bool {
    p[0].is_finite() && p[1].is_finite()
}

/// Points of a layout described by segments, sampled at most `SPACING / 4` apart.
fn segments_to_points(def: &TrackDef) -> Result<Vec<[f32; 2]>> {
    let [x0, y0, h0] = def.start;
    if !(x0.is_finite() && y0.is_finite() && h0.is_finite()) {
        return Err(bad(&def.name, "`start` must be finite"));
    }
    let mut p = [x0, y0];
    let mut h = h0.to_radians();
    let mut out = vec![p];
    for (k, seg) in def.segments.iter().enumerate() {
        match *seg {
            Segment::Straight { length } => {
                if !(length.is_finite() && length > 0.0) {
                    return Err(bad(
                        &def.name,
                        format!("segment {k}: length must be > 0, got {length}"),
                    ));
                }
                let n = (length / (SPACING / 4.0)).ceil().max(1.0) as usize;
                let (sh, ch) = h.sin_cos();
                let start = p;
                for i in 1..=n {
                    let t = length * i as f32 / n as f32;
                    p = [start[0] + ch * t, start[1] + sh * t];
                    out.push(p);
                }
            }
            Segment::Arc { radius, angle_deg } => {
                if !(radius.is_finite() && radius > 0.0) {
                    return Err(bad(
                        &def.name,
                        format!("segment {k}: radius must be > 0, got {radius}"),
                    ));
                }
                if !(angle_deg.is_finite() && angle_deg != 0.0 && angle_deg.abs() <= 360.0) {
                    return Err(bad(
                        &def.name,
                        format!(
                            "segment {k}: angle_deg must be non-zero and within +-360, got {angle_deg}"
                        ),
                    ));
                }
                let turn = angle_deg.to_radians();
                let sign = turn.signum();
                // Centre of the circle, to the left for a left turn.
                let c = [
                    p[0] - sign * radius * h.sin(),
                    p[1] + sign * radius * h.cos(),
                ];
                let a0 = h - sign * PI / 2.0;
                let arc = radius * turn.abs();
                let n = (arc / (SPACING / 4.0)).ceil().max(1.0) as usize;
                for i in 1..=n {
                    let a = a0 + turn * i as f32 / n as f32;
                    p = [c[0] + radius * a.cos(), c[1] + radius * a.sin()];
                    out.push(p);
                }
                h += turn;
            }
        }
    }
    Ok(out)
}

/// Resample a polyline at a uniform spacing (the last piece is stretched to fit).
fn resample(raw: &[[f32; 2]], closed: bool) -> Vec<[f32; 2]> {
    let mut pts: Vec<[f32; 2]> = raw.to_vec();
    if closed {
        pts.push(raw[0]);
    }
    let mut cum = Vec::with_capacity(pts.len());
    let mut acc = 0.0f32;
    cum.push(0.0);
    for w in pts.windows(2) {
        acc += ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt();
        cum.push(acc);
    }
    let total = acc;
    let n = (total / SPACING).round().max(1.0) as usize;
    let step = total / n as f32;
    let count = if closed { n } else { n + 1 };
    let mut out = Vec::with_capacity(count);
    let mut j = 0;
    for i in 0..count {
        let target = step * i as f32;
        while j + 2 < cum.len() && cum[j + 1] < target {
            j += 1;
        }
        let seg = (cum[j + 1] - cum[j]).max(1e-9);
        let t = ((target - cum[j]) / seg).clamp(0.0, 1.0);
        out.push([
            pts[j][0] + (pts[j + 1][0] - pts[j][0]) * t,
            pts[j][1] + (pts[j + 1][1] - pts[j][1]) * t,
        ]);
    }
    out
}

impl Track {
    /// Validate a definition and build the runtime track. Impossible values (non-positive
    /// widths, NaN, too few points, obstacles off the track) are refused with a clear error.
    pub fn from_def(def: &TrackDef) -> Result<Track> {
        let name = &def.name;
        if def.lanes == 0 || def.lanes > 8 {
            return Err(bad(name, format!("lanes must be 1..=8, got {}", def.lanes)));
        }
        if def.oncoming_lanes >= def.lanes {
            return Err(bad(
                name,
                format!(
                    "oncoming_lanes must leave a forward lane (0..{}), got {}",
                    def.lanes, def.oncoming_lanes
                ),
            ));
        }
        if !(def.lane_width.is_finite() && def.lane_width >= 1.0 && def.lane_width <= 20.0) {
            return Err(bad(
                name,
                format!("lane_width must be within 1..=20 m, got {}", def.lane_width),
            ));
        }
        let raw = if !def.points.is_empty() {
            if let Some(i) = def.points.iter().position(|p| !finite2(*p)) {
                return Err(bad(
                    name,
                    format!("point {i} is not finite: {:?}", def.points[i]),
                ));
            }
            def.points.clone()
        } else if !def.segments.is_empty() {
            segments_to_points(def)?
        } else {
            return Err(bad(name, "needs `points` or `segments`"));
        };
        // Drop repeated points so every segment has a direction.
        let mut dedup: Vec<[f32; 2]> = Vec::with_capacity(raw.len());
        for p in raw {
            if dedup
                .last()
                .is_none_or(|q| (p[0] - q[0]).hypot(p[1] - q[1]) > 1e-3)
            {
                dedup.push(p);
            }
        }
        if def.closed && dedup.len() > 2 {
            let (a, b) = (dedup[0], dedup[dedup.len() - 1]);
            if (a[0] - b[0]).hypot(a[1] - b[1]) <= 1e-3 {
                dedup.pop();
            }
        }
        if dedup.len() < if def.closed { 3 } else { 2 } {
            return Err(bad(
                name,
                "needs at least 2 distinct points (3 when closed)",
            ));
        }
        let pts = resample(&dedup, def.closed);
        let n = pts.len();
        let nseg = if def.closed { n } else { n - 1 };
        if nseg < 2 {
            return Err(bad(
                name,
                format!("is too short ({n} points at {SPACING} m)"),
            ));
        }
        let mut s = Vec::with_capacity(n);
        let mut dir = Vec::with_capacity(nseg);
        let mut seg_len = Vec::with_capacity(nseg);
        let mut acc = 0.0;
        for i in 0..n {
            s.push(acc);
            if i < nseg {
                let (a, b) = (pts[i], pts[(i + 1) % n]);
                let l = (b[0] - a[0]).hypot(b[1] - a[1]);
                if l.partial_cmp(&1e-4) != Some(std::cmp::Ordering::Greater) {
                    return Err(bad(name, "degenerate centreline (zero-length segment)"));
                }
                dir.push([(b[0] - a[0]) / l, (b[1] - a[1]) / l]);
                seg_len.push(l);
                acc += l;
            }
        }
        let mut cross = Vec::with_capacity(def.cross_roads.len());
        for (k, c) in def.cross_roads.iter().enumerate() {
            if !c.cross_roads.is_empty() {
                return Err(bad(
                    name,
                    format!("cross road {k} (`{}`) has cross roads of its own", c.name),
                ));
            }
            if c.closed {
                return Err(bad(
                    name,
                    format!("cross road {k} (`{}`) must be open", c.name),
                ));
            }
            cross.push(Track::from_def(c).map_err(|e| bad(name, format!("cross road {k}: {e}")))?);
        }
        let mut track = Track {
            name: name.clone(),
            closed: def.closed,
            lanes: def.lanes,
            lane_width: def.lane_width,
            pts,
            s,
            dir,
            seg_len,
            length: acc,
            obstacles: def.obstacles.clone(),
            oncoming_lanes: def.oncoming_lanes,
            cross,
            edges: EdgeSet::default(),
        };
        track.edges = track.build_edges();
        for (i, o) in def.obstacles.iter().enumerate() {
            if !(o.s.is_finite() && o.offset.is_finite() && o.heading_deg.is_finite()) {
                return Err(bad(name, format!("obstacle {i} has a non-finite value")));
            }
            if o.s < 0.0 || o.s > track.length {
                return Err(bad(
                    name,
                    format!("obstacle {i}: s = {} is outside 0..{}", o.s, track.length),
                ));
            }
            if o.offset.abs() > track.half_width() + 5.0 {
                return Err(bad(
                    name,
                    format!("obstacle {i}: offset {} is far off the road", o.offset),
                ));
            }
        }
        Ok(track)
    }

    /// Name of the layout.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// True for a circuit.
    pub fn closed(&self) -> bool {
        self.closed
    }
    /// Total centreline length, metres.
    pub fn length(&self) -> f32 {
        self.length
    }
    /// Number of lanes.
    pub fn lanes(&self) -> u32 {
        self.lanes
    }
    /// Width of one lane.
    pub fn lane_width(&self) -> f32 {
        self.lane_width
    }
    /// Half of the paved width.
    pub fn half_width(&self) -> f32 {
        0.5 * self.lanes as f32 * self.lane_width
    }
    /// Lateral offset of the centre of lane `k` (lane 0 is the rightmost).
    pub fn lane_offset(&self, k: u32) -> f32 {
        -self.half_width() + self.lane_width * (k as f32 + 0.5)
    }
    /// Resampled centreline points.
    pub fn points(&self) -> &[[f32; 2]] {
        &self.pts
    }
    /// Number of centreline segments.
    pub fn segments(&self) -> usize {
        self.dir.len()
    }
    /// Obstacles placed on this track.
    pub fn obstacles(&self) -> &[ObstacleDef] {
        &self.obstacles
    }
    /// Number of leftmost lanes that run against the direction of travel.
    pub fn oncoming_lanes(&self) -> u32 {
        self.oncoming_lanes
    }
    /// Lanes that run in the direction of travel (lanes `0..forward_lanes()`).
    pub fn forward_lanes(&self) -> u32 {
        self.lanes - self.oncoming_lanes
    }
    /// Lateral offset of the line between forward and oncoming lanes, if there are both.
    pub fn divider_offset(&self) -> Option<f32> {
        (self.oncoming_lanes > 0)
            .then(|| -self.half_width() + self.lane_width * self.forward_lanes() as f32)
    }
    /// Travel direction at lateral offset `d`: `1.0` along increasing arc length, `-1.0` in
    /// the oncoming lanes.
    pub fn direction_at(&self, d: f32) -> f32 {
        match self.divider_offset() {
            Some(div) if d > div => -1.0,
            _ => 1.0,
        }
    }
    /// The other roads of the map (road `k + 1` is `cross_roads()[k]`).
    pub fn cross_roads(&self) -> &[Track] {
        &self.cross
    }
    /// Number of roads in the map (this one plus its cross roads).
    pub fn road_count(&self) -> usize {
        1 + self.cross.len()
    }
    /// Road `i` of the map: 0 is this road (the route), `k + 1` is cross road `k`.
    pub fn road(&self, i: usize) -> Option<&Track> {
        if i == 0 {
            Some(self)
        } else {
            self.cross.get(i - 1)
        }
    }
    /// Paved edges of the whole map, for ray distances.
    pub fn edges(&self) -> &EdgeSet {
        &self.edges
    }

    /// True when map point `p`, whose offset from this road's centreline is `lateral` (from
    /// [`Track::project`]), is on the paved area of any road of the map.
    pub fn on_paved(&self, p: [f32; 2], lateral: f32) -> bool {
        lateral.abs() <= self.half_width()
            || self
                .cross
                .iter()
                .any(|r| r.project(p, None).lateral.abs() <= r.half_width())
    }

    /// The edge point at centreline point `i`, `off` metres to the left, mitred between the
    /// neighbouring segments (the road mesh and the ray edges share it).
    pub fn edge_point(&self, i: usize, off: f32) -> [f32; 2] {
        let pts = &self.pts;
        let n = pts.len();
        let dir = |k: usize| self.dir[k.min(self.dir.len() - 1)];
        let nseg = self.dir.len();
        let d = if self.closed || (i > 0 && i < nseg) {
            let (d0, d1) = (dir((i + n - 1) % n), dir(i % n));
            let m = [d0[0] + d1[0], d0[1] + d1[1]];
            let l = m[0].hypot(m[1]).max(1e-6);
            [m[0] / l, m[1] / l]
        } else if i == 0 {
            dir(0)
        } else {
            dir(nseg - 1)
        };
        let p = pts[i % n];
        [p[0] - d[1] * off, p[1] + d[0] * off]
    }

    /// True when `p` lies strictly inside the paved area of a road of the map other than
    /// road `except` (used to leave edges and markings out of junctions).
    pub fn inside_other_road(&self, except: usize, p: [f32; 2]) -> bool {
        (0..self.road_count()).any(|k| {
            k != except
                && self.road(k).is_some_and(|r| {
                    let pr = r.project(p, None);
                    pr.lateral.abs() < r.half_width() - 1e-3 && r.along_overrun(p, &pr) <= 1e-3
                })
        })
    }

    /// How far beyond the ends of an open road `p` lies (0 within them).
    fn along_overrun(&self, p: [f32; 2], pr: &Projection) -> f32 {
        if self.closed {
            return 0.0;
        }
        let (q, h) = self.pose_at(pr.s, 0.0);
        let along = (p[0] - q[0]) * h.cos() + (p[1] - q[1]) * h.sin();
        if pr.s <= 1e-3 {
            (-along).max(0.0)
        } else if pr.s >= self.length - 1e-3 {
            along.max(0.0)
        } else {
            0.0
        }
    }

    fn build_edges(&self) -> EdgeSet {
        let mut segs = Vec::new();
        let mut runs = Vec::new();
        for k in 0..self.road_count() {
            let r = self.road(k).expect("k < road_count");
            let hw = r.half_width();
            for side in [hw, -hw] {
                let mut run_start = segs.len();
                for i in 0..r.segments() {
                    let (a, b) = (r.edge_point(i, side), r.edge_point(i + 1, side));
                    let mid = [0.5 * (a[0] + b[0]), 0.5 * (a[1] + b[1])];
                    if !self.inside_other_road(k, mid) {
                        segs.push([a[0], a[1], b[0], b[1]]);
                    }
                    if segs.len() - run_start >= EDGE_RUN || i + 1 == r.segments() {
                        push_run(&segs, run_start, &mut runs);
                        run_start = segs.len();
                    }
                }
            }
        }
        EdgeSet { segs, runs }
    }

    /// Normalise an arc length: wrapped for circuits, clamped for open roads.
    pub fn wrap_s(&self, s: f32) -> f32 {
        if self.closed {
            let r = s % self.length;
            if r < 0.0 { r + self.length } else { r }
        } else {
            s.clamp(0.0, self.length)
        }
    }

    /// Segment index containing arc length `s` (already wrapped).
    fn segment_at(&self, s: f32) -> usize {
        let i = self.s.partition_point(|&x| x <= s);
        i.saturating_sub(1).min(self.dir.len() - 1)
    }

    /// Map point, heading and unit left normal at arc length `s`, plus `offset` to the left.
    pub fn pose_at(&self, s: f32, offset: f32) -> ([f32; 2], f32) {
        let s = self.wrap_s(s);
        let i = self.segment_at(s);
        let d = self.dir[i];
        let t = s - self.s[i];
        let a = self.pts[i];
        let p = [
            a[0] + d[0] * t - d[1] * offset,
            a[1] + d[1] * t + d[0] * offset,
        ];
        (p, d[1].atan2(d[0]))
    }

    /// Centreline curvature at `s` (1/m, positive for left turns), from neighbouring segments.
    pub fn curvature_at(&self, s: f32) -> f32 {
        let ds = 3.0 * SPACING;
        let (_, h0) = self.pose_at(s - ds, 0.0);
        let (_, h1) = self.pose_at(s + ds, 0.0);
        wrap_angle(h1 - h0) / (2.0 * ds)
    }

    fn project_segment(&self, i: usize, p: [f32; 2]) -> (f32, f32, f32) {
        let a = self.pts[i];
        let d = self.dir[i];
        let (vx, vy) = (p[0] - a[0], p[1] - a[1]);
        let t = (vx * d[0] + vy * d[1]).clamp(0.0, self.seg_len[i]);
        let (qx, qy) = (a[0] + d[0] * t, a[1] + d[1] * t);
        let dist2 = (p[0] - qx).powi(2) + (p[1] - qy).powi(2);
        let lateral = d[0] * vy - d[1] * vx;
        (dist2, t, lateral)
    }

    /// Project a map point on the centreline. `hint` (the last index) makes this a local
    /// search of a few segments; without a hint, or when the local answer is far from the
    /// road, every segment is searched.
    pub fn project(&self, p: [f32; 2], hint: Option<usize>) -> Projection {
        const WINDOW: isize = 6;
        let nseg = self.dir.len() as isize;
        let mut best = (f32::INFINITY, 0usize, 0.0f32, 0.0f32);
        let consider = |i: usize, best: &mut (f32, usize, f32, f32)| {
            let (d2, t, lat) = self.project_segment(i, p);
            if d2 < best.0 {
                *best = (d2, i, t, lat);
            }
        };
        let mut local_ok = false;
        if let Some(h) = hint.filter(|&h| (h as isize) < nseg) {
            for k in -WINDOW..=WINDOW {
                let j = h as isize + k;
                let j = if self.closed {
                    j.rem_euclid(nseg)
                } else if j < 0 || j >= nseg {
                    continue;
                } else {
                    j
                };
                consider(j as usize, &mut best);
            }
            let edge = (best.1 as isize - h as isize).rem_euclid(nseg);
            let at_edge = edge == WINDOW || edge == nseg - WINDOW;
            let hw = self.half_width() + 10.0;
            local_ok = !at_edge && best.0 <= hw * hw;
        }
        if !local_ok {
            best = (f32::INFINITY, 0, 0.0, 0.0);
            for i in 0..nseg as usize {
                consider(i, &mut best);
            }
        }
        let (d2, i, t, lat) = best;
        let dist = d2.sqrt();
        let lateral = if lat >= 0.0 { dist } else { -dist };
        let d = self.dir[i];
        Projection {
            s: self.wrap_s(self.s[i] + t),
            lateral,
            index: i,
            heading: d[1].atan2(d[0]),
        }
    }

    /// Signed arc-length difference `b - a`, the short way round on a circuit.
    pub fn delta_s(&self, a: f32, b: f32) -> f32 {
        let d = b - a;
        if self.closed {
            wrap_half(d, self.length)
        } else {
            d
        }
    }
}

fn push_run(segs: &[[f32; 4]], start: usize, runs: &mut Vec<(usize, usize, [f32; 2], f32)>) {
    let end = segs.len();
    if end == start {
        return;
    }
    let n = 2.0 * (end - start) as f32;
    let c = segs[start..end].iter().fold([0.0f32; 2], |c, s| {
        [c[0] + (s[0] + s[2]) / n, c[1] + (s[1] + s[3]) / n]
    });
    let r = segs[start..end].iter().fold(0.0f32, |r, s| {
        r.max((s[0] - c[0]).hypot(s[1] - c[1]))
            .max((s[2] - c[0]).hypot(s[3] - c[1]))
    });
    runs.push((start, end, c, r));
}

fn wrap_half(d: f32, l: f32) -> f32 {
    if d > 0.5 * l {
        d - l
    } else if d < -0.5 * l {
        d + l
    } else {
        d
    }
}

/// Parameters of procedural circuits (CarRacing-style: random checkpoints around a circle,
/// joined by a smooth closed spline).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProceduralParams {
    /// Number of random checkpoints around the circle.
    pub checkpoints: u32,
    /// Radius of the circle, metres; checkpoints lie between half and all of it.
    pub radius: f32,
    /// Lanes of the circuit.
    pub lanes: u32,
    /// Lane width, metres.
    pub lane_width: f32,
    /// Tightest allowed turn radius of the centreline, metres.
    pub min_turn_radius: f32,
}

impl Default for ProceduralParams {
    fn default() -> Self {
        Self {
            checkpoints: 12,
            radius: 90.0,
            lanes: 2,
            lane_width: 4.0,
            min_turn_radius: 18.0,
        }
    }
}

impl ProceduralParams {
    /// Refuse impossible parameters.
    pub fn validate(&self) -> Result<()> {
        let e = |m: String| Err(SimError::Invalid(format!("procedural track: {m}")));
        if !(5..=64).contains(&self.checkpoints) {
            return e(format!(
                "checkpoints must be 5..=64, got {}",
                self.checkpoints
            ));
        }
        if !(self.radius.is_finite() && (30.0..=2000.0).contains(&self.radius)) {
            return e(format!(
                "radius must be within 30..=2000 m, got {}",
                self.radius
            ));
        }
        if !(self.min_turn_radius.is_finite() && self.min_turn_radius > 0.0) {
            return e(format!(
                "min_turn_radius must be > 0, got {}",
                self.min_turn_radius
            ));
        }
        if self.min_turn_radius * 3.0 > self.radius {
            return e(format!(
                "min_turn_radius {} is too large for radius {} (at most a third)",
                self.min_turn_radius, self.radius
            ));
        }
        Ok(())
    }
}

/// Closed centripetal Catmull-Rom spline through `cp`, `per_span` samples per span.
fn catmull_rom_closed(cp: &[[f32; 2]], per_span: usize) -> Vec<[f32; 2]> {
    let n = cp.len();
    let mut out = Vec::with_capacity(n * per_span);
    let knot = |a: [f32; 2], b: [f32; 2]| ((b[0] - a[0]).hypot(b[1] - a[1])).sqrt().max(1e-4);
    for i in 0..n {
        let p0 = cp[(i + n - 1) % n];
        let p1 = cp[i];
        let p2 = cp[(i + 1) % n];
        let p3 = cp[(i + 2) % n];
        let t0 = 0.0;
        let t1 = t0 + knot(p0, p1);
        let t2 = t1 + knot(p1, p2);
        let t3 = t2 + knot(p2, p3);
        for k in 0..per_span {
            let t = t1 + (t2 - t1) * k as f32 / per_span as f32;
            let lerp = |a: [f32; 2], b: [f32; 2], ta: f32, tb: f32| {
                let w = (t - ta) / (tb - ta);
                [a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w]
            };
            let a1 = lerp(p0, p1, t0, t1);
            let a2 = lerp(p1, p2, t1, t2);
            let a3 = lerp(p2, p3, t2, t3);
            let b1 = lerp(a1, a2, t0, t2);
            let b2 = lerp(a2, a3, t1, t3);
            out.push(lerp(b1, b2, t1, t2));
        }
    }
    out
}

/// Check a candidate circuit: turns no tighter than `min_radius`, and no two distant parts
/// of the road closer than a road width plus a margin.
fn circuit_ok(track: &Track, min_radius: f32) -> bool {
    let n = track.segments();
    let max_curv = 1.0 / min_radius;
    for i in 0..n {
        let s = track.s[i];
        if track.curvature_at(s).abs() > max_curv {
            return false;
        }
    }
    let clear = 2.0 * track.half_width() + 6.0;
    let pts = &track.pts;
    for i in 0..n {
        for j in (i + 1)..n {
            let along = track.delta_s(track.s[i], track.s[j]).abs();
            if along < clear * 2.0 {
                continue;
            }
            let d = (pts[i][0] - pts[j][0]).hypot(pts[i][1] - pts[j][1]);
            if d < clear {
                return false;
            }
        }
    }
    true
}

/// A seeded procedural circuit, counter-clockwise, starting at `s = 0`. Draws candidates
/// from `rng` until one passes the turn-radius and self-clearance checks (deterministic for a
/// given stream); after many failures the checkpoints fall back to the circle itself.
pub fn procedural(params: &ProceduralParams, rng: &mut EnvRng) -> Result<Track> {
    params.validate()?;
    let n = params.checkpoints as usize;
    let mut cp = vec![[0.0f32; 2]; n];
    for attempt in 0..200 {
        for (c, p) in cp.iter_mut().enumerate() {
            let jitter: f32 = if attempt < 199 {
                rng.random_range(0.1..0.9)
            } else {
                0.5
            };
            let rad: f32 = if attempt < 199 {
                rng.random_range(0.55..1.0) * params.radius
            } else {
                params.radius
            };
            let alpha = TAU * (c as f32 + jitter) / n as f32;
            *p = [rad * alpha.cos(), rad * alpha.sin()];
        }
        let raw = catmull_rom_closed(&cp, 24);
        // Start the circuit at the point closest to the +x axis crossing, for a stable start.
        let def = TrackDef {
            name: "procedural".into(),
            closed: true,
            lanes: params.lanes,
            lane_width: params.lane_width,
            start: [0.0; 3],
            points: raw,
            ..TrackDef::default()
        };
        let track = Track::from_def(&def)?;
        if circuit_ok(&track, params.min_turn_radius) || attempt == 199 {
            return Ok(track);
        }
    }
    unreachable!("the last attempt always returns")
}

/// Names of the built-in map layouts (files in `assets/tracks/`, compiled in).
pub const MAP_NAMES: &[&str] = &["straight", "curve", "s_bend", "intersection", "two_way"];

/// The built-in layout `name`, parsed from the TOML compiled in from `assets/tracks/`.
pub fn builtin_map(name: &str) -> Result<TrackDef> {
    let text = match name {
        "straight" => include_str!("../../../assets/tracks/straight.toml"),
        "curve" => include_str!("../../../assets/tracks/curve.toml"),
        "s_bend" => include_str!("../../../assets/tracks/s_bend.toml"),
        "intersection" => include_str!("../../../assets/tracks/intersection.toml"),
        "two_way" => include_str!("../../../assets/tracks/two_way.toml"),
        other => {
            return Err(SimError::Invalid(format!(
                "unknown map `{other}`; built-in maps: {}",
                MAP_NAMES.join(", ")
            )));
        }
    };
    parse_track_toml(text)
}

/// Parse a track definition from TOML text (the format of `assets/tracks/*.toml`).
pub fn parse_track_toml(text: &str) -> Result<TrackDef> {
    toml::from_str(text)
        .map_err(|e| SimError::Invalid(format!("bad track file: {}", e.to_string().trim())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeding::rng_from_seed;

    fn straight(len: f32) -> TrackDef {
        TrackDef {
            name: "t".into(),
            closed: false,
            lanes: 2,
            lane_width: 3.5,
            start: [0.0, 0.0, 0.0],
            points: vec![],
            segments: vec![Segment::Straight { length: len }],
            ..TrackDef::default()
        }
    }

    #[test]
    fn straight_projection_gives_s_and_signed_offset() {
        let t = Track::from_def(&straight(100.0)).unwrap();
        assert!((t.length() - 100.0).abs() < 1e-3);
        let p = t.project([30.0, 1.5], None);
        assert!((p.s - 30.0).abs() < 1e-3, "{p:?}");
        assert!((p.lateral - 1.5).abs() < 1e-4, "left is positive: {p:?}");
        let p = t.project([31.0, -2.0], Some(p.index));
        assert!((p.s - 31.0).abs() < 1e-3);
        assert!((p.lateral + 2.0).abs() < 1e-4);
        assert!((t.lane_offset(0) + 1.75).abs() < 1e-6 && (t.lane_offset(1) - 1.75).abs() < 1e-6);
    }

    #[test]
    fn arc_layout_turns_left_for_positive_angle() {
        let mut d = straight(10.0);
        d.segments.push(Segment::Arc {
            radius: 50.0,
            angle_deg: 90.0,
        });
        let t = Track::from_def(&d).unwrap();
        let expect = 10.0 + 50.0 * PI / 2.0;
        assert!(
            (t.length() - expect).abs() < 0.05,
            "{} vs {expect}",
            t.length()
        );
        let (end, h) = t.pose_at(t.length(), 0.0);
        assert!(
            (end[0] - 60.0).abs() < 0.1 && (end[1] - 50.0).abs() < 0.1,
            "{end:?}"
        );
        assert!((h - PI / 2.0).abs() < 0.05, "{h}");
        assert!((t.curvature_at(40.0) - 1.0 / 50.0).abs() < 2e-3);
    }

    #[test]
    fn impossible_values_are_refused() {
        let mut d = straight(100.0);
        d.lane_width = -3.0;
        assert!(
            Track::from_def(&d)
                .unwrap_err()
                .to_string()
                .contains("lane_width")
        );
        let mut d = straight(100.0);
        d.lane_width = f32::NAN;
        assert!(Track::from_def(&d).is_err());
        let d = straight(f32::NAN);
        assert!(
            Track::from_def(&d)
                .unwrap_err()
                .to_string()
                .contains("length")
        );
        let mut d = straight(100.0);
        d.lanes = 0;
        assert!(Track::from_def(&d).is_err());
        let mut d = straight(100.0);
        d.segments = vec![];
        d.points = vec![[0.0, 0.0], [f32::INFINITY, 1.0]];
        assert!(
            Track::from_def(&d)
                .unwrap_err()
                .to_string()
                .contains("not finite")
        );
        let mut d = straight(100.0);
        d.obstacles.push(ObstacleDef {
            kind: ObstacleKind::Cone,
            s: 500.0,
            offset: 0.0,
            heading_deg: 0.0,
        });
        assert!(
            Track::from_def(&d)
                .unwrap_err()
                .to_string()
                .contains("obstacle 0")
        );
        assert!(parse_track_toml("name = \"x\"\nlanes = 2\nlane_width = 3.5\nwidth = 2").is_err());
    }

    #[test]
    fn local_search_matches_global_search_around_a_circuit() {
        let mut rng = rng_from_seed(3);
        let t = procedural(&ProceduralParams::default(), &mut rng).unwrap();
        let mut hint = None;
        let mut s = 0.0;
        while s < t.length() * 2.0 {
            let (p, _) = t.pose_at(s, 1.3);
            let local = t.project(p, hint);
            let global = t.project(p, None);
            assert!((local.lateral - global.lateral).abs() < 1e-3, "at s={s}");
            assert!(
                t.delta_s(local.s, t.wrap_s(s)).abs() < 0.5,
                "at s={s}: {local:?}"
            );
            hint = Some(local.index);
            s += 0.7;
        }
    }

    #[test]
    fn procedural_circuits_are_seeded_closed_and_clear() {
        let p = ProceduralParams::default();
        let a = procedural(&p, &mut rng_from_seed(7)).unwrap();
        let b = procedural(&p, &mut rng_from_seed(7)).unwrap();
        let c = procedural(&p, &mut rng_from_seed(8)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.points(), c.points());
        for seed in 0..20 {
            let t = procedural(&p, &mut rng_from_seed(seed)).unwrap();
            assert!(t.closed());
            assert!(
                t.length() > 300.0 && t.length() < 1000.0,
                "seed {seed}: {}",
                t.length()
            );
            assert!(
                circuit_ok(&t, p.min_turn_radius),
                "seed {seed} fell back to the circle"
            );
            // Closed: the last point joins the first one segment-length away.
            let (f, l) = (t.points()[0], t.points()[t.points().len() - 1]);
            assert!((f[0] - l[0]).hypot(f[1] - l[1]) < SPACING * 1.5);
        }
    }

    #[test]
    fn culled_edge_rays_match_testing_every_edge() {
        let t = procedural(&ProceduralParams::default(), &mut rng_from_seed(4)).unwrap();
        let e = t.edges();
        let mut s = 0.0;
        while s < t.length() {
            let (o, h) = t.pose_at(s, 0.7);
            for k in 0..16 {
                let a = h + k as f32 * TAU / 16.0;
                let d = [a.cos(), a.sin()];
                let brute = e
                    .segs
                    .iter()
                    .filter_map(|g| ray_segment(o, d, g))
                    .fold(50.0f32, f32::min);
                assert_eq!(e.ray(o, d, 50.0), brute, "s {s} ray {k}");
            }
            s += 7.3;
        }
        // On a straight road, the side rays meet the edges at the half width.
        let st = Track::from_def(&straight(100.0)).unwrap();
        let (o, _) = st.pose_at(50.0, 1.0);
        assert!((st.edges().ray(o, [0.0, 1.0], 50.0) - 2.5).abs() < 1e-4);
        assert!((st.edges().ray(o, [0.0, -1.0], 50.0) - 4.5).abs() < 1e-4);
        assert_eq!(st.edges().ray(o, [1.0, 0.0], 50.0), 50.0, "nothing ahead");
    }

    #[test]
    fn intersection_leaves_the_junction_open_and_paves_both_roads() {
        let t = Track::from_def(&builtin_map("intersection").unwrap()).unwrap();
        assert_eq!(t.road_count(), 2);
        assert_eq!((t.forward_lanes(), t.oncoming_lanes()), (1, 1));
        assert_eq!(t.direction_at(-1.75), 1.0);
        assert_eq!(t.direction_at(1.75), -1.0);
        // From the middle of the junction, a ray north runs up the crossing road unhindered
        // by the route's edges, and a ray east along the route likewise.
        let o = [150.0, 0.0];
        assert_eq!(t.edges().ray(o, [0.0, 1.0], 50.0), 50.0);
        assert_eq!(t.edges().ray(o, [1.0, 0.0], 50.0), 50.0);
        // A ray north from the route beside the junction meets the route's left edge.
        assert!((t.edges().ray([120.0, 0.0], [0.0, 1.0], 50.0) - 3.5).abs() < 1e-3);
        assert!(t.on_paved([150.0, 40.0], t.project([150.0, 40.0], None).lateral));
        assert!(!t.on_paved([140.0, 40.0], t.project([140.0, 40.0], None).lateral));
        let mut bad = builtin_map("intersection").unwrap();
        let nested = bad.cross_roads[0].clone();
        bad.cross_roads[0].cross_roads.push(nested);
        assert!(
            Track::from_def(&bad)
                .unwrap_err()
                .to_string()
                .contains("cross road 0")
        );
        let mut bad = builtin_map("intersection").unwrap();
        bad.oncoming_lanes = 2;
        assert!(
            Track::from_def(&bad)
                .unwrap_err()
                .to_string()
                .contains("oncoming_lanes")
        );
    }

    #[test]
    fn builtin_maps_parse_and_validate() {
        for name in MAP_NAMES {
            let t = Track::from_def(&builtin_map(name).unwrap()).unwrap();
            assert!(t.length() > 100.0, "{name}");
        }
        assert!(
            builtin_map("moon")
                .unwrap_err()
                .to_string()
                .contains("straight")
        );
    }
}
