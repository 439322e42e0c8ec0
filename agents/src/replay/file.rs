//! Replay buffers saved to and restored from a file, so a resumed run keeps its experience.
//!
//! Without it a resume starts from an empty buffer: the first updates then draw from a few
//! thousand transitions of the current policy, and a good Atari policy loses about a point
//! before the buffer has grown again. The file holds only what is stored (a buffer that is
//! not full yet writes its filled slots), tagged with the env step of the checkpoint it
//! belongs to, so a file left behind by an earlier checkpoint is never mixed with a later one.
//!
//! Layout (little-endian): magic `PGREPLAY`, format version (u32), step (u64), element type
//! name (u8 length + bytes), capacity, stack, plane_len, num_envs, n_step (u64 each), gamma
//! (f32), prioritized (u8), alpha and the largest priority (f64 each); then per env: the
//! write position (u64), the open flag (u8), and its stored slots' planes, flags, actions
//! (u32) and rewards (f32); then, when prioritized, each env's stored leaves (f64).

use super::{KIND_MASK, ObsElem, ReplayBuffer, ReplayConfig, ReplayError};
use crate::sum_tree::SumTree;
use std::io::{self, Read, Write};

const MAGIC: &[u8; 8] = b"PGREPLAY";
const VERSION: u32 = 1;

/// What [`ReplayBuffer::read_header`] found: where a replay file belongs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayFileHeader {
    /// Env step of the checkpoint the buffer was saved with.
    pub step: u64,
    /// The saved buffer's shape.
    pub config: ReplayConfig,
    /// Prioritized replay's exponent, when the buffer was prioritized.
    pub priority_alpha: Option<f64>,
    /// Largest priority seen (new transitions get it).
    max_priority: f64,
}

fn corrupt(what: impl std::fmt::Display) -> ReplayError {
    ReplayError::File(what.to_string())
}

fn read_err(e: io::Error) -> ReplayError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt("truncated (ends before the data its header describes)")
    } else {
        corrupt(e)
    }
}

fn read_array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], ReplayError> {
    let mut b = [0u8; N];
    r.read_exact(&mut b).map_err(read_err)?;
    Ok(b)
}

fn read_u64(r: &mut impl Read) -> Result<u64, ReplayError> {
    read_array(r).map(u64::from_le_bytes)
}

fn read_usize(r: &mut impl Read, field: &str) -> Result<usize, ReplayError> {
    let v = read_u64(r)?;
    usize::try_from(v).map_err(|_| corrupt(format!("{field} {v} does not fit this machine")))
}

fn read_f64(r: &mut impl Read) -> Result<f64, ReplayError> {
    read_array(r).map(f64::from_le_bytes)
}

/// Read `out.len()` little-endian `W`-byte values through a bounded buffer.
pub(super) fn read_values<const W: usize, V>(
    r: &mut impl Read,
    out: &mut [V],
    decode: impl Fn([u8; W]) -> V,
) -> io::Result<()> {
    let mut buf = vec![0u8; W * 8192];
    for chunk in out.chunks_mut(8192) {
        let bytes = &mut buf[..chunk.len() * W];
        r.read_exact(bytes)?;
        for (v, b) in chunk.iter_mut().zip(bytes.chunks_exact(W)) {
            *v = decode(b.try_into().expect("chunks of W bytes"));
        }
    }
    Ok(())
}

