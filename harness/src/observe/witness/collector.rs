//! One tracefs instance for many runs. The harness creates a [`WitnessCollector`] before it
//! starts its worker threads; a reader thread consumes the instance's `trace_pipe` as events
//! come, so the buffer never fills. Each run is a window: the harness writes
//! `pid1check-begin N` before it starts the launcher and `pid1check-end N` once the launcher
//! has exited (every event of the run is then in the buffer, and the kernel merges its
//! per-CPU buffers in time order); the run's events are those between its two marks that
//! [`super::select_run`] keeps, following forks from its PID 1.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::io::Read as _;
use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::parse::{BEGIN_PREFIX, END_PREFIX, parse_line};
use super::tracefs::{TraceInstance, WitnessError, remove_stale_instances};
use super::{WitnessClues, WitnessEvent, WitnessKind, WitnessLog, select_run};

/// How long a run's end mark may take to come through the reader.
const END_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the reader checks whether it should stop, when nothing comes.
const READER_TICK_MS: u8 = 100;

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
/// Every live collector's shared half, for [`close_collectors`]. Held while a collector is
/// created, so that an interrupt never misses an instance in the making.
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// The witness's instance and its reader, shared by the runs of one harness.
#[derive(Debug)]
pub struct WitnessCollector {
    shared: Arc<Shared>,
    reader: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    instance: Mutex<Option<TraceInstance>>,
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    /// Events read and not yet pruned; `base` is the index of the first since the start.
    events: VecDeque<WitnessEvent>,
    base: u64,
    /// Index of each window's begin and end mark, once read.
    begins: BTreeMap<u64, u64>,
    ends: BTreeMap<u64, u64>,
    /// Windows begun and not yet completed, with the overrun count at their beginning.
    open: BTreeMap<u64, u64>,
    /// Lines not understood: the record can no longer be trusted.
    unparsed: Option<String>,
    /// Why the reader stopped, if it failed.
    failed: Option<String>,
    reader_done: bool,
    /// Keys of the processes [`WitnessCollector::follow`] added.
    followed: BTreeSet<u64>,
}

impl State {
    /// Keep one event read from the trace; with no window open, nothing read now can belong to
    /// a run (a window's events all come after its begin mark, written once it is open).
    fn record(&mut self, event: WitnessEvent) {
        if self.open.is_empty() && self.events.is_empty() {
            self.base += 1;
            return;
        }
        let index = self.base + self.events.len() as u64;
        if let WitnessKind::Window { token, end } = event.kind {
            if end {
                self.ends.insert(token, index);
            } else {
                self.begins.insert(token, index);
            }
        }
        self.events.push_back(event);
    }

    /// The events between a window's begin and end marks, once both are read.
    fn window(&self, token: u64) -> Option<Vec<WitnessEvent>> {
        let begin = *self.begins.get(&token)?;
        let end = *self.ends.get(&token)?;
        let from = usize::try_from(begin.checked_sub(self.base)?).ok()?;
        let to = usize::try_from(end.checked_sub(self.base)?).ok()?;
        Some(
            self.events
                .iter()
                .skip(from + 1)
                .take(to.saturating_sub(from + 1))
                .cloned()
                .collect(),
        )
    }

    /// Forget a window, and the events no open window needs any more.
    fn close(&mut self, token: u64) {
        self.open.remove(&token);
        self.begins.remove(&token);
        self.ends.remove(&token);
        // A window whose begin mark is not read yet needs nothing read so far.
        let read = self.base + self.events.len() as u64;
        let keep_from = self
            .open
            .keys()
            .map(|token| self.begins.get(token).copied().unwrap_or(read))
            .min()
            .unwrap_or(read);
        while self.base < keep_from && self.events.pop_front().is_some() {
            self.base += 1;
        }
    }
}

/// One run's window in the collector's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunWindow {
    token: u64,
}

impl WitnessCollector {
    /// Create the instance (recording the calling thread and what it forks from now on) and
    /// start reading it.
    pub fn start() -> Result<WitnessCollector, WitnessError> {
        WitnessCollector::start_for(nix::unistd::gettid().as_raw())
    }

