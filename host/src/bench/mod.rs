//! `zip-oss bench`: the baseline figures in BENCHMARKS.md.
//!
//! The embedded store runs as a child process and is seeded through the S3 API (so it
//! serves stored ETags instead of hashing every object on each read); each pack runs as
//! `zip-oss pack`, a child process of its own, so its peak RSS is the host's alone
//! (its `VmHWM`, and the most anonymous memory seen, sampled every 20 ms while it runs).
//! Scenarios: 57 objects totalling about 1 GiB, and 10,000 objects of 4 KiB (a folder of
//! many small files).
//!
//! `--scenario instantiate` measures what a request costs before any packing: a fresh
//! instance of the component, on demand and from the pooling allocator, and a whole HTTP
//! request that the component refuses without touching a store.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zip_oss_core::store::{Bucket, Credentials, Endpoint, ObjectKey, PutObject, StoreConfig};

use crate::demo::{pseudo_random, ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use null_store::Checksums;

mod capacity;
mod checksums;
mod copy;
mod cores;
mod instantiate;
mod null_store;
mod page_cache;
mod resume;

const BUCKET: &str = "bench";

/// One workload: objects under `prefix`, spread in order over `folders` subfolders of it
/// (0: none).
struct Scenario {
    name: String,
    prefix: &'static str,
    sizes: Vec<usize>,
    folders: usize,
}

impl Scenario {
    /// Its objects' keys and sizes, as `seed` writes them.
    fn objects(&self) -> Vec<(String, u64)> {
        self.sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| (self.key(i), size as u64))
            .collect()
    }

    fn key(&self, i: usize) -> String {
        match self.folders {
            0 => format!("{}{i:05}.bin", self.prefix),
            n => format!("{}f{:03}/{i:05}.bin", self.prefix, i * n / self.sizes.len()),
        }
    }
}

fn scenarios(which: &str) -> anyhow::Result<Vec<Scenario>> {
    // 57 objects averaging 18.8 MB (1 GiB in all), sizes spread ±50% as real folders are.
    let big: Vec<usize> = (0..57)
        .map(|i| (1usize << 30) / 57 / 2 + ((1usize << 30) / 57) * (i % 7) / 6)
        .collect();
    let all = vec![
        Scenario {
            name: "57 objects, ~1 GiB".into(),
            prefix: "big/",
            sizes: big.clone(),
            folders: 0,
        },
        Scenario {
            name: "10,000 objects of 4 KiB".into(),
            prefix: "small/",
            sizes: vec![4096; 10_000],
            folders: 0,
        },
    ];
    Ok(match which {
        "all" => all,
        "big" => all.into_iter().take(1).collect(),
        "small" => all.into_iter().skip(1).collect(),
        // Both, as a store across a network answers: the small objects' reads in flight
        // must hide the latency, and so must the large objects' ranges.
        "latency" => all,
        // Memory must not grow with the archive: 8× the big scenario's bytes.
        "8gib" => vec![Scenario {
            name: "456 objects, ~8 GiB".into(),
            prefix: "huge/",
            sizes: (0..8).flat_map(|_| big.iter().copied()).collect(),
            folders: 0,
        }],
        "copy" => {
            let mut v: Vec<Scenario> = all.into_iter().take(1).collect();
            v.push(Scenario {
                name: "16 objects of 64 MiB".into(),
                prefix: "large/",
                sizes: vec![64 << 20; 16],
                folders: 0,
            });
            // The bound: objects of 32 MiB.
            v.push(Scenario {
                name: "32 objects of 32 MiB".into(),
                prefix: "mid/",
                sizes: vec![32 << 20; 32],
                folders: 0,
            });
            v
        }
        // A tree: 20,000 objects of 1 KiB in 20 folders, listed flat and in ranges.
        "tree" => vec![Scenario {
            name: "20,000 objects of 1 KiB in 20 folders".into(),
            prefix: "tree/",
            sizes: vec![1024; 20_000],
            folders: 20,
        }],
        other => {
            bail!("unknown scenario `{other}` (big, small, all, latency, tree, copy, 8gib, ceiling, ceiling-stored, objects, checksums, resume, instantiate)")
        }
    })
}

