"""The registry of the papers' claims and of our reproduction status: the backbone of the book.

Every claim of both papers that the book checks has an entry in :data:`CLAIMS` (its statement and the
paper's value). A chapter that checks a claim calls :func:`record` with our value and the outcome of a
computed comparison; the record is written atomically as JSON under
``<results_dir>/<profile>/claims/<id>.json``. :func:`scorecard` joins the catalogue with the records
(``python -m mmtheory claims`` prints it); a claim with no record is "not yet run".

``results_dir`` resolves, in order: the argument, the environment variable ``MMTHEORY_RESULTS_DIR``,
``results/`` at the root of the source checkout (where the quick-profile records are committed).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mmtheory import __version__
from mmtheory._digest import jsonable as _jsonable
from mmtheory._digest import params_digest
from mmtheory._io import atomic_write_json
from mmtheory.checks import STATUSES, Verdict

PROFILES = ("quick", "full")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper.

    Attributes
    ----------
    id : str
        Stable identifier, ``H21-...`` (Huang et al. 2021), ``P22-...`` (Peng et al. 2022) or ``HP-...`` (a question joining both).
    paper : str
    section : str
    statement : str
        The claim in the paper's terms.
    paper_value : str
        The paper's number(s) or qualitative statement.
    chapter : str
        The notebook (without extension) that checks it.
    """

    id: str
    paper: str
    section: str
    statement: str
    paper_value: str
    chapter: str


_H = "Huang et al. 2021"
_P = "Peng et al. 2022"
_HP = "Huang et al. 2021 x Peng et al. 2022"

CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in [
        Claim("H21-nested", _H, "Sec. 3 (Def. 1)",
              "For N a subset of M, G_N is a subset of G_M, so the best latent quality reachable with M is at least as good as with N.",
              "structural (no number)", "01_framework"),
        Claim("H21-syn-w1", _H, "Sec. 6.2, synthetic table",
              "With full overlap (w = 1) every modality set reaches eta = 0.", "0 in every row at w = 1", "02_synthetic_overlap"),
        Claim("H21-syn-all", _H, "Sec. 6.2, synthetic table",
              "With all four modalities eta = 0 for every w.", "0 in every column for m1..m4", "02_synthetic_overlap"),
        Claim("H21-syn-more", _H, "Sec. 6.2, synthetic table",
              "For w < 1, eta falls as modalities are added.", "e.g. w = 0: 301.92 > 207.45 > 103.23 > 0", "02_synthetic_overlap"),
        Claim("H21-syn-overlap", _H, "Sec. 6.2, synthetic table",
              "For a fixed set short of all modalities, eta rises as the overlap w falls.", "e.g. m1: 0 < 12.04 < 75.89 < 193.28 < 301.92",
              "02_synthetic_overlap"),
        Claim("H21-syn-values", _H, "Sec. 6.2, synthetic table",
              "The table's values (closed form of our generator: (1-w)^2 d_p (K-|M|), d_p = 100).",
              "12.04 ... 301.92 (12 non-zero cells)", "02_synthetic_overlap"),
        Claim("H21-prop1", _H, "Prop. 1",
              "Linear g and h with no bottleneck (latent as wide as the target), M = [K], N = [K-1]: gamma_S(M, N) <= 0 "
              "(population ERM, and noise-free ERM with m >= d).",
              "gamma_S <= 0", "03_proposition1"),
        Claim("H21-prop1-finite", _H, "Prop. 1 (finite S)",
              "gamma_S(M, N) <= 0 for every finite, noisy training sample S (no bottleneck).",
              "gamma_S <= 0 (qualifiers open)", "03_proposition1"),
        Claim("H21-prop1-bottleneck", _H, "Prop. 1 (bottleneck)",
              "With a rank-1 bottleneck (latent narrower than the target), gamma_S(M, N) <= 0 for noise-free samples "
              "with m >= d; the share of violations is our value.",
              "not stated (the paper leaves the latent size open)", "03_proposition1"),
        Claim("H21-complexity-grows", _H, "Sec. 4 (discussion of Thm. 1)",
              "The complexity term R_m(H o G_M) grows as modalities are added (and decays as 1/sqrt(m)).",
              "qualitative", "05_rademacher"),
        Claim("H21-thm1", _H, "Thm. 1",
              "r(M) - r(N) <= gamma_S(M, N) + 8 L R_m(H o G_M) + 4C/sqrt(m) + 2C sqrt(2 ln(2/delta)/m) w.p. >= 1 - delta/2.",
              "bound holds w.p. >= 1 - delta/2", "06_theorems"),
        Claim("H21-thm2", _H, "Thm. 2",
              "eta(g_M) <= 4 L R_m(H o G_M) + 4 L R_m(H o G) + 6C sqrt(2 ln(2/delta)/m) + L_hat(h_M o g_M, S) w.p. >= 1 - delta.",
              "bound holds w.p. >= 1 - delta", "06_theorems"),
        Claim("H21-principle", _H, "Sec. 5 (principle)",
              "More modalities win at large m; a smaller set can win at small m.", "sign change of r(M) - r(N) with m", "06_theorems"),
        Claim("H21-selection", _H, "Sec. 5 (principle as a rule)",
              "Choosing M over N when the centred-loss gain exceeds the complexity difference (in loss units, Theorem 2's "
              "constant 4L) picks the set with the lower population risk at least as well as always-larger, "
              "always-smaller or a validation split (lower population regret).",
              "qualitative", "07_selection"),
        Claim("H21-iemocap-t1", _H, "Table 1",
              "IEMOCAP test accuracy (full training set) grows as a modality is added: TV > T, TA > T, TVA > TA, TVA > TV.",
              "T 49.93, TV 51.08, TA 53.03, TVA 53.89", "04_iemocap"),
        Claim("H21-iemocap-t2", _H, "Table 2",
              "With enough data TVA is best; with very little data a smaller set beats TVA.",
              "ratio 1: TVA 53.89 best; ratio 1e-4: TA 25.06 > TVA 24.71", "04_iemocap"),
        Claim("H21-iemocap-t3", _H, "Table 3",
              "Test-accuracy difference and latent-quality difference have the same sign for the four pairs.",
              "TV/T 1.15, 1.36; TA/T 3.10, 3.57; TVA/TA 0.86, 0.19; TVA/TV 2.81, 2.4", "04_iemocap"),
        Claim("H21-standin-t1", _H, "Table 1 (stand-in)",
              "On the IEMOCAP-shaped stand-in (synthetic, not IEMOCAP): accuracy grows as a modality is added (the four pairs of Table 3).",
              "T 49.93, TV 51.08, TA 53.03, TVA 53.89 (IEMOCAP)", "04_iemocap"),
        Claim("H21-standin-t2", _H, "Table 2 (stand-in)",
              "On the stand-in: TVA best with the full training set, a smaller set beats TVA at the smallest fraction.",
              "ratio 1: TVA best; ratio 1e-4: TA > TVA (IEMOCAP)", "04_iemocap"),
        Claim("H21-standin-t3", _H, "Table 3 (stand-in)",
              "On the stand-in: accuracy difference and latent-quality difference have the same sign for the four pairs.",
              "same sign in all four pairs (IEMOCAP)", "04_iemocap"),
        Claim("P22-imbalance", _P, "Sec. 1, Table 1",
              "On CREMA-D the concatenation baseline is worse than the audio-only model.", "51.7 < 54.4",
              "09_ogm_cremad"),
        Claim("P22-ogmge", _P, "Table 1",
              "OGM-GE improves the concatenation baseline on CREMA-D.", "51.7 -> 61.9", "09_ogm_cremad"),
        Claim("P22-weak-branch", _P, "Sec. 4",
              "On CREMA-D, OGM-GE improves the weak (visual) branch's accuracy within the fused model.",
              "qualitative (figures)", "09_ogm_cremad"),
        Claim("P22-standin-imbalance", _P, "Sec. 1 (stand-in)",
              "On the audio-visual stand-in (synthetic, not CREMA-D): the jointly trained concat model is worse "
              "than the best unimodal model.", "51.7 < 54.4 (CREMA-D)", "08_ogm_imbalance"),
        Claim("P22-standin-ogmge", _P, "Table 1 (stand-in)",
              "On the stand-in: OGM-GE improves the concatenation baseline.", "51.7 -> 61.9 (CREMA-D)",
              "08_ogm_imbalance"),
        Claim("P22-standin-weak-branch", _P, "Sec. 4 (stand-in)",
              "On the stand-in: OGM-GE improves the weak modality's branch within the fused model.",
              "qualitative (figures, CREMA-D)", "08_ogm_imbalance"),
        Claim("HP-eta-weak", _HP, "Huang Def. 2 applied to Peng Sec. 3",
              "On the stand-in: OGM-GE lowers the weak modality's latent quality eta (frozen-encoder probe error) "
              "for every fusion, as Huang et al.'s framework predicts for a better-trained encoder.",
              "prediction (no number in either paper)", "10_two_lenses"),
        # Real data that ships with the book: UCI Multiple Features (mmtheory.data.mfeat), chapter 11.
        Claim("H21-mfeat-t1", _H, "Table 1 (real data: UCI mfeat)",
              "On UCI mfeat (real, six views), test accuracy with the whole training set grows each time a view is added "
              "along the nested chain fou < fou+fac < ... < all six.",
              "IEMOCAP: T 49.93 < TV 51.08, TA 53.03 < TVA 53.89", "11_real_data"),
        Claim("H21-mfeat-t2", _H, "Table 2 (real data: UCI mfeat)",
              "On UCI mfeat: with the whole training set all six views beat every smaller set of the grid; at the smallest "
              "fraction some smaller set beats all six.",
              "IEMOCAP: ratio 1: TVA 53.89 best; ratio 1e-4: TA 25.06 > TVA 24.71", "11_real_data"),
        Claim("H21-mfeat-t3", _H, "Table 3 (real data: UCI mfeat)",
              "On UCI mfeat: for every pair of the nested chain, the test-accuracy difference and the latent-quality gap "
              "(eta-hat, frozen encoder refitted on a held-out probe split) have the same sign.",
              "IEMOCAP: same sign in all four pairs", "11_real_data"),
        Claim("H21-mfeat-selection", _H, "Sec. 5 (principle as a rule, real data: UCI mfeat)",
              "On UCI mfeat (even/odd digit as a scalar target), choosing the larger view set when the centred-loss gain "
              "exceeds the complexity difference (Theorem 2's constant 4L) has a test-split regret at least as low as "
              "always-larger, always-smaller or a validation split.",
              "qualitative", "11_real_data"),
        Claim("P22-mfeat-imbalance", _P, "Sec. 1 (real data: UCI mfeat)",
              "On UCI mfeat's imbalanced pair (strongest and weakest view), the jointly trained concat model is worse "
              "than the best unimodal model.", "CREMA-D: 51.7 < 54.4", "11_real_data"),
        Claim("P22-mfeat-undertrained", _P, "Sec. 1, Fig. 1 (real data: UCI mfeat)",
              "On UCI mfeat's imbalanced pair, the weak view's branch inside the jointly trained concat model is less "
              "accurate than the weak view trained alone (under-trained by joint training).",
              "qualitative (CREMA-D, Fig. 1)", "11_real_data"),
        Claim("P22-mfeat-ogmge", _P, "Table 1 (real data: UCI mfeat)",
              "On UCI mfeat's imbalanced pair, OGM-GE improves the concatenation baseline.", "CREMA-D: 51.7 -> 61.9",
              "11_real_data"),
        Claim("P22-mfeat-weak-branch", _P, "Sec. 4 (real data: UCI mfeat)",
              "On UCI mfeat's imbalanced pair, OGM-GE improves the weak view's branch within the fused model (branch "
              "accuracy and frozen-encoder probe).", "qualitative (figures, CREMA-D)", "11_real_data"),
        Claim("P22-mfeat-fusions", _P, "Table 3 (real data: UCI mfeat)",
              "On UCI mfeat's imbalanced pair, OGM-GE improves the fused model for every fusion (concat, sum, FiLM, gated).",
              "CREMA-D: gains with every fusion", "11_real_data"),
    ]
}

