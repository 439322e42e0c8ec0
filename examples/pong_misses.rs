//! Where does a Pong-v0 checkpoint lose points? Plays greedy games and prints one CSV row per
//! point: who scored, the ball's last seen row and vertical speed, how many times the ball
//! turned horizontally in the rally (serve = 0), the agent paddle's centre row and how far it
//! was from the ball. Read from the rendered 210x160 frames, so it needs no access to the
//! game's internals.
//!
//! ```sh
//! cargo run --release --example pong_misses -- --checkpoint runs/pong/last.safetensors \
//!     --games 10 --seed 9999 > misses.csv
//! ```

use anyhow::{Result, bail};
use clap::Parser;
use sim::arcade::pong;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// A DQN or A3C checkpoint trained on Pong-v0.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Full games to play (first to 21).
    #[arg(long, default_value_t = 10)]
    games: usize,
    /// Seed of the first game (later games continue the env's stream, as `pixelgym eval`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Mean (column, row) of the pixels of `color` in columns `x0..x1` of the playing field.
fn centroid(frame: &sim::Frame<'_>, color: [u8; 3], x0: usize, x1: usize) -> Option<(f32, f32)> {
    let field = pong::FIELD_TOP as usize..pong::FIELD_BOTTOM as usize;
    let (mut sx, mut sy, mut n) = (0usize, 0usize, 0usize);
    for y in field {
        for x in x0..x1.min(frame.width) {
            let i = (y * frame.width + x) * frame.channels;
            if frame.data.get(i..i + 3) == Some(&color[..]) {
                sx += x;
                sy += y;
                n += 1;
            }
        }
    }
    (n > 0).then(|| (sx as f32 / n as f32, sy as f32 / n as f32))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let path = &args.checkpoint;
    let meta = agents::checkpoint::read_meta(path)?;
    if meta.env_id != pong::ID {
        bail!(
            "{}: trained on {}, this probe reads {} frames",
            path.display(),
            meta.env_id,
            pong::ID
        );
    }
    let options = meta.env_config(path)?;
    let device = perception::candle_core::Device::Cpu;
    let acting = agents::acting::Acting::Greedy;
    let mut policy = agents::load_policy(path, &device, Some(pong::ID), acting, args.seed)?;
    let mut env = agents::train::build_env(pong::ID, &options, meta.env_atari.as_ref(), true)?;
    let [_, green, _, white] = pong::PALETTE;
    let agent_cols = (
        pong::AGENT_X as usize,
        (pong::AGENT_X + pong::PADDLE_W) as usize,
    );
    println!("scorer,ball_row,ball_dy,turns,paddle_row,paddle_off,rally_steps");
    for game in 0..args.games {
        let (obs, _) = env.reset((game == 0).then_some(args.seed))?;
        policy.reset();
        let mut action = policy.act(obs)?;
        // Ball column, ball row, agent paddle row per step of the current rally.
        let mut rally: Vec<(f32, f32, f32)> = Vec::new();
        let mut turns = 0;
        loop {
            let step = env.step(action.as_action())?;
            let (reward, done) = (step.reward, step.done());
            let next = if done {
                None
            } else {
                Some(policy.act(step.obs)?)
            };
            let frame = env.render();
            let ball = centroid(&frame, white, 0, frame.width);
            let paddle = centroid(&frame, green, agent_cols.0, agent_cols.1);
            if let (Some((bx, by)), Some((_, py))) = (ball, paddle) {
                if let [.., (x0, ..), (x1, ..)] = rally[..]
                    && (bx - x1).abs() > 0.1
                    && (bx - x1).signum() != (x1 - x0).signum()
                {
                    turns += 1;
                }
                rally.push((bx, by, py));
            }
            if reward != 0.0 {
                if let [.., (_, y0, _), (_, y1, py)] = rally[..] {
                    let scorer = if reward > 0.0 { "agent" } else { "opponent" };
                    let (dy, off, n) = (y1 - y0, (y1 - py).abs(), rally.len());
                    println!("{scorer},{y1:.1},{dy:.1},{turns},{py:.1},{off:.1},{n}");
                }
                rally.clear();
                turns = 0;
            }
            match next {
                Some(a) => action = a,
                None => break,
            }
        }
    }
    Ok(())
}
