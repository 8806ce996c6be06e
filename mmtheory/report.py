"""Small helpers for the pages: deterministic set-up and stable, readable tables."""

from __future__ import annotations

import math
import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mmtheory.parallel import THREAD_VARS
from mmtheory.seeding import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from mmtheory.checks import Verdict

#: Environment variable that overrides ``threads`` of :func:`setup` (used by the test that runs a
#: chapter with 1 and with 2 threads and checks that nbval sees the same outputs).
THREADS_ENV = "MMTHEORY_THREADS"
_limits = None  # the threadpoolctl limiter, kept alive for the life of the kernel


def setup(seed: int = 0, threads: int | None = 1) -> dict:
    """Seed every generator and pin every thread pool, so a page gives the same numbers on any machine.

    Python's ``random``, numpy's legacy global generator, torch's CPU generator and torch's device
    generators each get their own seed, spawned from ``seed`` by :mod:`mmtheory.seeding` (host and
    device generators never share one). ``threads`` pins torch's intra-op threads *and*, through
    threadpoolctl, every BLAS/OpenMP pool loaded in the process (OpenBLAS/MKL of numpy and scipy,
    torch's OpenMP), so reductions are done in the same order whatever the core count.

    Parameters
    ----------
    seed : int
        The page's seed (non-negative).
    threads : int or None
        Threads of every pool (default 1); ``None`` leaves the pools alone. ``$MMTHEORY_THREADS``,
        when set, overrides it.

    Returns
    -------
    dict
        ``{"seed": ..., "threads": ..., "pools": [{"internal_api": ..., "num_threads": ...}, ...]}``:
        what was set.
    """
    global _limits
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            threads = int(env)
        except ValueError:
            raise ValueError(f"${THREADS_ENV} must be a positive integer; got {env!r}.") from None
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None; got {threads!r}.")
    random.seed(derive_seed(seed, "python-random", bits=32))
    np.random.seed(derive_seed(seed, "numpy-global", bits=32))
    pools: list[dict] = []
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None:
        torch.manual_seed(derive_seed(seed, "torch-host"))  # also seeds the device generators...
        torch.cuda.manual_seed_all(derive_seed(seed, "torch-device"))  # ...which get their own seed
        if threads is not None:
            torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        import scipy.linalg  # noqa: F401  (loads scipy's own BLAS now, so that it is pinned too)
        from threadpoolctl import threadpool_info, threadpool_limits

        for var in THREAD_VARS:  # libraries loaded later, and subprocesses, read these
            os.environ[var] = str(threads)
        _limits = threadpool_limits(limits=threads)
        pools = [{"internal_api": p["internal_api"], "num_threads": p["num_threads"]} for p in threadpool_info()]
    return {"seed": seed, "threads": threads, "pools": pools}


def tidy(df: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Round float columns and turn ``-0.0`` into ``0.0`` so a table prints the same on every run."""
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(decimals) + 0.0
    return out


def mean_std(df: pd.DataFrame, by: str, columns: dict[str, str], scale: float = 1.0, decimals: int = 2,
             order: list | None = None) -> pd.DataFrame:
    """Group ``df`` by ``by`` and show each column as ``"mean ± std"`` (std over the group; "" when missing).

    ``columns`` maps column names to display names; ``scale`` multiplies first (100 for percent).
    """
    g = df.groupby(by)[list(columns)]
    mean, std = g.mean() * scale, g.std() * scale
    out = pd.DataFrame(index=mean.index)
    for col, name in columns.items():
        out[name] = [("" if pd.isna(m) else f"{m:.{decimals}f} ± {0.0 if pd.isna(s) else s:.{decimals}f}")
                     for m, s in zip(mean[col], std[col])]
    return out.reindex(order) if order is not None else out


def describe_profile(cfg: dict) -> str:
    """One line for the top of a page: which profile produced it, with its settings."""
    items = ", ".join(f"{k}={v}" for k, v in cfg.items() if k != "profile")
    return f"This page was produced with the '{cfg['profile']}' profile ({items})."


#: One palette for every chapter's figures.
PALETTE = "colorblind"


def set_style() -> None:
    """The book's figure style (seaborn 'whitegrid', colour-blind palette, sizes readable at page width)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    mpl.rcParams.update({"figure.figsize": (7.0, 4.0), "figure.dpi": 100, "savefig.bbox": "tight",
                         "axes.titleweight": "bold"})


