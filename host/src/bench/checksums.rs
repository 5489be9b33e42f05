//! `zip-oss bench --scenario checksums`: what the integrity checks cost (issue 11).
//!
//! The component's CPU per GiB for each check is the difference between a pack with the
//! checks on and the same pack with them off (`--checksums false`), in one run,
//! interleaved: on the 1 GiB scenario against the embedded store (which keeps CRC-64/NVME
//! as S3 does), and at the packer's ceiling against null stores stating each algorithm
//! S3 offers (reads verified with it, parts and the archive with CRC-64/NVME) and OSS's
//! CRC-64/ECMA. "host CPU s" is the `zip-oss pack` process alone: the store's own
//! hashing runs elsewhere. A native table of each hash's speed (MD5 included, which
//! zip-oss does not use) shows how the algorithms compare outside wasm.

use std::path::Path;
use std::time::Instant;

use md5::Digest as _;
use zip_oss_core::store::checksum::{Algorithm, Hasher};

use super::null_store::{self, Checksums};
use super::{measure, scenarios, seed, Scenario, HEADER};
use crate::demo::pseudo_random;

/// Rounds of the interleaved sequence: the machines are noisy, pairs taken back to back
/// are what compare.
const ROUNDS: usize = 2;

const OFF: &[&str] = &["--checksums", "false"];
const OSS: &[&str] = &["--provider", "oss"];
const OSS_OFF: &[&str] = &["--provider", "oss", "--checksums", "false"];

/// Every pack here reads every byte: with copying on, objects whose CRC-32 the store
/// states (the CRC-32 rows) would be copied by it instead, and the row would not
/// measure the check.
fn measure_reading(
    exe: &Path,
    endpoint: &str,
    s: &Scenario,
    flags: &[&str],
) -> anyhow::Result<super::Packed> {
    let all: Vec<&str> = flags.iter().copied().chain(["--copy", "false"]).collect();
    measure(exe, endpoint, s, &all)
}

pub(super) async fn run(exe: &Path, embedded: &str) -> anyhow::Result<()> {
    let big = scenarios("big")?.remove(0);
    seed(embedded, &big).await?;
    let objects = big.objects();
    // (name, what the store states, flags, the unchecked run it is compared with)
    let null_runs: [(&str, Checksums, &[&str], &str); 8] = [
        ("S3, checks off", Checksums::None, OFF, ""),
        (
            "S3, CRC-64/NVME",
            Checksums::S3(Algorithm::Crc64Nvme),
            &[],
            "S3, checks off",
        ),
        (
            "S3, reads CRC-32C",
            Checksums::S3(Algorithm::Crc32c),
            &[],
            "S3, checks off",
        ),
        (
            "S3, reads CRC-32",
            Checksums::S3(Algorithm::Crc32),
            &[],
            "S3, checks off",
        ),
        (
            "S3, reads SHA-1",
            Checksums::S3(Algorithm::Sha1),
            &[],
            "S3, checks off",
        ),
        (
            "S3, reads SHA-256",
            Checksums::S3(Algorithm::Sha256),
            &[],
            "S3, checks off",
        ),
        ("OSS, checks off", Checksums::Oss, OSS_OFF, ""),
        ("OSS, CRC-64/ECMA", Checksums::Oss, OSS, "OSS, checks off"),
    ];
    let data = pseudo_random(4 << 20);
    let mut stores = Vec::new();
    for (_, checksums, _, _) in &null_runs {
        stores.push(null_store::start(objects.clone(), data.clone(), None, *checksums).await?);
    }

    // Once unrecorded: the first pack after a build compiles the component.
    let warm_up = Scenario {
        name: "warm-up".into(),
        ..scenarios("big")?.remove(0)
    };
    measure(exe, &stores[0].handle.endpoint(), &warm_up, OFF)?;

    println!("{HEADER}");
    // name → (CPU s, MiB read) of each round
    let mut cpu: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut record =
        |name: String, cpu_s: f64, mib: f64| match cpu.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push((cpu_s, mib)),
            None => cpu.push((name, vec![(cpu_s, mib)])),
        };
    for round in 1..=ROUNDS {
        let embedded_runs: [(&str, &[&str]); 2] = [
            ("embedded store, checks off", OFF),
            ("embedded store, CRC-64/NVME", &[]),
        ];
        for (name, flags) in embedded_runs {
            let s = Scenario {
                name: format!("round {round}: 1 GiB, {name}"),
                ..scenarios("big")?.remove(0)
            };
            let p = measure_reading(exe, embedded, &s, flags)?;
            println!("{}", p.row);
            record(name.to_string(), p.cpu_s, p.mib_read);
        }
        for ((name, _, flags, _), store) in null_runs.iter().zip(&stores) {
            let s = Scenario {
                name: format!("round {round}: null store, {name}"),
                ..scenarios("big")?.remove(0)
            };
            let p = measure_reading(exe, &store.handle.endpoint(), &s, flags)?;
            println!("{}", p.row);
            record(name.to_string(), p.cpu_s, p.mib_read);
        }
    }
    for store in stores {
        store.handle.shutdown().await;
    }

    println!();
    println!("| checks | compared with | CPU s per GiB read, each round | mean |");
    println!("|---|---|---:|---:|");
    let pairs = std::iter::once(("embedded store, CRC-64/NVME", "embedded store, checks off"))
        .chain(
            null_runs
                .iter()
                .filter(|(_, _, _, off)| !off.is_empty())
                .map(|(name, _, _, off)| (*name, *off)),
        );
    let of = |name: &str| &cpu.iter().find(|(n, _)| n == name).expect("measured").1;
    for (on, off) in pairs {
        let per_round: Vec<f64> = of(on)
            .iter()
            .zip(of(off))
            .map(|((c_on, mib), (c_off, _))| (c_on - c_off) / (mib / 1024.0))
            .collect();
        let mean = per_round.iter().sum::<f64>() / per_round.len() as f64;
        let rounds: Vec<String> = per_round.iter().map(|c| format!("{c:+.2}")).collect();
        println!("| {on} | {off} | {} | {mean:+.2} |", rounds.join(", "));
    }

    println!();
    native_hashes();
    Ok(())
}

/// Each hash over 256 MiB natively (this machine's CPU, SIMD where the crate has it).
fn native_hashes() {
    let data = pseudo_random(256 << 20);
    println!("| hash (native, not in wasm) | GiB/s |");
    println!("|---|---:|");
    let time = |f: &dyn Fn()| {
        let started = Instant::now();
        f();
        0.25 / started.elapsed().as_secs_f64()
    };
    for algorithm in [
        Algorithm::Crc64Nvme,
        Algorithm::Crc64Ecma,
        Algorithm::Crc32c,
        Algorithm::Crc32,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ] {
        let rate = time(&|| {
            let mut h = Hasher::new(algorithm);
            h.update(&data);
            std::hint::black_box(h.finish());
        });
        println!("| {} | {rate:.2} |", algorithm.name());
    }
    let rate = time(&|| {
        std::hint::black_box(md5::Md5::digest(&data));
    });
    println!("| md5 (Content-MD5) | {rate:.2} |");
}
