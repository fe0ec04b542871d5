//! A terminal pane's side of the socket protocol (`crate::terminal`), as a state machine with
//! no browser in it: the pane's wiring (`pages/terminal.rs`, xterm.js and a `WebSocket`)
//! turns what happens into an [`Event`], hands it to [`Session::step`], and does the [`Do`]s
//! it gets back; the pane shows [`Session::conn`] and [`Session::warning`]. So every decision —
//! when to ask the server why a socket closed, what a control message means for the pane,
//! what a Reconnect does — is tested here on the host, without a browser.
//!
//! One session after the other: before each socket the pane asks `terminal_check` (a refused
//! handshake reaches a browser as a bare close, without its reason); a socket that closes
//! before the shell ended is asked about again, to tell a refusal (the pod is gone) from a
//! broken connection.

use crate::terminal::ServerControl;
use wharf_api::Text;

/// A pane's connection, as shown above its terminal (and in `data-state` for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    /// A debug container is being added and started.
    Preparing(Text),
    /// The shell runs; `recording`: whether its output is recorded, and `Some(limit)` once the
    /// recording stopped at its size limit (bytes).
    Live {
        shell: String,
        recording: bool,
        stopped_at: Option<u64>,
    },
    /// No terminal may be opened here; the sentence says why (not allowed, no such pod...).
    Refused(Text),
    /// The container has no shell: a debug container is offered.
    NoShell {
        container: String,
        tried: Vec<String>,
        image: String,
    },
    /// The socket closed without the shell exiting.
    Lost,
    Exited(i32),
    IdleClosed(u64),
    Failed(Text),
}

impl Conn {
    pub fn state(&self) -> &'static str {
        match self {
            Conn::Connecting => "connecting",
            Conn::Preparing(_) => "preparing",
            Conn::Live { .. } => "live",
            Conn::Refused(_) => "refused",
            Conn::NoShell { .. } => "no-shell",
            Conn::Lost => "lost",
            Conn::Exited(_) => "exited",
            Conn::IdleClosed(_) => "idle",
            Conn::Failed(_) => "failed",
        }
    }
}

/// What happened to the pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The answer to [`Do::Check`]: `Some(why)` no terminal may be opened, `None` one may.
    Checked(Option<Text>),
    /// The socket asked for by [`Do::Open`] is open.
    Opened,
    /// A text frame: one JSON control message.
    Control(String),
    /// The socket closed (or could not be opened).
    Closed,
    /// The user typed (keys or a paste).
    Typed,
    /// The user asked for a new session.
    Reconnect,
    /// The user asked for a debug container (the container has no shell).
    StartDebug,
}

/// What the wiring must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Do {
    /// Write this to the terminal (escape sequences included).
    Write(String),
    /// Ask `terminal_check` and hand the answer back as [`Event::Checked`].
    Check,
    /// Open a socket (`debug`: into a debug container) at the terminal's current size.
    Open { debug: bool },
    /// Fit the terminal to its box and send the server its size.
    SendSize,
    /// Close the socket (without reporting [`Event::Closed`] for it).
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Asking before opening a socket.
    Checking,
    /// A socket is opening or open.
    Socket,
    /// Asking why a socket closed.
    Asking,
    /// No socket: waiting for the user (Reconnect, a debug container).
    Waiting,
}

/// One pane's sessions, one after the other.
#[derive(Clone, Debug)]
pub struct Session {
    conn: Conn,
    warning: Option<u64>,
    phase: Phase,
    /// The server said how the session ended, so a close is expected.
    ended: bool,
    /// Once asked for, every later session is in a debug container too.
    debug: bool,
    /// The server's sentences are written into the terminal in Chinese (else English).
    pub zh: bool,
}

impl Session {
    /// A new pane and what it does first (ask whether it may open a terminal).
    pub fn start() -> (Session, Vec<Do>) {
        (
            Session {
                conn: Conn::Connecting,
                warning: None,
                phase: Phase::Checking,
                ended: false,
                debug: false,
                zh: false,
            },
            vec![Do::Check],
        )
    }

    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// `Some(seconds)` while the server warns that the session closes for lack of input.
    pub fn warning(&self) -> Option<u64> {
        self.warning
    }

