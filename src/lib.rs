pub use cronmon_core::*;
