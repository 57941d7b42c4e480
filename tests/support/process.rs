//! The gateway binary as a child process with JSON logs, for tests about the process itself
//! (signals, exit codes) or about what it logs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::Target;

const BIN: &str = env!("CARGO_BIN_EXE_cec-gateway");

/// The gateway as a child process with JSON logs, and its log lines as they come. Killed on
/// drop, so that a failing test leaves no gateway behind.
pub struct Process {
    child: Option<Child>,
    lines: mpsc::Receiver<serde_json::Value>,
    pub https: SocketAddr,
    /// The admin listener, when the configuration has one.
    pub admin: Option<SocketAddr>,
    /// Every line read so far, in order.
    pub seen: Vec<serde_json::Value>,
}

impl Process {
    pub fn start(config: &Path) -> Self {
        Self::start_with_env(config, &[])
    }

    /// Starts the binary on `config` with `env` added to its environment; returns once it
    /// logs that it is serving.
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(BIN)
            .args(["--log-format", "json", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut p = Self {
            child: Some(child),
            lines,
            https: "0.0.0.0:0".parse().unwrap(),
            admin: None,
            seen: Vec::new(),
        };
        let serving = p.wait_for("cec-gateway serving");
        p.https = serving["https"].as_str().unwrap().parse().unwrap();
        p.admin = serving["admin"]
            .as_str()
            .and_then(|a| a.strip_prefix("Some(")?.strip_suffix(')')?.parse().ok());
        p
    }

    /// The next log line whose message is `message` (lines before it are passed over, and
    /// kept in `seen`).
    pub fn wait_for(&mut self, message: &str) -> serde_json::Value {
        loop {
            let v = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line {message:?} in time"));
            self.seen.push(v.clone());
            if v["message"] == message {
                return v;
            }
        }
    }

    /// The first log line whose message is `message`, among those seen so far or the next.
    pub fn logged(&mut self, message: &str) -> serde_json::Value {
        match self.seen.iter().find(|v| v["message"] == message) {
            Some(v) => v.clone(),
            None => self.wait_for(message),
        }
    }

    /// Reads the lines that come until none has come for `quiet`; all of them end up in `seen`.
    pub fn drain(&mut self, quiet: Duration) {
        while let Ok(v) = self.lines.recv_timeout(quiet) {
            self.seen.push(v);
        }
    }

    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(ok.success(), "kill {name}");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }

    /// SIGTERM, and the exit code.
    pub async fn stop(mut self) -> Option<i32> {
        self.signal("-TERM");
        let mut child = self.child.take().expect("running");
        tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap()
            .code()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Target for Process {
    fn url(&self, path: &str) -> String {
        Process::url(self, path)
    }

    fn admin_addr(&self) -> SocketAddr {
        self.admin.expect("admin listener")
    }
}
