//! `pixelgym scenario run PATH... --policy scripted|CHECKPOINT`: grade a driving policy on
//! scenario files (in parallel across scenarios), print a table, optionally write JUnit XML,
//! JSON lines and one GIF per scenario; exit non-zero when a scenario fails.

use anyhow::{Context, Result, bail};
use sim::scenario::{self, Report, RunOptions, Scenario, Verdict};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Run scenario files (or every *.toml in a directory) and grade the policy.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario files or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// `scripted` (the reference pure-pursuit driver) or a DQN or A3C checkpoint file.
    #[arg(long, default_value = "scripted")]
    policy: String,
    /// Write one GIF per scenario (top-down view) into this directory.
    #[arg(long)]
    gif: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Print one JSON line per scenario instead of the table.
    #[arg(long)]
    json: bool,
    /// Compare each verdict with the file's `expect` (for the scripted reference driver)
    /// instead of requiring PASS.
    #[arg(long)]
    expect: bool,
    /// Scenarios run at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Sub::Run(a) => run_suite(a),
    }
}

/// What the policy flag names, resolved once.
pub(crate) enum PolicySource {
    Scripted,
    Checkpoint(PathBuf),
}

/// The policy for `scenario` and the env options it needs (its observation settings).
pub(crate) fn make_policy(
    source: &PolicySource,
    scenario: &Scenario,
) -> Result<(Box<dyn sim::Policy>, sim::EnvConfig)> {
    match source {
        PolicySource::Scripted => {
            // The scripted driver reads the state vector; its options must see the map.
            let mut overrides = sim::EnvConfig::new();
            overrides.insert("obs".into(), "state".into());
            let (id, cfg) = scenario::env_setup(scenario, &overrides)?;
            Ok((sim::make_scripted(id, &cfg)?, overrides))
        }
        PolicySource::Checkpoint(path) => {
            let meta = agents::checkpoint::read_meta(path)?;
            if !meta.env_id.starts_with("Drive") {
                bail!(
                    "{}: trained on `{}`; scenarios need a driving policy (Drive-v0 or DriveMap-v0)",
                    path.display(),
                    meta.env_id
                );
            }
            if meta.env_atari.is_some() {
                bail!(
                    "{}: trained with Atari preprocessing wrappers, which the scenario runner does not apply",
                    path.display()
                );
            }
            let options = meta.env_config(path)?;
            let device = perception::DeviceChoice::Cpu.device()?;
            let policy = agents::load_policy(
                path,
                &device,
                Some(&meta.env_id),
                agents::Acting::AsTrained,
                0,
            )?;
            // The observation and action settings the network was trained with.
            let keys = [
                "obs",
                "view",
                "width",
                "height",
                "actions",
                "action_repeat",
                "rays",
                "ray_range",
                "ray_fov_deg",
                "vehicle",
            ];
            let overrides: sim::EnvConfig = options
                .iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok((policy, overrides))
        }
    }
}

/// A scenario's report and its wall time in seconds.
type RunResult = Result<(Report, f64)>;

fn run_one(source: &PolicySource, scenario: &Scenario, gif_dir: Option<&Path>) -> RunResult {
    let start = Instant::now();
    let (mut policy, overrides) = make_policy(source, scenario)?;
    let opts = RunOptions {
        frame_every: if gif_dir.is_some() { 4 } else { 0 },
    };
    let mut frames = Vec::new();
    let report = scenario::run(scenario, policy.as_mut(), &overrides, opts, &mut frames)?;
    let wall = start.elapsed().as_secs_f64();
    if let Some(dir) = gif_dir {
        let path = dir.join(format!("{}.gif", report.scenario));
        // 4 physics steps per frame at 60 Hz: 15 frames/s, ~7 cs per frame.
        let mut gif = super::gif_writer::GifWriter::create(&path, 1, 7)?;
        for f in &frames {
            gif.push(f.as_frame())?;
        }
        gif.finish()?;
    }
    Ok((report, wall))
}

