//! The peer table pushed to nginx in the dynamic mode, and its wire format.
//!
//! Debian ships no JSON library for nginx's Lua (no `lua-cjson`), so the
//! control endpoint speaks a line format that Lua splits with two patterns:
//!
//! ```text
//! <upstream> <ip>,<port>,<weight>,<p|b> <ip>,<port>,<weight>,<p|b> ...\n
//! ```
//!
//! one line per upstream, sorted by name, peers sorted, `b` for backup. An
//! upstream without ready peers is a line with its name alone (nginx answers
//! 502 for it). The text is canonical: the same table always encodes to the
//! same bytes, so the agent confirms a push by reading it back and comparing.
//! IPv6 addresses are written bare (`::1`), which is what
//! `ngx.balancer.set_current_peer` takes.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use sha2::{Digest, Sha256};

use crate::model::Peer;
use crate::{Error, Result};

/// Upstream name -> its peers, both sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerTable(pub BTreeMap<String, Vec<Peer>>);

impl PeerTable {
    /// Inserts an upstream, sorting its peers and merging duplicates.
    pub fn insert(&mut self, name: String, mut peers: Vec<Peer>) {
        peers.sort_by_key(|p| (p.backup, p.addr));
        peers.dedup_by_key(|p| (p.backup, p.addr));
        self.0.insert(name, peers);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical wire text.
    pub fn to_wire(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 48);
        for (name, peers) in &self.0 {
            out.push_str(name);
            for p in peers {
                let flag = if p.backup { 'b' } else { 'p' };
                out.push_str(&format!(
                    " {},{},{},{flag}",
                    p.addr.ip(),
                    p.addr.port(),
                    p.weight.clamp(1, 100)
                ));
            }
            out.push('\n');
        }
        out
    }

    /// Parses the wire text (what the control endpoint's GET returns).
    pub fn from_wire(text: &str) -> Result<Self> {
        let bad = |l: &str| Error::Control(format!("unreadable peer line `{l}`"));
        let mut t = PeerTable::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let name = parts.next().ok_or_else(|| bad(line))?.to_string();
            let mut peers = Vec::new();
            for tok in parts {
                let f: Vec<&str> = tok.split(',').collect();
                let [ip, port, weight, flag] = f[..] else {
                    return Err(bad(line));
                };
                let ip: IpAddr = ip.parse().map_err(|_| bad(line))?;
                let port: u16 = port.parse().map_err(|_| bad(line))?;
                let weight: u32 = weight.parse().map_err(|_| bad(line))?;
                peers.push(Peer {
                    addr: SocketAddr::new(ip, port),
                    weight,
                    backup: flag == "b",
                });
            }
            t.insert(name, peers);
        }
        Ok(t)
    }

    /// sha256 of the wire text.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.to_wire().as_bytes()))
    }

    /// This table plus the upstreams of `older` it lacks: pushed before a
    /// reload so that both the old workers (still serving removed routes for a
    /// moment) and the new ones (already serving added routes) find peers.
    pub fn union_keep(&self, older: &PeerTable) -> PeerTable {
        let mut t = self.clone();
        for (k, v) in &older.0 {
            t.0.entry(k.clone()).or_insert_with(|| v.clone());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_is_canonical() {
        let mut t = PeerTable::default();
        t.insert(
            "k8s.default.web.80".into(),
            vec![
                Peer {
                    addr: "10.0.0.2:8080".parse().unwrap(),
                    weight: 1,
                    backup: false,
                },
                Peer {
                    addr: "10.0.0.1:8080".parse().unwrap(),
                    weight: 3,
                    backup: false,
                },
                Peer {
                    addr: "[::1]:81".parse().unwrap(),
                    weight: 1,
                    backup: true,
                },
            ],
        );
        t.insert("ext.empty".into(), vec![]);
        let wire = t.to_wire();
        assert_eq!(
            wire,
            "ext.empty\nk8s.default.web.80 10.0.0.1,8080,3,p 10.0.0.2,8080,1,p ::1,81,1,b\n"
        );
        assert_eq!(PeerTable::from_wire(&wire).unwrap(), t);
    }
}
