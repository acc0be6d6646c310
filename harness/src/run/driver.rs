//! The launcher's side of a run: one single-threaded loop that owns the probe socket and PID 1's
//! pidfd, waits for events with deadlines (never a fixed sleep to synchronise), performs the
//! steps and records everything it sees.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr, bind, recv, socket};
use pid1check_probe::{Event, Report, SOCKET_FILE, WORKLOAD_FILE};

use super::spec::RunSpec;
use super::witness::RunWitness;
use crate::observe::{BlockedRead, NamespaceProcess, blocks_signal, scan_namespace};
use crate::plan::NOT_EXECUTABLE_WORKLOAD_FILE;
use crate::sandbox::{Inside, Pid1, exec_inside, spawn_pid1, sys};
use crate::signal::SignalNumber;
use crate::spec::{Step, Target, WorkloadExec};
use crate::stop::StopSignal;
use crate::trace::{Action, ActionKind, ExecResult, ExitStatus, RunEnd, Trace};

/// How much of PID 1's console output a trace keeps.
const CONSOLE_TAIL_BYTES: usize = 4096;
/// How long the LXC-style mask read waits for a running PID 1 to sleep (never past the grace
/// period). Wall-clock time, so it also covers the launcher's own wait for a CPU on a loaded
/// machine: at 100 ms a tini still busy after reaping a hundred orphans was read awake, with
/// every signal blocked, and got SIGRTMIN+3 instead of SIGPWR.
const IDLE_READ_MS: u64 = 1000;
/// How long PID 1 must stay asleep before a workload is started beside it (not scaled: a
/// tolerance for start-up on a loaded machine, not a modelled wait).
const SETTLE_MS: u64 = 20;
/// How often a zombie scan re-reads /proc while it waits for the init to reap.
const SCAN_INTERVAL_MS: u64 = 2;

/// `CLOCK_MONOTONIC` in nanoseconds: the clock the probes stamp their reports with.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

fn ms_to_ns(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

/// Run `spec` from start to end and return what was observed. Never fails: a run that could
/// not start is a trace whose end is [`RunEnd::SetupFailed`].
pub fn drive(spec: &RunSpec) -> Trace {
    let setup_failed = |reason: String| Trace {
        end: RunEnd::SetupFailed { reason },
        ..Trace::default()
    };
    let socket = match open_channel(spec) {
        Ok(socket) => socket,
        Err(reason) => return setup_failed(reason),
    };
    // Before PID 1 exists, so that every action is marked in the witness's trace.
    let witness = RunWitness::start(&spec.witness);
    let pid1 = match spawn_pid1(&spec.sandbox) {
        Ok(pid1) => pid1,
        Err(error) => return setup_failed(crate::error_chain(&error)),
    };
    let start = monotonic_ns();
    let mut run = Driver {
        socket,
        pid1,
        deadline: start + ms_to_ns(spec.deadline_ms),
        reports: Vec::new(),
        actions: Vec::new(),
        started: HashMap::new(),
        settled: BTreeSet::new(),
        exiting: BTreeSet::new(),
        pid1_status: None,
        end: RunEnd::Completed,
        witness,
        console_log: spec.sandbox.console_path(),
        beside: None,
    };
    if let Some(argv) = &spec.workload_beside {
        // `docker exec` comes long after the start: an init still setting up its handlers
        // would lose the stop signal only because the test was quick.
        run.wait_pid1_settled(monotonic_ns() + ms_to_ns(spec.ready_timeout_ms));
        match exec_inside(&run.pid1, &spec.sandbox, argv, &spec.sandbox.env) {
            Ok(inside) => run.beside = Some(inside),
            Err(error) => {
                run.end = RunEnd::SetupFailed {
                    reason: format!(
                        "starting the workload beside PID 1: {}",
                        crate::error_chain(&error)
                    ),
                };
            }
        }
    }
    run.execute(spec);
    run.finish(spec)
}

/// Create the channel directory with the workload and bind the report socket.
fn open_channel(spec: &RunSpec) -> Result<OwnedFd, String> {
    let channel = spec.sandbox.channel_dir();
    std::fs::create_dir_all(&channel)
        .map_err(|e| format!("creating {}: {e}", channel.display()))?;
    let workload =
        serde_json::to_vec(&spec.workload).map_err(|e| format!("encoding the workload: {e}"))?;
    let workload_path = channel.join(WORKLOAD_FILE);
    std::fs::write(&workload_path, workload)
        .map_err(|e| format!("writing {}: {e}", workload_path.display()))?;
    if spec.workload_exec == WorkloadExec::NotExecutable {
        // A script without any execute bit: execve(2) fails with EACCES, even for root.
        let path = channel.join(NOT_EXECUTABLE_WORKLOAD_FILE);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n")
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let socket_path = channel.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket_path);
    let socket = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| format!("creating the report socket: {e}"))?;
    let address = UnixAddr::new(&socket_path)
        .map_err(|e| format!("report socket path {}: {e}", socket_path.display()))?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&socket), &address)
        .map_err(|e| format!("binding {}: {e}", socket_path.display()))?;
    // A probe running as an image's non-root user must reach the socket (connecting needs
    // write permission on it); the run directory above stays the harness's alone.
    for (path, mode) in [(&channel, 0o755), (&socket_path, 0o666)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("opening {} to the workload: {e}", path.display()))?;
    }
    Ok(socket)
}

