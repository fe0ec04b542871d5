//! Realistic application log lines for simulated containers.
//!
//! Java-ish images get Spring-Boot-style lines (level, pid, thread, abbreviated logger,
//! occasional multi-line stack traces), nginx images get access and error log lines, others
//! get logfmt or JSON lines. A few lines carry ANSI colour, as real consoles do. Everything
//! comes from a seeded RNG, so a container's log is reproducible in tests.
//!
//! Each line says which pipe it goes to, as the real programs choose: Spring Boot's console
//! logs everything to stdout; the nginx image sends its access log to stdout and its error
//! log (`[notice]`, `[warn]`, `[emerg]`) to stderr; other apps write info to stdout and
//! warnings and errors to stderr (as Node's `console.warn`/`console.error` do).

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::LogStream;
use crate::plan::Flavor;

/// A generated line and the pipe it is written to.
pub type Line = (LogStream, String);

const OUT: LogStream = LogStream::Stdout;
const ERR: LogStream = LogStream::Stderr;

/// A stable 64-bit hash (FNV-1a) used to seed per-container RNGs.
pub fn seed_of(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

const JAVA_LOGGERS: [&str; 8] = [
    "c.e.shop.web.OrderController",
    "c.e.shop.service.PaymentService",
    "c.e.shop.repo.CustomerRepository",
    "o.s.web.servlet.DispatcherServlet",
    "com.zaxxer.hikari.pool.HikariPool",
    "o.h.engine.jdbc.spi.SqlExceptionHelper",
    "c.e.shop.cache.InventoryCache",
    "o.a.c.c.C.[Tomcat].[localhost].[/]",
];
const PATHS: [&str; 9] = [
    "/",
    "/api/orders",
    "/api/orders/4821",
    "/api/customers/112",
    "/api/inventory?sku=AB-1200",
    "/static/app.js",
    "/static/style.css",
    "/healthz",
    "/favicon.ico",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "curl/8.5.0",
    "kube-probe/1.33",
    "Go-http-client/1.1",
];

/// Writes a simulated app's lines.
pub struct LineGenerator {
    flavor: Flavor,
    rng: StdRng,
    app: String,
    port: u16,
    json: bool,
    counter: u64,
}

impl LineGenerator {
    pub fn new(flavor: Flavor, seed: u64, app: &str, port: Option<u16>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let json = rng.random_bool(0.5);
        Self {
            flavor,
            rng,
            app: app.to_string(),
            port: port.unwrap_or(8080),
            json,
            counter: 0,
        }
    }

    /// What the app prints while starting.
    pub fn startup(&mut self, now: DateTime<Utc>) -> Vec<Line> {
        let port = self.port;
        match self.flavor {
            Flavor::Java => {
                let secs = self.rng.random_range(2.1..6.9);
                let mut v = vec![
                    String::new(),
                    "  .   ____          _            __ _ _".into(),
                    " /\\\\ / ___'_ __ _ _(_)_ __  __ _ \\ \\ \\ \\".into(),
                    "( ( )\\___ | '_ | '_| | '_ \\/ _` | \\ \\ \\ \\".into(),
                    " \\\\/  ___)| |_)| | | | | || (_| |  ) ) ) )".into(),
                    "  '  |____| .__|_| |_|_| |_\\__, | / / / /".into(),
                    " =========|_|==============|___/=/_/_/_/".into(),
                    " :: Spring Boot ::                (v3.3.4)".into(),
                    String::new(),
                ];
                v.push(self.java(now, "INFO", "main", "c.e.shop.ShopApplication", &format!("Starting ShopApplication v1.4.2 using Java 21.0.4 with PID 1 ({})", self.app)));
                v.push(self.java(now, "INFO", "main", "o.s.b.w.embedded.tomcat.TomcatWebServer", &format!("Tomcat initialized with port {port} (http)")));
                v.push(self.java(now, "INFO", "main", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed."));
                v.push(self.java(now, "INFO", "main", "o.s.b.w.embedded.tomcat.TomcatWebServer", &format!("Tomcat started on port {port} (http) with context path '/'")));
                v.push(self.java(now, "INFO", "main", "c.e.shop.ShopApplication", &format!("Started ShopApplication in {secs:.3} seconds (process running for {:.3})", secs + 0.4)));
                v.into_iter().map(|l| (OUT, l)).collect()
            }
            Flavor::Nginx => vec![
                (OUT, "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration".into()),
                (OUT, "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh".into()),
                (OUT, "/docker-entrypoint.sh: Configuration complete; ready for start up".into()),
                (ERR, format!("{} [notice] 1#1: using the \"epoll\" event method", nginx_time(now))),
                (ERR, format!("{} [notice] 1#1: nginx/1.27.2", nginx_time(now))),
                (ERR, format!("{} [notice] 1#1: start worker processes", nginx_time(now))),
            ],
            Flavor::Generic => vec![
                (OUT, self.generic(now, "info", &format!("starting {}", self.app))),
                (OUT, self.generic(now, "info", &format!("listening on :{port}"))),
            ],
        }
    }

    /// The next event: usually one line, sometimes a multi-line stack trace.
    pub fn next_event(&mut self, now: DateTime<Utc>) -> Vec<Line> {
        self.counter += 1;
        let roll: f64 = self.rng.random();
        match self.flavor {
            Flavor::Java => self
                .java_event(now, roll)
                .into_iter()
                .map(|l| (OUT, l))
                .collect(),
            Flavor::Nginx => {
                if roll < 0.04 {
                    let cid = self.rng.random_range(100..99999);
                    vec![(ERR, format!(
                        "{} [warn] 29#29: *{cid} upstream server temporarily disabled while reading response header from upstream, client: 10.0.0.{}, server: _, request: \"GET /api/orders HTTP/1.1\"",
                        nginx_time(now),
                        self.rng.random_range(2..250)
                    ))]
                } else {
                    let path = *pick(&mut self.rng, &PATHS);
                    let status = if roll < 0.1 {
                        404
                    } else if roll < 0.12 {
                        502
                    } else {
                        200
                    };
                    let bytes = self.rng.random_range(120..48000);
                    let ip = format!(
                        "10.0.{}.{}",
                        self.rng.random_range(0..4),
                        self.rng.random_range(2..250)
                    );
                    let agent = *pick(&mut self.rng, &AGENTS);
                    vec![(
                        OUT,
                        access_line(now, &ip, "GET", path, "HTTP/1.1", status, bytes, agent),
                    )]
                }
            }
            Flavor::Generic => {
                if roll < 0.03 {
                    vec![(ERR, self.generic(now, "error", "request failed: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"))]
                } else if roll < 0.1 {
                    let attempt = self.rng.random_range(1..5);
                    vec![(
                        ERR,
                        self.generic(
                            now,
                            "warn",
                            &format!("retrying connection to redis:6379 (attempt {attempt})"),
                        ),
                    )]
                } else {
                    let path = *pick(&mut self.rng, &PATHS);
                    let ms = self.rng.random_range(1..90);
                    let mut line = self.generic(
                        now,
                        "info",
                        &format!(
                            "handled request method=GET path={path} status=200 duration={ms}ms"
                        ),
                    );
                    if !self.json && self.rng.random_bool(0.05) {
                        line = format!("\x1b[36m{line}\x1b[0m");
                    }
                    vec![(OUT, line)]
                }
            }
        }
    }

    fn java_event(&mut self, now: DateTime<Utc>, roll: f64) -> Vec<String> {
        let thread = format!("nio-{}-exec-{}", self.port, self.rng.random_range(1..11));
        let logger = *pick(&mut self.rng, &JAVA_LOGGERS);
        if roll < 0.03 {
            let mut v = vec![self.java(now, "ERROR", &thread, logger, "Request processing failed: java.lang.IllegalStateException: inventory for SKU AB-1200 is negative")];
            v.extend(stack_trace(
                "java.lang.IllegalStateException: inventory for SKU AB-1200 is negative",
            ));
            v
        } else if roll < 0.12 {
            let ms = self.rng.random_range(800..4000);
            vec![self.java(now, "WARN", &thread, logger, &format!("Slow query took {ms} ms: select o1_0.id,o1_0.customer_id from orders o1_0 where o1_0.status=?"))]
        } else if roll < 0.2 {
            let ms = self.rng.random_range(1..20);
            vec![self.java(
                now,
                "DEBUG",
                &thread,
                "c.e.shop.cache.InventoryCache",
                &format!("cache refresh done in {ms} ms"),
            )]
        } else {
            let id = self.rng.random_range(1000..9999);
            let cust = self.rng.random_range(1..500);
            let ms = self.rng.random_range(3..120);
            let msg = match self.rng.random_range(0..3) {
                0 => format!("Order {id} created for customer {cust} in {ms} ms"),
                1 => format!(
                    "Payment authorised for order {id} (amount {}.{:02} EUR)",
                    self.rng.random_range(5..400),
                    self.rng.random_range(0..100)
                ),
                _ => format!("GET /api/customers/{cust} completed in {ms} ms"),
            };
            vec![self.java(now, "INFO", &thread, logger, &msg)]
        }
    }

    /// What the app prints as it dies with `exit_code`.
    pub fn crash(&mut self, now: DateTime<Utc>, exit_code: i32) -> Vec<Line> {
        match self.flavor {
            Flavor::Java => {
                let mut v = vec![self.java(
                    now,
                    "ERROR",
                    "main",
                    "o.s.boot.SpringApplication",
                    "Application run failed",
                )];
                v.extend(stack_trace("java.lang.OutOfMemoryError: Java heap space"));
                v.into_iter().map(|l| (OUT, l)).collect()
            }
            Flavor::Nginx => vec![(
                ERR,
                format!(
                    "{} [emerg] 1#1: worker process exited unexpectedly (exit code {exit_code})",
                    nginx_time(now)
                ),
            )],
            Flavor::Generic => vec![(
                ERR,
                self.generic(
                    now,
                    "fatal",
                    &format!("unrecoverable error, exiting with code {exit_code}"),
                ),
            )],
        }
    }

    /// A warning an app with a leak keeps printing.
    pub fn leak_warning(&mut self, now: DateTime<Utc>, what: &str, count: u64) -> Line {
        match self.flavor {
            Flavor::Java => (
                OUT,
                self.java(
                    now,
                    "WARN",
                    "pool-3-thread-1",
                    "c.e.shop.jobs.ReportScheduler",
                    &format!("{what} in use keeps growing: {count}"),
                ),
            ),
            _ => (
                ERR,
                self.generic(
                    now,
                    "warn",
                    &format!("{what} in use keeps growing: {count}"),
                ),
            ),
        }
    }

    fn java(
        &mut self,
        now: DateTime<Utc>,
        level: &str,
        thread: &str,
        logger: &str,
        msg: &str,
    ) -> String {
        let ts = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        // NB: Spring Boot colours the level when the console supports it; some apps force it on.
        let colour = self.rng.random_bool(0.08);
        let lvl = match (colour, level) {
            (true, "ERROR") => format!("\x1b[31m{level:>5}\x1b[0m"),
            (true, "WARN") => format!("\x1b[33m{level:>5}\x1b[0m"),
            (true, _) => format!("\x1b[32m{level:>5}\x1b[0m"),
            _ => format!("{level:>5}"),
        };
        format!(
            "{ts} {lvl} 1 --- [{}] [{thread:>15}] {logger:<40} : {msg}",
            self.app
        )
    }

    fn generic(&mut self, now: DateTime<Utc>, level: &str, msg: &str) -> String {
        let ts = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        if self.json {
            serde_json::json!({"time": ts, "level": level, "msg": msg, "app": self.app}).to_string()
        } else {
            format!(
                "time=\"{ts}\" level={level} msg=\"{}\" app={}",
                msg.replace('"', "\\\""),
                self.app
            )
        }
    }
}

fn stack_trace(head: &str) -> Vec<String> {
    vec![
        head.to_string(),
        "\tat com.example.shop.service.InventoryService.reserve(InventoryService.java:88)".into(),
        "\tat com.example.shop.service.OrderService.place(OrderService.java:142)".into(),
        "\tat com.example.shop.web.OrderController.create(OrderController.java:57)".into(),
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)".into(),
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)".into(),
        "\tat org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:61)".into(),
        "\tat java.base/java.lang.Thread.run(Thread.java:1583)".into(),
    ]
}

fn nginx_time(now: DateTime<Utc>) -> String {
    now.format("%Y/%m/%d %H:%M:%S").to_string()
}

/// An nginx `combined` access log line (plus `$http_x_forwarded_for`, as the official
/// image's default format has).
#[allow(clippy::too_many_arguments)]
pub fn access_line(
    now: DateTime<Utc>,
    remote: &str,
    method: &str,
    path: &str,
    version: &str,
    status: u16,
    bytes: u64,
    agent: &str,
) -> String {
    format!(
        "{remote} - - [{}] \"{method} {path} {version}\" {status} {bytes} \"-\" \"{agent}\" \"-\"",
        now.format("%d/%b/%Y:%H:%M:%S %z")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lines() {
        let now = Utc::now();
        let mut a = LineGenerator::new(Flavor::Java, 7, "shop", Some(8080));
        let mut b = LineGenerator::new(Flavor::Java, 7, "shop", Some(8080));
        for _ in 0..50 {
            assert_eq!(a.next_event(now), b.next_event(now));
        }
    }

    #[test]
    fn flavors_look_like_their_apps() {
        let now = Utc::now();
        let mut j = LineGenerator::new(Flavor::Java, 1, "shop", Some(8080));
        assert!(j
            .startup(now)
            .iter()
            .any(|(_, l)| l.contains("Tomcat started on port 8080")));
        let lines: Vec<Line> = (0..400).flat_map(|_| j.next_event(now)).collect();
        assert!(
            lines.iter().any(|(_, l)| l.starts_with("\tat ")),
            "some stack traces"
        );
        assert!(
            lines.iter().any(|(_, l)| l.contains("\x1b[")),
            "some colour"
        );
        assert!(
            lines.iter().all(|(s, _)| *s == OUT),
            "Spring Boot logs to stdout"
        );
        let mut n = LineGenerator::new(Flavor::Nginx, 1, "web", Some(80));
        let lines: Vec<Line> = (0..200).flat_map(|_| n.next_event(now)).collect();
        for (stream, l) in &lines {
            let want = if l.contains(" [warn] ") { ERR } else { OUT };
            assert!(l.contains("HTTP/1.1\"") || l.contains("[warn]"), "{l}");
            assert_eq!(*stream, want, "{l}");
        }
        assert!(
            lines.iter().any(|(s, _)| *s == ERR),
            "nginx's error log on stderr"
        );
    }
}
