//! Classic-control and toy envs: CartPole-v1 (Gymnasium-exact) and Catch-v0.
