//! A minimal TensorBoard event-file writer for scalar curves (no protobuf or TensorFlow
//! dependency): `events.out.tfevents.<secs>.<host>` holding TFRecord-framed `Event` messages,
//! which `tensorboard --logdir RUN_DIR` reads.
//!
//! Record framing: `len: u64 LE`, `masked_crc32c(len bytes): u32 LE`, `data`,
//! `masked_crc32c(data): u32 LE`. `Event { wall_time = 1 (double), step = 2 (int64),
//! file_version = 3 (string) | summary = 5 (Summary { value = 1 (Value { tag = 1 (string),
//! simple_value = 2 (float) }) }) }`.

use crate::error::{AgentError, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Appends scalar summaries to one event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
    buf: Vec<u8>,
}

impl EventWriter {
    /// Create a new event file in `dir` and write its version header.
    pub fn create(dir: &Path) -> Result<Self> {
        let secs = crate::checkpoint::now_unix_secs();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "pixelgym".into());
        let path = dir.join(format!("events.out.tfevents.{secs}.{host}"));
        let file = File::create(&path).map_err(|e| AgentError::io(&path, e))?;
        let mut w = Self {
            path,
            out: BufWriter::new(file),
            buf: Vec::with_capacity(128),
        };
        w.buf.clear();
        put_double(&mut w.buf, 1, wall_time());
        put_bytes(&mut w.buf, 3, b"brain.Event:2");
        w.write_record()?;
        Ok(w)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record `value` under `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<()> {
        let mut v = Vec::with_capacity(tag.len() + 8);
        put_bytes(&mut v, 1, tag.as_bytes());
        put_tag(&mut v, 2, 5);
        v.extend_from_slice(&(value as f32).to_le_bytes());
        let mut summary = Vec::with_capacity(v.len() + 4);
        put_bytes(&mut summary, 1, &v);
        self.buf.clear();
        put_double(&mut self.buf, 1, wall_time());
        put_tag(&mut self.buf, 2, 0);
        put_varint(&mut self.buf, step);
        put_bytes(&mut self.buf, 5, &summary);
        self.write_record()
    }

    /// Push buffered records to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| AgentError::io(&self.path, e))
    }

    fn write_record(&mut self) -> Result<()> {
        let len = (self.buf.len() as u64).to_le_bytes();
        let io = |e| AgentError::io(&self.path, e);
        self.out.write_all(&len).map_err(io)?;
        self.out
            .write_all(&masked_crc(&len).to_le_bytes())
            .map_err(io)?;
        self.out.write_all(&self.buf).map_err(io)?;
        self.out
            .write_all(&masked_crc(&self.buf).to_le_bytes())
            .map_err(io)
    }
}

fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

fn put_double(out: &mut Vec<u8>, field: u64, v: f64) {
    put_tag(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    put_tag(out, field, 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// CRC-32C (Castagnoli), bitwise: event files are small, speed does not matter.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// TFRecord's masked CRC.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn records_are_framed_and_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("train/loss", 42, 0.5).unwrap();
        w.flush().unwrap();
        let bytes = std::fs::read(w.path()).unwrap();
        let mut at = 0;
        let mut records = Vec::new();
        while at < bytes.len() {
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(len_bytes));
            let data = &bytes[at + 12..at + 12 + len];
            let crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(crc, masked_crc(data));
            records.push(data.to_vec());
            at += 16 + len;
        }
        assert_eq!(records.len(), 2);
        assert!(records[0].windows(13).any(|w| w == b"brain.Event:2"));
        let r = &records[1];
        assert!(r.windows(10).any(|w| w == b"train/loss"));
        // step field (2, varint) = 42, and the float 0.5 after the simple_value tag (0x15).
        assert!(r.windows(2).any(|w| w == [0x10, 42]));
        let mut f = vec![0x15];
        f.extend_from_slice(&0.5f32.to_le_bytes());
        assert!(r.windows(5).any(|w| w == f.as_slice()));
    }
}