#: The scorecard group of the claims decided on real data that ships with the book (UCI mfeat).
REAL_DATA_GROUP = "real data: UCI mfeat"
#: Scorecard groups shown as their own table: group name -> claim ids (in registry order).
GROUPS: dict[str, tuple[str, ...]] = {REAL_DATA_GROUP: tuple(c for c in CLAIMS if "-mfeat-" in c)}


def repo_root() -> Path | None:
    """The source checkout's root if this package runs from one (it has ``_toc.yml``), else None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "_toc.yml").exists() else None


def resolve_results_dir(path: str | os.PathLike | None = None) -> Path:
    """Resolve the results folder (see the module docstring)."""
    if path is not None:
        return Path(path)
    if os.environ.get("MMTHEORY_RESULTS_DIR"):
        return Path(os.environ["MMTHEORY_RESULTS_DIR"])
    root = repo_root()
    return (root if root is not None else Path.cwd()) / "results"


def _check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles are {list(PROFILES)}.")
    return profile


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of a run's parameters (names a custom run's records folder)."""
    return params_digest(params, 10)


def is_default_run(chapter: str, params: dict[str, Any]) -> bool:
    """True when ``params`` equal the registered defaults of ``chapter`` under ``params['profile']``.

    Strict: every registered setting must be present and equal, and any other key is a difference
    unless it is one of :data:`NOT_SETTINGS` (where a run is written or executed, never what it computes;
    a data path is recorded in ``data`` instead). A chapter or profile without registered defaults is
    never the default run.
    """
    from mmtheory.profiles import PROFILES as CHAPTER_PROFILES

    profile = params.get("profile")
    defaults = CHAPTER_PROFILES.get(chapter, {}).get(profile)
    if defaults is None:
        return False
    extra = set(params) - set(defaults) - NOT_SETTINGS
    if extra:
        return False
    return all(k in params and _jsonable(params[k]) == _jsonable(v) for k, v in defaults.items())


