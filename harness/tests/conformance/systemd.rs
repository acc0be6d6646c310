//! The headline comparison of the runtime-profiles issue: the real systemd 252 of this machine
//! as PID 1, its app a service, stopped the way each runtime stops it. Each expected outcome
//! is stated with the fact it follows from (/work/briefs/runtime-facts.md §9):
//!
//! - docker sends SIGTERM, which makes the system manager re-execute itself [S1]; the service
//!   is never stopped and the runtime SIGKILLs PID 1 at the end of the grace period: fail.
//! - podman sees a systemd command and sends SIGRTMIN+3, which starts halt.target [S3]: the
//!   service gets its KillSignal, SIGTERM [S8], exits 0, and systemd-shutdown, lacking
//!   CAP_SYS_BOOT, exits 0 [S4]: pass.
//! - the kubelet with the preStop hook `kill -RTMIN+3 1` halts it the same way: pass; `stop`
//!   then means systemd's SIGTERM to the app, although the kubelet's own signal never comes.
//! - LXC sends SIGRTMIN+3 because systemd blocks it (SigBlk); LXC leaves CAP_SYS_BOOT, so the
//!   halt's reboot() ends the namespace and PID 1's status is SIGINT [S5]: pass (the `should`
//!   on exit code 0 fails, truthfully).

use harness::conformance::RunRecord;
use harness::matrix::Outcome;
use rstest::rstest;

use crate::support::{candidate, case, console, execute_with, options, profile, verdicts};

/// The rendered line of `role`'s first `event`, without its phase-independent columns: the
/// signal and the detail (`TERM from=pid1 code=SI_USER`).
fn line(record: &RunRecord, role: &str, event: &str) -> Option<String> {
    record
        .normal
        .events
        .iter()
        .find(|e| e.role == role && e.event == event)
        .map(|e| format!("{} {}", e.signal.as_deref().unwrap_or("-"), e.detail))
}

fn run(candidate_name: &str, profile_name: &str) -> RunRecord {
    execute_with(
        candidate(candidate_name),
        case("term-forward"),
        profile(profile_name),
        &options(),
    )
}

/// What one systemd run under one runtime must show.
struct Expected {
    stop_signal: &'static str,
    outcome: Outcome,
    /// PID 1's status as the launcher saw it.
    pid1: &'static str,
    /// Whether the app caught SIGTERM from systemd before any SIGKILL.
    app_stopped_by_systemd: bool,
}

#[rstest]
// SIGTERM = daemon-reexec [S1]: the app hears nothing, the runtime kills at the deadline.
#[case::docker("systemd", "docker", Expected { stop_signal: "TERM", outcome: Outcome::Fail, pid1: "status=signal:KILL", app_stopped_by_systemd: false })]
// podman's systemd mode sends RTMIN+3 [S3]; no CAP_SYS_BOOT, so systemd exits 0 [S4].
#[case::podman("systemd", "podman", Expected { stop_signal: "RTMIN+3", outcome: Outcome::Pass, pid1: "status=exit:0", app_stopped_by_systemd: true })]
// The preStop hook halts systemd; systemd-shutdown ends the hook and exits before the
// kubelet's SIGTERM is due (the launcher waits for that exit rather than race it).
#[case::kubernetes_prestop("systemd", "kubernetes-prestop-rtmin3", Expected { stop_signal: "TERM", outcome: Outcome::Pass, pid1: "status=exit:0", app_stopped_by_systemd: true })]
// systemd blocks RTMIN+3, so LXC sends it; with CAP_SYS_BOOT the halt ends the namespace with
// SIGINT [S5].
#[case::lxc("systemd", "lxc", Expected { stop_signal: "RTMIN+3", outcome: Outcome::Pass, pid1: "status=signal:INT", app_stopped_by_systemd: true })]
// The same image with STOPSIGNAL SIGRTMIN+3 stops cleanly under docker too.
#[case::docker_stopsignal("systemd-stopsignal", "docker", Expected { stop_signal: "RTMIN+3", outcome: Outcome::Pass, pid1: "status=exit:0", app_stopped_by_systemd: true })]
fn systemd_stops_the_way_each_runtime_asks(
    #[case] candidate_name: &str,
    #[case] profile_name: &str,
    #[case] expected: Expected,
) {
    let record = run(candidate_name, profile_name);
    let text = record.normal.render();
    let console = console(&record);
    // The console (a terminal copied into the run's console log) is systemd's own account:
    // the boot starts the app's service and nothing of the machine's.
    let started: Vec<&str> = console
        .lines()
        .filter(|line| line.contains("] Started "))
        .collect();
    assert!(
        !started.is_empty() && started.iter().all(|l| l.contains("pid1check-app.service")),
        "the boot started something else: {started:?}\n{console}"
    );
    assert_eq!(
        record.result.stop_signal, expected.stop_signal,
        "{}: {text}",
        record.result.stop_why
    );
    assert_eq!(
        record.result.outcome, expected.outcome,
        "{}: {text}",
        record.result.reason
    );
    assert_eq!(
        line(&record, "pid1", "exited").as_deref(),
        Some(format!("- {}", expected.pid1).as_str()),
        "{text}"
    );
    let caught = line(&record, "app", "caught");
    let escalated = line(&record, "runtime", "escalated").is_some();
    if expected.app_stopped_by_systemd {
        assert_eq!(
            caught.as_deref(),
            Some("TERM from=pid1 code=SI_USER"),
            "systemd stops the service with its KillSignal: {text}"
        );
        assert_eq!(
            line(&record, "app", "exiting").as_deref(),
            Some("- code=0"),
            "{text}"
        );
        assert!(!escalated, "the halt finished within the grace: {text}");
        assert!(
            console.contains("Activating special unit halt.target")
                && console.contains("Stopped pid1check-app.service"),
            "{console}"
        );
    } else {
        assert_eq!(
            caught, None,
            "the re-executing manager stops nothing: {text}"
        );
        assert!(escalated, "the runtime had to SIGKILL: {text}");
        assert!(
            console.contains("Received SIGTERM.") && console.contains("Reexecuting."),
            "SIGTERM made the manager re-execute [S1]: {console}"
        );
        assert!(
            record.result.reason.contains("app never caught TERM"),
            "the one-line reason names what went wrong: {}",
            record.result.reason
        );
    }
}

