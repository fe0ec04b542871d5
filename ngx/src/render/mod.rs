//! Renders a [`DesiredState`] into a complete nginx config tree for a
//! private prefix.
//!
//! Layout of the tree (paths relative to the config root, which is the
//! directory of `nginx.conf`; runtime paths like `logs/` and `temp/` are
//! relative to nginx's `-p` prefix, so the tree does not name the node):
//!
//! ```text
//! nginx.conf            main context, events, http {} with shared proxy settings
//! mime.types            a fixed short list
//! lua.conf              dynamic mode only: shared dict + balancer/control Lua
//! upstreams.conf        one upstream block per upstream a route points at
//! control.conf          the local-only control server (127.0.0.1:<port>)
//! servers/_default.conf catch-all server answering 404
//! servers/<host>.conf   one server per host, one location per route path
//! wharf-sha.conf        the stamp: `location = /wharf/config-sha` returning
//!                       the sha256 of all the other files
//! ```
//!
//! The output is deterministic: routes and upstreams are sorted, nothing
//! volatile (time, generation) is written, so the same state gives the same
//! bytes and the same sha256 on every node with the same options.

mod lua;
mod mime;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directive::{self, Level};
use crate::model::{Certificate, DesiredState, Route, Target, Tls};
use crate::peers::PeerTable;
use crate::{Error, Result};

/// The stamp file: excluded from the sha (it contains it).
pub const STAMP: &str = "wharf-sha.conf";

/// How upstream peers reach nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// `balancer_by_lua` over a shared dict; peer changes need no reload.
    Dynamic,
    /// Plain `upstream {}` blocks; every change is a (coalesced) reload.
    Static,
}

impl Mode {
    /// Dynamic when the lua module, its NDK dependency and lua-resty-core are
    /// installed where `lua` says, Static otherwise.
    pub fn detect(lua: &LuaPaths) -> Mode {
        let present = lua.modules_dir.join("ngx_http_lua_module.so").is_file()
            && lua.modules_dir.join("ndk_http_module.so").is_file()
            && lua.resty_core_dir.join("resty/core.lua").is_file();
        if present {
            Mode::Dynamic
        } else {
            Mode::Static
        }
    }
}

/// Where Debian puts the lua module and lua-resty-core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LuaPaths {
    pub modules_dir: PathBuf,
    pub resty_core_dir: PathBuf,
}

impl Default for LuaPaths {
    fn default() -> Self {
        LuaPaths {
            modules_dir: "/usr/lib/nginx/modules".into(),
            resty_core_dir: "/usr/share/lua/5.1".into(),
        }
    }
}

/// Node-level choices that are not part of the cluster's desired state.
/// Two nodes of one cluster on one machine (the demo) differ only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderOptions {
    pub mode: Mode,
    pub lua: LuaPaths,
    /// Port of the control server on 127.0.0.1.
    pub control_port: u16,
    /// Address the public servers bind (all addresses when `None`).
    pub listen_address: Option<IpAddr>,
    /// Override the cluster's ports (several nodes on one host).
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    pub worker_processes: u32,
    /// `user` directive; `None` leaves nginx's default.
    pub user: Option<String>,
    /// Size of the peers dict, nginx size syntax.
    pub shared_dict_size: String,
    /// Where [`Tls::Certificate`] files go on this node (absolute); the
    /// converger sets it to `<conf_dir>/tls`. Rendering a route with such a
    /// certificate fails without it.
    #[serde(default)]
    pub tls_dir: Option<PathBuf>,
}

impl RenderOptions {
    /// Detected mode, Debian paths, control on 127.0.0.1:`control_port`.
    pub fn detect(control_port: u16) -> Self {
        let lua = LuaPaths::default();
        RenderOptions {
            mode: Mode::detect(&lua),
            lua,
            control_port,
            listen_address: None,
            http_port: None,
            https_port: None,
            worker_processes: 2,
            user: None,
            shared_dict_size: "32m".into(),
            tls_dir: None,
        }
    }
}

