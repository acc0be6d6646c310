//! The timeline on hand-built traces: which lanes, markers, arrows, ends, reaps and zombie
//! spans a trace gives, and where the SVG puts them.

use super::*;
use crate::normal::tests::{CHLD, KILL, TERM, TraceBuilder, case, node, tree};
use crate::normal::witness::tests::WitnessBuilder;
use crate::observe::witness::GenerateResult;
use crate::spec::Case;
use crate::trace::{ExitStatus, Trace};

const MS: u64 = 1_000_000;
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const HANDLER: u64 = 0x55e2_5e48_cdc0;
/// The run's first instant: times in the timeline are relative to it.
const T0: u64 = 5_000 * MS;

fn app_worker() -> Case {
    case(node("app", vec![node("worker", Vec::new())]))
}

/// tini-like PID 1 (sigwait) forwards the runtime's TERM to the app, which handles it and
/// exits; PID 1 exits and the kernel SIGKILLs the worker left in its own session.
fn own_session() -> Trace {
    let at = |ms: u64| T0 + ms * MS;
    let witness = WitnessBuilder::new(1000)
        .process(2, Some(2), 1)
        .process(3, Some(3), 2)
        .fork(at(0), 0, 1)
        .fork(at(1), 1, 2)
        .fork(at(2), 2, 3)
        .generate(at(10), (0, 1), (TERM, SI_USER), GenerateResult::Delivered)
        .generate(at(11), (1, 2), (TERM, SI_USER), GenerateResult::Delivered)
        .deliver(at(12), 2, TERM, HANDLER)
        .exit(at(13), 2)
        .generate(at(14), (2, 1), (CHLD, 1), GenerateResult::Delivered)
        .exit(at(15), 1)
        .generate(at(16), (1, 3), (KILL, SI_KERNEL), GenerateResult::Delivered)
        .deliver(at(17), 3, KILL, 0)
        .exit(at(18), 3)
        .build();
    TraceBuilder::new()
        .started(at(1) + 50_000, "app", 2, [1, 2, 1])
        .started(at(2) + 50_000, "worker", 3, [2, 3, 3])
        .ready(at(3))
        .stop(at(10), TERM)
        .exiting(at(12) + 10_000, "app", 2, 0)
        .pid1_exited(at(19), ExitStatus::Exited { code: 0 })
        .survivors(at(20), Vec::new())
        .witness(witness)
        .build()
}

fn arrows(timeline: &Timeline) -> Vec<String> {
    timeline
        .signals
        .iter()
        .map(|s| {
            format!(
                "{} {}->{} {} {}",
                s.at / MS,
                s.from,
                s.to,
                s.signal,
                s.fate.word()
            )
        })
        .collect()
}

fn lane_names(timeline: &Timeline) -> Vec<&str> {
    timeline.lanes.iter().map(|l| l.name.as_str()).collect()
}

#[test]
fn lanes_are_the_runtime_pid1_the_tree_then_the_kernel_with_fork_and_exit_times() {
    let timeline = build_timeline(&own_session(), &app_worker(), Some(500));
    assert_eq!(
        lane_names(&timeline),
        ["runtime", "pid1", "app", "worker", "kernel"]
    );
    let spans: Vec<(Option<u64>, Option<u64>)> = timeline
        .lanes
        .iter()
        .flat_map(|l| &l.lives)
        .map(|l| (l.born.map(|t| t / MS), l.ended.map(|t| t / MS)))
        .collect();
    // Forks and exits from the witness, in ms since PID 1's fork; the runtime and the kernel
    // are not processes of the run.
    assert_eq!(
        spans,
        [
            (None, None),
            (Some(0), Some(15)),
            (Some(1), Some(13)),
            (Some(2), Some(18)),
            (None, None)
        ]
    );
}

#[test]
fn witnessed_signals_are_arrows_with_their_fate_and_sigchld_is_left_out() {
    let timeline = build_timeline(&own_session(), &app_worker(), Some(500));
    assert_eq!(
        arrows(&timeline),
        [
            "10 runtime->pid1 TERM queued",
            "11 pid1->app TERM caught",
            "16 kernel->worker KILL fatal",
        ]
    );
}

