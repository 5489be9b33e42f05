//! The test bench: the embedded S3 store (s3s-fs, signatures checked) on loopback, a
//! fault-injecting proxy in front of it, our wasmtime host serving the component, and the
//! five zip readers (`readers.rs`) that judge the archives.

pub mod crc;
pub mod fault_proxy;
pub mod moto;
pub mod oss_gateway;
pub mod readers;
pub mod served;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fault_proxy::FaultProxy;
use zip_oss::demo::{ACCESS_KEY_ID, ACCESS_KEY_SECRET};
use zip_oss::embedded_store::{self, StoreHandle};
use zip_oss::limits::InstanceLimits;
use zip_oss::outgoing::OutgoingOptions;
use zip_oss::serve::ServerHandle;
use zip_oss::settings::AccessSettings;
use zip_oss::{Runtime, RuntimeOptions, StoreSettings};
use zip_oss_core::store::checksum::{self, Algorithm, Checksum};
use zip_oss_core::store::{
    Bucket, Credentials, Endpoint, HttpRequest, ListMultipartUploads, ObjectKey, PutObject,
    StoreConfig,
};

pub const BUCKET: &str = "bkt";

/// One isolated world per test: its own store folder, proxy, runtime and server.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub store: StoreHandle,
    pub proxy: FaultProxy,
    pub runtime: Runtime,
    pub server: Option<ServerHandle>,
    pub server_addr: std::net::SocketAddr,
    /// What the component is configured with (pointing at the proxy).
    pub settings: StoreSettings,
    /// Who may pack what; by default open, as `serve` is on loopback, writing under `output/`.
    pub access: AccessSettings,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// The store, the proxy, and the server configured with the right credentials.
    pub fn new() -> Env {
        Self::with_secret(ACCESS_KEY_SECRET)
    }

    /// As [`Env::new`], but the component signs with `secret`.
    pub fn with_secret(secret: &str) -> Env {
        Self::build(
            secret,
            tempfile::tempdir().unwrap(),
            |_| {},
            |_| {},
            Default::default(),
            Default::default(),
        )
    }

    /// As [`Env::new`], with who may pack what adjusted (keys, tokens, prefixes).
    pub fn with_access(adjust: impl FnOnce(&mut AccessSettings)) -> Env {
        Self::build(
            ACCESS_KEY_SECRET,
            tempfile::tempdir().unwrap(),
            |_| {},
            adjust,
            Default::default(),
            Default::default(),
        )
    }

    /// As [`Env::new`], with archives written under `prefixes` instead of `output/`.
    pub fn with_dest_prefixes(prefixes: &[&str]) -> Env {
        Self::with_access(|a| a.dest_prefix = prefixes.iter().map(|p| p.to_string()).collect())
    }

    /// As [`Env::new`], with the component's settings adjusted (limits, say).
    pub fn with_settings(adjust: impl FnOnce(&mut StoreSettings)) -> Env {
        Self::with_settings_and_outgoing(adjust, OutgoingOptions::default())
    }

    /// As [`Env::with_settings`], under a host that behaves as a plain wasi:http host
    /// ([`OutgoingOptions::plain`]): how the component fares under Spin, say.
    pub fn plain_host_with_settings(adjust: impl FnOnce(&mut StoreSettings)) -> Env {
        let plain = OutgoingOptions {
            plain: true,
            ..OutgoingOptions::default()
        };
        Self::with_settings_and_outgoing(adjust, plain)
    }

    fn with_settings_and_outgoing(
        adjust: impl FnOnce(&mut StoreSettings),
        outgoing: OutgoingOptions,
    ) -> Env {
        Self::build(
            ACCESS_KEY_SECRET,
            tempfile::tempdir().unwrap(),
            adjust,
            |_| {},
            Default::default(),
            outgoing,
        )
    }

    /// As [`Env::new`], with every instance (server request or `pack` call) under `limits`.
    pub fn with_limits(limits: InstanceLimits) -> Env {
        Self::build(
            ACCESS_KEY_SECRET,
            tempfile::tempdir().unwrap(),
            |_| {},
            |_| {},
            limits,
            Default::default(),
        )
    }

    /// As [`Env::with_limits`], with who may pack what adjusted too.
    pub fn with_limits_and_access(
        limits: InstanceLimits,
        adjust: impl FnOnce(&mut AccessSettings),
    ) -> Env {
        Self::build(
            ACCESS_KEY_SECRET,
            tempfile::tempdir().unwrap(),
            |_| {},
            adjust,
            limits,
            Default::default(),
        )
    }

    /// As [`Env::new`], with the store's folder in memory (`/dev/shm`) when the machine has
    /// one: for the multi-gigabyte archives, which would otherwise be written to disk twice.
    pub fn in_memory() -> Env {
        Self::in_memory_with_settings(|_| {})
    }

    /// As [`Env::in_memory`], with the component's settings adjusted.
    pub fn in_memory_with_settings(adjust: impl FnOnce(&mut StoreSettings)) -> Env {
        let dir = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        };
        Self::build(
            ACCESS_KEY_SECRET,
            dir.unwrap(),
            adjust,
            |_| {},
            Default::default(),
            Default::default(),
        )
    }

    fn build(
        secret: &str,
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut StoreSettings),
        adjust_access: impl FnOnce(&mut AccessSettings),
        limits: InstanceLimits,
        outgoing: OutgoingOptions,
    ) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let mut access = AccessSettings::default();
        adjust_access(&mut access);
        let (store, proxy, runtime, server, server_addr, settings) = rt.block_on(async {
            let loopback = "127.0.0.1:0".parse().unwrap();
            let (store_addr, store) =
                embedded_store::start(&root, loopback, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
                    .await
                    .unwrap();
            let proxy = FaultProxy::start(store_addr).await.unwrap();
            let mut settings = StoreSettings::s3_path_style(
                format!("http://{}", proxy.addr),
                ACCESS_KEY_ID,
                secret,
            );
            adjust(&mut settings);
            let runtime = Runtime::new(RuntimeOptions {
                config: settings
                    .config_values()
                    .with(access.config_values(loopback).unwrap()),
                limits,
                outgoing,
                ..RuntimeOptions::default()
            })
            .unwrap();
            let (server_addr, server) = zip_oss::serve::start(runtime.clone(), loopback)
                .await
                .unwrap();
            (store, proxy, runtime, server, server_addr, settings)
        });
        Env {
            dir,
            rt,
            store,
            proxy,
            runtime,
            server: Some(server),
            server_addr,
            settings,
            access,
        }
    }

    /// The store's folder; `<root>/<bucket>/<key>` is an object.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Writes objects straight into the store's folder; returns their paths by key.
    pub fn put_files(&self, files: &[(String, Vec<u8>)]) -> BTreeMap<String, PathBuf> {
        let mut paths = BTreeMap::new();
        for (key, data) in files {
            let path = self.root().join(BUCKET).join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
            paths.insert(key.clone(), path);
        }
        paths
    }

    /// Uploads objects through the store's S3 API (PutObject, straight to the store), so the
    /// store keeps a checksum of each as S3 does (CRC-64/NVME by default); returns the
    /// objects' files by key, as [`Env::put_files`] does.
    pub fn put_objects(&self, files: &[(String, Vec<u8>)]) -> BTreeMap<String, PathBuf> {
        self.put_objects_checked(files, None)
    }

    /// [`Env::put_objects`] stating each object's checksum in `algorithm` (a CRC), which
    /// the store checks and keeps instead of its default, as an SDK's upload does.
    pub fn put_objects_checked(
        &self,
        files: &[(String, Vec<u8>)],
        algorithm: Option<Algorithm>,
    ) -> BTreeMap<String, PathBuf> {
        let bucket = Bucket::new(BUCKET).unwrap();
        let mut paths = BTreeMap::new();
        for (key, data) in files {
            let object = ObjectKey::new(key).unwrap();
            let stated = algorithm.map(|a| Checksum::crc(a, checksum::crc(a, data)));
            let mut put = PutObject::new(&bucket, &object, data.len() as u64);
            if let Some(c) = &stated {
                put = put.checksum(c);
            }
            let req = put.sign(&self.direct_config(), now());
            let mut r = ureq::request(req.method, &req.url);
            for (k, v) in &req.headers {
                r = r.set(k, v);
            }
            let a = answer(r.send_bytes(data));
            assert_eq!(a.status, 200, "PutObject {key}: {}", a.text());
            paths.insert(key.clone(), self.root().join(BUCKET).join(key));
        }
        paths
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.server_addr)
    }

    /// POSTs `body` to the server without following redirects.
    pub fn post(&self, body: &str, accept_json: bool) -> Answer {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let mut req = agent.post(&self.url());
        if accept_json {
            req = req.set("accept", "application/json");
        }
        answer(req.send_string(body))
    }

    /// A signed request straight to the store (not through the proxy), with the right credentials.
    pub fn store_request(&self, req: HttpRequest) -> Answer {
        let mut r = ureq::request(req.method, &req.url);
        for (k, v) in &req.headers {
            r = r.set(k, v);
        }
        answer(r.call())
    }

    /// The signing configuration of the store itself (right credentials, no proxy).
    pub fn direct_config(&self) -> StoreConfig {
        let mut cfg = StoreConfig::new(
            Endpoint::parse(&self.store.endpoint()).unwrap(),
            "us-east-1",
            Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
        );
        cfg.path_style = true;
        cfg
    }

    /// Keys of the multipart uploads still open in the bucket (ListMultipartUploads).
    pub fn open_uploads(&self) -> Vec<String> {
        let bucket = Bucket::new(BUCKET).unwrap();
        let req = ListMultipartUploads::new(&bucket).sign(&self.direct_config(), now());
        let a = self.store_request(req);
        assert_eq!(a.status, 200, "ListMultipartUploads: {}", a.text());
        let page = ListMultipartUploads::parse(&a.body).unwrap();
        let keys: Vec<String> = page.uploads.into_iter().map(|u| u.key).collect();
        // s3s-fs's own record of open uploads agrees: one `.upload-<id>.json` per open upload.
        let records = std::fs::read_dir(self.root())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".upload-")
            })
            .count();
        assert_eq!(
            records,
            keys.len(),
            "s3s-fs upload records vs ListMultipartUploads"
        );
        keys
    }

    /// How many `AbortMultipartUpload` requests reached the proxy.
    pub fn aborts_sent(&self) -> usize {
        (self.proxy.log().iter())
            .filter(|l| l.starts_with("DELETE ") && l.contains("uploadId="))
            .count()
    }

    /// Whether `key` exists in the bucket (its file in the store folder).
    pub fn object_exists(&self, key: &str) -> bool {
        self.root().join(BUCKET).join(key).exists()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }
}