#: Background colour of each status on the scorecard and the panels (colour-blind-safe pastels, black text).
STATUS_COLOURS = {"holds": "#cfe8d5", "differs": "#f6c9cd", "inconclusive": "#ffe8a8", "vacuous": "#dcd3ee",
                  "not yet run": "#eeeeee"}


# --- verdicts in words and the claims panel ----------------------------------------------------------------

#: One line per status: the key every claims panel and the scorecard show.
STATUS_KEY = {
    "holds": "the evidence supports the claim beyond its interval",
    "differs": "the evidence contradicts the claim beyond its interval",
    "inconclusive": "the deciding difference's interval contains the threshold (the noise could flip it)",
    "vacuous": "the check also says 'holds' on a broken world, so it could not fail (or true by construction)",
    "not yet run": "no record (the chapter was not run on this data)",
}


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def decimals_for(lo: float | None, hi: float | None, default: int = 3) -> int:
    """Decimals that an interval ``[lo, hi]`` supports: two significant digits of its width (at most 6).

    ``default`` when there is no finite interval of positive width.
    """
    if not (_finite(lo) and _finite(hi)):
        return default
    width = float(hi) - float(lo)
    if width <= 1e-9 * max(1.0, abs(float(lo)), abs(float(hi))):  # a point: three significant digits
        scale = max(abs(float(lo)), abs(float(hi)))
        return default if scale == 0 else int(min(6, max(0, 2 - math.floor(math.log10(scale)))))
    return int(min(6, max(0, 1 - math.floor(math.log10(float(hi) - float(lo))))))


def fmt_interval(estimate: float | None, lo: float | None, hi: float | None, units: str = "") -> str:
    """``"3.1 [-4.0, 10.1] points"``: an estimate and its interval, rounded to what the interval supports.

    Without an estimate only the interval is shown; without a finite interval only the estimate (3
    significant digits); with neither an em dash.
    """
    units = f" {units}" if units else ""
    have_iv = _finite(lo) and _finite(hi)
    if have_iv:
        d = decimals_for(lo, hi)
        iv = f"[{float(lo):.{d}f}, {float(hi):.{d}f}]"
        if _finite(estimate):
            return f"{float(estimate):.{d}f} {iv}{units}"
        return f"interval {iv}{units}"
    if _finite(estimate):
        return f"{float(estimate):.3g}{units}"
    return "\u2014"


def deciding_difference(rec: dict) -> dict:
    """The difference that decided a claim, from its record (or a :class:`~mmtheory.checks.Verdict`).

    Returns ``{"estimate", "lo", "hi", "threshold", "units", "n", "what"}``; fields the record does not
    carry are None. The estimate is the mean of the paired differences (``details['mean']``), the share of
    events for a frequency check (``events / trials``, threshold ``allowed``), or, for a claim made of
    parts, the part whose interval is the record's.
    """
    if hasattr(rec, "to_dict"):
        rec = rec.to_dict()
    details = rec.get("details") or {}
    iv = rec.get("interval")
    lo, hi = (iv[0], iv[1]) if iv else (None, None)
    out = dict(estimate=None, lo=lo, hi=hi, threshold=None, units=rec.get("units", ""), n=None,
               what=rec.get("interval_method", ""))
    if "mean" in details:
        out["estimate"] = details["mean"]
        out["threshold"] = details["mean"] - details.get("mean_minus_threshold", details["mean"])
        out["n"] = details.get("n")
    elif "events" in details and details.get("trials"):
        out["estimate"] = details["events"] / details["trials"]
        out["threshold"] = details.get("allowed")
        out["n"] = details["trials"]
    elif isinstance(details.get("parts"), dict) and iv:
        for part in details["parts"].values():
            piv = part.get("interval")
            if piv and all(abs(float(a) - float(b)) < 1e-12 for a, b in zip(piv, iv)):
                sub = deciding_difference(part)
                if sub["estimate"] is not None:
                    out.update(estimate=sub["estimate"], threshold=sub["threshold"], n=sub["n"])
                break
        if out["threshold"] is None:
            out["threshold"] = 0.0
    return out