pub async fn run(dir: Option<&Path>, which: &str, split_cores: bool) -> anyhow::Result<()> {
    if split_cores
        && matches!(
            which,
            "instantiate" | "ceiling" | "ceiling-stored" | "objects"
        )
    {
        bail!("--split-cores splits the embedded store from the packer; `{which}` runs no store");
    }
    if which == "instantiate" {
        return instantiate::run().await;
    }
    if which == "ceiling" {
        return ceiling().await;
    }
    if which == "ceiling-stored" {
        return ceiling_stored().await;
    }
    if which == "objects" {
        return per_object().await;
    }
    let scenarios = match which {
        "checksums" => Vec::new(),
        "resume" => scenarios("big")?,
        _ => scenarios(which)?,
    };
    let owned_dir = dir.is_none();
    // In memory when the machine has /dev/shm: the store's disk is not what is measured.
    let scratch = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir: PathBuf = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| scratch.join(format!("zip-oss-bench-{}", std::process::id())));
    std::fs::create_dir_all(dir.join(BUCKET))?;
    let exe = std::env::current_exe()?;

    let addr = free_loopback_addr()?;
    // A store across a network answers in milliseconds; loopback in microseconds.
    let delay_ms = if matches!(which, "latency" | "tree") {
        LATENCY_MS
    } else {
        0
    };
    let split = if split_cores {
        let split = cores::Split::new()?;
        split.pin_this_process()?;
        println!("{}\n", split.describe());
        Some(split)
    } else {
        None
    };
    let mut store = start_store(&exe, &dir, addr, delay_ms, split.as_ref())?;
    let result = async {
        wait_for(addr)?;
        let endpoint = format!("http://{addr}");
        if which == "checksums" {
            return checksums::run(&exe, &endpoint).await;
        }
        if which == "resume" {
            seed(&endpoint, &scenarios[0]).await?;
            return resume::run(&exe, &endpoint, &dir, &scenarios[0]);
        }
        if which == "copy" {
            for s in &scenarios {
                seed(&endpoint, s).await?;
                copy::run(&exe, &endpoint, &dir, s)?;
                println!();
            }
            return Ok(());
        }
        if which == "tree" {
            return tree(&exe, &endpoint, &scenarios[0]).await;
        }
        if which == "latency" {
            println!("Every store answer delayed {LATENCY_MS} ms.\n");
        }
        println!("{HEADER}");
        for s in &scenarios {
            seed(&endpoint, s).await?;
            let listing = capacity::listing(&endpoint, s).await?;
            let store_cpu = || cpu_ticks_of(store.id()).unwrap_or(0) as f64 / CLOCK_TICKS_PER_S;
            let (cpu_before, store_before) = (own_cpu_secs(), store_cpu());
            let capacity = capacity::measure(&endpoint, s).await?;
            let capacity_cpu = own_cpu_secs() - cpu_before;
            let store_for_capacity = store_cpu() - store_before;
            let store_before_pack = store_cpu();
            // Every byte carried, as the capacity moves them: copy off.
            let packed = measure(&exe, &endpoint, s, &["--copy", "false"])?;
            let store_for_pack = store_cpu() - store_before_pack;
            println!(
                "| {}: store, listing alone | {} | | | | {listing:.2} | | | | | | | |",
                s.name,
                s.sizes.len()
            );
            println!("{}", capacity_row(s, capacity, capacity_cpu));
            println!("{}", packed.row_against(capacity));
            // As a first pack runs by default: what no checksum tells, the host hashes, and
            // the store copies (`copy.rs`); only heads are carried.
            // (Not at 8 GiB, which is there for flat memory carrying.)
            if which != "8gib" && s.sizes.iter().any(|&n| n >= 10 << 20) {
                let dest = format!("out/{}-copied.zip", s.prefix.trim_end_matches('/'));
                let copied = measure_into(&exe, &endpoint, s, &dest, &[])?;
                let name = format!("{}, hashed by the host and copied", s.name);
                let row = copied.row.replacen(&s.name, &name, 1);
                let copied = Packed { row, ..copied };
                println!("{}", copied.row_against(capacity));
                println!(
                    "<!-- copied by the store: {:.0} MiB, read by the host only to hash: {:.0} MiB -->",
                    copied.mib_copied, copied.mib_hashed
                );
            }
            // The store is a process of its own; sharing CPUs, its work is the packer's
            // competition (the pack's includes its listing, which capacity does not do).
            println!(
                "<!-- the store's CPU s: for capacity {store_for_capacity:.2}, for the pack {store_for_pack:.2} -->"
            );
        }
        anyhow::Ok(())
    }
    .await;
    let _ = store.kill();
    let _ = store.wait();
    if owned_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// A folder of 20 subfolders behind 10 ms answers, packed with its listing flat (pages
