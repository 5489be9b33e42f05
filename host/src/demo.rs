//! `zip-oss demo`: the embedded store over a folder, a handful of awkward sample files, one
//! pack through the component, and the archive downloaded next to them. The pieces
//! ([`sample_files`], [`write_samples`], [`DemoStore`]) are public for benches and tests.

use crate::embedded_store::{self, StoreHandle};
use crate::engine::{Runtime, RuntimeOptions};
use crate::settings::StoreSettings;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub const BUCKET: &str = "demo";
pub const PREFIX: &str = "files/";
pub const ACCESS_KEY_ID: &str = "zip-oss-demo";
pub const ACCESS_KEY_SECRET: &str = "zip-oss-demo-secret";

/// Size of the big sample: more than two 5 MiB parts, so the archive is a real multipart upload.
pub const BIG_FILE_BYTES: usize = 12 << 20;

/// The sample objects, keys relative to [`PREFIX`]: nested folders, a Chinese name, an emoji,
/// a space and a `+`, an empty file and a 12 MiB incompressible file.
pub fn sample_files() -> Vec<(String, Vec<u8>)> {
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        (
            "readme.txt".into(),
            text("zip-oss demo: these files were packed from an S3 store.\n"),
        ),
        (
            "docs/guide/intro.md".into(),
            text("# Intro\n\nNested folders keep their paths.\n"),
        ),
        (
            "docs/guide/chapter 1.txt".into(),
            text("A name with a space.\n"),
        ),
        ("docs/a+b=c.txt".into(), text("A name with a plus sign.\n")),
        (
            "报告/2024年度总结.txt".into(),
            text("中文文件名：UTF-8 names survive.\n"),
        ),
        (
            "photos/🎉 party.txt".into(),
            text("An emoji in the name.\n"),
        ),
        ("empty.dat".into(), Vec::new()),
        (
            "data/table.csv".into(),
            text(&"id,name,value\n1,alpha,3.14\n2,beta,2.72\n".repeat(200)),
        ),
        ("big/random-12MiB.bin".into(), pseudo_random(BIG_FILE_BYTES)),
    ]
}

/// Deterministic incompressible bytes (xorshift64).
pub fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `files` as objects `<prefix><key>` of `bucket` under the store root. s3s-fs serves
/// plain files as objects, so no S3 round trip is needed. Returns the bytes written.
pub fn write_samples(
    root: &Path,
    bucket: &str,
    prefix: &str,
    files: &[(String, Vec<u8>)],
) -> anyhow::Result<u64> {
    let mut total = 0;
    for (key, data) in files {
        let path = root.join(bucket).join(format!("{prefix}{key}"));
        std::fs::create_dir_all(path.parent().unwrap())?;
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        file.write_all(data)?;
        total += data.len() as u64;
    }
    Ok(total)
}

/// The embedded store over `root` with the demo bucket, and settings to reach it.
pub struct DemoStore {
    pub handle: StoreHandle,
    pub settings: StoreSettings,
    pub root: PathBuf,
}

impl DemoStore {
    /// Starts the store on a free loopback port; creates the `demo` bucket folder.
    pub async fn start(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(BUCKET))?;
        let loopback = "127.0.0.1:0".parse().unwrap();
        let (_, handle) =
            embedded_store::start(&root, loopback, ACCESS_KEY_ID, ACCESS_KEY_SECRET).await?;
        let settings =
            StoreSettings::s3_path_style(handle.endpoint(), ACCESS_KEY_ID, ACCESS_KEY_SECRET);
        Ok(DemoStore {
            handle,
            settings,
            root,
        })
    }

    /// A runtime whose `wasi:config` points at this store.
    pub fn runtime(&self, mut options: RuntimeOptions) -> anyhow::Result<Runtime> {
        options.config = self.settings.config_values();
        Runtime::new(options)
    }
}

/// The whole demo: store, samples, pack of `files/`, download to `<dir>/demo.zip`; with
/// `ui`, then the page (`serve --ui`, anonymous on loopback) over the same store until
/// Ctrl-C.
pub async fn run(
    dir: &Path,
    options: RuntimeOptions,
    ui: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let store = DemoStore::start(dir).await?;
    let files = sample_files();
    let bytes = write_samples(&store.root, BUCKET, PREFIX, &files)?;
    eprintln!(
        "store: {} serving {} (bucket `{BUCKET}`: {} files, {bytes} bytes under `{PREFIX}`)",
        store.handle.endpoint(),
        store.root.display(),
        files.len()
    );

    let runtime = store.runtime(options.clone())?;
    let mut request = crate::pack::request(BUCKET);
    request.source_dirs = vec![PREFIX.into()];
    let output = store.root.join("demo.zip");
    let packed = crate::pack::pack_and_fetch(
        &runtime,
        &store.settings.store_config()?,
        &request,
        Some(&output),
    )
    .await?;

    println!("{}", crate::pack::summary_json(&packed.summary));
    if let Some((path, size)) = packed.downloaded {
        eprintln!("zip: {} ({size} bytes)", path.display());
    }
    if let Some(listen) = ui {
        serve_page(&store, options, listen).await?;
    }
    store.handle.shutdown().await;
    Ok(())
}

/// The page over the demo store, open on loopback as `serve` is without keys or tokens.
async fn serve_page(
    store: &DemoStore,
    mut options: RuntimeOptions,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    options.config = store
        .settings
        .config_values()
        .with(crate::settings::AccessSettings::default().config_values(listen)?);
    let serve = crate::serve::ServeOptions {
        ui: true,
        local_only: true,
        ..Default::default()
    };
    let (addr, server) = crate::serve::start_with(Runtime::new(options)?, listen, serve).await?;
    println!("page: http://{addr}/#{BUCKET}/{PREFIX}  (Ctrl-C to stop)");
    crate::serve::shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}
