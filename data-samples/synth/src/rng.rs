//! Seeded randomness: one small PRNG type and the seed derivation that makes every
//! day, stream and entity reproducible on its own.
//!
//! Everything random in the generator comes from a [`Prng`] built by
//! [`Prng::derive`]`(seed, stream, index)`: a day's traffic from `("day", day)`, a
//! customer's lifecycle from `("customer", i)`, and so on. Nothing depends on the
//! order in which threads run, on hash-map iteration or on the clock, so the same
//! arguments always give the same bytes.

use rand_pcg::rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// SplitMix64 finaliser: a fast, well-mixed bijection on `u64`.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a stream name, so stream names can be plain strings.
fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// A stable 64-bit value for `(seed, stream, index)`; used where a whole PRNG is
/// not needed (an entity's attributes).
pub fn hash3(seed: u64, stream: &str, index: u64) -> u64 {
    mix64(mix64(seed ^ hash_name(stream)).wrapping_add(mix64(index)))
}

/// The generator's PRNG (PCG 64-bit MCG) with the draws the simulation needs.
pub struct Prng(Pcg64Mcg);

impl Prng {
    /// An independent stream for `(seed, stream, index)`.
    pub fn derive(seed: u64, stream: &str, index: u64) -> Self {
        Prng(Pcg64Mcg::seed_from_u64(hash3(seed, stream, index)))
    }

    pub fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a collection of length `n` (`n > 0`).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Poisson count (exact below 30, normal approximation above).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p = self.f64();
            while p > limit {
                k += 1;
                p *= self.f64();
            }
            k
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64
        }
    }

    /// Index in `0..n` with probability proportional to `(i + 1)^-s` (`0 < s < 1`):
    /// the long tail of users and IPs. O(1) through the continuous inverse CDF.
    pub fn zipf(&mut self, n: usize, s: f64) -> usize {
        if n <= 1 {
            return 0;
        }
        let a = 1.0 - s;
        let x = (((n as f64 + 1.0).powf(a) - 1.0) * self.f64() + 1.0).powf(1.0 / a) - 1.0;
        (x as usize).min(n - 1)
    }

    /// An element chosen with the given relative weights.
    pub fn weighted<'a, T>(&mut self, items: &'a [(T, f64)]) -> &'a T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.f64() * total;
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }

    /// An element chosen uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Appends `n` random characters from `alphabet`.
    pub fn chars(&mut self, out: &mut String, alphabet: &[u8], n: usize) {
        for _ in 0..n {
            out.push(char::from(alphabet[self.index(alphabet.len())]));
        }
    }
}

pub const HEX: &[u8] = b"0123456789abcdef";
pub const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
pub const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `prefix` followed by `n` characters of `alphabet`, drawn from `rng`.
pub fn token(rng: &mut Prng, prefix: &str, alphabet: &[u8], n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    rng.chars(&mut s, alphabet, n);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Prng::derive(7, "day", 3).u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Prng::derive(7, "day", 3).u64(),
            Prng::derive(7, "day", 4).u64()
        );
        assert_ne!(
            Prng::derive(7, "day", 3).u64(),
            Prng::derive(8, "day", 3).u64()
        );
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Prng::derive(1, "t", 0);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            assert!(r.zipf(50, 0.8) < 50);
            let x = r.range(-3, 3);
            assert!((-3..=3).contains(&x));
        }
        let mean = (0..20_000).map(|_| r.poisson(4.0) as f64).sum::<f64>() / 20_000.0;
        assert!((mean - 4.0).abs() < 0.1, "poisson mean {mean}");
    }
}
