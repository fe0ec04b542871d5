//! How hard anyone can knock: login attempts per client address and per user name, and the
//! argon2 work they cost.
//!
//! Each attempt takes a token from two buckets, its client's and its user name's, before any
//! password is checked (so 400 attempts sent at once are counted at once); a successful login
//! gives both back. An empty bucket answers `429` with the seconds until the next token. The
//! argon2 checks themselves run at most one per core at a time, with a bounded queue behind
//! them: more than that waiting answers `503`, so a flood costs the other users a busy core,
//! never the whole machine's memory.
//!
//! The buckets are kept by each replica (a client spread over two replicas gets both
//! replicas' budgets); failed logins are also counted on the user (`status.failedLogins`),
//! which every replica and the platform admins see.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wharf_api::error::AppError;
use wharf_api::text;

/// A bucket's size and how fast it refills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Attempts in a burst.
    pub burst: u32,
    /// One attempt back every this long.
    pub every: Duration,
}

/// The limits of a console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Per client address (after trusted proxies, see `Settings::trusted_proxies`).
    pub per_client: Rate,
    /// Per user name (lower-cased), whoever tries it.
    pub per_user: Rate,
    /// argon2 checks at once.
    pub hashing: usize,
    /// Attempts waiting for a check before new ones are turned away.
    pub queue: usize,
}

impl Default for Limits {
    /// 30 attempts, then one every 6 s (10 a minute) per client; 10, then one every 30 s per
    /// user name; one check per core, 64 waiting per core.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Limits {
            per_client: Rate {
                burst: 30,
                every: Duration::from_secs(6),
            },
            per_user: Rate {
                burst: 10,
                every: Duration::from_secs(30),
            },
            hashing: cores,
            queue: 64 * cores,
        }
    }
}

/// Most keys kept; beyond it, full buckets (nothing to remember) are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The login throttle of one console (in `AppState`).
pub struct LoginThrottle {
    /// Held while a failed login is counted on its user, so this replica's count is exact.
    pub counting: tokio::sync::Mutex<()>,
    limits: Limits,
    buckets: Mutex<HashMap<Key, Bucket>>,
    hashing: Semaphore,
    waiting: AtomicUsize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Client(IpAddr),
    User(String),
}

impl Key {
    fn rate(&self, limits: &Limits) -> Rate {
        match self {
            Key::Client(_) => limits.per_client,
            Key::User(_) => limits.per_user,
        }
    }
}

/// One attempt, counted; [`Attempt::succeeded`] gives its tokens back.
#[must_use = "an attempt that succeeded must give its tokens back"]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<Key>,
}

