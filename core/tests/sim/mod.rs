pub mod store;
pub mod world;
