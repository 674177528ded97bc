//! How the nodes of a simulated rig are wired: which port of which node
//! runs to which port of which other.
//!
//! A bittide node has [`MAX_LINKS`] ports. Each edge takes the next free
//! port at both ends, in the order the edges are listed, so the same
//! topology and node count always give the same wiring.

use std::fmt;

use tidenet_core::proto::MAX_LINKS;
use tidenet_model::MAX_CPUS;

/// The shapes `tidenet mesh` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// Every node to every other: bittide's 8-node rig. At most 8 nodes.
    Full,
    /// A closed chain.
    Ring,
    /// An open chain: the ends are the farthest apart.
    Line,
    /// One hub, node 0, and up to 7 nodes around it.
    Star,
    /// Node `i` to every `i ^ 2^k`: a power of two of nodes, up to 64.
    Hypercube,
    /// A grid whose rows and columns wrap: the most square grid of the
    /// node count, at least 2 by 2.
    Torus,
}

/// One cable: `(node, port)` at each end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// One end.
    pub a: (usize, u8),
    /// The other end.
    pub b: (usize, u8),
}

/// Why a topology cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyError {
    /// Fewer than 2 nodes, or more than the simulator runs.
    Nodes {
        /// Nodes asked for.
        nodes: usize,
    },
    /// A node would need more ports than a bittide node has.
    Degree {
        /// The topology.
        topology: Topology,
        /// Nodes asked for.
        nodes: usize,
        /// Ports the busiest node would need.
        degree: usize,
    },
    /// A hypercube needs a power of two of nodes.
    NotPowerOfTwo(usize),
    /// A torus needs a node count that is a grid of at least 2 by 2.
    NoGrid(usize),
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::Nodes { nodes } => write!(
                f,
                "bad-topology: {nodes} nodes; a rig has 2 to {MAX_CPUS}"
            ),
            TopologyError::Degree {
                topology,
                nodes,
                degree,
            } => write!(
                f,
                "bad-topology: a {topology:?} of {nodes} nodes needs {degree} ports on a node, and a bittide node has {MAX_LINKS}; use fewer nodes or another topology"
            ),
            TopologyError::NotPowerOfTwo(nodes) => write!(
                f,
                "bad-topology: a hypercube needs a power of two of nodes, not {nodes}"
            ),
            TopologyError::NoGrid(nodes) => write!(
                f,
                "bad-topology: a torus needs a grid of at least 2 by 2, and {nodes} nodes make none; try 4, 6, 8, 9, 12, 16, ..."
            ),
        }
    }
}

impl std::error::Error for TopologyError {}

impl Topology {
    /// The cables of this topology on `nodes` nodes, each with its ports.
    pub fn wire(self, nodes: usize) -> Result<Vec<Edge>, TopologyError> {
        if !(2..=MAX_CPUS).contains(&nodes) {
            return Err(TopologyError::Nodes { nodes });
        }
        let pairs = self.pairs(nodes)?;
        let mut ports = vec![0usize; nodes];
        let degree = pairs
            .iter()
            .fold(vec![0usize; nodes], |mut d, &(a, b)| {
                d[a] += 1;
                d[b] += 1;
                d
            })
            .into_iter()
            .max()
            .unwrap_or(0);
        if degree > MAX_LINKS {
            return Err(TopologyError::Degree {
                topology: self,
                nodes,
                degree,
            });
        }
        Ok(pairs
            .into_iter()
            .map(|(a, b)| {
                let mut port = |n: usize| {
                    ports[n] += 1;
                    (n, (ports[n] - 1) as u8)
                };
                Edge {
                    a: port(a),
                    b: port(b),
                }
            })
            .collect())
    }

    /// Which nodes are joined, each pair once.
    fn pairs(self, n: usize) -> Result<Vec<(usize, usize)>, TopologyError> {
        let mut pairs = Vec::new();
        let mut join = |a: usize, b: usize| {
            let pair = (a.min(b), a.max(b));
            if a != b && !pairs.contains(&pair) {
                pairs.push(pair);
            }
        };
        match self {
            Topology::Full => (0..n).for_each(|a| (a + 1..n).for_each(|b| join(a, b))),
            Topology::Line => (1..n).for_each(|b| join(b - 1, b)),
            Topology::Ring => (0..n).for_each(|a| join(a, (a + 1) % n)),
            Topology::Star => (1..n).for_each(|b| join(0, b)),
            Topology::Hypercube => {
                if !n.is_power_of_two() {
                    return Err(TopologyError::NotPowerOfTwo(n));
                }
                for a in 0..n {
                    for k in 0..n.trailing_zeros() {
                        join(a, a ^ (1 << k));
                    }
                }
            }
            Topology::Torus => {
                let rows = (2..=n.isqrt())
                    .rev()
                    .find(|r| n % r == 0)
                    .ok_or(TopologyError::NoGrid(n))?;
                let cols = n / rows;
                for r in 0..rows {
                    for c in 0..cols {
                        let at = |r: usize, c: usize| (r % rows) * cols + c % cols;
                        join(at(r, c), at(r, c + 1));
                        join(at(r, c), at(r + 1, c));
                    }
                }
            }
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degrees(edges: &[Edge], nodes: usize) -> Vec<usize> {
        let mut d = vec![0; nodes];
        for e in edges {
            d[e.a.0] += 1;
            d[e.b.0] += 1;
        }
        d
    }

    #[test]
    fn each_shape_has_its_edges_and_degrees() {
        let cases = [
            (Topology::Full, 8, 28, 7),
            (Topology::Ring, 5, 5, 2),
            (Topology::Line, 5, 4, 2),
            (Topology::Star, 8, 7, 7),
            (Topology::Hypercube, 64, 192, 6),
            (Topology::Torus, 64, 128, 4),
            (Topology::Torus, 6, 9, 3),
            (Topology::Ring, 2, 1, 1),
        ];
        for (topology, nodes, edges, degree) in cases {
            let wired = topology.wire(nodes).unwrap();
            assert_eq!(wired.len(), edges, "{topology:?} {nodes}");
            assert_eq!(
                degrees(&wired, nodes).into_iter().max(),
                Some(degree),
                "{topology:?} {nodes}"
            );
        }
    }

    #[test]
    fn no_port_is_used_twice_and_ports_count_from_zero() {
        for (topology, nodes) in [(Topology::Full, 8), (Topology::Hypercube, 32)] {
            let wired = topology.wire(nodes).unwrap();
            let mut used: Vec<(usize, u8)> = wired.iter().flat_map(|e| [e.a, e.b]).collect();
            used.sort();
            let before = used.len();
            used.dedup();
            assert_eq!(used.len(), before, "{topology:?}");
            let degree = degrees(&wired, nodes);
            for (node, port) in used {
                assert!(usize::from(port) < degree[node]);
            }
        }
    }

    #[test]
    fn shapes_that_cannot_be_built_say_why() {
        assert_eq!(
            Topology::Full.wire(9),
            Err(TopologyError::Degree {
                topology: Topology::Full,
                nodes: 9,
                degree: 8
            })
        );
        assert_eq!(
            Topology::Hypercube.wire(12),
            Err(TopologyError::NotPowerOfTwo(12))
        );
        assert_eq!(Topology::Torus.wire(7), Err(TopologyError::NoGrid(7)));
        assert_eq!(
            Topology::Line.wire(1),
            Err(TopologyError::Nodes { nodes: 1 })
        );
        assert_eq!(
            Topology::Line.wire(65),
            Err(TopologyError::Nodes { nodes: 65 })
        );
    }
}
