//! The zip-oss wasmtime host: runs the zip-oss component (embedded at build time) to serve its
//! HTTP API or to run one-shot packs, with pooled outgoing HTTP, and embeds a local S3 store.
//!
//! Library entry points for tests and tools:
//! - [`engine::Runtime`]: compile once, then [`engine::Runtime::pack`] per pack;
//! - [`serve::start`]: the HTTP server in the background;
//! - [`embedded_store::start`]: an s3s-fs store with checked signatures;
//! - [`demo::DemoStore`] and [`demo::sample_files`]: the demo's store and data;
//! - [`download::download`]: fetch a presigned URL to a file.
//! - [`engine::Runtime::pack_reporting`]: a pack whose progress reports go to a
//!   [`progress::ProgressSink`] (what [`bars::PackBars`] draws for `zip-oss pack`).
//!
//! Embedding the component in a Rust program, without the server: one pack from a store
//! (here the embedded one, over a temporary folder) into an archive on disk.
//!
//! ```
//! # async fn run() -> anyhow::Result<()> {
//! use zip_oss::{demo::DemoStore, pack, RuntimeOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let store = DemoStore::start(dir.path()).await?; // S3 on 127.0.0.1, bucket `demo`
//! std::fs::create_dir_all(dir.path().join("demo/docs"))?;
//! std::fs::write(dir.path().join("demo/docs/hello.txt"), "hello")?;
//!
//! let runtime = store.runtime(RuntimeOptions::default())?; // compiles the component once
//! let mut request = pack::request("demo");
//! request.source_dirs = vec!["docs/".into()];
//! let output = dir.path().join("docs.zip");
//! let packed = pack::pack_and_fetch(&runtime, &store.settings.store_config()?, &request, Some(&output)).await?;
//!
//! assert_eq!(packed.summary.entries, 1);
//! assert_eq!(std::fs::metadata(&output)?.len(), packed.summary.archive_bytes);
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
//! ```

pub mod bars;
pub mod bench;
pub mod bindings;
pub mod cli;
pub mod compiled_cache;
pub mod component_wasm;
mod config_store;
pub mod demo;
pub mod download;
pub mod embedded_store;
pub mod engine;
mod gate;
pub mod hashed_body;
pub mod limits;
pub mod listener;
mod local_only;
pub mod metrics;
pub mod outgoing;
pub mod pack;
pub mod progress;
mod request_options;
pub mod serve;
pub mod settings;
pub mod state;
mod stream_write;
pub mod ui;
mod unsent_limit;

pub use engine::{Runtime, RuntimeOptions};
pub use settings::StoreSettings;
