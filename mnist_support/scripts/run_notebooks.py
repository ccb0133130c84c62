#!/usr/bin/env python3
"""Execute notebooks headlessly on the evcxr Rust kernel and export them to HTML.

Used by `mnist notebooks` (and so by the README's run-everything command and the
notebook tests). For each notebook, in the order given:

* runs every code cell, printing one progress line per cell. The notebooks of
  one directory share one kernel, cleared (`:clear`) before each notebook
  after the first: the notebook's code runs in a fresh process with no
  variables, items or dependencies of the one before, while the kernel keeps
  what it learned about the crates. A new kernel would spend about 40 s of
  its first cells in evcxr's rust-analyzer (loading the standard library,
  then every crate of the dependency graph, then resolving them for the first
  variable) before any of the notebook's own work; measured 32 s against
  2.7 s for the same four cells. Execution counts are numbered per notebook,
  as a kernel of its own would number them;
* stops at the first failing cell and fails the run, printing the cell's source
  and its error. evcxr does not report failures the Jupyter way: a compile
  error comes back as status "error" without ename/evalue/traceback, and a
  panic or an error returned with `?` comes back as status "ok" with the
  message on stderr only. So a cell counts as failed when its reply status is
  "error", when it produced an `error` output, when it wrote anything to
  stderr (the notebooks print progress to stdout; tag a cell `allow-stderr`
  to exempt it), or when the kernel died. nbclient's own check is not used;
* writes the executed notebook and an HTML export (images embedded) to --out,
  also for a failed run, so the failure can be looked at;
* writes <out>/run_summary.json with per-notebook cell counts, images and seconds.

Exit status: 0 when every notebook ran clean, 1 when a cell failed, 2 on usage errors.
"""

import argparse
import asyncio
import itertools
import json
import queue
import re
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

LATE_OUTPUT_QUIET_S = 0.3
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CellFailed(Exception):
    def __init__(self, index, cell, reason):
        super().__init__(reason)
        self.index = index
        self.cell = cell
        self.reason = reason


