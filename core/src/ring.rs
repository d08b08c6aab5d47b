//! The consistent-hash ring that gives every shopper exactly one owner node.
//!
//! crc32 (IEEE) of the key's bytes; each node sits at `crc32("{node}-{i}")` for `i` in
//! `0..virtual_nodes`; a key belongs to the first point strictly greater than its hash,
//! wrapping to the first point at the end. Every node builds the same ring from the same
//! member list, so any node can tell who owns a shopper.

/// Virtual nodes per member, as in the thesis.
pub const DEFAULT_VIRTUAL_NODES: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// (point, index into `nodes`), sorted by point.
    points: Vec<(u32, usize)>,
    nodes: Vec<String>,
}

impl Ring {
    pub fn new<S: AsRef<str>>(nodes: &[S], virtual_nodes: u32) -> Self {
        let mut names: Vec<String> = nodes.iter().map(|n| n.as_ref().to_string()).collect();
        names.sort();
        names.dedup();
        let mut points = Vec::with_capacity(names.len() * virtual_nodes as usize);
        for (index, node) in names.iter().enumerate() {
            for i in 0..virtual_nodes {
                points.push((crc32fast::hash(format!("{node}-{i}").as_bytes()), index));
            }
        }
        // Ties (two points with one hash) go to the smaller node name, so every node agrees.
        points.sort_unstable();
        Ring {
            points,
            nodes: names,
        }
    }

    /// The node that owns `key`, or `None` on an empty ring.
    pub fn owner(&self, key: &str) -> Option<&str> {
        self.owner_index(crc32fast::hash(key.as_bytes()))
            .map(|i| self.nodes[i].as_str())
    }

    /// The first node clockwise from `key` that `alive` accepts: the owner if it is up, else
    /// its successors in ring order.
    pub fn owner_where(&self, key: &str, alive: impl Fn(&str) -> bool) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let hash = crc32fast::hash(key.as_bytes());
        let start = self.points.partition_point(|&(p, _)| p <= hash);
        (0..self.points.len())
            .map(|step| self.points[(start + step) % self.points.len()].1)
            .map(|i| self.nodes[i].as_str())
            .find(|node| alive(node))
    }

    fn owner_index(&self, hash: u32) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let at = self.points.partition_point(|&(p, _)| p <= hash);
        Some(self.points[at % self.points.len()].1)
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }
}
