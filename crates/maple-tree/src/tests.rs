//! In-crate unit tests.
