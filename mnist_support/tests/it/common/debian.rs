//! Docker has no daemon here, so a Dockerfile is replayed in Debian roots
//! made by `debootstrap --variant=minbase` (from Debian's packages): each
//! `FROM` starts from a copy of a fresh Debian 13 (trixie) root, `RUN` runs in
//! it under `chroot` with the image's environment only, `COPY` copies from
//! the context or an earlier stage, `USER` sets who runs what follows, and
//! the last stage's `CMD` is started as that user with an empty environment.
//!
//! A `rust:` image is the same Debian root with what the official image adds:
//! gcc, libc6-dev and ca-certificates from Debian, and a Rust toolchain in
//! /usr/local/cargo (this machine's own, hard-linked: rustup's servers are out
//! of reach here). This machine reaches crates.io through a TLS proxy whose
//! certificate its CA bundle holds, so that bundle is copied too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a Debian root cannot be made here, if it cannot.
pub fn unavailable() -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        return Some("debootstrap and chroot need root".into());
    }
    if !Path::new("/usr/sbin/debootstrap").exists() {
        return Some("debootstrap is missing (`cargo setup` installs it)".into());
    }
    None
}

/// A Debian root; `/proc` is mounted in it while it lives.
pub struct Root {
    pub dir: PathBuf,
}

impl Root {
    fn new(dir: PathBuf) -> Root {
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(dir.join("proc"))
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount /proc in {}", dir.display());
        Root { dir }
    }

    /// `sh -c script` in the root as `uid` (0: root), in `workdir`, with
    /// only `env`; its output, or a panic with it.
    pub fn run(&self, uid: u32, workdir: &str, env: &[(&str, &str)], script: &str) -> String {
        let mut cmd = Command::new("chroot");
        cmd.arg(format!("--userspec={uid}:{uid}"))
            .arg(&self.dir)
            .args(["/usr/bin/env", "-i"])
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(["/bin/sh", "-c", "cd \"$0\" && eval \"$1\"", workdir, script]);
        let out = cmd.output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "`{script}` failed in {}:\n{said}",
            self.dir.display()
        );
        said
    }

    /// The uid of `user` in the root's /etc/passwd (a number stays a number).
    pub fn uid(&self, user: &str) -> u32 {
        if let Ok(n) = user.parse() {
            return n;
        }
        let passwd = std::fs::read_to_string(self.dir.join("etc/passwd")).unwrap();
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f[0] == user)
            .unwrap_or_else(|| panic!("no user {user} in the root"))[2]
            .parse()
            .unwrap()
    }

    /// The command that starts `argv` in the root as `uid`, in `workdir`,
    /// with an empty environment.
    pub fn command(&self, uid: u32, workdir: &str, argv: &[String]) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(format!("--userspec={uid}:{uid}"))
            .arg(&self.dir)
            .args([
                "/usr/bin/env",
                "-i",
                "/bin/sh",
                "-c",
                "cd \"$0\" && exec \"$@\"",
                workdir,
            ])
            .args(argv);
        cmd
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.join("proc"))
            .status();
    }
}

/// A fresh Debian 13 minbase root in `dir`.
pub fn debootstrap(dir: &Path) {
    let out = Command::new("/usr/sbin/debootstrap")
        .args(["--variant=minbase", "trixie"])
        .arg(dir)
        .arg("http://deb.debian.org/debian")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "debootstrap failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy("/etc/resolv.conf", dir.join("etc/resolv.conf")).unwrap();
}

/// The last stage of a replayed Dockerfile, ready to start its `CMD`.
pub struct Image {
    pub root: Root,
    pub workdir: String,
    pub uid: u32,
    pub cmd: Vec<String>,
    /// Each `FROM`'s image, as written.
    pub images: Vec<String>,
    /// Everything the `RUN` steps printed.
    pub log: String,
    /// The earlier stages' roots, kept mounted until the image is dropped.
    _stages: Vec<Root>,
}

struct Stage {
    name: Option<String>,
    root: Root,
    workdir: String,
    uid: u32,
    env: Vec<(&'static str, &'static str)>,
}

