//! A real `redis-server` (the Debian package; `.ci/run` installs it) for the shared-store tests:
//! on a port picked by binding 127.0.0.1:0, with `--requirepass`, no persistence, in its own
//! directory; it can be stopped and started again on the same port. With [`Redis::start_tls`]
//! it speaks TLS only, with a certificate of the test CA for `localhost`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DemoCa, LOCAL_NAMES, TempDir, write};

/// How long a starting `redis-server` may take to answer.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How often a start looks again whether the server answers.
const POLL: Duration = Duration::from_millis(20);

/// One `redis-server` child process, killed on drop.
pub struct Redis {
    pub port: u16,
    pub password: String,
    dir: TempDir,
    child: Option<Child>,
    /// With TLS: how the readiness check trusts the server.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Redis {
    /// Starts a server on a free port, with a random password; returns once it answers PING.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// As [`Redis::start`], TLS only, with a certificate issued by `ca` for [`LOCAL_NAMES`].
    pub fn start_tls(ca: &DemoCa) -> Self {
        Self::start_with(Some(ca))
    }

    fn start_with(ca: Option<&DemoCa>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            password: format!("redis-test-{:032x}", rand::random::<u128>()),
            dir: TempDir::new("redis"),
            child: None,
            tls: ca.map(|ca| Arc::new(ca.client_config(&[]).unwrap())),
        };
        if let Some(ca) = ca {
            let cert = ca.issue(LOCAL_NAMES).unwrap();
            write(&redis.dir.0, "redis.crt", cert.chain_pem());
            write(&redis.dir.0, "redis.key", cert.key_pem());
            write(&redis.dir.0, "ca.pem", ca.cert_pem());
        }
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT/0`, without the password (tests pass it as `password_env`).
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}/0", self.port),
            Some(_) => format!("rediss://localhost:{}/0", self.port),
        }
    }

    /// Kills the server (its memory goes with it) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the server (again) on the same port; returns once it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the running server first");
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        match self.tls {
            None => cmd.args(["--bind", "127.0.0.1", "--port", &port]),
            Some(_) => cmd
                .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port])
                .arg("--tls-cert-file")
                .arg(self.dir.0.join("redis.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.0.join("redis.key"))
                .arg("--tls-ca-cert-file")
                .arg(self.dir.0.join("ca.pem"))
                .args(["--tls-auth-clients", "no"]),
        };
        let child = cmd
            .args(["--requirepass", &self.password])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server, or bash .ci/run)");
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within {READY_WITHIN:?}",
                self.port
            );
            std::thread::sleep(POLL);
        }
    }

    /// Whether `AUTH` + `PING` get `+OK` and `+PONG` now.
    fn answers(&self) -> bool {
        let Ok(tcp) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut stream: Box<dyn ReadWrite> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = "localhost".try_into().unwrap();
                let tls = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
                Box::new(rustls::StreamOwned::new(tls, tcp))
            }
        };
        let tcp = &mut stream;
        let auth = format!("AUTH {}\r\nPING\r\n", self.password);
        if tcp.write_all(auth.as_bytes()).is_err() {
            return false;
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < b"+OK\r\n+PONG\r\n".len() {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got == b"+OK\r\n+PONG\r\n"
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
