//! The prediction server against what an attacker sends cheaply to a public
//! URL, started the way a user starts it (`mnist serve`) over the seven small
//! models and the digit gate.

use crate::common;
use crate::common::post_full;

use base64::Engine;
use mnist_support::data::Split;
use mnist_support::preprocess::mnist_to_gray;

/// The seven small models (and the digit gate when `gate`) served by
/// `mnist serve ARGS` with its log on stderr.
fn served(gate: bool, args: &[&str]) -> (Split, tempfile::TempDir, common::Server) {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let models = match gate {
        true => common::small_models_with_gate(&split),
        false => common::small_models(&split),
    };
    let server = common::start_server_with(models.path(), args, false);
    (split, models, server)
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn picture_bombs_neither_stall_nor_swell_the_server() {
    let data = common::real_data_dir();
    let split = Split::load_from(&data).unwrap();
    let models = common::small_models_with_gate(&split);
    let server = common::start_server(models.path());
    let url = &server.url;
    // A test digit as a 280×280 PNG whose colour profile inflates to 600 MiB
    // (about 600 KB to send): 30 of them at once took the server to 2.7 GB
    // and /healthz to 2.5 s while each was charged as a small picture.
    let pixels: Vec<f32> = split.x_test.row(0).to_vec();
    let digit = mnist_to_gray(&pixels, 10, 0, 0, 280, 280).unwrap();
    let bomb = common::iccp_bomb(&digit, 600 << 20);
    let body = serde_json::json!({
        "model": "all",
        "image": base64::engine::general_purpose::STANDARD.encode(&bomb),
    })
    .to_string();
    let (answers, health) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..30)
            .map(|_| s.spawn(|| post_full(url, body.as_bytes()).0))
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let t = std::time::Instant::now();
        let code = ureq::get(&format!("{url}/healthz"))
            .call()
            .map(|r| r.status())
            .unwrap_or(0);
        let waited = t.elapsed().as_secs_f64();
        let answers: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        (answers, (code, waited))
    });
    assert_eq!(health.0, 200, "/healthz during the bombs");
    assert!(
        health.1 < 1.0,
        "/healthz took {:.2} s during the bombs",
        health.1
    );
    // Read as the picture it is (its profile skipped), each is answered.
    assert!(answers.iter().all(|&c| c == 200), "{answers:?}");
    let peak = server.peak_resident();
    assert!(
        peak < 1_500 << 20,
        "the server peaked at {} MB resident",
        peak >> 20
    );
}

/// A TCP connection to `url`'s server from the loopback address `from`
/// (127.0.0.2 is another client than 127.0.0.1), reads timing out after `timeout`.
fn connect_from(url: &str, from: &str, timeout: f64) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let server: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs_f64(timeout)))
        .unwrap();
    stream
}

