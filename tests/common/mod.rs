pub mod bus;
pub mod core_fixtures;
