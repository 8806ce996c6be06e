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


#: Background colour of each status on the scorecard (colour-blind-safe pastel pairs, text stays black).
STATUS_COLOURS = {"holds": "#cfe8d5", "differs": "#f6c9cd", "inconclusive": "#ffe8a8", "vacuous": "#dcd3ee",
                  "not yet run": "#eeeeee"}

#: Share of the table width per column (the table is laid out fixed at 100 % of the page's text column).
SCORECARD_WIDTHS = {"claim": 10, "status": 9, "margin": 8, "broken world tried": 15, "our value": 21,
                    "paper's value": 12, "statement": 17, "data": 8}


def _margin_text(margin, units: str, status: str = "") -> str:
    """``"1.23 points"``; an em dash when there is no record or the claim is vacuous (no margin to speak of)."""
    if status == "vacuous" or margin is None or (isinstance(margin, float) and margin != margin):
        return "\u2014"
    return f"{float(margin):.3g} {units}".strip()


def scorecard_table(card, link_suffix: str = ".html"):
    """The scorecard as a pandas ``Styler`` that reads at a glance and fits a 1400 px window.

    Columns, in order: the claim id (a link to the chapter that checks it), the status (coloured by
    :data:`STATUS_COLOURS`; the check's one-line reason is its tooltip), the margin in the claim's
    units, the broken world tried and the check's status there, our value, the paper's value, the
    statement, and the data (the profile is the page's). The table is laid out fixed at the page's width
    (:data:`SCORECARD_WIDTHS`), long words break, so it never scrolls sideways.

    Parameters
    ----------
    card : pandas.DataFrame
        :func:`mmtheory.claims.scorecard` output.
    link_suffix : str
        Appended to the chapter name to make the link (``.html`` in the built book, where the
        scorecard page sits beside the chapters).
    """
    import html

    import pandas as pd

    missing = {"id", "status", "margin", "units", "variant", "variant_status", "ours", "paper_value", "statement",
               "data", "profile", "chapter", "reason"} - set(card.columns)
    if missing:
        raise ValueError(f"scorecard_table needs mmtheory.claims.scorecard() output; missing columns {sorted(missing)}.")
    esc = lambda v: html.escape(str(v))  # noqa: E731
    rows = []
    for r in card.itertuples(index=False):
        broken = (f"{esc(r.variant)} \u2192 <b>{esc(r.variant_status)}</b>" if r.variant
                  else ("none tried" if r.status != "not yet run" else ""))
        rows.append({
            "claim": f'<a href="{esc(r.chapter)}{link_suffix}" title="{esc(r.chapter)}">{esc(r.id)}</a>',
            "status": f'<span title="{esc(r.reason)}">{esc(r.status)}</span>'
                      + (" (power not shown)" if getattr(r, "power_shown", None) is False else ""),
            "margin": esc(_margin_text(r.margin, r.units, r.status)) if r.status != "not yet run" else "",
            "broken world tried": broken,
            "our value": esc(r.ours),
            "paper's value": esc(r.paper_value),
            "statement": esc(r.statement),
            "data": esc(r.data),
        })
    view = pd.DataFrame(rows, columns=list(SCORECARD_WIDTHS))
    colours = pd.DataFrame("", index=view.index, columns=view.columns)
    colours["status"] = [f"background-color: {STATUS_COLOURS.get(s, '')}; font-weight: bold" for s in card["status"]]
    styles = [{"selector": "", "props": [("table-layout", "fixed"), ("width", "100%"), ("font-size", "80%"),
                                          ("border-collapse", "collapse")]},
              {"selector": "td, th", "props": [("overflow-wrap", "anywhere"), ("word-break", "break-word"),
                                               ("vertical-align", "top"), ("padding", "2px 4px"),
                                               ("white-space", "normal")]}]
    styles += [{"selector": f"th.col{i}", "props": [("width", f"{w}%")]} for i, w in enumerate(SCORECARD_WIDTHS.values())]
    styles += [{"selector": "td.col1, td.col2", "props": [("overflow-wrap", "normal"), ("word-break", "normal")]}]
    return (view.style.hide(axis="index").set_uuid("scorecard").set_table_styles(styles)
            .apply(lambda _: colours, axis=None))


def reasons_table(card):
    """The one-line reason of every recorded claim that does not hold, as a ``Styler`` that fits the page.

    Parameters
    ----------
    card : pandas.DataFrame
        :func:`mmtheory.claims.scorecard` output.
    """
    import html

    rows = card[~card["status"].isin(["holds", "not yet run"])]
    view = rows[["id", "status", "reason"]].copy()
    for col in view.columns:
        view[col] = [html.escape(str(v)) for v in view[col]]
    colours = view.copy()
    colours[:] = ""
    colours["status"] = [f"background-color: {STATUS_COLOURS.get(s, '')}; font-weight: bold" for s in rows["status"]]
    styles = [{"selector": "", "props": [("table-layout", "fixed"), ("width", "100%"), ("font-size", "80%")]},
              {"selector": "td, th", "props": [("overflow-wrap", "anywhere"), ("vertical-align", "top"),
                                               ("white-space", "normal"), ("padding", "2px 4px")]},
              {"selector": "th.col0", "props": [("width", "12%")]}, {"selector": "th.col1", "props": [("width", "10%")]}]
    return (view.style.hide(axis="index").set_uuid("scorecard_reasons").set_table_styles(styles)
            .apply(lambda _: colours, axis=None))

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
