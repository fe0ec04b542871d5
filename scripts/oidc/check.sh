#!/usr/bin/env bash
# Smoke test of the throwaway OIDC provider, with curl only (no browser):
# discovery, JWKS + key rotation, a full authorization code + PKCE flow,
# group changes, userinfo, and RP-initiated logout. Exits 0 only if all pass.
#
#   bash scripts/oidc/check.sh        (runs `npm ci` first if node_modules is missing)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

command -v node >/dev/null || { echo "FAIL node is not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "FAIL curl is not installed" >&2; exit 1; }
if [ ! -d node_modules/oidc-provider ]; then
  echo "== npm ci (node_modules missing)"
  npm ci --no-audit --no-fund >&2
fi

WORK="$(mktemp -d)"
JAR="$WORK/cookies.txt"
BODY="$WORK/body"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*" >&2
  if [ -s "$WORK/provider.err" ]; then
    echo "---- provider stderr (last 20 lines) ----" >&2
    tail -n 20 "$WORK/provider.err" >&2
  fi
  exit 1
}

# jq-like helper on stdin: jget 'o.some.expr' (a JavaScript expression over o).
jget() {
  node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const o = JSON.parse(s);
      const v = new Function("o", "return (" + process.argv[1] + ")")(o);
      process.stdout.write(typeof v === "string" ? v : JSON.stringify(v ?? null));
    });' -- "$1"
}

# base64url-decoded JSON of part N (0 = header, 1 = payload) of a JWT.
jwt_part() {
  node -e 'process.stdout.write(Buffer.from(process.argv[1].split(".")[process.argv[2]], "base64url").toString("utf8"))' -- "$1" "$2"
}

# Verify a JWT's RS256 signature against the provider's JWKS (given as a JSON string).
jwt_verify() {
  node -e '
    const crypto = require("node:crypto");
    const [jwt, jwksText] = process.argv.slice(1);
    const [h, p, s] = jwt.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const jwk = JSON.parse(jwksText).keys.find((k) => k.kid === header.kid);
    if (!jwk) { console.error("no JWKS key with kid " + header.kid); process.exit(1); }
    if (header.alg !== "RS256") { console.error("alg is " + header.alg); process.exit(1); }
    const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
    const good = crypto.verify("sha256", Buffer.from(h + "." + p), key, Buffer.from(s, "base64url"));
    process.exit(good ? 0 : 1);' -- "$1" "$2"
}

# One HTTP exchange, no redirect following; sets CODE and LOC (absolute Location).
hop() {
  local out
  out="$(curl -sS -b "$JAR" -c "$JAR" -o "$BODY" -w '%{http_code} %{redirect_url}' "$@")" || fail "curl $*"
  CODE="${out%% *}"
  LOC="${out#* }"
}

rand() { node -e 'process.stdout.write(require("node:crypto").randomBytes(+process.argv[1]).toString("base64url"))' -- "$1"; }
urlenc() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' -- "$1"; }
s256() { node -e 'process.stdout.write(require("node:crypto").createHash("sha256").update(process.argv[1]).digest("base64url"))' -- "$1"; }
qparam() { node -e 'process.stdout.write(new URL(process.argv[1]).searchParams.get(process.argv[2]) ?? "")' -- "$1" "$2"; }

# ---------------------------------------------------------------- start
step "start provider"
PORT="$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
ISSUER="http://127.0.0.1:$PORT"
CLIENT_ID=wharf
CLIENT_SECRET="check-secret-$(rand 6)"
REDIRECT_URI="http://127.0.0.1:9/oidc/callback"      # nothing listens there: we only read Location
POST_LOGOUT_URI="http://127.0.0.1:9/logged-out"

node provider.mjs --port "$PORT" --issuer "$ISSUER" --client-id "$CLIENT_ID" \
  --client-secret "$CLIENT_SECRET" --redirect-uri "$REDIRECT_URI" \
  --post-logout-redirect-uri "$POST_LOGOUT_URI" >"$WORK/provider.out" 2>"$WORK/provider.err" &
PID=$!
for _ in $(seq 1 150); do
  grep -q '^ready ' "$WORK/provider.out" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || fail "provider exited early"
  sleep 0.1
done
READY="$(head -n1 "$WORK/provider.out")"
[ "$READY" = "ready $ISSUER" ] || fail "expected 'ready $ISSUER' on stdout, got '$READY'"
ok "$READY (pid $PID)"

