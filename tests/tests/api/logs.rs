//! Logs end to end: the collector against the demo cluster (resuming with no loss and no
//! duplicate after its stream is killed and after the console restarts), and the log
//! viewer's ways out — server functions, the follow socket, the download — over real HTTP.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};
use logstore::{LogStream, Query, Store, StreamKey, StreamSelector, Timestamp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_tests::{eventually, spawn_app, TestApp};

/// Every stored line of one stream, as `(time, text)`.
fn stored(store: &Store, key: &StreamKey) -> Vec<(Timestamp, String)> {
    let page = store
        .query(&Query::new(StreamSelector::stream(key)))
        .expect("query");
    page.lines
        .iter()
        .map(|l| (l.timestamp(), l.text_lossy().into_owned()))
        .collect()
}

/// What `kubectl logs --timestamps` says, as `(time, text)`.
async fn source(pods: &Api<Pod>, key: &StreamKey) -> Vec<(Timestamp, String)> {
    let lp = LogParams {
        container: Some(key.container.clone()),
        timestamps: true,
        ..Default::default()
    };
    let text = pods.logs(&key.pod, &lp).await.expect("kubectl logs");
    text.lines()
        .map(|l| {
            let (ts, rest) = l.split_once(' ').unwrap_or((l, ""));
            (
                Timestamp::parse_rfc3339(ts).expect("a timestamp"),
                rest.to_string(),
            )
        })
        .collect()
}

fn collector_on(s: &wharf_console::state::AppState, store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(server::logs::collector::run(
        s.client.clone(),
        s.cache.pods.clone(),
        s.cache.changes.pods.clone(),
        store,
    ))
}

/// Stops a collector the hard way (like a kill: buffered lines are not flushed).
/// Copies every file below `from` into `to` (a disk image), the writer's lock file aside.
fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_folder(&entry.path(), &target);
        } else if entry.file_name() != "writer.lock" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn kill(collector: tokio::task::JoinHandle<()>) {
    collector.abort();
    let _ = collector.await;
    // NB: its follow tasks are aborted as it drops; give any mid-poll one a moment to notice.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn wait_for_lines(store: &Store, key: &StreamKey, at_least: usize, what: &str) -> usize {
    eventually(Duration::from_secs(60), what, || async {
        let n = stored(store, key).len();
        (n >= at_least).then_some(n)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_collector_resumes_after_a_broken_stream_and_a_restart_with_no_loss_and_no_duplicate() {
    let app = spawn_app().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(app.kube.clone(), "alpha");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "chatty", "namespace": "alpha", "labels": {"app": "chatty"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 8080}],
                                 "env": [{"name": "WHARF_SIM_LOG_RATE", "value": "40"}]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let key = StreamKey::new("alpha", "chatty", "app");

    // Lines arrive in the store, with the pod's labels.
    let first = app.state.logs.clone();
    let n = wait_for_lines(&first, &key, 20, "the first lines collected").await;
    let info = first.streams(&StreamSelector::stream(&key));
    assert_eq!(
        info[0].labels.get("app").map(String::as_str),
        Some("chatty")
    );

    // 1. Kill the follow stream mid-flow; a new collector on the same store resumes.
    kill(app.collector).await;
    tokio::time::sleep(Duration::from_millis(700)).await; // the container keeps writing meanwhile
    let second = collector_on(&app.state, first.clone());
    let n = wait_for_lines(&first, &key, n + 40, "lines after the resume").await;

    // 2. The console dies: nothing buffered is flushed; a new store on the same folder, a new collector.
    kill(second).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    // (its files as the dead console left them: a copy, since this test's first store, which
    // holds the folder's writer lock, lives on in the app's state)
    let image = tempfile::tempdir().unwrap();
    copy_folder(app.logs_dir.path(), image.path());
    let reopened = Store::open_path(image.path(), logstore::Config::default()).unwrap();
    assert!(
        stored(&reopened, &key).len() <= n,
        "the restart cannot find more than was stored"
    );
    let third = collector_on(&app.state, reopened.clone());

    // The store now holds exactly what the source has (the source runs on: compare the
    // stretch the store has caught up with).
    let want = source(&pods, &key).await;
    assert!(want.len() > n, "the source kept writing");
    let got = eventually(
        Duration::from_secs(60),
        "the store to catch up with the source",
        || async {
            let got = stored(&reopened, &key);
            (got.len() >= want.len()).then_some(got)
        },
    )
    .await
    .unwrap();
    let first_diff = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(
        first_diff,
        None,
        "stored and source differ at line {first_diff:?}: {:?} vs {:?}",
        first_diff.map(|i| &got[i]),
        first_diff.map(|i| &want[i])
    );
    kill(third).await;
}

async fn seed_lines(app: &TestApp) -> Timestamp {
    let store = &app.state.logs;
    let t0 = Timestamp::parse_rfc3339("2024-05-01T10:00:00Z").unwrap();
    let shop = logstore::Labels::from([("app".to_string(), "shop".to_string())]);
    let billing = logstore::Labels::from([("app".to_string(), "billing".to_string())]);
    for i in 0..10i64 {
        let pod = if i % 2 == 0 { "shop-a" } else { "shop-b" };
        let text = format!(
            "\u{1b}[32mGET /item/{i}\u{1b}[0m 200{}",
            if i == 7 { " ERROR slow" } else { "" }
        );
        store
            .append(
                &StreamKey::new("alpha", pod, "web"),
                &shop,
                t0.saturating_add_nanos(i * 1_000_000_000),
                LogStream::Stdout,
                text.as_bytes(),
            )
            .unwrap();
    }
    store
        .append(
            &StreamKey::new("beta", "billing-1", "app"),
            &billing,
            t0,
            LogStream::Stdout,
            b"secret beta line",
        )
        .unwrap();
    t0
}

fn query(app: &str, search: &str, regex: bool, limit: usize, cursor: Option<&str>) -> Value {
    json!({"tenant": "alpha", "query": {
        "selection": {"namespace": "alpha", "app": app, "pod": null, "container": null},
        "from": "2024-05-01T10:00:00Z", "to": "2024-05-01T11:00:00Z",
        "search": {"text": search, "regex": regex}, "limit": limit, "backward": false, "cursor": cursor}})
}

#[tokio::test]
async fn an_apps_pods_are_merged_in_time_order_searched_and_paged() {
    let app = spawn_app().await.unwrap();
    seed_lines(&app).await;
    let alice = app.login("alice").await.unwrap();

    let (status, page) = alice
        .call("query_logs", query("shop", "", false, 100, None))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    let lines = page["lines"].as_array().unwrap();
    let pods: Vec<&str> = lines.iter().map(|l| l["pod"].as_str().unwrap()).collect();
    assert_eq!(
        pods,
        ["shop-a", "shop-b"].repeat(5),
        "merged in time order, each tagged with its pod"
    );
    assert!(
        lines[0]["text"].as_str().unwrap().starts_with("\u{1b}[32m"),
        "ANSI kept for the viewer to colour"
    );

    // Paging: 4 + 4 + 2, no line twice.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (_, page) = alice
            .call("query_logs", query("shop", "", false, 4, cursor.as_deref()))
            .await
            .unwrap();
        seen.extend(
            page["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["ts"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    // Search: keyword and regex; a bad regex is a 400 with a sentence.
    let (_, page) = alice
        .call("query_logs", query("shop", "ERROR", false, 100, None))
        .await
        .unwrap();
    assert_eq!(page["lines"].as_array().unwrap().len(), 1);
    let (_, page) = alice
        .call(
            "query_logs",
            query("shop", r"item/[0-2]\b", true, 100, None),
        )
        .await
        .unwrap();
    assert_eq!(page["lines"].as_array().unwrap().len(), 3);
    let (status, err) = alice
        .call("query_logs", query("shop", "(", true, 100, None))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err.to_string().contains("invalid regular expression"),
        "{err}"
    );
    let mut backwards = query("shop", "", false, 100, None);
    backwards["query"]["from"] = json!("2024-05-01T12:00:00Z");
    let (status, err) = alice.call("query_logs", backwards).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

    // Another tenant's namespace is refused even through one's own tenant.
    let bob = app.login("bob").await.unwrap();
    let mut sneaky = query("shop", "", false, 100, None);
    sneaky["tenant"] = json!("beta");
    let (status, _) = bob.call("query_logs", sneaky).await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A regex that never matches, over a year of an app's logs, answers within the search budget
/// with no lines and a "partial" mark saying where it got; following its cursor covers the
/// year, and the one line that does match is found on the way.
#[tokio::test]
async fn a_search_over_a_year_stops_at_its_budget_and_says_where_it_got() {
    let settings = wharf_console::state::Settings {
        log_search: wharf_console::logs::SearchLimits {
            budget: logstore::Budget {
                time: None,
                bytes: Some(100_000),
            },
            per_user: 2,
        },
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let t0 = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let shop = logstore::Labels::from([("app".to_string(), "shop".to_string())]);
    let hours = 365 * 24;
    for i in 0..hours {
        let text = if i == 5000 {
            "the one needle of the year".to_string()
        } else {
            format!("{i:05} GET /item 200 ordinary line, nothing to see here")
        };
        app.state
            .logs
            .append(
                &StreamKey::new("alpha", "shop-a", "web"),
                &shop,
                t0.saturating_add_nanos(i * 3_600_000_000_000),
                LogStream::Stdout,
                text.as_bytes(),
            )
            .unwrap();
    }
    let alice = app.login("alice").await.unwrap();
    let year = |search: &str, cursor: Option<&str>| {
        let mut q = query("shop", search, true, 100, cursor);
        q["query"]["from"] = json!("2024-01-01T00:00:00Z");
        q["query"]["to"] = json!("2025-01-01T00:00:00Z");
        q
    };
    let (status, page) = alice
        .call("query_logs", year("x{3}y{3}", None))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["lines"].as_array().unwrap().is_empty());
    let partial = &page["partial"];
    assert_eq!(partial["by_time"], false, "{page}");
    assert!(
        partial["scanned_bytes"].as_u64().unwrap() >= 100_000,
        "{page}"
    );
    let reached = partial["reached"].as_str().unwrap();
    assert!(reached > "2024-01-01" && reached < "2025", "{page}");
    assert!(page["next_cursor"].is_string());

    let (mut cursor, mut pages, mut found) = (None::<String>, 0, Vec::new());
    loop {
        let (status, page) = alice
            .call("query_logs", year("needle", cursor.as_deref()))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        found.extend(
            page["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["text"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(page["partial"].is_null(), "{page}");
                break;
            }
        }
        assert!(pages < 1000, "no progress");
    }
    assert!(pages > 3, "{pages}");
    assert_eq!(found, vec!["the one needle of the year".to_string()]);
}

#[tokio::test]
async fn the_download_streams_the_range_as_a_file() {
    let app = spawn_app().await.unwrap();
    seed_lines(&app).await;
    let url = app.url(
        "/download/logs/alpha?ns=alpha&app=shop&from=2024-05-01T10:00:00Z&to=2024-05-01T10:00:05Z",
    );
    let alice = app.login("alice").await.unwrap();
    let res = alice
        .http
        .get(&url)
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        disposition,
        "attachment; filename=\"alpha_shop_20240501T100000Z_20240501T100005Z.log\""
    );
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[1],
        "2024-05-01T10:00:01.000000000Z alpha/shop-b/web \u{1b}[32mGET /item/1\u{1b}[0m 200"
    );

    let bad = app.url("/download/logs/alpha?ns=alpha&from=soon&to=2024-05-01T10:00:05Z");
    let res = alice
        .http
        .get(&bad)
        .header("cookie", alice.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("from: unparsable time"));
}

async fn next_message<S>(socket: &mut S) -> Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .unwrap()
            .unwrap();
        if msg.is_text() {
            return serde_json::from_str(msg.to_text().unwrap()).unwrap();
        }
    }
}