/// A rendered tree. `sha256` covers every file but the stamp; `peers` is
/// what the dynamic mode pushes (in the static mode it is rendered into
/// `upstreams.conf` instead and is informational); `certificates` are the
/// files the tree names under the TLS dir, which the converger writes before
/// testing the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedConfig {
    pub mode: Mode,
    pub files: BTreeMap<PathBuf, String>,
    pub sha256: String,
    pub peers: PeerTable,
    pub certificates: Vec<CertificateFiles>,
}

/// One certificate as files: the names carry a hash of the content, so a
/// rotated certificate gets new paths, changes the tree's sha and reloads
/// nginx, while the previous release still finds the old files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub name: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: crate::model::PrivateKey,
}

impl CertificateFiles {
    /// `<dir>/<name with / as _>-<16 hex of sha256(cert, key)>.crt` and `.key`.
    pub fn new(dir: &Path, cert: &Certificate) -> Result<CertificateFiles> {
        let ok = !cert.name.is_empty()
            && cert.name.len() <= 200
            && cert
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if !ok {
            return Err(Error::invalid(
                format!("certificate name `{}`", cert.name),
                "may hold letters, digits, '.', '_', '-' and '/'",
            ));
        }
        let sha = crate::tls::fingerprint(&cert.cert_pem, &cert.key_pem.0);
        let stem = format!("{}-{}", cert.name.replace('/', "_"), &sha[..16]);
        let files = CertificateFiles {
            name: cert.name.clone(),
            cert_path: dir.join(format!("{stem}.crt")),
            key_path: dir.join(format!("{stem}.key")),
            cert_pem: cert.cert_pem.clone(),
            key_pem: cert.key_pem.clone(),
        };
        directive::check_file_path("certificate", &files.cert_path)?;
        directive::check_file_path("key", &files.key_path)?;
        Ok(files)
    }
}

