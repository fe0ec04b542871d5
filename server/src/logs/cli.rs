//! `wharf logs …`: the operators' commands on a log store.
//!
//! * `wharf logs query --data STORE --ns N [--pod P] [--container C] --from T --to T [--grep RE] [--limit N]`
//!   prints `<RFC3339Nano> <namespace>/<pod>/<container> <text>` per line, in time order
//!   (the text's bytes as stored, so the output compares byte for byte with other tools).
//! * `wharf logs ingest --cri-dir DIR --data STORE [--follow]` reads the kubelet's CRI log
//!   files into the store; again adds nothing twice; `--follow` keeps polling until Ctrl-C.
//!
//! Bad input (a time that does not parse, from after to, a bad regex, a missing folder) is
//! one clear sentence on stderr and exit code 2, like clap's own usage errors.
//!
//! `query` opens the store read-only: it may run beside a console writing the same folder and
//! changes nothing; `ingest` is a writer, refused while another writer holds the folder.

use anyhow::Context;
use clap::Subcommand;
use logstore::{write_line, Config, Filter, Query, Store, StreamSelector, Timestamp};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum LogsCommand {
    /// Print the lines of a time range [from, to), in time order.
    Query {
        /// The log store's folder.
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        ns: String,
        #[arg(long)]
        pod: Option<String>,
        #[arg(long)]
        container: Option<String>,
        /// RFC 3339, inclusive, e.g. 2024-05-01T10:02:00Z.
        #[arg(long)]
        from: String,
        /// RFC 3339, exclusive.
        #[arg(long)]
        to: String,
        /// Only lines matching this regular expression.
        #[arg(long)]
        grep: Option<String>,
        /// At most this many lines (the first ones of the range).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Run as a node's log agent: the kubelet's CRI files into a store on the node, shipped
    /// into the shared log bucket (a DaemonSet: deploy/log-agent.yaml).
    Agent(super::agent::AgentArgs),
    /// Ingest the kubelet's CRI log files (DIR/<ns>_<pod>_<uid>/<container>/<n>.log…).
    Ingest {
        #[arg(long)]
        cri_dir: PathBuf,
        #[arg(long)]
        data: PathBuf,
        /// Keep following new lines (rotation included) until Ctrl-C.
        #[arg(long)]
        follow: bool,
    },
}

/// How a command failed: the user's input (exit 2) or something else (exit 1).
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

fn usage_or_failure(e: logstore::Error) -> CliError {
    use logstore::Error as E;
    match e {
        E::InvalidRange { .. }
        | E::BadTime { .. }
        | E::InvalidRegex { .. }
        | E::InvalidSelector { .. }
        | E::InvalidKey(_)
        | E::InvalidCursor(_) => CliError::Usage(e.to_string()),
        other => CliError::Failed(other.into()),
    }
}

pub async fn run(cmd: LogsCommand) -> Result<(), CliError> {
    match cmd {
        LogsCommand::Agent(args) => {
            let client = crate::kube_client(args.kubeconfig.clone()).await?;
            Ok(super::agent::run(client, args, crate::application::stop_signal()).await?)
        }
        LogsCommand::Query {
            data,
            ns,
            pod,
            container,
            from,
            to,
            grep,
            limit,
        } => {
            let query = query_of(&ns, pod, container, &from, &to, grep)?;
            let store = open_existing(&data)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            match print(&store, query, limit, &mut out) {
                Err(CliError::Failed(e)) if is_broken_pipe(&e) => Ok(()),
                other => other,
            }
        }
        LogsCommand::Ingest {
            cri_dir,
            data,
            follow,
        } => {
            if !cri_dir.is_dir() {
                return Err(CliError::Usage(format!(
                    "--cri-dir {}: not a folder",
                    cri_dir.display()
                )));
            }
            let store = Store::open_path(&data, Config::default())
                .with_context(|| format!("opening the log store {}", data.display()))?;
            let report = if follow {
                eprintln!(
                    "following {} into {} (Ctrl-C stops)",
                    cri_dir.display(),
                    data.display()
                );
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                logstore::cri::follow(&cri_dir, store.clone(), Duration::from_secs(1), shutdown)
                    .await
                    .map_err(usage_or_failure)?
            } else {
                let (dir, s) = (cri_dir.clone(), store.clone());
                tokio::task::spawn_blocking(move || logstore::cri::ingest_dir(&dir, &s))
                    .await
                    .context("ingest task")?
                    .map_err(usage_or_failure)?
            };
            store.flush().map_err(usage_or_failure)?;
            eprintln!(
                "ingested {} lines from {} files ({} already stored, {} bad records{})",
                report.lines_appended,
                report.files_read,
                report.lines_skipped,
                report.bad_lines,
                report
                    .first_error
                    .map(|e| format!("; first: {e}"))
                    .unwrap_or_default()
            );
            Ok(())
        }
    }
}

/// The store query for the command line's arguments; every input error is a `Usage`.
pub fn query_of(
    ns: &str,
    pod: Option<String>,
    container: Option<String>,
    from: &str,
    to: &str,
    grep: Option<String>,
) -> Result<Query, CliError> {
    let time = |flag: &str, v: &str| {
        Timestamp::parse_rfc3339(v.trim()).map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
    };
    let (from, to) = (time("from", from)?, time("to", to)?);
    if from > to {
        return Err(CliError::Usage(format!(
            "--from ({from}) is after --to ({to})"
        )));
    }
    if let Some(re) = &grep {
        regex::bytes::Regex::new(re).map_err(|e| {
            CliError::Usage(format!(
                "--grep: invalid regular expression {re:?}: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .trim_start_matches("error: ")
            ))
        })?;
    }
    let mut selector = StreamSelector::namespaces([ns]);
    selector.pod = pod;
    selector.container = container;
    let mut q = Query::new(selector).range(from, to);
    q.filter = grep.map(Filter::Regex);
    Ok(q)
}

/// The store at `data`, opened to read: a console writing it goes on undisturbed.
fn open_existing(data: &Path) -> Result<Store, CliError> {
    if !data.join("manifest.json").is_file() {
        return Err(CliError::Usage(format!(
            "--data {}: no log store there",
            data.display()
        )));
    }
    Ok(Store::open_path_read_only(data, Config::default())
        .with_context(|| format!("opening the log store {}", data.display()))?)
}

/// Prints the query's lines a page at a time (memory stays flat however long the range).
pub fn print(
    store: &Store,
    query: Query,
    limit: Option<usize>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    const PAGE: usize = 10_000;
    let mut left = limit.unwrap_or(usize::MAX);
    let mut cursor = None;
    while left > 0 {
        let mut q = query.clone().limit(left.min(PAGE));
        q.cursor = cursor.take();
        let page = store.query(&q).map_err(usage_or_failure)?;
        for line in &page.lines {
            write_line(out, line).context("writing to stdout")?;
        }
        left -= page.lines.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logstore::{Labels, LogStream, StreamKey};

    fn usage(r: Result<Query, CliError>) -> String {
        match r {
            Err(CliError::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_is_a_usage_error_with_a_reason() {
        assert!(usage(query_of(
            "a",
            None,
            None,
            "2024-05-01T10:05:00Z",
            "2024-05-01T10:00:00Z",
            None
        ))
        .contains("is after --to"));
        assert!(usage(query_of(
            "a",
            None,
            None,
            "yesterday",
            "2024-05-01T10:00:00Z",
            None
        ))
        .starts_with("--from: unparsable time"));
        assert!(usage(query_of(
            "a",
            None,
            None,
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:05:00Z",
            Some("a(".into())
        ))
        .starts_with("--grep: invalid regular expression"));
    }

    #[test]
    fn query_prints_the_range_in_time_order_in_the_cli_format() {
        let store = Store::in_memory(Config::default()).unwrap();
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        let (a, b) = (
            StreamKey::new("ns", "p1", "c"),
            StreamKey::new("ns", "p2", "c"),
        );
        store
            .append(
                &a,
                &Labels::new(),
                t("2024-05-01T10:00:01Z"),
                LogStream::Stdout,
                b"one",
            )
            .unwrap();
        store
            .append(
                &b,
                &Labels::new(),
                t("2024-05-01T10:00:02Z"),
                LogStream::Stdout,
                b"two ERROR",
            )
            .unwrap();
        store
            .append(
                &a,
                &Labels::new(),
                t("2024-05-01T10:00:03Z"),
                LogStream::Stdout,
                b"three ERROR",
            )
            .unwrap();
        store
            .append(
                &a,
                &Labels::new(),
                t("2024-05-01T10:10:00Z"),
                LogStream::Stdout,
                b"later",
            )
            .unwrap();
        let mut out = Vec::new();
        let q = query_of(
            "ns",
            None,
            None,
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:05:00Z",
            None,
        )
        .unwrap();
        print(&store, q, None, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-05-01T10:00:01.000000000Z ns/p1/c one\n2024-05-01T10:00:02.000000000Z ns/p2/c two ERROR\n2024-05-01T10:00:03.000000000Z ns/p1/c three ERROR\n"
        );
        let mut out = Vec::new();
        let q = query_of(
            "ns",
            Some("p1".into()),
            None,
            "2024-05-01T10:00:00Z",
            "2024-05-01T11:00:00Z",
            Some("ERR|lat".into()),
        )
        .unwrap();
        print(&store, q, Some(1), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-05-01T10:00:03.000000000Z ns/p1/c three ERROR\n"
        );
    }
}