# ---------------------------------------------------------------- discovery
step "discovery: GET $ISSUER/.well-known/openid-configuration"
DISCO="$(curl -sSf "$ISSUER/.well-known/openid-configuration")" || fail "discovery request"
check_disco() { # name expected-js-expression
  local v
  v="$(printf '%s' "$DISCO" | jget "$1")"
  [ "$v" = "$2" ] || fail "discovery $1 = $v, want $2"
  ok "$1 = $v"
}
check_disco 'o.issuer' "$ISSUER"
check_disco 'o.authorization_endpoint' "$ISSUER/auth"
check_disco 'o.token_endpoint' "$ISSUER/token"
check_disco 'o.jwks_uri' "$ISSUER/jwks"
check_disco 'o.userinfo_endpoint' "$ISSUER/me"
check_disco 'o.end_session_endpoint' "$ISSUER/session/end"
check_disco 'o.code_challenge_methods_supported.join(",")' "S256"
check_disco 'o.response_types_supported.join(",")' "code"
check_disco 'o.scopes_supported.includes("groups")' "true"
check_disco 'o.claims_supported.includes("groups")' "true"
check_disco 'o.token_endpoint_auth_methods_supported.join(",")' "client_secret_basic,client_secret_post"
AUTH_EP="$(printf '%s' "$DISCO" | jget o.authorization_endpoint)"
TOKEN_EP="$(printf '%s' "$DISCO" | jget o.token_endpoint)"
JWKS_URI="$(printf '%s' "$DISCO" | jget o.jwks_uri)"
USERINFO_EP="$(printf '%s' "$DISCO" | jget o.userinfo_endpoint)"
END_SESSION_EP="$(printf '%s' "$DISCO" | jget o.end_session_endpoint)"

# ---------------------------------------------------------------- JWKS + rotation
step "JWKS and key rotation"
JWKS="$(curl -sSf "$JWKS_URI")" || fail "jwks request"
N="$(printf '%s' "$JWKS" | jget 'o.keys.length')"
[ "$N" = 1 ] || fail "JWKS has $N keys, want 1"
OLD_KID="$(printf '%s' "$JWKS" | jget 'o.keys[0].kid')"
ok "JWKS lists 1 key: kid=$OLD_KID $(printf '%s' "$JWKS" | jget 'o.keys[0].kty+"/"+o.keys[0].alg+"/"+o.keys[0].use')"
[ "$(printf '%s' "$JWKS" | jget '"d" in o.keys[0]')" = false ] || fail "JWKS leaks private key material"
ok "JWKS has no private parameters"

ROT="$(curl -sSf -X POST "$ISSUER/_test/rotate-keys")" || fail "POST /_test/rotate-keys"
NEW_KID="$(printf '%s' "$ROT" | jget o.current)"
ok "POST /_test/rotate-keys -> $ROT"
JWKS="$(curl -sSf "$JWKS_URI")" || fail "jwks request"
N="$(printf '%s' "$JWKS" | jget 'o.keys.length')"
[ "$N" = 2 ] || fail "JWKS has $N keys after rotation, want 2"
KIDS="$(printf '%s' "$JWKS" | jget 'o.keys.map(k=>k.kid).join(",")')"
[ "$KIDS" = "$NEW_KID,$OLD_KID" ] || fail "JWKS kids $KIDS, want $NEW_KID,$OLD_KID"
ok "JWKS lists 2 keys (new first): $KIDS"

# ---------------------------------------------------------------- code + PKCE flow
authorize_url() { # state nonce challenge [extra query]
  printf '%s?client_id=%s&response_type=code&scope=%s&redirect_uri=%s&state=%s&nonce=%s&code_challenge=%s&code_challenge_method=S256%s' \
    "$AUTH_EP" "$CLIENT_ID" "$(urlenc 'openid profile email groups')" "$(urlenc "$REDIRECT_URI")" \
    "$1" "$2" "$3" "${4:-}"
}

