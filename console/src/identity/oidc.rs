//! OpenID Connect (WIP, not wired yet): the authorization code flow with PKCE against any
//! provider — discovery, the authorization URL, the code exchange, and the ID token's checks
//! (signature against the provider's JWKS, refetched when a token names a key it does not
//! hold; issuer, audience, expiry and issue time with bounded clock skew; nonce).
//!
//! What a login in progress needs (state, nonce, PKCE verifier) travels in a short-lived
//! cookie sealed with the session key, so the callback may land on any replica.

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
/// The least time between two fetches of one provider's keys.
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
    pub fn new(provider: &str) -> Pending {
        Pending {
            provider: provider.to_string(),
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
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, Text> {
    let issuer = issuer.trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    let found: Discovery = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| text!("{url}: {e}", "{url}:{e}"))?
        .json()
        .await
        .map_err(|e| {
            text!(
                "{url} is not a discovery document: {e}",
                "{url} 不是发现文档:{e}"
            )
        })?;
    if found.issuer.trim_end_matches('/') != issuer {
        let named = &found.issuer;
        return Err(text!(
            "the provider at {issuer} calls itself {named}: the issuer must be exactly what it says",
            "{issuer} 处的身份提供方自称 {named}:issuer 必须与其完全一致"
        ));
    }
    Ok(found)
}

/// Where the browser goes to sign in.
pub fn authorize_url(
    d: &Discovery,
    client_id: &str,
    redirect_uri: &str,
    scopes: &str,
    pending: &Pending,
) -> Result<String, Text> {
    let mut url = Url::parse(&d.authorization_endpoint)
        .map_err(|e| text!("authorization endpoint: {e}", "授权端点:{e}"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
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
    redirect_uri: &str,
    code: &str,
    pending: &Pending,
) -> Result<String, Text> {
    let answer = http
        .post(&d.token_endpoint)
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &pending.verifier),
        ])
        .send()
        .await
        .map_err(|e| text!("token endpoint: {e}", "令牌端点:{e}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(text!(
            "the provider refused the code ({status}): {body}",
            "身份提供方拒绝了授权码({status}):{body}"
        ));
    }
    serde_json::from_str::<TokenAnswer>(&body)
        .map(|t| t.id_token)
        .map_err(|e| text!("no ID token in the answer: {e}", "应答中没有 ID 令牌:{e}"))
}

/// Each provider's keys, as last fetched.
#[derive(Default)]
pub struct Keys(Mutex<HashMap<String, (JwkSet, Instant)>>);

impl Keys {
    fn held(&self, jwks_uri: &str) -> Option<(JwkSet, Instant)> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(jwks_uri)
            .cloned()
    }

    /// The key named `kid`: from what is held, else fetched again (at most every 30 s, so a
    /// stream of tokens naming unknown keys cannot make the console hammer the provider).
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
        let held = self.held(jwks_uri);
        let found = held.as_ref().and_then(|(set, _)| pick(set));
        let jwk = match found {
            Some(jwk) => jwk,
            None => {
                if held.is_some_and(|(_, at)| at.elapsed() < REFETCH_EVERY) {
                    return Err(text!(
                        "the token names a key the provider does not publish",
                        "令牌使用的密钥未由身份提供方发布"
                    ));
                }
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
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(jwks_uri.to_string(), (set, Instant::now()));
                jwk.ok_or_else(|| {
                    text!(
                        "the token names a key the provider does not publish",
                        "令牌使用的密钥未由身份提供方发布"
                    )
                })?
            }
        };
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| text!("the provider's key: {e}", "身份提供方的密钥:{e}"))
    }
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

    #[test]
    fn the_challenge_is_s256_of_the_verifier() {
        // RFC 7636, appendix B
        let p = Pending {
            provider: "x".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        };
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let (a, b) = (Pending::new("x"), Pending::new("x"));
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
        let p = Pending::new("corp");
        let url = authorize_url(&d, "wharf", "http://c/cb", "openid groups", &p).unwrap();
        let parsed = Url::parse(&url).unwrap();
        let q: HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["state"], p.state);
        assert_eq!(q["nonce"], p.nonce);
        assert_eq!(q["code_challenge"], p.challenge());
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "openid groups");
    }
}
