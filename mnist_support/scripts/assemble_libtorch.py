"""Assemble a CPU-only libtorch directory for tch from PyPI wheels.

usage: assemble_libtorch.py WHEELS_DIR OUT_DIR

The wheels (downloaded by `mnist setup` with pip, versions pinned) are checked
against their sha256, then the parts libtorch needs are extracted: the torch
wheel's include/ and lib/{libtorch_cpu.so, libc10.so, libgomp.so.1}, plus
libcudart.so.13 and libcupti.so.13, which the wheel's libtorch_cpu.so loads
even on CPU. libtorch.so links to libtorch_cpu.so; build-version says 2.13.0.
The directory is built next to OUT_DIR and renamed into place at the end.
"""
import hashlib
import os
import shutil
import sys
import zipfile

VERSION = "2.13.0"
WHEELS = {
    "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl":
        "60fcdcb2f3876e21146cb4524ef06397d727ca9ad5f020818547e25075fe3cb7",
    "nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl":
        "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
    "nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl":
        "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8",
}
LIBS = {
    "torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libgomp.so.1",
    "nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libcupti.so.13",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(wheels, out):
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "lib"))
    for name, digest in WHEELS.items():
        path = os.path.join(wheels, name)
        if not os.path.exists(path):
            sys.exit(f"missing wheel {path}")
        found = sha256(path)
        if found != digest:
            sys.exit(f"{path}: sha256 {found}, expected {digest}")
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if member.startswith("torch/include/") and not member.endswith("/"):
                    target = os.path.join(tmp, "include", member[len("torch/include/"):])
                elif member in LIBS:
                    target = os.path.join(tmp, "lib", os.path.basename(member))
                else:
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    os.symlink("libtorch_cpu.so", os.path.join(tmp, "lib", "libtorch.so"))
    with open(os.path.join(tmp, "build-version"), "w") as f:
        f.write(VERSION + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