/// sha256 over a config tree, excluding the stamp: for each file in path
/// order, the path, a NUL, the length, a NUL, the bytes.
pub fn tree_sha<S: AsRef<[u8]>>(files: &BTreeMap<PathBuf, S>) -> String {
    let mut h = Sha256::new();
    for (path, body) in files {
        if path == Path::new(STAMP) {
            continue;
        }
        let body = body.as_ref();
        h.update(path.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(body.len().to_string().as_bytes());
        h.update([0]);
        h.update(body);
    }
    hex::encode(h.finalize())
}

/// The stamp's content for a given sha.
pub fn stamp(sha: &str) -> String {
    format!(
        "# Generated by wharf-ngx: the sha256 of the other files of this tree. New workers\n\
         # answer it after a reload, which is how the agent knows the reload took effect.\n\
         location = /wharf/config-sha {{\n    default_type text/plain;\n    return 200 \"{sha}\\n\";\n}}\n"
    )
}

/// Renders the whole tree. Fails on anything the checks in
/// [`crate::directive`] refuse (a route's directives at the location level,
/// the cluster's at the http and server levels), on two routes claiming one host and path, on
/// one host with two different certificates, and on a route naming a
/// certificate that is not in the state.
pub fn render(desired: &DesiredState, opts: &RenderOptions) -> Result<RenderedConfig> {
    let cluster = &desired.cluster;
    let d = &cluster.defaults;
    directive::check_size("client_max_body_size", &d.client_max_body_size)?;
    directive::check_size("shared_dict_size", &opts.shared_dict_size)?;
    if let Some(u) = &opts.user {
        if u.is_empty()
            || !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid(
                format!("user `{u}`"),
                "must be a plain user name",
            ));
        }
    }

    let http_extra = cluster
        .http_directives
        .iter()
        .map(|x| directive::check_at(Level::Http, x))
        .collect::<Result<Vec<_>>>()?;
    let server_extra = cluster
        .server_directives
        .iter()
        .map(|x| directive::check_at(Level::Server, x))
        .collect::<Result<Vec<_>>>()?;
    // Wharf's own http lines give way to the admin's of the same name: nginx
    // refuses most directives twice in one block.
    let admin_sets = |name: &str| http_extra.iter().any(|x| x.split(' ').next() == Some(name));
    let builtin = |m: &mut String, name: &str, value: &str| {
        if !admin_sets(name) {
            let _ = writeln!(m, "    {name} {value};");
        }
    };

    // Routes grouped by host, then path; checked as we go.
    // NB: keyed by the lower-cased host: nginx matches server names without regard to case,
    // so `Shop.example.com` and `shop.example.com` are one server, not two that conflict.
    let mut hosts: BTreeMap<String, BTreeMap<&str, (&Route, Vec<String>)>> = BTreeMap::new();
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    let mut certificates: BTreeMap<String, CertificateFiles> = BTreeMap::new();
    let mut route_tls: BTreeMap<&str, TlsPaths> = BTreeMap::new();
    for r in &desired.routes {
        directive::check_host(&r.host)?;
        directive::check_path(&r.path)?;
        match &r.target {
            Target::Service {
                namespace,
                name,
                port,
            } => {
                directive::check_label("namespace", namespace)?;
                directive::check_label("service", name)?;
                if *port == 0 {
                    return Err(Error::invalid(
                        format!("route `{}`", r.name),
                        "service port 0",
                    ));
                }
            }
            Target::External { name } => directive::check_external_name(name)?,
        }
        let extra = r
            .directives
            .iter()
            .map(|x| directive::check(x))
            .collect::<Result<Vec<_>>>()?;
        if let Some(tls) = &r.tls {
            let paths = match tls {
                Tls::Files {
                    cert_path,
                    key_path,
                } => {
                    directive::check_file_path("certificate", cert_path)?;
                    directive::check_file_path("key", key_path)?;
                    TlsPaths {
                        cert: cert_path.clone(),
                        key: key_path.clone(),
                    }
                }
                Tls::Certificate { name } => {
                    let files = match certificates.get(name) {
                        Some(f) => f.clone(),
                        None => {
                            let f = certificate_files(desired, opts, &r.name, name)?;
                            certificates.insert(name.clone(), f.clone());
                            f
                        }
                    };
                    TlsPaths {
                        cert: files.cert_path,
                        key: files.key_path,
                    }
                }
            };
            route_tls.insert(r.name.as_str(), paths);
        }
        referenced.insert(r.target.upstream_name());
        let host = r.host.to_ascii_lowercase();
        let by_path = hosts.entry(host.clone()).or_default();
        if let Some((other, _)) = by_path.get(r.path.as_str()) {
            return Err(Error::invalid(
                format!("route `{}`", r.name),
                format!("{host}{} is already routed by `{}`", r.path, other.name),
            ));
        }
        by_path.insert(r.path.as_str(), (r, extra));
    }

    // Peers of referenced upstreams only; a referenced upstream nobody
    // supplied peers for is rendered empty (nginx answers 502).
    let mut peers = PeerTable::default();
    for name in &referenced {
        peers.insert(name.clone(), Vec::new());
    }
    for u in &desired.upstreams {
        if referenced.contains(&u.name) {
            let mut all = peers.0.remove(&u.name).unwrap_or_default();
            all.extend(u.peers.iter().copied());
            peers.insert(u.name.clone(), all);
        }
    }

    let mut files = BTreeMap::new();
    let http_port = opts.http_port.unwrap_or(cluster.listen.http);
    let https_port = opts.https_port.or(cluster.listen.https);
    let listen = |port: u16| match opts.listen_address {
        Some(IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Some(a) => format!("{a}:{port}"),
        None => port.to_string(),
    };

    // nginx.conf
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Generated by wharf-ngx for nginx cluster `{}`. Do not edit by hand:",
        cluster.name
    );
    let _ = writeln!(
        m,
        "# the agent reports edits as drift and replaces them on its next change."
    );
    let _ = writeln!(m, "# Mode: {:?}.", opts.mode);
    m.push('\n');
    if opts.mode == Mode::Dynamic {
        let _ = writeln!(
            m,
            "load_module {};",
            opts.lua.modules_dir.join("ndk_http_module.so").display()
        );
        let _ = writeln!(
            m,
            "load_module {};",
            opts.lua
                .modules_dir
                .join("ngx_http_lua_module.so")
                .display()
        );
    }
    if let Some(u) = &opts.user {
        let _ = writeln!(m, "user {u};");
    }
    let _ = writeln!(m, "worker_processes {};", opts.worker_processes.max(1));
    m.push_str("# Runtime files, relative to the -p prefix.\npid logs/nginx.pid;\nerror_log logs/error.log notice;\n\n");
    let _ = writeln!(
        m,
        "events {{\n    worker_connections {};\n}}\n",
        d.worker_connections.max(64)
    );
    m.push_str("http {\n    include mime.types;\n    default_type application/octet-stream;\n");
    builtin(&mut m, "sendfile", "on");
    builtin(&mut m, "server_tokens", "off");
    builtin(&mut m, "keepalive_timeout", "65s");
    // NB: sized for the host count up front. With the defaults nginx searches
    // for a hash size that fits, which takes over 30 s at 5,000 hosts.
    let _ = writeln!(
        m,
        "    server_names_hash_max_size {};",
        (hosts.len() * 2).next_power_of_two().max(512)
    );
    m.push_str("    server_names_hash_bucket_size 128;\n");
    if d.access_log {
        m.push_str("    access_log logs/access.log;\n");
    } else {
        m.push_str("    access_log off;\n");
    }
    m.push_str(
        "    client_body_temp_path temp/client_body;\n    proxy_temp_path temp/proxy;\n    fastcgi_temp_path temp/fastcgi;\n    uwsgi_temp_path temp/uwsgi;\n    scgi_temp_path temp/scgi;\n\n",
    );
    m.push_str("    # Cluster defaults; a route's own directives override them in its location.\n");
    let _ = writeln!(m, "    client_max_body_size {};", d.client_max_body_size);
    let _ = writeln!(
        m,
        "    proxy_connect_timeout {}s;",
        d.proxy_connect_timeout_secs.max(1)
    );
    let _ = writeln!(
        m,
        "    proxy_read_timeout {}s;",
        d.proxy_read_timeout_secs.max(1)
    );
    let _ = writeln!(
        m,
        "    proxy_send_timeout {}s;",
        d.proxy_send_timeout_secs.max(1)
    );
    if !admin_sets("proxy_http_version") {
        m.push_str(
            "    # HTTP/1.1 with an empty Connection header keeps upstream connections alive.\n",
        );
        builtin(&mut m, "proxy_http_version", "1.1");
    }
    builtin(&mut m, "proxy_next_upstream", "error timeout");
    builtin(&mut m, "proxy_next_upstream_tries", "3");
    if !http_extra.is_empty() {
        m.push_str("\n    # The cluster's own http directives (they replace Wharf's lines of the same name).\n");
        for x in &http_extra {
            let _ = writeln!(m, "    {x};");
        }
    }
    m.push('\n');
    if opts.mode == Mode::Dynamic {
        m.push_str("    include lua.conf;\n");
    }
    m.push_str("    include upstreams.conf;\n    include control.conf;\n    include servers/_default.conf;\n");
    let mut server_files = Vec::new();
    for host in hosts.keys() {
        let file = format!("servers/{}.conf", host.replace('*', "_wildcard_"));
        let _ = writeln!(m, "    include {file};");
        server_files.push(file);
    }
    m.push_str("}\n");
    files.insert(PathBuf::from("nginx.conf"), m);
    files.insert(PathBuf::from("mime.types"), mime::MIME_TYPES.to_string());

    if opts.mode == Mode::Dynamic {
        let lua = lua::LUA_CONF
            .replace(
                "{package_path}",
                &format!("{}/?.lua", opts.lua.resty_core_dir.display()),
            )
            .replace("{dict_size}", &opts.shared_dict_size);
        files.insert(PathBuf::from("lua.conf"), lua);
    }

    // upstreams.conf
    let mut u = String::new();
    let _ = writeln!(u, "# Generated by wharf-ngx: one upstream per service port or external upstream a route uses.");
    match opts.mode {
        Mode::Dynamic => u.push_str("# Dynamic mode: the balancer picks peers from the shared dict; the server line is a placeholder.\n"),
        Mode::Static => u.push_str("# Static mode: peers are written here, so changing them means a reload.\n"),
    }
    for (name, ps) in &peers.0 {
        let _ = writeln!(u, "\nupstream {name} {{");
        match opts.mode {
            Mode::Dynamic => {
                u.push_str("    server 0.0.0.1;\n");
                let _ = writeln!(
                    u,
                    "    balancer_by_lua_block {{ wharf.balance(\"{name}\") }}"
                );
            }
            Mode::Static => {
                let primaries = ps.iter().filter(|p| !p.backup).count();
                if ps.is_empty() {
                    u.push_str(
                        "    server 127.0.0.1:1 down;  # no ready endpoints: nginx answers 502\n",
                    );
                }
                for p in ps {
                    let mut line = format!("    server {}", p.addr);
                    if p.weight > 1 {
                        let _ = write!(line, " weight={}", p.weight.min(100));
                    }
                    // With backups only, they serve as primaries (as in the Lua balancer).
                    if p.backup && primaries > 0 {
                        line.push_str(" backup");
                    }
                    line.push_str(";\n");
                    u.push_str(&line);
                }
            }
        }
        if d.upstream_keepalive > 0 {
            let _ = writeln!(u, "    keepalive {};", d.upstream_keepalive);
        }
        u.push_str("}\n");
    }
    files.insert(PathBuf::from("upstreams.conf"), u);

    // control.conf
    let mut c = String::new();
    c.push_str(
        "# Generated by wharf-ngx: the agent's control server, reachable from this host only.\n",
    );
    c.push_str("server {\n");
    let _ = writeln!(c, "    listen 127.0.0.1:{};", opts.control_port);
    c.push_str("    access_log off;\n    include wharf-sha.conf;\n");
    c.push_str("    location = /wharf/healthz {\n        default_type text/plain;\n        return 200 \"ok\\n\";\n    }\n");
    if opts.mode == Mode::Dynamic {
        c.push_str("    # GET: the peer table nginx holds; POST: replace it (see peers.rs for the format).\n");
        c.push_str("    location = /wharf/upstreams {\n        client_max_body_size 64m;\n        client_body_buffer_size 16m;\n");
        c.push_str("        content_by_lua_block { wharf.control() }\n    }\n");
    }
    c.push_str("    location / {\n        return 404;\n    }\n}\n");
    files.insert(PathBuf::from("control.conf"), c);

    // servers/_default.conf
    let mut s = String::new();
    s.push_str("# Generated by wharf-ngx: requests for hosts no route names end here.\nserver {\n");
    let _ = writeln!(s, "    listen {} default_server;", listen(http_port));
    s.push_str("    server_name _;\n    location / {\n        return 404;\n    }\n}\n");
    files.insert(PathBuf::from("servers/_default.conf"), s);

    // servers/<host>.conf
    for ((host, by_path), file) in hosts.iter().zip(server_files) {
        let tls = host_tls(host, by_path, &route_tls)?;
        let mut s = String::new();
        let _ = writeln!(s, "# Generated by wharf-ngx: host {host}.");
        s.push_str("server {\n");
        let _ = writeln!(s, "    listen {};", listen(http_port));
        if let (Some(tls), Some(port)) = (tls, https_port) {
            let _ = writeln!(s, "    listen {} ssl;", listen(port));
            let _ = writeln!(s, "    ssl_certificate {};", tls.cert.display());
            let _ = writeln!(s, "    ssl_certificate_key {};", tls.key.display());
        }
        let _ = writeln!(s, "    server_name {host};");
        if !server_extra.is_empty() {
            s.push_str("\n    # the cluster's server directives\n");
            for x in &server_extra {
                let _ = writeln!(s, "    {x};");
            }
        }
        for (path, (route, extra)) in by_path {
            let _ = writeln!(
                s,
                "\n    # route {} -> {}",
                route.name,
                describe(&route.target)
            );
            let _ = writeln!(s, "    location {path} {{");
            if opts.mode == Mode::Dynamic {
                // NB: an exit status from balancer_by_lua is ignored (nginx answers 500), so
                // "no ready peer" is decided here, before proxying: a 502 like static mode's.
                let _ = writeln!(
                    s,
                    "        access_by_lua_block {{ wharf.require_peers(\"{}\") }}",
                    route.target.upstream_name()
                );
            }
            let _ = writeln!(
                s,
                "        proxy_pass http://{};",
                route.target.upstream_name()
            );
            // NB: proxy_set_header is all-or-nothing per level, so the standard
            // headers are repeated here, next to any the route adds.
            s.push_str("        proxy_set_header Host $host;\n");
            s.push_str("        proxy_set_header Connection \"\";\n");
            s.push_str("        proxy_set_header X-Real-IP $remote_addr;\n");
            s.push_str("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n");
            s.push_str("        proxy_set_header X-Forwarded-Proto $scheme;\n");
            s.push_str("        proxy_set_header X-Forwarded-Host $host;\n");
            s.push_str("        proxy_set_header X-Forwarded-Port $server_port;\n");
            if !extra.is_empty() {
                s.push_str("        # the route's own directives\n");
            }
            for x in extra {
                let _ = writeln!(s, "        {x};");
            }
            s.push_str("    }\n");
        }
        s.push_str("}\n");
        files.insert(PathBuf::from(file), s);
    }

    let sha256 = tree_sha(&files);
    files.insert(PathBuf::from(STAMP), stamp(&sha256));
    Ok(RenderedConfig {
        mode: opts.mode,
        files,
        sha256,
        peers,
        certificates: certificates.into_values().collect(),
    })
}

