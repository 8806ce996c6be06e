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
    lines = [":::{admonition} Re-run this chapter (commands, parameters, time)", ":class: tip dropdown", "",
             "From the repository root, after `bash scripts/build.sh` has made `.venv`:", "",
             "```bash",
             "mkdir -p _runs   # ignored by git: re-runs never touch the checkout's notebooks",
             f".venv/bin/papermill {nb} _runs/{chapter}.ipynb                  # quick profile (CPU; what CI checks)",
             f".venv/bin/papermill {nb} _runs/{chapter}.ipynb -p profile full  # paper scale",
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


#: The suffix of a chapter's page name under each profile in the built book (the full pages sit beside the quick ones).
PAGE_SUFFIX = {"quick": "", "full": "-full"}

#: What each profile is, in one line (the landing page, the profile notes and the scorecard say the same).
PROFILE_MEANING = {
    "quick": "the quick profile: small settings a 2-core CPU runs in minutes; CI re-executes these pages and "
             "compares every output",
    "full": "the full profile: larger settings (the paper's values where the paper fixes them, more samples, "
            "epochs and seeds elsewhere; the re-run box lists both profiles' settings); executed once by "
            "`bash scripts/build.sh full` and committed, not re-executed by CI",
}


def profile_note(chapter: str, profile: str, other_href: str) -> str:
    """The markdown line that tells a reader which profile a chapter page shows and links the other one.

    Parameters
    ----------
    chapter : str
        Notebook stem, e.g. ``"08_ogm_imbalance"``.
    profile : {"quick", "full"}
        The profile of the page the note goes on.
    other_href : str
        Link to the same chapter under the other profile.
    """
    if profile not in PROFILE_MEANING:
        raise ValueError(f"unknown profile {profile!r}; profiles are {sorted(PROFILE_MEANING)}.")
    other = "full" if profile == "quick" else "quick"
    return (f"*This page shows {PROFILE_MEANING[profile]}. The same chapter under the {other} profile: "
            f"[{chapter} ({other})]({other_href}).*")


def evidence_text(rec: dict) -> str:
    """How much evidence stands behind a claim record, in words.

    ``"10 seeds (decided)"``, ``"30 seeds (cap reached; about 218 needed)"`` for claims run in seed
    rounds (:mod:`mmtheory.checks.sequential`), ``"n = 200"`` for other claims with a sample size, and
    ``""`` when the record has neither (closed forms, no record).
    """
    from mmtheory.report import deciding_difference

    if not rec or rec.get("status", "not yet run") == "not yet run":
        return ""
    details = rec.get("details") or {}
    seeds = details.get("seeds_used", details.get("seeds"))
    if isinstance(seeds, (list, int)) and not isinstance(seeds, bool) and details.get("stopped"):
        text = f"{seeds if isinstance(seeds, int) else len(seeds)} seeds ({details['stopped']}"
        need = details.get("seeds_needed")
        if details["stopped"] != "decided" and isinstance(need, (int, float)) and need == need:
            text += f"; about {int(need)} needed"
        return text + ")"
    n = deciding_difference(rec).get("n")
    if not isinstance(n, (int, float)) or n != n:
        return ""
    parts = details.get("parts")
    # a claim made of parts (cells, pairs, fusions): n is the deciding part's, not the claim's
    return f"n = {int(n)} in each of {len(parts)} parts" if isinstance(parts, dict) and parts else f"n = {int(n)}"


def profiles_frame(profiles=("quick", "full"), results_dir=None):
    """Every registered claim under each profile, side by side: status, deciding difference, evidence.

    Returns
    -------
    pandas.DataFrame
        One row per claim (registry order): ``id``, ``chapter``, and for each profile ``p`` the columns
        ``status_p`` (with " (power not shown)" appended where :data:`mmtheory.checks.POWER_RULE` applies),
        ``difference_p`` (estimate and interval, :func:`mmtheory.report.fmt_interval`) and
        ``evidence_p`` (:func:`evidence_text`); ``changed`` is True where the bare statuses differ
        between profiles that both have a record. A record written by other code than the installed
        package (its ``code`` digest, :func:`mmtheory.runs.code_digest`) has " (older code)" appended to
        its status: its chapter has not been re-executed since the package changed.
    """
    import pandas as pd

    from mmtheory.claims import claim_records
    from mmtheory.report import deciding_difference, fmt_interval
    from mmtheory.runs import code_digest

    current = code_digest()
    cols: dict[str, dict] = {}
    bare: dict[str, dict] = {}
    order: list[tuple[str, str]] = []
    for prof in profiles:
        for rec in claim_records(prof, results_dir):
            cid = rec["id"]
            if cid not in cols:
                cols[cid], bare[cid] = {}, {}
                order.append((cid, rec["chapter"]))
            st = rec["status"]
            bare[cid][prof] = st
            mark = " (power not shown)" if st == "holds" and rec.get("power_shown") is False else ""
            if st != "not yet run" and rec.get("code") and rec["code"] != current:
                mark += " (older code)"
            d = deciding_difference(rec) if st != "not yet run" else {}
            diff = fmt_interval(d.get("estimate"), d.get("lo"), d.get("hi"), d.get("units", "")) if d else ""
            cols[cid].update({f"status_{prof}": st + mark, f"difference_{prof}": "" if diff == "\u2014" else diff,
                              f"evidence_{prof}": evidence_text(rec)})
    rows = []
    for cid, chapter in order:
        ran = [s for s in bare[cid].values() if s != "not yet run"]
        rows.append(dict(id=cid, chapter=chapter, **cols[cid], changed=len(ran) > 1 and len(set(ran)) > 1))
    return pd.DataFrame(rows)


def profiles_table(frame, link_suffix: str = ".html"):
    """:func:`profiles_frame` as a ``Styler`` that fits the page: claim, then status / difference / evidence per profile.

    A changed status between profiles is marked with a bold "changed" under the claim.
    """
    import html

    import pandas as pd

    profs = [c.removeprefix("status_") for c in frame.columns if c.startswith("status_")]
    if not profs or not {"id", "chapter", "changed"} <= set(frame.columns):
        raise ValueError("profiles_table needs mmtheory.book.profiles_frame() output.")
    esc = lambda v: html.escape(str(v))  # noqa: E731
    rows, colours = [], []
    for r in frame.to_dict("records"):
        row = {"claim": f'<a href="{esc(r["chapter"])}{link_suffix}">{esc(r["id"])}</a>'
                        + ("<br><b>changed</b>" if r["changed"] else "")}
        colour = {"claim": ""}
        for p in profs:
            page = f"{r['chapter']}{PAGE_SUFFIX.get(p, '-' + p)}{link_suffix}"  # the page of that profile
            row[f"{p}: status"] = (f'<a href="{esc(page)}">{esc(r[f"status_{p}"])}</a>'
                                   if r[f"status_{p}"] != "not yet run" else esc(r[f"status_{p}"]))
            row[f"{p}: difference [interval]"] = esc(r[f"difference_{p}"])
            row[f"{p}: evidence"] = esc(r[f"evidence_{p}"])
            base = r[f"status_{p}"].split(" (")[0]
            colour.update({f"{p}: status": f"background-color: {STATUS_COLOURS.get(base, '')}; font-weight: bold",
                           f"{p}: difference [interval]": "", f"{p}: evidence": ""})
        rows.append(row)
        colours.append(colour)
    view = pd.DataFrame(rows)
    styles = [{"selector": "", "props": [("table-layout", "fixed"), ("width", "100%"), ("font-size", "78%"),
                                          ("border-collapse", "collapse")]},
              {"selector": "td, th", "props": [("overflow-wrap", "anywhere"), ("vertical-align", "top"),
                                               ("white-space", "normal"), ("padding", "2px 4px")]},
              {"selector": "th.col0", "props": [("width", "16%")]}]
    return (view.style.hide(axis="index").set_uuid("scorecard_profiles").set_table_styles(styles)
            .apply(lambda _: pd.DataFrame(colours, index=view.index, columns=view.columns), axis=None))


# Background colour of each status (defined in mmtheory.report, beside the claims panel that uses it too).
from mmtheory.report import STATUS_COLOURS  # noqa: E402  (defined with the panel that uses it too)

#: Share of the table width per column (the table is laid out fixed at 100 % of the page's text column).
SCORECARD_WIDTHS = {"claim": 10, "status": 9, "margin": 8, "broken world tried": 15, "our value": 21,
                    "paper's value": 12, "statement": 17, "data": 8}


def _margin_text(margin, units: str, status: str = "", interval=None) -> str:
    """``"1.2 points"``, rounded to what the claim's interval supports (two significant digits of its width;
    three significant digits without one); an em dash when there is no record or the claim is vacuous."""
    if status == "vacuous" or margin is None or (isinstance(margin, float) and margin != margin):
        return "\u2014"
    from mmtheory.report import decimals_for

    if interval is not None and len(interval) == 2:
        d = decimals_for(interval[0], interval[1], default=-1)
        if d >= 0:
            return f"{float(margin):.{d}f} {units}".strip()
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
                      + (" (power not shown)" if r.status == "holds" and getattr(r, "power_shown", None) is False else ""),
            "margin": (esc(_margin_text(r.margin, r.units, r.status, getattr(r, "interval", None)))
                       if r.status != "not yet run" else ""),
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

#: The tag of the markdown cell that shows a chapter's claims panel in the built book (it ``{glue}``s the panel
#: made at the end). The cell exists only in the staged copy the book renders (:func:`arrange_opening` adds it):
#: in JupyterLab a ``{glue}`` directive is an "unknown directive" box, and the panel is shown by the last cell.
PANEL_TAG = "claims-panel"


def panel_cell_source(key: str = "claims_panel") -> str:
    """The source of a chapter's panel cell: a ``{glue}`` of the panel that the chapter's last cell glues."""
    return f"```{{glue}} {key}\n```"


#: The last cell of every chapter: glues the panel that the panel cell under the title shows.
PANEL_GLUE_SOURCE = ('# The claims panel: made from the records this run wrote (mmtheory.report); the book shows it under the\n'
                     '# title (the panel cell\'s glue), a notebook reader here.\n'
                     'glue("claims_panel", report.claims_panel("{stem}", cfg, results_dir=results_dir), display=True)')


def _glues_panel(nb) -> bool:
    return any(c.cell_type == "code" and "report.claims_panel(" in c.source for c in nb.cells)


def add_panel_cells(path) -> bool:
    """Give a chapter notebook its claims panel: the cell at the end that makes and glues it.

    The chapter must define ``cfg``, ``results_dir``, ``report`` (``from mmtheory import report``) and
    ``glue`` (``from myst_nb import glue``) before its last cell. The book shows the panel under the
    title (:func:`arrange_opening` adds the panel cell to the staged copy). Idempotent; only cell
    sources and tags change (outputs of the other cells are kept). Returns True when the notebook was changed.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if _glues_panel(nb):
        return False
    cell = nbformat.v4.new_code_cell(PANEL_GLUE_SOURCE.format(stem=path.stem))
    cell.metadata["tags"] = ["remove-cell"]
    nb.cells.append(cell)
    nbformat.write(nb, path)
    return True


def arrange_opening(nb, box_source: str | None = None):
    """Order a staged chapter's opening: title, claims panel, re-run box (folded), then the introduction.

    The notebook's first markdown cell is split after its ``# title`` line; the claims panel cell (the
    cell tagged :data:`PANEL_TAG`, wherever it is, or a new one when the chapter glues a panel) goes
    right under the title; the re-run box follows. Changes ``nb`` (an ``nbformat`` notebook) in place
    and returns it.
    """
    import nbformat

    cells = nb.cells
    panel = next((c for c in cells if PANEL_TAG in c.get("metadata", {}).get("tags", [])), None)
    if panel is not None:
        cells.remove(panel)
    elif _glues_panel(nb):
        panel = nbformat.v4.new_markdown_cell(panel_cell_source())
        panel.metadata["tags"] = [PANEL_TAG]
    first = cells[0]
    opening = [panel] if panel is not None else []
    if box_source is not None:
        opening.append(nbformat.v4.new_markdown_cell(box_source))
    title, _, rest = first.source.partition("\n")
    if first.cell_type == "markdown" and title.startswith("# ") and rest.strip():
        first.source = title
        cells[1:1] = opening + [nbformat.v4.new_markdown_cell(rest.strip("\n"))]
    else:
        cells[1:1] = opening
    return nb


def forest_records(profile: str, results_dir=None):
    """One row per registered claim: status, deciding difference, its interval and threshold (for the plot)."""
    import pandas as pd

    from mmtheory.claims import claim_records
    from mmtheory.report import deciding_difference

    rows = []
    for rec in claim_records(profile, results_dir):
        d = deciding_difference(rec) if rec["status"] != "not yet run" else {}
        rows.append(dict(id=rec["id"], status=rec["status"], units=rec.get("units") or "", profile=profile,
                         estimate=d.get("estimate"), lo=d.get("lo"), hi=d.get("hi"), threshold=d.get("threshold")))
    return pd.DataFrame(rows)


#: Line colours of the statuses in the forest plot (saturated versions of :data:`STATUS_COLOURS`).
STATUS_LINE_COLOURS = {"holds": "#1b7837", "differs": "#c51b7d", "inconclusive": "#b8860b", "vacuous": "#6a51a3",
                       "not yet run": "#999999"}


def scorecard_forest(profiles=("quick", "full"), results_dir=None):
    """The scorecard as a picture: every claim's deciding difference and interval against its threshold.

    One panel per unit (claims in "points", "eta", "frequency", ... share an axis), one row per claim.
    A dot is the estimate, the bar its interval, the black tick the threshold the claim is decided
    against; colour is the status. Each profile that has records gets its own line in every row (quick
    as a dot, full as a diamond just under it), so quick and full stand side by side once both exist. A
    claim without an interval (true by construction, vacuous, not yet run) is named with its status.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import math

    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.lines import Line2D

    frames = [forest_records(p, results_dir) for p in profiles]
    frames = [f for f in frames if (f["status"] != "not yet run").any()] or frames[:1]
    data = pd.concat(frames, ignore_index=True)
    unit_of: dict[str, str] = {}
    for cid, unit in zip(data["id"], data["units"]):
        if unit or cid not in unit_of:
            unit_of[cid] = unit if unit else unit_of.get(cid, "")
    units = list(dict.fromkeys(u for u in unit_of.values() if u)) + [""]
    groups = [(u, [cid for cid, cu in unit_of.items() if cu == u]) for u in units]
    groups = [(u, ids) for u, ids in groups if ids]
    profs = list(dict.fromkeys(data["profile"]))
    markers = {p: m for p, m in zip(profs, "oDs^")}
    step = 1.0 / (len(profs) + 1)
    heights = [len(ids) * (0.26 + 0.14 * (len(profs) - 1)) + 0.75 for _, ids in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(7.6, sum(heights) + 0.8),
                             gridspec_kw=dict(height_ratios=heights), squeeze=False)
    fin = lambda v: v is not None and not (isinstance(v, float) and not math.isfinite(v))  # noqa: E731
    for (unit, ids), row in zip(groups, axes):
        ax = row[0]
        for k, prof in enumerate(profs):
            sub = data[data["profile"] == prof].set_index("id")
            for y, cid in enumerate(ids):
                yy = y + (k - (len(profs) - 1) / 2) * step
                r = sub.loc[cid]
                c = STATUS_LINE_COLOURS.get(r["status"], "#999999")
                lo, hi, est, thr = r["lo"], r["hi"], r["estimate"], r["threshold"]
                drawn = False
                if fin(lo) and fin(hi):
                    ax.plot([lo, hi], [yy, yy], color=c, lw=2.5, solid_capstyle="butt")
                    drawn = True
                if fin(est):
                    ax.plot([est], [yy], markers[prof], color=c, ms=6)
                    drawn = True
                if fin(thr):
                    ax.plot([thr], [yy], "|", color="black", ms=11, mew=2)
                if not drawn and not (k > 0 and r["status"] == "not yet run"):  # a later profile's gaps: left blank
                    label = r["status"] + ("" if r["status"] == "not yet run" else ": no interval")
                    ax.text(0.01, yy, f"{label}" + (f" ({prof})" if len(profs) > 1 else ""),
                            transform=ax.get_yaxis_transform(), va="center", ha="left", color=c, fontsize=8)
        ax.set_yticks(range(len(ids)), ids, fontsize=9)
        ax.set_ylim(len(ids) - 0.5, -0.5)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(unit or "no units recorded", fontsize=9, labelpad=1)
    handles = [Line2D([], [], color=c, lw=2.5, label=s) for s, c in STATUS_LINE_COLOURS.items()]
    handles.append(Line2D([], [], color="black", marker="|", ls="", ms=11, mew=2, label="threshold"))
    handles += [Line2D([], [], color="grey", marker=markers[p], ls="", label=f"{p} profile") for p in profs]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    axes[0][0].set_title("Every claim: deciding difference and interval against its threshold", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1), h_pad=0.4)
    return fig


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
    static = str(Path(__file__).parent / "_static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)
    app.add_css_file("mmtheory.css")  # wrapping of long code and output lines; the claims panel
    app.set_html_assets_policy("always")  # MathJax on every page: chapter titles with math appear in every sidebar
    app.connect("html-page-context", _light_default, priority=900)  # after the themes' own handlers
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
