//! A throwaway OpenLDAP server per test, and the real `ldapsearch` client.
//!
//! [`Slapd::start`] builds a private instance in a temp dir: `cn=config` from
//! `fixtures/slapd-config.ldif` (mdb; schemas core, cosine, nis, inetorgperson) and the data from
//! `fixtures/seed.ldif` (20 users, 3 groupOfNames groups and a posixGroup), both loaded with `slapadd`, then runs `slapd` on a
//! free loopback port as a child of the test, killed and reaped on drop (a daemonized one would
//! linger as a zombie under PID 1). Start-up takes ~70–200 ms.
//!
//! Everything here blocks: from async tests use `tokio::task::spawn_blocking`, or an in-process
//! tunnel on the same runtime may starve. Missing programs fail, pointing at
//! `scripts/install-deps.sh`; nothing is skipped.

use std::fs::{self, File};
use std::io::{Read, Seek};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::testca::ServerCert;

const CONFIG_TEMPLATE: &str = include_str!("../fixtures/slapd-config.ldif");
const SEED: &str = include_str!("../fixtures/seed.ldif");
/// Where Debian and Ubuntu keep `slapd` and `slapadd`, often not on a user's `PATH`.
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/sbin"];
/// How long `slapd` gets to answer a root bind after spawning.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// New ports tried when another process takes the chosen one before `slapd` binds it.
const PORT_ATTEMPTS: usize = 5;
/// Upper bound for one run of an LDAP client program (`ldapsearch`, `ldapwhoami`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TAIL_LINES: usize = 30;
const INSTALL_HINT: &str = "run scripts/install-deps.sh (installs slapd and ldap-utils)";

/// A running `slapd` with the seed data; killed on drop.
#[derive(Debug)]
pub struct Slapd {
    child: Child,
    addr: SocketAddr,
    /// The `ldaps://` port, when started with [`Slapd::start_ldaps`].
    ldaps: Option<SocketAddr>,
    log: PathBuf,
    /// Config, database, log; removed after `drop` has reaped the child.
    _dir: tempfile::TempDir,
}

impl Slapd {
    pub const BASE_DN: &'static str = "dc=example,dc=org";
    pub const ADMIN_DN: &'static str = "cn=admin,dc=example,dc=org";
    pub const ADMIN_PASSWORD: &'static str = "nowconnect-admin";
    /// Users `uid=user01` … `uid=user20` under `ou=people` in the seed.
    pub const SEED_USERS: usize = 20;

    /// DN of seed user `n` (1-based): `uid=user05,ou=people,dc=example,dc=org`.
    pub fn user_dn(n: usize) -> String {
        format!("uid=user{n:02},ou=people,{}", Self::BASE_DN)
    }

    /// Cleartext password of seed user `n` (1-based): `password05`.
    pub fn user_password(n: usize) -> String {
        format!("password{n:02}")
    }

    /// Builds, seeds and starts an instance; returns once a root bind succeeds.
    pub fn start() -> anyhow::Result<Slapd> {
        Self::start_with(None)
    }

    /// Like [`Slapd::start`], also serving LDAPS on a second port with `cert` (see
    /// [`Slapd::ldaps_addr`]).
    pub fn start_ldaps(cert: &ServerCert) -> anyhow::Result<Slapd> {
        Self::start_with(Some(cert))
    }