impl Attempt<'_> {
    pub fn succeeded(self) {
        let mut buckets = self.throttle.lock();
        for key in &self.keys {
            let rate = key.rate(&self.throttle.limits);
            if let Some(b) = buckets.get_mut(key) {
                b.tokens = (b.tokens + 1.0).min(f64::from(rate.burst));
            }
        }
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(Limits::default())
    }
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> LoginThrottle {
        LoginThrottle {
            counting: tokio::sync::Mutex::new(()),
            limits,
            buckets: Mutex::default(),
            hashing: Semaphore::new(limits.hashing.max(1)),
            waiting: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an attempt by `client` (if known) at `user`, or refuses it with the seconds
    /// until the emptier bucket has a token again.
    pub fn attempt(&self, client: Option<IpAddr>, user: &str) -> Result<Attempt<'_>, AppError> {
        let user: String = user.trim().to_lowercase().chars().take(253).collect();
        let keys: Vec<Key> = client
            .map(|ip| Key::Client(ip.to_canonical()))
            .into_iter()
            .chain(std::iter::once(Key::User(user)))
            .collect();
        let now = Instant::now();
        let mut buckets = self.lock();
        if buckets.len() >= MAX_KEYS {
            let limits = self.limits;
            buckets.retain(|k, b| {
                refill(*b, k.rate(&limits), now).tokens < f64::from(k.rate(&limits).burst)
            });
        }
        let mut wait = Duration::ZERO;
        let mut refilled = Vec::with_capacity(keys.len());
        for key in &keys {
            let rate = key.rate(&self.limits);
            let b = buckets.get(key).map_or(
                Bucket {
                    tokens: f64::from(rate.burst),
                    at: now,
                },
                |b| refill(*b, rate, now),
            );
            if b.tokens < 1.0 {
                wait = wait.max(rate.every.mul_f64(1.0 - b.tokens));
            }
            refilled.push(b);
        }
        if !wait.is_zero() {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(AppError::TooManyAttempts(secs.max(1)));
        }
        for (key, mut b) in keys.iter().zip(refilled) {
            b.tokens -= 1.0;
            buckets.insert(key.clone(), b);
        }
        Ok(Attempt {
            throttle: self,
            keys,
        })
    }

    /// Runs `check` (an argon2 verification) on a blocking thread, at most `hashing` at once;
    /// `Unavailable` when the queue is full.
    pub async fn hash<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.waiting);
        if queued >= self.limits.queue {
            return Err(AppError::Unavailable(text!(
                "the console is busy checking passwords; try again in a few seconds",
                "控制台正忙于校验密码,请几秒后再试"
            )));
        }
        let _permit =
            self.hashing.acquire().await.map_err(|e| {
                AppError::internal(text!("checking the password", "校验密码失败"), e)
            })?;
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| AppError::internal(text!("checking the password", "校验密码失败"), e))
    }
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn refill(b: Bucket, rate: Rate, now: Instant) -> Bucket {
    let gained = now.saturating_duration_since(b.at).as_secs_f64() / rate.every.as_secs_f64();
    Bucket {
        tokens: (b.tokens + gained).min(f64::from(rate.burst)),
        at: now,
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not one (what the proxy saw; entries to its left are the
/// client's own claims).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_client: Rate {
                burst: 5,
                every: Duration::from_secs(60),
            },
            per_user: Rate {
                burst: 3,
                every: Duration::from_secs(600),
            },
            hashing: 1,
            queue: 2,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_user_name_gets_its_burst_then_waits_whoever_tries() {
        let t = LoginThrottle::new(limits());
        for client in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            drop(t.attempt(ip(client), "Alice").unwrap());
        }
        match t.attempt(ip("10.0.0.4"), " alice ") {
            Err(AppError::TooManyAttempts(secs)) => assert!((590..=600).contains(&secs), "{secs}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        // another name from the same clients is not held up by alice's
        drop(t.attempt(ip("10.0.0.1"), "bob").unwrap());
    }

    #[test]
    fn a_client_gets_its_burst_over_any_names() {
        let t = LoginThrottle::new(limits());
        for n in 0..5 {
            drop(t.attempt(ip("192.0.2.7"), &format!("user{n}")).unwrap());
        }
        assert!(matches!(
            t.attempt(ip("192.0.2.7"), "user9"),
            Err(AppError::TooManyAttempts(60))
        ));
        drop(t.attempt(ip("192.0.2.8"), "user9").unwrap());
    }

    #[test]
    fn a_successful_login_gives_its_tokens_back() {
        let t = LoginThrottle::new(limits());
        for _ in 0..10 {
            t.attempt(ip("10.0.0.1"), "alice").unwrap().succeeded();
        }
        drop(t.attempt(ip("10.0.0.1"), "alice").unwrap());
    }

    #[test]
    fn a_refused_attempt_takes_nothing() {
        let t = LoginThrottle::new(limits());
        for _ in 0..3 {
            drop(t.attempt(ip("10.0.0.1"), "alice").unwrap());
        }
        for _ in 0..10 {
            assert!(t.attempt(ip("10.0.0.1"), "alice").is_err());
        }
        // the client's bucket lost only the three counted attempts
        for n in 0..2 {
            drop(t.attempt(ip("10.0.0.1"), &format!("u{n}")).unwrap());
        }
        assert!(t.attempt(ip("10.0.0.1"), "u9").is_err());
    }

    #[test]
    fn buckets_refill_with_time() {
        let rate = Rate {
            burst: 3,
            every: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let empty = Bucket {
            tokens: 0.0,
            at: t0,
        };
        assert_eq!(
            refill(empty, rate, t0 + Duration::from_secs(15)).tokens,
            1.5
        );
        assert_eq!(
            refill(empty, rate, t0 + Duration::from_secs(600)).tokens,
            3.0
        );
    }

    #[tokio::test]
    async fn hashing_is_bounded_and_a_full_queue_is_turned_away() {
        let t = std::sync::Arc::new(LoginThrottle::new(limits()));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Arc::new(Mutex::new(gate));
        let mut running = Vec::new();
        for _ in 0..2 {
            let (t, gate) = (t.clone(), gate.clone());
            running.push(tokio::spawn(async move {
                t.hash(move || gate.lock().unwrap().recv().is_ok()).await
            }));
        }
        // both queued (one hashing, one waiting for the core): the next is turned away
        wharf_testkit::eventually(Duration::from_secs(10), "two attempts queued", || async {
            (t.waiting.load(Ordering::SeqCst) == 2).then_some(())
        })
        .await
        .unwrap();
        assert!(matches!(
            t.hash(|| true).await,
            Err(AppError::Unavailable(_))
        ));
        release.send(()).unwrap();
        release.send(()).unwrap();
        for r in running {
            assert!(r.await.unwrap().unwrap());
        }
        assert!(t.hash(|| true).await.unwrap());
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_one_it_saw() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.2.3.4, 198.51.100.9, 10.1.2.3".parse().unwrap(),
        );
        // from the proxy: the right-most address that is not a proxy
        assert_eq!(
            client_address(ip("10.0.0.5"), &h, &trusted),
            ip("198.51.100.9")
        );
        // from anyone else: the header is the client's claim, ignored
        assert_eq!(
            client_address(ip("203.0.113.1"), &h, &trusted),
            ip("203.0.113.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.5"), &http::HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(client_address(None, &h, &trusted), None);
    }
}
