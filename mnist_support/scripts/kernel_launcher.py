#!/usr/bin/env python3
"""Start evcxr_jupyter with a persistent build directory from a small pool.

usage: kernel_launcher.py POOL EVCXR_JUPYTER [ARGS...]

Every Rust kernel starts through this launcher (the kernel spec `mnist setup`
registers names it), in Jupyter Lab and in the headless export alike. evcxr
compiles each notebook's crates in its build directory; by default that is a
fresh temporary directory, so every kernel start rebuilt mnist_support and its
dependencies (50 s, or 4 minutes with tch and polars). Here each kernel gets a
*slot* of the pool instead: POOL/0, POOL/1, ..., the first one no other kernel
holds, and a notebook opened or restarted reuses what earlier kernels built.

* A slot is held through an exclusive flock on POOL/<n>.lock, kept by this
  process while evcxr runs and released by its exit, however it ends (Jupyter
  signals the kernel's whole process group). Two kernels never share a slot.
  POOL/<n>.pid says which process holds it.
* A slot that has never built anything is seeded once with a copy of a built
  slot (`cp -a --reflink=auto`), under that slot's cargo build locks, so the
  copy never sees a half-written artifact. Cargo maps build-script output
  paths to the new directory by itself, so the copy is reused as it is.
* MNIST_KERNEL_POOL, when set, replaces POOL (the first-cell benchmark uses an
  empty pool to measure cold starts).
* SIGINT, SIGTERM and SIGHUP sent to the launcher alone are passed on to evcxr.

Messages go to stderr (Jupyter's server log).
"""

import fcntl
import glob
import os
import shutil
import signal
import subprocess
import sys
import time


def say(msg):
    print(f"kernel_launcher: {msg}", file=sys.stderr, flush=True)


def try_lock(path):
    """An open, exclusively flocked file, or None when another process holds it."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except BlockingIOError:
        f.close()
        return None


def take_slot(pool):
    """The first free slot: (its number, its held lock file)."""
    n = 0
    while True:
        lock = try_lock(os.path.join(pool, f"{n}.lock"))
        if lock is not None:
            return n, lock
        n += 1


def built(slot_dir):
    return os.path.isdir(os.path.join(slot_dir, "target"))


def seed(pool, n, slot_dir):
    """Copy the lowest-numbered built slot (slot 0 is the one the headless
    export keeps warm) into the empty slot `n`."""
    sources = sorted(
        (int(name), os.path.join(pool, name))
        for name in os.listdir(pool)
        if name.isdigit() and int(name) != n and built(os.path.join(pool, name))
    )
    if not sources:
        return
    src = sources[0][1]
    # Cargo holds these while it builds; holding them keeps the copy whole.
    # (The host layout first, then the target's, as cargo takes them.)
    target = os.path.join(src, "target")
    paths = sorted(glob.glob(os.path.join(target, "*", ".cargo-lock")))
    paths += sorted(glob.glob(os.path.join(target, "*", "*", ".cargo-lock")))
    locks = []
    for path in paths:
        f = open(path, "a+")
        fcntl.flock(f, fcntl.LOCK_EX)
        locks.append(f)
    t = time.monotonic()
    partial = slot_dir + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    say(f"seeding build slot {n} from {os.path.basename(src)} (once)")
    try:
        ok = subprocess.run(["cp", "-a", "--reflink=auto", src, partial]).returncode == 0
        if ok:
            shutil.rmtree(slot_dir, ignore_errors=True)
            os.rename(partial, slot_dir)
            say(f"seeded slot {n} in {time.monotonic() - t:.1f} s")
        else:
            say(f"could not copy {src}; slot {n} builds from scratch")
    finally:
        # Also when stopped half-way (subprocess.run kills cp on the way out).
        shutil.rmtree(partial, ignore_errors=True)
        for f in locks:
            f.close()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    # Stopped before evcxr runs (say, while seeding): unwind, so the
    # cleanup above runs and the slot's lock goes with the process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(128 + signal.SIGHUP))
    pool = os.path.abspath(os.environ.get("MNIST_KERNEL_POOL") or sys.argv[1])
    os.makedirs(pool, exist_ok=True)
    n, lock = take_slot(pool)
    slot_dir = os.path.join(pool, str(n))
    pid_file = os.path.join(pool, f"{n}.pid")
    with open(pid_file, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        code = run_kernel(pool, n, slot_dir)
    finally:
        try:
            os.remove(pid_file)
        except OSError:
            pass
        lock.close()
    sys.exit(code if code >= 0 else 128 - code)


def run_kernel(pool, n, slot_dir):
    """Seed the slot if it is new, then run evcxr in it; its exit status."""
    if not built(slot_dir):
        seed(pool, n, slot_dir)
    os.makedirs(slot_dir, exist_ok=True)
    say(f"build slot {slot_dir}")
    env = dict(os.environ, EVCXR_TMPDIR=slot_dir)
    child = subprocess.Popen(sys.argv[2:], env=env)

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)
    return child.wait()


if __name__ == "__main__":
    main()
