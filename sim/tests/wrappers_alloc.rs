//! The wrappers' hot path allocates nothing: a counting allocator (per thread, so parallel
//! tests do not disturb each other) watches steps and resets of full chains.

use sim::wrappers::{
    ClipReward, EpisodicLife, FrameStack, Grayscale, MaxAndSkip, NoopReset,
    RecordEpisodeStatistics, Resize, TimeLimit, make_atari_wrapped,
};
use sim::{Action, Env, EnvConfig, Frame, Info, Obs, Space, Step};

mod common;

use common::counting_alloc::{CountingAlloc, allocations};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// A 12x12 RGB env whose frame is the step counter, with 3 lives lost every 7 steps.
struct Tiny {
    space: Space,
    actions: Space,
    t: u64,
    lives: u32,
    buf: Vec<u8>,
}

impl Env for Tiny {
    fn id(&self) -> &str {
        "Tiny-v0"
    }
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        &self.actions
    }
    fn reset(&mut self, _seed: Option<u64>) -> sim::Result<(Obs<'_>, Info)> {
        self.t = 0;
        self.lives = 3;
        self.buf.fill(0);
        Ok((Obs::U8(&self.buf), Info::default()))
    }
    fn step(&mut self, _action: Action<'_>) -> sim::Result<Step<'_>> {
        self.t += 1;
        if self.t.is_multiple_of(7) {
            self.lives -= 1;
        }
        self.buf.fill((self.t * 37) as u8);
        Ok(Step {
            obs: Obs::U8(&self.buf),
            reward: self.t as f32 - 2.0,
            terminated: self.lives == 0,
            truncated: false,
            info: Info {
                lives: self.lives,
                episode_frame_number: self.t,
                ..Default::default()
            },
        })
    }
    fn obs(&self) -> Obs<'_> {
        Obs::U8(&self.buf)
    }
    fn render(&mut self) -> Frame<'_> {
        Frame {
            height: 12,
            width: 12,
            channels: 3,
            data: &self.buf,
        }
    }
}

/// Run `steps` steps with resets on episode ends and return the allocations they made.
fn count(env: &mut dyn Env, steps: usize) -> u64 {
    env.reset(Some(1)).unwrap();
    // Warm up one episode, so lazily sized buffers are in place.
    for _ in 0..steps {
        if env.step(Action::Discrete(0)).unwrap().done() {
            env.reset(None).unwrap();
        }
    }
    let before = allocations();
    for i in 0..steps {
        if env.step(Action::Discrete((i % 2) as i64)).unwrap().done() {
            env.reset(None).unwrap();
        }
    }
    allocations() - before
}

#[test]
fn counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocations() > before);
    drop(v);
}

#[test]
fn a_full_chain_of_wrappers_steps_and_resets_without_allocating() {
    let tiny = Tiny {
        space: Space::image(&[12, 12, 3]),
        actions: Space::Discrete { n: 2 },
        t: 0,
        lives: 3,
        buf: vec![0; 12 * 12 * 3],
    };
    let env = Grayscale::new(tiny).unwrap();
    let env = NoopReset::new(env, 5).unwrap();
    let env = MaxAndSkip::new(env, 3).unwrap();
    let env = Resize::new(env, 5, 7).unwrap();
    let env = RecordEpisodeStatistics::new(env);
    let env = EpisodicLife::new(env).unwrap();
    let env = ClipReward::new(env);
    let env = TimeLimit::new(env, 4).unwrap();
    let mut env = FrameStack::new(env, 4).unwrap();
    assert_eq!(count(&mut env, 200), 0);
}

#[test]
fn the_wrapped_atari_chain_on_pong_does_not_allocate() {
    let cfg = sim::preprocess::AtariPreprocessingConfig {
        terminal_on_life_loss: true,
        clip_reward: true,
        ..Default::default()
    };
    let mut env = make_atari_wrapped("Pong-v0", &EnvConfig::new(), &cfg).unwrap();
    assert_eq!(count(env.as_mut(), 300), 0);
}
