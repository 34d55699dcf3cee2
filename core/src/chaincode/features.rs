//! The fabrik extensions a shim and a peer agree on at registration, and
//! how they travel: in the `txid` field of REGISTER (what the shim asks
//! for) and of REGISTERED (what the peer grants), fields v0.6 leaves empty
//! and ignores.
//!
//! The marker is `fabrik:` followed by `+`-separated feature names, for
//! example `fabrik:concurrent-transactions+unacked-writes`. The first
//! marker fabrik shipped, `fabrik:concurrent-transactions` alone, is the
//! same format with one feature, so a shim built before unacknowledged
//! writes is still granted concurrency. A peer built before them matched
//! that exact marker and grants nothing to a newer shim, which then runs
//! as over v0.6: serially, every write acknowledged (correct, only slower).
//! A v0.6 shim sends no marker and a v0.6 peer echoes none.

/// The prefix of every marker.
const PREFIX: &str = "fabrik:";
/// TRANSACTIONs may overlap on one stream (see the module docs of
/// [`crate::chaincode`]).
const CONCURRENT: &str = "concurrent-transactions";
/// PUT_STATE / DEL_STATE of a transaction get no RESPONSE (see [`Features`]).
const UNACKED_WRITES: &str = "unacked-writes";

/// The extensions of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// The shim runs several transactions at once; the peer sends
    /// TRANSACTIONs without waiting for the previous COMPLETED.
    pub concurrent_transactions: bool,
    /// In an Init or a transaction, the peer sends no RESPONSE to a
    /// PUT_STATE or DEL_STATE, and the shim does not wait for one: the
    /// chaincode's write returns at once and the next message follows
    /// without a round trip. The peer applies writes in stream order, so a
    /// later GET_STATE of the same transaction sees them; a write the
    /// ledger refuses fails the transaction with the ledger's text (the
    /// shim still waits for the answer to a PUT_STATE the ledger always
    /// refuses, an empty key or value, so the chaincode sees v0.6's error).
    pub unacked_writes: bool,
}

impl Features {
    /// Everything this build supports (what fabrik's shim asks for and its
    /// peer grants).
    pub const ALL: Features = Features {
        concurrent_transactions: true,
        unacked_writes: true,
    };

    /// The features named in a REGISTER / REGISTERED `txid`; unknown names
    /// are ignored (a newer shim's), anything without the prefix means none.
    pub fn parse(marker: &str) -> Features {
        let mut features = Features::default();
        let Some(names) = marker.strip_prefix(PREFIX) else {
            return features;
        };
        for name in names.split('+') {
            match name {
                CONCURRENT => features.concurrent_transactions = true,
                UNACKED_WRITES => features.unacked_writes = true,
                _ => {}
            }
        }
        features
    }

    /// The `txid` that says these features; empty when there are none (a
    /// plain v0.6 REGISTER / REGISTERED).
    pub fn marker(self) -> String {
        let names: Vec<&str> = [
            (self.concurrent_transactions, CONCURRENT),
            (self.unacked_writes, UNACKED_WRITES),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!("{PREFIX}{}", names.join("+"))
        }
    }

    /// What both sides have: the features a peer supporting `self` grants a
    /// shim that asked for `asked`.
    pub fn grant(self, asked: Features) -> Features {
        Features {
            concurrent_transactions: self.concurrent_transactions && asked.concurrent_transactions,
            unacked_writes: self.unacked_writes && asked.unacked_writes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for concurrent_transactions in [false, true] {
            for unacked_writes in [false, true] {
                let f = Features {
                    concurrent_transactions,
                    unacked_writes,
                };
                assert_eq!(Features::parse(&f.marker()), f, "{}", f.marker());
            }
        }
        assert_eq!(
            Features::ALL.marker(),
            "fabrik:concurrent-transactions+unacked-writes"
        );
        assert_eq!(Features::default().marker(), "", "v0.6 leaves txid empty");
    }

    #[test]
    fn the_first_marker_still_means_concurrent_transactions() {
        let f = Features::parse(super::super::CONCURRENT_TRANSACTIONS);
        assert!(f.concurrent_transactions && !f.unacked_writes);
    }

    #[test]
    fn unknown_names_and_foreign_txids_grant_nothing_extra() {
        let f = Features::parse("fabrik:unacked-writes+teleport");
        assert!(f.unacked_writes && !f.concurrent_transactions);
        assert_eq!(Features::parse("a-v06-txid"), Features::default());
        assert_eq!(Features::parse(""), Features::default());
    }

    #[test]
    fn a_peer_grants_only_what_both_support() {
        let old_peer = Features {
            concurrent_transactions: true,
            unacked_writes: false,
        };
        assert_eq!(old_peer.grant(Features::ALL), old_peer);
        assert_eq!(Features::ALL.grant(old_peer), old_peer);
        assert_eq!(
            Features::ALL.grant(Features::default()),
            Features::default()
        );
    }
}