/// A plain HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts a JSON error answer of `status` with a message; returns its code.
    pub fn error_code(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let json = self.json();
        let code = json["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {json}"))
            .to_string();
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        code
    }
}

/// Reads a ureq result (error statuses included) into an [`Answer`].
pub fn answer(result: Result<ureq::Response, ureq::Error>) -> Answer {
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| resp.header(&n).map(|v| (n.to_lowercase(), v.to_string())))
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// GETs a URL with a plain client (a presigned link).
pub fn get(url: &str) -> Answer {
    answer(ureq::get(url).call())
}

/// Serves the component on a loopback port with `settings` and no keys or tokens (open,
/// as `serve` is on loopback); returns where, and the handle that stops it.
pub async fn serve_open(settings: &StoreSettings) -> (std::net::SocketAddr, ServerHandle) {
    let loopback = "127.0.0.1:0".parse().unwrap();
    let access = AccessSettings::default().config_values(loopback).unwrap();
    let runtime = Runtime::new(RuntimeOptions {
        config: settings.config_values().with(access),
        ..RuntimeOptions::default()
    })
    .unwrap();
    zip_oss::serve::start(runtime, loopback).await.unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Deterministic incompressible bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Writes `bytes` to a file in `dir` and returns its path.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `target/release/zip-oss`, built beside the test binaries (`cargo test` builds it with the
/// workspace).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("zip-oss");
    assert!(bin.exists(), "{} is not built", bin.display());
    bin
}
