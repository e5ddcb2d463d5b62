//! Progress of long command-line operations (`audit export`, `audit
//! verify`, `backup`) on stderr: a bar redrawn in place when stderr is a
//! terminal, plain lines such as `verified 100000/1000000 entries` when it
//! is not (a log, a pipe, systemd). Stdout is left alone, so `--json`
//! output stays clean.
//!
//! The reporter is meant for hot loops: `set` costs a comparison
//! until the next reporting point, and the clock is read only there.

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

/// Plain lines per operation with a known total (one every tenth).
const LINES_PER_RUN: u64 = 10;
/// Plain-line interval when the total is unknown.
const LINES_EVERY_UNKNOWN: u64 = 10_000;
/// Shortest time between two redraws of the bar.
const REDRAW: Duration = Duration::from_millis(100);
/// Width of the bar, in cells.
const BAR_WIDTH: u64 = 30;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A bar redrawn in place with `\r` (a terminal).
    Bar,
    /// One line now and then (anything else).
    Lines,
}

/// One long operation's progress: `verb done/total unit`.
pub struct Progress {
    verb: String,
    unit: String,
    total: Option<u64>,
    done: u64,
    /// The next count at which to look at the clock (bar) or print (lines).
    next: u64,
    /// Items between two reporting points.
    step: u64,
    style: Style,
    started: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
    finished: bool,
    out: Box<dyn Write + Send>,
}

impl Progress {
    /// A reporter on stderr, a bar if stderr is a terminal. `verb` is the
    /// past tense shown before the count (`verified`), `unit` what is
    /// counted (`entries`); `total` when known.
    pub fn stderr(verb: &str, unit: &str, total: Option<u64>) -> Progress {
        let style = if std::io::stderr().is_terminal() {
            Style::Bar
        } else {
            Style::Lines
        };
        Progress::to(Box::new(std::io::stderr()), style, verb, unit, total)
    }

    /// A reporter writing to `out` in `style`.
    pub fn to(
        out: Box<dyn Write + Send>,
        style: Style,
        verb: &str,
        unit: &str,
        total: Option<u64>,
    ) -> Progress {
        let step = match (style, total) {
            (Style::Lines, Some(t)) => t.div_ceil(LINES_PER_RUN).max(1),
            (Style::Lines, None) => LINES_EVERY_UNKNOWN,
            // The bar looks at the clock about a thousand times per run.
            (Style::Bar, Some(t)) => (t / 1000).max(1),
            (Style::Bar, None) => 256,
        };
        Progress {
            verb: verb.into(),
            unit: unit.into(),
            total,
            done: 0,
            next: step,
            step,
            style,
            started: Instant::now(),
            last_draw: None,
            drawn: false,
            finished: false,
            out,
        }
    }

    /// Sets the count to `done`.
    #[inline]
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if done >= self.next {
            self.reached();
        }
    }

    fn reached(&mut self) {
        // The next point after `done`, on the step grid.
        self.next = (self.done / self.step + 1).saturating_mul(self.step);
        match self.style {
            Style::Lines => {
                if self.total.is_none_or(|t| self.done < t) {
                    let line = self.line();
                    let _ = writeln!(self.out, "{line}");
                }
            }
            Style::Bar => {
                let now = Instant::now();
                if self
                    .last_draw
                    .is_none_or(|t| now.duration_since(t) >= REDRAW)
                {
                    self.last_draw = Some(now);
                    self.draw();
                }
            }
        }
    }

    /// `verified 100000/1000000 entries`, or `backed up 20000 items`.
    fn line(&self) -> String {
        match self.total {
            Some(t) => format!("{} {}/{t} {}", self.verb, self.done, self.unit),
            None => format!("{} {} {}", self.verb, self.done, self.unit),
        }
    }

    fn draw(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let text = match self.total {
            Some(t) if t > 0 => {
                let filled = (self.done.min(t) * BAR_WIDTH / t) as usize;
                let bar = format!(
                    "{}{}",
                    "#".repeat(filled),
                    "-".repeat(BAR_WIDTH as usize - filled)
                );
                let pct = self.done.min(t) * 100 / t;
                format!("[{bar}] {pct:>3}% {} ({elapsed:.1} s)", self.line())
            }
            _ => format!("{} ({elapsed:.1} s)", self.line()),
        };
        // `\r` back to the start, the text, and clear what a longer earlier
        // text left behind.
        let _ = write!(self.out, "\r{text}\x1b[K");
        let _ = self.out.flush();
        self.drawn = true;
    }

    /// A stage of the work that has no count (`checking 12 checkpoints`),
    /// on a line of its own.
    pub fn phase(&mut self, text: &str) {
        if self.style == Style::Bar && self.drawn {
            let _ = writeln!(self.out);
            self.drawn = false;
        }
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// Shows the final count (once) and ends the bar's line.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        match self.style {
            Style::Lines => {
                let line = self.line();
                let _ = writeln!(self.out, "{line}");
            }
            Style::Bar => {
                self.draw();
                let _ = writeln!(self.out);
                self.drawn = false;
            }
        }
        let _ = self.out.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // A bar left mid-line would glue the next message to it.
        if self.style == Style::Bar && self.drawn {
            let _ = writeln!(self.out);
        }
    }
}

