//! The Docker fault matrix (issue #8 item 5): a network of validators run
//! as containers ([`cluster`]), driven by a bounded load ([`load`]), hit by
//! one fault per case and checked after healing ([`run`]): identical block
//! headers and state hash on every node, every transaction a client saw
//! committed present everywhere, the example02 balances matching the
//! committed transfers, and, with more than f nodes cut off, no progress
//! rather than a fork.
//!
//! `tests/fault-matrix.sh` runs the whole matrix and prints the table;
//! `tests/tests/fault_matrix.rs` runs a short subset in CI.

pub mod cluster;
pub mod load;
pub mod run;

use std::fmt;

/// What a case does to the chosen nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, then start again.
    Kill,
    /// SIGTERM (graceful stop), then start again.
    Terminate,
    /// Freeze every process, then thaw.
    Pause,
    /// Take off the network, then put back.
    Disconnect,
    /// The primary alone on one side, everyone else on the other.
    IsolatePrimary,
    /// Two halves, neither with a quorum.
    Halves,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Kill => "sigkill+restart",
            Fault::Terminate => "sigterm+restart",
            Fault::Pause => "pause/unpause",
            Fault::Disconnect => "disconnect",
            Fault::IsolatePrimary => "partition: primary alone",
            Fault::Halves => "partition: halves",
        })
    }
}

/// Which nodes a node fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Backups only.
    Backups,
    /// The current primary, and backups if more nodes are hit.
    Primary,
}

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Validators in the network (4 or 7).
    pub validators: usize,
    /// The fault.
    pub fault: Fault,
    /// For node faults: whom it hits first.
    pub target: Target,
    /// For node faults: how many nodes it hits (1, f, or f+1).
    pub nodes: usize,
}

impl Case {
    /// f of the network: ⌊(N−1)/3⌋.
    pub fn f(&self) -> usize {
        (self.validators - 1) / 3
    }

    /// Whether the network must stop committing while the fault lasts:
    /// more than f nodes cut off, or no side of a partition holding a
    /// quorum.
    pub fn must_halt(&self) -> bool {
        match self.fault {
            Fault::Halves => true,
            Fault::IsolatePrimary => false,
            _ => self.nodes > self.f(),
        }
    }

    /// A short name for filters and test output, e.g. `n4-pause-primary-1`.
    pub fn name(&self) -> String {
        let fault = match self.fault {
            Fault::Kill => "kill",
            Fault::Terminate => "term",
            Fault::Pause => "pause",
            Fault::Disconnect => "disconnect",
            Fault::IsolatePrimary => "isolate-primary",
            Fault::Halves => "halves",
        };
        match self.fault {
            Fault::IsolatePrimary | Fault::Halves => format!("n{}-{fault}", self.validators),
            _ => {
                let target = match self.target {
                    Target::Backups => "backup",
                    Target::Primary => "primary",
                };
                format!("n{}-{fault}-{target}-{}", self.validators, self.nodes)
            }
        }
    }
}

/// Every case for a network of `validators`: each node fault on a backup
/// and on the primary, hitting one node and f nodes; the two partitions;
/// and f+1 nodes killed, which must halt the network.
pub fn matrix(validators: usize) -> Vec<Case> {
    let f = (validators - 1) / 3;
    let mut counts = vec![1, f];
    counts.dedup();
    let mut cases = Vec::new();
    for fault in [
        Fault::Kill,
        Fault::Terminate,
        Fault::Pause,
        Fault::Disconnect,
    ] {
        for target in [Target::Backups, Target::Primary] {
            for &nodes in &counts {
                cases.push(Case {
                    validators,
                    fault,
                    target,
                    nodes,
                });
            }
        }
    }
    for fault in [Fault::IsolatePrimary, Fault::Halves] {
        cases.push(Case {
            validators,
            fault,
            target: Target::Primary,
            nodes: 1,
        });
    }
    cases.push(Case {
        validators,
        fault: Fault::Kill,
        target: Target::Backups,
        nodes: f + 1,
    });
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_sizes_and_halting_cases() {
        let four = matrix(4);
        assert_eq!(four.len(), 4 * 2 + 2 + 1);
        let seven = matrix(7);
        assert_eq!(seven.len(), 4 * 2 * 2 + 2 + 1);
        let halting: Vec<_> = seven
            .iter()
            .filter(|c| c.must_halt())
            .map(Case::name)
            .collect();
        assert_eq!(halting, ["n7-halves", "n7-kill-backup-3"]);
        let names: std::collections::BTreeSet<_> = seven.iter().map(Case::name).collect();
        assert_eq!(names.len(), seven.len(), "case names are unique");
    }
}
