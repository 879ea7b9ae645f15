//! A throwaway PostgreSQL cluster for the tests: `initdb` in a temporary directory, a server on a
//! free port of 127.0.0.1 with its unix socket in that directory, one database per test, and
//! `pg_ctl stop -m fast` when the last user lets go of it.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI here), initdb and pg_ctl run
//! as the `postgres` user that Debian's package creates (`runuser -u postgres --`), and the
//! temporary directory is handed to that user; as any other user they run as that user.
//!
//! `start_with_tls` starts one that speaks TLS on TCP with the certificate given and refuses
//! plain TCP; the tests' own set-up (`create_database`) goes through the unix socket.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, Weak};

use anyhow::{Context, bail};

/// The superuser of the cluster (not the operating system's user).
const SUPERUSER: &str = "postgres";
/// The OS user that runs PostgreSQL when the tests run as root.
const OS_USER_FOR_ROOT: &str = "postgres";

/// The certificate (chain) and private key, both PEM, a TLS cluster serves.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A running cluster. Dropping it stops the server and removes its files.
#[derive(Debug)]
pub struct TempCluster {
    bin: PathBuf,
    port: u16,
    data: PathBuf,
    /// `Some(user)` when initdb and pg_ctl run as another user (the tests run as root).
    run_as: Option<String>,
    dir: tempfile::TempDir,
}

static SHARED: Mutex<Weak<TempCluster>> = Mutex::new(Weak::new());

impl TempCluster {
    /// One cluster for every test that holds it at the same time: the first starts it, the last
    /// to drop it stops it. Each test makes its own database in it.
    pub fn shared() -> anyhow::Result<Arc<TempCluster>> {
        let mut shared = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cluster) = shared.upgrade() {
            return Ok(cluster);
        }
        let cluster = Arc::new(TempCluster::start()?);
        *shared = Arc::downgrade(&cluster);
        Ok(cluster)
    }

    /// Starts a new cluster, or says clearly why it cannot.
    pub fn start() -> anyhow::Result<TempCluster> {
        TempCluster::start_with(false)
    }

    /// Starts a new cluster; `durable` keeps PostgreSQL's own fsync and synchronous commit on
    /// (for benchmarks that must compare durable stores), else they are off.
    pub fn start_with(durable: bool) -> anyhow::Result<TempCluster> {
        TempCluster::start_cluster(durable, None)
    }

    /// Starts a new cluster that accepts TCP connections over TLS only, serving `tls`.
    pub fn start_with_tls(tls: &ServerTls) -> anyhow::Result<TempCluster> {
        TempCluster::start_cluster(false, Some(tls))
    }

    fn start_cluster(durable: bool, tls: Option<&ServerTls>) -> anyhow::Result<TempCluster> {
        let bin = find_bin_dir().context(
            "PostgreSQL's initdb was not found in /usr/lib/postgresql/*/bin or on PATH; \
             install it (Debian/Ubuntu: apt-get install postgresql, or run scripts/install-deps.sh)",
        )?;
        let run_as = if effective_uid()? == 0 { Some(OS_USER_FOR_ROOT.to_owned()) } else { None };
        // As root, under /tmp: the `postgres` user must be able to reach the directory, and a
        // TMPDIR under root's home would not let it.
        let parent = if run_as.is_some() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = tempfile::Builder::new()
            .prefix("fit-pg-")
            .tempdir_in(&parent)
            .with_context(|| format!("cannot make a temporary directory in {}", parent.display()))?;
        if let Some(user) = &run_as {
            hand_over(dir.path(), user)?;
        }
        let data = dir.path().join("data");
        let mut initdb = command(&bin, "initdb", run_as.as_deref(), dir.path());
        initdb.arg("--pgdata").arg(&data).args([
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        check(&mut initdb, "initdb")?;
        let extra = match tls {
            Some(tls) => set_up_tls(dir.path(), &data, tls, run_as.as_deref())?,
            None => String::new(),
        };

        // A free port: what the system gives for :0, released just before the server binds it.
        // Another process may take it in between; then the start fails and is tried again.
        let mut last_error = None;
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            match start_server(&bin, &data, port, run_as.as_deref(), dir.path(), durable, &extra) {
                Ok(()) => return Ok(TempCluster { bin, port, data, run_as, dir }),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the data and the socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Makes an empty database `name` (lower-case letters, digits and `_`) and returns its URL.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let valid = !name.is_empty()
            && name.len() < 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            bail!("database name {name:?}: use 1–63 lower-case letters, digits and _");
        }
        // Through the unix socket, which a TLS cluster accepts without TLS.
        let mut admin = tokio_postgres::Config::new();
        admin.host_path(self.dir.path()).port(self.port).user(SUPERUSER).dbname("postgres");
        let (client, connection) = admin
            .connect(tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to the test cluster on port {}", self.port))?;
        let connection = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        drop(client);
        let _ = connection.await;
        Ok(self.url(name))
    }

    /// The server's log so far (for a failed test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let mut stop = command(&self.bin, "pg_ctl", self.run_as.as_deref(), self.dir.path());
        stop.arg("stop").arg("--pgdata").arg(&self.data).args(["--mode", "fast", "--wait", "--timeout", "60"]);
        if let Err(error) = check(&mut stop, "pg_ctl stop") {
            eprintln!("the test cluster in {} did not stop: {error:#}", self.dir.path().display());
        }
    }
}

fn start_server(
    bin: &Path,
    data: &Path,
    port: u16,
    run_as: Option<&str>,
    dir: &Path,
    durable: bool,
    extra: &str,
) -> anyhow::Result<()> {
    // Settings for a throwaway cluster: no fsync unless `durable` (nothing a test writes must
    // survive a power cut), the socket in the temporary directory, TCP on loopback only, room
    // for every test's pool.
    let durability = if durable { "" } else { "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" };
    let options = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} {durability} \
         -c max_connections=300 {extra}",
        dir.display()
    );
    let log = dir.join("server.log");
    let mut start = command(bin, "pg_ctl", run_as, dir);
    start
        .arg("start")
        .arg("--pgdata")
        .arg(data)
        .arg("--log")
        .arg(&log)
        .args(["--wait", "--timeout", "60", "--silent", "-o"])
        .arg(options);
    check(&mut start, "pg_ctl start").map(drop).map_err(|error| {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        error.context(format!("PostgreSQL did not start on port {port}; its log:\n{log}"))
    })
}

