//! Running the nginx binary: `-t`, `-s reload`, and a master process for a
//! prefix (tests and `wharf demo`; production nginx is run by systemd).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::error::NginxError;
use crate::layout::NginxPaths;
use crate::{Error, Result};

fn spawn_err(bin: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Spawn {
        bin: bin.to_path_buf(),
        source: Arc::new(e),
    }
}

/// `nginx -t -p prefix -c conf`. On failure, nginx's first error with the
/// file and line, relative to the directory of `conf`; a passing test with a
/// conflicting server name fails too (see [`NginxError::parse_fatal_warning`]).
pub async fn test_config(nginx_bin: &Path, prefix: &Path, conf: &Path) -> Result<()> {
    let out = Command::new(nginx_bin)
        .arg("-t")
        .arg("-q")
        .arg("-p")
        .arg(prefix_arg(prefix))
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(spawn_err(nginx_bin))?;
    let text = String::from_utf8_lossy(&out.stderr);
    let root = conf.parent();
    if out.status.success() {
        return match NginxError::parse_fatal_warning(&text, root) {
            Some(warning) => Err(Error::Nginx(warning)),
            None => Ok(()),
        };
    }
    Err(Error::Nginx(
        NginxError::parse(&text, root).unwrap_or_else(|| NginxError::plain(text.trim())),
    ))
}

/// `nginx -v`: the version of the binary, like `1.22.1`.
pub async fn version(nginx_bin: &Path) -> Result<String> {
    let out = Command::new(nginx_bin)
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(spawn_err(nginx_bin))?;
    // NB: nginx prints it to stderr; stdout too, in case a wrapper does.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    parse_version(&text).ok_or_else(|| {
        Error::Nginx(NginxError::plain(format!(
            "`nginx -v` ({}) printed no version: {}",
            out.status,
            text.trim()
        )))
    })
}

/// The version out of `nginx version: nginx/1.22.1` (any product name:
/// `openresty/1.21.4.1`; anything after it, like ` (Ubuntu)`, ignored).
fn parse_version(text: &str) -> Option<String> {
    let rest = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("nginx version:"))?;
    let (_, v) = rest.split_whitespace().next()?.rsplit_once('/')?;
    let ok = v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    ok.then(|| v.to_string())
}

/// `nginx -s <signal>` for the master of this prefix and config.
pub async fn signal(paths: &NginxPaths, signal: &str) -> Result<()> {
    let out = Command::new(&paths.nginx_bin)
        .arg("-p")
        .arg(prefix_arg(&paths.prefix))
        .arg("-c")
        .arg(paths.live_conf())
        .arg("-s")
        .arg(signal)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(spawn_err(&paths.nginx_bin))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    Err(Error::Reload(
        NginxError::parse(&text, None).unwrap_or_else(|| NginxError::plain(text.trim())),
    ))
}

/// nginx wants the prefix with a trailing slash to join relative paths.
fn prefix_arg(prefix: &Path) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    if !prefix.as_os_str().to_string_lossy().ends_with('/') {
        s.push("/");
    }
    PathBuf::from(s)
}

/// A foreground nginx master (`daemon off`) for one prefix, stopped on drop.
#[derive(Debug)]
pub struct NginxProcess {
    child: Child,
    pid: u32,
    paths: NginxPaths,
}

impl NginxProcess {
    /// Starts `nginx -p P -c <conf_dir>/current/nginx.conf -g 'daemon off;'`
    /// and waits until `probe` accepts connections (the control port).
    pub async fn start(paths: &NginxPaths, probe: SocketAddr, timeout: Duration) -> Result<Self> {
        paths.prepare()?;
        let mut child = Command::new(&paths.nginx_bin)
            .arg("-p")
            .arg(prefix_arg(&paths.prefix))
            .arg("-c")
            .arg(paths.live_conf())
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .map_err(spawn_err(&paths.nginx_bin))?;
        let pid = child.id().unwrap_or(0);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().map_err(spawn_err(&paths.nginx_bin))? {
                let mut text = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_string(&mut text).await;
                }
                let log = std::fs::read_to_string(paths.error_log()).unwrap_or_default();
                let err = NginxError::parse(&text, None)
                    .or_else(|| NginxError::parse(&log, None))
                    .unwrap_or_else(|| NginxError::plain(format!("nginx exited with {status}")));
                return Err(Error::Nginx(err));
            }
            if tokio::net::TcpStream::connect(probe).await.is_ok() {
                return Ok(NginxProcess {
                    child,
                    pid,
                    paths: paths.clone(),
                });
            }
            if Instant::now() > deadline {
                let _ = terminate(pid, "KILL");
                return Err(Error::Nginx(NginxError::plain(format!(
                    "nginx did not listen on {probe} within {timeout:?}"
                ))));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn paths(&self) -> &NginxPaths {
        &self.paths
    }

    /// How many reloads the master has started since its log began (counts
    /// nginx's own SIGHUP notices, independent of any agent).
    pub fn reloads_logged(&self) -> usize {
        std::fs::read_to_string(self.paths.error_log())
            .unwrap_or_default()
            .matches("(SIGHUP) received")
            .count()
    }

    /// Fast shutdown (SIGTERM) and wait for the master to exit.
    pub async fn stop(mut self) -> Result<()> {
        let _ = terminate(self.pid, "TERM");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        self.pid = 0;
        Ok(())
    }
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        // NB: SIGKILL on the master would orphan its workers (they keep the
        // ports); SIGTERM makes the master take them down.
        if self.pid != 0 {
            let _ = terminate(self.pid, "TERM");
        }
    }
}

/// Signals a pid with the `kill` utility (the workspace forbids `unsafe`,
/// and pulling in a libc wrapper for one call is not worth it).
fn terminate(pid: u32, sig: &str) -> std::io::Result<()> {
    std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
}

/// The master's pid from its pid file.
pub fn master_pid(paths: &NginxPaths) -> Option<u32> {
    std::fs::read_to_string(paths.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Pids of the master's workers that still accept connections, read from
/// `/proc`. `None` when the master is not visible (another pid namespace).
///
/// NB: why this matters: after a reload the old workers keep their listening
/// sockets until they process the master's SIGQUIT, so a new connection can
/// still land on the old config for a moment after a new worker has answered.
/// An old worker that got the signal retitles itself "worker process is
/// shutting down" and closes its listeners; that is what we wait for.
pub fn accepting_workers(master: u32) -> Option<Vec<u32>> {
    if !Path::new(&format!("/proc/{master}")).exists() {
        return None;
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(master) {
            continue;
        }
        let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&title);
        if title.contains("worker process") && !title.contains("shutting down") {
            out.push(pid);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn parses_the_version_line() {
        assert_eq!(
            parse_version("nginx version: nginx/1.22.1\n").as_deref(),
            Some("1.22.1")
        );
        assert_eq!(
            parse_version("nginx version: nginx/1.24.0 (Ubuntu)").as_deref(),
            Some("1.24.0")
        );
        assert_eq!(
            parse_version("\nnginx version: openresty/1.21.4.1\n").as_deref(),
            Some("1.21.4.1")
        );
        for bad in [
            "",
            "nginx: [emerg] something",
            "nginx version: nginx",
            "nginx version: nginx/",
            "nginx version: nginx/x.y",
            "version: nginx/1.2.3",
        ] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }
}