/// Write values as little-endian bytes through a bounded buffer.
pub(super) fn write_values<V: Copy, const W: usize>(
    w: &mut impl Write,
    values: &[V],
    encode: impl Fn(V) -> [u8; W],
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(W * 8192);
    for chunk in values.chunks(8192) {
        buf.clear();
        for &v in chunk {
            buf.extend_from_slice(&encode(v));
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

impl<T: ObsElem> ReplayBuffer<T> {
    /// Write the buffer (its stored slots and priorities) to `w`, tagged with `step`, the env
    /// step of the checkpoint it goes with. Read it back with [`Self::restore`].
    pub fn save(&self, w: &mut impl Write, step: u64) -> io::Result<()> {
        let c = &self.cfg;
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        w.write_all(&step.to_le_bytes())?;
        w.write_all(&[T::NAME.len() as u8])?;
        w.write_all(T::NAME.as_bytes())?;
        for v in [c.capacity, c.stack, c.plane_len, c.num_envs, c.n_step] {
            w.write_all(&(v as u64).to_le_bytes())?;
        }
        w.write_all(&c.gamma.to_le_bytes())?;
        let (alpha, max_p) = self
            .prio
            .as_ref()
            .map_or((0.0, 0.0), |p| (p.alpha, p.max_priority));
        w.write_all(&[self.prio.is_some() as u8])?;
        w.write_all(&alpha.to_le_bytes())?;
        w.write_all(&max_p.to_le_bytes())?;
        let pl = c.plane_len;
        for seg in &self.segments {
            let n = self.stored(seg);
            w.write_all(&seg.write.to_le_bytes())?;
            w.write_all(&[seg.open as u8])?;
            T::write_le(&seg.planes[..n * pl], w)?;
            w.write_all(&seg.flags[..n])?;
            write_values(w, &seg.actions[..n], u32::to_le_bytes)?;
            write_values(w, &seg.rewards[..n], f32::to_le_bytes)?;
        }
        if let Some(pr) = &self.prio {
            for (env, seg) in self.segments.iter().enumerate() {
                let base = env * self.seg_cap;
                let leaves: Vec<f64> = (0..self.stored(seg))
                    .map(|p| pr.tree.get(base + p))
                    .collect();
                write_values(w, &leaves, f64::to_le_bytes)?;
            }
        }
        Ok(())
    }

    /// Read the header of a file written by [`Self::save`], leaving `r` at its data: enough
    /// to tell whether the file fits a run before reading gigabytes.
    pub fn read_header(r: &mut impl Read) -> Result<ReplayFileHeader, ReplayError> {
        if &read_array::<8>(r)? != MAGIC {
            return Err(corrupt("not a pixelgym replay file (bad magic bytes)"));
        }
        let version = u32::from_le_bytes(read_array(r)?);
        if version != VERSION {
            return Err(corrupt(format!(
                "format version {version}; this build reads version {VERSION}"
            )));
        }
        let step = read_u64(r)?;
        let name_len = read_array::<1>(r)?[0] as usize;
        let mut name = vec![0u8; name_len];
        r.read_exact(&mut name).map_err(read_err)?;
        if name != T::NAME.as_bytes() {
            return Err(corrupt(format!(
                "holds {} observations; this run stores {}",
                String::from_utf8_lossy(&name),
                T::NAME
            )));
        }
        let config = ReplayConfig {
            capacity: read_usize(r, "capacity")?,
            stack: read_usize(r, "stack")?,
            plane_len: read_usize(r, "plane_len")?,
            num_envs: read_usize(r, "num_envs")?,
            n_step: read_usize(r, "n_step")?,
            gamma: f32::from_le_bytes(read_array(r)?),
        };
        let prioritized = read_array::<1>(r)?[0] != 0;
        let alpha = read_f64(r)?;
        let max_priority = read_f64(r)?;
        Ok(ReplayFileHeader {
            step,
            config,
            priority_alpha: prioritized.then_some(alpha),
            max_priority,
        })
    }

    /// Fill this (empty or not) buffer from the data after `header` (read from the same `r`
    /// by [`Self::read_header`]). The file must have been saved from a buffer of this
    /// buffer's config and prioritization; a mismatch is an error that leaves the buffer
    /// unchanged. Corrupt or truncated data is an error too, after which the buffer's
    /// content is unspecified (start a fresh one).
    pub fn restore(
        &mut self,
        header: &ReplayFileHeader,
        r: &mut impl Read,
    ) -> Result<(), ReplayError> {
        let mine = self.prio.as_ref().map(|p| p.alpha);
        if header.config != self.cfg || header.priority_alpha != mine {
            return Err(ReplayError::Config(format!(
                "saved buffer {:?} (priority alpha {:?}) does not match this run's {:?} \
                 (priority alpha {mine:?})",
                header.config, header.priority_alpha, self.cfg
            )));
        }
        let (pl, cap) = (self.cfg.plane_len, self.seg_cap);
        for (env, seg) in self.segments.iter_mut().enumerate() {
            let write = read_u64(r)?;
            let open = read_array::<1>(r)?[0] != 0;
            let n = (write as usize).min(cap);
            T::read_le(r, &mut seg.planes[..n * pl]).map_err(read_err)?;
            r.read_exact(&mut seg.flags[..n]).map_err(read_err)?;
            if let Some(bad) = seg.flags[..n].iter().find(|&&f| f & KIND_MASK == KIND_MASK) {
                return Err(corrupt(format!("env {env}: invalid slot flags {bad:#b}")));
            }
            read_values(r, &mut seg.actions[..n], u32::from_le_bytes).map_err(read_err)?;
            read_values(r, &mut seg.rewards[..n], f32::from_le_bytes).map_err(read_err)?;
            if let Some(x) = seg.rewards[..n].iter().find(|x| !x.is_finite()) {
                return Err(corrupt(format!("env {env}: non-finite reward {x}")));
            }
            seg.write = write;
            seg.open = open;
        }
        if let Some(pr) = &mut self.prio {
            let mut leaves = vec![0.0; self.cfg.num_envs * cap];
            for (env, seg) in self.segments.iter().enumerate() {
                let n = (seg.write as usize).min(cap);
                read_values(r, &mut leaves[env * cap..env * cap + n], f64::from_le_bytes)
                    .map_err(read_err)?;
            }
            if let Some(x) = leaves.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                return Err(corrupt(format!("invalid priority {x}")));
            }
            pr.tree = SumTree::from_leaves(&leaves);
            pr.max_priority = header.max_priority;
        }
        if r.read(&mut [0u8; 1]).map_err(corrupt)? != 0 {
            return Err(corrupt("has bytes after the data its header describes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Batch;
    use rand::SeedableRng;
    use sim::Obs;

    fn config(capacity: usize) -> ReplayConfig {
        ReplayConfig {
            capacity,
            stack: 2,
            plane_len: 3,
            num_envs: 2,
            gamma: 0.9,
            n_step: 2,
        }
    }

    /// A buffer fed `steps` steps per env of short frame-stacked episodes.
    fn filled(capacity: usize, prioritized: bool, steps: u8) -> ReplayBuffer<u8> {
        let mut buf = ReplayBuffer::new(config(capacity)).unwrap();
        if prioritized {
            buf.set_prioritized(0.6).unwrap();
        }
        for env in 0..2 {
            let mut frames = vec![env as u8; 2];
            let obs = |f: &[u8]| f.iter().flat_map(|&v| [v; 3]).collect::<Vec<u8>>();
            buf.start_episode(env, Obs::U8(&obs(&frames))).unwrap();
            for i in 1..=steps {
                frames.remove(0);
                frames.push(i.wrapping_mul(7).wrapping_add(env as u8));
                let end = i % 9 == 0;
                buf.push(
                    env,
                    (i % 3) as i64,
                    i as f32 * 0.5,
                    end,
                    false,
                    Obs::U8(&obs(&frames)),
                )
                .unwrap();
                if end {
                    buf.start_episode(env, Obs::U8(&obs(&frames))).unwrap();
                }
            }
        }
        buf
    }

    fn roundtrip(buf: &ReplayBuffer<u8>, capacity: usize, prioritized: bool) -> ReplayBuffer<u8> {
        let mut bytes = Vec::new();
        buf.save(&mut bytes, 1234).unwrap();
        let mut r = bytes.as_slice();
        let header = ReplayBuffer::<u8>::read_header(&mut r).unwrap();
        assert_eq!(header.step, 1234);
        let mut back = ReplayBuffer::new(config(capacity)).unwrap();
        if prioritized {
            back.set_prioritized(0.6).unwrap();
        }
        back.restore(&header, &mut r).unwrap();
        back
    }

    /// Batches drawn with the same rng from `a` and `b`.
    fn same_samples(a: &ReplayBuffer<u8>, b: &ReplayBuffer<u8>) {
        let (mut ra, mut rb) = (
            rand_chacha::ChaCha8Rng::seed_from_u64(5),
            rand_chacha::ChaCha8Rng::seed_from_u64(5),
        );
        let (mut ba, mut bb) = (Batch::new(16, 6), Batch::new(16, 6));
        for _ in 0..20 {
            a.sample_prioritized(&mut ra, &mut ba, 0.4).unwrap();
            b.sample_prioritized(&mut rb, &mut bb, 0.4).unwrap();
            assert_eq!(ba.obs, bb.obs);
            assert_eq!(ba.next_obs, bb.next_obs);
            assert_eq!(ba.actions, bb.actions);
            assert_eq!(ba.returns, bb.returns);
            assert_eq!(ba.discounts, bb.discounts);
            assert_eq!(ba.weights, bb.weights);
            assert_eq!(ba.indices, bb.indices);
        }
    }

    #[test]
    fn a_restored_buffer_samples_what_the_saved_one_did() {
        // Partly filled, and wrapped around (older slots overwritten), uniform and prioritized.
        for (steps, prioritized) in [(20, false), (20, true), (90, false), (90, true)] {
            let mut buf = filled(64, prioritized, steps);
            if prioritized {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
                let mut b = Batch::new(8, 6);
                buf.sample_prioritized(&mut rng, &mut b, 0.4).unwrap();
                let td: Vec<f32> = (0..8).map(|i| i as f32 * 0.3 - 1.0).collect();
                buf.update_priorities(&b.indices.clone(), &td, 1e-6);
            }
            let back = roundtrip(&buf, 64, prioritized);
            assert_eq!(back.len(), buf.len());
            same_samples(&buf, &back);
        }
    }

    #[test]
    fn a_restored_buffer_goes_on_storing_like_the_original() {
        let mut a = filled(64, true, 30);
        let mut b = roundtrip(&a, 64, true);
        // A resume starts fresh episodes: the open ones simply end.
        for buf in [&mut a, &mut b] {
            for env in 0..2 {
                buf.start_episode(env, Obs::U8(&[9; 6])).unwrap();
                buf.push(env, 1, 1.0, false, false, Obs::U8(&[9, 9, 9, 4, 4, 4]))
                    .unwrap();
            }
        }
        same_samples(&a, &b);
    }

    #[test]
    fn vector_observations_come_back_bit_for_bit() {
        let cfg = ReplayConfig {
            stack: 1,
            ..config(64)
        };
        let mut buf = ReplayBuffer::<f32>::new(cfg).unwrap();
        for env in 0..2 {
            buf.start_episode(env, Obs::F32(&[0.5, -1.25, 3.0]))
                .unwrap();
            for i in 1..=20 {
                let x = i as f32 * 0.1 + env as f32;
                buf.push(env, i % 2, -x, false, false, Obs::F32(&[x, x.sin(), -x]))
                    .unwrap();
            }
        }
        let mut bytes = Vec::new();
        buf.save(&mut bytes, 9).unwrap();
        let mut r = bytes.as_slice();
        let header = ReplayBuffer::<f32>::read_header(&mut r).unwrap();
        let mut back = ReplayBuffer::<f32>::new(cfg).unwrap();
        back.restore(&header, &mut r).unwrap();
        let (mut ra, mut rb) = (
            rand_chacha::ChaCha8Rng::seed_from_u64(3),
            rand_chacha::ChaCha8Rng::seed_from_u64(3),
        );
        let (mut ba, mut bb) = (Batch::new(16, 3), Batch::new(16, 3));
        buf.sample(&mut ra, &mut ba).unwrap();
        back.sample(&mut rb, &mut bb).unwrap();
        assert_eq!(
            (ba.obs, ba.next_obs, ba.returns),
            (bb.obs, bb.next_obs, bb.returns)
        );
    }

    #[test]
    fn a_file_that_does_not_fit_is_refused() {
        let buf = filled(64, true, 30);
        let mut bytes = Vec::new();
        buf.save(&mut bytes, 7).unwrap();
        let header = |b: &[u8]| ReplayBuffer::<u8>::read_header(&mut &b[..]);

        // Another capacity, or uniform sampling: a config error, the buffer left empty.
        let mut other = ReplayBuffer::<u8>::new(config(128)).unwrap();
        other.set_prioritized(0.6).unwrap();
        let h = header(&bytes).unwrap();
        let mut r = &bytes[..];
        ReplayBuffer::<u8>::read_header(&mut r).unwrap();
        assert!(matches!(
            other.restore(&h, &mut r),
            Err(ReplayError::Config(_))
        ));
        assert!(other.is_empty());
        let mut uniform = ReplayBuffer::<u8>::new(config(64)).unwrap();
        assert!(matches!(
            uniform.restore(&h, &mut r),
            Err(ReplayError::Config(_))
        ));

        // f32 observations, a bad magic, a truncated or padded file: file errors.
        assert!(matches!(
            ReplayBuffer::<f32>::read_header(&mut &bytes[..]),
            Err(ReplayError::File(m)) if m.contains("u8")
        ));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(matches!(header(&bad), Err(ReplayError::File(m)) if m.contains("magic")));
        for data in [
            &bytes[..bytes.len() - 3],
            &[bytes.as_slice(), &[0]].concat()[..],
        ] {
            let mut r = data;
            let h = ReplayBuffer::<u8>::read_header(&mut r).unwrap();
            let mut fresh = ReplayBuffer::<u8>::new(config(64)).unwrap();
            fresh.set_prioritized(0.6).unwrap();
            assert!(matches!(
                fresh.restore(&h, &mut r),
                Err(ReplayError::File(_))
            ));
        }
    }
}
