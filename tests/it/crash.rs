//! Crash recovery: stepflare is killed with SIGKILL in the middle of a 40-step workflow whose
//! steps have a side effect (an HTTP call to a recorder in the test process), then restarted on
//! the same persistence dir. Committed steps must not run again; only the step in flight at the
//! kill may repeat its side effect. `fixtures/crash-points` is killed at chosen points (between
//! steps, inside a step's callback, in a sleep), each once the run is seen there.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const STEPS: usize = 40;

/// A tiny HTTP server that appends the body of every `POST /hit` to a file, one line each.
/// `GET /count?text=…` answers how many lines contain the (percent-encoded) text, and
/// `GET /gate` answers `open` once [`Recorder::open_gate`] was called, else `closed`, and
/// `GET /gate?name=…` the same of [`Recorder::open_named_gate`].
pub(crate) struct Recorder {
    pub(crate) url: String,
    file: PathBuf,
}

impl Recorder {
    pub(crate) fn start(dir: &Path) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recorder");
        let addr = listener.local_addr().unwrap();
        let file = dir.join("hits.log");
        std::fs::write(&file, "").unwrap();
        let target = file.clone();
        let lock = Arc::new(Mutex::new(()));
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (target, lock) = (target.clone(), lock.clone());
                thread::spawn(move || {
                    let _ = serve(conn, &target, &lock);
                });
            }
        });
        Recorder { url: format!("http://{addr}/hit"), file }
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.file).unwrap().lines().map(str::to_string).collect()
    }

    pub(crate) fn open_gate(&self) {
        std::fs::write(self.file.with_extension("open"), "").unwrap();
    }

    pub(crate) fn open_named_gate(&self, name: &str) {
        std::fs::write(gate_file(&self.file, name), "").unwrap();
    }

    /// How many recorded lines name `step` (`{"step": step}`).
    pub(crate) fn count(&self, step: &str) -> usize {
        self.lines().iter().filter(|line| step_name(line) == step).count()
    }
}

/// The file whose existence opens gate `name`: beside the hits file, named by the gate (letters,
/// digits and `-` only, so a request cannot name another path).
fn gate_file(hits: &Path, name: &str) -> PathBuf {
    let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    hits.with_file_name(format!("gate-{safe}.open"))
}

/// Serves HTTP/1.1 requests on one connection (keep-alive or not) until it closes.
fn serve(conn: TcpStream, file: &Path, lock: &Mutex<()>) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    content_length = value.parse().unwrap_or(0);
                } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let mut body = vec![0; content_length];
            reader.read_exact(&mut body)?;
            body
        };
        let (status, reply) = if request_line.starts_with("POST /hit ") {
            let line = String::from_utf8_lossy(&body).replace(['\r', '\n'], " ");
            let _guard = lock.lock().unwrap();
            let mut f = OpenOptions::new().append(true).open(file)?;
            writeln!(f, "{}", line.trim())?;
            ("200 OK", "ok".to_owned())
        } else if let Some(query) = request_line.strip_prefix("GET /count?text=") {
            let text = percent_decode(query.split(' ').next().unwrap_or(""));
            let _guard = lock.lock().unwrap();
            let count = std::fs::read_to_string(file)?.lines().filter(|line| line.contains(&text)).count();
            ("200 OK", count.to_string())
        } else if let Some(query) = request_line.strip_prefix("GET /gate?name=") {
            let name = percent_decode(query.split(' ').next().unwrap_or(""));
            ("200 OK", if gate_file(file, &name).exists() { "open" } else { "closed" }.to_owned())
        } else if request_line.starts_with("GET /gate ") {
            let open = file.with_extension("open").exists();
            ("200 OK", if open { "open" } else { "closed" }.to_owned())
        } else {
            ("404 Not Found", "not found".to_owned())
        };
        write!(out, "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{reply}", reply.len())?;
        out.flush()?;
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], text.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let hex = size_line.trim().split(';').next().unwrap_or("0");
        let size = usize::from_str_radix(hex, 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2]; // data + CRLF
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body); // (assumes no trailers)
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// The step name recorded by one line, e.g. `{"step":"s7"}` → `s7`.
fn step_name(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("bad hit body {line:?}"));
    v["step"].as_str().unwrap_or_else(|| panic!("no step in {line:?}")).to_string()
}

