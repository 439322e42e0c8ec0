//! Native arcade games with ALE v5 conventions (Pong, Breakout).