    pub fn step(&mut self, event: Event) -> Vec<Do> {
        match (self.phase, event) {
            (_, Event::Typed) => {
                self.warning = None;
                vec![]
            }
            (Phase::Checking, Event::Checked(None)) => {
                self.phase = Phase::Socket;
                vec![Do::Open { debug: self.debug }]
            }
            (Phase::Checking | Phase::Asking, Event::Checked(Some(why))) => {
                self.phase = Phase::Waiting;
                let write = Do::Write(format!("\r\n\x1b[31m{}\x1b[0m\r\n", why.pick(self.zh)));
                self.conn = Conn::Refused(why);
                vec![write]
            }
            (Phase::Asking, Event::Checked(None)) => {
                self.phase = Phase::Waiting;
                self.conn = Conn::Lost;
                vec![Do::Write("\r\n\x1b[33m[connection lost]\x1b[0m\r\n".into())]
            }
            (Phase::Socket, Event::Opened) => vec![Do::SendSize],
            (Phase::Socket, Event::Control(text)) => {
                match serde_json::from_str::<ServerControl>(&text) {
                    Ok(control) => self.control(control),
                    Err(_) => vec![],
                }
            }
            (Phase::Socket, Event::Closed) if self.ended => {
                self.phase = Phase::Waiting;
                vec![]
            }
            // Refused, or broken mid-session: the check tells which (the pod may be gone).
            (Phase::Socket, Event::Closed) => {
                self.phase = Phase::Asking;
                vec![Do::Check]
            }
            (
                phase @ (Phase::Socket | Phase::Waiting),
                ev @ (Event::Reconnect | Event::StartDebug),
            ) => {
                self.debug |= ev == Event::StartDebug;
                let mut todo = Vec::new();
                let note = if phase == Phase::Socket {
                    todo.push(Do::Close);
                    "[reconnecting…]"
                } else if self.debug {
                    "[starting a debug container…]"
                } else {
                    "[reconnecting…]"
                };
                todo.push(Do::Write(format!("\r\n\x1b[2m{note}\x1b[0m\r\n")));
                todo.push(Do::Check);
                self.phase = Phase::Checking;
                self.conn = Conn::Connecting;
                self.warning = None;
                self.ended = false;
                todo
            }
            // Anything else is late (a frame of a socket already left) or not for now.
            _ => vec![],
        }
    }

