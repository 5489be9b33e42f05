//! The `zip-oss` command line.

use crate::component_wasm::ComponentSource;
use crate::engine::{Runtime, RuntimeOptions};
use crate::limits::InstanceLimits;
use crate::outgoing::OutgoingOptions;
use crate::settings::{AccessSettings, StoreSettings};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "zip-oss",
    version,
    about = "Pack objects from S3-compatible stores into a ZIP"
)]
pub struct Cli {
    /// Run this component instead of the one built into the binary.
    #[arg(long, global = true, env = "ZIP_OSS_COMPONENT")]
    pub component: Option<PathBuf>,
    /// Skip the compiled-component cache (`$ZIP_OSS_CACHE_DIR`, else `~/.cache/zip-oss`):
    /// compile the component at every start.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// `text` (`key=value` lines) or `json` (one JSON object per line, for log services
    /// such as Function Compute's SLS or Loki).
    #[arg(long, global = true, env = "ZIP_OSS_LOG_FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    pub log_format: String,
    /// Threads that run the packs and their I/O [default: 1 for `pack`, one per CPU for
    /// the rest]. One pack on one thread spends less CPU (20–30 % for large objects): its
    /// wasm, its connections and its timers wake each other without crossing threads
    /// (BENCHMARKS.md); more threads serve more packs at once, or one pack past ~1 GB/s
    /// or ~10,000 objects a second.
    #[arg(long, global = true, env = "ZIP_OSS_THREADS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the component's HTTP API.
    Serve(ServeArgs),
    /// Run one pack through the component's zip-pack export and print its summary as JSON.
    Pack(PackArgs),
    /// Run the embedded S3-compatible store (s3s-fs) over a folder.
    Store(StoreArgs),
    /// Start the embedded store with sample files, pack them and download the zip.
    Demo(DemoArgs),
    /// Baseline figures: packs 57 objects (~1 GiB) and 10,000 objects of 4 KiB from the
    /// embedded store and prints MB/s, objects/s and the host's peak RSS.
    Bench(BenchArgs),
    /// Print a signed pack link for a pack request (JSON), as an application would make
    /// one (README, "Signed pack links").
    Sign(SignArgs),
}

/// `Debug` shows no secret.
#[derive(Args)]
pub struct SignArgs {
    /// The signing key's id (one of the server's --signing-keys).
    #[arg(long)]
    pub key_id: String,
    /// The signing key's secret.
    #[arg(long, env = "ZIP_OSS_SIGNING_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Unix time (seconds) the link is good until [default: now + --expires-in].
    #[arg(long, conflicts_with = "expires_in")]
    pub expires: Option<u64>,
    /// Seconds from now the link is good for.
    #[arg(long, default_value_t = 300)]
    pub expires_in: u64,
    /// The server's URL the link points at.
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub url: String,
    /// The pack request, as the JSON a POST would carry.
    pub request: String,
}