#: Parameters that never change a chapter's results (where it writes, where it runs, which data path).
NOT_SETTINGS = frozenset({"profile", "results_dir", "scheduler", "runs_dir", "iemocap_path", "cremad_cache"})


def record(
    claim_id: str,
    verdict: Verdict | None = None,
    *,
    profile: str,
    params: dict[str, Any] | None = None,
    data: str = "synthetic",
    detail: str = "",
    results_dir: str | os.PathLike | None = None,
    ours: str | None = None,
    holds: bool | None = None,
) -> str:
    """Record our result for a claim; return a one-line summary for the page.

    Parameters
    ----------
    claim_id : str
        A key of :data:`CLAIMS`.
    verdict : Verdict
        The outcome of the claim's check function in :mod:`mmtheory.checks` (status, our value,
        margin, interval, broken world tried).
    profile : {"quick", "full"}
    params : dict, optional
        Every parameter of the run (the chapter's resolved settings). Stored in the record. A run whose
        parameters differ from the profile's registered defaults never overwrites the profile's records:
        it writes under ``<results_dir>/custom/<profile>-<hash>/claims/`` and says so. Without
        ``params`` (a library call, not a chapter) the record is the profile's.
    data : str
        What the result was computed on ("synthetic", "IEMOCAP", "stand-in", ...).
    detail : str
        How the check was made (threshold, sample sizes).
    results_dir : path-like, optional
        Overrides the resolved results folder.
    ours, holds :
        Deprecated form (a bare boolean decided elsewhere); kept so old notebooks still run. New code
        passes ``verdict``.
    """
    if claim_id not in CLAIMS:
        raise KeyError(f"unknown claim id {claim_id!r}; registered ids: {sorted(CLAIMS)}.")
    _check_profile(profile)
    if verdict is None:
        if holds is None or ours is None:
            raise TypeError("record() needs a Verdict from mmtheory.checks (or the deprecated ours= and holds=).")
        verdict = Verdict("holds" if bool(holds) else "differs", ours=str(ours), margin=0.0,
                          reason=detail or "legacy boolean check")
    given_params = params
    params = dict(params or {})
    params.setdefault("profile", profile)
    from mmtheory.runs import code_digest

    # ``code``: the digest of the package's source and pinned versions. A re-run by other code is never taken
    # for a reproduction of the stored record (mmtheory.tolerance.records_agree compares it exactly).
    rec = dict(id=claim_id, profile=profile, data=data, detail=detail, version=__version__, code=code_digest(),
               params=_jsonable(params), **_jsonable(verdict.to_dict()))
    root = resolve_results_dir(results_dir)
    chapter = CLAIMS[claim_id].chapter
    if given_params is None or is_default_run(chapter, params):
        folder = root / profile / "claims"
        where = ""
    else:
        folder = root / "custom" / f"{profile}-{params_key(params)}" / "claims"
        where = f" (non-default parameters: recorded under {folder}, not over the {profile} profile's records)"
    path = folder / f"{claim_id}.json"
    if not _reproduces(path, rec):  # a re-run within tolerance leaves the committed record as it is
        atomic_write_json(path, rec)
    c = CLAIMS[claim_id]
    return (f"[{claim_id}] {verdict.status.upper()} (margin {verdict.margin:.3g} {verdict.units}): {c.statement} "
            f"Paper: {c.paper_value}. Ours: {verdict.ours}. {verdict.reason}.{where}")


