//! How well can Pong-v0 be played at all, with the agent's frame skip and sticky actions? A
//! planner that sees the game's state (not pixels) plays full games and prints each score.
//! It is not a policy to ship: it reads the game's internals and simulates the future. Its
//! score shows what the rules let a policy reach (at least that much), so a target such as
//! +18 can be checked against the rules rather than against one training run.
//!
//! Every agent step (4 frames) while the ball comes towards the agent or a serve is pending,
//! it tries each paddle row to move to and hold, simulates the point `--samples` times with
//! fresh random draws (the opponent's aim, sticky actions, the serve; never the env's own
//! stream) and picks the row with the best mean outcome (+1 point won, -1 lost, 0 rally goes
//! on), the nearest row on ties. While the ball goes away it follows the ball's row.
//!
//! ```sh
//! cargo run --release --example pong_planner -- --games 10 --seed 9999 --sticky 0.25
//! ```

use agents::eval::EvalReport;
use anyhow::Result;
use clap::Parser;
use rand::{Rng, SeedableRng};
use sim::arcade::pong::{BALL_H, FIELD_BOTTOM, FIELD_TOP, PADDLE_H};
use sim::arcade::{ArcadeEnv, ArcadeGame, ArcadeOptions, Pong};
use sim::seeding::EnvRng;
use sim::{Action, Env};

#[derive(Parser)]
struct Args {
    /// Full games to play (first to 21).
    #[arg(long, default_value_t = 10)]
    games: usize,
    /// Seed of the first game (later games continue the env's stream, as `pixelgym eval`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sticky-action probability per frame (Pong-v0's default is 0.25).
    #[arg(long, default_value_t = 0.25)]
    sticky: f64,
    /// Frames per agent step (the Atari preprocessing's frame skip).
    #[arg(long, default_value_t = 4)]
    frame_skip: u32,
    /// Simulations of each candidate row per decision.
    #[arg(long, default_value_t = 8)]
    samples: usize,
}

/// RIGHT moves the agent's paddle up, LEFT down (ALE's minimal set).
const UP: usize = 2;
const DOWN: usize = 3;
/// Pixels the agent's paddle moves per frame while UP or DOWN is held.
const PADDLE_PX_PER_FRAME: i32 = 2;

/// Pixels the paddle moves in one agent step of `skip` frames.
fn paddle_step(skip: u32) -> i32 {
    PADDLE_PX_PER_FRAME * skip as i32
}

/// The action that brings the paddle's top row `top` towards `target`, moving `step` px per
/// agent step and holding within half a step.
fn steer(top: i32, target: i32, step: i32) -> usize {
    let diff = target - top;
    if diff > step / 2 {
        DOWN
    } else if diff < -step / 2 {
        UP
    } else {
        0
    }
}

/// Simulate the current point from `game` with the paddle steered to `target` every
/// `skip` frames, sticky actions as the env applies them: +1 if the agent wins it, -1 if it
/// loses it, 0 if the opponent returns the agent's hit (the rally goes on).
fn rollout(game: &Pong, target: i32, skip: u32, sticky: f64, last: usize, rng: &mut EnvRng) -> i32 {
    let mut g = game.clone();
    let (mut held, mut action) = (last, 0);
    let mut agent_hit = false;
    let mut vx_before = g.ball_velocity().map_or(0.0, |v| v.0);
    for frame in 0..600u32 {
        if frame % skip == 0 {
            action = steer(g.paddles().0, target, paddle_step(skip));
        }
        if rng.random::<f64>() >= sticky {
            held = action;
        }
        let reward = g.tick(held, rng);
        if reward != 0 {
            return reward;
        }
        let vx = g.ball_velocity().map_or(0.0, |v| v.0);
        if vx_before > 0.0 && vx < 0.0 {
            agent_hit = true;
        } else if agent_hit && vx_before < 0.0 && vx > 0.0 {
            return 0;
        }
        vx_before = vx;
    }
    0
}

/// The paddle row to steer to now.
fn plan(game: &Pong, args: &Args, last: usize, step_seed: u64) -> i32 {
    let top = game.paddles().0;
    match (game.ball(), game.ball_velocity()) {
        (Some((_, y)), Some((vx, _))) if vx < 0.0 => y + BALL_H / 2 - PADDLE_H / 2,
        _ => {
            let mut best = (f64::MIN, i32::MAX, top);
            for target in (FIELD_TOP..=FIELD_BOTTOM - PADDLE_H).step_by(2) {
                let mut total = 0;
                for s in 0..args.samples {
                    // The same draws for every candidate (common random numbers).
                    let mut rng = EnvRng::seed_from_u64(step_seed.wrapping_add(s as u64));
                    total += rollout(game, target, args.frame_skip, args.sticky, last, &mut rng);
                }
                let score = total as f64 / args.samples as f64;
                let dist = (target - top).abs();
                if score > best.0 || (score == best.0 && dist < best.1) {
                    best = (score, dist, target);
                }
            }
            best.2
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let opts = ArcadeOptions {
        frameskip: args.frame_skip,
        repeat_action_probability: args.sticky,
        obs_type: "grayscale".into(),
        ..ArcadeOptions::default()
    };
    let mut env = ArcadeEnv::<Pong>::new(&opts)?;
    let mut planner_seed = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed ^ 0x9e37_79b9);
    let mut report = EvalReport::default();
    for game in 0..args.games {
        env.reset((game == 0).then_some(args.seed))?;
        let mut last = 0;
        let mut ret = 0.0;
        loop {
            let target = plan(env.game(), &args, last, planner_seed.random());
            last = steer(env.game().paddles().0, target, paddle_step(args.frame_skip));
            let step = env.step(Action::Discrete(last as i64))?;
            ret += step.reward as f64;
            if step.done() {
                break;
            }
        }
        let (agent, opponent) = env.game().score();
        eprintln!("game {game}: {agent}-{opponent} ({ret:+})");
        report.returns.push(ret);
    }
    println!(
        "planner, sticky {}, frame skip {}, {} samples: mean {:+.2} +- {:.2} over {} games",
        args.sticky,
        args.frame_skip,
        args.samples,
        report.mean(),
        report.std(),
        args.games
    );
    Ok(())
}
