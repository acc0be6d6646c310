//! The timeline's time axis: time → x. Between two successive instants something happens at,
//! the distance is a fixed minimum (so labels of events a few microseconds apart do not sit on
//! each other) plus a share proportional to the time between them; an interval where nothing
//! happens for long (the grace wait) is compressed to a fixed width and drawn as a break.

/// Minimum distance between two successive instants, in px.
pub const MIN_STEP: f64 = 24.0;
/// Width of a compressed gap, in px.
pub const GAP_WIDTH: f64 = 56.0;
/// An interval is compressed when it is longer than this...
const GAP_MIN_NS: u64 = 100_000_000;
/// ...and than this fraction of the whole span.
const GAP_MIN_SHARE: f64 = 0.125;

/// Time → x for one timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The instants, sorted and distinct, with their x (from 0).
    pub stops: Vec<(u64, f64)>,
    /// Compressed intervals: (from, to) instants, whose x are `GAP_WIDTH` apart.
    pub gaps: Vec<(u64, u64)>,
    /// The axis's length in px.
    pub width: f64,
}

impl Axis {
    /// An axis through `times` (any order, repeats allowed) that is about `target` px long:
    /// longer when the instants need more room than that. `busy` instants get no step of their
    /// own but keep the interval they fall in from being compressed: something happened there.
    pub fn new(times: &[u64], busy: &[u64], target: f64) -> Axis {
        let mut busy = busy.to_vec();
        busy.sort_unstable();
        let busy_between = |from: u64, to: u64| {
            let first = busy.partition_point(|&t| t <= from);
            busy.get(first).is_some_and(|&t| t < to)
        };
        let mut instants = times.to_vec();
        instants.sort_unstable();
        instants.dedup();
        if instants.is_empty() {
            instants.push(0);
        }
        let span = instants[instants.len() - 1] - instants[0];
        let threshold = GAP_MIN_NS.max((span as f64 * GAP_MIN_SHARE) as u64);
        let intervals: Vec<(u64, bool)> = instants
            .windows(2)
            .map(|w| {
                let d = w[1] - w[0];
                (d, d > threshold && !busy_between(w[0], w[1]))
            })
            .collect();
        let linear_ns: u64 = intervals
            .iter()
            .filter(|(_, gap)| !gap)
            .map(|(d, _)| d)
            .sum();
        let gap_count = intervals.iter().filter(|(_, gap)| *gap).count();
        let fixed = intervals.len() as f64 * MIN_STEP + gap_count as f64 * (GAP_WIDTH - MIN_STEP);
        // At least as much room for proportions as for the minimum steps.
        let room = (target - fixed).max(fixed).max(0.0);
        let px_per_ns = if linear_ns == 0 {
            0.0
        } else {
            room / linear_ns as f64
        };
        let mut stops = vec![(instants[0], 0.0)];
        let mut gaps = Vec::new();
        let mut x = 0.0;
        for (i, (d, gap)) in intervals.iter().enumerate() {
            if *gap {
                x += GAP_WIDTH;
                gaps.push((instants[i], instants[i + 1]));
            } else {
                x += MIN_STEP + *d as f64 * px_per_ns;
            }
            stops.push((instants[i + 1], x));
        }
        Axis {
            stops,
            gaps,
            width: x,
        }
    }

    /// The x of `t`: exact at an instant of the axis, interpolated between two.
    pub fn x(&self, t: u64) -> f64 {
        let after = self.stops.partition_point(|(s, _)| *s < t);
        match (after.checked_sub(1), self.stops.get(after)) {
            (_, Some(&(s, x))) if s == t => x,
            (Some(before), Some(&(t1, x1))) => {
                let (t0, x0) = self.stops[before];
                x0 + (x1 - x0) * (t - t0) as f64 / (t1 - t0) as f64
            }
            (None, _) => self.stops.first().map_or(0.0, |s| s.1),
            (Some(_), None) => self.width,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn instants_keep_their_order_and_at_least_the_minimum_step() {
        let axis = Axis::new(&[0, 1, 2, 3 * MS, 3 * MS + 1], &[], 400.0);
        let xs: Vec<f64> = axis.stops.iter().map(|s| s.1).collect();
        for pair in xs.windows(2) {
            assert!(pair[1] - pair[0] >= MIN_STEP, "{xs:?}");
        }
        assert_eq!(axis.x(3 * MS), xs[3]);
    }

    #[test]
    fn times_between_instants_are_proportional() {
        // 0 → 10 ms → 30 ms: the second interval is twice the first, plus the same minimum.
        let axis = Axis::new(&[0, 10 * MS, 30 * MS], &[], 300.0);
        let (a, b) = (axis.x(10 * MS), axis.x(30 * MS) - axis.x(10 * MS));
        assert!(
            ((b - MIN_STEP) - 2.0 * (a - MIN_STEP)).abs() < 1e-6,
            "{a} {b}"
        );
        assert!((axis.x(5 * MS) - a / 2.0).abs() < 1e-6);
    }

    #[test]
    fn a_long_idle_interval_is_compressed_to_a_gap() {
        // Events within 10 ms, then 500 ms of nothing (the grace wait), then the kill.
        let axis = Axis::new(&[0, 5 * MS, 10 * MS, 510 * MS, 511 * MS], &[], 600.0);
        assert_eq!(axis.gaps, [(10 * MS, 510 * MS)]);
        assert!((axis.x(510 * MS) - axis.x(10 * MS) - GAP_WIDTH).abs() < 1e-6);
        // The 10 ms before the gap get far more room than the 500 ms gap itself.
        assert!(axis.x(10 * MS) > 4.0 * GAP_WIDTH, "{axis:?}");
    }

    #[test]
    fn short_runs_have_no_gap() {
        let axis = Axis::new(&[0, 5 * MS, 15 * MS], &[], 600.0);
        assert!(axis.gaps.is_empty());
    }
    #[test]
    fn a_busy_instant_keeps_its_interval_uncompressed_without_a_step_of_its_own() {
        let times = [0, 5 * MS, 10 * MS, 510 * MS];
        let busy = Axis::new(&times, &[200 * MS], 600.0);
        assert!(busy.gaps.is_empty(), "{busy:?}");
        assert_eq!(busy.stops.len(), times.len());
        let idle = Axis::new(&times, &[], 600.0);
        assert_eq!(idle.gaps, [(10 * MS, 510 * MS)]);
    }
}