def _reproduces(path: Path, rec: dict) -> bool:
    """Whether the record stored at ``path`` already says what ``rec`` says, within the book's tolerance
    (:func:`mmtheory.tolerance.records_agree`: equal statuses, numbers within RTOL/ATOL)."""
    from mmtheory.tolerance import records_agree

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return records_agree(old, json.loads(json.dumps(rec)))


#: The record schema: field -> (allowed types, required). ``margin`` is finite and >= 0 (its direction is
#: the status: the distance of the evidence from flipping it); ``id`` equals the file name.
RECORD_SCHEMA: dict[str, tuple[tuple[type, ...], bool]] = {
    "id": ((str,), True), "status": ((str,), True), "ours": ((str,), True), "margin": ((int, float), True),
    "reason": ((str,), True), "units": ((str,), False), "interval": ((list, type(None)), False),
    "interval_method": ((str,), False), "variant": ((str,), False), "variant_status": ((str,), False),
    "power_shown": ((bool, type(None)), False), "details": ((dict,), False), "profile": ((str,), False),
    "data": ((str,), False), "detail": ((str,), False), "params": ((dict,), False), "version": ((str,), False),
    "code": ((str,), False),
}


def validate_record(rec: Any, path: Path, profile: str) -> str | None:
    """The first schema problem of record ``rec`` read from ``path``, as one line; None when it is valid.

    Checks: a JSON object; every required field present with the right type (:data:`RECORD_SCHEMA`);
    ``id`` a registered claim and equal to the file name; ``status`` one of :data:`STATUSES` (not "not
    yet run"); ``margin`` a finite number >= 0; ``interval`` None or two numbers (or None for an
    infinite end) with lo <= hi; ``power_shown`` None unless the status is "holds" (power only qualifies
    a "holds"); ``profile`` (when present) the folder's profile.
    """
    import math

    if not isinstance(rec, dict):
        return f"{path}: not a claim record (a JSON {type(rec).__name__}, not an object); ignored"
    for key, (types, required) in RECORD_SCHEMA.items():
        if key not in rec:
            if required:
                return f"{path}: no {key!r} field (a record older than the verdict machinery?); ignored, re-run its chapter"
            continue
        value = rec[key]
        if isinstance(value, bool) and bool not in types:
            return f"{path}: {key} is {value!r}, not {'/'.join(t.__name__ for t in types)}; ignored"
        if not isinstance(value, types):
            return f"{path}: {key} is {value!r}, not {'/'.join(t.__name__ for t in types)}; ignored"
    if rec["id"] != path.stem:
        return (f"{path}: its id {rec['id']!r} is not its file name {path.stem!r} (a stray or copied file); ignored, "
                "it does not replace the record of that claim")
    if rec["id"] not in CLAIMS:
        return f"{path}: unknown claim id {rec['id']!r} (not in the registry); ignored"
    if rec["status"] not in STATUSES or rec["status"] == "not yet run":
        return f"{path}: status {rec['status']!r} is not one of {list(STATUSES[:-1])}; ignored, re-run its chapter"
    if not math.isfinite(float(rec["margin"])) or float(rec["margin"]) < 0:
        return f"{path}: margin {rec['margin']!r} is not a finite number >= 0; ignored, re-run its chapter"
    if rec.get("power_shown") is not None and rec["status"] != "holds":
        return (f"{path}: power_shown is {rec['power_shown']!r} on a {rec['status']!r} record (it qualifies a 'holds' "
                "only and must be null otherwise); ignored, re-run its chapter")
    iv = rec.get("interval")
    if iv is not None:
        if len(iv) != 2 or any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in iv):
            return f"{path}: interval {iv!r} is not two numbers; ignored"
        lo, hi = (-math.inf if iv[0] is None else float(iv[0])), (math.inf if iv[1] is None else float(iv[1]))
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            return f"{path}: interval {iv!r} is not an interval (lo <= hi); ignored"
    if "profile" in rec and rec["profile"] != profile:
        return f"{path}: profile {rec['profile']!r} in the {profile!r} folder; ignored"
    return None