/// Hands `path` to the OS user `user` (who runs PostgreSQL when the tests run as root).
fn hand_over(path: &Path, user: &str) -> anyhow::Result<()> {
    let uid = id_of(user, "-u").with_context(|| {
        format!("the tests run as root and PostgreSQL refuses root: the user `{user}` is needed to run it")
    })?;
    let gid = id_of(user, "-g")?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot hand {} to the user {user}", path.display()))
}

/// Writes the certificate and key (the key readable by the server's user only, as PostgreSQL
/// demands), and lets TCP in over TLS only; returns the server options that turn TLS on.
fn set_up_tls(dir: &Path, data: &Path, tls: &ServerTls, run_as: Option<&str>) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, &tls.cert_pem).context("cannot write the test cluster's certificate")?;
    std::fs::write(&key, &tls.key_pem).context("cannot write the test cluster's key")?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    if let Some(user) = run_as {
        hand_over(&cert, user)?;
        hand_over(&key, user)?;
    }
    let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
    std::fs::write(data.join("pg_hba.conf"), hba).context("cannot write the test cluster's pg_hba.conf")?;
    Ok(format!("-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", cert.display(), key.display()))
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an initdb (Debian and Ubuntu), else the
/// directory of an `initdb` on PATH.
fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// `program` of `bin`, run as `run_as` if given, in `dir` (a directory that user may enter).
fn command(bin: &Path, program: &str, run_as: Option<&str>, dir: &Path) -> Command {
    let program = bin.join(program);
    let mut command = match run_as {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    };
    command.current_dir(dir);
    // PostgreSQL's own variables of whoever runs the tests must not point the tools elsewhere.
    for name in ["PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"] {
        command.env_remove(name);
    }
    command
}

fn check(command: &mut Command, what: &str) -> anyhow::Result<Output> {
    let output = command.output().with_context(|| format!("cannot run {what} ({:?})", command.get_program()))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

fn effective_uid() -> anyhow::Result<u32> {
    let output = check(Command::new("id").arg("-u"), "id -u")?;
    String::from_utf8_lossy(&output.stdout).trim().parse().context("id -u printed no number")
}

fn id_of(user: &str, flag: &str) -> anyhow::Result<u32> {
    let output = check(Command::new("id").args([flag, user]), &format!("id {flag} {user}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .with_context(|| format!("id {flag} {user} printed no number"))
}