/// The launcher's `main`. With [`SERVE_FLAG`](super::serve::SERVE_FLAG), the launch server
/// that forks each run's launcher (how the harness starts it); without, one run: read a
/// [`RunSpec`] on stdin, drive it, print the [`Trace`] on stdout (to replay a spec by hand).
/// Returns the process exit code.
pub fn launcher_main() -> i32 {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == super::serve::SERVE_FLAG)
    {
        return super::serve::serve();
    }
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == crate::install::OPT_LEVEL_FLAG)
    {
        println!("{}", crate::install::OPT_LEVEL);
        return 0;
    }
    // If the process that started us dies, so do we, and PID 1 after us.
    if let Err(errno) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        eprintln!("pid1check-launch: PR_SET_PDEATHSIG: {errno}");
        return 2;
    }
    run_one()
}

/// One run's launcher, on its stdin, stdout and stderr: read a [`RunSpec`], drive it, write
/// the [`Trace`]. Returns the process exit code: 0 with a trace, 2 on bad input.
pub(super) fn run_one() -> i32 {
    let mut input = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("pid1check-launch: reading the run spec from stdin: {error}");
        return 2;
    }
    let spec: RunSpec = match serde_json::from_slice(&input) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("pid1check-launch: the run spec on stdin is not valid: {error}");
            return 2;
        }
    };
    let trace = drive(&spec);
    match serde_json::to_writer(std::io::stdout().lock(), &trace) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("pid1check-launch: writing the trace: {error}");
            2
        }
    }
}

struct Driver {
    socket: OwnedFd,
    pid1: Pid1,
    deadline: u64,
    reports: Vec<Report>,
    actions: Vec<Action>,
    /// Role → pid in the namespace, from `started` reports.
    started: HashMap<String, i32>,
    /// Roles that reported `settled`: their children forked, their mask restored.
    settled: BTreeSet<String>,
    /// Roles that reported `exiting`.
    exiting: BTreeSet<String>,
    pid1_status: Option<ExitStatus>,
    end: RunEnd,
    /// The kernel witness of this run.
    witness: RunWitness,
    /// The run's console log, which a terminal console is copied into.
    console_log: std::path::PathBuf,
    /// The process that started the workload beside PID 1 (`workload_beside`), reaped at the
    /// end.
    beside: Option<Inside>,
}