def read_records(profile: str = "quick",
                 results_dir: str | os.PathLike | None = None) -> tuple[dict[str, dict], list[str]]:
    """Every valid record of a profile keyed by claim id, and one line per problem found.

    Problems (each one line, the file ignored): the results folder or its claims folder missing (every
    claim then shows "not yet run"), a file that is not JSON, a record failing :func:`validate_record`
    (stray file whose id is not its name, unknown id, bad status, margin or types), a stray non-JSON file.
    """
    root = resolve_results_dir(results_dir)
    folder = root / _check_profile(profile) / "claims"
    problems: list[str] = []
    out: dict[str, dict] = {}
    if not root.is_dir():
        return out, [f"results folder {root} does not exist: every claim shows 'not yet run'"]
    if not folder.is_dir():
        return out, [f"no {profile} records: {folder} does not exist (the {profile} profile was not run here)"]
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix != ".json" or not path.is_file():
            problems.append(f"{path}: not a claim record (not a .json file); ignored")
            continue
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: not valid JSON ({exc}); ignored, delete it and re-run its chapter")
            continue
        problem = validate_record(rec, path, profile)
        if problem:
            problems.append(problem)
            continue
        out[rec["id"]] = rec
    return out, problems


def load_records(profile: str = "quick", results_dir: str | os.PathLike | None = None) -> dict[str, dict]:
    """All valid records of a profile, keyed by claim id (:func:`read_records` without the problems)."""
    return read_records(profile, results_dir)[0]


