"""Execute the book's notebooks with papermill under a profile, then build the HTML with Jupyter Book 1.x.

Called by ``scripts/build.sh`` (which prepares the environment). Quick profile: each notebook is
executed and then replaces ``notebooks/<name>.ipynb`` atomically (those outputs are committed and are
what nbval compares against). Full profile (paper scale): each chapter is executed into
``results/full/notebooks/<name>.ipynb`` (committed too, never collected by nbval: CI re-executes the
quick profile only). Claim records go to ``results/<profile>/claims``. Either profile ends with the one
HTML book in ``_build/html``: the quick chapters, then a part "Paper-scale run (full profile)" with every
chapter whose full execution exists, and the scorecard, which always runs under the quick profile and
shows both profiles side by side (so a full build also re-executes it when the full records changed).

Only what changed is executed. A chapter's cache key hashes its notebook's inputs (cell types and
sources, not outputs), its papermill parameters, every file of the ``mmtheory`` package, the pinned
versions (``constraints.txt``) and the data paths it reads from the environment; the scorecard's key
also hashes the claim records of both profiles it tabulates. A chapter whose key equals the one stored in
``results/<profile>/build_cache.json`` by its last execution, and whose executed notebook exists, is
not executed again (``--force`` executes everything). The others run in parallel (``--jobs``, default:
the CPU count; each kernel pins torch to one thread), and the scorecard runs last. Each page's re-run
box says whether its outputs were executed in this build or came from the cache.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mmtheory.book import PAGE_SUFFIX

ROOT = Path(__file__).resolve().parents[1]
CACHE_FILE = "build_cache.json"
SCORECARD = "99_scorecard"
#: Environment variables that change what a chapter computes (real-data paths).
ENV_INPUTS = ("MMTHEORY_IEMOCAP", "MMTHEORY_CREMAD")
#: The run profiles, in the order the book shows them.
PROFILES = ("quick", "full")
#: The sidebar caption of the paper-scale part, and the suffix of its pages' names (beside the quick pages).
FULL_CAPTION = "Paper-scale run (full profile)"
FULL_SUFFIX = PAGE_SUFFIX["full"]  # the package's one value (the scorecard links these pages)


def run_dir_for(profile: str, root: Path | None = None) -> Path:
    """Where the executed notebooks of ``profile`` live: the checkout itself (quick) or ``results/<profile>``."""
    root = ROOT if root is None else root
    return root if profile == "quick" else root / "results" / profile


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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def notebook_inputs_hash(path: Path) -> str:
    """Hash of a notebook's cells (type and source), ignoring outputs, metadata and papermill's injected cell."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell.get("source", "")
        cells.append([cell.get("cell_type"), "".join(src) if isinstance(src, list) else src])
    return _sha(json.dumps(cells, sort_keys=True).encode())


def _listed_files(p: Path, base: Path) -> list[Path] | None:
    """Files under ``p`` that git tracks or would track (ignored files such as caches left out); None without git."""
    if not (base / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "--", str(p.relative_to(base))],
                             cwd=base, capture_output=True, check=True).stdout
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None
    return [base / name for name in out.decode().split("\0") if name and (base / name).is_file()]


