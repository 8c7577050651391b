//! Crash recovery: stepflare is killed with SIGKILL in the middle of a 40-step workflow whose
//! steps have a side effect (an HTTP call to a recorder in the test process), then restarted on
//! the same persistence dir. Committed steps must not run again; only the step in flight at the
//! kill may repeat its side effect.

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
/// `GET /gate` answers `open` once [`Recorder::open_gate`] was called, else `closed`.
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