#[test]
fn ends_say_exit_code_or_the_fatal_signal() {
    let timeline = build_timeline(&own_session(), &app_worker(), Some(500));
    let ends: Vec<String> = timeline
        .ends
        .iter()
        .map(|e| format!("{} {} {} {}", e.at / MS, e.lane, e.label, e.killed))
        .collect();
    assert_eq!(
        ends,
        [
            "13 app exit:0 false",
            "15 pid1 exit:0 false",
            "18 worker killed by KILL true",
        ]
    );
}

/// A docker-like stop of an init that ignores TERM: the grace runs out, SIGKILL follows.
fn escalation() -> Trace {
    let at = |ms: u64| T0 + ms * MS;
    TraceBuilder::new()
        .started(at(1), "app", 2, [1, 2, 1])
        .ready(at(2))
        .stop(at(10), TERM)
        .escalated(at(510))
        .pid1_exited(
            at(511),
            ExitStatus::Signaled {
                signal: KILL,
                core_dumped: false,
            },
        )
        .build()
}

#[test]
fn runtime_actions_are_markers_with_the_grace_deadline_counted_from_the_stop() {
    let timeline = build_timeline(&escalation(), &case(node("app", Vec::new())), Some(500));
    let markers: Vec<(u64, MarkerKind)> = timeline
        .markers
        .iter()
        .map(|m| (m.at / MS, m.kind))
        .collect();
    assert_eq!(
        markers,
        [
            (1, MarkerKind::Ready),
            (9, MarkerKind::StopSignal),
            (509, MarkerKind::GraceDeadline),
            (509, MarkerKind::Escalation),
            (510, MarkerKind::Pid1Exited),
        ]
    );
}

#[test]
fn a_deadline_after_the_run_is_a_note_not_a_marker() {
    let timeline = build_timeline(&own_session(), &app_worker(), Some(500));
    assert!(
        timeline
            .markers
            .iter()
            .all(|m| m.kind != MarkerKind::GraceDeadline)
    );
    assert!(
        timeline.notes.iter().any(|n| n.contains("500 ms")),
        "{:?}",
        timeline.notes
    );
}

#[test]
fn without_the_witness_arrows_are_the_runtimes_signals_unseen_and_what_probes_caught() {
    let timeline = build_timeline(&escalation_caught(), &app_worker(), Some(500));
    assert_eq!(
        arrows(&timeline),
        [
            "9 runtime->pid1 TERM sent",
            "10 pid1->app TERM caught",
            "11 pid1->worker TERM caught",
        ]
    );
    assert!(timeline.notes.iter().any(|n| n.contains("did not run")));
}

/// No witness: PID 1 forwards TERM to app and worker; the worker exits and the app reaps it 5
/// ms later; a zombie scan then sees a daemon nobody reaped. The first instant (time zero) is
/// the app's start, 1 ms after `T0`.
fn escalation_caught() -> Trace {
    let at = |ms: u64| T0 + ms * MS;
    TraceBuilder::new()
        .started(at(1), "app", 2, [1, 2, 1])
        .started(at(2), "worker", 3, [2, 2, 1])
        .ready(at(3))
        .stop(at(10), TERM)
        .caught(at(11), "app", 2, TERM, 1)
        .caught(at(12), "worker", 3, TERM, 1)
        .exiting(at(13), "worker", 3, 0)
        .caught(at(14), "app", 2, CHLD, 3)
        .reaped(at(18), "app", 2, 3, ExitStatus::Exited { code: 0 })
        .exiting(at(19), "app", 2, 0)
        .zombies(at(20), "after-app-exit", vec![4])
        .build()
}

