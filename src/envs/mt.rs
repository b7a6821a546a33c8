//! `CPython`'s `random.Random`, bit for bit, for the calls the SAT generator makes.
//!
//! The SAT environment seeds `random.Random(task_id)` and draws with `choice` and `sample`; a
//! miner must see the same instance from `af` as from the reference image, so this is the same
//! MT19937 generator with `CPython`'s integer seeding (`init_by_array` over the 32-bit words of
//! `abs(seed)`), `getrandbits`, `_randbelow` (rejection sampling on `bit_length` bits),
//! `choice` and both `sample` algorithms (pool and set). Checked against all 500 golden SAT
//! instances.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// A Mersenne Twister seeded the way `CPython` seeds `random.Random(int)`.
#[derive(Clone)]
pub struct PyRandom {
    state: [u32; N],
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom").field("index", &self.index).finish_non_exhaustive()
    }
}

impl PyRandom {
    /// `random.Random(seed)` for an integer seed (the sign is dropped, as `CPython` does).
    #[must_use]
    pub fn new(seed: i128) -> Self {
        let mut magnitude = seed.unsigned_abs();
        let mut key = Vec::new();
        while magnitude > 0 {
            #[expect(clippy::cast_possible_truncation, reason = "taking the low 32-bit word on purpose")]
            key.push(magnitude as u32);
            magnitude >>= 32;
        }
        if key.is_empty() {
            key.push(0);
        }
        Self::from_key(&key)
    }

    fn init_genrand(seed: u32) -> [u32; N] {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let previous = state[i - 1];
            #[expect(clippy::cast_possible_truncation, reason = "i < 624")]
            let index = i as u32;
            state[i] = 1_812_433_253u32.wrapping_mul(previous ^ (previous >> 30)).wrapping_add(index);
        }
        state
    }

    /// `init_by_array`, the seeding `CPython` uses for integers.
    fn from_key(key: &[u32]) -> Self {
        let mut mt = Self::init_genrand(19_650_218);
        let mut i = 1usize;
        let mut j = 0usize;
        for _ in 0..N.max(key.len()) {
            let previous = mt[i - 1];
            #[expect(clippy::cast_possible_truncation, reason = "key length is far below 2^32")]
            let offset = j as u32;
            mt[i] = (mt[i] ^ (previous ^ (previous >> 30)).wrapping_mul(1_664_525)).wrapping_add(key[j]).wrapping_add(offset);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let previous = mt[i - 1];
            #[expect(clippy::cast_possible_truncation, reason = "i < 624")]
            let offset = i as u32;
            mt[i] = (mt[i] ^ (previous ^ (previous >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(offset);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        Self { state: mt, index: N }
    }

    fn twist(&mut self) {
        for k in 0..N {
            let y = (self.state[k] & UPPER_MASK) | (self.state[(k + 1) % N] & LOWER_MASK);
            let mut next = self.state[(k + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= MATRIX_A;
            }
            self.state[k] = next;
        }
        self.index = 0;
    }

    /// `genrand_uint32`: the next raw 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `getrandbits(bits)` for `bits <= 64`: words are drawn low word first, as `CPython` does.
    pub fn getrandbits(&mut self, bits: u32) -> u64 {
        assert!(bits <= 64, "getrandbits is implemented up to 64 bits");
        if bits == 0 {
            return 0;
        }
        if bits <= 32 {
            return u64::from(self.next_u32() >> (32 - bits));
        }
        let low = u64::from(self.next_u32());
        let high = u64::from(self.next_u32() >> (64 - bits));
        (high << 32) | low
    }

    /// `_randbelow(n)`: uniform in `[0, n)` by rejection on `n.bit_length()` bits; 0 when n is 0.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let bits = u64::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(bits);
            if r < n {
                return r;
            }
        }
    }

    fn randbelow_usize(&mut self, n: usize) -> usize {
        let drawn = self.randbelow(n as u64);
        usize::try_from(drawn).expect("a value below a usize fits a usize")
    }

    /// `choice(seq)`; `None` for an empty slice (`CPython` raises `IndexError`).
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        let index = self.randbelow_usize(items.len());
        items.get(index)
    }

    /// `sample(population, k)`; `None` when `k` exceeds the population (`CPython` raises).
    pub fn sample<T: Clone>(&mut self, population: &[T], k: usize) -> Option<Vec<T>> {
        let n = population.len();
        if k > n {
            return None;
        }
        let mut setsize = 21usize;
        if k > 5 {
            // 4 ** ceil(log(3k, 4)), computed in floating point as CPython does.
            #[expect(clippy::cast_precision_loss, reason = "k is a small sample size")]
            let exponent = ((3 * k) as f64).ln() / 4f64.ln();
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a small positive exponent")]
            let exponent = exponent.ceil() as u32;
            setsize += 4usize.pow(exponent);
        }
        let mut result = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool = population.to_vec();
            for i in 0..k {
                let j = self.randbelow_usize(n - i);
                result.push(pool[j].clone());
                pool[j] = pool[n - i - 1].clone();
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow_usize(n);
                while selected.contains(&j) {
                    j = self.randbelow_usize(n);
                }
                selected.insert(j);
                result.push(population[j].clone());
            }
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_random_seed_42_matches_cpython_getrandbits() {
        // python3 -c "import random; r=random.Random(42); print([r.getrandbits(32) for _ in range(3)])"
        let mut rng = PyRandom::new(42);
        assert_eq!([rng.next_u32(), rng.next_u32(), rng.next_u32()], [2_746_317_213, 478_163_327, 107_420_369]);
    }

    #[test]
    fn py_random_large_seed_uses_every_word() {
        // python3 -c "import random; r=random.Random(2**40+5); print(r.getrandbits(32))"
        assert_eq!(PyRandom::new((1 << 40) + 5).next_u32(), 2_166_296_868);
        assert_eq!(PyRandom::new(-7).next_u32(), PyRandom::new(7).next_u32());
    }

    #[test]
    fn py_random_set_sample_and_wide_getrandbits_match_cpython() {
        // python3 -c "import random; r=random.Random(3); print(r.sample(range(100),10), r.getrandbits(40))"
        let mut rng = PyRandom::new(3);
        let population: Vec<u32> = (0..100).collect();
        assert_eq!(rng.sample(&population, 10), Some(vec![30, 75, 69, 16, 47, 77, 60, 80, 74, 8]));
        assert_eq!(rng.getrandbits(40), 15_485_932_093);
    }

    #[test]
    fn py_random_choice_and_sample_handle_empty_and_oversized() {
        let mut rng = PyRandom::new(1);
        assert_eq!(rng.choice::<u8>(&[]), None);
        assert_eq!(rng.sample(&[1, 2], 3), None);
        let picked = rng.sample(&(0..100).collect::<Vec<_>>(), 10).expect("k <= n");
        let unique: std::collections::HashSet<_> = picked.iter().collect();
        assert_eq!(unique.len(), 10);
    }
}