#[tokio::test]
async fn follow_sends_the_last_lines_then_new_ones() {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};
    let app = spawn_app().await.unwrap();
    let t0 = seed_lines(&app).await;
    let alice = app.login("alice").await.unwrap();
    let mut req = format!(
        "ws://{}/ws/logs/alpha?ns=alpha&app=shop&pod=shop-a&last=3",
        app.addr
    )
    .into_client_request()
    .unwrap();
    req.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(alice.cookie().unwrap()).unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("alice may follow alpha");
    assert_eq!(next_message(&mut socket).await, json!("Reset"));
    let history = next_message(&mut socket).await;
    let texts: Vec<&str> = history["Lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 3);
    assert!(texts[2].contains("/item/8"), "{texts:?}");

    let shop = logstore::Labels::from([("app".to_string(), "shop".to_string())]);
    app.state
        .logs
        .append(
            &StreamKey::new("alpha", "shop-b", "web"),
            &shop,
            t0.saturating_add_nanos(20_000_000_000),
            LogStream::Stdout,
            b"other pod: not followed",
        )
        .unwrap();
    app.state
        .logs
        .append(
            &StreamKey::new("alpha", "shop-a", "web"),
            &shop,
            t0.saturating_add_nanos(21_000_000_000),
            LogStream::Stdout,
            b"a new line",
        )
        .unwrap();
    let live = next_message(&mut socket).await;
    assert_eq!(live["Lines"][0]["text"], "a new line");
}
