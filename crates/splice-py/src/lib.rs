//! splice._native (in progress)
