//! A real OpenLDAP directory for tests (Debian's `slapd`, installed by `scripts/setup.sh`):
//! started per test in a temporary folder on free loopback ports, TLS by a test CA (LDAPS and
//! StartTLS), seeded with people, a bind account and groups, stopped when dropped.
//!
//! | entry | password | groups |
//! |---|---|---|
//! | `uid=dora,ou=people` (Dora Directory, dora@example.com) | `dora-pass-1` | `alpha-devs`, `platform-ops` |
//! | `uid=eli,ou=people` | `eli-pass-1` | `alpha-devs` |
//! | `uid=fay,ou=people` | `fay-pass-1` | `alpha-viewers` |
//! | `uid=gil.dot,ou=people` (a name that is no Wharf name as it is) | `gil.dot-pass-1` | `alpha-viewers` |
//! | `cn=wharf-bind,ou=services` (the console's account) | `bind-pass-1` | — |
//!
//! Anonymous binds read nothing; people read their own entry; the bind account reads all.

use crate::nginx::TestCa;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use wharf_api::identity::LdapForm;

pub const BASE: &str = "dc=example,dc=com";
pub const BIND_DN: &str = "cn=wharf-bind,ou=services,dc=example,dc=com";
pub const BIND_PASSWORD: &str = "bind-pass-1";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PASSWORD: &str = "root-pass-1";

/// A running `slapd`.
pub struct Directory {
    child: Child,
    dir: tempfile::TempDir,
    /// `ldaps://127.0.0.1:<port>`
    pub ldaps: String,
    /// `ldap://127.0.0.1:<port>`, for StartTLS.
    pub ldap: String,
    /// The CA that signed the directory's certificate (PEM).
    pub ca_pem: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn tool(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin"] {
        let path = format!("{dir}/{name}");
        if Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{name} is missing: run scripts/setup.sh (it installs Debian's slapd and ldap-utils)");
}

async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(tool(program))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn hash(password: &str) -> String {
    run("slappasswd", &["-s", password], None)
        .await
        .trim()
        .to_string()
}

fn person(uid: &str, cn: &str, password_hash: &str) -> String {
    format!(
        "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {uid}\n\
         mail: {uid}@example.com\nuserPassword: {password_hash}\n\n"
    )
}

fn group(cn: &str, members: &[&str]) -> String {
    let mut out = format!("dn: cn={cn},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        out.push_str(&format!("member: uid={m},ou=people,{BASE}\n"));
    }
    out.push('\n');
    out
}

impl Directory {
    pub async fn start() -> Directory {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = TestCa::new("wharf test LDAP CA");
        let (cert, key) = ca.issue("127.0.0.1");
        std::fs::write(d.join("ca.pem"), &ca.cert_pem).unwrap();
        std::fs::write(d.join("server.pem"), cert).unwrap();
        std::fs::write(d.join("server.key"), key).unwrap();
        std::fs::create_dir(d.join("db")).unwrap();
        let p = d.display();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {p}/slapd.pid\n\
             TLSCACertificateFile {p}/ca.pem\n\
             TLSCertificateFile {p}/server.pem\n\
             TLSCertificateKeyFile {p}/server.key\n\
             database mdb\n\
             maxsize 104857600\n\
             suffix \"{BASE}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PASSWORD}\n\
             directory {p}/db\n\
             access to attrs=userPassword by self read by anonymous auth by * none\n\
             access to * by dn.exact=\"{BIND_DN}\" read by self read by * none\n"
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let mut seed = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n\
             dn: {BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: wharf-bind\nuserPassword: {}\n\n",
            hash(BIND_PASSWORD).await
        );
        for (uid, cn) in [
            ("dora", "Dora Directory"),
            ("eli", "Eli Ldap"),
            ("fay", "Fay Viewer"),
            ("gil.dot", "Gil Dot"),
        ] {
            seed.push_str(&person(uid, cn, &hash(&format!("{uid}-pass-1")).await));
        }
        seed.push_str(&group("alpha-devs", &["dora", "eli"]));
        seed.push_str(&group("alpha-viewers", &["fay", "gil.dot"]));
        seed.push_str(&group("platform-ops", &["dora"]));
        let conf = d.join("slapd.conf");
        let conf = conf.to_str().unwrap();
        run("slapadd", &["-f", conf, "-q"], Some(&seed)).await;
        let (plain, tls) = (free_port(), free_port());
        let ldap = format!("ldap://127.0.0.1:{plain}");
        let ldaps = format!("ldaps://127.0.0.1:{tls}");
        let child = Command::new(tool("slapd"))
            .args(["-d", "0", "-h", &format!("{ldap}/ {ldaps}/"), "-f", conf])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting slapd");
        let directory = Directory {
            child,
            dir,
            ldaps,
            ldap,
            ca_pem: ca.cert_pem,
        };
        wharf_testkit::eventually(Duration::from_secs(20), "slapd answers", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", tls))
                .await
                .ok()
                .map(|_| ())
        })
        .await
        .unwrap();
        directory
    }

    /// Settings for this directory as the identity page would save them (LDAPS).
    pub fn form(&self, name: &str) -> LdapForm {
        LdapForm {
            name: name.into(),
            display_name: "Example Corp".into(),
            url: self.ldaps.clone(),
            ca_pem: self.ca_pem.clone(),
            bind_dn: BIND_DN.into(),
            bind_password: BIND_PASSWORD.into(),
            user_base: format!("ou=people,{BASE}"),
            group_base: format!("ou=groups,{BASE}"),
            ..LdapForm::openldap()
        }
    }

    /// Applies an LDIF change as the directory's administrator (`ldapmodify`).
    pub async fn modify(&self, ldif: &str) {
        run(
            "ldapmodify",
            &["-x", "-H", &self.ldap, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
            Some(ldif),
        )
        .await;
    }

    /// Takes `user` out of `group`.
    pub async fn leave(&self, user: &str, group: &str) {
        self.modify(&format!(
            "dn: cn={group},ou=groups,{BASE}\nchangetype: modify\ndelete: member\nmember: uid={user},ou=people,{BASE}\n"
        ))
        .await;
    }

    /// Stops the directory (a directory that is down).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }
}