/// one after another) and split into key ranges listed at once, alternating, three times.
async fn tree(exe: &Path, endpoint: &str, s: &Scenario) -> anyhow::Result<()> {
    println!("Every store answer delayed {LATENCY_MS} ms.\n");
    seed(endpoint, s).await?;
    println!("{HEADER}");
    for round in 1..=3 {
        for ranges in ["1", "16"] {
            let s = Scenario {
                name: format!("round {round}: {}, --list-ranges {ranges}", s.name),
                prefix: s.prefix,
                sizes: s.sizes.clone(),
                folders: s.folders,
            };
            println!("{}", pack(exe, endpoint, &s, &["--list-ranges", ranges])?);
        }
    }
    Ok(())
}

/// The embedded store as a child process over `dir`, on `addr`.
/// What `--scenario latency` delays each store answer by: in-region OSS or S3 takes
/// ~5–20 ms to a first byte.
const LATENCY_MS: u64 = 10;

fn start_store(
    exe: &Path,
    dir: &Path,
    addr: SocketAddr,
    delay_ms: u64,
    split: Option<&cores::Split>,
) -> anyhow::Result<std::process::Child> {
    let mut command = Command::new(exe);
    if let Some(split) = split {
        split.for_store(&mut command);
    }
    command
        .args(["store", "--root"])
        .arg(dir)
        .args(["--listen", &addr.to_string()])
        .args(["--delay-ms", &delay_ms.to_string()])
        .env("ZIP_OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("ZIP_OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the store")
}

const HEADER: &str = "| scenario | objects | MiB read | archive MiB | parts | pack s | MB/s | objects/s | process wall s | host peak RSS MiB | peak anon MiB | host CPU s | × capacity |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// The store's capacity for the scenario ([`capacity`]) as a row of the same table. Its
/// "host CPU s" is what the native clients spent on the same I/O as the pack (the store
/// is a process of its own): the least any packer on this host pays to move those bytes.
fn capacity_row(s: &Scenario, secs: f64, cpu: f64) -> String {
    let bytes: usize = s.sizes.iter().sum();
    let n = s.sizes.len() as f64;
    format!(
        "| {}: store capacity | {n} | {:.0} | | | {secs:.2} | {:.0} | {:.0} | | | | {cpu:.2} | 1 |",
        s.name,
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / 1e6 / secs,
        n / secs,
    )
}

/// Only the ceiling's stored row, three times: the packer's CPU per GiB it carries, quick
/// enough to run once per component compared (`ZIP_OSS_COMPONENT=<other.wasm>` runs
/// another build's component). After each pack, native clients move the same bytes
/// through the same store ([`native_clients`]): the part of the figure any client pays.
async fn ceiling_stored() -> anyhow::Result<()> {
    let big = scenarios("big")?.remove(0);
    let exe = std::env::current_exe()?;
    let store =
        null_store::start(big.objects(), pseudo_random(4 << 20), None, Checksums::None).await?;
    let endpoint = store.handle.endpoint();
    println!("{HEADER}");
    for round in 1..=3 {
        let s = Scenario {
            name: format!("round {round}: null store, random bytes, stored"),
            ..scenarios("big")?.remove(0)
        };
        println!(
            "{}",
            // The null store copies nothing: every byte is carried.
            pack(
                &exe,
                &endpoint,
                &s,
                &["--compression", "stored", "--copy", "false"]
            )?
        );
        let (secs, cpu) = native_clients(&endpoint)?;
        let mib = big.sizes.iter().sum::<usize>() as f64 / (1 << 20) as f64;
        println!(
            "| round {round}: null store, native clients doing the same I/O | {} | {mib:.0} | | | {secs:.2} | {:.0} | | | | | {cpu:.2} | — |",
            big.sizes.len(),
            mib * (1 << 20) as f64 / 1e6 / secs,
        );
    }
    store.handle.shutdown().await;
    Ok(())
}

/// What native clients pay to move the ceiling's bytes through the same null store: the
/// capacity's reads and upload ([`capacity::measure`]) on a thread of their own, whose CPU
/// time (`getrusage(RUSAGE_THREAD)`, user and system) is theirs alone while the store
/// runs on the bench's other threads. The floor under the packer's figure: the socket
/// work and HTTP of the same bytes, nothing packed. Seconds taken, and CPU seconds.
fn native_clients(endpoint: &str) -> anyhow::Result<(f64, f64)> {
    let endpoint = endpoint.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let s = scenarios("big")?.remove(0);
        let (started, cpu_before) = (Instant::now(), thread_cpu_secs());
        runtime.block_on(capacity::measure(&endpoint, &s))?;
        let secs = started.elapsed().as_secs_f64();
        // The runtime's connections are closed first: their teardown is the clients' too.
        drop(runtime);
        Ok((secs, thread_cpu_secs() - cpu_before))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the native clients' thread panicked"))?
}

/// The calling thread's CPU time so far, user and system.
fn thread_cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// What a pack holds per object: folders of 10,000 and 100,000 objects of 1 KiB against
/// the null store (nothing else differs), so the difference in peak memory is the
/// listing, the plan, the reads' bookkeeping and the central directory of 90,000 objects.
async fn per_object() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    println!("{HEADER}");
    let mut peaks = Vec::new();
    for n in [10_000, 100_000] {
        let s = Scenario {
            name: format!("null store, {n} objects of 1 KiB, stored"),
            prefix: "many/",
            sizes: vec![1024; n],
            folders: 0,
        };
        let store =
            null_store::start(s.objects(), pseudo_random(1 << 20), None, Checksums::None).await?;
        let packed = measure(
            &exe,
            &store.handle.endpoint(),
            &s,
            &["--compression", "stored"],
        )?;
        println!("{}", packed.row);
        peaks.push((n, packed.rss_mib, packed.anon_mib));
        store.handle.shutdown().await;
    }
    let ((n0, rss0, anon0), (n1, rss1, anon1)) = (peaks[0], peaks[1]);
    let per = |a: f64, b: f64| (b - a) * (1 << 20) as f64 / (n1 - n0) as f64;
    println!(
        "\nPer object: {:.0} bytes of peak RSS, {:.0} of peak anonymous memory.",
        per(rss0, rss1),
        per(anon0, anon1)
    );
    Ok(())
}

