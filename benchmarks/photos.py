"""Photo uploads: peak memory and time of checking, cleaning and storing, before and after issue 8.

Run: .venv/bin/python benchmarks/photos.py [--quick]

Each case runs in a child process of its own, so its peak RSS (VmHWM, the high-water mark) is
the upload's alone; the inputs are built beforehand by this process and read from files.
"added" is the peak minus the child's RSS just before the upload (Python, Pillow, the inputs).

"before" is `backend/services/media.py` as it was at BEFORE (no pixel cap below 60 MP, full-size
decode, up to the default thread pool's 6 decodes at once on 2 cores); "after" is the current
work tree. Cases:

* bomb: one 172 KB PNG that declares 59 megapixels (the issue's report);
* 12 MP JPEG: one 4000 x 3000 phone photo;
* 8 x 12 MP JPEG, 8 x bomb, 8 x 36 MP PNG: that many uploads at once (`asyncio.gather`), the
  last the largest PNG the pixel cap lets through. Skipped by --quick.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, import from the project root (tests.*, benchmarks.common).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

from PIL import Image  # noqa: E402

from backend.errors import PhotoRejected  # noqa: E402
from benchmarks.common import print_table, source_state  # noqa: E402

BEFORE = "b4b84025d212fb04e8740953ba46622177c69542"  # the last commit before the photo fix
CASES: dict[str, tuple[str, int]] = {  # case -> (input, uploads at once)
    "bomb (59 MP PNG, 172 KB)": ("bomb.png", 1),
    "12 MP JPEG": ("12mp.jpg", 1),
    "8 x 12 MP JPEG at once": ("12mp.jpg", 8),
    "8 x bomb at once": ("bomb.png", 8),
    "8 x 36 MP PNG at once": ("36mp.png", 8),
}
QUICK = ["bomb (59 MP PNG, 172 KB)", "12 MP JPEG"]


def build_inputs(folder: Path) -> None:
    from tests.chat import png_bomb  # here, not at the top: it pulls in the whole service

    (folder / "bomb.png").write_bytes(png_bomb())
    # Smooth light with sensor noise: compresses like a phone photo (about 4 MB).
    light = Image.linear_gradient("L").resize((4000, 3000))
    noise = Image.effect_noise((4000, 3000), 24)
    photo = Image.merge("RGB", (light, Image.blend(light, noise, 0.5), noise))
    photo.save(folder / "12mp.jpg", quality=90)
    # A drawing-like PNG: at 36 MP only such pictures fit under the 20 MB file limit.
    Image.linear_gradient("L").resize((7200, 5000)).convert("RGB").save(folder / "36mp.png")


def media_store_class(impl: str) -> Any:
    if impl == "after":
        from backend.services.media import MediaStore

        return MediaStore
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:backend/services/media.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("media_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "media_before.py", "exec"), module.__dict__)  # noqa: S102 - own code
    return module.MediaStore


def status_kb(field: str) -> int:
    """VmRSS / VmHWM of this process in KiB. Not ru_maxrss: Linux carries the parent's
    high-water mark over fork and exec into it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current RSS


def child(impl: str, input_path: Path, uploads: int) -> None:
    """One case in this process: print what it took as one JSON line."""
    store = media_store_class(impl)(Path(tempfile.mkdtemp(prefix="photos-bench-")))
    # Distinct bytes per upload (a trailing byte after the image), as from 8 residents.
    data = [input_path.read_bytes() + bytes([n]) for n in range(uploads)]

    async def one(photo: bytes) -> str:
        try:
            stored = await store.store_photo(photo)
        except PhotoRejected as exc:
            return f"refused: {exc.reason}"
        return f"stored {stored.width}x{stored.height}"

    async def run() -> list[str]:
        return list(await asyncio.gather(*(one(d) for d in data)))

    gc.collect()
    reset_peak()
    baseline = status_kb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = asyncio.run(run())
    peak = status_kb("VmHWM")
    result = {
        "outcome": ", ".join(sorted(set(outcomes))),
        "peak_kb": peak,
        "added_kb": peak - baseline,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
    }
    print(json.dumps(result))


def measure(impl: str, case: str, folder: Path) -> dict[str, Any]:
    name, uploads = CASES[case]
    done = subprocess.run(
        [sys.executable, __file__, "--child", impl, str(folder / name), str(uploads)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{case} ({impl}) failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the single uploads")
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "INPUT", "UPLOADS"), help="internal")
    args = parser.parse_args()
    if args.child:
        impl, input_path, uploads = args.child
        child(impl, Path(input_path), int(uploads))
        return 0
    print(f"measured: {source_state()}, before = {BEFORE[:7]}")
    rows = [["case", "impl", "outcome", "peak RSS", "added", "wall", "CPU"]]
    with tempfile.TemporaryDirectory(prefix="photos-bench-") as tmp:
        folder = Path(tmp)
        build_inputs(folder)
        for case in QUICK if args.quick else list(CASES):
            for impl in ("before", "after"):
                r = measure(impl, case, folder)
                rows.append(
                    [
                        case,
                        impl,
                        r["outcome"],
                        f"{r['peak_kb'] / 1024:.0f} MB",
                        f"{r['added_kb'] / 1024:.0f} MB",
                        f"{r['wall_s']:.2f} s",
                        f"{r['cpu_s']:.2f} s",
                    ]
                )
                print(f"  {case}, {impl}: {r['outcome']}", file=sys.stderr, flush=True)
    print_table(rows, right={3, 4, 5, 6})
    return 0


if __name__ == "__main__":
    sys.exit(main())
