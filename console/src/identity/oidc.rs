//! OpenID Connect, the protocol: the authorization code flow with PKCE against any provider —
//! discovery, the authorization URL, the code exchange, and the ID token's checks (signature
//! against the provider's JWKS, refetched when a token names a key it does not hold; issuer,
//! audience, expiry and issue time with bounded clock skew; nonce). The sign-in built on it
//! is `super::oidc_login`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wharf_api::{text, Text};

/// Clock skew allowed between the console and the provider.
pub const LEEWAY_SECS: u64 = 60;
/// How long a login may take between leaving for the provider and coming back.
pub const PENDING_SECS: i64 = 600;
/// The least time between two fetches of one provider's keys for the same unknown key name.
const REFETCH_EVERY: Duration = Duration::from_secs(30);

/// What the provider's discovery document says (the parts Wharf uses).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// A login in progress, sealed into a cookie until the provider sends the user back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The callback URL sent at the start (the code exchange must name the same).
    pub redirect_uri: String,
}

/// What went wrong talking to a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// It did not answer, or not as a provider does.
    Unavailable(Text),
    /// It answered no (a used or expired code, a wrong client secret).
    Refused(Text),
    /// Its answer failed a check (issuer, signature, audience, expiry, nonce).
    Invalid(Text),
}

impl Trouble {
    pub fn text(&self) -> &Text {
        match self {
            Trouble::Unavailable(t) | Trouble::Refused(t) | Trouble::Invalid(t) => t,
        }
    }
}

/// How long a discovery document is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// The most any request to a provider may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// The console's side of every provider: one HTTP client, the discovery documents and keys
/// as last fetched.
pub struct Client {
    pub http: reqwest::Client,
    pub keys: Keys,
    discovered: Mutex<HashMap<String, (Discovery, Instant)>>,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            // NB: no redirects followed: a provider's endpoints answer where they are
            http: reqwest::Client::builder()
                .timeout(DEADLINE)
                .connect_timeout(DEADLINE)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client builds"),
            keys: Keys::default(),
            discovered: Mutex::default(),
        }
    }
}

impl Client {
    /// The discovery document of `issuer`, fetched at most every five minutes.
    pub async fn discovery(&self, issuer: &str) -> Result<Discovery, Trouble> {
        let held = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(issuer)
            .filter(|(_, at)| at.elapsed() < DISCOVERY_TTL)
            .map(|(d, _)| d.clone());
        if let Some(d) = held {
            return Ok(d);
        }
        let d = discover(&self.http, issuer).await?;
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issuer.to_string(), (d.clone(), Instant::now()));
        Ok(d)
    }
}

/// The claims of an ID token that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub subject: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
}

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    B64.encode(b)
}

impl Pending {
    pub fn new(provider: &str, redirect_uri: &str) -> Pending {
        Pending {
            provider: provider.to_string(),
            redirect_uri: redirect_uri.to_string(),
            state: random(24),
            nonce: random(24),
            verifier: random(48),
        }
    }

    /// The PKCE challenge (S256) of the verifier.
    pub fn challenge(&self) -> String {
        B64.encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

/// Fetches `<issuer>/.well-known/openid-configuration` and checks it names the same issuer.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, Trouble> {
    let issuer = issuer.trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    let found: Discovery = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| Trouble::Unavailable(text!("{url}: {e}", "{url}:{e}")))?
        .json()
        .await
        .map_err(|e| {
            Trouble::Unavailable(text!(
                "{url} is not a discovery document: {e}",
                "{url} 不是发现文档:{e}"
            ))
        })?;
    if found.issuer.trim_end_matches('/') != issuer {
        let named = &found.issuer;
        return Err(Trouble::Invalid(text!(
            "the provider at {issuer} calls itself {named}: the issuer must be exactly what it says",
            "{issuer} 处的身份提供方自称 {named}:issuer 必须与其完全一致"
        )));
    }
    Ok(found)
}

