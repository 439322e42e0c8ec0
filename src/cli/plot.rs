//! `pixelgym plot RUN_DIR_OR_CSV... [--out PNG] [--metric eval_return]`: learning curves of
//! one or more training runs (seeds, configs) on one PNG chart, return (or loss, Q, epsilon)
//! against env steps, with a legend, axis labels and a title.
//!
//! An input is a run directory written by `pixelgym train` (the CSV holding `--metric` is
//! picked: `eval.csv`, `episodes.csv` or `metrics.csv`) or a CSV file with that metric's
//! column. Text is drawn with DejaVu Sans, embedded in the binary (assets/fonts/), so the
//! chart looks the same on every machine and needs no system font.

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name the embedded font is registered under.
const FAMILY: &str = "sans-serif";

#[derive(clap::Args)]
pub struct Args {
    /// Run directories written by `pixelgym train`, or CSV files (one curve each).
    #[arg(required = true, value_name = "RUN_DIR_OR_CSV")]
    inputs: Vec<PathBuf>,
    /// PNG to write (default: `<metric>.png` in the first input's run directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to draw against env steps.
    #[arg(long, value_enum, default_value = "eval_return")]
    metric: Metric,
    /// Legend label per input, in order (default: the run directory's name, plus the file
    /// stem for a CSV other than the metric's usual file).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Chart title (default: the metric and the runs' common parent directory).
    #[arg(long)]
    title: Option<String>,
    /// Trailing moving average over this many rows (1 = raw values); useful for the noisy
    /// `episode_return`.
    #[arg(long, default_value_t = 1)]
    smooth: usize,
    /// Draw a dashed horizontal line at this value (e.g. the return that counts as solved).
    #[arg(long)]
    target: Option<f64>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1000)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 600)]
    height: u32,
}

/// A curve the train loop logs, and where it logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Mean return of each periodic evaluation (`eval.csv`, `mean_return`).
    #[value(name = "eval_return")]
    EvalReturn,
    /// Return of every finished training episode (`episodes.csv`, `return`).
    #[value(name = "episode_return")]
    EpisodeReturn,
    /// Mean of the recent training returns at each log row (`metrics.csv`, `recent_return`).
    #[value(name = "recent_return")]
    RecentReturn,
    /// TD loss at each log row (`metrics.csv`, `loss`).
    #[value(name = "loss")]
    Loss,
    /// Mean predicted Q at each log row (`metrics.csv`, `q_mean`).
    #[value(name = "q_mean")]
    QMean,
    /// Exploration rate at each log row (`metrics.csv`, `epsilon`).
    #[value(name = "epsilon")]
    Epsilon,
    /// Mean lap completion of each periodic evaluation on a driving env (`eval.csv`,
    /// `lap_completion`).
    #[value(name = "lap_completion")]
    LapCompletion,
}

impl Metric {
    /// (file in a run directory, column, axis label).
    fn source(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Metric::EvalReturn => ("eval.csv", "mean_return", "mean evaluation return"),
            Metric::EpisodeReturn => ("episodes.csv", "return", "training episode return"),
            Metric::RecentReturn => ("metrics.csv", "recent_return", "recent training return"),
            Metric::Loss => ("metrics.csv", "loss", "TD loss"),
            Metric::QMean => ("metrics.csv", "q_mean", "mean Q"),
            Metric::Epsilon => ("metrics.csv", "epsilon", "epsilon"),
            Metric::LapCompletion => ("eval.csv", "lap_completion", "mean lap completion"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::EvalReturn => "eval_return",
            Metric::EpisodeReturn => "episode_return",
            Metric::RecentReturn => "recent_return",
            Metric::Loss => "loss",
            Metric::QMean => "q_mean",
            Metric::Epsilon => "epsilon",
            Metric::LapCompletion => "lap_completion",
        }
    }
}

/// Column of env steps in every CSV the train loop writes.
const X_COLUMN: &str = "step";

/// One curve: a legend label and (env step, value) points in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// What the chart says besides the data.
struct Chart<'a> {
    title: &'a str,
    y_label: &'a str,
    target: Option<f64>,
}