#[test]
fn a_reap_ends_a_zombie_span_from_the_exit_and_a_scan_shows_one() {
    let trace = escalation_caught();
    let timeline = build_timeline(&trace, &app_worker(), None);
    let reaps: Vec<String> = timeline
        .reaps
        .iter()
        .map(|r| format!("{} {}->{} {}", r.at / MS, r.reaper, r.child, r.status))
        .collect();
    assert_eq!(reaps, ["17 app->worker exit:0"]);
    let zombies: Vec<(String, u64, u64)> = timeline
        .zombies
        .iter()
        .map(|z| (z.lane.clone(), z.from / MS, z.to / MS))
        .collect();
    // The daemon's end is unknown: the span is the scan's instant. `other` names pid 4.
    assert_eq!(
        zombies,
        [("other".to_owned(), 19, 19), ("worker".to_owned(), 12, 17)]
    );
}

// --- The SVG ---

/// The value of attribute `name` in the first element of `svg` after `from`.
fn attr(svg: &str, from: &str, name: &str) -> f64 {
    let start = svg
        .find(from)
        .unwrap_or_else(|| panic!("no {from} in {svg}"));
    let rest = &svg[start..];
    let key = format!(" {name}=\"");
    let at = rest
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} after {from}"))
        + key.len();
    let end = rest[at..].find('"').map_or(rest.len(), |e| at + e);
    rest[at..end]
        .parse()
        .unwrap_or_else(|_| panic!("{name} of {from} is not a number"))
}

fn lane_y(svg: &str, lane: &str) -> f64 {
    attr(
        svg,
        &format!("<g class=\"lane\" data-lane=\"{lane}\">"),
        "y1",
    )
}

#[test]
fn the_svg_has_one_row_per_lane_top_to_bottom() {
    let svg = render_svg(&build_timeline(&own_session(), &app_worker(), Some(500)));
    let ys: Vec<f64> = ["runtime", "pid1", "app", "worker", "kernel"]
        .iter()
        .map(|lane| lane_y(&svg, lane))
        .collect();
    for pair in ys.windows(2) {
        assert!(pair[1] > pair[0], "{ys:?}");
    }
    assert_eq!(svg.matches("<g class=\"lane\"").count(), 5);
}

#[test]
fn a_signal_is_a_vertical_arrow_from_the_senders_row_to_the_receivers() {
    let svg = render_svg(&build_timeline(&own_session(), &app_worker(), Some(500)));
    let arrow = "<g class=\"signal fate-fatal\" data-from=\"kernel\" data-to=\"worker\"";
    let (x1, x2) = (attr(&svg, arrow, "x1"), attr(&svg, arrow, "x2"));
    let (y1, y2) = (attr(&svg, arrow, "y1"), attr(&svg, arrow, "y2"));
    assert_eq!(x1, x2);
    // From the kernel's row (below) up to the worker's, the head just short of its line.
    let (kernel, worker) = (lane_y(&svg, "kernel"), lane_y(&svg, "worker"));
    assert!(
        (y1 - kernel).abs() < 10.0 && (y2 - worker).abs() < 10.0,
        "{y1} {y2}"
    );
    assert!(y2 > worker, "the head points up at the worker's row");
    assert!(svg[svg.find(arrow).unwrap_or(0)..].contains(">KILL fatal</text>"));
    let caught = "<g class=\"signal fate-caught\" data-from=\"pid1\" data-to=\"app\"";
    assert!(
        attr(&svg, caught, "y2") > attr(&svg, caught, "y1"),
        "pid1 is above app"
    );
}

#[test]
fn the_stop_signal_marker_and_its_arrow_share_their_x() {
    let svg = render_svg(&build_timeline(&own_session(), &app_worker(), Some(500)));
    let marker = attr(&svg, "<g class=\"marker marker-stop-signal\">", "x1");
    let arrow = attr(
        &svg,
        "<g class=\"signal fate-queued\" data-from=\"runtime\" data-to=\"pid1\"",
        "x1",
    );
    assert_eq!(marker, arrow);
    // Later events are to the right.
    let kill = attr(&svg, "<g class=\"signal fate-fatal\"", "x1");
    assert!(kill > arrow);
}

