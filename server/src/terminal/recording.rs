//! Session recordings: a terminal session's output kept as an asciicast v2 file (format:
//! `wharf_app::terminal::cast`), and `GET /recordings/terminal/{tenant}?ns=..&session=..`
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
//! resizes, replayed whole, and asciinema's tools read the file as it is. Several console
//! replicas need the folder on a shared volume.
//!
//! The session tees into a [`Tap`] (an unbounded channel: the keystroke path never waits on
//! the disk); a writer task appends event lines and flushes whenever the channel is empty.
//! The header is written with the first output, so it carries the size the browser set
//! before anything was printed.

use crate::live::{refuse, scope_for_socket};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::path::{Path as FsPath, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::time::Instant;
use wharf_app::auth::Role;
use wharf_app::state::AppState;
use wharf_app::terminal::cast::{event_line, EventKind, Header, Utf8Stream};
use wharf_app::terminal::RecordingLink;

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
    writer: tokio::task::JoinHandle<std::io::Result<bool>>,
    path: PathBuf,
}

/// The file of session `id` in `namespace`.
pub fn path_of(dir: &FsPath, namespace: &str, id: &str) -> PathBuf {
    dir.join(namespace).join(format!("{id}.cast"))
}

impl Recorder {
    /// Creates the file (a new one: an id is never reused). An error here means the session
    /// cannot be recorded, and the caller does not open it.
    pub async fn create(dir: &FsPath, namespace: &str, id: &str, header: Header) -> std::io::Result<Recorder> {
        let path = path_of(dir, namespace, id);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write(file, header, Instant::now(), rx));
        Ok(Recorder { tap: Tap(tx), writer, path })
    }

    pub fn tap(&self) -> Tap {
        self.tap.clone()
    }

    /// Writes what is left and syncs the file. `true` when it holds a recording; a session
    /// that printed nothing (a container without a shell) leaves no file.
    pub async fn finish(self) -> bool {
        let _ = self.tap.0.send((Instant::now(), Rec::End));
        let kept = match self.writer.await {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::error!(error = %e, path = %self.path.display(), "a session recording could not be written to the end");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, path = %self.path.display(), "the session recorder failed");
                false
            }
        };
        if !kept {
            let _ = tokio::fs::remove_file(&self.path).await;
        }
        kept
    }
}

async fn write(file: tokio::fs::File, mut header: Header, start: Instant, mut rx: mpsc::UnboundedReceiver<(Instant, Rec)>) -> std::io::Result<bool> {
    let mut out = BufWriter::new(file);
    let mut text = Utf8Stream::default();
    let mut header_written = false;
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
                Rec::Output(data) => Some(text.push(&data)).filter(|s| !s.is_empty()).map(EventKind::Output),
            };
            if let Some(event) = event {
                if !header_written {
                    out.write_all(serde_json::to_string(&header).unwrap_or_default().as_bytes()).await?;
                    out.write_all(b"\n").await?;
                    header_written = true;
                }
                if let Some(line) = event_line(time, &event) {
                    out.write_all(line.as_bytes()).await?;
                    out.write_all(b"\n").await?;
                }
                last_time = time;
            }
            next = rx.try_recv().ok();
        }
        out.flush().await?;
    }
    let rest = text.finish();
    if header_written && !rest.is_empty() {
        if let Some(line) = event_line(last_time, &EventKind::Output(rest)) {
            out.write_all(line.as_bytes()).await?;
            out.write_all(b"\n").await?;
        }
    }
    out.flush().await?;
    out.get_ref().sync_all().await?;
    Ok(header_written)
}

/// A session id as the audit trail makes them (`wharf-session-…`): nothing a path could abuse.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 253 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !id.starts_with('-')
}

