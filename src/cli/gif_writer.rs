//! Writing rendered frames to an animated GIF, atomically (temp file + rename).

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Collects frames (scaled, as RGB) and writes them as one looping GIF on `finish`.
pub struct GifWriter {
    path: PathBuf,
    tmp: PathBuf,
    encoder: Option<gif::Encoder<BufWriter<File>>>,
    scale: usize,
    delay_cs: u16,
    size: Option<(usize, usize)>,
    rgb: Vec<u8>,
    frames: usize,
}

impl GifWriter {
    /// Frames are shown `delay_cs` hundredths of a second each, scaled `scale` times.
    pub fn create(path: &Path, scale: usize, delay_cs: u16) -> Result<Self> {
        if scale == 0 || scale > 16 {
            bail!("gif scale must be in 1..=16, got {scale}");
        }
        let name = path
            .file_name()
            .with_context(|| format!("gif path {} has no file name", path.display()))?;
        let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            encoder: None,
            scale,
            delay_cs,
            size: None,
            rgb: Vec::new(),
            frames: 0,
        })
    }

    /// Append one frame (RGB or grayscale). All frames must have the same size.
    pub fn push(&mut self, frame: sim::Frame<'_>) -> Result<()> {
        let (h, w) = (frame.height * self.scale, frame.width * self.scale);
        match self.size {
            None => {
                if h > u16::MAX as usize || w > u16::MAX as usize {
                    bail!("frame {w}x{h} is too large for a GIF");
                }
                let file = File::create(&self.tmp)
                    .with_context(|| format!("creating {}", self.tmp.display()))?;
                let mut enc = gif::Encoder::new(BufWriter::new(file), w as u16, h as u16, &[])?;
                enc.set_repeat(gif::Repeat::Infinite)?;
                self.encoder = Some(enc);
                self.size = Some((h, w));
            }
            Some(size) if size != (h, w) => {
                bail!("frame size changed from {size:?} to {:?}", (h, w))
            }
            Some(_) => {}
        }
        self.rgb.clear();
        self.rgb.reserve(h * w * 3);
        for y in 0..h {
            let row = (y / self.scale) * frame.width;
            for x in 0..w {
                let i = row + x / self.scale;
                match frame.channels {
                    1 => {
                        let v = frame.data[i];
                        self.rgb.extend_from_slice(&[v, v, v]);
                    }
                    _ => self
                        .rgb
                        .extend_from_slice(&frame.data[i * frame.channels..i * frame.channels + 3]),
                }
            }
        }
        let mut gif_frame = gif::Frame::from_rgb_speed(w as u16, h as u16, &self.rgb, 10);
        gif_frame.delay = self.delay_cs;
        self.encoder
            .as_mut()
            .expect("encoder exists after the first frame")
            .write_frame(&gif_frame)?;
        self.frames += 1;
        Ok(())
    }

    /// Flush and move the GIF into place; returns the number of frames written.
    pub fn finish(mut self) -> Result<usize> {
        let Some(enc) = self.encoder.take() else {
            bail!("no frames to write to {}", self.path.display());
        };
        let writer = enc.into_inner()?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("moving GIF into {}", self.path.display()))?;
        Ok(self.frames)
    }
}

impl Drop for GifWriter {
    fn drop(&mut self) {
        if self.encoder.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
