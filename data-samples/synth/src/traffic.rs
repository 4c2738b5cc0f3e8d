//! The traffic model: how many requests arrive when, and who sends them.
//!
//! - Rate: `requests_per_day / 1440` per minute, times a diurnal curve (peak 15:00
//!   UTC, trough 03:00 at about 45 % of the mean), a weekly profile (weekends at
//!   about 80 %) and compound month-over-month growth.
//! - Users: an initial population plus sign-ups that follow the same seasonality and
//!   growth. Each user has a stable e-mail, distinct id, home address (and a mobile
//!   one), browser and edge region, all derived from `(seed, user)`. Activity follows
//!   a Zipf-like long tail: a few heavy users, many occasional ones.

use crate::catalog;
use crate::rng::{hash3, Prng};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// Day of the week of a UTC instant, 0 = Monday.
pub fn weekday(ms: i64) -> usize {
    ((ms.div_euclid(DAY_MS) + 3).rem_euclid(7)) as usize
}

/// Relative traffic by weekday, Monday first (mean ≈ 1).
const WEEKLY: [f64; 7] = [1.08, 1.10, 1.10, 1.08, 1.02, 0.82, 0.80];

/// Relative traffic by time of day (mean 1 over a day).
pub fn diurnal(ms: i64) -> f64 {
    let hour = ms.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
    1.0 + 0.55 * (std::f64::consts::TAU * (hour - 15.0) / 24.0).cos()
}

/// The rate model shared by every day.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub start_ms: i64,
    pub requests_per_day: f64,
    /// Growth per day as a natural-log rate.
    pub growth_per_day: f64,
}

impl Traffic {
    pub fn new(start_ms: i64, requests_per_day: u64, growth_percent_per_month: f64) -> Self {
        Traffic {
            start_ms,
            requests_per_day: requests_per_day as f64,
            growth_per_day: (1.0 + growth_percent_per_month / 100.0).max(0.01).ln() / 30.0,
        }
    }

    /// Growth factor at `ms` relative to the first day.
    pub fn growth(&self, ms: i64) -> f64 {
        (self.growth_per_day * (ms - self.start_ms) as f64 / DAY_MS as f64).exp()
    }

    /// Expected user and bot requests in the minute starting at `ms`.
    pub fn per_minute(&self, ms: i64) -> f64 {
        self.requests_per_day / 1440.0 * diurnal(ms) * WEEKLY[weekday(ms)] * self.growth(ms)
    }
}

/// The user population.
#[derive(Debug, Clone)]
pub struct Users {
    seed: u64,
    /// Users who signed up before the range.
    pub initial: usize,
    /// Sign-up instants of users who sign up inside the range, ascending; user
    /// `initial + k` signed up at `signups[k]`.
    pub signups: Vec<i64>,
}

/// Sign-ups per day per request per day (before growth).
const SIGNUPS_PER_REQUEST: f64 = 1.0 / 2500.0;

impl Users {
    pub fn new(seed: u64, traffic: &Traffic, days: u32) -> Self {
        let initial = ((traffic.requests_per_day / 40.0) as usize).max(40);
        let mut signups = Vec::new();
        for day in 0..days {
            let mut rng = Prng::derive(seed, "signups", u64::from(day));
            let day_ms = traffic.start_ms + i64::from(day) * DAY_MS;
            let mean = traffic.requests_per_day
                * SIGNUPS_PER_REQUEST
                * WEEKLY[weekday(day_ms)]
                * traffic.growth(day_ms);
            let n = rng.poisson(mean);
            let mut times: Vec<i64> = (0..n)
                .map(|_| loop {
                    // Rejection sampling against the diurnal curve (max 1.55).
                    let t = day_ms + rng.below(DAY_MS as u64) as i64;
                    if rng.f64() * 1.55 < diurnal(t) {
                        break t;
                    }
                })
                .collect();
            times.sort_unstable();
            signups.extend(times);
        }
        Users {
            seed,
            initial,
            signups,
        }
    }

    /// Users who exist at `ms`.
    pub fn count_at(&self, ms: i64) -> usize {
        self.initial + self.signups.partition_point(|&t| t <= ms)
    }

    /// A user active at `ms`, drawn from the long tail.
    pub fn pick_active(&self, rng: &mut Prng, ms: i64) -> usize {
        rng.zipf(self.count_at(ms), 0.75)
    }

    fn h(&self, user: usize, what: &str) -> u64 {
        hash3(self.seed, what, user as u64)
    }

    /// The account's e-mail address (also the NextAuth credentials username).
    pub fn email(&self, user: usize) -> String {
        catalog::email(self.h(user, "email"), user as u64 + 1)
    }

    /// The database row id of the user.
    pub fn db_id(&self, user: usize) -> u64 {
        user as u64 + 1
    }

    /// The organisation the user belongs to (about three users per organisation).
    pub fn org_id(&self, user: usize) -> u64 {
        user as u64 / 3 + 1
    }

    /// The PostHog distinct id and Stripe metadata user id (a UUID).
    pub fn distinct_id(&self, user: usize) -> String {
        let a = self.h(user, "uuid-a");
        let b = self.h(user, "uuid-b");
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// The user's home address, or (for `mobile`) the carrier address.
    pub fn ip(&self, user: usize, mobile: bool) -> u32 {
        let mut rng = Prng::derive(
            self.seed,
            if mobile { "ip-mobile" } else { "ip" },
            user as u64,
        );
        catalog::random_ip(&mut rng, catalog::USER_NETS)
    }

    /// The address a request of this user comes from.
    pub fn request_ip(&self, rng: &mut Prng, user: usize) -> u32 {
        self.ip(user, rng.chance(0.12))
    }

    pub fn user_agent(&self, user: usize) -> &'static str {
        let mut rng = Prng::derive(self.seed, "ua", user as u64);
        rng.weighted::<&str>(catalog::BROWSER_UAS)
    }

    pub fn edge_region(&self, user: usize) -> &'static str {
        let mut rng = Prng::derive(self.seed, "region", user as u64);
        rng.weighted::<&str>(catalog::EDGE_REGIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seasonality_has_the_expected_shape() {
        // 2024-01-01 is a Monday.
        let monday = 1_704_067_200_000;
        assert_eq!(weekday(monday), 0);
        assert_eq!(weekday(monday + 6 * DAY_MS), 6);
        assert!(diurnal(monday + 15 * HOUR_MS) > 1.5);
        assert!(diurnal(monday + 3 * HOUR_MS) < 0.5);
        let t = Traffic::new(monday, 14_400, 10.0);
        assert!((t.growth(monday + 30 * DAY_MS) - 1.1).abs() < 1e-9);
        let day: f64 = (0..1440)
            .map(|m| t.per_minute(monday + m * MINUTE_MS))
            .sum();
        assert!((day / 14_400.0 - 1.08).abs() < 0.01, "{day}");
    }

    #[test]
    fn users_are_stable() {
        let t = Traffic::new(1_704_067_200_000, 20_000, 6.0);
        let u = Users::new(3, &t, 10);
        assert!(u.signups.windows(2).all(|w| w[0] <= w[1]));
        assert!(!u.signups.is_empty());
        assert_eq!(u.email(5), u.email(5));
        assert_ne!(u.email(5), u.email(6));
        assert_eq!(u.distinct_id(9).len(), 36);
        assert_eq!(u.ip(4, false), Users::new(3, &t, 10).ip(4, false));
    }
}
