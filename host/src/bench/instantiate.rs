//! `zip-oss bench --scenario instantiate`: what a request costs before it packs.

use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Instances (and requests) per allocator and round; rounds alternate the allocators so
/// both see the same machine noise.
const INSTANCES_PER_ROUND: usize = 100;
const ROUNDS: usize = 5;

/// Instantiation cost, on demand vs pooled, as a table.
pub async fn run() -> anyhow::Result<()> {
    use crate::engine::{Runtime, RuntimeOptions};
    let allocators = [("on demand", None), ("pooling, 16 slots", Some(16))];
    let mut runtimes = Vec::new();
    for (name, pooling) in allocators {
        let listen = "127.0.0.1:0".parse()?;
        let runtime = Runtime::new(RuntimeOptions {
            pooling,
            // Open, as `serve` on loopback: the refused request is refused for its body.
            config: crate::settings::AccessSettings::default().config_values(listen)?,
            ..RuntimeOptions::default()
        })?;
        let (addr, server) = crate::serve::start(runtime.clone(), listen).await?;
        runtimes.push((name, runtime, addr, server, Vec::new(), Vec::new()));
    }
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for _ in 0..ROUNDS {
        for (_, runtime, addr, _, instances, requests) in runtimes.iter_mut() {
            let pre = runtime.proxy_pre()?;
            for _ in 0..INSTANCES_PER_ROUND {
                let started = Instant::now();
                let bounds = runtime.bounds();
                let mut store = runtime.new_store(&bounds);
                pre.instantiate_async(&mut store).await?;
                drop(store);
                instances.push(started.elapsed());
            }
            for _ in 0..INSTANCES_PER_ROUND {
                let started = Instant::now();
                let req = hyper::Request::post(format!("http://{addr}/"))
                    .body(Full::new(Bytes::from_static(b"not json")))?;
                let resp = client.request(req).await?;
                let status = resp.status();
                http_body_util::BodyExt::collect(resp.into_body()).await?;
                if status != hyper::StatusCode::BAD_REQUEST {
                    bail!("expected 400 for a malformed request, got {status}");
                }
                requests.push(started.elapsed());
            }
        }
    }
    println!(
        "| allocator | instantiate mean µs | p50 µs | p99 µs | refused request p50 µs | p99 µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, _, _, server, mut instances, mut requests) in runtimes {
        server.shutdown().await;
        let mean = instances.iter().sum::<Duration>() / instances.len() as u32;
        let (i50, i99) = percentiles(&mut instances);
        let (r50, r99) = percentiles(&mut requests);
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            mean.as_micros(),
            i50.as_micros(),
            i99.as_micros(),
            r50.as_micros(),
            r99.as_micros()
        );
    }
    Ok(())
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}
