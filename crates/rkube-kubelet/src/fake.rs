//! Fake nodes (in progress).