impl Driver {
    fn execute(&mut self, spec: &RunSpec) {
        if self.end != RunEnd::Completed {
            return;
        }
        let ready_by = monotonic_ns() + ms_to_ns(spec.ready_timeout_ms);
        if spec.workload_exec == WorkloadExec::Probe {
            if !self.wait_ready(spec, ready_by) {
                return;
            }
            self.record(ActionKind::Ready);
            self.observe_ready();
        } else {
            // Nothing will report: give PID 1 the time a workload gets to start, to fail its
            // exec and exit by itself; the steps (a stop) then end it if it stays.
            self.wait_until(ready_by, |run| run.pid1_status.is_some());
        }
        for step in &spec.steps {
            if self.end != RunEnd::Completed {
                return;
            }
            self.step(step, spec);
        }
        // Every plan ends with a stop step, so PID 1 is gone or SIGKILLed; wait for it.
        self.wait_until(self.deadline, |run| run.pid1_status.is_some());
    }

    /// Wait until every ready role has reported `settled` (which each process sends after its
    /// `started`, on the same datagram socket: its `started` is in by then); otherwise mark
    /// the run as never ready and return false.
    fn wait_ready(&mut self, spec: &RunSpec, ready_by: u64) -> bool {
        let ready = self.wait_until(ready_by, |run| {
            spec.ready_roles
                .iter()
                .all(|role| run.settled.contains(role))
        });
        if !ready {
            if self.end == RunEnd::Completed {
                self.end = RunEnd::NeverReady {
                    missing: spec
                        .ready_roles
                        .iter()
                        .filter(|role| !self.settled.contains(*role))
                        .cloned()
                        .collect(),
                    pid1: self.pid1_status,
                };
            }
            return false;
        }
        true
    }

    /// The profile's stop sequence: the preStop hook (bounded by the grace period), the stop
    /// signal, the rest of the grace period, then SIGKILL to PID 1.
    fn stop(&mut self, spec: &RunSpec) {
        let stop = &spec.stop;
        if self.pid1_status.is_some() {
            return;
        }
        let mut grace_end = monotonic_ns() + ms_to_ns(stop.grace_ms);
        if let Some(command) = &stop.pre_stop {
            let result = self.run_inside(spec, command, true, grace_end);
            // A hook killed by a signal the runtime did not send was killed inside the
            // container as PID 1 ends: by the namespace's teardown (SIGKILL), or by PID 1's own
            // shutdown (systemd-shutdown sends every process left SIGTERM: systemd/systemd:
            // src/shutdown/killall.c (broadcast_signal)). A stop signal now would reach a dying
            // process or none, depending on scheduling. Wait for the exit (bounded).
            if matches!(result, ExecResult::Exited { code } if (129..=128 + 64).contains(&code)) {
                self.wait_until(grace_end, |run| run.pid1_status.is_some());
            }
            if self.pid1_status.is_some() {
                return;
            }
            // The signal gets what is left of the grace period, never less than the minimum.
            grace_end = grace_end.max(monotonic_ns() + ms_to_ns(stop.min_grace_after_pre_stop_ms));
        }
        let signal = match stop.signal {
            StopSignal::None => None,
            StopSignal::Fixed { signal } => Some(signal),
            StopSignal::IfPid1Blocks { signal, otherwise } => {
                if self.pid1_idle_blocks(signal, grace_end) {
                    Some(signal)
                } else {
                    Some(otherwise)
                }
            }
        };
        if let Some(signal) = signal {
            self.send(&Target::Pid1, signal, true);
            if self.wait_until(grace_end, |run| run.pid1_status.is_some()) {
                return;
            }
        }
        if self.end == RunEnd::Completed && self.pid1_status.is_none() {
            self.record(ActionKind::Escalated);
            let _ = sys::pidfd_send_signal(&self.pid1.pidfd, SignalNumber::KILL.raw());
            self.wait_until(self.deadline, |run| run.pid1_status.is_some());
        }
    }

    /// Wait until PID 1 has been asleep at every read for [`SETTLE_MS`] (it waits for
    /// signals or children: its set-up is done), until it exits, or until `until`.
    fn wait_pid1_settled(&mut self, until: u64) {
        self.read_pid1_at_rest(SignalNumber::TERM, ms_to_ns(SETTLE_MS), until);
    }