def verdict_sentence(v) -> str:
    """One markdown sentence for a verdict (or a claim record): status, deciding difference, broken world, reason.

    ``**inconclusive**: difference 3.1 [-4.0, 10.1] points (95% paired t over 3); on the broken world
    (*labels shuffled*): differs. <the check's reason>.``
    """
    rec = v.to_dict() if hasattr(v, "to_dict") else dict(v)
    status = rec.get("status", "not yet run")
    if status == "not yet run":
        return "**not yet run**: no record for this data."
    d = deciding_difference(rec)
    parts = [f"**{status}**"]
    diff = fmt_interval(d["estimate"], d["lo"], d["hi"], d["units"])
    if diff != "\u2014":
        how = f" ({rec['interval_method']})" if rec.get("interval_method") else ""
        parts.append(f": difference {diff}{how}")
    if rec.get("variant"):
        parts.append(f"; on the broken world (*{rec['variant']}*): {rec.get('variant_status') or 'not tried'}")
    reason = str(rec.get("reason", "")).rstrip(".")
    return "".join(parts) + (f". {reason}." if reason else ".")


def sentence(v):
    """:func:`verdict_sentence` as an IPython ``Markdown`` object, for ``glue`` (the chapters' one ``sentence``)."""
    from IPython.display import Markdown

    return Markdown(verdict_sentence(v))


#: Values glued (``display=False``) since the last :func:`glued` call, in order: kept for notebook readers.
_GLUED: dict[str, Any] = {}


def glue(name: str, value: Any, display: bool = False) -> None:
    """``myst_nb.glue``, remembered for readers of the notebook itself (see :func:`glued`).

    The book sets a glued value in the prose (``{glue:text}`name```); JupyterLab, even with
    ``jupyterlab-myst``, shows such a role as its raw name (myst-nb's glue is resolved when the book is
    built). A value glued with ``display=False`` is therefore also kept, and :func:`glued` lists it in a
    cell the book removes.

    Parameters
    ----------
    name : str
        The key the prose uses.
    value : object
        What the prose shows (a number, a string, an IPython ``Markdown`` ...).
    display : bool
        As for ``myst_nb.glue``: also display the value here (then it is not kept: the reader sees it).
    """
    from myst_nb import glue as _myst_glue

    _myst_glue(name, value, display=display)
    if not display:
        _GLUED[name] = value


def _glued_text(value: Any) -> str:
    if hasattr(value, "data") and hasattr(value, "_repr_markdown_"):  # IPython Markdown
        return str(value.data)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, (int, np.integer, str)):
        return str(value)
    return f"({type(value).__name__}, shown in the book)"


class Glued:
    """The values :func:`glued` lists: Markdown for a notebook, plain text elsewhere."""

    def __init__(self, values: dict[str, Any]):
        self.values = dict(values)

    def _repr_markdown_(self) -> str:
        if not self.values:
            return ""
        items = "\n".join(f"- `{name}`: {_glued_text(v)}" for name, v in self.values.items())
        return ("*For notebook readers: the values the text quotes as* `{glue}` *roles (the book sets them in the "
                "text; JupyterLab shows the roles' names):*\n\n" + items)

    def __repr__(self) -> str:
        return "\n".join(f"{name}: {_glued_text(v)}" for name, v in self.values.items())


