//! Session recordings: a terminal session's output kept as an asciicast v2 file (format:
//! `wharf_api::terminal::cast`), and `GET /recordings/terminal/{tenant}?ns=..&session=..`
//! that serves one to an admin of the tenant (platform admins and the tenant's admins only)
//! for the page's player, or as a download with `&download=true`.
//!
//! Files live under the console's recordings folder (`--recordings-dir`; `<data>/recordings`
//! in `wharf demo`) as `<namespace>/<session id>.cast`, the id being the session's audit
//! Event, so the audit trail names the recording and the namespace decides which tenant may
//! read it.
//!
//! NB: a folder of files, not the log store. The log store indexes container log *lines* by
//! time for search; a recording is one session's raw terminal bytes with exact timing and
//! resizes, replayed whole, and asciinema's tools read the file as it is. With a log bucket
//! (`--log-bucket`), a finished recording is copied into the bucket and leaves the folder
//! (`wharf_console::terminal::archive`), so every replica replays it; without one, several
//! replicas need the folder on a shared volume.
//!
//! The session tees into a [`Tap`] (an unbounded channel: the keystroke path never waits on
//! the disk); a writer task appends event lines and flushes whenever the channel is empty.
//! The header is written with the first output, so it carries the size the browser set
//! before anything was printed.
//!
//! **Size limit** (`--recording-max-mb`): an event line that would take the file past the
//! limit is not written; in its place goes a last output event saying the recording stopped
//! ([`size_limit_marker`]), and from then on the writer only drains the channel until the
//! session ends — the session itself goes on, never waiting. The file stays valid asciicast v2,
//! at most the limit plus that one line, and the audit record says the recording was truncated.
//!
//! **Retention** ([`super::retention`]) deletes old recordings. The writer holds an exclusive
//! lock (`flock`) on its file for as long as the session lasts; the sweep leaves locked files
//! alone, so it never deletes a recording still being written, by this console or another
//! replica sharing the folder, and a console that died releases its locks with its process.