    /// Whether PID 1 blocks `signal`, read while it is asleep (how LXC finds it at rest: an
    /// init caught between two waits would show a different mask), waiting up to
    /// [`IDLE_READ_MS`] (or `grace_end`) for a running PID 1 to sleep. A PID 1 still awake
    /// then is judged by its awake mask, as LXC's single read would, and the trace says so.
    fn pid1_idle_blocks(&mut self, signal: SignalNumber, grace_end: u64) -> bool {
        let until = (monotonic_ns() + ms_to_ns(IDLE_READ_MS)).min(grace_end);
        let Some(read) = self.read_pid1_at_rest(signal, 0, until) else {
            return false;
        };
        if read.running && self.pid1_status.is_none() {
            self.record(ActionKind::MaskReadBusy {
                signal,
                blocked: read.blocked,
            });
        }
        read.blocked
    }

    /// Re-read PID 1's status every [`SCAN_INTERVAL_MS`] until it has been asleep at every
    /// read for `settle_ns`, it is gone, or `until` passes; the last read, if any.
    fn read_pid1_at_rest(
        &mut self,
        signal: SignalNumber,
        settle_ns: u64,
        until: u64,
    ) -> Option<BlockedRead> {
        let mut asleep_since: Option<u64> = None;
        loop {
            let read = blocks_signal(self.pid1.pid, signal.raw())?;
            let now = monotonic_ns();
            if read.running {
                asleep_since = None;
            } else if now - *asleep_since.get_or_insert(now) >= settle_ns {
                return Some(read);
            }
            if now >= until || self.pid1_status.is_some() {
                return Some(read);
            }
            let next = now + ms_to_ns(SCAN_INTERVAL_MS);
            self.wait_until(next.min(until), |_| false);
        }
    }

    /// Run `command` inside the container and wait for it until `until`; a command still
    /// running then is abandoned (its joining process killed; what it started inside dies
    /// with the namespace).
    fn run_inside(
        &mut self,
        spec: &RunSpec,
        command: &[String],
        pre_stop: bool,
        until: u64,
    ) -> ExecResult {
        self.record(ActionKind::ExecStarted {
            command: command.join(" "),
            pre_stop,
        });
        let inside = match exec_inside(&self.pid1, &spec.sandbox, command, &spec.sandbox.env) {
            Ok(inside) => inside,
            Err(error) => {
                let result = ExecResult::Failed {
                    reason: crate::error_chain(&error),
                };
                self.record(ActionKind::ExecEnded {
                    result: result.clone(),
                });
                return result;
            }
        };
        let exited = self.wait_for_fd(until, inside.pidfd.as_fd());
        let result = match exited.then(|| sys::reap_pidfd(&inside.pidfd, true)) {
            Some(Ok(Some(ExitStatus::Exited { code }))) => ExecResult::Exited { code },
            Some(Ok(Some(ExitStatus::Signaled { signal, .. }))) => {
                ExecResult::Exited { code: 128 + signal }
            }
            _ => {
                let _ = sys::pidfd_send_signal(&inside.pidfd, SignalNumber::KILL.raw());
                let _ = sys::reap_pidfd(&inside.pidfd, false);
                ExecResult::TimedOut
            }
        };
        self.record(ActionKind::ExecEnded {
            result: result.clone(),
        });
        result
    }