def error_text(cell, reply=None):
    """Everything a failed cell said about its failure."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
            parts.extend(out.get("traceback", []) or [])
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
    if reply is not None:
        content = reply.get("content", {})
        for key in ("ename", "evalue"):
            if content.get(key):
                parts.append(str(content[key]))
        parts.extend(content.get("traceback", []) or [])
    text = "\n".join(ANSI.sub("", str(p)).rstrip() for p in parts if str(p).strip())
    return text or "(the kernel reported an error but gave no message)"


def count_images(cell):
    n = 0
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if "image/png" in data or "image/svg+xml" in data:
            n += 1
        html = data.get("text/html", "")
        if isinstance(html, list):
            html = "".join(html)
        n += html.count("data:image/png;base64,")
    return n


async def clear(kc, timeout):
    """`:clear` in a kernel a notebook ran in before: a fresh process, no state."""
    reply = await kc.execute_interactive(":clear", timeout=timeout, output_hook=lambda msg: None)
    if reply["content"].get("status") != "ok":
        raise CellFailed("`:clear` before the notebook", None, f"the kernel answered {reply['content']}")


async def run_notebook(path, out_dir, km, kc, timeout):
    """Run one notebook in `km`'s kernel (started here when it has none) and
    return (its result, the kernel client to reuse)."""
    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    state = {"done": 0, "t": time.time()}
    name = path.stem

    async def drain_late_output(cell, execute_reply):
        # evcxr forwards the kernel's stderr on its own thread, with no
        # ordering against the execute reply: a panic message or a `?` error
        # can arrive after the cell went idle, and nbclient would drop it.
        # Collect whatever this cell still says until the channel is quiet.
        parent = (execute_reply or {}).get("parent_header", {}).get("msg_id")
        while True:
            try:
                msg = await client.kc.get_iopub_msg(timeout=LATE_OUTPUT_QUIET_S)
            except queue.Empty:
                return
            if msg.get("parent_header", {}).get("msg_id") != parent:
                continue
            if msg["msg_type"] in ("stream", "error", "display_data", "execute_result"):
                cell.setdefault("outputs", []).append(nbformat.v4.output_from_msg(msg))

    async def on_cell_executed(cell, cell_index, execute_reply):
        await drain_late_output(cell, execute_reply)
        state["done"] += 1
        dt = time.time() - state["t"]
        state["t"] = time.time()
        status = (execute_reply or {}).get("content", {}).get("status", "ok")
        outputs = cell.get("outputs", [])
        stderr = "allow-stderr" not in cell.get("metadata", {}).get("tags", []) and any(
            o.get("output_type") == "stream" and o.get("name") == "stderr" and o.get("text", "").strip()
            for o in outputs
        )
        # The shared kernel counts on across notebooks; a kernel of the
        # notebook's own would have counted from 1.
        cell["execution_count"] = state["done"]
        for out in outputs:
            if "execution_count" in out:
                out["execution_count"] = state["done"]
        failed = status == "error" or stderr or any(o.get("output_type") == "error" for o in outputs)
        mark = "FAILED" if failed else "ok"
        print(f"[{name}] cell {state['done']}/{len(code_cells)} {mark} ({dt:.1f} s)", flush=True)
        if failed:
            raise CellFailed(f"code cell {state['done']} (notebook cell {cell_index + 1})", cell,
                             error_text(cell, execute_reply))

    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        allow_errors=True,  # we decide what failed, see on_cell_executed
        record_timing=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        on_cell_executed=on_cell_executed,
    )
    failure = None
    t0 = time.time()
    try:
        if kc is not None:
            await clear(kc, timeout)
            client.kc = kc
        await client.async_execute()
    except CellFailed as e:
        failure = e
    except (DeadKernelError, CellTimeoutError) as e:
        failure = CellFailed(f"code cell {state['done'] + 1}", None, f"{type(e).__name__}: {e}")
    except RuntimeError as e:  # e.g. "Kernel died before replying to kernel_info"
        failure = CellFailed("kernel start", None,
                             f"the {km.kernel_name!r} kernel did not start: {e} (its own messages are above)")
    seconds = time.time() - t0

    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / f"{name}.ipynb")
    exporter = HTMLExporter(embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    (out_dir / f"{name}.html").write_text(body, encoding="utf-8")

    images = sum(count_images(c) for c in nb.cells if c.cell_type == "code")
    result = {
        "notebook": name,
        "code_cells": len(code_cells),
        "executed": state["done"],
        "images": images,
        "seconds": round(seconds, 1),
        "ok": failure is None,
    }
    if failure is not None:
        src = failure.cell.get("source", "") if failure.cell is not None else ""
        result["error"] = failure.reason
        print(f"\n[{name}] FAILED in {failure.index}:", file=sys.stderr)
        if src:
            print("---- cell source ----\n" + src + "\n---- error ----", file=sys.stderr)
        print(failure.reason, file=sys.stderr, flush=True)
    else:
        print(f"[{name}] ok: {len(code_cells)} cells, {images} images, {seconds:.0f} s", flush=True)
    return result, client.kc


async def run_all(paths, out, kernel, timeout):
    """Run the notebooks in order, each run of notebooks from one directory in
    one kernel (started there, its working directory), until one fails."""
    results = []
    for _, group in itertools.groupby(paths, key=lambda p: p.parent.resolve()):
        km, kc = AsyncKernelManager(kernel_name=kernel), None
        try:
            for path in group:
                r, kc = await run_notebook(path, out, km, kc, timeout)
                results.append(r)
                if not r["ok"]:
                    return results
        finally:
            if km.has_kernel:
                await km.shutdown_kernel()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--kernel", default="rust")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = ap.parse_args()

    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = asyncio.run(run_all(args.notebooks, args.out, args.kernel, args.timeout))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run_summary.json").write_text(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results) and len(results) == len(args.notebooks) else 1


if __name__ == "__main__":
    sys.exit(main())