    fn start_with(tls: Option<&ServerCert>) -> anyhow::Result<Slapd> {
        let slapd = find_program("slapd")?;
        let slapadd = find_program("slapadd")?;
        let dir = tempfile::Builder::new()
            .prefix("nowconnect-slapd-")
            .tempdir()?;
        let root = dir.path();
        let config_dir = root.join("slapd.d");
        fs::create_dir(&config_dir)?;
        fs::create_dir(root.join("data"))?;
        let dir_str = root.to_str().context("temp dir path is not UTF-8")?;
        let mut config = CONFIG_TEMPLATE.to_owned();
        if let Some(cert) = tls {
            let pid_line = "olcPidFile: @DIR@/slapd.pid\n";
            let tls_lines = format!(
                "{pid_line}olcTLSCertificateFile: {}\nolcTLSCertificateKeyFile: {}\n",
                cert.cert_pem.display(),
                cert.key_pem.display()
            );
            ensure!(
                config.contains(pid_line),
                "slapd-config.ldif lost its olcPidFile line"
            );
            config = config.replace(pid_line, &tls_lines);
        }
        let config = config
            .replace("@DIR@", dir_str)
            .replace("@SUFFIX@", Self::BASE_DN)
            .replace("@ROOT_DN@", Self::ADMIN_DN)
            .replace("@ROOT_PW@", Self::ADMIN_PASSWORD);
        fs::write(root.join("config.ldif"), config)?;
        fs::write(root.join("seed.ldif"), SEED)?;
        for (db, ldif) in [("0", "config.ldif"), ("1", "seed.ldif")] {
            let mut cmd = Command::new(&slapadd);
            cmd.current_dir(root)
                .args(["-n", db, "-F", "slapd.d", "-l", ldif]);
            let out = run(&mut cmd, CLIENT_TIMEOUT)?;
            ensure!(out.status.success(), "slapadd {ldif}: {}", describe(&out));
        }

        let log = root.join("slapd.log");
        let (child, addr, ldaps) = spawn_ready(&slapd, &config_dir, &log, tls.is_some())?;
        Ok(Slapd {
            child,
            addr,
            ldaps,
            log,
            _dir: dir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The LDAPS address (only for an instance from [`Slapd::start_ldaps`]).
    pub fn ldaps_addr(&self) -> Option<SocketAddr> {
        self.ldaps
    }

    /// `ldap://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("ldap://{}/", self.addr)
    }

    pub fn base_dn(&self) -> &str {
        Self::BASE_DN
    }

    /// The last lines slapd wrote (errors only), for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `ldapsearch -LLL` printed, with the number of entries in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapsearchOutput {
    /// Unwrapped LDIF (`-o ldif-wrap=no`), entries in server order.
    pub stdout: String,
    /// Lines starting with `dn:`.
    pub entries: usize,
}

impl LdapsearchOutput {
    /// The DNs of the entries, in order (base64 `dn::` values are returned encoded).
    pub fn dns(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("dn:"))
            .map(|dn| dn.trim_start_matches(':').trim())
            .collect()
    }
}

/// Runs the real `ldapsearch -x -LLL` against `addr` (a slapd or a tunnel in front of one),
/// bound as [`Slapd::ADMIN_DN`], subtree under `base`. A non-zero exit (including "no such
/// object") is an error carrying stderr. Blocking, bounded by a 10 s timeout.
pub fn ldapsearch(
    addr: SocketAddr,
    base: &str,
    filter: &str,
    attrs: &[&str],
) -> anyhow::Result<LdapsearchOutput> {
    let out = run(
        client("ldapsearch", addr)?
            .args(["-LLL", "-o", "ldif-wrap=no", "-D", Slapd::ADMIN_DN, "-w"])
            .args([Slapd::ADMIN_PASSWORD, "-b", base, filter])
            .args(attrs),
        CLIENT_TIMEOUT,
    )?;
    ensure!(
        out.status.success(),
        "ldapsearch on {addr}: {}",
        describe(&out)
    );
    let stdout = String::from_utf8(out.stdout).context("ldapsearch output is not UTF-8")?;
    let entries = stdout.lines().filter(|l| l.starts_with("dn:")).count();
    Ok(LdapsearchOutput { stdout, entries })
}

/// Spawns `slapd` on a free port and waits until it answers; retries if the port got taken.
fn spawn_ready(
    slapd: &Path,
    config_dir: &Path,
    log: &Path,
    ldaps: bool,
) -> anyhow::Result<(Child, SocketAddr, Option<SocketAddr>)> {
    for _ in 0..PORT_ATTEMPTS {
        let addr = free_port()?;
        let ldaps = if ldaps { Some(free_port()?) } else { None };
        let mut urls = format!("ldap://{addr}/");
        if let Some(ldaps) = ldaps {
            urls.push_str(&format!(" ldaps://{ldaps}/"));
        }
        let log_file = File::options().create(true).append(true).open(log)?;
        // `-d none` keeps slapd in the foreground and logs errors only (`-d 0` logs nothing).
        let mut child = Command::new(slapd)
            .args(["-d", "none", "-F"])
            .arg(config_dir)
            .args(["-h", &urls])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("spawning {}", slapd.display()))?;
        let Err(e) = wait_ready(&mut child, addr, log) else {
            return Ok((child, addr, ldaps));
        };
        let _ = child.kill();
        let _ = child.wait();
        if !log_tail(log).contains("Address already in use") {
            return Err(e);
        }
    }
    let tail = log_tail(log);
    bail!("slapd: no free port in {PORT_ATTEMPTS} attempts:\n{tail}")
}

/// Polls TCP connect, then a root bind with `ldapwhoami`, until [`READY_TIMEOUT`].
fn wait_ready(child: &mut Child, addr: SocketAddr, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::from("port closed");
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("slapd exited ({status}) on {addr}:\n{}", log_tail(log));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let mut whoami = client("ldapwhoami", addr)?;
            whoami.args(["-D", Slapd::ADMIN_DN, "-w", Slapd::ADMIN_PASSWORD]);
            let out = run(&mut whoami, Duration::from_secs(2))?;
            if out.status.success() {
                return Ok(());
            }
            last = describe(&out);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let tail = log_tail(log);
    bail!("slapd on {addr} not ready after {READY_TIMEOUT:?} (last: {last}):\n{tail}")
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// An ldap-utils command for simple auth on `addr`, ignoring the user's `ldap.conf`/`.ldaprc`.
fn client(name: &str, addr: SocketAddr) -> anyhow::Result<Command> {
    let mut cmd = Command::new(find_program(name)?);
    cmd.env("LDAPNOINIT", "1")
        .args(["-x", "-o", "nettimeout=5", "-H"])
        .arg(format!("ldap://{addr}/"));
    Ok(cmd)
}

/// `name` from `PATH` or the sbin directories.
fn find_program(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("`{name}` not found on PATH or in {SBIN_DIRS:?}: {INSTALL_HINT}"))
}

/// A loopback port that was free a moment ago (bind port 0, read it, release it).
fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?)
}

/// Runs `cmd`, killing it after `timeout`; output goes to files so no full pipe blocks it.
fn run(cmd: &mut Command, timeout: Duration) -> anyhow::Result<Output> {
    let program = Path::new(cmd.get_program()).display().to_string();
    let (mut stdout, mut stderr) = (tempfile::tempfile()?, tempfile::tempfile()?);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?)
        .spawn()
        .with_context(|| format!("spawning {program}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{program} timed out after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (stdout, stderr) = (read_all(&mut stdout)?, read_all(&mut stderr)?);
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn read_all(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    file.rewind()?;
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Exit status and trimmed stderr of a finished client, for error messages.
fn describe(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    format!("{}: {}", out.status, stderr.trim())
}