    fn step(&mut self, step: &Step, spec: &RunSpec) {
        match step {
            Step::Stop => self.stop(spec),
            Step::Signal {
                signal,
                target,
                count,
            } => {
                // Back to back, without waiting for anything in between: a burst.
                for _ in 0..*count {
                    self.send(target, *signal, false);
                }
            }
            Step::Exec { command, within_ms } => {
                if self.pid1_status.is_none() {
                    let until = monotonic_ns() + ms_to_ns(*within_ms);
                    self.run_inside(spec, command, false, until);
                }
            }
            Step::WaitExit { role, within_ms } if role == "pid1" => {
                let until = monotonic_ns() + ms_to_ns(*within_ms);
                let exited = self.wait_until(until, |run| run.pid1_status.is_some());
                self.record(ActionKind::WaitedExit {
                    role: role.clone(),
                    exited,
                });
            }
            Step::WaitExit { role, within_ms } => {
                let until = monotonic_ns() + ms_to_ns(*within_ms);
                let reported = self.wait_until(until, |run| run.exiting.contains(role));
                // The probe reports `exiting` just before `_exit`: wait until the process is
                // really dead (a zombie, or reaped), or a zombie scan right after could run
                // before there is anything to find.
                let exited = reported && {
                    let ns_pid = self.started.get(role).copied();
                    let (dead, _) = self.poll_namespace(until, |processes| {
                        !processes
                            .iter()
                            .any(|p| Some(p.ns_pid) == ns_pid && !p.zombie())
                    });
                    dead
                };
                self.record(ActionKind::WaitedExit {
                    role: role.clone(),
                    exited,
                });
            }
            Step::ScanZombies { label, settle_ms } => {
                let until = monotonic_ns() + ms_to_ns(*settle_ms);
                let mut peak = 0;
                // Re-read /proc until the init has reaped everything or its time is up. A
                // process still in the middle of its exit is a zombie to come: an orphan whose
                // pipe the step before saw closed (exit closes files before it tells the
                // parent) would otherwise be missed by a scan that lands in between.
                let (_, last) = self.poll_namespace(until, |processes| {
                    let zombies = processes.iter().filter(|p| p.zombie()).count();
                    peak = peak.max(zombies);
                    zombies == 0 && !processes.iter().any(|p| p.exiting)
                });
                let zombies = ns_pids(&last, NamespaceProcess::zombie);
                self.record(ActionKind::ZombieScan {
                    label: label.clone(),
                    zombies,
                    peak,
                });
            }
            Step::ScanStates { label, settle_ms } => {
                let until = monotonic_ns() + ms_to_ns(*settle_ms);
                // The whole window: a stop that an init forwards lands after the signal that
                // asked for it, and nothing announces it.
                let (_, last) = self.poll_namespace(until, |_| false);
                let stopped = ns_pids(&last, NamespaceProcess::stopped);
                self.record(ActionKind::StateScan {
                    label: label.clone(),
                    stopped,
                });
            }
            Step::Freeze { within_ms } => self.freeze(*within_ms),
            Step::Pause { ms } => {
                let until = monotonic_ns() + ms_to_ns(*ms);
                self.wait_until(until, |_| false);
            }
        }
    }

    /// SIGSTOP every process of the namespace from this (ancestor) namespace, as far as a
    /// runtime without the cgroup freezer can freeze a container. PID 1 first, then by
    /// namespace pid (in a fresh namespace a parent's pid is lower than its children's), one
    /// at a time: a process is seen stopped before the next is signalled, so no parent is
    /// still running to handle its child's stop (CLD_STOPPED) and every run stops the same
    /// way. Each process is signalled once; a process forked meanwhile is found by the next
    /// read. Ends when every process is stopped (zombies aside), PID 1 is gone, or `within_ms`
    /// passed.
    fn freeze(&mut self, within_ms: u64) {
        if self.pid1_status.is_some() {
            return;
        }
        let until = monotonic_ns() + ms_to_ns(within_ms);
        let mut signalled: BTreeSet<i32> = BTreeSet::new();
        let (_, last) = self.poll_namespace(until, |processes| {
            let Some(next) = processes.iter().find(|p| !p.zombie() && !p.stopped()) else {
                return true;
            };
            if signalled.insert(next.host_pid) {
                // A process gone since the read is simply not listed by the next one (its pid
                // reused within microseconds would need an exit, a reap and a fork meanwhile).
                if let Ok(pidfd) = sys::pidfd_open(next.host_pid) {
                    let _ = sys::pidfd_send_signal(&pidfd, libc::SIGSTOP);
                }
            }
            false
        });
        let stopped = ns_pids(&last, NamespaceProcess::stopped);
        let running = ns_pids(&last, |p| !p.zombie() && !p.stopped());
        self.record(ActionKind::Froze { stopped, running });
    }

