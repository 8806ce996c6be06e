"""Execute the book's notebooks with papermill under a profile, then build the HTML with Jupyter Book 1.x.

Called by ``scripts/build.sh`` (which prepares the environment). Quick profile: each notebook is
executed and then replaces ``notebooks/<name>.ipynb`` atomically (those outputs are committed and are
what nbval compares against). Full profile: executed copies go to ``_runs/full/`` with a copy of the
book sources, and the HTML to ``_runs/full/_build/html``. Claim records go to ``results/<profile>/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(toc: Path) -> list[str]:
    """Every ``file:`` entry of a Jupyter Book ``_toc.yml``, in reading order."""
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    out = [data["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)

    walk(data)
    return out


def execute(notebook: Path, output: Path, profile: str) -> float:
    """Run one notebook with papermill into ``output`` (atomically); return seconds taken."""
    params = {} if profile == "quick" else {"profile": profile}
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=output.parent, prefix=f".{output.stem}.")
    os.close(fd)
    start = time.time()
    try:
        pm.execute_notebook(
            str(notebook), tmp, parameters=params, kernel_name="python3", cwd=str(notebook.parent),
            progress_bar=not os.environ.get("CI"), log_output=False,
        )
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return time.time() - start


def machine() -> str:
    """A short description of this machine for the timings (accelerator if torch sees one)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return f"a {os.cpu_count()}-core CPU"


def record_timing(profile: str, chapter: str, seconds: float) -> None:
    """Add one notebook's execution time to ``results/<profile>/timings.json`` (atomic write)."""
    from mmtheory._io import atomic_write_json
    from mmtheory.book import load_timings

    key = profile if "cuda" not in machine().lower() and "nvidia" not in machine().lower() else f"gpu-{profile}"
    data = load_timings(ROOT / "results", key)
    data[chapter] = {"seconds": round(seconds, 1), "machine": machine()}
    atomic_write_json(ROOT / "results" / key / "timings.json", data)


def add_rerun_boxes(folder: Path) -> None:
    """Insert the re-run box under the title of every staged notebook (the committed ones stay as they are)."""
    import nbformat

    from mmtheory.book import load_timings, rerun_box

    timings = {k: load_timings(ROOT / "results", k) for k in ("quick", "full", "gpu-full")}
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        title, _, rest = first.source.partition("\n")
        box = nbformat.v4.new_markdown_cell(rerun_box(path.stem, timings))
        if first.cell_type == "markdown" and title.startswith("# ") and rest.strip():
            first.source = title  # the box goes right under the chapter title
            nb.cells[1:1] = [box, nbformat.v4.new_markdown_cell(rest.strip("\n"))]
        else:
            nb.cells.insert(1, box)
        nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--skip-execute", action="store_true", help="build the HTML from the notebooks as they are")
    parser.add_argument("--out", default=None, help="folder for _build/ (default: the repository, or _runs/<profile>)")
    args = parser.parse_args(argv)
    os.environ["MMTHEORY_RESULTS_DIR"] = str(ROOT / "results")
    os.environ["MMTHEORY_PROGRESS"] = "0"  # progress bars would land in the committed outputs
    files = toc_files(ROOT / "_toc.yml")
    notebooks = [f for f in files if f.startswith("notebooks/")]
    # Executed notebooks: in place for quick (committed), under _runs/<profile>/ otherwise.
    run_dir = ROOT if args.profile == "quick" else ROOT / "_runs" / args.profile
    out_dir = ROOT if args.profile == "quick" else run_dir  # the HTML lands in <out_dir>/_build/html
    if args.out:
        out_dir = Path(args.out).resolve()
    total = time.time()
    if not args.skip_execute:
        for i, nb in enumerate(notebooks, 1):
            print(f"[book] ({i}/{len(notebooks)}) executing {nb}.ipynb with the {args.profile} profile ...", flush=True)
            secs = execute(ROOT / f"{nb}.ipynb", run_dir / f"{nb}.ipynb", args.profile)
            record_timing(args.profile, Path(nb).name, secs)
            print(f"[book]     done in {secs:.0f} s", flush=True)
    print("[book] building the HTML with Jupyter Book ...", flush=True)
    # Build from a clean copy of the book's sources only, so stray files in the checkout never reach the book.
    src = out_dir / "_build" / "source"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "book", src / "book")
    shutil.copytree(run_dir / "notebooks", src / "notebooks", ignore=shutil.ignore_patterns(".*"))
    add_rerun_boxes(src / "notebooks")
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output", str(out_dir),
           "--builder", "html", "-W", "--keep-going"]
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        print("error: jupyter-book build failed (warnings are errors); see the messages above.", file=sys.stderr)
        return result.returncode
    index = out_dir / "_build" / "html" / "index.html"
    print(f"[book] built in {time.time() - total:.0f} s. Open: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
