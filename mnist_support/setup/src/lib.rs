//! `cargo setup` and the headless notebook toolchain: a project-local Python
//! venv with Jupyter and nbconvert, the evcxr Rust kernel registered in that
//! venv, libtorch, Chromium, the `mnist` CLI the notebooks run, and the
//! runner that executes notebooks and exports them to HTML.
//!
//! Everything in the project that installs something or runs a package
//! manager or cargo is here, in its own crate: the `mnist_support` library
//! never does.
//!
//! Nothing here touches the system: the venv is `<project>/.venv`, the kernel
//! spec lives inside it, `evcxr_jupyter` is installed with `cargo install`
//! (into cargo's own bin directory) only when the pinned version is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod browser;

/// The project's root: the directory above `mnist_support/`.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Is `name` an executable on PATH?
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(name).is_file()))
}

/// Cargo's home: `CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// The evcxr_jupyter version the notebooks are tested with.
pub const EVCXR_VERSION: &str = "0.22.0";
/// The kernel name written into every notebook.
pub const KERNEL_NAME: &str = "rust";

/// Errors of the toolchain setup, with what to do about them.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("`{cmd}` could not be started: {source}\n{hint}")]
    Spawn {
        cmd: String,
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` failed ({status}).\n{hint}")]
    Failed {
        cmd: String,
        status: String,
        hint: String,
    },
    #[error("{0}")]
    Io(String),
}

pub type SetupResult<T> = std::result::Result<T, SetupError>;

/// Where everything lives.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub venv: PathBuf,
    pub python: PathBuf,
    pub jupyter_data: PathBuf,
    pub kernel_dir: PathBuf,
    pub runner: PathBuf,
    pub requirements: PathBuf,
    /// The kernels' persistent evcxr build directories (`scripts/kernel_launcher.py`).
    pub kernel_pool: PathBuf,
    pub launcher: PathBuf,
    pub notebooks: PathBuf,
    /// Executed notebooks and their HTML exports.
    pub executed: PathBuf,
}

impl Paths {
    pub fn new() -> Self {
        let root = project_root();
        let venv = root.join(".venv");
        let jupyter_data = venv.join("share").join("jupyter");
        Paths {
            python: venv.join("bin").join("python"),
            kernel_dir: jupyter_data.join("kernels").join(KERNEL_NAME),
            jupyter_data,
            venv,
            runner: root
                .join("mnist_support")
                .join("scripts")
                .join("run_notebooks.py"),
            requirements: root
                .join("mnist_support")
                .join("scripts")
                .join("requirements.txt"),
            kernel_pool: root.join("target").join("evcxr-pool"),
            launcher: root
                .join("mnist_support")
                .join("scripts")
                .join("kernel_launcher.py"),
            notebooks: root.join("notebooks"),
            executed: root.join("notebooks").join("executed"),
            root,
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Self::new()
    }
}

fn run(cmd: &mut Command, hint: &str) -> SetupResult<()> {
    Running::spawn(cmd, hint)?.wait()
}

/// A command started in the background ([`Running::spawn`]): killed when
/// dropped before [`Running::wait`] (setup failed elsewhere meanwhile).
struct Running {
    child: Option<std::process::Child>,
    shown: String,
    hint: String,
}

impl Running {
    fn spawn(cmd: &mut Command, hint: &str) -> SetupResult<Running> {
        let shown = format!("{cmd:?}").replace('"', "");
        let child = cmd.spawn().map_err(|e| SetupError::Spawn {
            cmd: shown.clone(),
            hint: hint.to_string(),
            source: e,
        })?;
        Ok(Running {
            child: Some(child),
            shown,
            hint: hint.to_string(),
        })
    }

    fn wait(mut self) -> SetupResult<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = child.wait().map_err(|e| SetupError::Spawn {
            cmd: self.shown.clone(),
            hint: self.hint.clone(),
            source: e,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(SetupError::Failed {
                cmd: std::mem::take(&mut self.shown),
                status: status.to_string(),
                hint: std::mem::take(&mut self.hint),
            })
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn io<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> SetupError {
    move |e| SetupError::Io(format!("{what}: {e}"))
}

/// Create the venv and install the pinned Python packages (skipped when the
/// requirements file has not changed since the last install).
pub fn ensure_venv(p: &Paths) -> SetupResult<()> {
    if !p.python.is_file() {
        eprintln!("setup: creating Python venv in {}", p.venv.display());
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&p.venv),
            "Python 3 with the venv module is required (Debian/Ubuntu: apt-get install python3-venv).",
        )?;
    }
    pip_install(
        p,
        &p.requirements,
        ".mnist-requirements.md5",
        "setup: installing Jupyter, nbclient and nbconvert into the venv",
        "pip could not install the notebook tools; check access to PyPI.",
    )
}

/// `pip install -r requirements` into the venv, unless the file is unchanged
/// since the last install (its MD5 is kept in `<venv>/<stamp>`).
fn pip_install(
    p: &Paths,
    requirements: &Path,
    stamp: &str,
    note: &str,
    hint: &'static str,
) -> SetupResult<()> {
    let req = std::fs::read(requirements).map_err(io(requirements.display()))?;
    let stamp = p.venv.join(stamp);
    let want = format!("{:x}", md5::compute(&req));
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    eprintln!("{note}");
    run(
        Command::new(&p.python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
        hint,
    )?;
    std::fs::write(&stamp, want).map_err(io(stamp.display()))
}

/// Install scikit-learn for `mnist compare` into the venv, and PyTorch too
/// when `torch` (pinned in `scripts/compare-requirements.txt` and
/// `compare-torch-requirements.txt`; skipped when the file has not changed
/// since the last install). Returns the comparison script.
pub fn ensure_compare_packages(p: &Paths, torch: bool) -> SetupResult<PathBuf> {
    ensure_venv(p)?;
    let scripts = p.root.join("mnist_support").join("scripts");
    pip_install(
        p,
        &scripts.join("compare-requirements.txt"),
        ".mnist-compare-requirements.md5",
        "compare: installing scikit-learn into the venv",
        "pip could not install scikit-learn; check access to PyPI.",
    )?;
    if torch {
        pip_install(
            p,
            &scripts.join("compare-torch-requirements.txt"),
            ".mnist-compare-torch-requirements.md5",
            "compare: installing PyTorch into the venv (once; about 4.7 GB with its CUDA libraries)",
            "pip could not install PyTorch; check access to PyPI.",
        )?;
    }
    Ok(scripts.join("compare.py"))
}

/// Path of an `evcxr_jupyter` of the pinned version, if cargo installed one.
/// (evcxr_jupyter has no `--version`; `cargo install --list` knows.)
pub fn find_evcxr() -> Option<PathBuf> {
    let listed = Command::new("cargo")
        .args(["install", "--list"])
        .output()
        .ok()?;
    let want = format!("evcxr_jupyter v{EVCXR_VERSION}:");
    if !String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == want)
    {
        return None;
    }
    let cargo_home = cargo_home()?;
    let bin = cargo_home.join("bin").join("evcxr_jupyter");
    bin.is_file().then_some(bin)
}

/// evcxr_jupyter of the pinned version: found, or being installed.
pub struct Evcxr(Result<PathBuf, Running>);

impl Evcxr {
    /// Start installing evcxr_jupyter (pinned, `--locked`) in the background
    /// unless that version is present. Its compile is minutes of CPU, while
    /// the rest of setup (the venv, libtorch, Chromium) is mostly downloads,
    /// so they go on meanwhile; [`Evcxr::finish`] waits for it.
    pub fn start() -> SetupResult<Evcxr> {
        if let Some(p) = find_evcxr() {
            return Ok(Evcxr(Ok(p)));
        }
        eprintln!(
            "setup: installing evcxr_jupyter {EVCXR_VERSION} with cargo, while the rest of setup goes on (once; about 8 minutes on 2 cores)"
        );
        Running::spawn(
            Command::new("cargo").args([
                "install",
                "evcxr_jupyter",
                "--version",
                EVCXR_VERSION,
                "--locked",
            ]),
            "evcxr_jupyter needs a Rust toolchain and a C compiler (Debian: apt-get install build-essential).",
        )
        .map(|r| Evcxr(Err(r)))
    }

    /// The installed evcxr_jupyter, once its install (if any) has finished.
    pub fn finish(self) -> SetupResult<PathBuf> {
        match self.0 {
            Ok(p) => Ok(p),
            Err(install) => {
                install.wait()?;
                eprintln!("setup: evcxr_jupyter {EVCXR_VERSION} installed");
                find_evcxr().ok_or_else(|| {
                    SetupError::Io(format!(
                        "evcxr_jupyter {EVCXR_VERSION} was installed but is not in CARGO_HOME/bin or on PATH"
                    ))
                })
            }
        }
    }
}

/// The kernel spec evcxr would write, started through the pool launcher,
/// plus an `env` block for the kernel.
///
/// Jupyter runs `python kernel_launcher.py POOL evcxr_jupyter ...`: the
/// launcher gives the kernel a persistent build directory of its own from the
/// pool (see `scripts/kernel_launcher.py`), so a notebook opened or restarted
/// reuses the crates an earlier kernel built instead of compiling them again.
///
/// evcxr compiles cells and their dependencies with `opt-level = 2` but with
/// debug assertions and overflow checks on, which makes the numeric code of
/// `mnist_support` (ndarray, matrixmultiply, the training loops) about 3×
/// slower than a release build (softmax training: 27.5 s instead of 8.2 s).
/// The kernel's environment turns both off through Cargo's profile variables
/// (which override the profile evcxr writes) and raises `opt-level` to 3, as
/// in the release profile the CLI and the tests build with.
pub fn kernel_json(p: &Paths, evcxr: &Path, libtorch: &Path) -> serde_json::Value {
    serde_json::json!({
        "argv": [
            p.python.to_string_lossy(),
            p.launcher.to_string_lossy(),
            p.kernel_pool.to_string_lossy(),
            evcxr.to_string_lossy(),
            "--control_file",
            "{connection_file}",
        ],
        "display_name": "Rust",
        "language": "rust",
        "interrupt_mode": "message",
        "env": {
            "CARGO_PROFILE_DEV_DEBUG_ASSERTIONS": "false",
            "CARGO_PROFILE_DEV_OVERFLOW_CHECKS": "false",
            "CARGO_PROFILE_DEV_OPT_LEVEL": "3",
            // tch's build finds libtorch through LIBTORCH; the loaded code needs its libraries.
            "LIBTORCH": libtorch.to_string_lossy(),
            "LD_LIBRARY_PATH": libtorch.join("lib").to_string_lossy(),
        },
    })
}

/// Register the Rust kernel inside the venv's Jupyter data directory. A
/// build directory from before the pool (`target/evcxr`) becomes slot 0.
pub fn ensure_kernel(p: &Paths, evcxr: &Path) -> SetupResult<()> {
    let libtorch = libtorch_dir(p);
    std::fs::create_dir_all(&p.kernel_dir).map_err(io(p.kernel_dir.display()))?;
    let spec = serde_json::to_string_pretty(&kernel_json(p, evcxr, &libtorch)).expect("json");
    let path = p.kernel_dir.join("kernel.json");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(spec.as_str()) {
        std::fs::write(&path, spec).map_err(io(path.display()))?;
        eprintln!(
            "setup: registered the Rust kernel in {}",
            p.kernel_dir.display()
        );
    }
    let old = p.root.join("target").join("evcxr");
    let slot0 = p.kernel_pool.join("0");
    if old.join("target").is_dir() && !slot0.exists() {
        std::fs::create_dir_all(&p.kernel_pool).map_err(io(p.kernel_pool.display()))?;
        std::fs::rename(&old, &slot0).map_err(io(old.display()))?;
        eprintln!("setup: moved {} to {}", old.display(), slot0.display());
    }
    Ok(())
}

/// Debian packages that only tests need, installed with apt-get when missing
/// (as root; otherwise the command to run is printed). Not fatal: only those
/// tests need them.
/// * `chromium`, `chromium-driver`: headless Chromium and its WebDriver for
///   the web page's browser tests;
/// * `debootstrap`: a Debian 13 root in which the Space's Dockerfile is
///   replayed (its image built from source and run as uid 1000).
pub fn ensure_test_packages() {
    let wanted: &[(&str, &str)] = &[
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
        ("debootstrap", "debootstrap"),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| !on_path(program) && !Path::new("/usr/sbin").join(program).exists())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return;
    }
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root || !on_path("apt-get") {
        eprintln!(
            "setup: the browser and Space tests need: sudo apt-get install {}",
            missing.join(" ")
        );
        return;
    }
    eprintln!(
        "setup: installing {} with apt-get (for the browser and Space tests)",
        missing.join(" ")
    );
    let apt = |args: &[&str]| {
        std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let install: Vec<&str> = ["install", "-y", "-qq"]
        .into_iter()
        .chain(missing.iter().copied())
        .collect();
    let ok = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
    if !ok {
        eprintln!(
            "setup: could not install {}; the tests that need them will fail until it is",
            missing.join(" ")
        );
    }
}

/// libtorch version tch 0.26 expects, and the pinned wheels it is assembled from.
pub const LIBTORCH_VERSION: &str = "2.13.0";
const TORCH_WHEELS: &[&str] = &[
    "torch==2.13.0",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-cupti==13.0.85",
];

/// `<venv>/libtorch`: the CPU libtorch for tch (see `scripts/assemble_libtorch.py`).
pub fn libtorch_dir(p: &Paths) -> PathBuf {
    p.venv.join("libtorch")
}

/// Download the pinned wheels with the venv's pip (cached in `<venv>/wheels`)
/// and assemble libtorch from them, unless it is already in place.
pub fn ensure_libtorch(p: &Paths) -> SetupResult<PathBuf> {
    let dir = libtorch_dir(p);
    let version = std::fs::read_to_string(dir.join("build-version")).unwrap_or_default();
    if version.trim() == LIBTORCH_VERSION && dir.join("lib").join("libtorch_cpu.so").exists() {
        return Ok(dir);
    }
    let wheels = p.venv.join("wheels");
    eprintln!(
        "setup: downloading libtorch {LIBTORCH_VERSION} (the torch wheel is 526 MB) into {}",
        wheels.display()
    );
    run(
        Command::new(&p.python)
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "-d"])
            .arg(&wheels)
            .args(TORCH_WHEELS),
        "pip could not download the libtorch wheels from PyPI",
    )?;
    eprintln!("setup: assembling a CPU libtorch in {}", dir.display());
    run(
        Command::new(&p.python)
            .arg(p.root.join("mnist_support/scripts/assemble_libtorch.py"))
            .arg(&wheels)
            .arg(&dir),
        "assembling libtorch failed",
    )?;
    Ok(dir)
}

/// Everything the notebooks and the browser test need: venv, evcxr, kernel
/// spec, Chromium.
pub fn setup() -> SetupResult<Paths> {
    let p = Paths::new();
    let evcxr = Evcxr::start()?;
    ensure_venv(&p)?;
    ensure_libtorch(&p)?;
    ensure_test_packages();
    ensure_kernel(&p, &evcxr.finish()?)?;
    Ok(p)
}

/// The notebooks named (paths or names like `01`), or all of them in order.
pub fn resolve(p: &Paths, names: &[String]) -> SetupResult<Vec<PathBuf>> {
    let notebooks = if names.is_empty() {
        all_notebooks(p)
    } else {
        names
            .iter()
            .map(|n| {
                resolve_notebook(p, n)
                    .ok_or_else(|| SetupError::Io(format!("no notebook named {n:?}")))
            })
            .collect::<SetupResult<Vec<_>>>()?
    };
    if notebooks.is_empty() {
        return Err(SetupError::Io(format!(
            "no notebooks found in {}",
            p.notebooks.display()
        )));
    }
    Ok(notebooks)
}

/// Command 1 after `setup`: execute the notebooks named (default: all, in
/// order) headlessly, writing executed copies and HTML exports to `out`
/// (default: notebooks/executed/). Notebook 01 finds or downloads MNIST.
/// `Ok(false)` when a notebook failed (the runner has shown its error).
pub fn notebooks(names: &[String], out: Option<PathBuf>) -> SetupResult<bool> {
    let p = setup()?;
    let notebooks = resolve(&p, names)?;
    let out = out.unwrap_or_else(|| p.executed.clone());
    eprintln!(
        "notebooks: executing {} notebook(s); output in {}",
        notebooks.len(),
        out.display()
    );
    let status = runner_command(&p, &notebooks, &out)
        .status()
        .map_err(|e| SetupError::Spawn {
            cmd: "the notebook runner".into(),
            hint: "run `cargo setup` again".into(),
            source: e,
        })?;
    if !status.success() {
        eprintln!(
            "notebooks: FAILED (executed copies and HTML up to the failure are in {})",
            out.display()
        );
        return Ok(false);
    }
    println!(
        "notebooks: all ok; executed notebooks and HTML exports in {}",
        out.display()
    );
    Ok(true)
}

/// Is the toolchain in place (without installing anything)?
pub fn is_setup(p: &Paths) -> bool {
    p.python.is_file() && p.kernel_dir.join("kernel.json").is_file() && p.runner.is_file()
}

/// The notebooks of the project in execution order (file names sort in order).
pub fn all_notebooks(p: &Paths) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(&p.notebooks)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "ipynb"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Resolve a notebook given as a path or a name (`01_prepare_data`, `01`).
pub fn resolve_notebook(p: &Paths, name: &str) -> Option<PathBuf> {
    let direct = PathBuf::from(name);
    if direct.is_file() {
        return Some(direct);
    }
    all_notebooks(p).into_iter().find(|f| {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        stem == name || stem.starts_with(&format!("{name}_"))
    })
}

/// Command that executes `notebooks` headlessly, writing executed copies and
/// HTML exports to `out`. A failing cell fails the command, with its message.
pub fn runner_command(p: &Paths, notebooks: &[PathBuf], out: &Path) -> Command {
    let mut cmd = Command::new(&p.python);
    cmd.arg(&p.runner)
        .arg("--out")
        .arg(out)
        .arg("--kernel")
        .arg(KERNEL_NAME)
        .args(notebooks)
        .env("JUPYTER_PLATFORM_DIRS", "1")
        // The last notebook's checklist reads this run's executed notebooks.
        .env(
            "MNIST_EXECUTED_DIR",
            std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()),
        );
    // The kernels run in notebooks/: a relative MNIST_DIR goes on absolute.
    if let Some(dir) = std::env::var_os("MNIST_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        cmd.env("MNIST_DIR", std::path::absolute(&dir).unwrap_or(dir));
    }
    cmd
}