/// Where the browser goes to sign in.
pub fn authorize_url(
    d: &Discovery,
    client_id: &str,
    scopes: &str,
    pending: &Pending,
) -> Result<String, Trouble> {
    let mut url = Url::parse(&d.authorization_endpoint)
        .map_err(|e| Trouble::Unavailable(text!("authorization endpoint: {e}", "授权端点:{e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &pending.redirect_uri)
        .append_pair("scope", scopes)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &pending.challenge())
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
}

/// Exchanges the code for the ID token (client_secret_basic, with the PKCE verifier).
pub async fn exchange(
    http: &reqwest::Client,
    d: &Discovery,
    client_id: &str,
    client_secret: &str,
    code: &str,
    pending: &Pending,
) -> Result<String, Trouble> {
    let answer = http
        .post(&d.token_endpoint)
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &pending.redirect_uri),
            ("code_verifier", &pending.verifier),
        ])
        .send()
        .await
        .map_err(|e| Trouble::Unavailable(text!("token endpoint: {e}", "令牌端点:{e}")))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    // NB: what the provider says goes to the audit log; kept short
    let said: String = body.chars().take(300).collect();
    if status.is_server_error() {
        return Err(Trouble::Unavailable(text!(
            "token endpoint: {status} {said}",
            "令牌端点:{status} {said}"
        )));
    }
    if !status.is_success() {
        return Err(Trouble::Refused(text!(
            "the provider refused the code ({status}): {said}",
            "身份提供方拒绝了授权码({status}):{said}"
        )));
    }
    serde_json::from_str::<TokenAnswer>(&body)
        .map(|t| t.id_token)
        .map_err(|e| {
            Trouble::Invalid(text!(
                "no ID token in the answer: {e}",
                "应答中没有 ID 令牌:{e}"
            ))
        })
}

/// Each provider's keys, as last fetched, and the key names looked for in vain.
#[derive(Default)]
pub struct Keys(Mutex<HashMap<String, Held>>);

#[derive(Clone)]
struct Held {
    set: JwkSet,
    /// Key names (`""`: none) the provider did not publish at the last fetch, and when.
    missed: HashMap<String, Instant>,
}

impl Held {
    fn empty() -> Held {
        Held {
            set: JwkSet { keys: Vec::new() },
            missed: HashMap::new(),
        }
    }
}

fn unknown_key() -> Text {
    text!(
        "the token names a key the provider does not publish",
        "令牌使用的密钥未由身份提供方发布"
    )
}

impl Keys {
    fn held(&self, jwks_uri: &str) -> Held {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(jwks_uri)
            .cloned()
            .unwrap_or_else(Held::empty)
    }

    /// The key named `kid`: from what is held, else fetched again, as after the provider
    /// rotated its keys; a name looked for in vain is not fetched for again within 30 s.
    pub async fn key(
        &self,
        http: &reqwest::Client,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<DecodingKey, Text> {
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let name = kid.unwrap_or_default().to_string();
        let held = self.held(jwks_uri);
        let jwk = match pick(&held.set) {
            Some(jwk) => jwk,
            None if held
                .missed
                .get(&name)
                .is_some_and(|at| at.elapsed() < REFETCH_EVERY) =>
            {
                return Err(unknown_key())
            }
            None => {
                let set: JwkSet = http
                    .get(jwks_uri)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| text!("{jwks_uri}: {e}", "{jwks_uri}:{e}"))?
                    .json()
                    .await
                    .map_err(|e| {
                        text!("{jwks_uri} is not a JWKS: {e}", "{jwks_uri} 不是 JWKS:{e}")
                    })?;
                let jwk = pick(&set);
                let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
                let entry = all.entry(jwks_uri.to_string()).or_insert_with(Held::empty);
                entry.set = set;
                entry.missed.retain(|_, at| at.elapsed() < REFETCH_EVERY);
                if jwk.is_none() {
                    entry.missed.insert(name, Instant::now());
                }
                jwk.ok_or_else(unknown_key)?
            }
        };
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| text!("the provider's key: {e}", "身份提供方的密钥:{e}"))
    }

    /// Holds `set` as `jwks_uri`'s keys (unit tests, without a provider).
    #[cfg(test)]
    fn hold(&self, jwks_uri: &str, set: JwkSet) {
        let mut held = Held::empty();
        held.set = set;
        self.0.lock().unwrap().insert(jwks_uri.to_string(), held);
    }
}

