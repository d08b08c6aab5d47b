//! This node's place on the ring, and the marker that lets a forwarded Buy through.
//!
//! Every node builds the same ring from the same member list, so any node knows a shopper's
//! owner. A node that is not the owner proxies the Buy to it, adding a marker: an HMAC under
//! the cluster secret of the shopper, the path and the time. The owner decides a request with
//! a valid marker itself, whatever its own ring says, so a request is forwarded at most once;
//! a shopper cannot forge the marker to be decided by a node of their choosing.
//!
//! A peer that does not answer is skipped: its shoppers go to the next node clockwise until
//! it answers again (see `server::PeerHealth` and `proxy::fail_to_connect`).

use dashmap::{DashMap, DashSet};
use flashsale_core::Ring;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, RwLock};

/// The header a forwarded request carries.
pub const FORWARDED: &str = "x-flashsale-forwarded";
/// [`FORWARDED`] as a header name, so looking it up parses nothing.
pub static FORWARDED_NAME: http::HeaderName = http::HeaderName::from_static(FORWARDED);
/// How long a marker is accepted: a forward takes milliseconds, a replay later is refused.
const MARKER_TTL_SECS: i64 = 30;

pub struct Cluster {
    /// Swapped whole when the member list is reloaded: a request reads one ring or the other.
    ring: RwLock<Arc<Ring>>,
    me: String,
    secret: Vec<u8>,
    /// Peers that did not answer lately.
    down: DashSet<String>,
    /// Health checks missed in a row, per peer.
    misses: DashMap<String, u32>,
}

/// Health checks a peer may miss in a row before it is taken out: a node that starts a moment
/// after its peers, or one slow answer, must not split a shopper between two deciders.
const MISSES_BEFORE_DOWN: u32 = 3;

/// Where a shopper's request is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Me,
    Peer(String),
}

impl Cluster {
    pub fn new(members: &[String], virtual_nodes: u32, me: &str, secret: &[u8]) -> Cluster {
        Cluster {
            ring: RwLock::new(Arc::new(Ring::new(members, virtual_nodes))),
            me: me.to_string(),
            secret: secret.to_vec(),
            down: DashSet::new(),
            misses: DashMap::new(),
        }
    }

    /// A ring of one: this node owns every shopper.
    pub fn alone(me: &str) -> Cluster {
        Cluster::new(&[me.to_string()], 1, me, b"")
    }

    fn ring(&self) -> Arc<Ring> {
        // A poisoned lock still holds a whole ring (it is only ever swapped whole).
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the member list without a restart. Requests already routed keep their owner;
    /// every later one sees the new ring. Refused if this node is not a member.
    pub fn set_members(&self, members: &[String], virtual_nodes: u32) -> Result<(), String> {
        if !members.contains(&self.me) {
            return Err(format!(
                "this node ({}) is not in the new member list",
                self.me
            ));
        }
        let ring = Arc::new(Ring::new(members, virtual_nodes));
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
        tracing::info!(members = ?members, "ring members reloaded");
        Ok(())
    }

    /// The node that decides `user_id`'s requests: the first node clockwise that is up.
    pub fn owner(&self, user_id: i64) -> Owner {
        let alive = |node: &str| node == self.me || !self.down.contains(node);
        match self.ring().owner_where(&user_id.to_string(), alive) {
            Some(node) if node != self.me => Owner::Peer(node.to_string()),
            _ => Owner::Me,
        }
    }

    /// The member name of the node that decides `user_id`'s requests.
    pub fn owner_name(&self, user_id: i64) -> String {
        match self.owner(user_id) {
            Owner::Me => self.me.clone(),
            Owner::Peer(peer) => peer,
        }
    }

    /// Whether other nodes share the shoppers (a ring of more than one member).
    pub fn is_ring(&self) -> bool {
        self.ring().nodes().len() > 1
    }

    /// This node's member name (also its address).
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The other members of the ring.
    pub fn peers(&self) -> Vec<String> {
        let ring = self.ring();
        ring.nodes()
            .iter()
            .filter(|n| **n != self.me)
            .cloned()
            .collect()
    }

    /// Records whether `peer` answers; returns whether that changed.
    pub fn set_up(&self, peer: &str, up: bool) -> bool {
        if up {
            self.down.remove(peer).is_some()
        } else {
            self.down.insert(peer.to_string())
        }
    }

    /// The result of one health check of `peer`; returns whether its state changed. A peer is
    /// taken out after several misses in a row, and back at its first answer.
    pub fn checked(&self, peer: &str, answered: bool) -> bool {
        if answered {
            self.misses.remove(peer);
            return self.set_up(peer, true);
        }
        let mut misses = self.misses.entry(peer.to_string()).or_insert(0);
        *misses += 1;
        *misses >= MISSES_BEFORE_DOWN && self.set_up(peer, false)
    }

    pub fn is_down(&self, peer: &str) -> bool {
        self.down.contains(peer)
    }

    /// The marker for forwarding `user_id`'s request for `path` at `now` (unix seconds).
    pub fn marker(&self, user_id: i64, path: &str, now: i64) -> String {
        format!("{now}.{}", hex(&self.tag(user_id, path, now)))
    }

    /// Whether `marker` was made by a node of this cluster for this shopper and path, lately.
    pub fn verify(&self, marker: &str, user_id: i64, path: &str, now: i64) -> bool {
        let Some((ts, tag)) = marker.split_once('.') else {
            return false;
        };
        let Ok(ts) = ts.parse::<i64>() else {
            return false;
        };
        if (now - ts).abs() > MARKER_TTL_SECS {
            return false;
        }
        let Some(tag) = unhex(tag) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(&message(user_id, path, ts));
        // verify_slice compares in constant time.
        mac.verify_slice(&tag).is_ok()
    }

    fn tag(&self, user_id: i64, path: &str, ts: i64) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(&message(user_id, path, ts));
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length")
    }
}

