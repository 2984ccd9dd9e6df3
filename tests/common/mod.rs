pub mod core_fixtures;