# Follow Location hops on the provider until it sends us to REDIRECT_URI
# (or to an interaction page). Sets LOC.
follow_until_rp() {
  local i
  for i in $(seq 1 10); do
    case "$LOC" in
      "$REDIRECT_URI"*) return 0 ;;
      "$ISSUER/interaction/"*) return 0 ;;
      "$ISSUER"/*) hop "$LOC"; ok "  GET -> $CODE ${LOC:-<no Location>}" ;;
      *) fail "unexpected redirect target '$LOC' (HTTP $CODE)" ;;
    esac
  done
  fail "too many redirects"
}

VERIFIER="$(rand 48)"   # 64 chars, within PKCE's 43..128
CHALLENGE="$(s256 "$VERIFIER")"
STATE="$(rand 12)"
NONCE="$(rand 12)"

step "authorization code + PKCE as olga"
URL="$(authorize_url "$STATE" "$NONCE" "$CHALLENGE")"
echo "     GET $URL"
hop "$URL"
ok "  GET -> $CODE $LOC"
follow_until_rp
case "$LOC" in "$ISSUER/interaction/"*) ;; *) fail "expected a login interaction, got $LOC" ;; esac
INTERACTION="$LOC"
hop "$INTERACTION"
[ "$CODE" = 200 ] || fail "login page HTTP $CODE"
for sel in 'name="username"' 'id="username"' 'name="password"' 'id="password"' 'id="login-submit"'; do
  grep -q "$sel" "$BODY" || fail "login page lacks $sel"
done
ACTION="$(grep -o 'action="/interaction/[^"]*/login"' "$BODY" | head -n1 | sed 's/^action="//; s/"$//')"
[ -n "$ACTION" ] || fail "login form action not found"
ok "login page at ${INTERACTION#"$ISSUER"} has username/password/login-submit; form POSTs to $ACTION"

hop -X POST --data-urlencode username=olga --data-urlencode password=wrong "$ISSUER$ACTION"
[ "$CODE" = 200 ] && grep -q 'id="login-error"' "$BODY" || fail "wrong password not rejected (HTTP $CODE)"
ok "wrong password -> login page again with #login-error"

hop -X POST --data-urlencode username=olga --data-urlencode password=olga-pass-1 "$ISSUER$ACTION"
ok "  POST $ACTION -> $CODE $LOC"
follow_until_rp
case "$LOC" in "$REDIRECT_URI"*) ;; *) fail "expected redirect to $REDIRECT_URI (no consent screen), got $LOC" ;; esac
AUTH_CODE="$(qparam "$LOC" code)"
[ -n "$AUTH_CODE" ] || fail "no code in $LOC"
[ "$(qparam "$LOC" state)" = "$STATE" ] || fail "state mismatch in $LOC"
[ "$(qparam "$LOC" iss)" = "$ISSUER" ] || fail "iss mismatch in $LOC"
ok "redirected to redirect_uri with code, matching state and iss (no consent screen)"

step "token exchange (client_secret_basic + code_verifier)"
hop -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code --data-urlencode "code=$AUTH_CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" -d code_verifier=wrong-verifier-wrong-verifier-wrong-verifier-00 "$TOKEN_EP"
[ "$CODE" = 400 ] && [ "$(jget o.error <"$BODY")" = invalid_grant ] || fail "wrong code_verifier not rejected: $CODE $(cat "$BODY")"
ok "wrong code_verifier -> 400 invalid_grant"

hop -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code --data-urlencode "code=$AUTH_CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" "$TOKEN_EP"
[ "$CODE" = 200 ] || fail "token endpoint HTTP $CODE: $(cat "$BODY")"
TOKENS="$(cat "$BODY")"
ok "right code_verifier -> 200, token response keys: $(printf '%s' "$TOKENS" | jget 'Object.keys(o).join(",")')"
ID_TOKEN="$(printf '%s' "$TOKENS" | jget o.id_token)"
ACCESS_TOKEN="$(printf '%s' "$TOKENS" | jget o.access_token)"

step "ID token"
HEADER="$(jwt_part "$ID_TOKEN" 0)"
PAYLOAD="$(jwt_part "$ID_TOKEN" 1)"
echo "     header:  $HEADER"
echo "     payload: $PAYLOAD"
[ "$(printf '%s' "$HEADER" | jget o.kid)" = "$NEW_KID" ] || fail "ID token not signed with the rotated-in key $NEW_KID"
ok "signed with the current (rotated-in) key $NEW_KID"
jwt_verify "$ID_TOKEN" "$JWKS" || fail "ID token signature does not verify against JWKS"
ok "RS256 signature verifies against JWKS"
check_claim() {
  local v
  v="$(printf '%s' "$PAYLOAD" | jget "$1")"
  [ "$v" = "$2" ] || fail "ID token $1 = $v, want $2"
  ok "$1 = $v"
}
check_claim o.iss "$ISSUER"
check_claim o.aud "$CLIENT_ID"
check_claim o.sub olga
check_claim o.nonce "$NONCE"
check_claim o.email olga@example.com
check_claim o.name "Olga OIDC"
check_claim o.groups '["alpha-devs","platform-ops"]'

step "userinfo"
UI="$(curl -sSf -H "Authorization: Bearer $ACCESS_TOKEN" "$USERINFO_EP")" || fail "userinfo request"
echo "     $UI"
[ "$(printf '%s' "$UI" | jget 'o.groups.join(",")')" = "alpha-devs,platform-ops" ] || fail "userinfo groups"
ok "userinfo has groups"

