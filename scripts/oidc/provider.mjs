// Throwaway OpenID Connect provider for Wharf integration tests.
//
// Built on panva's certified `oidc-provider` (pinned in package.json). Everything
// lives in memory and is gone when the process exits. See README.md.
//
//   node provider.mjs --port P [--issuer http://127.0.0.1:P] --client-id wharf \
//     --client-secret S --redirect-uri URI [--redirect-uri URI2] \
//     [--post-logout-redirect-uri URI] [--host 127.0.0.1] [--manual-logout] [--proxy]
//
// stdout carries exactly one line, `ready http://HOST:PORT`, once the port is listening;
// every log line (ours and oidc-provider's notices) goes to stderr.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints its notices with console.info; keep stdout for `ready`.
console.info = console.error;
console.log = console.error;

const { default: Provider } = await import('oidc-provider');

// ---------------------------------------------------------------- arguments

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    issuer: { type: 'string' },
    'client-id': { type: 'string', default: 'wharf' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'manual-logout': { type: 'boolean', default: false },
    proxy: { type: 'boolean', default: false },
  },
  strict: true,
});

function die(msg) {
  console.error(`provider.mjs: ${msg}`);
  process.exit(2);
}

const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) die('--port must be 0..65535');
if (!opts['client-secret']) die('--client-secret is required');
if (!opts['redirect-uri']?.length) die('at least one --redirect-uri is required');
const clientId = opts['client-id'];

// ------------------------------------------------------------------ accounts

const USERS = new Map([
  ['olga', { password: 'olga-pass-1', name: 'Olga OIDC', email: 'olga@example.com', groups: ['alpha-devs', 'platform-ops'] }],
  ['pete', { password: 'pete-pass-1', name: 'Pete Viewer', email: 'pete@example.com', groups: ['alpha-viewers'] }],
  ['quinn', { password: 'quinn-pass-1', name: 'Quinn Nogroups', email: 'quinn@example.com', groups: [] }],
]);

async function findAccount(_ctx, sub) {
  if (!USERS.has(sub)) return undefined;
  return {
    accountId: sub,
    // Read at token/userinfo time, so POST /_test/groups shows up on the next login.
    async claims() {
      const u = USERS.get(sub);
      return {
        sub,
        name: u.name,
        preferred_username: sub,
        email: u.email,
        email_verified: true,
        groups: [...u.groups],
      };
    },
  };
}

// -------------------------------------------------------------- storage

// One store shared by every Provider instance (a key rotation builds a new
// instance), so sessions, interactions, grants, codes and tokens survive it.
const STORE = new Map();
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

function storeGet(key) {
  const e = STORE.get(key);
  if (!e) return undefined;
  if (e.exp && e.exp < Date.now()) {
    STORE.delete(key);
    return undefined;
  }
  return e.value;
}

function storeSet(key, value, expiresIn) {
  STORE.set(key, { value, exp: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
}

setInterval(() => {
  const now = Date.now();
  for (const [k, e] of STORE) if (e.exp && e.exp < now) STORE.delete(k);
}, 60_000).unref();

class MemoryAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    storeSet(key, payload, expiresIn);
    if (this.model === 'Session' && payload.uid) storeSet(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) storeSet(`userCode:${payload.userCode}`, id, expiresIn);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const gk = `grant:${payload.grantId}`;
      const members = storeGet(gk) ?? new Set();
      members.add(key);
      storeSet(gk, members, 0);
    }
  }

  async find(id) { return storeGet(this.key(id)); }

  async findByUid(uid) {
    const id = storeGet(`sessionUid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = storeGet(`userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { STORE.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    const gk = `grant:${grantId}`;
    for (const key of storeGet(gk) ?? []) STORE.delete(key);
    STORE.delete(gk);
  }
}

// ----------------------------------------------------------------- signing keys

// Newest first: oidc-provider signs with the first matching key, and serves all
// of them in the JWKS so tokens signed with older keys still verify.
let signingKeys = [];

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `wharf-test-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

// Cookie signing keys must stay the same across instances.
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

// ----------------------------------------------------------------- HTML

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:26em;margin:3em auto}label,input,button{display:block;margin:.4em 0}
input{width:100%;padding:.3em}button{padding:.4em 1.2em}.error{color:#b00}</style>
</head><body>
<h1>${esc(title)}</h1>
${body}
</body></html>`;
}