/// A route's certificate and key files, wherever they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TlsPaths {
    cert: PathBuf,
    key: PathBuf,
}

/// The files of the certificate `name` that `route` names.
fn certificate_files(
    desired: &DesiredState,
    opts: &RenderOptions,
    route: &str,
    name: &str,
) -> Result<CertificateFiles> {
    let what = || format!("route `{route}`");
    let mut found = desired.certificates.iter().filter(|c| c.name == name);
    let cert: &Certificate = found
        .next()
        .ok_or_else(|| Error::invalid(what(), format!("no certificate `{name}`")))?;
    if found.next().is_some() {
        return Err(Error::invalid(
            what(),
            format!("two certificates are called `{name}`"),
        ));
    }
    let dir = opts.tls_dir.as_deref().ok_or_else(|| {
        Error::invalid(
            what(),
            "certificates need a TLS directory on the node (RenderOptions::tls_dir)",
        )
    })?;
    CertificateFiles::new(dir, cert)
}

fn describe(t: &Target) -> String {
    match t {
        Target::Service {
            namespace,
            name,
            port,
        } => format!("service {namespace}/{name}:{port}"),
        Target::External { name } => format!("external upstream {name}"),
    }
}

/// One certificate per host: routes of a host either name the same one or none.
fn host_tls<'a>(
    host: &str,
    by_path: &BTreeMap<&str, (&Route, Vec<String>)>,
    route_tls: &'a BTreeMap<&str, TlsPaths>,
) -> Result<Option<&'a TlsPaths>> {
    let mut found: Option<&TlsPaths> = None;
    for (route, _) in by_path.values() {
        if let Some(t) = route_tls.get(route.name.as_str()) {
            match found {
                Some(f) if f != t => {
                    return Err(Error::invalid(
                        format!("host `{host}`"),
                        "routes name different TLS certificates",
                    ));
                }
                _ => found = Some(t),
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
