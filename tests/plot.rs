//! `pixelgym plot` as a user runs it: a PNG of the requested size from run directories and
//! CSV files, and clear errors (file and column named) on bad CSVs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pixelgym(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pixelgym"))
        .args(args)
        .output()
        .expect("the pixelgym binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory under Cargo's per-test temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("plot-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "{} bytes is no PNG", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn eval_csv(rows: &[(u64, f64)]) -> String {
    let mut s =
        String::from("step,wall_secs,episodes,mean_return,std_return,min_return,max_return\n");
    for &(step, r) in rows {
        s.push_str(&format!("{step},0.1,20,{r},1.0,{r},{r}\n"));
    }
    s
}

#[test]
fn plots_two_runs_into_a_png_of_the_requested_size() {
    let dir = scratch("two-runs");
    for (seed, slope) in [(1, 40.0), (2, 25.0)] {
        let run = dir.join(format!("seed{seed}"));
        std::fs::create_dir_all(&run).unwrap();
        let rows: Vec<(u64, f64)> = (1..=10).map(|i| (i * 10_000, slope * i as f64)).collect();
        std::fs::write(run.join("eval.csv"), eval_csv(&rows)).unwrap();
    }
    let out = dir.join("curves.png");
    let o = pixelgym(&[
        "plot",
        dir.join("seed1").to_str().unwrap(),
        dir.join("seed2").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--width",
        "640",
        "--height",
        "400",
        "--target",
        "475",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(png_size(&bytes), (640, 400));
    // A blank 640x400 image deflates to well under 2 kB; curves, grid and text do not.
    assert!(
        bytes.len() > 8_000,
        "PNG of {} bytes looks blank",
        bytes.len()
    );
    // Written atomically: no temporary file left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_csv_file_and_the_default_output_name_work() {
    let dir = scratch("csv-default-out");
    std::fs::write(
        dir.join("episodes.csv"),
        "step,env,return,length\n10,0,10,10\n30,0,20,20\n60,0,30,30\n",
    )
    .unwrap();
    let o = pixelgym(&[
        "plot",
        dir.join("episodes.csv").to_str().unwrap(),
        "--metric",
        "episode_return",
        "--smooth",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(dir.join("episode_return.png")).unwrap();
    assert_eq!(png_size(&bytes), (1000, 600));
}

#[test]
fn a_missing_column_names_the_file_and_the_column() {
    let dir = scratch("missing-column");
    let csv = dir.join("eval.csv");
    std::fs::write(&csv, "step,wall_secs,episodes\n1000,0.1,20\n").unwrap();
    let out = dir.join("x.png");
    let o = pixelgym(&[
        "plot",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("eval.csv") && e.contains("`mean_return`"), "{e}");
    assert!(!out.exists(), "no PNG on error");
}

#[test]
fn a_bad_cell_names_the_file_line_and_column() {
    let dir = scratch("bad-cell");
    let csv = dir.join("eval.csv");
    let mut text = eval_csv(&[(1000, 1.0), (2000, 2.0)]);
    text.push_str("3000,0.1,20,oops,1.0,1,1\n");
    std::fs::write(&csv, text).unwrap();
    let o = pixelgym(&[
        "plot",
        csv.to_str().unwrap(),
        "--out",
        dir.join("x.png").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("eval.csv line 4") && e.contains("`mean_return`") && e.contains("oops"),
        "{e}"
    );
}

#[test]
fn a_run_directory_without_the_csv_is_named() {
    let dir = scratch("no-csv");
    let o = pixelgym(&["plot", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("eval.csv"), "{}", stderr(&o));
}
