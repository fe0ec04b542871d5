//! Pod IPs from the loopback range.
//!
//! Linux routes the whole of `127.0.0.0/8` to the loopback interface, so every pod can get
//! an address of its own that a local nginx (or curl) really reaches. Addresses are handed
//! out from `127.1.0.1` upwards, skipping `.0` and `.255` in the last octet (they look like
//! network/broadcast addresses to people reading them), and released ones are reused
//! lowest first so a demo keeps short, familiar addresses.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;

const FIRST: u32 = u32::from_be_bytes([127, 1, 0, 1]);
const LAST: u32 = u32::from_be_bytes([127, 255, 255, 254]);

/// Hands out unique pod IPs; the demo cluster keeps one and releases an IP when its pod goes.
#[derive(Debug, Clone)]
pub struct IpAllocator {
    /// The lowest address never handed out.
    next: u32,
    /// Released addresses below `next`, reused first.
    free: BTreeSet<u32>,
    /// Addresses in use (including ones reserved out of order, e.g. after a restart).
    used: HashSet<u32>,
}

impl Default for IpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl IpAllocator {
    pub fn new() -> Self {
        Self {
            next: FIRST,
            free: BTreeSet::new(),
            used: HashSet::new(),
        }
    }

    /// The next free address, or `None` when the range is exhausted (about 16 million pods).
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        while let Some(ip) = self.free.pop_first() {
            if self.used.insert(ip) {
                return Some(Ipv4Addr::from(ip));
            }
        }
        while self.next <= LAST {
            let ip = self.next;
            self.next += 1;
            let last_octet = ip & 0xff;
            if last_octet == 0 || last_octet == 255 || self.used.contains(&ip) {
                continue;
            }
            self.used.insert(ip);
            return Some(Ipv4Addr::from(ip));
        }
        None
    }

    /// Marks an address as taken, e.g. a pod restored from disk after the demo cluster
    /// restarted. Returns false if it was already taken.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        self.free.remove(&ip);
        self.used.insert(ip)
    }

    /// Gives an address back; releasing an unknown address does nothing.
    pub fn release(&mut self, ip: Ipv4Addr) {
        let ip = u32::from(ip);
        if self.used.remove(&ip) && ip < self.next {
            self.free.insert(ip);
        }
    }

    /// How many addresses are handed out.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_127_1_0_1_and_skips_0_and_255() {
        let mut a = IpAllocator::new();
        let first = a.allocate().unwrap();
        assert_eq!(first, Ipv4Addr::new(127, 1, 0, 1));
        let ips: Vec<_> = (0..600).map(|_| a.allocate().unwrap()).collect();
        assert!(ips
            .iter()
            .all(|ip| ip.octets()[3] != 0 && ip.octets()[3] != 255));
        assert!(ips.contains(&Ipv4Addr::new(127, 1, 1, 1)));
        assert!(ips.contains(&Ipv4Addr::new(127, 1, 0, 254)));
        let unique: HashSet<_> = ips.iter().collect();
        assert_eq!(unique.len(), ips.len());
    }

    #[test]
    fn reuses_released_lowest_first() {
        let mut a = IpAllocator::new();
        let ips: Vec<_> = (0..5).map(|_| a.allocate().unwrap()).collect();
        a.release(ips[3]);
        a.release(ips[1]);
        assert_eq!(a.allocate(), Some(ips[1]));
        assert_eq!(a.allocate(), Some(ips[3]));
        assert_eq!(a.allocate(), Some(Ipv4Addr::new(127, 1, 0, 6)));
        assert_eq!(a.in_use(), 6);
    }

    #[test]
    fn reserved_addresses_are_skipped() {
        let mut a = IpAllocator::new();
        assert!(a.reserve(Ipv4Addr::new(127, 1, 0, 2)));
        assert!(!a.reserve(Ipv4Addr::new(127, 1, 0, 2)));
        assert_eq!(a.allocate(), Some(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(a.allocate(), Some(Ipv4Addr::new(127, 1, 0, 3)));
    }
}