/// "Test these settings" for an OpenID Connect provider: discovery, its keys, and whether its
/// token endpoint takes the client's credentials (a made-up code is sent: a provider that
/// knows the client answers `invalid_grant`, one that does not, `invalid_client`).
pub async fn trial(
    client: &Client,
    issuer: &str,
    client_id: &str,
    client_secret: &str,
) -> wharf_api::identity::TrialReport {
    use wharf_api::identity::{TrialReport, TrialStep};
    let mut report = TrialReport {
        steps: Vec::new(),
        user: None,
    };
    let mut push = |what: Text, result: Result<String, Text>| {
        let ok = result.is_ok();
        report.steps.push(TrialStep {
            what,
            ok,
            detail: result.unwrap_or_else(|e| e.to_string()),
        });
        ok
    };
    // NB: fetched anew, not from the cache: the point is to see the provider now
    let found = discover(&client.http, issuer).await;
    let shown = found.as_ref().map_err(|t| t.text().clone()).map(|d| {
        format!(
            "authorization {} · token {}",
            d.authorization_endpoint, d.token_endpoint
        )
    });
    push(text!("Read the discovery document", "读取发现文档"), shown);
    let Ok(d) = found else {
        return report;
    };
    let keys = async {
        let set: JwkSet = client
            .http
            .get(&d.jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| text!("{e}", "{e}"))?
            .json()
            .await
            .map_err(|e| text!("not a JWKS: {e}", "不是 JWKS:{e}"))?;
        Ok::<_, Text>(format!("{} keys at {}", set.keys.len(), d.jwks_uri))
    };
    if !push(text!("Read the signing keys", "读取签名密钥"), keys.await) {
        return report;
    }
    let credentials = async {
        let answer = client
            .http
            .post(&d.token_endpoint)
            .basic_auth(client_id, Some(client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "wharf-settings-trial"),
                ("redirect_uri", "https://wharf.invalid/trial"),
                ("code_verifier", &random(48)),
            ])
            .send()
            .await
            .map_err(|e| text!("{e}", "{e}"))?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let error = body.get("error").and_then(|e| e.as_str()).unwrap_or("");
        match (status.as_u16(), error) {
            (_, "invalid_client" | "unauthorized_client") | (401, _) => Err(text!(
                "the provider does not know this client ID and secret ({status} {error})",
                "身份提供方不认可此客户端 ID 和密钥({status} {error})"
            )),
            (400, _) => Ok(format!("client accepted ({error} for a made-up code)")),
            _ => Err(text!(
                "unexpected answer {status} {error}",
                "意外的应答 {status} {error}"
            )),
        }
    };
    push(
        text!("Present the client's credentials", "出示客户端凭据"),
        credentials.await,
    );
    report
}

/// Which claims say what (the provider's settings).
pub struct ClaimNames<'a> {
    pub username: &'a str,
    pub groups: &'a str,
}

