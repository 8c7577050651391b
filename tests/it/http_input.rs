//! The HTTP surface against slow and malformed clients: a connection that never finishes its
//! headers is closed, a request body that stalls is answered with 408, a control-route body
//! that does not say it is JSON is refused with 415, bodies of the wrong shape or type are
//! refused in the envelope and change nothing, values echoed in errors are cut, and the
//! instance list's date filters take every form the official SDKs send.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::*;

/// Hidden flags that shorten the header and body timeouts (10 s and 30 s), so that a test
/// need not wait them out. A second still leaves a loaded machine time for every request the
/// tests send whole.
const SHORT_TIMEOUTS: [&str; 4] = ["--http-header-timeout-ms", "1000", "--http-body-timeout-ms", "1000"];

fn start_with_short_timeouts() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a state folder");
    (Server::start_with("basic", dir.path(), &SHORT_TIMEOUTS), dir)
}

/// A raw connection to `server`; every read gives up after [`PATIENCE`].
fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.address()).expect("connect to stepflare");
    stream.set_read_timeout(Some(PATIENCE)).expect("set a read timeout");
    stream
}

fn send(stream: &mut TcpStream, text: &str) {
    stream.write_all(text.as_bytes()).expect("send to stepflare");
}

/// Reads one response: its status and its body (of `Content-Length` bytes).
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).expect("read a response head");
        assert_eq!(read, 1, "the connection closed within a response head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("a text head");
    let status = head.get(9..12).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status in {head}"));
    let length = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("read a response body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Reads until the server closes the connection, and returns what came; fails if the server
/// keeps it open for [`PATIENCE`].
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest,
        Err(error) if error.kind() == ErrorKind::ConnectionReset => rest,
        Err(error) => panic!("the server kept the connection open for {PATIENCE:?} ({error}); read {rest:?}"),
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed_and_keep_alive_still_works() {
    let (mut server, _dir) = start_with_short_timeouts();
    let workflows = format!("/client/v4/accounts/{ACCOUNT}/workflows");

    let mut kept = connect(&server);
    for _ in 0..2 {
        send(&mut kept, &get(&workflows));
        let (status, body) = read_response(&mut kept);
        assert_eq!(status, 200, "two requests on one kept-alive connection: {body}");
    }

    let mut half_open = connect(&server);
    send(&mut half_open, &format!("GET {workflows} HTTP/1.1\r\nHost: localhost\r\n"));
    assert_eq!(read_until_closed(&mut half_open), b"", "a half-sent head is closed without an answer");
    assert_eq!(read_until_closed(&mut kept), b"", "an idle kept-alive connection is closed by the same timeout");

    let mut in_use = connect(&server);
    send(&mut in_use, &get(&workflows));
    assert_eq!(read_response(&mut in_use).0, 200, "the server still answers");
    let exit = server.interrupt();
    assert!(exit.success(), "Ctrl-C with a kept-alive connection open exits cleanly: {exit:?}\n{}", server.logs());
}

#[test]
fn a_request_body_that_stalls_is_answered_with_408() {
    let (server, _dir) = start_with_short_timeouts();
    let create = format!("/client/v4/accounts/{ACCOUNT}/workflows/event-info/instances");

    let mut control = connect(&server);
    send(
        &mut control,
        &format!(
            "POST {create} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"params\": "
        ),
    );
    let (status, body) = read_response(&mut control);
    assert_eq!(status, 408, "{body}");
    let envelope: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_api_error("a stalled control body", (status, envelope.clone()), 408, Some(10002));
    assert!(envelope["errors"][0]["message"].as_str().unwrap().contains("stalled"), "{envelope:#}");

    let mut worker = connect(&server);
    send(&mut worker, "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\npartial");
    let (status, body) = read_response(&mut worker);
    assert_eq!(status, 408, "a stalled body on the Worker's route: {body}");

    let mut list = connect(&server);
    send(&mut list, &get(&create));
    let (status, body) = read_response(&mut list);
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("a JSON list");
    assert_eq!(listed["result"], json!([]), "a stalled create creates nothing");
}

/// The ids of `wf`'s instances with their statuses, sorted: what "nothing changed" is.
async fn snapshot(server: &Server, wf: &str) -> Vec<(String, String)> {
    let url = format!("{}/instances?per_page=100", server.workflow_url(wf));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body:#}");
    let mut rows: Vec<(String, String)> = body["result"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["status"].as_str().unwrap().to_owned()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_body_that_does_not_say_it_is_json_is_refused_with_415() {
    let server = Server::start("basic");
    let id = server.create_with_id("wait-event", "typed", json!({})).await;
    server.wait_for_status("wait-event", &id, &["waiting"]).await;
    let create = format!("{}/instances", server.workflow_url("wait-event"));
    let status = format!("{}/status", server.instance_url("wait-event", &id));
    let event = format!("{}/events/approve", server.instance_url("wait-event", &id));
    let explorer = format!("{}/cdn-cgi/local/explorer/api/workflows/wait-event/instances", server.base());
    let cases = [
        (Method::POST, &create, Some("text/plain"), r#"{"instance_id": "plain"}"#),
        (Method::POST, &create, Some("text/plain;charset=UTF-8"), r#"{"instance_id": "plain"}"#),
        (Method::POST, &create, Some("application/x-www-form-urlencoded"), "instance_id=form"),
        (Method::POST, &create, Some("multipart/form-data; boundary=b"), "--b\r\n\r\nx\r\n--b--"),
        (Method::POST, &create, Some("text/json"), r#"{"instance_id": "text-json"}"#),
        (Method::POST, &create, None, r#"{"instance_id": "untyped"}"#),
        (Method::PATCH, &status, Some("text/plain"), r#"{"status": "terminate"}"#),
        (Method::POST, &event, Some("text/plain"), r#"{"approved": true}"#),
        (Method::POST, &explorer, Some("text/plain"), r#"{"id": "plain"}"#),
    ];
    let before = snapshot(&server, "wait-event").await;
    for (method, url, content_type, body) in cases {
        let what = format!("{method} {url} as {content_type:?}");
        let response = server.send_typed(method, url, content_type, body).await;
        let message = response.1["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert_api_error(&what, response, 415, Some(10002));
        assert!(message.contains("application/json"), "{what}: the message names the type expected: {message}");
    }
    assert_eq!(snapshot(&server, "wait-event").await, before, "a refused body changed something");
    assert_eq!(server.describe("wait-event", &id).await["status"], "waiting", "no event was delivered");

    for (n, content_type) in
        [Some("application/json"), Some("application/json; charset=utf-8"), Some("application/vnd.api+json")]
            .into_iter()
            .enumerate()
    {
        let body = format!(r#"{{"instance_id": "typed-{n}"}}"#);
        let (status, body) = server.send_typed(Method::POST, &create, content_type, &body).await;
        assert_eq!(status, 200, "{content_type:?}: {body:#}");
    }
    let (status, body) = server.send_typed(Method::POST, &create, None, "").await;
    assert_eq!(status, 200, "an empty body needs no content type: {body:#}");
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_or_type_are_refused_and_change_nothing() {
    let server = Server::start("basic");
    let id = server.create_with_id("wait-event", "shaped", json!({})).await;
    server.wait_for_status("wait-event", &id, &["waiting"]).await;
    let wf = server.workflow_url("wait-event");
    let create = format!("{wf}/instances");
    let status = format!("{}/status", server.instance_url("wait-event", &id));
    let settings = format!("{}/client/v4/accounts/{ACCOUNT}/workflows/settings", server.base());
    let explorer = format!("{}/cdn-cgi/local/explorer/api/workflows/wait-event/instances", server.base());
    let batch = format!("{create}/batch");
    let cases: Vec<(Method, &str, &str)> = vec![
        // An array or a scalar where an object is expected: serde reads a struct from an array
        // of its fields, so these were taken as objects.
        (Method::POST, &create, r#"[null, null, null, null]"#),
        (Method::POST, &create, r#""order-1""#),
        (Method::POST, &batch, r#"[["order-1"]]"#),
        (Method::POST, &explorer, r#"[null, null]"#),
        (Method::PATCH, &status, r#"["pause"]"#),
        (Method::PATCH, &status, r#"{"status": "restart", "from": ["before-1", null, null]}"#),
        (Method::PUT, &wf, r#"[null, null, null, null, null]"#),
        (Method::PATCH, &settings, r#"[null]"#),
        (Method::PATCH, &settings, r#"{"default_retention": ["1 day", null]}"#),
        // create: instance_retention is Cloudflare's RetentionInput, location_hint its enum.
        (Method::POST, &create, r#"{"instance_retention": "30 days"}"#),
        (Method::POST, &create, r#"{"instance_retention": {"error_retention": "forever"}}"#),
        (Method::POST, &create, r#"{"instance_retention": {"success_retention": -1}}"#),
        (Method::POST, &create, r#"{"instance_retention": {"success_retention": 1.5}}"#),
        (Method::POST, &create, r#"{"instance_retention": {"kept": 1}}"#),
        (Method::POST, &create, r#"{"location_hint": "mars"}"#),
        (Method::POST, &create, r#"{"location_hint": 5}"#),
        (Method::POST, &batch, r#"[{"instance_id": "b1", "location_hint": "moon"}]"#),
        // PUT: limits {steps ≥ 1}, schedules [{cron}], default_retention.
        (Method::PUT, &wf, r#"{"limits": 5}"#),
        (Method::PUT, &wf, r#"{"limits": {"steps": 0}}"#),
        (Method::PUT, &wf, r#"{"limits": {"steps": "many"}}"#),
        (Method::PUT, &wf, r#"{"limits": {"steps": 2.5}}"#),
        (Method::PUT, &wf, r#"{"schedules": "0 * * * *"}"#),
        (Method::PUT, &wf, r#"{"schedules": [{}]}"#),
        (Method::PUT, &wf, r#"{"schedules": [{"cron": ""}]}"#),
        (Method::PUT, &wf, r#"{"schedules": ["0 * * * *"]}"#),
        (Method::PUT, &wf, r#"{"default_retention": {"error_retention": "3 fortnights"}}"#),
    ];
    let before = snapshot(&server, "wait-event").await;
    for (method, url, body) in cases {
        let what = format!("{method} {url} {body}");
        assert_api_error(&what, server.raw(method, url, Some(body), None).await, 400, Some(10002));
    }
    let long_cron = json!({ "schedules": [{ "cron": "*".repeat(257) }] }).to_string();
    let too_many = json!({ "schedules": vec![json!({ "cron": "0 * * * *" }); 201] }).to_string();
    for body in [long_cron, too_many] {
        assert_api_error(
            "a PUT over the schedule limits",
            server.raw(Method::PUT, &wf, Some(&body), None).await,
            400,
            Some(10002),
        );
    }
    assert_eq!(snapshot(&server, "wait-event").await, before, "a refused body changed something");
    assert_eq!(server.describe("wait-event", &id).await["status"], "waiting", "the status did not change");

    let (status, body) = server
        .request(
            Method::POST,
            &create,
            Some(&json!({
                "instance_id": "well-formed",
                "instance_retention": { "error_retention": "3 days", "success_retention": 60_000 },
                "location_hint": "weur",
            })),
        )
        .await;
    assert_eq!(status, 200, "Cloudflare's shapes are accepted: {body:#}");
    let put = json!({
        "class_name": "WaitEvent",
        "limits": { "steps": 500 },
        "schedules": [{ "cron": "0 * * * *" }],
        "default_retention": { "error_retention": "1 week", "success_retention": 86_400_000 },
    });
    let (status, body) = server.request(Method::PUT, &wf, Some(&put)).await;
    assert_eq!(status, 200, "{body:#}");
}

#[tokio::test]
async fn values_echoed_in_error_messages_are_cut() {
    let server = Server::start("basic");
    let long = "x".repeat(10_000);
    let wf = server.workflow_url("wait-event");
    let huge_body = json!({ "instance_id": "y".repeat(1 << 20) }).to_string();
    let unknown_field = format!(r#"{{"{}": 1}}"#, "z".repeat(1 << 20));
    let cases = [
        ("an instance id in the path", Method::GET, server.instance_url("wait-event", &format!("{long}!")), None, 400),
        ("an unknown workflow", Method::GET, server.workflow_url(&long), None, 404),
        (
            "an event type",
            Method::POST,
            format!("{}/events/{long}!", server.instance_url("wait-event", "a")),
            None,
            400,
        ),
        ("a status", Method::GET, format!("{wf}/instances?status={long}"), None, 400),
        ("a date", Method::GET, format!("{wf}/instances?date_start={long}"), None, 400),
        ("an instance id in the body", Method::POST, format!("{wf}/instances"), Some(huge_body.as_str()), 400),
        ("an unknown field", Method::POST, format!("{wf}/instances"), Some(unknown_field.as_str()), 400),
    ];
    for (what, method, url, body, http) in cases {
        let response = server.raw(method, &url, body, None).await;
        let message = response.1["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert_api_error(what, response, http, None);
        assert!(message.chars().count() <= 600, "{what}: a message of {} characters", message.chars().count());
        assert!(message.contains("xxx…") || message.contains("yyy…") || message.contains("zzz…"), "{what}: {message}");
    }
    let (_, body) = server.raw(Method::GET, &server.instance_url("wait-event", &format!("{long}!")), None, None).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("\"{}…\"", "x".repeat(100))), "at most 100 characters of a value: {message}");
}

/// The ids the instance list answers for `query` (already encoded).
async fn listed(server: &Server, query: &str) -> Vec<String> {
    let url = format!("{}/instances?{query}", server.workflow_url("event-info"));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "?{query}: {body:#}");
    body["result"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

/// `?{name}={value}` with `value` percent-encoded, as the SDKs send it.
fn date_query(name: &str, value: &str) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").unwrap();
    url.query_pairs_mut().append_pair(name, value);
    url.query().unwrap_or_default().to_owned()
}

/// The `created_on` the list reports for `id`: what the date filters compare.
async fn created_on(server: &Server, id: &str) -> OffsetDateTime {
    let url = format!("{}/instances?per_page=100", server.workflow_url("event-info"));
    let (status, body) = server.request(Method::GET, &url, None).await;
    assert_eq!(status, 200, "{body:#}");
    let row = body["result"].as_array().unwrap().iter().find(|row| row["id"] == id).expect("the instance is listed");
    assert_iso(&row["created_on"]);
    let text = row["created_on"].as_str().unwrap();
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test]
async fn date_filters_take_every_form_the_sdks_send_and_filter_by_creation_time() {
    use time::macros::{format_description, offset};
    use time::{Duration, UtcOffset};

    let server = Server::start("basic");
    let first = server.create_with_id("event-info", "first", json!({})).await;
    let first_at = created_on(&server, &first).await;
    // A second instance created at a later millisecond, so that a filter can tell them apart.
    let mut n = 0;
    let (second, second_at) = loop {
        let id = server.create_with_id("event-info", &format!("second-{n}"), json!({})).await;
        let at = created_on(&server, &id).await;
        if at > first_at {
            break (id, at);
        }
        n += 1;
    };
    let all = listed(&server, "direction=asc").await;
    assert_eq!(all.first(), Some(&first), "{all:?}");
    assert_eq!(all.last(), Some(&second), "{all:?}");
    let ms = Duration::milliseconds(1);

    let with_fraction = |t: OffsetDateTime, offset: UtcOffset| t.to_offset(offset).format(&Rfc3339).unwrap();
    let without_fraction = |t: OffsetDateTime| t.replace_millisecond(0).unwrap().format(&Rfc3339).unwrap();
    let without_offset = |t: OffsetDateTime| {
        t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]")).unwrap()
    };
    let date_only = |t: OffsetDateTime| t.date().to_string();
    let second_start = first_at.replace_millisecond(0).unwrap();

    let cases: Vec<(String, String, Vec<&String>)> = vec![
        ("date_start".into(), with_fraction(second_at, offset!(UTC)), vec![&second]),
        ("date_start".into(), with_fraction(second_at, offset!(+02:00)), vec![&second]),
        ("date_start".into(), with_fraction(first_at + ms, offset!(-04:30)), vec![&second]),
        ("date_end".into(), with_fraction(first_at, offset!(+05:45)), vec![&first]),
        ("date_end".into(), without_offset(first_at), vec![&first]),
        ("date_end".into(), without_offset(first_at - ms), vec![]),
        ("date_start".into(), without_fraction(first_at), vec![&first, &second]),
        ("date_end".into(), without_fraction(second_start - Duration::seconds(1)), vec![]),
        ("date_start".into(), date_only(first_at), vec![&first, &second]),
        ("date_start".into(), date_only(second_at + Duration::days(1)), vec![]),
        ("date_end".into(), date_only(second_at + Duration::days(1)), vec![&first, &second]),
        ("date_end".into(), date_only(first_at), vec![]),
    ];
    for (name, value, expected) in &cases {
        let query = format!("direction=asc&{}", date_query(name, value));
        let got = listed(&server, &query).await;
        let got: Vec<&String> = got.iter().filter(|id| *id == &first || *id == &second).collect();
        assert_eq!(&got, expected, "?{name}={value}");
    }
    // An offset's `+` sent without percent-encoding arrives as a space, and means `+`.
    let unencoded = with_fraction(second_at, offset!(+02:00));
    assert!(unencoded.contains('+'), "{unencoded}");
    assert_eq!(listed(&server, &format!("date_start={unencoded}")).await, vec![second.clone()], "{unencoded}");
    let explorer = format!(
        "{}/cdn-cgi/local/explorer/api/workflows/event-info/instances?{}",
        server.base(),
        date_query("date_start", &date_only(first_at))
    );
    let (status, body) = server.request(Method::GET, &explorer, None).await;
    assert_eq!((status, body["result"].as_array().map(Vec::len)), (200, Some(all.len())), "{body:#}");

    for (name, value) in [("date_end", "2026-02-30"), ("date_start", "yesterday"), ("date_end", "1796205600000")] {
        let url = format!("{}/instances?{}", server.workflow_url("event-info"), date_query(name, value));
        let response = server.request(Method::GET, &url, None).await;
        let message = response.1["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert_api_error(&format!("{name}={value}"), response, 400, Some(10002));
        assert!(message.starts_with(name), "the message names the parameter: {message}");
    }
}