/// `GET /recordings/terminal/{tenant}?ns=..&session=..[&download=true]`: admins of the tenant.
pub async fn serve(State(state): State<AppState>, Path(tenant): Path<String>, link: Result<Query<RecordingLink>, QueryRejection>, headers: HeaderMap) -> Response {
    // NB: the check comes before anything else is looked at, so a stranger learns only 401.
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Admin) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let Ok(Query(link)) = link else {
        return (StatusCode::BAD_REQUEST, "expected ?ns=NAMESPACE&session=SESSION_ID[&download=true]").into_response();
    };
    if let Err(e) = scope.namespace(&link.ns) {
        return refuse(e);
    }
    if !valid_id(&link.session) {
        return (StatusCode::BAD_REQUEST, format!("session: '{}' is not a session id", link.session)).into_response();
    }
    let Some(dir) = state.settings.terminal.recordings.as_deref() else {
        return (StatusCode::NOT_FOUND, "This console does not record sessions (see --recordings-dir).").into_response();
    };
    let path = path_of(dir, &link.ns, &link.session);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (StatusCode::NOT_FOUND, format!("No recording of session {} in namespace {}.", link.session, link.ns)).into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "reading a session recording");
            return (StatusCode::INTERNAL_SERVER_ERROR, "The recording could not be read.").into_response();
        }
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or_default();
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %link.ns, session = %link.session, download = link.download, "terminal recording read");
    let body = Body::from_stream(futures::stream::unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                // NB: the length was promised; a file that grew meanwhile is cut there.
                let n = n.min(left as usize);
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    }));
    let disposition = if link.download { format!("attachment; filename=\"{}.cast\"", link.session) } else { "inline".to_string() };
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

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_app::terminal::cast::{parse, Event};

    #[tokio::test]
    async fn a_session_is_written_as_asciicast_with_its_first_size_and_resizes() {
        let dir = tempfile_dir();
        let rec = Recorder::create(&dir, "alpha", "wharf-session-abc", Header::new(80, 24, 1_700_000_000, "alice: alpha/web-1 (app)".into())).await.unwrap();
        let tap = rec.tap();
        tap.resize(120, 40);
        tap.output(&Bytes::from_static(b"$ echo \xe6\x97"));
        tap.output(&Bytes::from_static(b"\xa5\r\n"));
        tap.resize(100, 30);
        tap.output(&Bytes::from_static(b"42\r\n"));
        assert!(rec.finish().await);
        let cast = parse(&std::fs::read_to_string(path_of(&dir, "alpha", "wharf-session-abc")).unwrap()).unwrap();
        assert_eq!((cast.header.width, cast.header.height), (120, 40), "the size before the first output is the header's");
        assert_eq!(cast.header.title.as_deref(), Some("alice: alpha/web-1 (app)"));
        let kinds: Vec<&EventKind> = cast.events.iter().map(|e: &Event| &e.kind).collect();
        assert_eq!(
            kinds,
            vec![&EventKind::Output("$ echo ".into()), &EventKind::Output("日\r\n".into()), &EventKind::Resize { cols: 100, rows: 30 }, &EventKind::Output("42\r\n".into())]
        );
        assert!(cast.events.windows(2).all(|w| w[0].time <= w[1].time), "times only grow");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_session_that_printed_nothing_leaves_no_file_and_ids_are_never_reused() {
        let dir = tempfile_dir();
        let header = || Header::new(80, 24, 0, "t".into());
        let rec = Recorder::create(&dir, "alpha", "wharf-session-x", header()).await.unwrap();
        rec.tap().resize(90, 20);
        assert!(!rec.finish().await);
        assert!(!path_of(&dir, "alpha", "wharf-session-x").exists());
        let rec = Recorder::create(&dir, "alpha", "wharf-session-y", header()).await.unwrap();
        assert!(Recorder::create(&dir, "alpha", "wharf-session-y", header()).await.is_err());
        rec.tap().output(&Bytes::from_static(b"x"));
        assert!(rec.finish().await);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids_cannot_leave_the_folder() {
        assert!(valid_id("wharf-session-abcdefghij"));
        for bad in ["", "../x", "a/b", "A", "-x", "x.cast"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("wharf-rec-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
