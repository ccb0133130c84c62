#!/usr/bin/env python3
"""Time the first cells of notebooks in kernels started the way Jupyter Lab
starts them: `mnist first-cell` runs this.

usage: first_cell.py [--together] [--cells N] [--rounds R] NOTEBOOK...

Each kernel is started from the registered Rust kernel spec (so through the
pool launcher) by jupyter_client's AsyncKernelManager, in the notebook's
directory, as Jupyter Lab's kernel manager does; then the notebook's first N
code cells (default 2: the `:dep` line and the `use` line) run one by one and
are timed. With --together, the kernels of all the notebooks start at once
(several notebooks open at the same time); otherwise one after another.
--rounds repeats the whole thing (round 1 on an empty pool is the cold start).

Prints a table, and one JSON line per kernel on stdout after `JSON `.
A cell that fails (status error or output on stderr) fails the run (exit 1).
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager


def pool_dir():
    pool = os.environ.get("MNIST_KERNEL_POOL")
    if pool:
        return Path(pool)
    spec = json.loads(
        (Path(sys.prefix) / "share/jupyter/kernels/rust/kernel.json").read_text()
    )
    return Path(spec["argv"][2])


def slot_of(pid):
    for f in pool_dir().glob("*.pid"):
        try:
            if int(f.read_text().strip()) == pid:
                return f.stem
        except (OSError, ValueError):
            pass
    return "?"


async def one(nb_path, cells, timeout):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"][:cells]
    km = AsyncKernelManager(kernel_name="rust")
    t0 = time.perf_counter()
    await km.start_kernel(cwd=str(nb_path.parent.resolve()))
    kc = km.client()
    kc.start_channels()
    row = {"notebook": nb_path.stem, "cells_s": [], "ok": True}
    try:
        await kc.wait_for_ready(timeout=600)
        row["start_s"] = time.perf_counter() - t0
        row["slot"] = slot_of(km.provisioner.process.pid)
        for src in code:
            stderr = []

            def hook(msg):
                if msg["msg_type"] == "stream" and msg["content"]["name"] == "stderr":
                    stderr.append(msg["content"]["text"])
                if msg["msg_type"] == "error":
                    stderr.append(msg["content"].get("evalue", "error"))

            t = time.perf_counter()
            reply = await kc.execute_interactive(src, timeout=timeout, output_hook=hook)
            row["cells_s"].append(time.perf_counter() - t)
            if reply["content"]["status"] != "ok" or stderr:
                row["ok"] = False
                row["error"] = "".join(stderr)[-2000:] or reply["content"].get("evalue", "")
                break
    finally:
        kc.stop_channels()
        await km.shutdown_kernel()
    return row


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--together", action="store_true")
    ap.add_argument("--cells", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = ap.parse_args()
    # Stopped (SIGTERM; Ctrl-C is handled by asyncio.run): cancel, so every
    # kernel started is shut down by its `finally` rather than left running.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    print(f"kernel pool: {pool_dir()}", flush=True)
    print(f"{'round':>5} {'notebook':<22} {'slot':>4} {'start s':>8} {'cell 1 s':>9} {'cell 2 s':>9}", flush=True)
    ok = True
    for r in range(1, args.rounds + 1):
        if args.together:
            rows = await asyncio.gather(*(one(nb, args.cells, args.timeout) for nb in args.notebooks))
        else:
            rows = [await one(nb, args.cells, args.timeout) for nb in args.notebooks]
        for row in rows:
            row["round"] = r
            row["together"] = args.together
            cells = " ".join(f"{s:>9.1f}" for s in row["cells_s"])
            print(f"{r:>5} {row['notebook']:<22} {row.get('slot', '?'):>4} {row.get('start_s', 0):>8.1f} {cells}", flush=True)
            if not row["ok"]:
                ok = False
                print(f"      FAILED: {row.get('error', '')}", file=sys.stderr, flush=True)
            print("JSON " + json.dumps(row), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)
