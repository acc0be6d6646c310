//! A [`Timeline`] as an SVG image: lanes as rows, runtime markers as vertical dashed lines
//! labelled at the top, signals as vertical arrows coloured by fate and labelled with the
//! signal and its fate, ends, reaps and zombie spans on the lanes, the time axis with its
//! compressed gaps at the bottom, and a legend. Self-contained (no script, no external file);
//! every mark has a `<title>` tooltip with its exact time and details.

use std::fmt::Write as _;

use super::axis::{Axis, GAP_WIDTH};
use super::model::{FOLDED, Fate, MarkerKind, Timeline};
use crate::normal::witness::KERNEL;
use crate::normal::{OUTSIDE, RUNTIME};
use crate::report::markup::escape;

const LABEL_WIDTH: f64 = 130.0;
/// Room above the lanes for the slanted marker labels: at most this...
const HEADER_MAX: f64 = 200.0;
/// ...and at least this.
const HEADER_MIN: f64 = 40.0;
const LANE_HEIGHT: f64 = 72.0;
const FOOTER_HEIGHT: f64 = 120.0;
const RIGHT_MARGIN: f64 = 130.0;
/// The axis's length when the events leave room to choose.
const AXIS_TARGET: f64 = 900.0;
/// Longest marker label before it is cut (the tooltip keeps all of it).
const MARKER_LABEL_MAX: usize = 34;

const FATES: [Fate; 6] = [
    Fate::Caught,
    Fate::Dropped,
    Fate::Fatal,
    Fate::Queued,
    Fate::Default,
    Fate::Unseen,
];

/// The colour of a fate's arrows.
fn fate_colour(fate: Fate) -> &'static str {
    match fate {
        Fate::Caught => "#1a7f37",
        Fate::Dropped => "#8c959f",
        Fate::Fatal => "#cf222e",
        Fate::Queued => "#0969da",
        Fate::Default => "#9a6700",
        Fate::Unseen => "#57606a",
    }
}

/// A marker's CSS class suffix and colour.
fn marker_style(kind: MarkerKind) -> (&'static str, &'static str) {
    match kind {
        MarkerKind::Ready => ("ready", "#8c959f"),
        MarkerKind::Exec => ("exec", "#1b7c83"),
        MarkerKind::ExecEnded => ("exec-ended", "#1b7c83"),
        MarkerKind::StopSignal => ("stop-signal", "#bc4c00"),
        MarkerKind::Signal => ("signal", "#bc4c00"),
        MarkerKind::GraceDeadline => ("grace-deadline", "#8250df"),
        MarkerKind::Escalation => ("escalation", "#cf222e"),
        MarkerKind::Pid1Exited => ("pid1-exited", "#24292f"),
        MarkerKind::Scan => ("scan", "#afb8c1"),
    }
}