use crate::live::{refuse, scope_for_socket};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use bytes::Bytes;
use std::path::{Path as FsPath, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use wharf_api::auth::Role;
use wharf_api::terminal::cast::{event_line, size_limit_marker, EventKind, Header, Utf8Stream};
use wharf_api::terminal::RecordingLink;
use wharf_api::text;
use wharf_console::state::AppState;
use wharf_console::terminal::archive::Archive;
use wharf_console::terminal::{recording_path, valid_session_id, Recorded};

enum Rec {
    Output(Bytes),
    Resize(u16, u16),
    End,
}

/// Where a session's output and resizes are teed; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Tap(mpsc::UnboundedSender<(Instant, Rec)>);

impl Tap {
    pub fn output(&self, data: &Bytes) {
        let _ = self.0.send((Instant::now(), Rec::Output(data.clone())));
    }
    pub fn resize(&self, cols: u16, rows: u16) {
        let _ = self.0.send((Instant::now(), Rec::Resize(cols, rows)));
    }
}

/// One session's recording being written.
pub struct Recorder {
    tap: Tap,
    writer: tokio::task::JoinHandle<std::io::Result<Recorded>>,
    path: PathBuf,
    /// Gets the limit when the recording stops at it (see [`Recorder::take_stopped`]).
    stopped: Option<tokio::sync::oneshot::Receiver<u64>>,
    /// Where the finished recording is copied (the log bucket), with its namespace and id.
    archive: Option<(Archive, String, String)>,
}

impl Recorder {
    /// Creates the file (a new one: an id is never reused) and locks it for the session (see
    /// the module's doc), then writes at most `max_bytes` into it (plus the line saying it
    /// stopped; `None`: no limit). An error here means the session cannot be recorded, and the
    /// caller does not open it.
    pub async fn create(
        dir: &FsPath,
        namespace: &str,
        id: &str,
        header: Header,
        max_bytes: Option<u64>,
    ) -> std::io::Result<Recorder> {
        let path = recording_path(dir, namespace, id);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?
            .into_std()
            .await;
        // NB: until this lock the file is new and empty: the sweep neither finds it old nor
        // frees anything by deleting it (it skips empty files), so the gap is harmless.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other(format!(
                    "{} is locked by someone else",
                    path.display()
                )))
            }
            // A folder without file locks: the session is recorded all the same, but the sweep
            // cannot tell it is being written, so it keeps every file there (and says so).
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!(error = %e, path = %path.display(), "a session recording could not be locked")
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
        // NB: in the session's span (user, pod), so what the writer logs says whose recording it is.
        let span = tracing::info_span!("recording", path = %path.display());
        let writer = tokio::spawn(
            write(
                tokio::fs::File::from_std(file),
                header,
                Instant::now(),
                rx,
                max_bytes,
                stopped_tx,
            )
            .instrument(span),
        );
        Ok(Recorder {
            tap: Tap(tx),
            writer,
            path,
            stopped: Some(stopped),
            archive: None,
        })
    }

    /// Copy the recording into `archive` when the session ends (see
    /// `wharf_console::terminal::archive`).
    pub fn archived_to(mut self, archive: Option<&Archive>, namespace: &str, id: &str) -> Self {
        self.archive = archive.map(|a| (a.clone(), namespace.to_string(), id.to_string()));
        self
    }

    pub fn tap(&self) -> Tap {
        self.tap.clone()
    }

    /// Resolves with the size limit if the recording stops at it, so the session can tell its
    /// user (once; the receiver is taken).
    pub fn take_stopped(&mut self) -> Option<tokio::sync::oneshot::Receiver<u64>> {
        self.stopped.take()
    }

    /// Writes what is left, syncs the file and unlocks it. A session that printed nothing (a
    /// container without a shell) leaves no file and answers [`Recorded::No`].
    pub async fn finish(self) -> Recorded {
        let _ = self.tap.0.send((Instant::now(), Rec::End));
        let recorded = match self.writer.await {
            Ok(Ok(recorded)) => recorded,
            Ok(Err(e)) => {
                tracing::error!(error = %e, path = %self.path.display(), "a session recording could not be written to the end");
                Recorded::Truncated
            }
            Err(e) => {
                tracing::error!(error = %e, path = %self.path.display(), "the session recorder failed");
                Recorded::No
            }
        };
        if recorded == Recorded::No {
            let _ = tokio::fs::remove_file(&self.path).await;
        } else if let Some((archive, namespace, id)) = &self.archive {
            // NB: a copy that fails stays on disk and is copied at the console's next start
            if let Err(e) = archive.upload(&self.path, namespace, id).await {
                tracing::error!(error = %e, path = %self.path.display(), "a session recording could not be copied into the log bucket");
            }
        }
        recorded
    }
}

/// The file being written, with what it holds so far.
struct CastFile {
    out: BufWriter<tokio::fs::File>,
    written: u64,
    max_bytes: Option<u64>,
}

impl CastFile {
    async fn line(&mut self, line: &str) -> std::io::Result<()> {
        self.out.write_all(line.as_bytes()).await?;
        self.out.write_all(b"\n").await?;
        self.written += line.len() as u64 + 1;
        Ok(())
    }

    /// Would this line take the file past its limit?
    fn over(&self, line: &str) -> bool {
        self.max_bytes
            .is_some_and(|max| self.written + line.len() as u64 + 1 > max)
    }
}

