//! A tiny seeded random number generator (SplitMix64) for the mixed workload. The load test
//! needs no cryptographic quality, only a stream that is the same for the same seed on every
//! machine and build, so that a run's choice of operations can be repeated; SplitMix64 is
//! ten lines, passes the usual statistical batteries, and needs no dependency.

/// A SplitMix64 stream (Steele, Lea and Flood, 2014): the state advances by a fixed odd
/// constant and each output is a mixed copy of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl Rng {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The stream of member `member` of room `room` in a run seeded with `seed`: members get
    /// different streams, and the same (seed, room, member) always gets the same one.
    pub fn for_member(seed: u64, room: usize, member: usize) -> Rng {
        let mut mixer = Rng::new(seed);
        let a = mixer.next_u64() ^ (room as u64);
        let mut mixer = Rng::new(a);
        let b = mixer.next_u64() ^ (member as u64);
        Rng::new(Rng::new(b).next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (multiply-shift: the high half of a 128-bit product, so no modulo
    /// bias worth measuring for the small `n` used here). `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(8);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn matches_the_splitmix64_reference_output() {
        // First outputs of the reference implementation (Vigna's splitmix64.c) for seed 0.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn members_get_distinct_reproducible_streams() {
        let first = |room, member| Rng::for_member(1, room, member).next_u64();
        assert_eq!(first(3, 4), first(3, 4));
        assert_ne!(first(3, 4), first(4, 3));
        assert_ne!(first(0, 0), first(0, 1));
        assert_ne!(first(0, 0), Rng::for_member(2, 0, 0).next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(42);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            let v = r.below(6);
            assert!(v < 6);
            seen[v as usize] += 1;
        }
        // Each value about 1000 times; a broken reduction would leave some near 0.
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(r.below(0), 0);
    }
}