    fn control(&mut self, control: ServerControl) -> Vec<Do> {
        match control {
            ServerControl::Started {
                shell, recording, ..
            } => {
                self.conn = Conn::Live {
                    shell,
                    recording,
                    stopped_at: None,
                };
                vec![]
            }
            ServerControl::Preparing { message } => {
                let write = Do::Write(format!("\x1b[2m{}\x1b[0m\r\n", message.pick(self.zh)));
                self.conn = Conn::Preparing(message);
                vec![write]
            }
            ServerControl::NoShell {
                container,
                tried,
                debug_image,
            } => {
                self.ended = true;
                let write = Do::Write(format!(
                    "\r\n\x1b[33mContainer {container} has no shell (tried {}).\x1b[0m\r\n",
                    tried.join(", ")
                ));
                self.conn = Conn::NoShell {
                    container,
                    tried,
                    image: debug_image,
                };
                vec![write]
            }
            ServerControl::IdleWarning { closes_in_secs } => {
                self.warning = Some(closes_in_secs);
                vec![]
            }
            ServerControl::RecordingStopped { limit_bytes } => {
                if let Conn::Live { stopped_at, .. } = &mut self.conn {
                    *stopped_at = Some(limit_bytes);
                }
                vec![]
            }
            ServerControl::IdleClosed { idle_secs } => {
                self.ended = true;
                self.warning = None;
                self.conn = Conn::IdleClosed(idle_secs);
                vec![]
            }
            ServerControl::Exit { code } => {
                self.ended = true;
                self.conn = Conn::Exited(code);
                vec![Do::Write(format!(
                    "\r\n\x1b[2m[exited with code {code}]\x1b[0m\r\n"
                ))]
            }
            ServerControl::Error { message } => {
                self.ended = true;
                let write = Do::Write(format!("\r\n\x1b[31m{}\x1b[0m\r\n", message.pick(self.zh)));
                self.conn = Conn::Failed(message);
                vec![write]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(c: ServerControl) -> Event {
        Event::Control(serde_json::to_string(&c).unwrap())
    }

    fn started() -> ServerControl {
        ServerControl::Started {
            container: "app".into(),
            shell: "/bin/sh".into(),
            idle_timeout_secs: 900,
            debug_image: None,
            recording: true,
        }
    }

    /// A pane whose first socket is open and whose shell started.
    fn live() -> Session {
        let (mut s, first) = Session::start();
        assert_eq!(first, vec![Do::Check]);
        assert_eq!(
            s.step(Event::Checked(None)),
            vec![Do::Open { debug: false }]
        );
        assert_eq!(s.step(Event::Opened), vec![Do::SendSize]);
        assert_eq!(s.step(control(started())), vec![]);
        s
    }

    #[test]
    fn a_session_starts_after_the_check_and_goes_live() {
        let s = live();
        assert_eq!(
            s.conn(),
            &Conn::Live {
                shell: "/bin/sh".into(),
                recording: true,
                stopped_at: None
            }
        );
        assert_eq!(s.conn().state(), "live");
    }

    #[test]
    fn a_refusal_before_the_socket_is_shown_and_nothing_is_opened() {
        let (mut s, _) = Session::start();
        let todo = s.step(Event::Checked(Some(Text::verbatim(
            "Not allowed to open a terminal here: viewer.",
        ))));
        assert_eq!(
            s.conn(),
            &Conn::Refused(Text::verbatim(
                "Not allowed to open a terminal here: viewer."
            ))
        );
        assert!(matches!(&todo[..], [Do::Write(w)] if w.contains("Not allowed")));
        // a late frame changes nothing
        assert_eq!(s.step(control(started())), vec![]);
        assert_eq!(s.conn().state(), "refused");
    }

    #[test]
    fn the_idle_warning_goes_with_a_key_and_the_recording_stop_is_kept() {
        let mut s = live();
        s.step(control(ServerControl::IdleWarning { closes_in_secs: 60 }));
        assert_eq!(s.warning(), Some(60));
        s.step(Event::Typed);
        assert_eq!(s.warning(), None);
        s.step(control(ServerControl::RecordingStopped {
            limit_bytes: 1 << 20,
        }));
        assert_eq!(
            s.conn(),
            &Conn::Live {
                shell: "/bin/sh".into(),
                recording: true,
                stopped_at: Some(1 << 20)
            }
        );
    }

    #[test]
    fn an_exit_is_said_and_the_close_after_it_is_expected() {
        let mut s = live();
        let todo = s.step(control(ServerControl::Exit { code: 3 }));
        assert_eq!(
            todo,
            vec![Do::Write(
                "\r\n\x1b[2m[exited with code 3]\x1b[0m\r\n".into()
            )]
        );
        assert_eq!(
            s.step(Event::Closed),
            vec![],
            "no check after an announced end"
        );
        assert_eq!(s.conn(), &Conn::Exited(3));
    }

    #[test]
    fn an_unexpected_close_is_asked_about_lost_or_refused() {
        let mut s = live();
        assert_eq!(s.step(Event::Closed), vec![Do::Check]);
        let todo = s.step(Event::Checked(None));
        assert_eq!(s.conn(), &Conn::Lost);
        assert!(matches!(&todo[..], [Do::Write(w)] if w.contains("[connection lost]")));

        let mut s = live();
        s.step(Event::Closed);
        s.step(Event::Checked(Some(Text::verbatim(
            "No terminal: pod 'web-1' does not exist (any more).",
        ))));
        assert_eq!(s.conn().state(), "refused");
    }

    #[test]
    fn idle_close_and_errors_end_the_session() {
        let mut s = live();
        s.step(control(ServerControl::IdleWarning { closes_in_secs: 10 }));
        s.step(control(ServerControl::IdleClosed { idle_secs: 900 }));
        assert_eq!((s.conn(), s.warning()), (&Conn::IdleClosed(900), None));
        assert_eq!(s.step(Event::Closed), vec![]);

        let mut s = live();
        let todo = s.step(control(ServerControl::Error {
            message: Text::verbatim("exec failed"),
        }));
        assert_eq!(s.conn(), &Conn::Failed(Text::verbatim("exec failed")));
        assert!(matches!(&todo[..], [Do::Write(w)] if w.contains("exec failed")));
    }

    #[test]
    fn no_shell_offers_a_debug_container_and_every_later_session_is_one() {
        let (mut s, _) = Session::start();
        s.step(Event::Checked(None));
        s.step(Event::Opened);
        s.step(control(ServerControl::NoShell {
            container: "app".into(),
            tried: vec!["/bin/bash".into(), "/bin/sh".into()],
            debug_image: "busybox".into(),
        }));
        assert_eq!(s.conn().state(), "no-shell");
        assert_eq!(s.step(Event::Closed), vec![]);
        let todo = s.step(Event::StartDebug);
        assert_eq!(
            todo,
            vec![
                Do::Write("\r\n\x1b[2m[starting a debug container…]\x1b[0m\r\n".into()),
                Do::Check
            ]
        );
        assert_eq!(s.conn(), &Conn::Connecting);
        assert_eq!(s.step(Event::Checked(None)), vec![Do::Open { debug: true }]);
        s.step(control(ServerControl::Preparing {
            message: Text::verbatim("starting a debug container"),
        }));
        assert_eq!(s.conn().state(), "preparing");
        s.step(control(started()));
        // Reconnect while live: the socket is closed first, and the next one is a debug one again.
        let todo = s.step(Event::Reconnect);
        assert_eq!(todo[0], Do::Close);
        assert_eq!(todo.last(), Some(&Do::Check));
        assert_eq!(s.step(Event::Checked(None)), vec![Do::Open { debug: true }]);
    }

    #[test]
    fn a_control_message_it_does_not_know_is_ignored() {
        let mut s = live();
        assert_eq!(
            s.step(Event::Control("{\"type\":\"from_the_future\"}".into())),
            vec![]
        );
        assert_eq!(s.step(Event::Control("not json".into())), vec![]);
        assert_eq!(s.conn().state(), "live");
    }

    #[test]
    fn buttons_pressed_while_asking_are_ignored() {
        let (mut s, _) = Session::start();
        assert_eq!(s.step(Event::Reconnect), vec![]);
        assert_eq!(
            s.step(Event::Checked(None)),
            vec![Do::Open { debug: false }]
        );
    }
}
