//! Wharf's nginx agent engine (placeholder while the crate is written).