/// Checks an ID token: signature (RS256/ES256 by its header, never `none` or HMAC), issuer,
/// audience, expiry and issue time within [`LEEWAY_SECS`], and the nonce of this login.
pub async fn verify(
    http: &reqwest::Client,
    keys: &Keys,
    d: &Discovery,
    client_id: &str,
    id_token: &str,
    nonce: &str,
    names: &ClaimNames<'_>,
) -> Result<Verified, Text> {
    use jsonwebtoken::Algorithm::*;
    let header = decode_header(id_token).map_err(|e| text!("ID token: {e}", "ID 令牌:{e}"))?;
    if !matches!(
        header.alg,
        RS256 | RS384 | RS512 | ES256 | ES384 | PS256 | PS384 | PS512 | EdDSA
    ) {
        let alg = format!("{:?}", header.alg);
        return Err(text!(
            "ID token signed with {alg}: only public-key signatures are accepted",
            "ID 令牌使用 {alg} 签名:只接受公钥签名"
        ));
    }
    let key = keys.key(http, &d.jwks_uri, header.kid.as_deref()).await?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECS;
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[d.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = decode::<serde_json::Map<String, serde_json::Value>>(id_token, &key, &validation)
        .map_err(|e| text!("ID token refused: {e}", "ID 令牌被拒绝:{e}"))?
        .claims;
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64())
        .unwrap_or(i64::MAX);
    if iat > chrono::Utc::now().timestamp() + LEEWAY_SECS as i64 {
        return Err(text!(
            "ID token issued in the future",
            "ID 令牌的签发时间在未来"
        ));
    }
    if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce) {
        return Err(text!(
            "ID token for another login (nonce)",
            "ID 令牌属于另一次登录(nonce 不符)"
        ));
    }
    let text_of = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let groups = match claims.get(names.groups) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(Verified {
        subject: text_of("sub"),
        username: text_of(names.username),
        display_name: text_of("name"),
        email: text_of("email"),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 key made for these tests only (openssl genpkey -algorithm EC), and its JWK.
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgaNntK664yCBh3L2U
lNMHWaLL0B9b/KJqrbn327zSNxChRANCAARLLqKENCRu0zjKcO+P+1WCSQQ/o5JP
KqhUWanP7fVA9TWU1Qz86kUPkyqkpbc7DV3RIqlBHiqknUlAOCdoM5TL
-----END PRIVATE KEY-----
";
    const JWKS_URI: &str = "http://127.0.0.1:9/jwks";

    fn provider() -> (Discovery, Keys) {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": "Sy6ihDQkbtM4ynDvj_tVgkkEP6OSTyqoVFmpz-31QPU",
            "y": "NZTVDPzqRQ-TKqSltzsNXdEiqUEeKqSdSUA4J2gzlMs"}]}))
        .unwrap();
        let keys = Keys::default();
        keys.hold(JWKS_URI, set);
        let d = Discovery {
            issuer: "https://id.example.com".into(),
            authorization_endpoint: "https://id.example.com/auth".into(),
            token_endpoint: "https://id.example.com/token".into(),
            jwks_uri: JWKS_URI.into(),
            end_session_endpoint: None,
        };
        (d, keys)
    }

    fn claims(change: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = serde_json::json!({"iss": "https://id.example.com", "aud": "wharf",
            "sub": "u-1", "exp": now + 300, "iat": now, "nonce": "n-1",
            "preferred_username": "Olga.Smith", "name": "Olga", "email": "olga@example.com",
            "groups": ["alpha-devs", "ops"]});
        change(&mut c);
        c
    }

    fn signed(c: &serde_json::Value, kid: &str) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.into());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(TEST_KEY.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, c, &key).unwrap()
    }

    async fn check_token(token: &str) -> Result<Verified, Text> {
        let (d, keys) = provider();
        let names = ClaimNames {
            username: "preferred_username",
            groups: "groups",
        };
        let http = reqwest::Client::new();
        verify(&http, &keys, &d, "wharf", token, "n-1", &names).await
    }

    #[tokio::test]
    async fn a_good_id_token_gives_the_user_and_groups() {
        let v = check_token(&signed(&claims(|_| {}), "k1")).await.unwrap();
        assert_eq!(v.username, "Olga.Smith");
        assert_eq!(v.subject, "u-1");
        assert_eq!(v.email, "olga@example.com");
        assert_eq!(v.groups, ["alpha-devs", "ops"]);
        let skewed = claims(|c| c["exp"] = (chrono::Utc::now().timestamp() - 30).into());
        assert!(
            check_token(&signed(&skewed, "k1")).await.is_ok(),
            "expired 30 s ago: within the allowed clock skew"
        );
    }

    #[tokio::test]
    async fn a_bad_id_token_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let cases: Vec<(&str, serde_json::Value)> = vec![
            ("expired", claims(|c| c["exp"] = (now - 120).into())),
            (
                "issued in the future",
                claims(|c| c["iat"] = (now + 600).into()),
            ),
            ("another audience", claims(|c| c["aud"] = "other".into())),
            (
                "another issuer",
                claims(|c| c["iss"] = "https://evil.example.com".into()),
            ),
            (
                "another login's nonce",
                claims(|c| c["nonce"] = "n-2".into()),
            ),
            (
                "no nonce",
                claims(|c| {
                    c.as_object_mut().unwrap().remove("nonce");
                }),
            ),
            (
                "no expiry",
                claims(|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ];
        for (why, c) in cases {
            let refused = check_token(&signed(&c, "k1")).await;
            assert!(refused.is_err(), "{why}: {refused:?}");
        }
        // unsigned, signed with a shared secret, tampered with, or by a key nobody published
        let good = signed(&claims(|_| {}), "k1");
        let (_, rest) = good.split_once('.').unwrap();
        let unsigned = format!("{}.{rest}", B64.encode(r#"{"alg":"none","kid":"k1"}"#));
        let (payload, _) = rest.split_once('.').unwrap();
        let unsigned_empty = format!("{}.{payload}.", B64.encode(r#"{"alg":"none"}"#));
        let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        hs.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(
            &hs,
            &claims(|_| {}),
            &jsonwebtoken::EncodingKey::from_secret(b"Sy6ihDQkbtM4ynDvj_tVgkkEP6OSTyqoVFmpz-31QPU"),
        )
        .unwrap();
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = claims(|c| c["groups"] = serde_json::json!(["platform-admins"]));
        let tampered = format!("{head}.{}.{sig}", B64.encode(forged.to_string()));
        for (why, token) in [
            ("alg none", unsigned),
            ("alg none, no signature", unsigned_empty),
            ("HS256", hmac),
            ("tampered", tampered),
            ("unknown key", signed(&claims(|_| {}), "k9")),
        ] {
            let refused = check_token(&token).await;
            assert!(refused.is_err(), "{why}: {refused:?}");
        }
    }

    #[test]
    fn the_challenge_is_s256_of_the_verifier() {
        // RFC 7636, appendix B
        let p = Pending {
            provider: "x".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            redirect_uri: "http://c/cb".into(),
        };
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let (a, b) = (
            Pending::new("x", "http://c/cb"),
            Pending::new("x", "http://c/cb"),
        );
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier, b.verifier);
        assert!(a.verifier.len() >= 43, "RFC 7636: 43 to 128 characters");
    }

    #[test]
    fn the_authorization_url_carries_the_login() {
        let d = Discovery {
            issuer: "http://127.0.0.1:9".into(),
            authorization_endpoint: "http://127.0.0.1:9/auth".into(),
            token_endpoint: "http://127.0.0.1:9/token".into(),
            jwks_uri: "http://127.0.0.1:9/jwks".into(),
            end_session_endpoint: None,
        };
        let p = Pending::new("corp", "http://c/cb");
        let url = authorize_url(&d, "wharf", "openid groups", &p).unwrap();
        let parsed = Url::parse(&url).unwrap();
        let q: HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["state"], p.state);
        assert_eq!(q["nonce"], p.nonce);
        assert_eq!(q["code_challenge"], p.challenge());
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "openid groups");
        assert_eq!(q["redirect_uri"], "http://c/cb");
    }
}