async fn write(
    file: tokio::fs::File,
    mut header: Header,
    start: Instant,
    mut rx: mpsc::UnboundedReceiver<(Instant, Rec)>,
    max_bytes: Option<u64>,
    stopped: tokio::sync::oneshot::Sender<u64>,
) -> std::io::Result<Recorded> {
    let mut out = CastFile {
        out: BufWriter::new(file),
        written: 0,
        max_bytes,
    };
    let mut text = Utf8Stream::default();
    let mut header_written = false;
    let mut truncated = false;
    let mut last_time = 0.0;
    'session: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some((at, rec)) = next.take() {
            let time = at.saturating_duration_since(start).as_secs_f64();
            let event = match rec {
                Rec::End => break 'session,
                // Before anything is printed a resize is the initial size.
                Rec::Resize(cols, rows) if !header_written => {
                    (header.width, header.height) = (cols, rows);
                    None
                }
                Rec::Resize(cols, rows) => Some(EventKind::Resize { cols, rows }),
                Rec::Output(data) => Some(text.push(&data))
                    .filter(|s| !s.is_empty())
                    .map(EventKind::Output),
            };
            if let Some(event) = event {
                if !header_written {
                    // NB: written even past a limit smaller than itself: a file needs its header.
                    out.line(&serde_json::to_string(&header).unwrap_or_default())
                        .await?;
                    header_written = true;
                }
                if let Some(line) = event_line(time, &event) {
                    if out.over(&line) {
                        let limit = max_bytes.unwrap_or_default();
                        if let Some(marker) =
                            event_line(time, &EventKind::Output(size_limit_marker(limit)))
                        {
                            out.line(&marker).await?;
                        }
                        truncated = true;
                        break 'session;
                    }
                    out.line(&line).await?;
                }
                last_time = time;
            }
            next = rx.try_recv().ok();
        }
        out.out.flush().await?;
    }
    if truncated {
        out.out.flush().await?;
        tracing::info!(
            limit_bytes = max_bytes.unwrap_or_default(),
            "a session recording reached its size limit and stopped; the session goes on"
        );
        let _ = stopped.send(max_bytes.unwrap_or_default());
        // The rest of the session is not recorded; its output is taken and dropped (the tap
        // never waits) until the session ends, and the file stays locked until then.
        while let Some((_, rec)) = rx.recv().await {
            if matches!(rec, Rec::End) {
                break;
            }
        }
    } else {
        let rest = text.finish();
        if header_written && !rest.is_empty() {
            if let Some(line) = event_line(last_time, &EventKind::Output(rest)) {
                // NB: at most three bytes of an unfinished character: not worth a marker.
                out.line(&line).await?;
            }
        }
    }
    out.out.flush().await?;
    out.out.get_ref().sync_all().await?;
    Ok(match (header_written, truncated) {
        (false, _) => Recorded::No,
        (true, false) => Recorded::Whole,
        (true, true) => Recorded::Truncated,
    })
}

