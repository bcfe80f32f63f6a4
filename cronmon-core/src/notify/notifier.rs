//! The delivery loop (being written).
