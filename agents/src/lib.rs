//! `agents`: DQN, A3C, replay, the training loop, evaluation and checkpoints (built in the DQN issue).
