//! What a 24-hour dashboard costs: one app of 20 pods with 24 h of cAdvisor-style series in a
//! real Prometheus (Debian's), every panel asked through the console's `query_range` (auth,
//! tenant scoping of the PromQL, Prometheus' range API, reshaping) against the reference of
//! the same scoped PromQL sent straight to Prometheus' `/api/v1/query_range`; then the time
//! `render_svg` takes to draw a chart of 10,000 points (native release build; the browser
//! runs the same code compiled to Wasm, measured by `end2end/bench/chart.mjs`).
//!
//! The 24 h are written as an OpenMetrics file and imported with
//! `promtool tsdb create-blocks-from openmetrics` into the data folder of the Prometheus that
//! `server::monitoring::Stack` then starts, so nothing waits a day.
//!
//! `cargo bench -p wharf-tests --bench dashboard` (WHARF_BENCH_RUNS, WHARF_BENCH_SCRAPE_SECS
//! to change the runs per panel and the sample interval of the generated data).

use serde_json::json;
use server::monitoring::{free_port, Stack, StackConfig};
use std::io::Write;
use std::time::{Duration, Instant};
use wharf_api::monitoring::{Panel, PanelData, Series, POINTS};
use wharf_app::components::chart::{render_svg, HEIGHT, WIDTH};
use wharf_console::monitoring::panel_query;

const APP: &str = "bench-app";
const PODS: usize = 20;
const HOURS: i64 = 24;

fn percentiles(samples: &mut [Duration]) -> [f64; 3] {
    samples.sort();
    [0.5, 0.95, 0.99].map(|p| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    })
}

fn pod(i: usize) -> String {
    format!("{APP}-6d4cf56db6-p{i:02}x")
}