/// The packer's own limit: the 1 GiB scenario against a store that costs nothing
/// ([`null_store`]), stored, deflated and `auto`, on random bytes (incompressible) and on
/// text-like bytes. "host CPU s" is what the pack costs in compute.
async fn ceiling() -> anyhow::Result<()> {
    let objects = scenarios("big")?.remove(0).objects();
    let exe = std::env::current_exe()?;
    println!("{HEADER}");
    type Run = (&'static str, &'static [&'static str]);
    let deflate_6: Run = ("deflate (level 6)", &["--compression", "deflate"]);
    let deflate_1: Run = (
        "deflate level 1",
        &["--compression", "deflate", "--compression-level", "1"],
    );
    let data_kinds: [(&str, Vec<u8>, Vec<Run>); 2] = [
        (
            "random",
            pseudo_random(4 << 20),
            vec![
                ("stored", &["--compression", "stored"]),
                deflate_6,
                ("auto", &["--compression", "auto"]),
            ],
        ),
        ("text-like", text_like(4 << 20), vec![deflate_6, deflate_1]),
    ];
    for (kind, data, runs) in data_kinds {
        let store = null_store::start(objects.clone(), data, None, Checksums::None).await?;
        let endpoint = store.handle.endpoint();
        for (compression, args) in runs {
            let s = Scenario {
                name: format!("null store, {kind} bytes, {compression}"),
                ..scenarios("big")?.remove(0)
            };
            let before = store.uploaded.load(std::sync::atomic::Ordering::Relaxed);
            let args: Vec<&str> = args.iter().copied().chain(["--copy", "false"]).collect();
            let row = pack(&exe, &endpoint, &s, &args)?;
            let sent = store.uploaded.load(std::sync::atomic::Ordering::Relaxed) - before;
            println!(
                "{row} <!-- parts received: {:.0} MiB -->",
                sent as f64 / (1u64 << 20) as f64
            );
        }
        store.handle.shutdown().await;
    }

    // A store that serves each connection at 25 MB/s, as real stores pace one stream:
    // one stream per large object against four ranges at once.
    let store = null_store::start(
        objects.clone(),
        pseudo_random(4 << 20),
        Some(25_000_000),
        Checksums::None,
    )
    .await?;
    let endpoint = store.handle.endpoint();
    for ranges in ["1", "4"] {
        let s = Scenario {
            name: format!("null store at 25 MB/s a connection, stored, read-ranges {ranges}"),
            ..scenarios("big")?.remove(0)
        };
        let row = pack(
            &exe,
            &endpoint,
            &s,
            &["--read-ranges", ranges, "--copy", "false"],
        )?;
        println!("{row}");
    }
    store.handle.shutdown().await;
    Ok(())
}

/// CPU seconds this process has used (user and system; not its children's).
fn own_cpu_secs() -> f64 {
    cpu_ticks_of(std::process::id()).unwrap_or(0) as f64 / CLOCK_TICKS_PER_S
}

/// Words and lines, as logs and CSVs are: deflate shrinks it about fourfold.
fn text_like(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "GET",
        "POST",
        "/api/v1/orders",
        "/static/app.js",
        "200",
        "304",
        "404",
        "user",
        "id",
        "2026-11-28T02:14:10Z",
        "INFO",
        "WARN",
        "request",
        "completed",
        "in",
        "ms",
        "bytes",
        "cn-shanghai",
        "bucket",
        "object",
        "download",
        "zip",
        "42",
        "1337",
        "true",
        "false",
    ];
    let noise = pseudo_random(len);
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0;
    while out.len() < len {
        let word = WORDS[noise[i % noise.len()] as usize % WORDS.len()];
        out.extend_from_slice(word.as_bytes());
        out.push(if noise[(i + 1) % noise.len()].is_multiple_of(12) {
            b'\n'
        } else {
            b' '
        });
        i += 2;
    }
    out.truncate(len);
    out
}

fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn wait_for(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("the store did not start on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The embedded store at `endpoint`, path-style, with the demo credentials.
fn store_config(endpoint: &str) -> anyhow::Result<StoreConfig> {
    let mut cfg = StoreConfig::new(
        Endpoint::parse(endpoint)?,
        "us-east-1",
        Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
    );
    cfg.path_style = true;
    Ok(cfg)
}

/// PUTs the scenario's objects, 16 at a time.
async fn seed(endpoint: &str, s: &Scenario) -> anyhow::Result<()> {
    let cfg = store_config(endpoint)?;
    let client: capacity::Http = Client::builder(TokioExecutor::new()).build_http();
    let bucket = Bucket::new(BUCKET)?;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, &size) in s.sizes.iter().enumerate() {
        if tasks.len() >= 16 {
            tasks.join_next().await.expect("non-empty")??;
        }
        let (cfg, client, bucket) = (cfg.clone(), client.clone(), bucket.clone());
        let key = ObjectKey::new(s.key(i))?;
        tasks.spawn(async move {
            let data = Bytes::from(pseudo_random(size));
            let req = PutObject::new(&bucket, &key, size as u64).sign(&cfg, now_unix());
            capacity::send(&client, req, data).await?;
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

/// One pack's figures: its table row, and the two the checksum costs are computed from.
struct Packed {
    row: String,
    cpu_s: f64,
    /// Peak RSS and peak anonymous memory, MiB.
    rss_mib: f64,
    anon_mib: f64,
    mib_read: f64,
    /// Object MiB the store copied into the archive (never passed through the packer).
    mib_copied: f64,
    /// Object MiB the host read only to hash them for a copy.
    mib_hashed: f64,
    /// The pack's own duration (its summary's `duration_ms`).
    secs: f64,
    parts: u64,
    resumed_parts: u64,
}

/// Runs `zip-oss pack` for the scenario; returns its table row (no capacity measured).
fn pack(exe: &Path, endpoint: &str, s: &Scenario, extra: &[&str]) -> anyhow::Result<String> {
    Ok(measure(exe, endpoint, s, extra)?.row)
}

impl Packed {
    /// The row, with the pack's speed as a ratio to the store's capacity (its time over
    /// the pack's: 1 is as fast as the store allows).
    fn row_against(&self, capacity_secs: f64) -> String {
        let bare = self.row.strip_suffix(" — |").unwrap_or(&self.row);
        format!("{bare} {:.2} |", capacity_secs / self.secs)
    }
}

/// Runs `zip-oss pack` for the scenario into `out/<prefix>.zip` and measures it.
fn measure(exe: &Path, endpoint: &str, s: &Scenario, extra: &[&str]) -> anyhow::Result<Packed> {
    let dest = format!("out/{}.zip", s.prefix.trim_end_matches('/'));
    measure_into(exe, endpoint, s, &dest, extra)
}

/// `zip-oss pack` of the scenario's objects into `dest`, not yet started.
fn pack_command(exe: &Path, endpoint: &str, s: &Scenario, dest: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["pack", "--bucket", BUCKET, "--source-dir", s.prefix])
        .args(["--dest-file", dest])
        .args([
            "--endpoint",
            endpoint,
            "--path-style",
            "--access-key-id",
            ACCESS_KEY_ID,
        ])
        .env("ZIP_OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        // s3s-fs answers CompleteMultipartUpload only once it has copied the parts into
        // the object: over a minute for 8 GiB on a busy disk, which the default timeout
        // took for a lost answer. S3 answers at once and sends whitespace while it works.
        .env("ZIP_OSS_STORE_TIMEOUT", "600");
    cmd
}

/// Runs `zip-oss pack` for the scenario into `dest` and measures it.
fn measure_into(
    exe: &Path,
    endpoint: &str,
    s: &Scenario,
    dest: &str,
    extra: &[&str],
) -> anyhow::Result<Packed> {
    page_cache::evict_pack_files(exe, crate::compiled_cache::default_dir().as_deref());
    let started = Instant::now();
    let mut child = pack_command(exe, endpoint, s, dest)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting zip-oss pack")?;
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).map(|_| out)
    });
    let mut max_rss_kib = 0;
    let mut max_anon_kib = 0;
    let mut cpu_ticks = 0;
    while let Some((hwm, anon)) = rss_kib(pid) {
        max_rss_kib = max_rss_kib.max(hwm);
        max_anon_kib = max_anon_kib.max(anon);
        cpu_ticks = cpu_ticks.max(cpu_ticks_of(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
        if child.try_wait()?.is_some() {
            break;
        }
    }
    let status = child.wait()?;
    let out = reader.join().expect("reader thread")?;
    if !status.success() {
        bail!("zip-oss pack failed ({status}) for {}", s.name);
    }
    let wall = started.elapsed().as_secs_f64();
    let summary: serde_json::Value =
        serde_json::from_str(&out).context("reading the pack summary")?;
    let secs = summary["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let read = summary["bytes_read"].as_f64().unwrap_or(0.0);
    let entries = summary["entries"].as_f64().unwrap_or(0.0);
    const MIB: f64 = (1 << 20) as f64;
    let cpu_s = cpu_ticks as f64 / CLOCK_TICKS_PER_S;
    let (rss_mib, anon_mib) = (max_rss_kib as f64 / 1024.0, max_anon_kib as f64 / 1024.0);
    let row = format!(
        "| {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} |",
        s.name,
        entries,
        read / MIB,
        summary["archive_bytes"].as_f64().unwrap_or(0.0) / MIB,
        summary["parts"],
        secs,
        read / 1e6 / secs,
        entries / secs,
        wall,
        rss_mib,
        anon_mib,
        cpu_s,
    ) + " — |";
    Ok(Packed {
        row,
        cpu_s,
        rss_mib,
        anon_mib,
        mib_read: read / MIB,
        mib_copied: summary["copied_bytes"].as_f64().unwrap_or(0.0) / MIB,
        mib_hashed: summary["hashed_bytes"].as_f64().unwrap_or(0.0) / MIB,
        secs,
        parts: summary["parts"].as_u64().unwrap_or(0),
        resumed_parts: summary["resumed_parts"].as_u64().unwrap_or(0),
    })
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times; 100 on every Linux we run on.
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// A process's user + system CPU time so far, in clock ticks (sampled like the RSS, so
/// the last 20 ms may be missed).
fn cpu_ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's peak RSS so far (`VmHWM`) and its anonymous memory now (`RssAnon`), while
/// it runs. (Not `wait4`'s `ru_maxrss`: a child spawned with vfork-style `posix_spawn`
/// inherits its parent's high-water mark.) The RSS also counts the pages of the binary
/// and the compiled component the kernel maps in (a build just made: ~5 MiB more than
/// once its files have left the page cache, `page_cache.rs`); the anonymous memory is
/// what the pack allocated.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    // `RssAnon` is missing before Linux 4.5: the RSS is still worth sampling.
    Some((field("VmHWM:")?, field("RssAnon:").unwrap_or(0)))
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