fn run_suite(args: RunArgs) -> Result<()> {
    let mut files = Vec::new();
    for p in &args.paths {
        files.extend(scenario::collect_files(p)?);
    }
    if files.is_empty() {
        bail!("no scenario files (*.toml) under the given paths");
    }
    // Every file is parsed and checked before anything runs.
    let scenarios: Vec<Scenario> = files
        .iter()
        .map(|f| Scenario::load(f))
        .collect::<Result<_, _>>()?;
    let source = if args.policy == "scripted" {
        PolicySource::Scripted
    } else {
        let p = PathBuf::from(&args.policy);
        if !p.exists() {
            bail!(
                "--policy `{}`: not `scripted` and no such checkpoint file",
                args.policy
            );
        }
        PolicySource::Checkpoint(p)
    };
    if let Some(dir) = &args.gif {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, scenarios.len());
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunResult>>> =
        Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(sc) = scenarios.get(i) else { break };
                    let r = run_one(&source, sc, args.gif.as_deref());
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    let wall_total = started.elapsed().as_secs_f64();
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a scenario thread panicked"))?;
    let mut reports = Vec::with_capacity(results.len());
    for (r, sc) in results.into_iter().zip(&scenarios) {
        let (report, wall) = r.ok_or_else(|| anyhow::anyhow!("{}: did not run", sc.file))??;
        reports.push((report, wall));
    }

    if args.json {
        for (r, _) in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print_table(&reports, args.expect, wall_total);
    }
    if let Some(path) = &args.junit {
        write_junit(path, &reports, args.expect)?;
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|(r, _)| !passed(r, args.expect))
        .map(|(r, _)| r.scenario.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} scenarios failed{}: {}",
            failed.len(),
            reports.len(),
            if args.expect {
                " (verdict differs from `expect`)"
            } else {
                ""
            },
            failed.join(", ")
        );
    }
    Ok(())
}

fn passed(r: &Report, expect: bool) -> bool {
    if expect {
        r.outcome.verdict == r.expect
    } else {
        r.outcome.verdict == Verdict::Pass
    }
}

fn infraction_summary(r: &Report) -> String {
    if r.outcome.infractions.is_empty() {
        return "-".into();
    }
    r.outcome
        .infractions
        .iter()
        .map(|i| format!("{}@{:.1}s", i.kind.name(), i.t))
        .collect::<Vec<_>>()
        .join(",")
}

fn print_table(reports: &[(Report, f64)], expect: bool, wall_total: f64) {
    let width = reports
        .iter()
        .map(|(r, _)| r.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<7} {:<6} {:>7} {:>6} {:>8} {:>7}  infractions",
        "scenario", "verdict", "expect", "route%", "score", "sim s", "wall s"
    );
    let mut sim_total = 0.0;
    for (r, wall) in reports {
        let o = &r.outcome;
        sim_total += f64::from(o.sim_time);
        let mark = if passed(r, expect) {
            ""
        } else {
            "  <-- FAILED"
        };
        println!(
            "{:<width$}  {:<7} {:<6} {:>7.1} {:>6.3} {:>8.1} {:>7.2}  {}{}",
            r.scenario,
            o.verdict.label(),
            r.expect.label(),
            100.0 * o.route_completion,
            o.driving_score,
            o.sim_time,
            wall,
            infraction_summary(r),
            mark
        );
    }
    println!(
        "{} scenarios, {:.1} s simulated in {:.2} s wall ({:.0}x real time)",
        reports.len(),
        sim_total,
        wall_total,
        sim_total / wall_total.max(1e-9)
    );
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_junit(path: &Path, reports: &[(Report, f64)], expect: bool) -> Result<()> {
    let failures = reports.iter().filter(|(r, _)| !passed(r, expect)).count();
    let total: f64 = reports.iter().map(|(_, w)| w).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuite name=\"pixelgym-scenarios\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">\n",
        reports.len()
    ));
    for (r, wall) in reports {
        let o = &r.outcome;
        xml.push_str(&format!(
            "  <testcase classname=\"scenario\" name=\"{}\" file=\"{}\" time=\"{wall:.3}\">\n",
            xml_escape(&r.scenario),
            xml_escape(&r.file)
        ));
        xml.push_str(&format!(
            "    <properties><property name=\"policy\" value=\"{}\"/><property name=\"route_completion\" value=\"{:.4}\"/><property name=\"driving_score\" value=\"{:.4}\"/><property name=\"sim_time\" value=\"{:.2}\"/></properties>\n",
            xml_escape(&r.policy),
            o.route_completion,
            o.driving_score,
            o.sim_time
        ));
        if !passed(r, expect) {
            xml.push_str(&format!(
                "    <failure message=\"verdict {} (expected {}); failed criteria: {}\">{}</failure>\n",
                o.verdict.label(),
                if expect { r.expect.label() } else { "PASS" },
                xml_escape(&o.failed.join(", ")),
                xml_escape(&infraction_summary(r))
            ));
        }
        xml.push_str("  </testcase>\n");
    }
    xml.push_str("</testsuite>\n");
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let tmp = tempfile_in(dir.unwrap_or(Path::new(".")), path)?;
    std::fs::write(&tmp, xml).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A temporary path beside `path` for an atomic write.
fn tempfile_in(dir: &Path, path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    Ok(dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}