#[tokio::test]
async fn sigkill_mid_run_resumes_without_repeating_committed_steps() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let persist = tempfile::tempdir().unwrap();

    let mut server = Server::start_with("basic", persist.path(), &[]);
    let params = json!({ "url": recorder.url, "n": STEPS, "pauseMs": 25 });
    let id = server.create("crash-loop", params).await;

    let deadline = Instant::now() + PATIENCE;
    while recorder.lines().len() < 10 {
        assert!(
            Instant::now() < deadline,
            "the workflow made {} calls in {PATIENCE:?}\n--- server logs ---\n{}",
            recorder.lines().len(),
            server.logs()
        );
        tokio::time::sleep(POLL).await;
    }
    server.kill9();
    let at_kill = recorder.lines().len();
    assert!(at_kill < STEPS, "the run finished before the kill ({at_kill} calls)");

    let server = Server::start_with("basic", persist.path(), &[]);
    let d = server.wait_for_status("crash-loop", &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "count": STEPS, "sum": 780 }), "{d:#}");

    // Side effects: every step called out at least once, and only the step in flight at the
    // kill may have called out twice.
    let lines = recorder.lines();
    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for line in &lines {
        *calls.entry(step_name(line)).or_default() += 1;
    }
    for i in 0..STEPS {
        assert!(calls.contains_key(&format!("s{i}")), "step s{i} never ran: {lines:?}");
    }
    assert_eq!(calls.len(), STEPS, "unexpected step names: {calls:?}");
    let repeated: Vec<_> = calls.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(
        repeated.len() <= 1 && repeated.iter().all(|&(_, &n)| n == 2),
        "committed steps ran again after the restart: {repeated:?} (calls at kill: {at_kill})"
    );
    assert!(lines.len() <= STEPS + 1, "{lines:?}");

    // Every step is recorded once, with its own output.
    for i in 0..STEPS {
        let name = format!("s{i}-1");
        let entries: Vec<_> = steps(&d).iter().filter(|s| s["name"] == name).collect();
        assert_eq!(entries.len(), 1, "{name} appears {} times: {d:#}", entries.len());
        assert_eq!(entries[0]["success"], json!(true), "{:#}", entries[0]);
        assert_eq!(entries[0]["output"], json!(i), "{:#}", entries[0]);
    }
}

/// The journal of a finished instance, as its REST event stream gives it.
async fn journal(server: &Server, wf: &str, id: &str) -> Vec<Value> {
    let url = format!("{}/subscribe", server.instance_url(wf, id));
    let (status, body) = server.request(reqwest::Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body}");
    event_stream_data(body.as_str().unwrap_or_else(|| panic!("not an event stream: {body}")))
}

/// `--clock-start` for a time `ahead_ms` after now.
fn clock_ahead(ahead_ms: i64) -> String {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms() + ahead_ms).expect("a time");
    format!("{at:?}")
}

/// The entry of `name` in a description, as JSON, for comparing a step before and after.
fn step_entry(d: &Value, name: &str) -> Value {
    step(d, name).clone()
}

/// How many journal entries of `kind` name `step_name`.
fn journal_count(journal: &[Value], kind: &str, step_name: &str) -> usize {
    journal.iter().filter(|e| e["type"] == kind && e["stepName"] == step_name).count()
}

