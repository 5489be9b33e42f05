//! The OSS-protocol gateway (`tools/oss_gateway.py`) in front of moto: requests must carry
//! OSS V4 signatures, which it checks with the official Aliyun SDK's own signer.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct OssGateway {
    child: Child,
    pub addr: SocketAddr,
}

impl OssGateway {
    /// Starts the gateway for `backend` (moto) accepting `ak`/`sk` (and `token`, if given).
    pub fn start(backend: &str, ak: &str, sk: &str, token: Option<&str>) -> OssGateway {
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
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(t) = token {
            cmd.args(["--security-token", t]);
        }
        let mut child = cmd
            .spawn()
            .expect("python3 tools/oss_gateway.py (scripts/setup installs alibabacloud-oss-v2)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("gateway said {line:?}"));
        OssGateway {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for OssGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