    /// As [`WitnessCollector::start`], recording the thread `tid` of this process: another
    /// thread can set the witness up (it takes tens of milliseconds) while `tid` does other
    /// work, as long as `tid` starts the runs' threads only once this has returned.
    ///
    /// Instances left by harness processes that were killed before their drop ran (a test
    /// binary ended by a signal or a timeout) are removed first: until then every later
    /// harness on the machine would find them.
    pub fn start_for(tid: i32) -> Result<WitnessCollector, WitnessError> {
        let mut live = lock(&LIVE);
        remove_stale_instances();
        let instance = TraceInstance::create(tid)?;
        let pipe = instance.open_pipe()?;
        let shared = Arc::new(Shared {
            instance: Mutex::new(Some(instance)),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&shared));
        drop(live);
        let reader = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || read_pipe(pipe, &shared))
        };
        Ok(WitnessCollector {
            shared,
            reader: Some(reader),
        })
    }

    /// The `trace_marker` launchers write their action marks to.
    pub fn marker_path(&self) -> Option<PathBuf> {
        lock(&self.shared.instance)
            .as_ref()
            .map(TraceInstance::marker_path)
    }

    /// Record the process `pid` too, and what it forks from now on, once per `key` (a process
    /// that outlives many runs, known by a key that its pid, which may be reused, is not): the
    /// launch server that forks the launchers, which a thread this instance does not record
    /// may have started (before the instance existed, or for another collector).
    pub fn follow(&self, key: u64, pid: i32) -> Result<(), String> {
        if lock(&self.shared.state).followed.contains(&key) {
            return Ok(());
        }
        let instance = lock(&self.shared.instance);
        let instance = instance
            .as_ref()
            .ok_or_else(|| "the witness was closed".to_owned())?;
        instance
            .follow(pid)
            .map_err(|error| crate::error_chain(&error))?;
        lock(&self.shared.state).followed.insert(key);
        Ok(())
    }

    /// Open a run's window: call before starting its launcher.
    pub fn begin(&self) -> Result<RunWindow, String> {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let overruns = self.overruns()?;
        lock(&self.shared.state).open.insert(token, overruns);
        self.mark(&format!("{BEGIN_PREFIX}{token}"))?;
        Ok(RunWindow { token })
    }

    /// Close a run's window once its launcher has exited, and complete the launcher's half of
    /// the record (`log`) with the run's events.
    pub fn complete(&self, window: RunWindow, log: WitnessLog) -> WitnessLog {
        let result = match log {
            WitnessLog::Collecting(clues) => self.events_of(window, &clues),
            other => Ok(other),
        };
        self.close(window);
        result.unwrap_or_else(|reason| WitnessLog::NotRun { reason })
    }

    fn events_of(&self, window: RunWindow, clues: &WitnessClues) -> Result<WitnessLog, String> {
        self.mark(&format!("{END_PREFIX}{}", window.token))?;
        let overruns = self.overruns()?;
        let deadline = Instant::now() + END_TIMEOUT;
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(reason) = state.failed.clone().or_else(|| state.unparsed.clone()) {
                return Err(reason);
            }
            if state.ends.contains_key(&window.token) {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("the run's end mark did not come through tracefs in time".to_owned());
            }
            state = match self.shared.changed.wait_timeout(state, deadline - now) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        if state.open.get(&window.token) != Some(&overruns) {
            return Err(WitnessError::Overrun {
                lost: overruns.saturating_sub(state.open.get(&window.token).copied().unwrap_or(0)),
            }
            .to_string());
        }
        let events = state
            .window(window.token)
            .ok_or_else(|| "the run's begin mark is missing from the trace".to_owned())?;
        drop(state);
        Ok(WitnessLog::Ran(select_run(events, clues)))
    }

    /// Forget a window, and the events no open window needs any more.
    fn close(&self, window: RunWindow) {
        lock(&self.shared.state).close(window.token);
    }

    fn mark(&self, text: &str) -> Result<(), String> {
        match lock(&self.shared.instance).as_mut() {
            Some(instance) => instance.mark(text).map_err(|e| crate::error_chain(&e)),
            None => Err("the witness was closed".to_owned()),
        }
    }

    fn overruns(&self) -> Result<u64, String> {
        match lock(&self.shared.instance).as_ref() {
            Some(instance) => instance.overruns().map_err(|e| crate::error_chain(&e)),
            None => Err("the witness was closed".to_owned()),
        }
    }
}