pub fn run(args: Args) -> Result<()> {
    if args.width < 200 || args.height < 150 {
        bail!(
            "--width/--height {}x{} is too small for a chart (at least 200x150)",
            args.width,
            args.height
        );
    }
    if args.smooth == 0 {
        bail!("--smooth must be at least 1 (1 = no smoothing)");
    }
    if !args.labels.is_empty() && args.labels.len() != args.inputs.len() {
        bail!(
            "{} --label given for {} inputs; give one per input or none",
            args.labels.len(),
            args.inputs.len()
        );
    }
    let (file, column, y_label) = args.metric.source();
    let mut series = Vec::with_capacity(args.inputs.len());
    for (i, input) in args.inputs.iter().enumerate() {
        let path = if input.is_dir() {
            input.join(file)
        } else {
            input.clone()
        };
        let points = smooth(&read_points(&path, X_COLUMN, column)?, args.smooth);
        let label = match args.labels.get(i) {
            Some(l) => l.clone(),
            None => default_label(input, &path, file),
        };
        series.push(Series { label, points });
    }
    let out = match &args.out {
        Some(out) => out.clone(),
        None => run_dir(&args.inputs[0]).join(format!("{}.png", args.metric.name())),
    };
    let title = match &args.title {
        Some(t) => t.clone(),
        None => default_title(&args.inputs, y_label),
    };
    let y_label = if args.smooth > 1 {
        format!("{y_label} (mean of {})", args.smooth)
    } else {
        y_label.to_string()
    };
    let chart = Chart {
        title: &title,
        y_label: &y_label,
        target: args.target,
    };
    write_png(&out, &series, &chart, (args.width, args.height))?;
    println!(
        "wrote {} ({}x{}, {} curve{})",
        out.display(),
        args.width,
        args.height,
        series.len(),
        if series.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

/// The run directory an input belongs to (itself, or a CSV's parent).
fn run_dir(input: &Path) -> PathBuf {
    if input.is_dir() {
        input.to_path_buf()
    } else {
        match input.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string())
}

/// The run directory's name, plus the file stem when it is not the metric's usual file.
fn default_label(input: &Path, path: &Path, usual_file: &str) -> String {
    let dir = dir_name(&run_dir(input));
    if input.is_dir() || path.file_name().is_some_and(|n| n == usual_file) {
        dir
    } else {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{dir}/{stem}")
    }
}

fn default_title(inputs: &[PathBuf], y_label: &str) -> String {
    let dirs: Vec<PathBuf> = inputs.iter().map(|i| run_dir(i)).collect();
    let parents: Vec<String> = dirs
        .iter()
        .map(|d| {
            if dirs.len() > 1 {
                d.canonicalize()
                    .ok()
                    .and_then(|p| p.parent().map(dir_name))
                    .unwrap_or_default()
            } else {
                dir_name(d)
            }
        })
        .collect();
    match parents.first() {
        Some(p) if !p.is_empty() && parents.iter().all(|q| q == p) => {
            format!("{p}: {y_label} vs env steps")
        }
        _ => format!("{y_label} vs env steps"),
    }
}

/// Read (x, y) pairs from a CSV with a header row. Rows whose y cell is empty (e.g. the loss
/// before learning starts) are skipped; anything else that is not a number is an error
/// naming the file, the line and the column.
pub fn read_points(path: &Path, x_col: &str, y_col: &str) -> Result<Vec<(f64, f64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!("{}: empty file, expected a CSV header row", path.display());
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        columns.iter().position(|c| *c == name).with_context(|| {
            format!(
                "{}: no column `{name}` (header: {})",
                path.display(),
                header.trim()
            )
        })
    };
    let (xi, yi) = (find(x_col)?, find(y_col)?);
    let mut points = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |i: usize, name: &str| {
            cells.get(i).copied().with_context(|| {
                format!(
                    "{} line {}: {} cells, no value for column `{name}`",
                    path.display(),
                    n + 1,
                    cells.len()
                )
            })
        };
        let (xs, ys) = (cell(xi, x_col)?, cell(yi, y_col)?);
        if ys.is_empty() {
            continue;
        }
        let number = |s: &str, name: &str| -> Result<f64> {
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => bail!(
                    "{} line {}: column `{name}` holds `{s}`, not a finite number",
                    path.display(),
                    n + 1
                ),
            }
        };
        points.push((number(xs, x_col)?, number(ys, y_col)?));
    }
    if points.is_empty() {
        bail!(
            "{}: no rows with a value in column `{y_col}`",
            path.display()
        );
    }
    Ok(points)
}