/// 24 h (and 10 min more, for the first `rate`) of every panel's metric for 20 pods, one
/// sample per `step` seconds: CPU around 0.3 cores, memory around 300 MiB with a slow climb,
/// threads leaking in a few pods, sockets, descriptors, network counters, a few restarts.
fn write_openmetrics(path: &std::path::Path, end: i64, step: i64) -> anyhow::Result<usize> {
    let start = end - HOURS * 3600 - 600;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let families: [(&str, bool); 8] = [
        ("container_cpu_usage_seconds_total", true),
        ("container_memory_working_set_bytes", true),
        ("container_threads", true),
        ("container_sockets", true),
        ("container_file_descriptors", true),
        ("container_network_receive_bytes_total", false),
        ("container_network_transmit_bytes_total", false),
        ("kube_pod_container_status_restarts_total", true),
    ];
    let mut lines = 0;
    for (name, has_container) in families {
        writeln!(out, "# TYPE {name} unknown")?;
        for i in 0..PODS {
            let labels = if has_container {
                format!(
                    "{{namespace=\"alpha\",pod=\"{}\",container=\"app\",job=\"bench\"}}",
                    pod(i)
                )
            } else {
                format!("{{namespace=\"alpha\",pod=\"{}\",job=\"bench\"}}", pod(i))
            };
            let (mut cpu, mut rx, mut tx) = (0.0f64, 0.0f64, 0.0f64);
            let fi = i as f64;
            let mut t = start;
            while t <= end {
                let h = (t - start) as f64 / 3600.0;
                let wave = (h * std::f64::consts::PI / 12.0 + fi).sin();
                let jitter = ((t as f64) * 0.37 + fi * 7.1).sin();
                let v = match name {
                    "container_cpu_usage_seconds_total" => {
                        cpu += (0.3 + 0.15 * wave + 0.05 * jitter).max(0.01) * step as f64;
                        cpu
                    }
                    "container_memory_working_set_bytes" => {
                        (300.0 + 40.0 * wave + 2.0 * h + 5.0 * jitter) * 1048576.0
                    }
                    "container_threads" => {
                        (40.0 + if i % 5 == 0 { 3.0 * h } else { 4.0 * wave }).round()
                    }
                    "container_sockets" => {
                        (20.0 + fi + if i % 7 == 0 { 2.0 * h } else { 3.0 * jitter }).round()
                    }
                    "container_file_descriptors" => (60.0 + fi + 5.0 * wave).round(),
                    "container_network_receive_bytes_total" => {
                        rx += (200_000.0 + 80_000.0 * wave + 20_000.0 * jitter) * step as f64;
                        rx
                    }
                    "container_network_transmit_bytes_total" => {
                        tx += (120_000.0 + 50_000.0 * wave + 10_000.0 * jitter) * step as f64;
                        tx
                    }
                    _ => ((h / 8.0).floor() * (i % 3) as f64).max(0.0),
                };
                writeln!(out, "{name}{labels} {v} {t}")?;
                lines += 1;
                t += step;
            }
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    Ok(lines)
}

fn panel_name(p: Panel) -> &'static str {
    p.title().0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // NB: the demo cluster's own pods need not run; Prometheus still scrapes its /metrics
    std::env::set_var("WHARF_SIM_KUBELET", "off");
    let runs: usize = std::env::var("WHARF_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let step: i64 = std::env::var("WHARF_BENCH_SCRAPE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);

    // 1. 24 h of samples, imported as blocks into the data folder Prometheus will open
    let dir = tempfile::tempdir()?;
    let console = free_port()?;
    let mut cfg = StackConfig::local(dir.path(), "", console)?;
    let data = cfg.data_dir.join("prometheus").join("data");
    std::fs::create_dir_all(&data)?;
    let om = cfg.data_dir.join("history.om");
    let now = chrono::Utc::now().timestamp();
    let t = Instant::now();
    let samples = write_openmetrics(&om, now, step)?;
    let om_size = std::fs::metadata(&om)?.len();
    println!(
        "wrote {samples} samples ({:.0} MB of OpenMetrics) in {:.1} s",
        om_size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    // NB: 18 h blocks (the largest Prometheus keeps with 8 d retention), so it has nothing to compact while we measure
    let out = std::process::Command::new("promtool")
        .args([
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
        ])
        .arg(&om)
        .arg(&data)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "promtool failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "promtool imported them in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_file(&om)?;

    // 2. the console and its Prometheus (which also scrapes the demo cluster every 2 s)
    let settings = wharf_console::state::Settings {
        monitoring: cfg.settings(),
        ..Default::default()
    };
    let app = wharf_tests::spawn_app_with(settings, console).await?;
    cfg.kubeconfig_yaml = app.cluster.sim().kubeconfig_yaml();
    let stack = Stack::start(cfg.clone()).await?;
    let prometheus = cfg.settings().prometheus_url.unwrap_or_default();
    let alice = app.login("alice").await?;
    let target = json!({"App": {"namespace": "alpha", "name": APP}});
    let minutes = (HOURS * 60) as u32;

    let check = |p: Panel| {
        let alice = &alice;
        let target = target.clone();
        async move {
            let (s, b) = alice
                .call(
                    "query_range",
                    json!({"tenant": "alpha", "panel": p, "target": target, "minutes": minutes}),
                )
                .await?;
            anyhow::ensure!(s.is_success(), "{p:?}: {s} {b}");
            Ok(serde_json::from_value::<PanelData>(b)?)
        }
    };
    let cpu = wharf_tests::eventually(
        Duration::from_secs(60),
        "the imported 24 h in Prometheus",
        || async {
            check(Panel::Cpu).await.ok().filter(|d| {
                d.series.len() == PODS
                    && d.series
                        .iter()
                        .all(|s| s.points.len() > POINTS as usize / 2)
            })
        },
    )
    .await?;
    let mut shapes = Vec::new();
    for p in Panel::ALL {
        let d = check(p).await?;
        shapes.push((
            p,
            d.series.len(),
            d.series.iter().map(|s| s.points.len()).sum::<usize>(),
        ));
    }

    // the scoped PromQL the console sends, for the reference
    let namespaces: Vec<String> = server::demo::seed::TENANTS
        .iter()
        .find(|t| t.0 == "alpha")
        .map(|t| t.2.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    let sel = format!(
        "namespace=\"alpha\",pod=~\"{}\"",
        wharf_console::monitoring::rules::pod_pattern(APP).replace('\\', "\\\\")
    );
    let http = reqwest::Client::new();
    let direct = |p: Panel| {
        let http = &http;
        let url = format!("{prometheus}/api/v1/query_range");
        let q = wharf_console::monitoring::promql::scope_query(
            &panel_query(p, &sel, "pod"),
            &namespaces,
        )
        .expect("scoped");
        async move {
            let end = chrono::Utc::now().timestamp();
            let span = i64::from(minutes) * 60;
            let step = (span / i64::from(POINTS)).max(2);
            let form = [
                ("query", q),
                ("start", (end - span).to_string()),
                ("end", end.to_string()),
                ("step", step.to_string()),
            ];
            let r = http.post(url).form(&form).send().await.expect("prometheus");
            assert!(r.status().is_success());
            let body = r.bytes().await.expect("body");
            assert!(body.len() > 100);
        }
    };

    // warm both paths (Prometheus' page cache, the console's connections)
    for p in Panel::ALL {
        for _ in 0..3 {
            check(p).await?;
            direct(p).await;
        }
    }

    // 3. each panel, console and straight to Prometheus interleaved so the shared machine's noise hits both
    let mut rows = Vec::new();
    for p in Panel::ALL {
        let (mut via, mut raw) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        for _ in 0..runs {
            let t = Instant::now();
            check(p).await?;
            via.push(t.elapsed());
            let t = Instant::now();
            direct(p).await;
            raw.push(t.elapsed());
        }
        rows.push((p, percentiles(&mut via), percentiles(&mut raw)));
    }
    // the whole dashboard as the browser loads it: the 8 panels at once
    let mut whole = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let all = futures::future::join_all(Panel::ALL.map(check)).await;
        for r in all {
            r?;
        }
        whole.push(t.elapsed());
    }
    let whole = percentiles(&mut whole);
    stack.stop().await;

    // 4. charts: 10,000 points in one series, the same spread over 20 pods, the real 24-h CPU panel
    let (s0, s1) = (now - HOURS * 3600, now);
    let series = |label: String, n: usize, seed: f64| Series {
        label,
        points: (0..n)
            .map(|k| {
                (
                    s0 + (s1 - s0) * k as i64 / n as i64,
                    0.3 + 0.2 * ((k as f64) * 0.01 + seed).sin() + 0.05 * ((k as f64) * 0.7).sin(),
                )
            })
            .collect(),
    };
    let one = PanelData {
        series: vec![series("value".into(), 10_000, 0.0)],
        threshold: Some(0.45),
        start: s0,
        end: s1,
        notice: None,
    };
    let twenty = PanelData {
        series: (0..PODS)
            .map(|i| series(pod(i), 10_000 / PODS, i as f64))
            .collect(),
        threshold: Some(0.45),
        start: s0,
        end: s1,
        notice: None,
    };
    let charts = [
        ("10,000 points, one series", &one),
        ("10,000 points, 20 series of 500", &twenty),
        ("the 24-h CPU panel above (20 series, console's data)", &cpu),
    ];
    let renders = 50;
    let mut chart_rows = Vec::new();
    for (what, data) in charts {
        let points: usize = data.series.iter().map(|s| s.points.len()).sum();
        let size = render_svg(data, false, WIDTH, HEIGHT).len();
        let mut t_all = Vec::with_capacity(renders);
        for _ in 0..renders {
            let t = Instant::now();
            let svg = render_svg(data, false, WIDTH, HEIGHT);
            t_all.push(t.elapsed());
            std::hint::black_box(svg);
        }
        chart_rows.push((what, points, size, percentiles(&mut t_all)));
    }

    println!();
    println!("24 h of {PODS} pods of one app, one sample per {step} s ({samples} samples); {runs} runs per panel; {POINTS} points per series asked.");
    println!();
    println!("| 24-h panel, app of {PODS} pods | series × points | console `query_range` p50 / p95 / p99 ms | Prometheus direct p50 / p95 / p99 ms |");
    println!("|---|---:|---:|---:|");
    for (p, via, raw) in &rows {
        let (_, n, pts) = shapes
            .iter()
            .find(|s| s.0 == *p)
            .copied()
            .unwrap_or((*p, 0, 0));
        println!(
            "| {} | {n} × {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} |",
            panel_name(*p),
            pts / n.max(1),
            via[0],
            via[1],
            via[2],
            raw[0],
            raw[1],
            raw[2]
        );
    }
    println!(
        "| **whole dashboard (8 panels at once)** | | {:.1} / {:.1} / {:.1} | |",
        whole[0], whole[1], whole[2]
    );
    println!();
    println!("| `render_svg` {WIDTH}×{HEIGHT}, native release build | points | SVG KB | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for (what, points, size, t) in &chart_rows {
        println!(
            "| {what} | {points} | {:.0} | {:.1} | {:.1} |",
            *size as f64 / 1024.0,
            t[0],
            t[2]
        );
    }
    Ok(())
}
