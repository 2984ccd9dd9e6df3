pub mod bus;
pub mod cli;
pub mod core_fixtures;
pub mod fake_boundary_daemon;
pub mod mount_fixtures;
pub mod netns;
pub mod raw;