/// A line about a stage of the work with no count, on stderr (for work a
/// running node does on the command's behalf).
pub fn phase(text: &str) {
    eprintln!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.0.lock() {
                Ok(mut v) => v.extend_from_slice(buf),
                Err(p) => p.into_inner().extend_from_slice(buf),
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            let v = match self.0.lock() {
                Ok(v) => v.clone(),
                Err(p) => p.into_inner().clone(),
            };
            String::from_utf8_lossy(&v).into_owned()
        }
    }

    #[test]
    fn lines_every_tenth_and_once_at_the_end() {
        let out = Shared::default();
        let mut p = Progress::to(
            Box::new(out.clone()),
            Style::Lines,
            "verified",
            "entries",
            Some(1_000_000),
        );
        for n in 1..=1_000_000 {
            p.set(n);
        }
        p.finish();
        p.finish();
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10, "{text}");
        assert_eq!(lines[0], "verified 100000/1000000 entries");
        assert_eq!(lines[8], "verified 900000/1000000 entries");
        assert_eq!(lines[9], "verified 1000000/1000000 entries");
    }

    #[test]
    fn lines_for_small_and_unknown_totals() {
        let out = Shared::default();
        let mut p = Progress::to(
            Box::new(out.clone()),
            Style::Lines,
            "read",
            "entries",
            Some(3),
        );
        p.set(1);
        p.set(2);
        p.set(3);
        p.finish();
        assert_eq!(
            out.text(),
            "read 1/3 entries\nread 2/3 entries\nread 3/3 entries\n"
        );

        let out = Shared::default();
        let mut p = Progress::to(
            Box::new(out.clone()),
            Style::Lines,
            "backed up",
            "items",
            None,
        );
        p.set(25_000);
        p.phase("syncing");
        p.finish();
        assert_eq!(
            out.text(),
            "backed up 25000 items\nsyncing\nbacked up 25000 items\n"
        );
    }

    #[test]
    fn a_jump_past_several_points_prints_once() {
        let out = Shared::default();
        let mut p = Progress::to(Box::new(out.clone()), Style::Lines, "x", "y", Some(100));
        p.set(55);
        p.set(56);
        p.set(60);
        assert_eq!(out.text(), "x 55/100 y\nx 60/100 y\n");
    }

    #[test]
    fn the_bar_redraws_in_place_and_ends_its_line() {
        let out = Shared::default();
        let mut p = Progress::to(
            Box::new(out.clone()),
            Style::Bar,
            "exported",
            "entries",
            Some(10),
        );
        p.set(5);
        p.phase("writing checkpoints");
        p.set(10);
        p.finish();
        drop(p);
        let text = out.text();
        assert!(text.starts_with("\r["), "{text:?}");
        assert!(text.contains(" 50% exported 5/10 entries"), "{text:?}");
        assert!(text.contains("\nwriting checkpoints\n"), "{text:?}");
        assert!(text.contains("100% exported 10/10 entries"), "{text:?}");
        assert!(text.ends_with("\x1b[K\n"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 3, "{text:?}");
    }
}