/// Send `request` on `stream` and read what comes back until the server
/// closes or `stream`'s read timeout passes.
fn exchange(stream: &mut std::net::TcpStream, request: &str) -> String {
    use std::io::{Read, Write};
    stream.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";

#[test]
#[ignore = "needs MNIST_DIR"]
fn one_address_cannot_hold_every_connection() {
    let (_, _models, server) = served(
        false,
        &[
            "--connections-per-client",
            "8",
            "--max-connections",
            "12",
            "--read-timeout",
            "10",
            "--quiet",
        ],
    );
    // 20 idle connections from one address: 8 are held (the server waits
    // for their headers), the others are told 429 and closed.
    let held: Vec<_> = (0..8)
        .map(|_| connect_from(&server.url, "127.0.0.1", 5.0))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..12 {
        let mut extra = connect_from(&server.url, "127.0.0.1", 5.0);
        let answer = exchange(&mut extra, HEALTHZ);
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer:?}");
        assert!(
            answer.to_lowercase().contains("retry-after: 1"),
            "{answer:?}"
        );
    }
    // Another address is served at once, not after the held ones time out.
    let t = std::time::Instant::now();
    let mut other = connect_from(&server.url, "127.0.0.2", 5.0);
    let answer = exchange(&mut other, HEALTHZ);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        t.elapsed().as_secs_f64() < 2.0,
        "another address waited {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(held);
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn idle_keep_alive_connections_are_closed() {
    let (_, _models, server) = served(false, &["--read-timeout", "1", "--quiet"]);
    // One request on a kept-alive connection, then nothing: the server
    // closes it when the time to send the next request's headers is up.
    use std::io::{Read, Write};
    let mut c = connect_from(&server.url, "127.0.0.1", 8.0);
    c.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .unwrap();
    let t = std::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match c.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend(&buf[..n]),
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(
        closed,
        "the idle connection was still open after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(
        t.elapsed().as_secs_f64() < 4.0,
        "closed after {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn refusals_come_before_the_body_and_on_every_route() {
    let (split, _models, server) = served(
        false,
        &[
            "--rate-limit",
            "1",
            "--requests-per-second",
            "4",
            "--read-timeout",
            "5",
            "--quiet",
        ],
    );
    let pixels: Vec<f32> = split.x_test.row(0).to_vec();
    let good = serde_json::json!({ "model": "softmax", "pixels": pixels }).to_string();
    // Predictions until the burst of three is spent, then one whose body
    // never comes: it is refused at once (429), not read until the read
    // timeout (408).
    let mut codes = Vec::new();
    while !codes.contains(&429) {
        assert!(
            codes.len() < 10,
            "no 429 at 1 prediction a second: {codes:?}"
        );
        codes.push(post_full(&server.url, good.as_bytes()).0);
    }
    assert!(
        codes.iter().filter(|&&c| c == 200).count() >= 3,
        "{codes:?}"
    );
    let mut c = connect_from(&server.url, "127.0.0.1", 8.0);
    let t = std::time::Instant::now();
    let answer = exchange(
        &mut c,
        "POST /api/predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: 100000\r\nconnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer:?}");
    assert!(
        t.elapsed().as_secs_f64() < 4.0,
        "{:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Every route counts: /healthz past 4 a second (bursts of 12) is 429 too.
    let codes: Vec<u16> = (0..20)
        .map(|_| {
            let mut c = connect_from(&server.url, "127.0.0.1", 5.0);
            exchange(&mut c, HEALTHZ)[9..12].parse().unwrap()
        })
        .collect();
    assert!(codes.contains(&429), "{codes:?}");
    assert!(codes.iter().all(|&c| c == 200 || c == 429), "{codes:?}");
}

/// `POST /api/predict` with `body` as raw HTTP from the loopback address
/// `from`: the status (0 when no answer came) and the seconds it took.
fn post_from(url: &str, from: &str, body: &str) -> (u16, f64) {
    let t = std::time::Instant::now();
    let mut c = connect_from(url, from, 20.0);
    let answer = exchange(
        &mut c,
        &format!(
            "POST /api/predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let code = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, t.elapsed().as_secs_f64())
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn a_flood_of_large_pictures_from_many_addresses_leaves_drawings_answered() {
    // The public server's limits (the defaults), on loopback.
    let (split, _models, server) = served(true, &["--quiet"]);
    let url = server.url.as_str();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let white = common::png_gray(
        &mnist_support::preprocess::Gray::new(4096, 4096, vec![255; 4096 * 4096]).unwrap(),
    );
    let large = serde_json::json!({ "model": "all", "image": b64(&white) }).to_string();
    let pixels: Vec<f32> = split.x_test.row(0).to_vec();
    let drawing = common::png_gray(&mnist_to_gray(&pixels, 10, 0, 0, 280, 280).unwrap());
    let pad = serde_json::json!({ "model": "all", "image": b64(&drawing) }).to_string();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let visitor: Vec<(u16, f64)> = std::thread::scope(|s| {
        // Sixteen addresses, each sending 4096×4096 pictures without pause.
        for i in 0..16 {
            let (large, stop) = (&large, &stop);
            s.spawn(move || {
                let from = format!("127.0.0.{}", 10 + i);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    post_from(url, &from, large);
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        // A visitor drawing on the page: a prediction every 200 ms.
        let answers = (0..30)
            .map(|_| {
                let a = post_from(url, "127.0.0.2", &pad);
                std::thread::sleep(std::time::Duration::from_millis(200));
                a
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        answers
    });
    let ok = visitor.iter().filter(|a| a.0 == 200).count();
    let mut times: Vec<f64> = visitor.iter().map(|a| a.1).collect();
    times.sort_by(f64::total_cmp);
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    eprintln!(
        "the visitor during the flood: {ok} of {} answered 200, p50 {:.2} s, p99 {p99:.2} s",
        visitor.len(),
        times[times.len() / 2]
    );
    assert!(
        ok * 10 >= visitor.len() * 9,
        "{ok} of {} answered 200: {visitor:?}",
        visitor.len()
    );
    assert!(p99 <= 1.5, "the visitor's p99 was {p99:.2} s: {visitor:?}");
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn a_client_that_stops_reading_is_cut_off() {
    let (_, _models, server) = served(
        false,
        &[
            "--write-timeout",
            "1",
            "--requests-per-second",
            "0",
            "--quiet",
        ],
    );
    // Thousands of requests for the page, pipelined, and nothing read: the
    // answers fill the socket's buffers, a write stops making progress, and
    // after the write timeout the server closes the connection.
    use std::io::{Read, Write};
    let page_len = ureq::get(&format!("{}/", server.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
        .len();
    let requests = (256 << 20) / page_len.max(1) + 1; // 256 MB of answers asked for
    let mut c = connect_from(&server.url, "127.0.0.1", 5.0);
    let ask = "GET / HTTP/1.1\r\nhost: test\r\n\r\n".repeat(requests);
    let writer = {
        let mut c = c.try_clone().unwrap();
        c.set_write_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        std::thread::spawn(move || {
            let _ = c.write_all(ask.as_bytes());
        })
    };
    std::thread::sleep(std::time::Duration::from_secs(4));
    let mut read = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match c.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false, // still open, nothing more sent
        }
        if read > 128 << 20 {
            break false; // the server went on writing
        }
    };
    let _ = writer.join();
    assert!(
        ended,
        "the connection was still open after {} MB read",
        read >> 20
    );
}
