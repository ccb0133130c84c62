//! `fetch-data`'s download path against mirrors on loopback: a mirror that
//! answers 404, one that serves corrupt bytes, one that serves the real files.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use mnist_support::data::{self, FILES};

/// Serves `GET /<mode>/<file>` for a bounded number of requests: mode `ok`
/// sends the file from `dir`, `bad` sends it with flipped bytes, anything else 404.
fn serve(dir: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut parts = path.trim_start_matches('/').splitn(2, '/');
            let (mode, file) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let body = match mode {
                "ok" | "bad" => std::fs::read(dir.join(file)).ok().map(|mut b| {
                    if mode == "bad" {
                        let n = b.len();
                        b[n / 2] ^= 0xff;
                    }
                    b
                }),
                _ => None,
            };
            let _ = match body {
                Some(b) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&b)),
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    (base, handle)
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn fetch_falls_back_across_mirrors_and_verifies() {
    let real = common::real_data_dir();
    // per file: one 404, one corrupt, one good = 12 requests
    let (base, server) = serve(real, 12);
    let (missing, bad, ok) = (
        format!("{base}none/"),
        format!("{base}bad/"),
        format!("{base}ok/"),
    );
    let out = tempfile::tempdir().unwrap();
    let mut seen = 0u64;
    let files = data::fetch_from(out.path(), &[&missing, &bad, &ok], |_, done, _| {
        seen = seen.max(done)
    })
    .unwrap();
    server.join().unwrap();
    assert_eq!(files.len(), 4);
    assert!(seen > 9_000_000, "progress reported the big file: {seen}");
    for f in FILES {
        data::verify(&out.path().join(f.gz_name()), &f).unwrap();
    }
    // nothing but the four files is left behind (no .part files)
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 4);
    // a second fetch keeps the verified files and asks no mirror at all
    data::fetch_from(out.path(), &["http://127.0.0.1:9/"], |_, _, _| {}).unwrap();
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn fetch_with_only_corrupt_mirrors_fails_cleanly() {
    let real = common::real_data_dir();
    let (base, server) = serve(real, 1);
    let out = tempfile::tempdir().unwrap();
    let bad = format!("{base}bad/");
    let e = data::fetch_from(out.path(), &[&bad], |_, _, _| {}).unwrap_err();
    server.join().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte.gz") && msg.contains("checksum mismatch"),
        "{msg}"
    );
    assert!(
        msg.contains("MNIST_DIR"),
        "the message says where to put the files: {msg}"
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no partial file left"
    );
}

#[test]
#[ignore = "needs MNIST_DIR"]
fn ensure_finds_the_files_and_never_downloads_into_a_directory_the_user_named() {
    use mnist_support::config::Config;
    let empty = tempfile::tempdir().unwrap();
    let named =
        |dir: PathBuf| Config::from_vars(move |n| (n == "MNIST_DIR").then(|| dir.clone().into()));
    let e = data::ensure(&named(empty.path().into()), |_, _, _| panic!("downloaded"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    assert!(std::fs::read_dir(empty.path()).unwrap().next().is_none());
    let real = common::real_data_dir();
    let files = data::ensure(&named(real), |_, _, _| panic!("downloaded")).unwrap();
    assert_eq!(files.len(), FILES.len());
}