/// systemd reaps an orphan re-parented to it: the daemon of orphan-reaping never shows as a
/// zombie (systemd/systemd: src/core/manager.c (manager_dispatch_sigchld) reaps every child
/// with waitid(P_ALL)).
#[test]
fn systemd_reaps_an_adopted_orphan() {
    let record = execute_with(
        candidate("systemd-stopsignal"),
        case("orphan-reaping"),
        profile("podman"),
        &options(),
    );
    let text = record.normal.render();
    assert_eq!(
        record.result.outcome,
        Outcome::Pass,
        "{}: {text}",
        record.result.reason
    );
    let scan = line(&record, "runtime", "zombie-scan");
    assert!(
        scan.as_deref().is_some_and(|s| s.contains("zombies=[]")),
        "{scan:?}: {text}"
    );
}

/// systemd's own timers (the halt takes about 0.5 s; services get 90 s) never let the scale
/// decide: at the real time scale (docker's grace 10 s) the verdicts are those of the default
/// scale, where `min_grace_ms` keeps the grace at 3 s.
#[test]
fn time_scale_one_gives_systemd_the_same_verdicts() {
    let real_time = harness::conformance::MatrixOptions {
        time_scale: 1.0,
        ..options()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = ["docker", "podman"]
            .into_iter()
            .map(|profile_name| {
                let real_time = &real_time;
                scope.spawn(move || {
                    let scaled = run("systemd", profile_name);
                    let real = execute_with(
                        candidate("systemd"),
                        case("term-forward"),
                        profile(profile_name),
                        real_time,
                    );
                    (profile_name, scaled, real)
                })
            })
            .collect();
        for handle in handles {
            let (profile_name, scaled, real) = handle.join().expect("a run thread");
            assert_eq!(scaled.result.grace_ms, 3_000, "{profile_name}");
            assert_eq!(real.result.grace_ms, 10_000, "{profile_name}");
            assert_eq!(verdicts(&scaled), verdicts(&real), "{profile_name}");
            assert_eq!(scaled.result.outcome, real.result.outcome, "{profile_name}");
        }
    });
}

/// `docker stop --signal SIGRTMIN+4` powers systemd off: poweroff.target, like halt.target, stops
/// the service with SIGTERM first [S3, S8], then PID 1 exits 0.
#[test]
fn rtmin4_powers_systemd_off_stopping_the_service_first() {
    let mut docker = harness::spec::Profile::docker();
    docker.signal = Some("SIGRTMIN+4".to_owned());
    let record = execute_with(
        candidate("systemd"),
        case("term-forward"),
        docker,
        &options(),
    );
    let text = record.normal.render();
    let console = console(&record);
    assert_eq!(record.result.stop_signal, "RTMIN+4");
    assert_eq!(
        record.result.outcome,
        Outcome::Pass,
        "{}: {text}",
        record.result.reason
    );
    assert_eq!(
        line(&record, "app", "caught").as_deref(),
        Some("TERM from=pid1 code=SI_USER"),
        "{text}"
    );
    assert!(
        console.contains("Received SIGRTMIN+4.")
            && console.contains("Activating special unit poweroff.target"),
        "{console}"
    );
}