def glued() -> Glued:
    """Every value glued by :func:`glue` (``display=False``) since the previous call, and forget them.

    A chapter calls it in a cell tagged ``remove-cell`` after each cell that glues: the book drops the cell
    (its prose shows the values in place) and a JupyterLab reader sees the values beside the raw roles.
    """
    out = Glued(_GLUED)
    _GLUED.clear()
    return out


def status_key_html(scorecard_href: str = "99_scorecard.html") -> str:
    """The one-line key to the statuses, each coloured as on the scorecard, linking to the scorecard."""
    import html

    items = "; ".join(f'<span style="background:{STATUS_COLOURS[s]};padding:0 3px"><b>{s}</b></span>: '
                      f"{html.escape(text)}" for s, text in STATUS_KEY.items())
    return f'Key: {items}. <a href="{html.escape(scorecard_href)}">All claims: the scorecard</a>.'


class ClaimsPanel:
    """A chapter's claims panel: HTML for the book and JupyterLab, plain text elsewhere (see :func:`claims_panel`)."""

    def __init__(self, html: str, text: str, records: list[dict]):
        self.html, self.text, self.records = html, text, records

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def claims_panel(chapter: str, params: dict | None = None, *, profile: str | None = None,
                 results_dir=None, scorecard_href: str = "99_scorecard.html") -> ClaimsPanel:
    """The panel that opens a chapter: each claim's statement, status, deciding difference, broken world and data.

    A "holds" whose broken world did not come out "differs" is marked "power not shown", as on the
    scorecard (:data:`mmtheory.checks.POWER_RULE`), and the rule is stated under the key. Read from the claim records of this run (:func:`mmtheory.claims.chapter_records`), so the chapter
    calls it after its claims cell and ``glue``s it into the panel cell under its title.

    Parameters
    ----------
    chapter : str
        ``"08"`` or ``"08_ogm_imbalance"``.
    params : dict, optional
        The chapter's resolved settings (``cfg``): they choose the profile's records or a custom run's.
    profile : {"quick", "full"}, optional
        Defaults to ``params["profile"]``, else "quick".
    results_dir : path-like, optional
        As for :func:`mmtheory.claims.record`.
    scorecard_href : str
        The link of the key (the scorecard page beside the chapters in the built book).
    """
    import html

    from mmtheory import claims
    profile = profile or (params or {}).get("profile") or "quick"
    recs = claims.chapter_records(chapter, profile, params, results_dir)
    esc = html.escape
    datas = sorted({r["data"] for r in recs if r["status"] != "not yet run" and r["data"]})
    data_txt = ", ".join(datas) if datas else "no claim recorded yet"
    standin = any("stand-in" in d for d in datas)
    head = (f'<p style="margin:0 0 4px 0"><b>Claims checked in this chapter</b> &middot; data: '
            f'<b>{esc(data_txt.upper() if standin else data_txt)}</b>'
            + (" (synthetic, built to the real data's shapes: not the paper's data)" if standin else "")
            + f" &middot; profile: {esc(profile)}</p>")
    rows, text = [], [f"Claims of {claims.chapter_of(chapter)} (data: {data_txt}; profile {profile})"]
    weak = [r["id"] for r in recs if r["status"] == "holds" and r.get("power_shown") is False]
    for r in recs:
        st = r["status"]
        mark = " (power not shown)" if r["id"] in weak else ""
        d = deciding_difference(r) if st != "not yet run" else {}
        diff = fmt_interval(d.get("estimate"), d.get("lo"), d.get("hi"), d.get("units", "")) if d else "\u2014"
        if d and d.get("threshold") is not None and diff != "\u2014":
            diff += f" vs {float(d['threshold']):g}"
        if diff == "\u2014" and r.get("ours"):  # no interval to show: our value as the chapter states it
            diff = str(r["ours"])
        behind = "; ".join(x for x in (r.get("interval_method", ""), r.get("detail", "")) if x)
        broken = (f"{esc(r['variant'])} \u2192 <b>{esc(r['variant_status'])}</b>" if r.get("variant")
                  else ("none tried" if st != "not yet run" else ""))
        reason = esc(str(r.get("reason", "")))
        rows.append(
            f'<tr><td><b>{esc(r["id"])}</b></td>'
            f'<td style="background:{STATUS_COLOURS.get(st, "")};font-weight:bold;overflow-wrap:normal">{esc(st)}'
            + (f'<br><span class="mmtheory-power-not-shown" style="font-weight:normal;font-size:90%">'
               f'{esc(mark.strip(" ()"))}</span>' if mark else "") + "</td>"
            + f'<td>{esc(r["statement"])}'
            + (f'<br><span style="color:#555;font-size:90%">{reason}</span>' if reason else "")
            + f"</td><td>{esc(diff)}" + (f'<br><span style="color:#555;font-size:90%">{esc(behind)}</span>' if behind else "")
            + f"</td><td>{broken}</td></tr>")
        text.append(f"  [{r['id']}] {st}{mark}: {diff}; broken world: {r.get('variant') or '-'} "
                    f"({r.get('variant_status') or '-'})")
    cell = "padding:2px 4px;vertical-align:top;overflow-wrap:anywhere;white-space:normal;text-align:left"
    table = (f'<table style="table-layout:fixed;width:100%;border-collapse:collapse;font-size:85%;margin:0">'
             f'<colgroup><col style="width:15%"><col style="width:12%"><col style="width:37%">'
             f'<col style="width:20%"><col style="width:16%"></colgroup>'
             f"<thead><tr><th>claim</th><th>status</th><th>statement (and why this status)</th>"
             f"<th>deciding difference [interval] vs threshold (its level below)</th><th>broken world \u2192 status there</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>").replace("<td", f'<td style="{cell}"').replace(
                 '<td style="' + cell + '" style="', '<td style="' + cell + ";").replace("<th>", f'<th style="{cell}">')
    key = f'<p style="margin:0 0 4px 0;font-size:78%;line-height:1.3">{status_key_html(scorecard_href)}</p>'
    if weak:  # the rule behind the mark, where the mark appears
        from mmtheory.checks import POWER_RULE

        key += f'<p style="margin:0 0 4px 0;font-size:78%;line-height:1.3"><b>power not shown</b>: {esc(POWER_RULE)}</p>'
        text.append(f"  power not shown: {POWER_RULE}")
    body = (f'<div class="mmtheory-claims-panel" style="border:1px solid #bbb;border-radius:4px;padding:6px 8px;'
            f'margin:4px 0 8px 0;max-width:100%;box-sizing:border-box;overflow-wrap:anywhere">{head}{key}{table}</div>')
    return ClaimsPanel(body, "\n".join(text), recs)