impl std::fmt::Debug for SignArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignArgs")
            .field("key_id", &self.key_id)
            .field("expires", &self.expires)
            .field("expires_in", &self.expires_in)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SignArgs {
    /// The signed link.
    pub fn link(&self, now_unix: u64) -> anyhow::Result<String> {
        zip_oss_core::plan::PackRequest::from_json(self.request.as_bytes())
            .map_err(|e| anyhow::anyhow!("the pack request: {e}"))?;
        let key = zip_oss_core::auth::SigningKey::new(&self.key_id, &self.secret)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let expires = self
            .expires
            .unwrap_or_else(|| now_unix.saturating_add(self.expires_in));
        let query = key
            .sign_query(&self.request, expires)
            .map_err(|e| anyhow::anyhow!("the pack request: {e}"))?;
        let separator = if self.url.contains('?') { '&' } else { '?' };
        Ok(format!("{}{separator}{query}", self.url))
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Folder for the store (default: a temporary folder in /dev/shm, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// `big`, `small`, `all` (both), `ceiling` (the packer alone, against a store that
    /// costs nothing), `ceiling-stored` (only its stored row, three times: CPU per GiB),
    /// `objects` (memory per object: 10,000 and 100,000 objects against that store),
    /// `instantiate` (the cost of a fresh instance), `checksums` or
    /// `resume` (the big scenario killed at half its parts and run again), `latency` (the
    /// small scenario with every store answer 10 ms late), `tree` (20,000 objects in 20
    /// folders behind 10 ms, listed flat and in key ranges), `copy` (large objects packed
    /// again, copied by the store), `8gib` (the big scenario's objects eight times over:
    /// memory must stay flat).
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Run the store on one CPU and the capacity clients and packs on the others, as a
    /// store on other machines would be: its work then takes no CPU from the packer.
    #[arg(long)]
    pub split_cores: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or 0.0.0.0:$FC_CUSTOM_LISTEN_PORT
    /// (or $FC_SERVER_PORT) inside Function Compute].
    #[arg(long, env = "ZIP_OSS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Requests handled at once; more are answered 503 with Retry-After.
    #[arg(long, env = "ZIP_OSS_MAX_CONCURRENT", default_value_t = 16)]
    pub max_concurrent: usize,
    /// On SIGTERM, seconds running packs may take to finish after accepting stops.
    #[arg(long, env = "ZIP_OSS_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
    /// Keep instance slots for --max-concurrent requests in wasmtime's pooling allocator.
    /// Off by default: it saves about 5 µs of a ~20 µs instantiation (BENCHMARKS.md) but
    /// reserves ~8 GiB of address space per slot, which sandboxes with an address-space
    /// limit refuse.
    #[arg(long, env = "ZIP_OSS_POOLING")]
    pub pooling: bool,
    /// Serve a page at / to browse the bucket, tick files and folders, see the archive's
    /// size and download it (it uses the same authentication as packs).
    #[arg(long, env = "ZIP_OSS_UI")]
    pub ui: bool,
    #[command(flatten)]
    pub store: StoreSettings,
    #[command(flatten)]
    pub access: AccessSettings,
    #[command(flatten)]
    pub outgoing: OutgoingArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct PackArgs {
    /// Bucket holding the sources and receiving the archive.
    #[arg(long)]
    pub bucket: String,
    /// Pack every object under this prefix (repeat for several).
    #[arg(long = "source-dir", required_unless_present = "source_file")]
    pub source_dir: Vec<String>,
    /// Pack this key (repeat for several); `KEY=NAME` chooses its name in the archive.
    #[arg(long = "source-file")]
    pub source_file: Vec<String>,
    /// Key of the archive (default `output/<request-id>.zip`).
    #[arg(long)]
    pub dest_file: Option<String>,
    /// Lifetime of the presigned link in seconds (default 300).
    #[arg(long)]
    pub expires: Option<u32>,
    /// `stored`, `deflate` or `auto`.
    #[arg(long, default_value = "stored", value_parser = ["stored", "deflate", "auto"])]
    pub compression: String,
    /// Deflate level 0-9.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub compression_level: Option<u8>,
    /// `utf-8` or `gbk`.
    #[arg(long, default_value = "utf-8", value_parser = ["utf-8", "gbk"])]
    pub name_encoding: String,
    /// Only pack files whose names match this glob (repeatable).
    #[arg(long)]
    pub include: Vec<String>,
    /// Leave out entries whose names match this glob (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Give every folder its own entry, not only folder-marker keys.
    #[arg(long)]
    pub all_folders: bool,
    /// Download the archive to this file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreSettings,
    #[command(flatten)]
    pub outgoing: OutgoingArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl PackArgs {
    /// The `zip-pack` request these flags describe.
    pub fn request(&self) -> crate::bindings::PackRequest {
        use crate::bindings::{Compression, NameEncoding, SourceFile};
        let mut request = crate::pack::request(&self.bucket);
        request.source_dirs = self.source_dir.clone();
        request.source_files = self
            .source_file
            .iter()
            .map(|f| match f.split_once('=') {
                Some((key, name)) => SourceFile {
                    key: key.into(),
                    name: Some(name.into()),
                },
                None => SourceFile {
                    key: f.clone(),
                    name: None,
                },
            })
            .collect();
        request.dest_file = self.dest_file.clone();
        request.url_expires = self.expires;
        request.compression = match self.compression.as_str() {
            "deflate" => Compression::Deflate,
            "auto" => Compression::Auto,
            _ => Compression::Stored,
        };
        request.compression_level = self.compression_level;
        request.name_encoding = if self.name_encoding == "gbk" {
            NameEncoding::Gbk
        } else {
            NameEncoding::Utf8
        };
        request.include = self.include.clone();
        request.exclude = self.exclude.clone();
        request.all_folders = self.all_folders;
        request
    }
}

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Folder holding the buckets (one subfolder each).
    #[arg(long)]
    pub root: PathBuf,
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    #[arg(long, env = "ZIP_OSS_ACCESS_KEY_ID")]
    pub access_key_id: String,
    #[arg(long, env = "ZIP_OSS_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: String,
    /// Delay every answer this long, as a store across a network does (the bench's
    /// latency scenario).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder for the store and the resulting demo.zip.
    #[arg(long, default_value = "./zip-oss-demo")]
    pub dir: PathBuf,
    /// Then serve the page (`serve --ui`) on this loopback address over the demo store
    /// until Ctrl-C, and print its address.
    #[arg(long)]
    pub ui: bool,
    /// Where the page is served with --ui (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub outgoing: OutgoingArgs,
}

/// Limits of the pooled outgoing HTTP client.
#[derive(Args, Debug, Clone)]
pub struct OutgoingArgs {
    /// Outgoing requests in flight at once (connect, upload, wait for the head). 64: a
    /// folder of small files needs that many reads in flight to hide a store's ~10 ms
    /// latency (BENCHMARKS.md).
    #[arg(long, env = "ZIP_OSS_MAX_OUTGOING", default_value_t = 64)]
    pub max_outgoing: usize,
    /// Connect (TCP + TLS) timeout in seconds, unless the component sets one.
    #[arg(long, env = "ZIP_OSS_CONNECT_TIMEOUT", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds from the request's body having been sent to the response head (plus as long
    /// again as the body took to send, for what the socket still holds), unless the component
    /// sets one. A slow upload is not timed out as long as it keeps going.
    #[arg(long, env = "ZIP_OSS_FIRST_BYTE_TIMEOUT", default_value_t = 300)]
    pub first_byte_timeout: u64,
    /// Seconds allowed between response body chunks, and for the store to take the next chunk
    /// of a request's body, unless the component sets one.
    #[arg(long, env = "ZIP_OSS_BETWEEN_BYTES_TIMEOUT", default_value_t = 120)]
    pub between_bytes_timeout: u64,
}

/// What one request (one instance) may use.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Memory one request may use, in MiB. A pack reserves seven parts (5 MiB each up to a
    /// 50 GB archive) plus ~30 MiB; one that needs more is refused with 503 before it starts.
    #[arg(long, env = "ZIP_OSS_MAX_MEMORY_MIB", default_value_t = 512)]
    pub max_memory_mib: usize,
    /// Seconds one request may take; then its upload is aborted and it is answered 504.
    #[arg(long, env = "ZIP_OSS_REQUEST_TIMEOUT", default_value_t = 3600)]
    pub request_timeout: u64,
    /// Seconds a request stopped by the timeout or by shutdown has to abort its upload.
    #[arg(long, env = "ZIP_OSS_ABORT_GRACE", default_value_t = 15)]
    pub abort_grace: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> InstanceLimits {
        InstanceLimits {
            max_memory: self.max_memory_mib.saturating_mul(1 << 20),
            timeout: Duration::from_secs(self.request_timeout),
            abort_grace: Duration::from_secs(self.abort_grace),
        }
    }
}

impl OutgoingArgs {
    pub fn options(&self) -> OutgoingOptions {
        OutgoingOptions {
            max_concurrency: self.max_outgoing,
            connect_timeout: Duration::from_secs(self.connect_timeout),
            first_byte_timeout: Duration::from_secs(self.first_byte_timeout),
            between_bytes_timeout: Duration::from_secs(self.between_bytes_timeout),
            ..OutgoingOptions::default()
        }
    }
}

impl Cli {
    fn runtime_options(&self, outgoing: &OutgoingArgs) -> RuntimeOptions {
        RuntimeOptions {
            component: match &self.component {
                Some(path) => ComponentSource::Path(path.clone()),
                None => ComponentSource::Default,
            },
            outgoing: outgoing.options(),
            compilation_cache: !self.no_cache,
            ..RuntimeOptions::default()
        }
    }
}

/// Parses the command line, runs the command, maps failure to a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) | Command::Store(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        // {"timestamp":…,"level":…,"message":…,<fields>…,"target":…} per line.
        logs.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    } else {
        // Plain `key=value` lines when logs go to a file or a platform (Function Compute),
        // not a terminal.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let threads = match cli.command {
        Command::Pack(_) => cli.threads.or(Some(1)),
        _ => cli.threads,
    };
    if let Some(threads) = threads {
        runtime.worker_threads(threads.into());
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => {
            tracing::debug!(store = ?args.store, access = ?args.access, "serve settings");
            if !args.access.source_prefix.is_empty() && args.store.allowed_buckets.is_none() {
                tracing::warn!(
                    "--source-prefix without --allowed-buckets: the prefixes hold in every \
                     bucket the credentials reach, and a request may name any of them"
                );
            }
            let listen = args.listen.unwrap_or_else(default_listen);
            let mut options = cli.runtime_options(&args.outgoing);
            options.config = args
                .store
                .config_values()
                .with(args.access.config_values(listen)?);
            options.limits = args.limits.limits();
            // One slot per request allowed at once.
            options.pooling = args
                .pooling
                .then(|| u32::try_from(args.max_concurrent).unwrap_or(u32::MAX));
            let serve = crate::serve::ServeOptions {
                max_concurrent: args.max_concurrent,
                shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace),
                ui: args.ui,
                local_only: args.access.open_on_loopback(),
            };
            crate::serve::run(Runtime::new(options)?, listen, serve).await
        }
        Command::Pack(args) => {
            let store = args.store.store_config()?;
            let runtime = Runtime::new(RuntimeOptions {
                config: args.store.config_values(),
                limits: args.limits.limits(),
                ..cli.runtime_options(&args.outgoing)
            })?;
            let request = args.request();
            // Bars only on a terminal: piped, stderr stays as quiet as stdout stays clean.
            let bars = crate::bars::PackBars::on_terminal();
            // Run on a worker, not on the main thread: the pack's wasm then waits for its
            // I/O where the I/O's tasks run, and a wake-up need not cross threads (14 %
            // less CPU per GiB, 7–22 % per small object: BENCHMARKS.md; `serve` runs each
            // request on a worker anyway). With one worker (`--threads`' default here)
            // none does. Only the pack: the other commands block in
            // places (the bench waits for its children), which on a worker can strand
            // another task queued behind it.
            let output = args.output.clone();
            let packed = tokio::spawn(async move {
                let output = output.as_deref();
                crate::pack::pack_and_fetch_showing(
                    &runtime,
                    &store,
                    &request,
                    output,
                    bars.as_ref(),
                )
                .await
            })
            .await??;
            println!("{}", crate::pack::summary_json(&packed.summary));
            if let Some((path, size)) = packed.downloaded {
                eprintln!("downloaded {size} bytes to {}", path.display());
            }
            Ok(())
        }
        Command::Store(args) => {
            let (addr, handle) = crate::embedded_store::start_delayed(
                &args.root,
                args.listen,
                &args.access_key_id,
                &args.access_key_secret,
                std::time::Duration::from_millis(args.delay_ms),
            )
            .await?;
            tracing::info!(
                "S3 store on http://{addr} over {} (path-style)",
                args.root.display()
            );
            crate::serve::shutdown_signal().await;
            handle.shutdown().await;
            Ok(())
        }
        Command::Demo(args) => {
            let ui = args.ui.then_some(args.listen);
            crate::demo::run(&args.dir, cli.runtime_options(&args.outgoing), ui).await
        }
        Command::Bench(args) => {
            crate::bench::run(args.dir.as_deref(), &args.scenario, args.split_cores).await
        }
        Command::Sign(args) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            println!("{}", args.link(now)?);
            Ok(())
        }
    }
}

/// 127.0.0.1:8080, or inside Function Compute all interfaces on its custom-container port:
/// `FC_CUSTOM_LISTEN_PORT`, else `FC_SERVER_PORT`, else 9000.
fn default_listen() -> SocketAddr {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let fc_port = ["FC_CUSTOM_LISTEN_PORT", "FC_SERVER_PORT"]
        .iter()
        .find_map(|v| var(v)?.parse::<u16>().ok());
    let in_fc =
        fc_port.is_some() || var("FC_FUNCTION_NAME").is_some() || var("FC_REGION").is_some();
    if in_fc {
        SocketAddr::from(([0, 0, 0, 0], fc_port.unwrap_or(9000)))
    } else {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
}
