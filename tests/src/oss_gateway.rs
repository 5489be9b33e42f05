//! The OSS-protocol gateway (`tools/oss_gateway.py`) in front of moto: requests must carry
//! OSS V4 signatures, which it checks with the official Aliyun SDK's own signer.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct OssGateway {
    child: Child,
    pub addr: SocketAddr,
    /// What the gateway printed after `ready`: a line per ListObjectsV2 request.
    events: Arc<Mutex<Vec<String>>>,
}

impl OssGateway {
    /// Starts the gateway for `backend` (moto) accepting `ak`/`sk` (and `token`, if given).
    pub fn start(backend: &str, ak: &str, sk: &str, token: Option<&str>) -> OssGateway {
        Self::start_with(backend, ak, sk, token, &[])
    }

    /// As [`OssGateway::start`], with more of the gateway's flags (`--page-size N`).
    pub fn start_with(
        backend: &str,
        ak: &str,
        sk: &str,
        token: Option<&str>,
        extra: &[&str],
    ) -> OssGateway {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/oss_gateway.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--backend",
                backend,
                "--access-key-id",
                ak,
                "--access-key-secret",
                sk,
                "--region",
                "cn-shanghai",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(t) = token {
            cmd.args(["--security-token", t]);
        }
        let mut child = cmd
            .spawn()
            .expect("python3 tools/oss_gateway.py (scripts/setup installs alibabacloud-oss-v2)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("gateway said {line:?}"));
        // Keep reading, so the gateway never blocks on a full pipe and its events are kept.
        let events = Arc::new(Mutex::new(Vec::new()));
        let kept = events.clone();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                match line {
                    Ok(l) => kept.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        });
        OssGateway {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            events,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client's configuration for it: OSS, path-style, keys `ak`/`sk`.
    pub fn config(&self, ak: &str, sk: &str) -> zip_oss_core::store::StoreConfig {
        use zip_oss_core::store::{Credentials, Endpoint, Provider, StoreConfig};
        let mut cfg = StoreConfig::new(
            Endpoint::parse(&self.endpoint()).unwrap(),
            "cn-shanghai",
            Credentials::new(ak, sk),
        );
        cfg.provider = Provider::Oss;
        cfg.path_style = true;
        cfg
    }

    /// The ListObjectsV2 requests answered so far, one `ListObjectsV2 <status>
    /// <first|continued>` line each (the gateway prints a line once its answer is sent).
    pub fn list_requests(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for OssGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
