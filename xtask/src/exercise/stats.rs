//! Whether two models' accuracies on the same test images really differ: McNemar's exact test
//! on the images one model gets right and the other wrong.

/// The outcome of McNemar's exact test for two models scored on the same images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct McNemar {
    /// Images only the first model got right.
    pub only_first: usize,
    /// Images only the second model got right.
    pub only_second: usize,
    /// Two-sided p-value: the chance of a split at least this uneven between the two counts
    /// if both models were equally good (binomial, p = 1/2, on the discordant images).
    pub p: f64,
}

impl McNemar {
    /// The test on per-image outcomes (`true` = right), both over the same images in the same
    /// order.
    pub fn of(first: &[bool], second: &[bool]) -> Self {
        let (mut only_first, mut only_second) = (0, 0);
        for (&a, &b) in first.iter().zip(second) {
            match (a, b) {
                (true, false) => only_first += 1,
                (false, true) => only_second += 1,
                _ => {}
            }
        }
        let n = only_first + only_second;
        let k = only_first.min(only_second);
        // P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space (n can be thousands).
        let ln_half_n = n as f64 * 0.5f64.ln();
        let mut ln_choose = 0.0f64; // ln C(n, 0)
        let mut tail = 0.0f64;
        for i in 0..=k {
            if i > 0 {
                ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
            }
            tail += (ln_choose + ln_half_n).exp();
        }
        McNemar {
            only_first,
            only_second,
            p: (2.0 * tail).min(1.0),
        }
    }

    /// Whether the difference is significant at the 5 % level.
    pub fn significant(&self) -> bool {
        self.p < 0.05
    }

    /// `"McNemar's exact test: 7 images only the first got right, 1 only the second, p = 0.070"`
    /// with the two models named.
    pub fn describe(&self, first: &str, second: &str) -> String {
        format!(
            "McNemar's exact test on the same images: {} right only {first}, {} right only \
             {second}, p = {:.3}",
            self.only_first, self.only_second, self.p
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(only_first: usize, only_second: usize, both: usize) -> (Vec<bool>, Vec<bool>) {
        let mut a = vec![true; only_first];
        let mut b = vec![false; only_first];
        a.extend(std::iter::repeat_n(false, only_second));
        b.extend(std::iter::repeat_n(true, only_second));
        a.extend(std::iter::repeat_n(true, both));
        b.extend(std::iter::repeat_n(true, both));
        (a, b)
    }

    #[test]
    fn exact_p_values() {
        // 10 to 0: 2 · 0.5^10.
        let (a, b) = outcomes(10, 0, 50);
        let t = McNemar::of(&a, &b);
        assert_eq!((t.only_first, t.only_second), (10, 0));
        assert!((t.p - 2.0 / 1024.0).abs() < 1e-12, "{}", t.p);
        assert!(t.significant());
        // 6 to 1: 2 · (1 + 7) / 128 = 0.125, not significant.
        let t = McNemar::of(&outcomes(6, 1, 3).0, &outcomes(6, 1, 3).1);
        assert!((t.p - 0.125).abs() < 1e-12, "{}", t.p);
        assert!(!t.significant());
        // An even split, or no disagreement at all: p = 1.
        assert_eq!(
            McNemar::of(&outcomes(3, 3, 1).0, &outcomes(3, 3, 1).1).p,
            1.0
        );
        assert_eq!(McNemar::of(&[true, false], &[true, false]).p, 1.0);
        // Thousands of images stay finite (log-space sums).
        let t = McNemar::of(&outcomes(2600, 2400, 0).0, &outcomes(2600, 2400, 0).1);
        assert!(t.p > 0.0 && t.p < 0.01, "{}", t.p);
    }
}