impl Drop for WitnessCollector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // A line in the trace wakes the reader now rather than at its next tick.
        let _ = self.mark(&format!("{END_PREFIX}0"));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // The reader's pipe is closed: the instance can be removed.
        lock(&self.shared.instance).take();
    }
}

/// Stop every live collector's reader and remove its instance (on an interrupt, from another
/// thread, once the launchers are gone: an instance with open files cannot be removed). No
/// collector can start afterwards: the process is about to exit.
pub fn close_collectors() {
    let registry = lock(&LIVE);
    let live: Vec<Arc<Shared>> = registry.iter().filter_map(Weak::upgrade).collect();
    std::mem::forget(registry);
    for shared in live {
        shared.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + END_TIMEOUT;
        let mut state = lock(&shared.state);
        while !state.reader_done && Instant::now() < deadline {
            state = match shared
                .changed
                .wait_timeout(state, Duration::from_millis(READER_TICK_MS.into()))
            {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(state);
        lock(&shared.instance).take();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reader thread: consume `trace_pipe` into the shared record until told to stop. The pipe
/// is closed before the reader says it is done: the instance can then be removed.
fn read_pipe(pipe: File, shared: &Shared) {
    let failed = consume(pipe, shared);
    let mut state = lock(&shared.state);
    if failed.is_some() {
        state.failed = failed;
    }
    state.reader_done = true;
    shared.changed.notify_all();
}

/// Read `pipe` until told to stop, or until it fails (the reason).
fn consume(mut pipe: File, shared: &Shared) -> Option<String> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut partial = String::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let mut fds = [nix::poll::PollFd::new(
            pipe.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(READER_TICK_MS));
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    partial.push_str(&String::from_utf8_lossy(&buffer[..n]));
                    take_lines(&mut partial, shared);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(format!("reading the witness's trace_pipe: {e}")),
            }
        }
    }
    None
}

/// Parse the complete lines of `partial` into the record, leaving an unfinished last line.
fn take_lines(partial: &mut String, shared: &Shared) {
    let Some(last_newline) = partial.rfind('\n') else {
        return;
    };
    let rest = partial.split_off(last_newline + 1);
    let mut state = lock(&shared.state);
    for line in partial.lines().filter(|l| !l.trim().is_empty()) {
        match parse_line(line) {
            Some(event) => state.record(event),
            None => {
                state
                    .unparsed
                    .get_or_insert_with(|| format!("a trace line was not understood: {line}"));
            }
        }
    }
    *partial = rest;
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: WitnessKind) -> WitnessEvent {
        WitnessEvent {
            mono_ns: 0,
            task_pid: 1,
            task_comm: "x".to_owned(),
            kind,
        }
    }

    fn exit(pid: i32) -> WitnessEvent {
        event(WitnessKind::Exit {
            pid,
            group_dead: true,
        })
    }

    fn window(token: u64, end: bool) -> WitnessEvent {
        event(WitnessKind::Window { token, end })
    }

    fn pids(events: Option<Vec<WitnessEvent>>) -> Option<Vec<i32>> {
        events.map(|events| {
            events
                .iter()
                .filter_map(|e| match e.kind {
                    WitnessKind::Exit { pid, .. } => Some(pid),
                    _ => None,
                })
                .collect()
        })
    }

    #[test]
    fn overlapping_windows_each_get_their_span_and_nothing_is_kept_for_nobody() {
        let mut state = State::default();
        state.record(exit(100)); // before any window: dropped
        state.open.insert(1, 0);
        state.record(window(1, false));
        state.record(exit(101));
        state.open.insert(2, 0);
        state.record(window(2, false));
        state.record(exit(102));
        state.record(window(1, true));
        assert_eq!(pids(state.window(2)), None, "window 2 has not ended");
        state.record(exit(103));
        state.record(window(2, true));
        assert_eq!(pids(state.window(1)), Some(vec![101, 102]));
        state.close(1);
        // Window 2's events survive window 1's close.
        assert_eq!(pids(state.window(2)), Some(vec![102, 103]));
        state.close(2);
        assert!(state.events.is_empty());
        state.record(exit(104));
        assert!(state.events.is_empty());
    }
}