function loginPage(uid, { username = '', error, clientId: cid } = {}) {
  return page('Wharf test IdP: sign in', `
<p>Signing in to <code id="client-id">${esc(cid)}</code></p>
${error ? `<p class="error" id="login-error">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" value="${esc(username)}" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button id="login-submit" type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
  <button id="login-cancel" type="submit">Cancel</button>
</form>`);
}

function consentPage(uid, details) {
  return page('Wharf test IdP: consent', `
<pre id="consent-details">${esc(JSON.stringify(details, null, 2))}</pre>
<form method="post" action="/interaction/${esc(uid)}/confirm">
  <button id="consent-submit" type="submit">Allow</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
  <button id="consent-cancel" type="submit">Deny</button>
</form>`);
}

// ----------------------------------------------------------------- provider

function configuration() {
  return {
    adapter: MemoryAdapter,
    jwks: { keys: signingKeys },
    cookies: {
      keys: COOKIE_KEYS,
      // Cookies are not port-scoped: prefix them so they never clash with the
      // RP's cookies when both run on 127.0.0.1.
      names: { session: 'wharf_op_session', interaction: 'wharf_op_interaction', resume: 'wharf_op_resume' },
    },
    clients: [{
      client_id: clientId,
      client_secret: opts['client-secret'],
      client_name: 'Wharf (tests)',
      redirect_uris: opts['redirect-uri'],
      post_logout_redirect_uris: opts['post-logout-redirect-uri'] ?? [],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      // client_secret_post is accepted too for any client_secret_* client.
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: { required: () => true }, // oidc-provider 9 only knows S256
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Put scope-requested claims (profile, email, groups) into the ID token too,
    // not only into the userinfo response.
    conformIdTokenClaims: false,
    findAccount,
    // Auto-consent: this client always gets a grant covering what it asks for,
    // so the consent prompt never shows up.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (oidc.client.clientId !== clientId) return grant;
      if (!grant) grant = new oidc.provider.Grant({ clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const auto = opts['manual-logout'] ? '' : `<script>document.getElementById('logout-submit').click()</script>`;
          ctx.body = page('Wharf test IdP: sign out', `
${form}
<p>Sign out of the Wharf test IdP?</p>
<button id="logout-submit" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button id="logout-cancel" type="submit" form="op.logoutForm">Stay signed in</button>
${auto}`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Wharf test IdP: signed out', '<p id="logout-done">You are signed out.</p>');
        },
      },
    },
    clientBasedCORS: () => true,
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Wharf test IdP: error', `<pre id="op-error">${esc(JSON.stringify(out, null, 2))}</pre>`);
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 120,
      IdToken: 3600,
      RefreshToken: 86400,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
    },
  };
}

let issuer;
let current; // { provider, handler }

function buildProvider() {
  const provider = new Provider(issuer, configuration());
  if (opts.proxy) provider.proxy = true;
  provider.env = 'production';
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
  current = { provider, handler: provider.callback() };
}

// ------------------------------------------------------------ our own routes

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const sendJson = (res, status, obj) => send(res, status, `${JSON.stringify(obj)}\n`, 'application/json');

function jwksKids() { return signingKeys.map((k) => k.kid); }

async function testRoute(req, res, path) {
  if (path === '/_test/state' && req.method === 'GET') {
    return sendJson(res, 200, {
      issuer,
      kids: jwksKids(),
      users: Object.fromEntries([...USERS].map(([u, v]) => [u, { groups: v.groups }])),
    });
  }
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
  const raw = await readBody(req);
  let body = {};
  if (raw.trim()) {
    try { body = JSON.parse(raw); } catch { return sendJson(res, 400, { error: 'body must be JSON' }); }
  }
  if (path === '/_test/rotate-keys') {
    // Optional {"retain": N}: keep only the N newest previous keys (default: all).
    const retain = body.retain === undefined ? Infinity : Number(body.retain);
    if (!(retain >= 0)) return sendJson(res, 400, { error: 'retain must be a number >= 0' });
    const next = [newSigningKey(), ...signingKeys.slice(0, retain)];
    const previous = signingKeys;
    signingKeys = next;
    try {
      buildProvider();
    } catch (err) {
      signingKeys = previous;
      throw err;
    }
    console.error(`rotated signing keys: current ${signingKeys[0].kid}, jwks ${jwksKids().join(',')}`);
    return sendJson(res, 200, { current: signingKeys[0].kid, kids: jwksKids() });
  }
  if (path === '/_test/groups') {
    const user = USERS.get(body.user);
    if (!user) return sendJson(res, 404, { error: `unknown user ${JSON.stringify(body.user)}` });
    if (!Array.isArray(body.groups) || !body.groups.every((g) => typeof g === 'string')) {
      return sendJson(res, 400, { error: 'groups must be an array of strings' });
    }
    user.groups = [...body.groups];
    console.error(`groups of ${body.user} set to ${JSON.stringify(user.groups)}`);
    return sendJson(res, 200, { user: body.user, groups: user.groups });
  }
  return sendJson(res, 404, { error: 'not found' });
}

async function interactionRoute(req, res, uid, action) {
  const { provider } = current;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p id="op-error">interaction mismatch</p>'));
  const { prompt, params } = details;

  if (!action && req.method === 'GET') {
    if (prompt.name === 'login') {
      return send(res, 200, loginPage(uid, { username: params.login_hint, clientId: params.client_id }));
    }
    return send(res, 200, consentPage(uid, { prompt: prompt.name, reasons: prompt.reasons, details: prompt.details, scope: params.scope }));
  }
  if (req.method !== 'POST') return send(res, 405, 'method not allowed', 'text/plain');

  if (action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const username = form.get('username') ?? '';
    const user = USERS.get(username);
    if (!user || form.get('password') !== user.password) {
      return send(res, 200, loginPage(uid, { username, error: 'Invalid username or password.', clientId: params.client_id }));
    }
    return provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm') {
    // Only reached if auto-consent did not cover a request (e.g. another client).
    await readBody(req);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    await readBody(req);
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
  }
  return send(res, 404, 'not found', 'text/plain');
}

// ----------------------------------------------------------------- server

const server = http.createServer(async (req, res) => {
  if (!current) return send(res, 503, 'starting', 'text/plain');
  const path = new URL(req.url, 'http://x').pathname;
  try {
    if (path.startsWith('/_test/')) return await testRoute(req, res, path);
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(path);
    if (m) return await interactionRoute(req, res, m[1], m[2]);
    return current.handler(req, res);
  } catch (err) {
    console.error(`error on ${req.method} ${path}:`, err);
    if (!res.headersSent) {
      const status = err.status || err.statusCode || 500;
      send(res, status, page('Wharf test IdP: error', `<pre id="op-error">${esc(err.message)}</pre>`));
    } else {
      res.end();
    }
  }
});

function shutdown(signal) {
  console.error(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.on('error', (err) => die(`listen: ${err.message}`));
server.listen(port, opts.host, () => {
  const actual = server.address().port;
  issuer = opts.issuer ?? `http://127.0.0.1:${actual}`;
  try {
    signingKeys = [newSigningKey()];
    buildProvider();
  } catch (err) {
    die(err.stack || err.message);
  }
  process.stdout.write(`ready http://${opts.host}:${actual}\n`);
});
