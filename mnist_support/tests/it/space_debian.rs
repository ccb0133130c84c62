//! The Space that `mnist space` writes by default builds and runs on Debian 13
//! from the crate's source, as Hugging Face builds it: its Dockerfile is
//! replayed in debootstrap roots ([`common::debian`]), the build stage
//! compiles `mnist-serve` there with `--locked`, and the run stage, holding
//! only that binary and the models, starts it as uid 1000 with an empty
//! environment. It then serves the seven models and the gate, and answers
//! the held-out real inputs as the local server does.

use crate::common::{self, debian};
use crate::space::{predict, subset_models};

use std::process::Command;

use mnist_support::api::Client;
use mnist_support::data::Split;

#[test]
#[ignore = "needs MNIST_DIR"]
fn the_default_space_builds_from_source_and_runs_in_debian_13_as_uid_1000() {
    let data = common::real_data_dir();
    if let Some(why) = debian::unavailable() {
        if std::env::var_os("CI").is_some() {
            panic!("the Space's Debian test cannot run: {why}");
        }
        eprintln!("skipped: {why}");
        return;
    }
    // Dropped last: the roots live in it.
    let work = tempfile::tempdir().unwrap();
    let split = Split::load_from(&data).unwrap();
    let models = subset_models(&split);
    let out = work.path().join("space");
    let made = Command::new(env!("CARGO_BIN_EXE_mnist"))
        .args([
            "space",
            out.to_str().unwrap(),
            "--dir",
            models.path().to_str().unwrap(),
        ])
        .env("MNIST_SUBSET", "2500")
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(
        !out.join("mnist-serve").exists(),
        "the default ships no binary"
    );
    let dockerfile = std::fs::read_to_string(out.join("Dockerfile")).unwrap();

    let base = work.path().join("trixie");
    debian::debootstrap(&base);
    let image = debian::replay(&dockerfile, &out, &base, work.path());
    // Two stages, both Debian 13, both pinned by digest.
    assert_eq!(image.images.len(), 2, "{dockerfile}");
    for from in &image.images {
        let (tag, digest) = from
            .split_once("@sha256:")
            .unwrap_or_else(|| panic!("{from} is not pinned"));
        assert!(tag.contains("trixie"), "{from}");
        assert!(
            digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
            "{from}"
        );
    }
    assert!(image.images[0].starts_with("rust:"));
    // The run stage holds the binary built in the build stage, not a copy from here.
    let app = image.root.dir.join(image.workdir.trim_start_matches('/'));
    assert!(app.join("mnist-serve").is_file());
    assert!(!app.join("source").exists() && !image.root.dir.join("src").exists());
    assert_eq!(image.uid, 1000);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let argv: Vec<String> = image
        .cmd
        .iter()
        .map(|a| if a == "7860" { port.clone() } else { a.clone() })
        .collect();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = image.root.command(image.uid, &image.workdir, &argv);
    cmd.stderr(log.reopen().unwrap());
    let (_server, url) = common::spawn_listening(cmd);
    let space = Client::new(&url, std::time::Duration::from_secs(60));
    let health = space.health().unwrap();
    assert_eq!(health.models, 7);
    assert!(health.digit_gate);
    let said = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(said.matches("(candle)").count(), 3, "{said}");
    // It runs as uid 1000.
    let status = std::fs::read_to_string(format!("/proc/{}/status", _server.0.id())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some("1000"),
        "{uid_line}"
    );

    // The same answers as the local server on held-out real inputs.
    let local = common::start_server(models.path());
    let inputs =
        mnist_support::real_inputs::generate(&split, mnist_support::real_inputs::Set::Heldout, 3)
            .unwrap();
    for s in &inputs {
        match (
            predict(&url, &s.data_url()),
            predict(&local.url, &s.data_url()),
        ) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.input, b.input, "{}", s.name);
                for (x, y) in a.results.iter().zip(&b.results) {
                    assert_eq!(
                        (&x.model, x.prediction),
                        (&y.model, y.prediction),
                        "{}",
                        s.name
                    );
                }
            }
            (a, b) => assert_eq!(a.err(), b.err(), "{}", s.name),
        }
    }
}