def claim_records(profile: str = "quick", results_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every registered claim with its whole record (``python -m mmtheory claims --json``).

    One dict per claim of :data:`CLAIMS`, in registry order: the catalogue entry (statement, paper's
    value, chapter, ...) joined with everything the chapter recorded (status, our value, margin and
    units, interval and how it was made, the broken world tried and its status, reason, details,
    profile, data and every parameter of the run). A claim without a record has status
    ``"not yet run"`` and empty fields.
    """
    records, problems = read_records(profile, results_dir)
    out = []
    for cid, claim in CLAIMS.items():
        rec = records.get(cid)
        base = dict(id=cid, status="not yet run", ours="", margin=None, units="", interval=None, interval_method="",
                    variant="", variant_status="", power_shown=None, reason="", details={}, profile=profile, data="",
                    detail="", params={}, version="")
        base.update(rec or {})
        out.append(dict(base, paper=claim.paper, section=claim.section, statement=claim.statement,
                        paper_value=claim.paper_value, chapter=claim.chapter))
    return out


SCORECARD_COLUMNS = ["id", "status", "margin", "units", "variant", "variant_status", "power_shown", "ours", "paper_value",
                     "interval", "interval_method", "reason", "statement", "paper", "section", "profile", "data",
                     "chapter"]


def scorecard(profile: str = "quick", results_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The reproduction scorecard: one row per registered claim, with our value, status and margin.

    ``power_shown`` is False where the claim's broken world did not come out "differs" (shown as
    "power not shown", :data:`mmtheory.checks.POWER_RULE`). The problems met reading the records (one
    line each, :func:`read_records`) are in ``card.attrs['problems']``.
    """
    records, problems = read_records(profile, results_dir)
    rows = []
    for cid, claim in CLAIMS.items():
        rec = records.get(cid, {})
        row = dict(asdict(claim), ours=rec.get("ours", ""), status=rec.get("status", "not yet run"),
                   profile=rec.get("profile", profile), data=rec.get("data", ""), margin=rec.get("margin"),
                   units=rec.get("units", ""), variant=rec.get("variant", ""),
                   variant_status=rec.get("variant_status", ""), power_shown=rec.get("power_shown"),
                   interval=rec.get("interval"),
                   interval_method=rec.get("interval_method", ""), reason=rec.get("reason", ""))
        rows.append(row)
    card = pd.DataFrame(rows)[SCORECARD_COLUMNS]
    card.attrs["problems"] = problems
    return card


# --- a chapter's records: written together, read back for the page's claims panel ---------------------------

def chapter_of(chapter: str) -> str:
    """The notebook stem of a chapter given as ``"08"`` or ``"08_ogm_imbalance"``."""
    stems = sorted({c.chapter for c in CLAIMS.values()})
    from mmtheory.profiles import PROFILES as CHAPTER_PROFILES

    stems = sorted(set(stems) | set(CHAPTER_PROFILES))
    if chapter in stems:
        return chapter
    match = [s for s in stems if s.split("_", 1)[0] == str(chapter)]
    if len(match) != 1:
        raise ValueError(f"unknown chapter {chapter!r}; chapters with claims or settings: {stems}.")
    return match[0]


def records_folder(chapter: str, profile: str, params: dict[str, Any] | None = None,
                   results_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`record` writes the records of ``chapter`` for a run with ``params`` (the same rule)."""
    _check_profile(profile)
    root = resolve_results_dir(results_dir)
    if params is None:
        return root / profile / "claims"
    params = dict(params)
    params.setdefault("profile", profile)
    if is_default_run(chapter_of(chapter), params):
        return root / profile / "claims"
    return root / "custom" / f"{profile}-{params_key(params)}" / "claims"


def chapter_records(chapter: str, profile: str, params: dict[str, Any] | None = None,
                    results_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every registered claim of ``chapter``, in registry order, joined with the record of this run (if any).

    Each dict holds the catalogue entry (``id``, ``statement``, ``paper_value``, ...) and the record's
    fields; a claim without a record has ``status`` "not yet run". Records of the run with ``params``
    are read from :func:`records_folder` (a custom run's own folder, never the profile's).
    """
    stem = chapter_of(chapter)
    folder = records_folder(stem, profile, params, results_dir)
    out = []
    for cid, claim in CLAIMS.items():
        if claim.chapter != stem:
            continue
        path = folder / f"{cid}.json"
        rec: dict[str, Any] = {}
        if path.exists():
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"claim record {path} is not valid JSON ({exc}); delete it and re-run its chapter.") \
                    from None
        base = dict(status="not yet run", ours="", margin=None, units="", interval=None, interval_method="",
                    variant="", variant_status="", reason="", details={}, data="", detail="", profile=profile)
        base.update(rec)
        out.append(dict(base, **asdict(claim)))
    return out


def records_hint(profile: str = "quick", results_dir: str | os.PathLike | None = None) -> str:
    """A line saying where the records are when ``profile`` has none where they were looked for ("" otherwise)."""
    folder = resolve_results_dir(results_dir) / _check_profile(profile) / "claims"
    if load_records(profile, results_dir):
        return ""
    where = ("this package runs from a source checkout" if repo_root() is not None
             else "this package is installed, not run from a clone, so results/ was looked for in the current folder")
    return (f"No claim records in {folder} ({where}). The quick-profile records are committed in the "
            "repository's results/ folder: run from the clone's root, or pass --results-dir <clone>/results "
            "(or set MMTHEORY_RESULTS_DIR); a chapter writes its records when executed.")