/// `+12.35 ms`: a time since the run's start.
pub fn format_time(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 10.0 {
        format!("+{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("+{ms:.1} ms")
    } else {
        format!("+{:.3} s", ms / 1000.0)
    }
}

/// The SVG text of `timeline`.
pub fn render_svg(timeline: &Timeline) -> String {
    let times = instants(timeline);
    // A slanted label of n characters rises about n × 6.5 px × sin 55°.
    let longest = timeline
        .markers
        .iter()
        .map(|m| m.label.chars().count().min(MARKER_LABEL_MAX))
        .max()
        .unwrap_or(0);
    let header = (HEADER_MIN + longest as f64 * 5.3).min(HEADER_MAX);
    let axis = Axis::new(&times, &busy_instants(timeline), AXIS_TARGET);
    let x = |t: u64| LABEL_WIDTH + axis.x(t);
    let lane_y = |name: &str| {
        timeline
            .lanes
            .iter()
            .position(|l| l.name == name)
            .map(|i| header + LANE_HEIGHT * (i as f64 + 0.5))
    };
    let lanes_bottom = header + LANE_HEIGHT * timeline.lanes.len() as f64;
    let width = LABEL_WIDTH + axis.width + RIGHT_MARGIN;
    let height = lanes_bottom + FOOTER_HEIGHT;
    let end_x = x(timeline.end);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="11">"#
    );
    out.push_str(&defs());
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##
    );

    // Compressed gaps: a shaded band with break lines, under everything else.
    for &(from, to) in &axis.gaps {
        let (x0, x1) = (x(from), x(to));
        let _ = writeln!(
            out,
            r##"<g class="gap"><title>{} to {}: nothing happened for {:.1} ms (compressed)</title><rect x="{:.1}" y="{header:.1}" width="{:.1}" height="{:.1}" fill="#f6f8fa"/><path d="M{:.1} {:.1} l6 -8 m-2 8 l6 -8" stroke="#57606a" fill="none"/><text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="middle" font-size="10" fill="#57606a">≈ {:.0} ms idle (compressed)</text></g>"##,
            format_time(from),
            format_time(to),
            (to - from) as f64 / 1e6,
            x0 + 4.0,
            GAP_WIDTH - 8.0,
            lanes_bottom - header,
            (x0 + x1) / 2.0 - 5.0,
            lanes_bottom + 4.0,
            (x0 + x1) / 2.0 + 4.0,
            (header + lanes_bottom) / 2.0,
            (to - from) as f64 / 1e6,
        );
    }

    // Lanes: name, guide line, and the time the process was alive.
    for lane in &timeline.lanes {
        let Some(y) = lane_y(&lane.name) else {
            continue;
        };
        let name = escape(&lane.name);
        let _ = write!(
            out,
            r##"<g class="lane" data-lane="{name}"><text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{name}</text><line x1="{LABEL_WIDTH}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-dasharray="2 3"/>"##,
            LABEL_WIDTH - 10.0,
            y + 4.0,
            end_x + 20.0,
        );
        let folded = lane.name == FOLDED;
        let count = format!("{} short-lived, no signals", lane.lives.len());
        let subtitle = if folded {
            Some(count.as_str())
        } else {
            lane_subtitle(&lane.name)
        };
        if let Some(what) = subtitle {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="9" fill="#57606a">{what}</text>"##,
                LABEL_WIDTH - 10.0,
                y + 16.0,
            );
        }
        let (stroke, opacity) = if folded { (2, 0.6) } else { (3, 1.0) };
        for life in &lane.lives {
            let Some(born) = life.born else {
                continue;
            };
            let until = life.ended.unwrap_or(timeline.end);
            let open = if life.ended.is_none() {
                " (still alive when the trace ends)"
            } else {
                ""
            };
            let _ = write!(
                out,
                r##"<line class="alive" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#57606a" stroke-width="{stroke}" stroke-opacity="{opacity}"><title>{}: alive {} to {}{open}</title></line>"##,
                x(born),
                x(until).max(x(born) + 2.0),
                escape(&life.process),
                format_time(born),
                format_time(until),
            );
        }
        out.push_str("</g>\n");
    }

    // Zombie spans.
    for span in &timeline.zombies {
        let Some(y) = lane_y(&span.lane) else {
            continue;
        };
        let (x0, x1) = (x(span.from), x(span.to));
        let _ = writeln!(
            out,
            r##"<rect class="zombie" data-lane="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="18" fill="url(#zombie)" stroke="#6e7781"><title>{}: exited, not yet reaped (a zombie, or PID 1 still in its exit path) from {} to at least {}</title></rect>"##,
            escape(&span.lane),
            x0,
            y - 9.0,
            (x1 - x0).max(4.0),
            escape(&span.lane),
            format_time(span.from),
            format_time(span.to),
        );
    }

    // Runtime markers: a dashed line over every lane, its label slanted above.
    for marker in &timeline.markers {
        let (class, colour) = marker_style(marker.kind);
        let mx = x(marker.at);
        let label: String = if marker.label.chars().count() > MARKER_LABEL_MAX {
            let cut: String = marker.label.chars().take(MARKER_LABEL_MAX - 1).collect();
            format!("{cut}…")
        } else {
            marker.label.clone()
        };
        let weight = if matches!(
            marker.kind,
            MarkerKind::StopSignal | MarkerKind::Escalation | MarkerKind::GraceDeadline
        ) {
            "bold"
        } else {
            "normal"
        };
        let _ = writeln!(
            out,
            r##"<g class="marker marker-{class}"><title>{} {}</title><line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{lanes_bottom:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 3"/><text transform="translate({:.1} {:.1}) rotate(-55)" fill="{colour}" font-weight="{weight}">{}</text></g>"##,
            format_time(marker.at),
            escape(&marker.label),
            header - 4.0,
            mx + 3.0,
            header - 8.0,
            escape(&label),
        );
    }

    // Reaps: a ring on the reaper's lane, a dotted line to the child.
    for reap in &timeline.reaps {
        let (Some(y0), Some(y1)) = (lane_y(&reap.reaper), lane_y(&reap.child)) else {
            continue;
        };
        let rx = x(reap.at);
        let _ = writeln!(
            out,
            r##"<g class="reap" data-reaper="{}" data-child="{}"><title>{} {} reaped {}: {}</title><line x1="{rx:.1}" y1="{y0:.1}" x2="{rx:.1}" y2="{y1:.1}" stroke="#6e7781" stroke-dasharray="1 3"/><circle cx="{rx:.1}" cy="{y0:.1}" r="4.5" fill="#ffffff" stroke="#24292f" stroke-width="1.5"/></g>"##,
            escape(&reap.reaper),
            escape(&reap.child),
            format_time(reap.at),
            escape(&reap.reaper),
            escape(&reap.child),
            escape(&reap.status),
        );
    }

    // Signals: a vertical arrow from the sender's lane to the receiver's.
    for signal in &timeline.signals {
        let (Some(y0), Some(y1)) = (lane_y(&signal.from), lane_y(&signal.to)) else {
            continue;
        };
        let sx = x(signal.at);
        let fate = signal.fate.word();
        let colour = fate_colour(signal.fate);
        // The head stops short of the lane line; a process signalling itself gets a short stub.
        let (y0, y1) = if signal.from == signal.to {
            (y1 - 26.0, y1 - 5.0)
        } else if y1 > y0 {
            (y0 + 4.0, y1 - 5.0)
        } else {
            (y0 - 4.0, y1 + 5.0)
        };
        let dash = match signal.fate {
            Fate::Dropped | Fate::Unseen => r#" stroke-dasharray="4 3""#,
            _ => "",
        };
        let _ = writeln!(
            out,
            r##"<g class="signal fate-{fate}" data-from="{}" data-to="{}" data-signal="{}"><title>{} {} from {} to {}: {fate} ({})</title><line x1="{sx:.1}" y1="{y0:.1}" x2="{sx:.1}" y2="{y1:.1}" stroke="{colour}" stroke-width="2"{dash} marker-end="url(#head-{fate})"/><text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="middle" font-size="9.5" fill="{colour}">{} {fate}</text></g>"##,
            escape(&signal.from),
            escape(&signal.to),
            escape(&signal.signal),
            format_time(signal.at),
            escape(&signal.signal),
            escape(&signal.from),
            escape(&signal.to),
            escape(&signal.detail),
            sx - 4.0,
            (y0 + y1) / 2.0,
            escape(&signal.signal),
        );
    }

    // Ends: a bar for an exit, a cross for a kill, with the status beside it.
    for end in &timeline.ends {
        let Some(y) = lane_y(&end.lane) else {
            continue;
        };
        let ex = x(end.at);
        let glyph = if end.killed {
            format!(
                r##"<path d="M{:.1} {:.1} l10 10 m0 -10 l-10 10" stroke="#cf222e" stroke-width="2.5"/>"##,
                ex - 5.0,
                y - 5.0
            )
        } else {
            format!(
                r##"<line x1="{ex:.1}" y1="{:.1}" x2="{ex:.1}" y2="{:.1}" stroke="#24292f" stroke-width="3"/>"##,
                y - 9.0,
                y + 9.0
            )
        };
        let _ = writeln!(
            out,
            r##"<g class="end" data-lane="{}"><title>{} {} ended: {}</title>{glyph}<text x="{:.1}" y="{:.1}" font-size="9.5" fill="#24292f">{}</text></g>"##,
            escape(&end.lane),
            format_time(end.at),
            escape(&end.lane),
            escape(&end.label),
            ex + 4.0,
            y + 20.0,
            escape(&end.label),
        );
    }

    // The time axis: a tick and a time at every instant.
    let axis_y = lanes_bottom + 8.0;
    let _ = writeln!(
        out,
        r##"<line x1="{LABEL_WIDTH}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#24292f"/>"##,
        end_x
    );
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#57606a">time since start</text>"##,
        LABEL_WIDTH - 10.0,
        axis_y + 14.0
    );
    for &(t, ax) in &axis.stops {
        let tx = LABEL_WIDTH + ax;
        let _ = writeln!(
            out,
            r##"<g class="tick"><line x1="{tx:.1}" y1="{axis_y:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#24292f"/><text transform="translate({:.1} {:.1}) rotate(-90)" text-anchor="end" font-size="9" fill="#57606a">{}</text></g>"##,
            axis_y + 4.0,
            tx + 3.0,
            axis_y + 7.0,
            format_time(t),
        );
    }
    out.push_str(&legend(height - 10.0));
    out.push_str("</svg>\n");
    out
}