fn message(user_id: i64, path: &str, ts: i64) -> Vec<u8> {
    format!("flashsale forward\n{user_id}\n{path}\n{ts}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(me: &str, secret: &[u8]) -> Cluster {
        let members = ["a:1".to_string(), "b:2".to_string(), "c:3".to_string()];
        Cluster::new(&members, 20, me, secret)
    }

    #[test]
    fn every_node_agrees_on_the_owner() {
        let (a, b) = (cluster("a:1", b"s"), cluster("b:2", b"s"));
        for uid in 0..1000 {
            let seen_by_a = match a.owner(uid) {
                Owner::Me => "a:1".to_string(),
                Owner::Peer(p) => p,
            };
            let seen_by_b = match b.owner(uid) {
                Owner::Me => "b:2".to_string(),
                Owner::Peer(p) => p,
            };
            assert_eq!(seen_by_a, seen_by_b, "uid {uid}");
        }
    }

    #[test]
    fn a_down_peers_shoppers_go_to_the_next_node_and_come_back() {
        let a = cluster("a:1", b"s");
        let owned_by_b: Vec<i64> = (0..1000)
            .filter(|u| a.owner(*u) == Owner::Peer("b:2".into()))
            .collect();
        assert!(!owned_by_b.is_empty());
        assert!(a.set_up("b:2", false));
        for uid in &owned_by_b {
            assert_ne!(a.owner(*uid), Owner::Peer("b:2".into()), "uid {uid}");
        }
        // Shoppers of the other nodes stay where they were.
        for uid in (0..1000).filter(|u| !owned_by_b.contains(u)) {
            assert_eq!(a.owner(uid), cluster("a:1", b"s").owner(uid), "uid {uid}");
        }
        assert!(a.set_up("b:2", true));
        assert!(!a.set_up("b:2", true), "no change");
        for uid in &owned_by_b {
            assert_eq!(a.owner(*uid), Owner::Peer("b:2".into()));
        }
    }

    #[test]
    fn a_peer_is_taken_out_after_missed_checks_and_back_at_its_first_answer() {
        let a = cluster("a:1", b"s");
        assert!(!a.checked("b:2", false));
        assert!(!a.checked("b:2", false));
        assert!(!a.is_down("b:2"), "two misses are not enough");
        assert!(a.checked("b:2", false));
        assert!(a.is_down("b:2"));
        assert!(a.checked("b:2", true));
        assert!(!a.is_down("b:2"));
        assert!(!a.checked("b:2", false), "the count starts again");
    }

    #[test]
    fn markers_bind_shopper_path_time_and_secret() {
        let a = cluster("a:1", b"secret");
        let m = a.marker(7, "/getOne", 1000);
        assert!(a.verify(&m, 7, "/getOne", 1000));
        assert!(a.verify(&m, 7, "/getOne", 1020));
        assert!(!a.verify(&m, 8, "/getOne", 1000), "another shopper");
        assert!(!a.verify(&m, 7, "/order/x", 1000), "another path");
        assert!(!a.verify(&m, 7, "/getOne", 1100), "too old");
        assert!(
            !cluster("b:2", b"other").verify(&m, 7, "/getOne", 1000),
            "another secret"
        );
        for forged in [
            "",
            "1000",
            "1000.",
            "x.y",
            &m[..m.len() - 1],
            &format!("{m}0"),
        ] {
            assert!(!a.verify(forged, 7, "/getOne", 1000), "{forged:?}");
        }
    }
}
