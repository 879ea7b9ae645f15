//! The Node side (bench/): pouchdb-server 4.2.0 and PouchDB 9.0.0 driven by `bench/peer.mjs`,
//! and the counting TCP proxy `bench/proxy.mjs` that counts both sides' bytes and requests with
//! the same code.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Requests and bytes on the wire (headers and bodies as sent), as the proxy counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct Counts {
    pub requests: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl Counts {
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }
}

/// What `peer.mjs push|pull|noop` prints.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PeerRun {
    pub records: u64,
    pub seconds: f64,
    pub requests: Option<u64>,
    pub bytes_up: Option<u64>,
    pub bytes_down: Option<u64>,
}

impl PeerRun {
    pub fn counts(&self) -> Option<Counts> {
        Some(Counts { requests: self.requests?, bytes_up: self.bytes_up?, bytes_down: self.bytes_down? })
    }
}

fn node(bench_dir: &Path, script: &str) -> Command {
    let mut command = Command::new("node");
    command.arg(bench_dir.join(script)).kill_on_drop(true).stdin(Stdio::null()).stderr(Stdio::inherit());
    command
}

/// Checks that Node and the peer's packages are there, with the command that installs them.
pub fn check_installed(bench_dir: &Path) -> anyhow::Result<()> {
    for package in ["pouchdb", "pouchdb-server"] {
        if !bench_dir.join("node_modules").join(package).join("package.json").exists() {
            bail!(
                "{package} is not installed in {}: run `npm ci --prefix bench` (or `make bench`)",
                bench_dir.display()
            );
        }
    }
    Ok(())
}

async fn first_line(lines: &mut Lines<BufReader<ChildStdout>>, what: &str) -> anyhow::Result<String> {
    lines.next_line().await?.with_context(|| format!("{what} exited before it was ready"))
}

/// pouchdb-server on a free loopback port with its data in a temporary directory.
#[derive(Debug)]
pub struct PeerServer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl PeerServer {
    pub async fn start(bench_dir: &Path) -> anyhow::Result<PeerServer> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = node(bench_dir, "peer.mjs")
            .args(["serve", "--port", &port.to_string(), "--dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting pouchdb-server (is Node.js installed?)")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = first_line(&mut lines, "pouchdb-server").await?;
        anyhow::ensure!(ready.trim() == "ready", "pouchdb-server said {ready:?} instead of ready");
        Ok(PeerServer { child, port, _dir: dir })
    }

    pub fn url(&self, database: &str) -> String {
        format!("http://127.0.0.1:{}/{database}", self.port)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Runs `peer.mjs <what>` against `url` with PouchDB's best batch size; `counting` runs it
/// through the same proxy our side goes through.
pub async fn run(
    bench_dir: &Path,
    what: &str,
    url: &str,
    records: Option<&PathBuf>,
    batch: usize,
    counting: bool,
) -> anyhow::Result<PeerRun> {
    let mut command = node(bench_dir, "peer.mjs");
    command.args([what, "--url", url, "--batch", &batch.to_string()]);
    if let Some(records) = records {
        command.arg("--records").arg(records);
    }
    if !counting {
        command.arg("--no-proxy");
    }
    let output = command.stdout(Stdio::piped()).output().await.with_context(|| format!("running peer.mjs {what}"))?;
    if !output.status.success() {
        bail!("peer.mjs {what} failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("peer.mjs {what} printed {text:?}"))
}

/// `bench/proxy.mjs` in front of a port: the same byte and request counter for both sides.
#[derive(Debug)]
pub struct Proxy {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    port: u16,
}

impl Proxy {
    pub async fn start(bench_dir: &Path, target_port: u16) -> anyhow::Result<Proxy> {
        let mut child = node(bench_dir, "proxy.mjs")
            .args(["--listen", "0", "--target", &target_port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the counting proxy (is Node.js installed?)")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let ready = first_line(&mut lines, "the proxy").await?;
        let port = ready
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("the proxy said {ready:?}"))?;
        Ok(Proxy { child, stdin, lines, port })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The counts since the last `take`, zeroing them.
    pub async fn take(&mut self) -> anyhow::Result<Counts> {
        self.stdin.write_all(b"take\n").await?;
        self.stdin.flush().await?;
        let line = first_line(&mut self.lines, "the proxy").await?;
        serde_json::from_str(&line).with_context(|| format!("the proxy printed {line:?}"))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