const PATH: (&str, &str) = (
    "PATH",
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
);
const RUST_ENV: [(&str, &str); 3] = [
    (
        "PATH",
        "/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("CARGO_HOME", "/usr/local/cargo"),
    ("RUSTUP_HOME", "/usr/local/rustup"),
];

/// Replays `dockerfile` with `context` as the build context, its stages'
/// roots under `work`, each a copy of the pristine root `base`.
pub fn replay(dockerfile: &str, context: &Path, base: &Path, work: &Path) -> Image {
    let mut stages: Vec<Stage> = Vec::new();
    let mut images = Vec::new();
    let mut cmd = Vec::new();
    let mut log = String::new();
    for line in dockerfile.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
        match op {
            "FROM" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let image = words[0].to_string();
                let name = (words.len() == 3 && words[1] == "AS").then(|| words[2].to_string());
                let dir = work.join(format!("stage{}", stages.len()));
                let copied = Command::new("cp")
                    .arg("-a")
                    .arg(base)
                    .arg(&dir)
                    .status()
                    .unwrap();
                assert!(copied.success());
                let root = Root::new(dir);
                let env = if image.starts_with("rust:") {
                    provision_rust(&root, &image);
                    RUST_ENV.to_vec()
                } else {
                    vec![PATH]
                };
                images.push(image);
                stages.push(Stage {
                    name,
                    root,
                    workdir: "/".into(),
                    uid: 0,
                    env,
                });
            }
            "WORKDIR" => {
                let stage = stages.last_mut().expect("FROM first");
                stage.workdir = rest.to_string();
                let uid = stage.uid;
                stage
                    .root
                    .run(uid, "/", &[PATH], &format!("mkdir -p {rest}"));
            }
            "USER" => {
                let stage = stages.last_mut().expect("FROM first");
                stage.uid = stage.root.uid(rest);
            }
            "RUN" => {
                let stage = stages.last().expect("FROM first");
                log += &stage.root.run(stage.uid, &stage.workdir, &stage.env, rest);
            }
            "COPY" => {
                let mut from = None;
                let mut chown = None;
                let mut paths = Vec::new();
                for word in rest.split_whitespace() {
                    if let Some(f) = word.strip_prefix("--from=") {
                        from = Some(f.to_string());
                    } else if let Some(c) = word.strip_prefix("--chown=") {
                        chown = Some(c.to_string());
                    } else {
                        paths.push(word.to_string());
                    }
                }
                let [src, dest] = <[String; 2]>::try_from(paths).expect("COPY SRC DEST");
                let src = match &from {
                    Some(name) => {
                        let stage = stages
                            .iter()
                            .find(|s| s.name.as_deref() == Some(name.as_str()))
                            .unwrap_or_else(|| panic!("no stage {name}"));
                        stage.root.dir.join(src.trim_start_matches('/'))
                    }
                    None => context.join(&src),
                };
                let stage = stages.last().expect("FROM first");
                let dest = if dest.starts_with('/') {
                    dest.clone()
                } else {
                    format!("{}/{}", stage.workdir, dest)
                };
                let target = stage.root.dir.join(dest.trim_start_matches('/'));
                copy(&src, &target);
                if let Some(owner) = chown {
                    stage
                        .root
                        .run(0, "/", &[PATH], &format!("chown -R {owner}:{owner} {dest}"));
                }
            }
            "CMD" => cmd = serde_json::from_str(rest).expect("CMD in JSON form"),
            "EXPOSE" => {}
            other => panic!("the replay does not know {other}: {line}"),
        }
    }
    let last = stages.pop().expect("a FROM");
    Image {
        root: last.root,
        workdir: last.workdir,
        uid: last.uid,
        cmd,
        images,
        log,
        _stages: stages.into_iter().map(|s| s.root).collect(),
    }
}

/// COPY's rule: a directory's contents into `to`; a file into `to` when it
/// ends in `/` or is a directory, else as `to`.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", from.display()))
            .arg(to)
            .status()
            .unwrap();
        assert!(ok.success());
    } else {
        let to = if to.is_dir() || to.to_string_lossy().ends_with('/') {
            std::fs::create_dir_all(to).unwrap();
            to.join(from.file_name().unwrap())
        } else {
            to.to_path_buf()
        };
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

/// What `rust:<version>-slim-trixie` adds to Debian.
fn provision_rust(root: &Root, image: &str) {
    root.run(
        0,
        "/",
        &[PATH, ("DEBIAN_FRONTEND", "noninteractive")],
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates >/dev/null",
    );
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        root.dir.join("etc/ssl/certs/ca-certificates.crt"),
    )
    .unwrap();
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let version = Command::new("rustc").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    let wanted = image
        .strip_prefix("rust:")
        .and_then(|t| t.split('-').next())
        .unwrap_or("");
    if !version.contains(&format!("rustc {wanted} ")) {
        eprintln!(
            "note: the image pins Rust {wanted}; this replay builds with the machine's {version}"
        );
    }
    let toolchain = root.dir.join("usr/local/rustup/toolchains/replay");
    std::fs::create_dir_all(&toolchain).unwrap();
    for part in ["bin", "lib", "libexec"] {
        let from = sysroot.join(part);
        if !from.exists() {
            continue;
        }
        let linked = Command::new("cp")
            .arg("-al")
            .arg(&from)
            .arg(&toolchain)
            .status()
            .unwrap();
        if !linked.success() {
            assert!(Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(&toolchain)
                .status()
                .unwrap()
                .success());
        }
    }
    let bin = root.dir.join("usr/local/cargo/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["cargo", "rustc"] {
        std::os::unix::fs::symlink(
            format!("/usr/local/rustup/toolchains/replay/bin/{tool}"),
            bin.join(tool),
        )
        .unwrap();
    }
}
