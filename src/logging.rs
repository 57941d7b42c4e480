//! Logging set-up for the binary: `tracing` events, human-readable or one JSON object per
//! line, appended whole to an in-memory batch that a background thread writes to stderr every
//! 50 ms or when 64 KiB have gathered (like nginx's buffered `access_log`): a request never waits
//! for a terminal or a disk, and no thread is woken per line. The access log (target `access`,
//! one event per request) has its own layer that formats the line directly, without the general
//! formatter's per-field machinery.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

mod line;
pub(crate) use line::IpText;

/// The target of the per-request access events.
pub(crate) const ACCESS: &str = "access";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// Installs the global subscriber. Keep the guard until exit: dropping it writes what is left.
pub fn init(format: Format) -> FlushGuard {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = Batch::start(Box::new(std::io::stderr()));
    // rustls warns once per connection about clients that send an IP address as SNI: noise.
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rustls=error"))
    };
    let not_access = filter_fn(|m| m.target() != ACCESS);
    let general = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_ansi(ansi);
    let general = match format {
        Format::Human => general.boxed(),
        Format::Json => general.json().flatten_event(true).boxed(),
    };
    let access = AccessLayer { writer, format }.with_filter(filter_fn(|m| m.target() == ACCESS));
    tracing_subscriber::registry()
        .with(general.with_filter(not_access).with_filter(filter()))
        .with(access.with_filter(filter()))
        .init();
    guard
}

/// Formats access events as one line each and hands them to the background writer.
struct AccessLayer {
    writer: Batch,
    format: Format,
}

impl<S: Subscriber> Layer<S> for AccessLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = String::with_capacity(256);
        match self.format {
            Format::Human => {
                line::timestamp(&mut line);
                line.push_str("  INFO access:");
                event.record(&mut line::Fields(line::Human(&mut line)));
            }
            Format::Json => {
                line.push_str(r#"{"timestamp":""#);
                line::timestamp(&mut line);
                line.push_str(r#"","level":"INFO","target":"access""#);
                event.record(&mut line::Fields(line::Json(&mut line)));
                line.push('}');
            }
        }
        line.push('\n');
        self.writer.append(line.as_bytes());
    }
}

/// Past this many bytes waiting (the output cannot keep up), new lines are dropped and counted.
const MAX_PENDING: usize = 8 << 20;
/// A batch is written at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A batch this large is written at once.
const FLUSH_AT: usize = 64 << 10;

struct Shared {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    closed: AtomicBool,
    dropped: AtomicU64,
}

/// The shared line buffer: a `MakeWriter` for the formatter, appended to whole lines at a time.
#[derive(Clone)]
struct Batch(Arc<Shared>);

/// Writes what is left and stops the writer thread when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Batch {
    /// The batch and its writer thread, writing to `out`.
    fn start(mut out: Box<dyn std::io::Write + Send>) -> (Batch, FlushGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(FLUSH_AT)),
            wake: Condvar::new(),
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut spare = Vec::with_capacity(FLUSH_AT);
                loop {
                    let closed = {
                        let guard = s.pending.lock().unwrap_or_else(|p| p.into_inner());
                        let (mut guard, _) = s
                            .wake
                            .wait_timeout(guard, FLUSH_EVERY)
                            .unwrap_or_else(|p| p.into_inner());
                        std::mem::swap(&mut *guard, &mut spare);
                        s.closed.load(Ordering::Acquire)
                    };
                    let dropped = s.dropped.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        let _ = writeln!(
                            spare,
                            "log: {dropped} lines dropped: the output could not keep up"
                        );
                    }
                    if !spare.is_empty() {
                        let _ = out.write_all(&spare).and_then(|()| out.flush());
                        spare.clear();
                    }
                    if closed {
                        return;
                    }
                }
            })
            .expect("spawning the log writer thread");
        (
            Batch(shared.clone()),
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        )
    }

    /// Appends whole lines.
    fn append(&self, bytes: &[u8]) {
        let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() + bytes.len() > MAX_PENDING {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.extend_from_slice(bytes);
        if pending.len() >= FLUSH_AT {
            self.0.wake.notify_one();
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::io::Write for Batch {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batch {
    type Writer = Batch;
    fn make_writer(&'a self) -> Batch {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_the_guard_flushes() {
        let sink = Sink::default();
        let (batch, guard) = Batch::start(Box::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let b = batch.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        b.append(format!("thread {t} line {i:04}\n").as_bytes());
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            assert_eq!(mine.len(), 1000);
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "lines of one thread stay in order"
            );
        }
    }

    /// One access event through the access layer in `format`: the line it wrote.
    fn access_line(format: Format) -> String {
        let sink = Sink::default();
        let (writer, guard) = Batch::start(Box::new(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(AccessLayer { writer, format });
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: ACCESS,
                request_id = "ab12",
                path = "/a \"b\"",
                status = 200u16,
                bytes = 8192u64,
                upstream_status = -1i64,
                duration_ms = 1.5f64,
                complete = true,
                peer = ?std::net::Ipv4Addr::LOCALHOST,
            );
        });
        drop(guard);
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn access_lines_in_both_formats() {
        let human = access_line(Format::Human);
        let (ts, rest) = human.split_once("  INFO access:").expect(&human);
        assert_eq!(ts.len(), 27, "{human}");
        assert_eq!(
            rest,
            " request_id=ab12 path=/a \"b\" status=200 bytes=8192 upstream_status=-1 \
             duration_ms=1.500 complete=true peer=127.0.0.1\n"
        );
        let json: serde_json::Value = serde_json::from_str(&access_line(Format::Json)).unwrap();
        assert_eq!(json["level"], "INFO");
        assert_eq!(json["target"], "access");
        assert_eq!(json["timestamp"].as_str().map(str::len), Some(27));
        assert_eq!(json["path"], "/a \"b\"");
        assert_eq!(json["status"], 200);
        assert_eq!(json["upstream_status"], -1);
        assert_eq!(json["duration_ms"], 1.5);
        assert_eq!(json["complete"], true);
        assert_eq!(json["peer"], "127.0.0.1");
    }
}
