//! The generator's randomness and calendar: a seeded PRNG (`fastrand`'s
//! wyrand, the same stream for the same seed) and random instants on real
//! calendar days (the calendar is the `time` crate's).

use time::Date;

/// The generator's deterministic PRNG; not for cryptography.
#[derive(Debug, Clone)]
pub(super) struct Rng(fastrand::Rng);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// The generator for one claim: depends only on the seed and the claim's index.
    pub(super) fn for_claim(seed: u64, index: u64) -> Self {
        let base = fastrand::Rng::with_seed(seed ^ 0xC1A1_4D5E_ED00_0000).u64(..);
        Rng::new(base ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Uniform in `0..bound` (`0` when `bound` is 0).
    pub(super) fn below(&mut self, bound: u64) -> u64 {
        self.0.u64(..bound.max(1))
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        self.0.f64()
    }

    /// An index into `weights`, chosen with probability proportional to its weight.
    pub(super) fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut pick = self.below(total);
        for (index, weight) in weights.iter().enumerate() {
            if pick < *weight {
                return index;
            }
            pick -= weight;
        }
        weights.len() - 1
    }
}

/// A calendar date and time, written ISO-8601 style.
#[derive(Debug, Clone, Copy)]
pub(super) struct DateTime {
    pub(super) year: u32,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
}

/// A uniformly random instant within `year` (a year `time` can hold: 1..=9999).
pub(super) fn random_datetime_in(rng: &mut Rng, year: u32) -> DateTime {
    let days_in_year = time::util::days_in_year(year as i32);
    let ordinal = rng.below(u64::from(days_in_year)) as u16 + 1;
    let date = Date::from_ordinal_date(year as i32, ordinal)
        .expect("an ordinal within the year's length is a real day");
    let second_of_day = rng.below(86_400) as u32;
    DateTime {
        year,
        month: u32::from(u8::from(date.month())),
        day: u32::from(date.day()),
        hour: second_of_day / 3600,
        minute: second_of_day / 60 % 60,
        second: second_of_day % 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_dates_are_real_calendar_dates() {
        let mut rng = Rng::new(1);
        let mut saw_leap_day = false;
        for _ in 0..20_000 {
            let at = random_datetime_in(&mut rng, 2024);
            let month = time::Month::try_from(at.month as u8).expect("a month");
            let length = u32::from(time::util::days_in_month(month, 2024));
            assert!((1..=12).contains(&at.month) && at.day >= 1 && at.day <= length);
            assert!(at.hour < 24 && at.minute < 60 && at.second < 60);
            saw_leap_day |= at.month == 2 && at.day == 29;
        }
        assert!(saw_leap_day);
        let mut rng = Rng::new(2);
        for _ in 0..2_000 {
            let at = random_datetime_in(&mut rng, 2023);
            assert!(!(at.month == 2 && at.day == 29), "2023 has no leap day");
        }
    }

    #[test]
    fn same_seed_same_stream() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| rng.below(1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
        let mut a = Rng::for_claim(5, 42);
        let mut b = Rng::for_claim(5, 42);
        assert_eq!(a.below(u64::MAX), b.below(u64::MAX));
    }

    #[test]
    fn weighted_choice_follows_weights() {
        let mut rng = Rng::new(9);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[rng.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[2] > counts[0] * 3 / 2, "{counts:?}");
    }
}