def parts_table(verdict, name: str = "part") -> pd.DataFrame:
    """A verdict made of parts (``details['parts']``) as a table rounded to what each interval supports.

    One row per part: its status and its deciding difference with the interval (:func:`fmt_interval`),
    instead of unrounded margins and bare interval lists.
    """
    rec = verdict.to_dict() if hasattr(verdict, "to_dict") else dict(verdict)
    parts = (rec.get("details") or {}).get("parts")
    if not isinstance(parts, dict) or not parts:
        raise ValueError("parts_table needs a verdict whose details hold 'parts' (a check made of several parts).")
    import re

    levels = {m.group(0) for part in parts.values()
              if (m := re.match(r"[0-9.]+%", str(part.get("interval_method", ""))))}
    label = f"{levels.pop()} interval" if len(levels) == 1 else "interval"  # the parts' own level, as recorded
    rows = []
    for key, part in parts.items():
        d = deciding_difference(part)
        thr = "" if d["threshold"] is None else f" vs {float(d['threshold']):g}"
        rows.append({name: key, "status": part.get("status", ""),
                     f"difference [{label}] ({d['units'] or rec.get('units', '')})":
                         fmt_interval(d["estimate"], d["lo"], d["hi"]) + thr})
    return pd.DataFrame(rows).set_index(name)


