//! Runtime profiles end to end: a preStop hook runs inside the container, the stop signal each
//! runtime chooses reaches PID 1, and `--time-scale` never changes a verdict.

use harness::conformance::MatrixOptions;
use harness::matrix::Outcome;

use crate::support::{
    candidate, case, execute, execute_with, hostile_candidate, options, profile, verdicts,
};

/// `kill -RTMIN+3 1` in a preStop hook reaches the container's PID 1 (tini, which forwards it
/// to the app, whose default action for it is to die: tini then exits 128 + 37). Had the hook
/// run outside the namespace, `1` would have been the host's init.
#[test]
fn a_prestop_hook_runs_inside_the_container_and_signals_its_pid1() {
    let record = execute_with(
        candidate("tini"),
        case("term-forward"),
        profile("kubernetes-prestop-rtmin3"),
        &options(),
    );
    let text = record.normal.render();
    let line = |event: &str| {
        text.lines()
            .find(|line| line.split_whitespace().nth(1) == Some(event))
            .map(|line| {
                line.split_whitespace()
                    .skip(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
    };
    assert_eq!(
        line("exec-started").as_deref(),
        Some("command=\"sh -c kill -RTMIN+3 1; exec sleep infinity\" (preStop hook)"),
        "{text}"
    );
    assert_eq!(line("exec-ended").as_deref(), Some("ended"), "{text}");
    assert!(
        text.contains(&format!("status=exit:{}", 128 + libc::SIGRTMIN() + 3)),
        "{text}"
    );
    assert_eq!(
        record.result.pre_stop.as_deref(),
        Some("sh -c kill -RTMIN+3 1; exec sleep infinity")
    );
    assert_eq!(
        record.result.outcome,
        Outcome::Fail,
        "the app died uncleanly"
    );
}

/// LXC sends SIGPWR to an init that does not block SIGRTMIN+3, and the report says which
/// signal was really sent.
#[test]
fn lxc_sends_pwr_to_an_init_that_does_not_block_rtmin3() {
    let record = execute_with(
        candidate("tini"),
        case("term-forward"),
        profile("lxc"),
        &options(),
    );
    assert_eq!(record.result.stop_signal, "PWR");
    assert!(
        record.result.stop_why.contains("else PWR"),
        "{}",
        record.result.stop_why
    );
    assert_eq!(
        record.result.outcome,
        Outcome::Pass,
        "{}",
        record.result.reason
    );
}

/// LXC picks its stop signal from PID 1's blocked mask, which means something only while PID 1
/// sleeps: an init that blocks every signal between its waits, as tini does, shows SIGRTMIN+3
/// blocked whenever it works, and would pass for systemd. This one is busy for 300 ms right
/// after reaping the case's orphan, when the stop comes: it must still get SIGPWR, read once it
/// sleeps again, and its trace must not say the mask was read awake.
#[test]
fn lxc_reads_the_mask_of_a_busy_init_once_it_sleeps() {
    let record = execute_with(
        hostile_candidate("hostile-busy-after-reap"),
        case("orphan-reaping"),
        profile("lxc"),
        &options(),
    );
    let text = record.normal.render();
    assert_eq!(record.result.stop_signal, "PWR", "{text}");
    assert!(!text.contains("mask-read-busy"), "{text}");
}

/// The same runs at the real time scale and at the default give the same verdicts: the scale
/// only shortens waits, it never decides an outcome.
#[test]
fn time_scale_one_gives_the_same_verdicts_as_the_default_scale() {
    let real_time = MatrixOptions {
        time_scale: 1.0,
        ..options()
    };
    let pairs = [
        ("tini", "term-forward"),
        ("sh-script", "term-forward"),
        ("tini", "grace-escalation"),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|(cand, name)| {
                let real_time = &real_time;
                scope.spawn(move || {
                    let scaled = execute(candidate(cand), case(name));
                    let real = execute_with(
                        candidate(cand),
                        case(name),
                        harness::spec::Profile::docker(),
                        real_time,
                    );
                    (cand, name, scaled, real)
                })
            })
            .collect();
        for handle in handles {
            let (cand, name, scaled, real) = handle.join().expect("a run thread");
            assert_eq!(real.result.grace_ms, 10_000, "{cand} × {name}");
            assert_eq!(scaled.result.grace_ms, 500, "{cand} × {name}");
            assert_eq!(verdicts(&scaled), verdicts(&real), "{cand} × {name}");
            assert_eq!(
                scaled.result.outcome, real.result.outcome,
                "{cand} × {name}"
            );
        }
    });
}