def tree_hash(paths: list[Path], base: Path = ROOT) -> str:
    """Hash of the names and bytes of every file under ``paths``.

    In a git checkout only the files git tracks or would track count (what a fresh clone has, plus new
    files not yet committed); otherwise every file, ``__pycache__`` skipped.
    """
    from mmtheory._digest import source_digest

    files = []
    for p in paths:
        p = Path(p)
        listed = _listed_files(p, base) if p.exists() else None
        if listed is not None:
            files += listed
        elif p.is_dir():
            files += [f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"]
        elif p.is_file():
            files.append(p)
    return source_digest(files, base)  # the package's one source hasher


def params_for(profile: str) -> dict:
    """Papermill parameters of every chapter under ``profile`` (the quick profile is the notebooks' default)."""
    return {} if profile == "quick" else {"profile": profile}


def cache_key(chapter: str, notebook: Path, profile: str, package: str, results: Path) -> str:
    """The cache key of one chapter (see the module docstring); ``package``: :func:`tree_hash` of the package."""
    parts = {"notebook": notebook_inputs_hash(notebook), "params": params_for(profile), "package": package,
             "env": {k: os.environ.get(k) for k in ENV_INPUTS}}
    if chapter == SCORECARD:  # it tabulates the records of every profile, side by side
        parts["claims"] = {p: tree_hash([results / p / "claims"], base=results) for p in PROFILES}
    return _sha(json.dumps(parts, sort_keys=True).encode())


def package_hash() -> str:
    """:func:`tree_hash` of the package and the pinned versions."""
    return tree_hash([ROOT / "mmtheory", ROOT / "constraints.txt"])


def load_cache(profile: str) -> dict:
    """``{chapter: {"key", "executed", "seconds"}}`` stored by earlier builds of ``profile`` ({} if none)."""
    path = ROOT / "results" / profile / CACHE_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        print(f"[book] warning: {path} is not valid JSON; every chapter will be executed.", flush=True)
        return {}


def store_cache(profile: str, chapter: str, key: str, seconds: float) -> None:
    """Record one chapter's key after a successful execution (atomic write)."""
    from mmtheory._io import atomic_write_json

    data = load_cache(profile)
    data[chapter] = {"key": key, "executed": datetime.date.today().isoformat(), "seconds": round(seconds, 1)}
    atomic_write_json(ROOT / "results" / profile / CACHE_FILE, dict(sorted(data.items())))


def execute(notebook: Path, output: Path, profile: str, progress: bool = True) -> float:
    """Run one notebook with papermill into ``output`` (atomically); return seconds taken."""
    import papermill as pm

    params = params_for(profile)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=output.parent, prefix=f".{output.stem}.")
    os.close(fd)
    start = time.time()
    try:
        pm.execute_notebook(
            str(notebook), tmp, parameters=params, kernel_name="python3", cwd=str(notebook.parent),
            progress_bar=progress and not os.environ.get("CI"), log_output=False,
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


def build_states(notebooks: list[str], profile: str, run_dir: Path, executed: set[str]) -> dict[str, dict]:
    """Per chapter, where its outputs come from: ``{"state": "executed" | "cache" | "stale", "date": ...}``.

    ``executed``: the chapters run by this build; for the others, ``cache`` if the stored key still
    matches the chapter's inputs, ``stale`` if not (a build with ``--skip-execute`` after a change).
    """
    cache, package, out = load_cache(profile), package_hash(), {}
    for nb in notebooks:
        chapter = Path(nb).name
        entry = cache.get(chapter, {})
        if chapter in executed:
            state = "executed"
        elif not (run_dir / f"{nb}.ipynb").exists():
            state = "missing"  # never executed under this profile: no page (the full part lists what exists)
        elif entry.get("key") == cache_key(chapter, run_dir / f"{nb}.ipynb", profile, package, ROOT / "results"):
            state = "cache"
        else:
            state = "stale"
        out[chapter] = {"state": state, "date": entry.get("executed")}
    return out


def add_rerun_boxes(paths: list[Path], states: dict[str, dict] | None = None) -> None:
    """Open every staged notebook with its title, claims panel and folded re-run box (the committed ones stay as they are).

    ``states``: :func:`build_states` of the profile the staged copies were executed under.
    """
    import nbformat

    from mmtheory.book import arrange_opening, load_timings, rerun_box

    timings = {k: load_timings(ROOT / "results", k) for k in ("quick", "full", "gpu-full")}
    states = states or {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        chapter = path.stem.removesuffix(FULL_SUFFIX)
        arrange_opening(nb, rerun_box(chapter, timings, build=states.get(chapter)))
        nbformat.write(nb, path)


#: A markdown link to a chapter notebook beside it: ``](08_ogm_imbalance.ipynb)`` or ``](08_x.ipynb#section)``.
_FULL_LINK = re.compile(r"\]\((?:\.\./notebooks/|\./)?(?P<stem>\d\d_[A-Za-z0-9_]+)\.ipynb(?P<rest>#[^)]*)?\)")


def stage_full_pages(src: Path, chapters: list[str], states: dict[str, dict]) -> list[str]:
    """Stage the full-profile executions that exist beside the quick pages; return their toc entries.

    Each ``results/full/notebooks/<chapter>.ipynb`` becomes ``<src>/notebooks/<chapter>-full.ipynb`` with
    its title marked "(full profile)" and a line linking the quick page; each quick page gets the
    reverse link. Chapters never executed under the full profile get no page.
    """
    import nbformat

    from mmtheory.book import profile_note

    full_dir = run_dir_for("full") / "notebooks"
    entries = []
    for chapter in chapters:
        executed = full_dir / f"{chapter}.ipynb"
        if chapter == SCORECARD or not executed.exists():
            continue
        page = src / "notebooks" / f"{chapter}{FULL_SUFFIX}.ipynb"
        shutil.copy2(executed, page)
        add_rerun_boxes([page], states)
        nb = nbformat.read(page, as_version=4)
        title = nb.cells[0]
        if title.cell_type == "markdown" and title.source.startswith("# "):  # the part is not numbered: say which
            number = chapter.split("_", 1)[0]
            label = f"Chapter {int(number)}, full profile: " if number.isdigit() else "Full profile: "
            title.source = "# " + label + title.source[2:].rstrip()
        for cell in nb.cells:  # links between chapters stay in the full part where the target has a full page
            if cell.cell_type == "markdown":
                cell.source = _FULL_LINK.sub(
                    lambda m: f"]({m['stem']}{FULL_SUFFIX}.ipynb{m['rest'] or ''})"
                    if (full_dir / f"{m['stem']}.ipynb").exists() and m["stem"] != SCORECARD else m[0], cell.source)
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(profile_note(chapter, "full", f"{chapter}.ipynb")))
        nbformat.write(nb, page)
        quick = src / "notebooks" / f"{chapter}.ipynb"
        qnb = nbformat.read(quick, as_version=4)
        qnb.cells.insert(1, nbformat.v4.new_markdown_cell(profile_note(chapter, "quick", page.name)))
        nbformat.write(qnb, quick)
        entries.append(f"notebooks/{chapter}{FULL_SUFFIX}")
    return entries


def staged_toc(toc: dict, full_entries: list[str]) -> dict:
    """The book's ``_toc.yml`` with the paper-scale part inserted before the last part (the scorecard's)."""
    import copy

    out = copy.deepcopy(toc)
    if full_entries:
        part = {"caption": FULL_CAPTION, "chapters": [{"file": f} for f in full_entries]}
        parts = out.setdefault("parts", [])
        parts.insert(max(len(parts) - 1, 0), part)
    return out


def execute_changed(notebooks: list[str], profile: str, run_dir: Path, *, jobs: int, force: bool,
                    executed: set[str]) -> list[str]:
    """Execute the chapters whose cache key changed, ``jobs`` at a time, the scorecard last.

    Adds each executed chapter to ``executed``; returns the chapters that failed.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    package, cache, results = package_hash(), load_cache(profile), ROOT / "results"

    def needed(nb: str) -> tuple[bool, str]:
        chapter, out = Path(nb).name, run_dir / f"{nb}.ipynb"
        key = cache_key(chapter, ROOT / f"{nb}.ipynb", profile, package, results)
        return force or not out.exists() or cache.get(chapter, {}).get("key") != key, key

    def finish(nb: str, key: str, secs: float) -> None:
        record_timing(profile, Path(nb).name, secs)
        store_cache(profile, Path(nb).name, key, secs)
        executed.add(Path(nb).name)
        print(f"[book]     {nb} done in {secs:.0f} s", flush=True)

    failed: list[str] = []
    first = [nb for nb in notebooks if Path(nb).name != SCORECARD]
    last = [nb for nb in notebooks if Path(nb).name == SCORECARD]
    for stage in (first, last):
        todo = []
        for nb in stage:
            run, key = needed(nb)
            if run:
                todo.append((nb, key))
            else:
                print(f"[book] {nb}: unchanged since its last execution, outputs taken from the cache", flush=True)
        if not todo:
            continue
        print(f"[book] executing {len(todo)} chapter(s) with the {profile} profile, {min(jobs, len(todo))} at a time ...",
              flush=True)
        if jobs == 1 or len(todo) == 1:
            for nb, key in todo:
                try:
                    finish(nb, key, execute(ROOT / f"{nb}.ipynb", run_dir / f"{nb}.ipynb", profile))
                except Exception as exc:  # noqa: BLE001 - report every failing chapter, then stop
                    print(f"[book] {nb} FAILED: {exc}", file=sys.stderr, flush=True)
                    failed.append(nb)
        else:
            # threads suffice: each chapter runs in its own kernel process
            with ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                futures = {pool.submit(execute, ROOT / f"{nb}.ipynb", run_dir / f"{nb}.ipynb", profile, False): (nb, key)
                           for nb, key in todo}
                for fut in as_completed(futures):
                    nb, key = futures[fut]
                    try:
                        finish(nb, key, fut.result())
                    except Exception as exc:  # noqa: BLE001
                        print(f"[book] {nb} FAILED: {exc}", file=sys.stderr, flush=True)
                        failed.append(nb)
        if failed:
            break  # the scorecard would tabulate records of chapters that did not finish
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=list(PROFILES), default="quick")
    parser.add_argument("--skip-execute", action="store_true", help="build the HTML from the notebooks as they are")
    parser.add_argument("--out", default=None, help="folder for _build/ (default: the repository)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="chapters executed at once (default: the CPU count)")
    parser.add_argument("--force", action="store_true", help="execute every chapter, even unchanged ones")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}.")
    os.environ["MMTHEORY_RESULTS_DIR"] = str(ROOT / "results")
    os.environ["TQDM_DISABLE"] = "1"  # tqdm's own switch: progress bars would land in the committed outputs
    os.environ["MMTHEORY_PROGRESS"] = "0"  # still read by mmtheory.data.cremad's own bar
    files = toc_files(ROOT / "_toc.yml")
    notebooks = [f for f in files if f.startswith("notebooks/")]
    chapters = [Path(nb).name for nb in notebooks]
    out_dir = Path(args.out).resolve() if args.out else ROOT  # the HTML lands in <out_dir>/_build/html
    total = time.time()
    executed: dict[str, set[str]] = {p: set() for p in PROFILES}
    if not args.skip_execute:
        # Chapters under the chosen profile; the scorecard always under the quick one (it shows both profiles).
        if args.profile == "quick":
            stages = [("quick", notebooks)]
        else:
            stages = [(args.profile, [nb for nb in notebooks if Path(nb).name != SCORECARD]),
                      ("quick", [nb for nb in notebooks if Path(nb).name == SCORECARD])]
        for profile, todo in stages:
            failed = execute_changed(todo, profile, run_dir_for(profile), jobs=args.jobs, force=args.force,
                                     executed=executed[profile])
            if failed:
                print(f"error: {len(failed)} chapter(s) failed: {', '.join(failed)}; see the messages above "
                      "(fix the notebook or the package and run the build again: finished chapters are cached).",
                      file=sys.stderr)
                return 1
    states = {p: build_states(notebooks, p, run_dir_for(p), executed[p]) for p in PROFILES}
    print("[book] building the HTML with Jupyter Book ...", flush=True)
    # Build from a clean copy of the book's sources only, so stray files in the checkout never reach the book.
    src = out_dir / "_build" / "source"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    shutil.copy2(ROOT / "_config.yml", src / "_config.yml")
    shutil.copytree(ROOT / "book", src / "book")
    shutil.copytree(ROOT / "notebooks", src / "notebooks", ignore=shutil.ignore_patterns(".*"))
    add_rerun_boxes(sorted((src / "notebooks").glob("*.ipynb")), states["quick"])
    full_entries = stage_full_pages(src, chapters, states["full"])
    toc = staged_toc(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")), full_entries)
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output", str(out_dir),
           "--builder", "html", "-W", "--keep-going"]
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        print("error: jupyter-book build failed (warnings are errors); see the messages above.", file=sys.stderr)
        return result.returncode
    index = out_dir / "_build" / "html" / "index.html"
    print(f"[book] built in {time.time() - total:.0f} s ({len(full_entries)} full-profile pages). Open: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
