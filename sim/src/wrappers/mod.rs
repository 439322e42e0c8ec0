//! Composable wrappers with Gymnasium/ALE semantics.