#[test]
fn the_grace_wait_is_drawn_as_a_compressed_gap() {
    let svg = render_svg(&build_timeline(
        &escalation(),
        &case(node("app", Vec::new())),
        Some(500),
    ));
    assert_eq!(svg.matches("<g class=\"gap\">").count(), 1, "{svg}");
    assert!(svg.contains("≈ 500 ms idle"), "{svg}");
    let stop = attr(&svg, "<g class=\"marker marker-stop-signal\">", "x1");
    let kill = attr(&svg, "<g class=\"marker marker-escalation\">", "x1");
    // 500 ms of waiting take less room than the axis's target width.
    assert!(kill - stop < 200.0, "{stop} {kill}");
}

#[test]
fn ends_reaps_and_zombies_are_drawn_on_their_rows() {
    let timeline = build_timeline(&escalation_caught(), &tree(), None);
    let svg = render_svg(&timeline);
    assert!(svg.contains("<g class=\"reap\" data-reaper=\"app\" data-child=\"worker\">"));
    let zombie = "<rect class=\"zombie\" data-lane=\"worker\"";
    let worker = lane_y(&svg, "worker");
    assert!((attr(&svg, zombie, "y") + 9.0 - worker).abs() < 1e-6);
    assert!(attr(&svg, zombie, "width") > 4.0);
    assert!(svg.contains("<g class=\"end\" data-lane=\"worker\">"));
    assert!(svg.contains(">exit:0</text>"));
}

#[test]
fn names_from_the_trace_are_escaped() {
    let trace = TraceBuilder::new()
        .started(T0, "a<b&c", 2, [1, 2, 1])
        .build();
    let svg = render_svg(&build_timeline(
        &trace,
        &case(node("a<b&c", Vec::new())),
        None,
    ));
    assert!(svg.contains("data-lane=\"a&lt;b&amp;c\""));
    assert!(!svg.contains("a<b"));
}

#[test]
fn processes_that_only_lived_are_folded_into_one_lane_without_end_marks() {
    // PID 1 forks three helpers no probe reports; it signals only the second one.
    let at = |ms: u64| T0 + ms * MS;
    let witness = WitnessBuilder::new(1000)
        .process(2, Some(2), 1)
        .process(3, None, 1)
        .process(4, None, 1)
        .process(5, None, 1)
        .fork(at(0), 0, 1)
        .fork(at(1), 1, 2)
        .fork(at(2), 1, 3)
        .exit(at(3), 3)
        .fork(at(4), 1, 4)
        .generate(at(5), (1, 4), (TERM, SI_USER), GenerateResult::Delivered)
        .deliver(at(6), 4, TERM, HANDLER)
        .exit(at(7), 4)
        .fork(at(8), 1, 5)
        .exit(at(9), 5)
        .build();
    let trace = TraceBuilder::new()
        .started(at(1), "app", 2, [1, 2, 1])
        .witness(witness)
        .build();
    let timeline = build_timeline(&trace, &case(node("app", Vec::new())), None);
    assert_eq!(
        lane_names(&timeline),
        ["runtime", "pid1", "app", "child-of-pid1-2", FOLDED]
    );
    let folded: Vec<(&str, Option<u64>, Option<u64>)> = timeline.lanes[4]
        .lives
        .iter()
        .map(|l| {
            (
                l.process.as_str(),
                l.born.map(|t| t / MS),
                l.ended.map(|t| t / MS),
            )
        })
        .collect();
    assert_eq!(
        folded,
        [
            ("child-of-pid1", Some(2), Some(3)),
            ("child-of-pid1-3", Some(8), Some(9))
        ]
    );
    let ends: Vec<&str> = timeline.ends.iter().map(|e| e.lane.as_str()).collect();
    assert_eq!(ends, ["child-of-pid1-2"]);
    let svg = render_svg(&timeline);
    assert!(svg.contains("2 short-lived, no signals"), "{svg}");
}