/// Trailing moving average over `window` points (the first points average what exists).
fn smooth(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    if window <= 1 {
        return points.to_vec();
    }
    let mut sum = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| {
            sum += y;
            if i >= window {
                sum -= points[i - window].1;
            }
            (x, sum / (i + 1).min(window) as f64)
        })
        .collect()
}

fn register_font() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if !ok {
        bail!("the embedded font assets/fonts/DejaVuSans.ttf could not be parsed");
    }
    Ok(())
}

/// Colour of the `i`th curve: a colour-blind-safe palette (Okabe-Ito), then plotters'.
fn colour(i: usize) -> RGBColor {
    const OKABE_ITO: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 0, 0),
    ];
    if i < OKABE_ITO.len() {
        OKABE_ITO[i]
    } else {
        let c = Palette99::pick(i).to_rgba();
        RGBColor(c.0, c.1, c.2)
    }
}

/// Draw the chart on any plotters drawing area.
fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series],
    chart: &Chart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    register_font()?;
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if let Some(t) = chart.target {
        y_min = y_min.min(t);
        y_max = y_max.max(t);
    }
    if (0.0..=0.25 * y_max).contains(&y_min) {
        y_min = 0.0;
    }
    let pad = if y_max > y_min {
        0.05 * (y_max - y_min)
    } else {
        1.0
    };
    let (y_lo, y_hi) = (if y_min == 0.0 { 0.0 } else { y_min - pad }, y_max + pad);
    let x_hi = if x_max > 0.0 { x_max * 1.02 } else { 1.0 };

    area.fill(&WHITE).map_err(plot_err)?;
    let mut ctx = ChartBuilder::on(&area)
        .caption(chart.title, (FAMILY, 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_hi, y_lo..y_hi)
        .map_err(plot_err)?;
    ctx.configure_mesh()
        .x_desc("env steps")
        .y_desc(chart.y_label)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .x_label_formatter(&|x| step_label(*x))
        .y_label_formatter(&|y| tick_label(*y))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_err)?;
    if let Some(t) = chart.target {
        let grey = RGBColor(110, 110, 110);
        ctx.draw_series(DashedLineSeries::new(
            vec![(0.0, t), (x_hi, t)],
            8,
            5,
            grey.stroke_width(1),
        ))
        .map_err(plot_err)?
        .label(format!("target {}", trim_number(t)))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
    }
    for (i, s) in series.iter().enumerate() {
        let c = colour(i);
        ctx.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
            .map_err(plot_err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        // Mark the points when there are few (periodic evaluations), so each one shows.
        if s.points.len() <= 60 {
            ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(plot_err)?;
        }
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(plot_err)?;
    area.present().map_err(plot_err)?;
    Ok(())
}

fn plot_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::Error::new(e).context("drawing the chart")
}

/// `25000` -> `25k`, `1500000` -> `1.5M`.
fn step_label(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{}M", trim_number(x / 1e6))
    } else if x.abs() >= 1e3 {
        format!("{}k", trim_number(x / 1e3))
    } else {
        trim_number(x)
    }
}

/// A y tick: up to 4 decimals, trailing zeros dropped, never `-0`.
fn tick_label(y: f64) -> String {
    let s = format!("{y:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn trim_number(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Render into an RGB buffer (3 bytes per pixel, row-major); the unit tests look at it.
#[cfg(test)]
fn render_rgb(series: &[Series], chart: &Chart, (w, h): (u32, u32)) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(area, series, chart)?;
    }
    Ok(buf)
}

