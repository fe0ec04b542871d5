//! Termination messages, as the kubelet reads them when a container exits.
//!
//! A container that runs as a process writes its message to its
//! `terminationMessagePath` (default `/dev/termination-log`), which is the file
//! `<container dir>/termination-log` here (the path is rewritten in its argv and env, see
//! [`crate::paths`]); the file is emptied when each instance starts. When the instance
//! exits, the file's last 4096 bytes become `state.terminated.message` (and later
//! `lastState.terminated.message`). With `terminationMessagePolicy:
//! FallbackToLogsOnError`, an empty file and a non-zero exit code give the last 80 lines
//! of the instance's log instead, at most their last 2048 bytes. A container that could
//! not start keeps the runtime's message.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::logs::LogBuffer;
use crate::{Error, Result};

/// The kubelet's `MaxContainerTerminationMessageLength`.
pub const MAX_MESSAGE_BYTES: u64 = 4096;
/// The kubelet's `MaxContainerTerminationMessageLogLines`.
pub const MAX_LOG_LINES: usize = 80;
/// The kubelet's `MaxContainerTerminationMessageLogLength`.
pub const MAX_LOG_BYTES: usize = 2048;
/// Where the message goes inside the container when the spec does not say.
pub const DEFAULT_PATH: &str = "/dev/termination-log";

/// The file that stands for a container's termination message path.
pub fn file_of(container_dir: &Path) -> PathBuf {
    container_dir.join("termination-log")
}

/// Creates (or empties) the message file for a new instance.
pub async fn prepare(file: &Path) -> Result<()> {
    tokio::fs::write(file, b"")
        .await
        .map_err(|e| Error::io(format!("create {}", file.display()), e))
}

/// The last [`MAX_MESSAGE_BYTES`] of the file; empty when it is missing.
pub fn read_file(file: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(file) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_MESSAGE_BYTES && f.seek(SeekFrom::Start(len - MAX_MESSAGE_BYTES)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(MAX_MESSAGE_BYTES).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last [`MAX_LOG_LINES`] lines of `log`, at most their last [`MAX_LOG_BYTES`].
pub fn from_log(log: &LogBuffer) -> String {
    let lines = log.snapshot().lines;
    let tail: Vec<u8> = lines[lines.len().saturating_sub(MAX_LOG_LINES)..]
        .iter()
        .flat_map(|l| l.text.iter().copied())
        .collect();
    let mut start = tail.len().saturating_sub(MAX_LOG_BYTES);
    // NB: never cut a UTF-8 character in two.
    while start < tail.len() && (tail[start] & 0b1100_0000) == 0b1000_0000 {
        start += 1;
    }
    String::from_utf8_lossy(&tail[start..]).into_owned()
}

/// What ends up in `terminated.message`: the file's message, else the log's tail when the
/// policy allows it and the container failed, else the runtime's own message.
pub fn message(
    file: Option<&Path>,
    fallback_to_logs: bool,
    exit_code: i32,
    started: bool,
    log: &LogBuffer,
    runtime_message: Option<String>,
) -> Option<String> {
    let written = file.map(read_file).unwrap_or_default();
    if !written.is_empty() {
        return Some(written);
    }
    if fallback_to_logs && exit_code != 0 && started {
        let tail = from_log(log);
        if !tail.is_empty() {
            return Some(tail);
        }
    }
    runtime_message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_and_keeps_its_last_4096_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_of(dir.path());
        let log = LogBuffer::new(100, 1 << 20);
        log.push("from the log");
        std::fs::write(&file, "sha256:abc").unwrap();
        assert_eq!(
            message(Some(&file), true, 1, true, &log, None).as_deref(),
            Some("sha256:abc")
        );
        std::fs::write(&file, format!("{}END", "x".repeat(5000))).unwrap();
        let m = message(Some(&file), false, 0, true, &log, None).unwrap();
        assert_eq!(m.len(), 4096);
        assert!(m.ends_with("END"));
    }

    #[test]
    fn logs_only_on_failure_with_the_fallback_policy() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_of(dir.path());
        std::fs::write(&file, "").unwrap();
        let log = LogBuffer::new(1000, 1 << 20);
        for i in 0..100 {
            log.push(format!("line {i}"));
        }
        assert_eq!(message(Some(&file), false, 1, true, &log, None), None);
        assert_eq!(message(Some(&file), true, 0, true, &log, None), None);
        let m = message(Some(&file), true, 2, true, &log, None).unwrap();
        assert!(
            m.starts_with("line 20\n") && m.ends_with("line 99\n"),
            "{m}"
        );
        assert_eq!(
            message(None, true, 128, false, &log, Some("runc".into())).as_deref(),
            Some("runc")
        );

        let long = LogBuffer::new(1000, 1 << 20);
        for _ in 0..10 {
            long.push("é".repeat(300));
        }
        let m = from_log(&long);
        assert!(
            m.len() <= MAX_LOG_BYTES && m.ends_with("é\n"),
            "{}",
            m.len()
        );
    }
}
