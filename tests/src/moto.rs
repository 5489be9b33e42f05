//! moto's S3 server (`python3 -m moto.server`) on loopback: a second, independent S3
//! implementation, used where s3s-fs cannot represent something (folder-marker keys).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zip_oss_core::store::{Bucket, Credentials, Endpoint, ObjectKey, PutObject, StoreConfig};

pub struct Moto {
    child: Child,
    pub addr: SocketAddr,
}

impl Moto {
    /// Starts moto on a port the system picks (`-p 0`; it prints which), so tests running
    /// at once never race for one.
    pub fn start() -> Moto {
        Self::start_with_min_part(None)
    }

    /// As [`Moto::start`], with the smallest part (all but the last) OSS takes: 100 KB.
    pub fn start_for_oss() -> Moto {
        Self::start_with_min_part(Some(102_400))
    }

    fn start_with_min_part(min_part: Option<u64>) -> Moto {
        let mut command = Command::new("python3");
        if let Some(n) = min_part {
            command.env("S3_UPLOAD_PART_MIN_SIZE", n.to_string());
        }
        let mut child = command
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 -m moto.server (scripts/setup installs moto[server])");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut port = None;
        let mut line = String::new();
        while port.is_none() {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("moto exited before listening");
            }
            port = line
                .split("Running on http://127.0.0.1:")
                .nth(1)
                .and_then(|p| p.trim().parse::<u16>().ok());
        }
        // Keep draining its log so moto never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let addr: SocketAddr = format!("127.0.0.1:{}", port.unwrap()).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, addr }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> StoreConfig {
        let mut cfg = StoreConfig::new(
            Endpoint::parse(&self.endpoint()).unwrap(),
            "us-east-1",
            Credentials::new("AK", "SK"),
        );
        cfg.path_style = true;
        cfg
    }

    pub fn create_bucket(&self, bucket: &str) {
        let r = ureq::put(&format!("{}/{bucket}", self.endpoint())).call();
        assert!(r.is_ok(), "create bucket: {r:?}");
    }

    /// PUTs an object through the S3 API (signed with our signer). Written on a raw socket,
    /// because HTTP clients that parse URLs would resolve the `..` of hostile keys.
    pub fn put(&self, bucket: &str, key: &str, data: &[u8]) {
        let (b, k) = (Bucket::new(bucket).unwrap(), ObjectKey::new(key).unwrap());
        let req = PutObject::new(&b, &k, data.len() as u64).sign(&self.config(), crate::now());
        let path = &req.url[req.url.find("://").map(|i| i + 3).unwrap()..];
        let path = &path[path.find('/').unwrap()..];
        let mut head = format!(
            "PUT {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.addr
        );
        for (n, v) in &req.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut tcp = TcpStream::connect(self.addr).unwrap();
        tcp.write_all(head.as_bytes()).unwrap();
        tcp.write_all(data).unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "put {key:?}: {}",
            answer.lines().next().unwrap_or("")
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