step "authorization code replay"
hop -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code --data-urlencode "code=$AUTH_CODE" \
  --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER" "$TOKEN_EP"
[ "$CODE" = 400 ] && [ "$(jget o.error <"$BODY")" = invalid_grant ] || fail "code replay not rejected: $CODE $(cat "$BODY")"
ok "replaying the same code -> 400 invalid_grant"
hop -H "Authorization: Bearer $ACCESS_TOKEN" "$USERINFO_EP"
[ "$CODE" = 401 ] || fail "access token still valid after code replay: HTTP $CODE"
ok "the replay revoked the grant: userinfo with its access token -> 401"

step "PKCE is required"
hop "$AUTH_EP?client_id=$CLIENT_ID&response_type=code&scope=openid&redirect_uri=$(urlenc "$REDIRECT_URI")&state=s1&nonce=n1"
[ "$(qparam "$LOC" error)" = invalid_request ] || fail "request without code_challenge not rejected: $CODE $LOC"
ok "no code_challenge -> redirect with error=invalid_request ($(qparam "$LOC" error_description))"

# ---------------------------------------------------------------- group change
step "POST /_test/groups, then the next login (SSO, no form) sees the new groups (client_secret_post)"
R="$(curl -sSf -X POST -H 'content-type: application/json' -d '{"user":"olga","groups":["beta-admins"]}' "$ISSUER/_test/groups")" || fail "POST /_test/groups"
ok "POST /_test/groups -> $R"
STATE="$(rand 12)"; NONCE="$(rand 12)"; VERIFIER="$(rand 48)"
CHALLENGE="$(s256 "$VERIFIER")"
hop "$(authorize_url "$STATE" "$NONCE" "$CHALLENGE")"
follow_until_rp
AUTH_CODE="$(qparam "$LOC" code)"
[ -n "$AUTH_CODE" ] || fail "no code in $LOC"
hop -d grant_type=authorization_code --data-urlencode "code=$AUTH_CODE" --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "code_verifier=$VERIFIER" --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET" "$TOKEN_EP"
[ "$CODE" = 200 ] || fail "token endpoint (client_secret_post) HTTP $CODE: $(cat "$BODY")"
ID_TOKEN2="$(jget o.id_token <"$BODY")"
PAYLOAD="$(jwt_part "$ID_TOKEN2" 1)"
check_claim o.groups '["beta-admins"]'
check_claim o.nonce "$NONCE"

# ---------------------------------------------------------------- logout
step "RP-initiated logout"
LSTATE="$(rand 8)"
hop "$END_SESSION_EP?id_token_hint=$ID_TOKEN2&post_logout_redirect_uri=$(urlenc "$POST_LOGOUT_URI")&state=$LSTATE"
[ "$CODE" = 200 ] || fail "end_session HTTP $CODE"
grep -q 'id="logout-submit"' "$BODY" || fail "logout page lacks #logout-submit"
XSRF="$(grep -o 'name="xsrf" value="[^"]*"' "$BODY" | sed 's/.*value="//; s/"$//')"
CONFIRM="$(grep -o 'action="[^"]*"' "$BODY" | head -n1 | sed 's/^action="//; s/"$//')"
[ -n "$XSRF" ] && [ -n "$CONFIRM" ] || fail "logout form not found"
ok "logout page has #logout-submit (auto-clicked by a script in browsers); form POSTs to $CONFIRM"
hop -X POST --data-urlencode "xsrf=$XSRF" -d logout=yes "$CONFIRM"
case "$LOC" in "$POST_LOGOUT_URI"*) ;; *) fail "expected redirect to $POST_LOGOUT_URI, got $CODE $LOC" ;; esac
[ "$(qparam "$LOC" state)" = "$LSTATE" ] || fail "logout state mismatch: $LOC"
ok "POST logout=yes -> $CODE $LOC"
hop "$(authorize_url s2 n2 "$CHALLENGE")"
follow_until_rp
case "$LOC" in "$ISSUER/interaction/"*) ;; *) fail "session survived logout: $LOC" ;; esac
ok "after logout a new authorization request asks for login again"

step "SIGTERM"
kill -TERM "$PID"
for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "provider did not exit on SIGTERM"
wait "$PID" && RC=0 || RC=$?
[ "$RC" = 0 ] || fail "provider exit code $RC after SIGTERM"
PID=""
ok "provider exited 0"

printf '\nall OIDC provider checks passed\n'