/// `GET /recordings/terminal/{tenant}?ns=..&session=..[&download=true]`: admins of the tenant.
pub async fn serve(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<RecordingLink>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    // NB: the check comes before anything else is looked at, so a stranger learns only 401.
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Admin) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let Ok(Query(link)) = link else {
        return (
            StatusCode::BAD_REQUEST,
            "expected ?ns=NAMESPACE&session=SESSION_ID[&download=true]",
        )
            .into_response();
    };
    if let Err(e) = scope.namespace(&link.ns) {
        return refuse(e);
    }
    if !valid_session_id(&link.session) {
        let session = &link.session;
        return (
            StatusCode::BAD_REQUEST,
            Json(text!(
                "session: '{session}' is not a session id",
                "会话:“{session}”不是会话 ID"
            )),
        )
            .into_response();
    }
    let Some(dir) = state.settings.terminal.recordings.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            Json(text!(
                "This console does not record sessions (see --recordings-dir).",
                "本控制台不录制会话(见 --recordings-dir)。"
            )),
        )
            .into_response();
    };
    let path = recording_path(dir, &link.ns, &link.session);
    let body = match tokio::fs::File::open(&path).await {
        Ok(file) => {
            let len = file.metadata().await.map(|m| m.len()).unwrap_or_default();
            (len, file_body(file, len))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let archive = state.settings.terminal.archive.as_ref();
            match from_archive(archive, &link.ns, &link.session).await {
                Ok(Some(bytes)) => (bytes.len() as u64, Body::from(bytes)),
                Ok(None) => {
                    let (session, ns) = (&link.session, &link.ns);
                    return (
                        StatusCode::NOT_FOUND,
                        Json(text!(
                            "No recording of session {session} in namespace {ns}.",
                            "命名空间 {ns} 中没有会话 {session} 的录像。"
                        )),
                    )
                        .into_response();
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading a session recording from the log bucket");
                    return (
                        StatusCode::BAD_GATEWAY,
                        Json(text!(
                            "The recording could not be read from the log bucket; try again later.",
                            "无法从日志存储桶读取录像,请稍后重试。"
                        )),
                    )
                        .into_response();
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "reading a session recording");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(text!("The recording could not be read.", "无法读取录像。")),
            )
                .into_response();
        }
    };
    let (len, body) = body;
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %link.ns, session = %link.session, download = link.download, "terminal recording read");
    let disposition = if link.download {
        format!("attachment; filename=\"{}.cast\"", link.session)
    } else {
        "inline".to_string()
    };
    (
        [
            (header::CONTENT_TYPE, "application/x-asciicast".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// A finished recording's bytes from the log bucket, if the console has one and it holds it.
async fn from_archive(
    archive: Option<&Archive>,
    namespace: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, String> {
    match archive {
        Some(a) => a.read(namespace, id).await,
        None => Ok(None),
    }
}

/// The first `len` bytes of a local recording, streamed (a file that grows meanwhile, its
/// session still going, is cut there: the length was promised).
pub(crate) fn file_body(file: tokio::fs::File, len: u64) -> Body {
    Body::from_stream(futures::stream::unfold(
        (file, len),
        |(mut file, left)| async move {
            if left == 0 {
                return None;
            }
            let mut buf = vec![0u8; 64 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    let n = n.min(left as usize);
                    buf.truncate(n);
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from(buf)),
                        (file, left - n as u64),
                    ))
                }
                Err(e) => Some((Err(e), (file, 0))),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_api::terminal::cast::{parse, Event};

    #[tokio::test]
    async fn a_session_is_written_as_asciicast_with_its_first_size_and_resizes() {
        let dir = tempfile_dir();
        let rec = Recorder::create(
            &dir,
            "alpha",
            "wharf-session-abc",
            Header::new(80, 24, 1_700_000_000, "alice: alpha/web-1 (app)".into()),
            None,
        )
        .await
        .unwrap();
        let tap = rec.tap();
        tap.resize(120, 40);
        tap.output(&Bytes::from_static(b"$ echo \xe6\x97"));
        tap.output(&Bytes::from_static(b"\xa5\r\n"));
        tap.resize(100, 30);
        tap.output(&Bytes::from_static(b"42\r\n"));
        assert_eq!(rec.finish().await, Recorded::Whole);
        let cast = parse(
            &std::fs::read_to_string(recording_path(&dir, "alpha", "wharf-session-abc")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (cast.header.width, cast.header.height),
            (120, 40),
            "the size before the first output is the header's"
        );
        assert_eq!(
            cast.header.title.as_deref(),
            Some("alice: alpha/web-1 (app)")
        );
        let kinds: Vec<&EventKind> = cast.events.iter().map(|e: &Event| &e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &EventKind::Output("$ echo ".into()),
                &EventKind::Output("日\r\n".into()),
                &EventKind::Resize {
                    cols: 100,
                    rows: 30
                },
                &EventKind::Output("42\r\n".into())
            ]
        );
        assert!(
            cast.events.windows(2).all(|w| w[0].time <= w[1].time),
            "times only grow"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_session_that_printed_nothing_leaves_no_file_and_ids_are_never_reused() {
        let dir = tempfile_dir();
        let header = || Header::new(80, 24, 0, "t".into());
        let rec = Recorder::create(&dir, "alpha", "wharf-session-x", header(), None)
            .await
            .unwrap();
        rec.tap().resize(90, 20);
        assert_eq!(rec.finish().await, Recorded::No);
        assert!(!recording_path(&dir, "alpha", "wharf-session-x").exists());
        let rec = Recorder::create(&dir, "alpha", "wharf-session-y", header(), None)
            .await
            .unwrap();
        assert!(
            Recorder::create(&dir, "alpha", "wharf-session-y", header(), None)
                .await
                .is_err()
        );
        rec.tap().output(&Bytes::from_static(b"x"));
        assert_eq!(rec.finish().await, Recorded::Whole);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_recording_stops_at_its_size_limit_with_a_marker_and_stays_valid() {
        let dir = tempfile_dir();
        let limit = 2_000;
        let rec = Recorder::create(
            &dir,
            "alpha",
            "wharf-session-big",
            Header::new(80, 24, 0, "big".into()),
            Some(limit),
        )
        .await
        .unwrap();
        let tap = rec.tap();
        // 100 chunks of 100 bytes: five times the limit
        for i in 0..100 {
            tap.output(&Bytes::from(format!("line {i:03} {}\r\n", "x".repeat(88))));
            if i == 50 {
                tap.resize(100, 30);
            }
        }
        assert_eq!(rec.finish().await, Recorded::Truncated);
        let text =
            std::fs::read_to_string(recording_path(&dir, "alpha", "wharf-session-big")).unwrap();
        let cast = parse(&text).expect("a valid asciicast v2 file");
        let marker = size_limit_marker(limit);
        assert_eq!(
            marker,
            "\r\n[recording stopped: size limit 2000 bytes reached]\r\n"
        );
        let last = cast.events.last().unwrap();
        assert_eq!(
            last.kind,
            EventKind::Output(marker.clone()),
            "it ends with the marker"
        );
        let marker_line = event_line(last.time, &last.kind).unwrap().len() as u64 + 1;
        assert!(
            text.len() as u64 <= limit + marker_line,
            "{} bytes for a limit of {limit}",
            text.len()
        );
        // What is there is the start of the session, in order, nothing after the marker.
        let outputs: Vec<&EventKind> = cast.events.iter().map(|e| &e.kind).collect();
        assert!(outputs.len() > 5, "{outputs:?}");
        assert!(
            matches!(outputs[0], EventKind::Output(t) if t.starts_with("line 000")),
            "{outputs:?}"
        );
        assert!(
            !outputs.contains(&&EventKind::Resize {
                cols: 100,
                rows: 30
            }),
            "nothing past the limit is written"
        );
        assert!(
            text.ends_with('\n')
                && text
                    .lines()
                    .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
            "every line is whole JSON"
        );

        // Under the limit a session is whole, without a marker.
        let rec = Recorder::create(
            &dir,
            "alpha",
            "wharf-session-small",
            Header::new(80, 24, 0, "small".into()),
            Some(limit),
        )
        .await
        .unwrap();
        rec.tap().output(&Bytes::from_static(b"ok\r\n"));
        assert_eq!(rec.finish().await, Recorded::Whole);
        let small =
            std::fs::read_to_string(recording_path(&dir, "alpha", "wharf-session-small")).unwrap();
        assert!(!small.contains("recording stopped"), "{small}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_file_is_locked_while_the_session_lasts() {
        let dir = tempfile_dir();
        let rec = Recorder::create(
            &dir,
            "alpha",
            "wharf-session-l",
            Header::new(80, 24, 0, "t".into()),
            None,
        )
        .await
        .unwrap();
        rec.tap().output(&Bytes::from_static(b"x"));
        let path = recording_path(&dir, "alpha", "wharf-session-l");
        let other = std::fs::File::open(&path).unwrap();
        assert!(
            matches!(
                other.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            ),
            "locked while written"
        );
        assert_eq!(rec.finish().await, Recorded::Whole);
        other
            .try_lock_shared()
            .expect("unlocked when the session ends");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wharf-rec-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