/// What a lane that is not a process of the workload stands for.
fn lane_subtitle(name: &str) -> Option<&'static str> {
    match name {
        RUNTIME => Some("the launcher, outside"),
        KERNEL => Some("si_code SI_KERNEL"),
        OUTSIDE => Some("not in PID 1's tree"),
        _ => None,
    }
}

/// Every instant something is drawn at.
fn instants(timeline: &Timeline) -> Vec<u64> {
    let mut times: Vec<u64> = Vec::new();
    times.extend(timeline.markers.iter().map(|m| m.at));
    times.extend(timeline.signals.iter().map(|s| s.at));
    times.extend(timeline.ends.iter().map(|e| e.at));
    times.extend(timeline.reaps.iter().map(|r| r.at));
    times.extend(timeline.zombies.iter().flat_map(|z| [z.from, z.to]));
    times.extend(
        timeline
            .lanes
            .iter()
            .filter(|l| l.name != FOLDED)
            .flat_map(|l| l.lives.iter().filter_map(|life| life.born)),
    );
    times.push(timeline.end);
    times
}

/// Instants of the folded lives: placed between the others (they would make the axis as wide
/// as an init has helpers), but never inside a compressed gap.
fn busy_instants(timeline: &Timeline) -> Vec<u64> {
    timeline
        .lanes
        .iter()
        .filter(|l| l.name == FOLDED)
        .flat_map(|l| &l.lives)
        .flat_map(|life| [life.born, life.ended])
        .flatten()
        .collect()
}

