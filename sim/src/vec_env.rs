//! `VecEnv`: N envs stepped across a thread pool into one contiguous batch buffer.