def record_all(verdicts: dict[str, "Verdict"], *, profile: str, params: dict[str, Any] | None = None,
               data: str = "synthetic", detail: str | dict[str, str] = "",
               results_dir: str | os.PathLike | None = None, quiet: bool = False) -> pd.DataFrame:
    """Record several verdicts at once (a chapter's claims cell) and return them as one small table.

    Parameters
    ----------
    verdicts : dict
        ``{claim id: Verdict}``.
    profile, params, data, results_dir :
        As for :func:`record`, shared by every claim.
    detail : str or dict
        One detail for all, or ``{claim id: detail}`` (a missing id gets "").
    quiet : bool
        When False (default) each record's one-line summary is printed (wrapped to the page's width).
        When True only where a run with non-default parameters wrote its records is printed (one line
        per folder): the returned table is then the chapter's record of its claims.

    Returns
    -------
    pandas.DataFrame
        One row per claim (index ``claim``): status, the deciding difference with its interval (rounded
        to what the interval supports; one column, its unit in the header when the claims share one and
        beside each value when not), the broken world, the status there and whether the check's power
        was shown (:data:`mmtheory.checks.POWER_RULE`); with ``seeds`` and ``stopped`` when the verdicts
        were made in rounds of seeds (``details['seeds_used']``, ``details['stopped']``).
    """
    import textwrap

    from mmtheory.checks import Verdict as _Verdict
    from mmtheory.claims import CLAIMS, is_default_run, record, records_folder

    if not isinstance(verdicts, dict) or not all(isinstance(v, _Verdict) for v in verdicts.values()):
        raise TypeError("record_all() needs a dict {claim id: Verdict}.")
    if not verdicts:
        raise ValueError("record_all() got no verdicts: pass {claim id: Verdict} with at least one claim.")
    unknown = [cid for cid in verdicts if cid not in CLAIMS]
    if unknown:
        raise KeyError(f"unknown claim id(s) {unknown}; registered ids: {sorted(CLAIMS)}.")
    units = {v.units for v in verdicts.values()}
    shared = units.pop() if len(units) == 1 else None  # one unit: in the header; several: beside each value
    diff_col = f"difference [interval] ({shared})" if shared else "difference [interval]"
    rows = []
    for cid, v in verdicts.items():
        d = detail.get(cid, "") if isinstance(detail, dict) else detail
        line = record(cid, v, profile=profile, params=params, data=data, detail=d, results_dir=results_dir)
        if not quiet:
            print(textwrap.fill(line, width=110, subsequent_indent="    ", break_long_words=True))
        diff = deciding_difference(v)
        row = {"claim": cid, "status": v.status,
               diff_col: fmt_interval(diff["estimate"], diff["lo"], diff["hi"], "" if shared else v.units),
               "broken world": v.variant, "status there": v.variant_status, "power shown": v.power_shown}
        row.update({label: v.details[key] for key, label in (("seeds_used", "seeds"), ("stopped", "stopped"))
                    if key in v.details})
        rows.append(row)
    if quiet and params is not None:
        custom = {records_folder(CLAIMS[cid].chapter, profile, params, results_dir) for cid in verdicts
                  if not is_default_run(CLAIMS[cid].chapter, {"profile": profile, **params})}
        for folder in sorted(custom):
            print(f"Non-default parameters: these records are under {folder}, not over the {profile} profile's.")
    return pd.DataFrame(rows).set_index("claim")
