"""Pieces of the published book generated from the package: the re-run box of each chapter.

``scripts/build_book.py`` records how long each notebook took (``results/<profile>/timings.json``)
and inserts :func:`rerun_box` under each chapter's title in the staged copy that Jupyter Book
renders, so the commands, parameters and times on the page come from the code, never typed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mmtheory.profiles import PROFILES


def load_timings(results_dir: str | os.PathLike, profile: str) -> dict:
    """``{notebook: {"seconds": float, "machine": str}}`` recorded by the last build of ``profile`` ({} if none)."""
    path = Path(results_dir) / profile / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _fmt_time(entry: dict | None) -> str:
    if not entry:
        return "not measured yet"
    s = float(entry["seconds"])
    t = f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
    return f"{t} on {entry['machine']}"


def rerun_box(chapter: str, timings: dict[str, dict[str, dict]] | None = None, build: dict | None = None) -> str:
    """MyST markdown of the re-run box of ``chapter`` (a notebook stem such as ``"08_ogm_imbalance"``).

    Parameters
    ----------
    chapter : str
    timings : dict, optional
        ``{"quick": load_timings(..., "quick"), "full": ..., "gpu-full": ...}``.
    build : dict, optional
        Where this build took the page's outputs from (``scripts/build_book.py``):
        ``{"state": "executed" | "cache" | "stale", "date": "YYYY-MM-DD" or None}``.
    """
    timings = timings or {}
    nb = f"notebooks/{chapter}.ipynb"
    lines = [":::{admonition} Re-run this chapter", ":class: tip", "",
             "From the repository root, after `bash scripts/build.sh` has made `.venv`:", "",
             "```bash",
             f".venv/bin/papermill {nb} out.ipynb                  # quick profile (CPU; what CI checks)",
             f".venv/bin/papermill {nb} out.ipynb -p profile full  # paper scale",
             "```", ""]
    t_quick = _fmt_time(timings.get("quick", {}).get(chapter))
    t_full = _fmt_time(timings.get("full", {}).get(chapter))
    t_gpu = _fmt_time(timings.get("gpu-full", {}).get(chapter))
    lines += [f"Time: quick {t_quick}; full {t_full}; full on a GPU {t_gpu}.", ""]
    if build:
        when = f" on {build['date']}" if build.get("date") else ""
        lines += [{
            "executed": "Outputs: executed in this build of the book.",
            "cache": f"Outputs: from the build cache (notebook, parameters and package unchanged since executed{when}).",
            "stale": f"Outputs: executed{when} with an earlier version of the notebook or package; not re-executed "
                     "in this build.",
        }.get(build.get("state"), f"Outputs: {build.get('state')}."), ""]
    prof = PROFILES.get(chapter)
    if prof:
        names = list(prof["quick"])
        lines += ["| parameter | quick | full |", "|---|---|---|"]
        for name in names:
            q, f = prof["quick"][name], prof["full"].get(name, "")
            lines.append(f"| `{name}` | `{q}` | `{f}` |")
        lines += ["", "Any parameter can be set alone, e.g. `-p seed 1`; `python -m mmtheory profiles "
                  f"{chapter}` prints this table."]
    lines.append(":::")
    return "\n".join(lines)


STATUS_COLOURS = {"holds": "#d4edda", "differs": "#f8d7da", "not yet run": "#eeeeee"}


def scorecard_table(card, link_suffix: str = ".html"):
    """The scorecard as a pandas ``Styler``: one row per claim, the chapter as a link, status coloured.

    Parameters
    ----------
    card : pandas.DataFrame
        :func:`mmtheory.claims.scorecard` output.
    link_suffix : str
        Appended to the chapter name to make the link (``.html`` in the built book, where the
        scorecard page sits beside the chapters).
    """
    import html

    cols = ["id", "paper", "section", "statement", "paper_value", "ours", "status", "profile", "data", "chapter"]
    view = card[cols].copy()
    view["chapter"] = [f'<a href="{html.escape(c)}{link_suffix}">{html.escape(c)}</a>' for c in view["chapter"]]
    for col in cols[:-1]:
        view[col] = [html.escape(str(v)) for v in view[col]]
    view = view.rename(columns={"paper_value": "paper's value", "ours": "our value"})
    widths = {"statement": "22em", "paper's value": "11em", "our value": "14em"}
    styles = [{"selector": "", "props": [("font-size", "85%")]}]
    styles += [{"selector": f"th.col{list(view.columns).index(c)}, td.col{list(view.columns).index(c)}",
                "props": [("min-width", w)]} for c, w in widths.items()]
    return (view.style.hide(axis="index").set_uuid("scorecard").set_table_styles(styles)
            .map(lambda s: f"background-color: {STATUS_COLOURS.get(s, '')}", subset=["status"]))


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated script tags: sphinx-thebe 0.3 registers its inline configuration once per
    ``env-before-read-docs`` event, which fires twice in a Jupyter Book build, and the second copy
    throws "Identifier 'THEBE_JS_URL' has already been declared" in the browser."""
    seen, kept = set(), []
    for js in context.get("script_files", []):
        # an inline script is registered once with filename None and once with "" (the pickled env)
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def _light_default(app, pagename, templatename, context, doctree) -> None:
    """Start pages in light mode: sphinx-book-theme leaves the pydata template's ``default_mode``
    empty, and the theme then logs "Got invalid theme mode" as a console error on a first visit."""
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def setup(app):
    """Sphinx extension (``_config.yml``: ``sphinx.extra_extensions``) with the book's two fixes above."""
    app.set_html_assets_policy("always")  # MathJax on every page: chapter titles with math appear in every sidebar
    app.connect("html-page-context", _light_default, priority=900)  # after the themes' own handlers
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
