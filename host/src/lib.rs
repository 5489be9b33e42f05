//! The zip-oss wasmtime host: runs the zip-oss component (embedded at build time) to serve its
//! HTTP API or to run one-shot packs, with pooled outgoing HTTP, and embeds a local S3 store.
//!
//! Library entry points for tests and tools:
//! - [`engine::Runtime`]: compile once, then [`engine::Runtime::pack`] per pack;
//! - [`serve::start`]: the HTTP server in the background;
//! - [`embedded_store::start`]: an s3s-fs store with checked signatures;
//! - [`demo::DemoStore`] and [`demo::sample_files`]: the demo's store and data;
//! - [`download::download`]: fetch a presigned URL to a file.

pub mod bench;
pub mod bindings;
pub mod cli;
pub mod component_wasm;
mod config_store;
pub mod demo;
pub mod download;
pub mod embedded_store;
pub mod engine;
pub mod listener;
pub mod outgoing;
pub mod pack;
pub mod serve;
pub mod settings;
pub mod state;

pub use engine::{Runtime, RuntimeOptions};
pub use settings::StoreSettings;
