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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--skip-execute", action="store_true", help="build the HTML from the notebooks as they are")
    args = parser.parse_args(argv)
    os.environ["MMTHEORY_RESULTS_DIR"] = str(ROOT / "results")
    os.environ["MMTHEORY_PROGRESS"] = "0"  # progress bars would land in the committed outputs
    files = toc_files(ROOT / "_toc.yml")
    notebooks = [f for f in files if f.startswith("notebooks/")]
    # Executed notebooks: in place for quick (committed), under _runs/<profile>/ otherwise.
    run_dir = ROOT if args.profile == "quick" else ROOT / "_runs" / args.profile
    out_dir = ROOT if args.profile == "quick" else run_dir  # the HTML lands in <out_dir>/_build/html
    total = time.time()
    if not args.skip_execute:
        for i, nb in enumerate(notebooks, 1):
            print(f"[book] ({i}/{len(notebooks)}) executing {nb}.ipynb with the {args.profile} profile ...", flush=True)
            secs = execute(ROOT / f"{nb}.ipynb", run_dir / f"{nb}.ipynb", args.profile)
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