    /// Re-read the namespace's processes every [`SCAN_INTERVAL_MS`], handling events
    /// meanwhile, until `settled` holds, PID 1 is gone (and the namespace with it), or `until`
    /// passes. Returns whether it settled, and the last scan.
    fn poll_namespace(
        &mut self,
        until: u64,
        mut settled: impl FnMut(&[NamespaceProcess]) -> bool,
    ) -> (bool, Vec<NamespaceProcess>) {
        loop {
            let processes = scan_namespace(self.pid1.pid_namespace);
            self.witness.learn(&processes);
            if settled(&processes) || self.pid1_status.is_some() {
                return (true, processes);
            }
            let now = monotonic_ns();
            if now >= until.min(self.deadline) {
                return (false, processes);
            }
            self.wait_until((now + ms_to_ns(SCAN_INTERVAL_MS)).min(until), |_| false);
        }
    }

    /// Send `signal` from this (ancestor) namespace, as a runtime does.
    fn send(&mut self, target: &Target, signal: SignalNumber, stop: bool) {
        if self.pid1_status.is_some() {
            return;
        }
        let receiver = match target {
            Target::Pid1 => None,
            Target::Role(role) => {
                let Some(ns_pid) = self.started.get(role).copied() else {
                    return;
                };
                let host = scan_namespace(self.pid1.pid_namespace)
                    .into_iter()
                    .find(|p| p.ns_pid == ns_pid && !p.zombie())
                    .and_then(|p| sys::pidfd_open(p.host_pid).ok());
                match host {
                    Some(pidfd) => Some(pidfd),
                    None => return,
                }
            }
        };
        self.record(ActionKind::SignalSent {
            target: target.name().to_owned(),
            signal,
            stop,
        });
        let pidfd = receiver.as_ref().unwrap_or(&self.pid1.pidfd);
        let _ = sys::pidfd_send_signal(pidfd, signal.raw());
    }

    fn record(&mut self, what: ActionKind) {
        let mono_ns = monotonic_ns();
        self.actions.push(Action { mono_ns, what });
        // Before the action takes effect (a signal is sent after it is recorded).
        self.witness.mark(mono_ns);
    }

    /// Once the workload is ready, while every process lives: tell the witness which host
    /// pid is which namespace pid, and what PID 1 ignores.
    fn observe_ready(&mut self) {
        if self.witness.running() {
            self.witness.learn(&scan_namespace(self.pid1.pid_namespace));
            self.witness.learn_pid1_ignored(self.pid1.pid);
        }
    }

    /// Process events until `done` holds or `until` (capped by the run's deadline) passes.
    /// Returns whether `done` held. At the deadline PID 1 is killed and the run marked.
    fn wait_until(&mut self, until: u64, done: impl Fn(&Driver) -> bool) -> bool {
        let until = until.min(self.deadline);
        loop {
            self.drain_reports();
            if done(self) {
                return true;
            }
            let now = monotonic_ns();
            if now >= until {
                if now >= self.deadline && self.pid1_status.is_none() {
                    self.end = RunEnd::DeadlineExceeded;
                    let _ = sys::pidfd_send_signal(&self.pid1.pidfd, SignalNumber::KILL.raw());
                    self.reap(false);
                }
                return done(self);
            }
            if self.pid1_status.is_some() {
                // Nothing more can happen in the namespace: it died with PID 1.
                return done(self);
            }
            self.poll_once(until - now, None);
        }
    }

    /// Like [`Driver::wait_until`], until `fd` becomes readable (a pidfd: its process
    /// exited). Returns whether it did.
    fn wait_for_fd(&mut self, until: u64, fd: std::os::fd::BorrowedFd<'_>) -> bool {
        let until = until.min(self.deadline);
        loop {
            self.drain_reports();
            let now = monotonic_ns();
            if now >= until {
                return false;
            }
            if self.poll_once(until - now, Some(fd)) {
                return true;
            }
        }
    }