/// Kills stepflare at three points of one run (after step `a` committed and before `b` began,
/// inside `b`'s callback, and in an hour-long sleep), each only once the run is seen there, and
/// restarts it on the same state. Each time only the step in flight runs again (its interrupted
/// attempt is not recorded, so the rerun is attempt 1), committed steps never do, and the sleep
/// ends by the clock of the last start, moved past it.
#[tokio::test]
async fn sigkill_at_each_kind_of_point_reruns_only_the_step_in_flight() {
    let scratch = tempfile::tempdir().unwrap();
    let recorder = Recorder::start(scratch.path());
    let persist = tempfile::tempdir().unwrap();
    let fixture = fixture_dir("crash-points");
    let wf = "points";

    let mut server = Server::start_project(&fixture, persist.path(), &[]);
    let id = server.create(wf, json!({ "url": recorder.url })).await;
    // 1. Between a and b: a is committed, the run waits at a gate before b.
    let at_first = server.wait_for(wf, &id, "the run between a and b", |_| recorder.count("between") == 1).await;
    assert_eq!(status(&at_first), "running", "{at_first:#}");
    let a = step_entry(&at_first, "a-1");
    assert_eq!((&a["success"], attempts(&a).len()), (&json!(true), 1), "{at_first:#}");
    assert!(find_step(&at_first, "b-1").is_none(), "b began before the gate: {at_first:#}");
    server.kill9();

    recorder.open_named_gate("between");
    let mut server = Server::start_project(&fixture, persist.path(), &[]);
    // 2. Inside b's callback, which waits at its gate.
    let at_second =
        server.wait_for(wf, &id, "b's callback", |d| recorder.count("b") == 1 && find_step(d, "b-1").is_some()).await;
    let in_flight = step_entry(&at_second, "b-1");
    let last = attempts(&in_flight).last().unwrap_or_else(|| panic!("b-1 has no attempt: {at_second:#}"));
    assert_eq!(
        (&last["end"], &last["success"]),
        (&Value::Null, &Value::Null),
        "b's attempt is in flight: {at_second:#}"
    );
    assert_eq!(step_entry(&at_second, "a-1"), a, "a changed after the restart: {at_second:#}");
    assert_eq!(recorder.count("a"), 1, "a ran again: {:?}", recorder.lines());
    assert_eq!(recorder.count("between"), 2, "the code between the steps runs again at the replay");
    server.kill9();

    recorder.open_named_gate("in-b");
    let mut server = Server::start_project(&fixture, persist.path(), &[]);
    // 3. In the hour-long sleep: it cannot end before the kill.
    let at_third =
        server.wait_for(wf, &id, "the nap", |d| status(d) == "waiting" && find_step(d, "nap-1").is_some()).await;
    assert_eq!(recorder.count("b"), 2, "b, in flight at the kill, ran again (once): {:?}", recorder.lines());
    assert_eq!(recorder.count("a"), 1, "a ran again: {:?}", recorder.lines());
    assert_eq!(step_entry(&at_third, "a-1"), a, "{at_third:#}");
    let b = step_entry(&at_third, "b-1");
    assert_eq!((&b["success"], &b["output"]), (&json!(true), &json!("B")), "{at_third:#}");
    assert_eq!(attempts(&b).len(), 1, "the interrupted attempt is not counted: {at_third:#}");
    let nap = step_entry(&at_third, "nap-1");
    assert_eq!(nap["finished"], json!(false), "{at_third:#}");
    assert_eq!(iso_ms(&nap["end"]) - iso_ms(&nap["start"]), 3_600_000, "{at_third:#}");
    server.kill9();

    // Back on a clock a minute past the nap's end: the timer is due at the start.
    let clock = clock_ahead(3_600_000 + 60_000);
    let server = Server::start_project(&fixture, persist.path(), &["--clock-start", &clock]);
    let d = server.wait_for_status(wf, &id, &["complete"]).await;
    assert_eq!(d["output"], json!({ "a": "A", "b": "B", "c": "C" }), "{d:#}");
    let names: Vec<&str> = steps(&d).iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a-1", "b-1", "nap-1", "c-1"], "{d:#}");
    assert_eq!(step_entry(&d, "a-1"), a, "{d:#}");
    assert_eq!(step_entry(&d, "b-1"), b, "b changed after it committed: {d:#}");
    let nap = step_entry(&d, "nap-1");
    assert_eq!(nap["finished"], json!(true), "{d:#}");
    assert!(iso_ms(&nap["end"]) - iso_ms(&nap["start"]) >= 3_600_000, "the nap ended early: {d:#}");
    assert_eq!(attempts(step(&d, "c-1")).len(), 1, "{d:#}");
    let hits = [("a", 1), ("between", 4), ("b", 2), ("c", 1)];
    let counted = hits.map(|(what, _)| (what, recorder.count(what)));
    assert_eq!(counted, hits, "one run per start and one at the nap's end: {:?}", recorder.lines());

    // The journal says the same: each step started, was attempted and completed once.
    let journal = journal(&server, wf, &id).await;
    for name in ["a-1", "b-1", "c-1"] {
        let counts = ["step_started", "attempt_started", "attempt_completed", "step_completed"]
            .map(|kind| journal_count(&journal, kind, name));
        assert_eq!(counts, [1; 4], "{name} in the journal: {journal:#?}");
    }
    let naps = ["sleep_started", "sleep_completed"].map(|kind| journal_count(&journal, kind, "nap-1"));
    assert_eq!(naps, [1, 1], "{journal:#?}");
    assert_eq!(journal.iter().filter(|e| e["type"] == "attempt_errored").count(), 0, "{journal:#?}");
}