/// Arrow heads, one per fate colour, and the zombie hatching.
fn defs() -> String {
    let mut out = String::from("<defs>");
    for fate in FATES {
        let _ = write!(
            out,
            r#"<marker id="head-{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="{}"/></marker>"#,
            fate.word(),
            fate_colour(fate)
        );
    }
    out.push_str(
        r##"<pattern id="zombie" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eaeef2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6e7781" stroke-width="2"/></pattern>"##,
    );
    out.push_str("</defs>\n");
    out
}

/// One line explaining the marks.
fn legend(y: f64) -> String {
    let mut out = String::from(r#"<g class="legend" font-size="10">"#);
    let mut x = 10.0;
    for fate in FATES {
        let colour = fate_colour(fate);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2" marker-end="url(#head-{})"/><text x="{:.1}" y="{y:.1}" fill="{colour}">{}</text>"##,
            y - 4.0,
            x + 18.0,
            y - 4.0,
            fate.word(),
            x + 22.0,
            fate_legend(fate),
        );
        x += 34.0 + 6.0 * fate_legend(fate).len() as f64;
    }
    let _ = write!(
        out,
        r##"<rect x="{x:.1}" y="{:.1}" width="14" height="10" fill="url(#zombie)" stroke="#6e7781"/><text x="{:.1}" y="{y:.1}">zombie</text>"##,
        y - 9.0,
        x + 18.0
    );
    x += 70.0;
    let _ = write!(
        out,
        r##"<circle cx="{:.1}" cy="{:.1}" r="4.5" fill="#ffffff" stroke="#24292f" stroke-width="1.5"/><text x="{:.1}" y="{y:.1}">reaped</text>"##,
        x + 5.0,
        y - 4.0,
        x + 14.0
    );
    x += 66.0;
    let _ = write!(
        out,
        r##"<path d="M{x:.1} {:.1} l8 8 m0 -8 l-8 8" stroke="#cf222e" stroke-width="2"/><text x="{:.1}" y="{y:.1}">killed</text>"##,
        y - 8.0,
        x + 12.0
    );
    x += 56.0;
    let _ = write!(
        out,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#24292f" stroke-width="3"/><text x="{:.1}" y="{y:.1}">exited</text>"##,
        y - 11.0,
        y + 1.0,
        x + 6.0
    );
    out.push_str("</g>\n");
    out
}

/// What a fate means, for the legend.
fn fate_legend(fate: Fate) -> &'static str {
    match fate {
        Fate::Caught => "caught (handler ran)",
        Fate::Dropped => "dropped/ignored",
        Fate::Fatal => "fatal",
        Fate::Queued => "queued (sigwait, blocked)",
        Fate::Default => "default action",
        Fate::Unseen => "sent (fate unseen)",
    }
}
