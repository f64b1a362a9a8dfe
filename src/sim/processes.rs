//! The real processes a simulation runs: `creditline serve --no-workers`, `creditline worker`
//! (one or two) and the SMTP server, each with its log in the run's folder. Faults kill them
//! with SIGKILL (`Child::kill`), as a machine losing power would.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// The SMTP server's script, written into the run's folder.
const SMTP_SINK: &str = include_str!("smtp_sink.py");

/// The running processes of one simulation; all are killed on drop.
pub struct Cluster {
    dir: PathBuf,
    exe: PathBuf,
    config: PathBuf,
    server: Option<Child>,
    /// `127.0.0.1:PORT` of the HTTP server.
    pub addr: String,
    workers: Vec<Child>,
    smtp: Option<Child>,
    /// How many processes of each kind were started (logs are numbered by it).
    started: usize,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.server.iter_mut().chain(self.workers.iter_mut()).chain(self.smtp.iter_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free TCP port on the loopback interface (bound, then let go for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A Python that can import aiosmtpd.
pub fn python_with_aiosmtpd() -> anyhow::Result<String> {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|py| {
            Command::new(py)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_string)
        .ok_or_else(|| anyhow!("the simulation needs python3 with aiosmtpd (Debian: apt-get install python3-aiosmtpd)"))
}

impl Cluster {
    /// Starts the SMTP server on `smtp_port` (its Maildir is `dir/mail`, its fault control
    /// file `dir/smtp-faults.json`). Serve and workers start with [`Cluster::start_server`]
    /// and [`Cluster::start_worker`].
    pub fn new(dir: &Path, exe: &Path, config: &Path, smtp_port: u16, slow_seconds: f64) -> anyhow::Result<Cluster> {
        let python = python_with_aiosmtpd()?;
        let script = dir.join("smtp_sink.py");
        std::fs::write(&script, SMTP_SINK)?;
        std::fs::write(dir.join("smtp-faults.json"), "{}")?;
        let mut smtp = Command::new(python)
            .arg(&script)
            .args(["--port", &smtp_port.to_string(), "--slow-seconds", &slow_seconds.to_string(), "--maildir"])
            .arg(dir.join("mail"))
            .arg("--control")
            .arg(dir.join("smtp-faults.json"))
            .stdout(Stdio::piped())
            .stderr(log_file(dir, "smtp.log")?)
            .spawn()
            .context("start the SMTP server")?;
        let first = first_line(&mut smtp)?;
        if !first.starts_with("ready") {
            bail!("the SMTP server did not start ({first:?}); see {}", dir.join("smtp.log").display());
        }
        Ok(Cluster {
            dir: dir.to_path_buf(),
            exe: exe.to_path_buf(),
            config: config.to_path_buf(),
            server: None,
            addr: String::new(),
            workers: Vec::new(),
            smtp: Some(smtp),
            started: 0,
        })
    }

    fn command(&mut self, args: &[&str], log: &str) -> anyhow::Result<Command> {
        self.started += 1;
        let mut cmd = creditline(&self.exe);
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(&self.dir)
            .stdout(Stdio::piped())
            .stderr(log_file(&self.dir, &format!("{log}-{}.log", self.started))?);
        Ok(cmd)
    }

    /// Starts `creditline serve --no-workers` on a free port and waits until it answers.
    pub fn start_server(&mut self) -> anyhow::Result<()> {
        let (child, addr) = self.spawn_server("127.0.0.1:0")?;
        self.addr = addr;
        self.server = Some(child);
        Ok(())
    }

    /// Starts one more `creditline serve --no-workers` listening on `listen`, waits until it
    /// answers, and hands it over with its address; the caller owns (and kills) it.
    pub fn spawn_server(&mut self, listen: &str) -> anyhow::Result<(Child, String)> {
        let mut child = self.command(&["serve", "--no-workers", "--listen", listen], "serve")?.spawn()?;
        let line = first_line(&mut child)?;
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("creditline serve did not start ({line:?}); see the serve logs in {}", self.dir.display());
        };
        Ok((child, addr.to_string()))
    }

    /// Kills the HTTP server at once (SIGKILL), as a crash would.
    pub fn kill_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts one more `creditline worker` and waits until it has loaded its configuration
    /// and rules (its "worker started" line): a fault that edits the rules folder a moment
    /// later must not meet a worker still reading it.
    pub fn start_worker(&mut self) -> anyhow::Result<()> {
        let child = self.spawn_worker()?;
        self.workers.push(child);
        Ok(())
    }

    /// Starts one more `creditline worker`, waits for its "worker started" line and hands
    /// it over; the caller owns (and kills) it.
    pub fn spawn_worker(&mut self) -> anyhow::Result<Child> {
        let mut child = self.command(&["worker"], "worker")?.spawn()?;
        let line = first_line(&mut child)?;
        if line.trim() != "worker started" {
            let _ = child.kill();
            let _ = child.wait();
            bail!("creditline worker did not start ({line:?}); see the worker logs in {}", self.dir.display());
        }
        Ok(child)
    }

    /// Kills every worker at once (SIGKILL), mid-job or not.
    pub fn kill_workers(&mut self) {
        for mut child in self.workers.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the second worker, if one runs, with SIGKILL.
    pub fn kill_extra_workers(&mut self) {
        while self.workers.len() > 1 {
            if let Some(mut child) = self.workers.pop() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// A process that exited on its own is an error the run reports (with its log).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        let dir = self.dir.display().to_string();
        for (what, child) in
            self.server.iter_mut().map(|c| ("serve", c)).chain(self.workers.iter_mut().map(|c| ("worker", c)))
        {
            if let Some(status) = child.try_wait()? {
                bail!("creditline {what} exited by itself ({status}); its log is in {dir}");
            }
        }
        Ok(())
    }

    /// Writes the SMTP server's faults for the day.
    pub fn smtp_faults(&self, faults: &serde_json::Value) -> anyhow::Result<()> {
        let path = self.dir.join("smtp-faults.json");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(faults)?)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// The SMTP server's Maildir.
    pub fn maildir(&self) -> PathBuf {
        self.dir.join("mail")
    }
}

/// The `creditline` executable without the caller's `CREDITLINE_*` variables: the run's
/// processes take every setting from the run's configuration file, or a database URL in the
/// environment would send them to another database.
pub fn creditline(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CREDITLINE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    Ok(std::fs::File::create(dir.join(name))?)
}

/// The first line a child prints on stdout, waited for up to a minute.
fn first_line(child: &mut Child) -> anyhow::Result<String> {
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let mut rest = String::new();
        while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    let started = Instant::now();
    rx.recv_timeout(Duration::from_secs(60)).map_err(|_| anyhow!("no answer after {:?}", started.elapsed()))
}
