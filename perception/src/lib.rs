//! `perception`: frames to normalised tensors, and the CNN/MLP encoders (built in the DQN issue).