    /// Wait up to `timeout_ns` for a report, PID 1's exit, or `extra`; handle PID 1's exit.
    /// Returns whether `extra` became readable.
    fn poll_once(&mut self, timeout_ns: u64, extra: Option<std::os::fd::BorrowedFd<'_>>) -> bool {
        let timeout_ms = timeout_ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32;
        // A reaped PID 1's pidfd stays readable: leave it out once its status is known.
        let watch_pid1 = self.pid1_status.is_none();
        let mut fds = vec![PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        if watch_pid1 {
            fds.push(PollFd::new(self.pid1.pidfd.as_fd(), PollFlags::POLLIN));
        }
        let extra_at = fds.len();
        if let Some(extra) = extra {
            fds.push(PollFd::new(extra, PollFlags::POLLIN));
        }
        let console_at = fds.len();
        if let Some(console) = &self.pid1.console {
            fds.push(PollFd::new(console.master(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX);
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        let (pid1_exited, extra_ready, console_ready) = match poll(&mut fds, timeout) {
            Ok(_) => (
                watch_pid1 && ready(&fds[1]),
                extra.is_some() && fds.get(extra_at).is_some_and(ready),
                fds.get(console_at).is_some_and(ready),
            ),
            Err(_) => (false, false, false),
        };
        drop(fds);
        if console_ready {
            self.copy_console();
        }
        if pid1_exited {
            self.reap(true);
        }
        extra_ready
    }

    /// Reap PID 1 if it exited (or wait for it when `no_hang` is false).
    fn reap(&mut self, no_hang: bool) {
        if self.pid1_status.is_some() {
            return;
        }
        if let Ok(Some(status)) = sys::reap_pidfd(&self.pid1.pidfd, no_hang) {
            // The kernel has already killed and reaped the rest of the namespace by the time
            // PID 1's parent hears of its exit (zap_pid_ns_processes runs first).
            self.pid1_status = Some(status);
            self.drain_reports();
            self.record(ActionKind::Pid1Exited { status });
        }
    }

    fn drain_reports(&mut self) {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(length) = recv(
            std::os::fd::AsRawFd::as_raw_fd(&self.socket),
            &mut buffer,
            MsgFlags::MSG_DONTWAIT,
        ) {
            let Ok(report) = serde_json::from_slice::<Report>(&buffer[..length]) else {
                continue;
            };
            match &report.event {
                Event::Started { .. } => {
                    self.started.insert(report.role.clone(), report.pid);
                }
                Event::Settled => {
                    self.settled.insert(report.role.clone());
                }
                Event::Exiting { .. } => {
                    self.exiting.insert(report.role.clone());
                }
                _ => {}
            }
            self.reports.push(report);
        }
    }

    /// Copy what PID 1 wrote to its terminal console into the run's console log.
    fn copy_console(&self) {
        if let Some(console) = &self.pid1.console {
            console.copy_to(&self.console_log);
        }
    }

    fn finish(mut self, spec: &RunSpec) -> Trace {
        if self.pid1_status.is_none() {
            let _ = sys::pidfd_send_signal(&self.pid1.pidfd, SignalNumber::KILL.raw());
            self.reap(false);
        }
        if let Some(beside) = self.beside.take() {
            // It ends with the namespace (its command was killed with it); never left behind.
            let _ = sys::pidfd_send_signal(&beside.pidfd, SignalNumber::KILL.raw());
            let _ = sys::reap_pidfd(&beside.pidfd, false);
        }
        self.drain_reports();
        self.copy_console();
        let survivors = scan_namespace(self.pid1.pid_namespace)
            .into_iter()
            .map(|p| p.host_pid)
            .collect();
        self.record(ActionKind::SurvivorScan { survivors });
        Trace {
            pids_limit: self.pid1.finish_pids_limit(),
            reports: self.reports,
            actions: self.actions,
            end: self.end,
            console: console_tail(&spec.sandbox.console_path()),
            witness: self.witness.finish(self.pid1.pid),
        }
    }
}

/// The namespace pids of the processes of a scan for which `pick` holds.
fn ns_pids(processes: &[NamespaceProcess], pick: impl Fn(&NamespaceProcess) -> bool) -> Vec<i32> {
    processes
        .iter()
        .filter(|p| pick(p))
        .map(|p| p.ns_pid)
        .collect()
}

fn console_tail(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let tail = &bytes[bytes.len().saturating_sub(CONSOLE_TAIL_BYTES)..];
    String::from_utf8_lossy(tail).into_owned()
}
