//! A sum tree: leaf values with O(log n) update and O(log n) sampling proportional to value,
//! the index structure of prioritized replay.

/// Binary tree of partial sums over `len` leaves (stored in an array, root at 1).
#[derive(Debug, Clone)]
pub struct SumTree {
    len: usize,
    size: usize,
    nodes: Vec<f64>,
}

impl SumTree {
    /// `len` leaves, all zero.
    pub fn new(len: usize) -> Self {
        let size = len.max(1).next_power_of_two();
        Self {
            len,
            size,
            nodes: vec![0.0; 2 * size],
        }
    }

    /// A tree over `leaves` (each >= 0), built bottom-up in O(n): the same sums as setting
    /// them one by one, since every node is recomputed from its children.
    pub fn from_leaves(leaves: &[f64]) -> Self {
        let mut t = Self::new(leaves.len());
        t.nodes[t.size..t.size + leaves.len()].copy_from_slice(leaves);
        for n in (1..t.size).rev() {
            t.nodes[n] = t.nodes[2 * n] + t.nodes[2 * n + 1];
        }
        t
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no leaves.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Value of leaf `i`.
    pub fn get(&self, i: usize) -> f64 {
        self.nodes[self.size + i]
    }

    /// Set leaf `i` to `value` (>= 0) and update the sums above it.
    pub fn set(&mut self, i: usize, value: f64) {
        assert!(i < self.len, "leaf {i} out of range {}", self.len);
        let mut n = self.size + i;
        let delta = value - self.nodes[n];
        if delta == 0.0 {
            return;
        }
        self.nodes[n] = value;
        // Recompute rather than add deltas so rounding errors cannot accumulate.
        while n > 1 {
            n /= 2;
            self.nodes[n] = self.nodes[2 * n] + self.nodes[2 * n + 1];
        }
    }

    /// Sum of all leaves.
    pub fn total(&self) -> f64 {
        self.nodes[1]
    }

    /// The leaf whose cumulative range contains `u` (`0 <= u < total`): leaf `i` is found
    /// with probability `value_i / total` for uniform `u`. Zero leaves are never returned
    /// while the total is positive.
    pub fn find(&self, mut u: f64) -> usize {
        let mut n = 1;
        while n < self.size {
            let left = self.nodes[2 * n];
            if u < left || self.nodes[2 * n + 1] <= 0.0 {
                n *= 2;
            } else {
                u -= left;
                n = 2 * n + 1;
            }
        }
        let mut i = n - self.size;
        // Guard against rounding landing on a zero leaf at the far right.
        while i > 0 && self.nodes[self.size + i] <= 0.0 {
            i -= 1;
        }
        i.min(self.len.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn sums_and_lookups() {
        let mut t = SumTree::new(5);
        for (i, v) in [1.0, 0.0, 3.0, 2.0, 4.0].into_iter().enumerate() {
            t.set(i, v);
        }
        assert_eq!(t.total(), 10.0);
        assert_eq!(t.find(0.0), 0);
        assert_eq!(t.find(0.99), 0);
        assert_eq!(t.find(1.0), 2); // leaf 1 is zero: skipped
        assert_eq!(t.find(3.99), 2);
        assert_eq!(t.find(4.0), 3);
        assert_eq!(t.find(6.0), 4);
        assert_eq!(t.find(9.999), 4);
        t.set(4, 0.0);
        assert_eq!(t.total(), 6.0);
        assert_eq!(t.find(5.999), 3);
    }

    #[test]
    fn built_from_leaves_equals_set_one_by_one() {
        let leaves: Vec<f64> = (0..37).map(|i| ((i * 7919) % 13) as f64 * 0.37).collect();
        let mut t = SumTree::new(leaves.len());
        for (i, &v) in leaves.iter().enumerate().rev() {
            t.set(i, v);
        }
        let b = SumTree::from_leaves(&leaves);
        assert_eq!(b.nodes, t.nodes);
        assert_eq!(b.len(), 37);
    }

    #[test]
    fn sampling_is_proportional() {
        let mut t = SumTree::new(3);
        t.set(0, 1.0);
        t.set(1, 2.0);
        t.set(2, 7.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[t.find(rng.random_range(0.0..t.total()))] += 1;
        }
        for (c, p) in counts.iter().zip([0.1, 0.2, 0.7]) {
            assert!((*c as f64 / 100_000.0 - p).abs() < 0.01, "{counts:?}");
        }
    }
}