/// Render and write `out` atomically: a temporary PNG beside it, then a rename.
fn write_png(out: &Path, series: &[Series], chart: &Chart, size: (u32, u32)) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "--out {}: directory {} does not exist",
            out.display(),
            dir.display()
        );
    }
    let name = out
        .file_name()
        .with_context(|| format!("--out {} names no file", out.display()))?
        .to_string_lossy()
        .into_owned();
    // The bitmap encoder picks the format from the extension, so the temp name ends in .png.
    let tmp = dir.join(format!(".{name}.tmp-{}.png", std::process::id()));
    let result = draw_and_rename(&tmp, out, series, chart, size);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", out.display()))
}

fn draw_and_rename(
    tmp: &Path,
    out: &Path,
    series: &[Series],
    chart: &Chart,
    size: (u32, u32),
) -> Result<()> {
    {
        let area = BitMapBackend::new(tmp, size).into_drawing_area();
        draw(area, series, chart)?;
    }
    std::fs::rename(tmp, out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart<'static> {
        Chart {
            title: "test",
            y_label: "return",
            target: Some(1.0),
        }
    }

    fn count(buf: &[u8], c: RGBColor) -> usize {
        buf.chunks_exact(3)
            .filter(|p| p[0] == c.0 && p[1] == c.1 && p[2] == c.2)
            .count()
    }

    #[test]
    fn two_curves_draw_in_their_own_colours_and_text_is_drawn() {
        let series = vec![
            Series {
                label: "seed 1".into(),
                points: (0..50)
                    .map(|i| (i as f64 * 100.0, i as f64 / 50.0))
                    .collect(),
            },
            Series {
                label: "seed 2".into(),
                points: (0..50)
                    .map(|i| (i as f64 * 100.0, -(i as f64) / 50.0))
                    .collect(),
            },
        ];
        let buf = render_rgb(&series, &chart(), (400, 300)).unwrap();
        assert!(count(&buf, colour(0)) > 200, "first curve missing");
        assert!(count(&buf, colour(1)) > 200, "second curve missing");
        // Anti-aliased glyphs leave grey levels that neither the lines nor the mesh use.
        let greys = buf
            .chunks_exact(3)
            .filter(|p| p[0] == p[1] && p[1] == p[2] && p[0] > 20 && p[0] < 200)
            .count();
        assert!(greys > 100, "no text drawn ({greys} grey pixels)");
        let empty = render_rgb(
            &[Series {
                label: "flat".into(),
                points: vec![(0.0, 0.0), (1.0, 0.0)],
            }],
            &chart(),
            (400, 300),
        )
        .unwrap();
        assert_ne!(buf, empty);
    }

    #[test]
    fn smoothing_is_a_trailing_mean() {
        let p = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)];
        assert_eq!(
            smooth(&p, 2),
            vec![(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]
        );
        assert_eq!(smooth(&p, 1), p.to_vec());
    }

    #[test]
    fn empty_cells_are_skipped_and_bad_cells_named() {
        let dir = std::env::temp_dir().join(format!("pixelgym-plot-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("metrics.csv");
        std::fs::write(&f, "step,loss\n1000,\n2000,0.5\n3000,0.25\n").unwrap();
        assert_eq!(
            read_points(&f, "step", "loss").unwrap(),
            vec![(2000.0, 0.5), (3000.0, 0.25)]
        );
        std::fs::write(&f, "step,loss\n1000,0.1\n2000,abc\n").unwrap();
        let e = format!("{:#}", read_points(&f, "step", "loss").unwrap_err());
        assert!(
            e.contains("metrics.csv line 3") && e.contains("`loss`") && e.contains("abc"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn step_labels_are_short() {
        assert_eq!(step_label(25_000.0), "25k");
        assert_eq!(step_label(1_500_000.0), "1.5M");
        assert_eq!(step_label(500.0), "500");
        assert_eq!(tick_label(-0.0000001), "0");
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(-0.25), "-0.25");
    }
}
