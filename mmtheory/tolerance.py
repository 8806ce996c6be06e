"""What "the same numbers" means when a page or a claim record is re-computed on another machine.

The one place where the book's reproduction tolerances are stated (``book/rerun.md`` quotes them, the
nbval comparison of ``pytest --nbval`` and :func:`mmtheory.claims.record` use them):

* Words are compared exactly: a status ("holds", "differs", ...), a claim id, a column name.
* Integers (printed without decimals or exponent: counts of seeds, runs, violations) are compared exactly.
* Two other numbers agree when ``|a - b| <= max(ATOL, RTOL * max(|a|, |b|))``, or, for a number printed with
  decimals, when they differ by at most one unit of its last printed digit (a value on a rounding
  boundary may print as 65.88 on one machine and 65.89 on another).
* NaN agrees only with NaN, an infinity only with the same infinity.

Why these values. With the CPU dispatch pinned (:mod:`mmtheory._dispatch`), two x86-64 machines run
the same kernels in torch, MKL and oneDNN; what remains is numpy's OpenBLAS (its kernel follows the
CPU) and, on arm64, a GPU or another torch build, every kernel. Measured on chapter 08 (a 60-epoch
stand-in training, the most sensitive chapter) between the pinned dispatch and torch's ``default``
kernels with MKL's native path, every printed number moved by less than ``RTOL``; the differences
issue 17 reported between an AVX-512 Xeon and an AVX2 machine without pinning (an sd of 2.87 vs 2.89,
-3.5667 vs -3.5778) are within 1 %. ``ATOL`` is for quantities that are zero in exact arithmetic and
print as float residue (``max |eta| = 1.07e-14`` on one machine, ``3.55e-15`` on another). A claim's
status is never compared with a tolerance.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Relative tolerance for every number a page prints or a record stores.
RTOL = 0.01
#: Absolute tolerance: below this a number is float residue of an exact zero.
ATOL = 1e-9

# A number as it is printed: optional sign, digits with an optional decimal part, optional exponent;
# also nan and inf. Text between numbers is compared exactly.
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|(?<![A-Za-z])(?:nan|inf)(?![A-Za-z])")


def _is_integer(token: str) -> bool:
    """A number printed without decimals or exponent (a count): compared exactly."""
    return token.lstrip("+-").isdigit()


def _last_digit_unit(token: str) -> float:
    """One unit of the last printed digit of a number with decimals (0 for an integer)."""
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa:
        return 0.0
    decimals = len(mantissa.split(".", 1)[1])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def numbers_agree(a: float, b: float, rtol: float = RTOL, atol: float = ATOL, unit: float = 0.0) -> bool:
    """Whether two numbers agree within the book's tolerance (``unit``: one last printed digit, if printed)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(atol, rtol * max(abs(a), abs(b)), unit * (1 + 1e-9))


def _split(text: str) -> tuple[list[str], list[str]]:
    words = _NUMBER.split(text)
    return words, _NUMBER.findall(text)


def texts_agree(a: str, b: str, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two printed texts agree: the same words exactly, each pair of numbers within tolerance.

    >>> texts_agree("holds: 65.89 ± 2.87", "holds: 65.88 ± 2.89")
    True
    >>> texts_agree("holds: 65.89", "differs: 65.89")
    False
    """
    if a == b:
        return True
    words_a, nums_a = _split(a)
    words_b, nums_b = _split(b)
    if words_a != words_b or len(nums_a) != len(nums_b):
        return False
    for x, y in zip(nums_a, nums_b):
        if x == y:
            continue
        if _is_integer(x) and _is_integer(y):
            return False  # counts (seeds, runs, violations, n) are compared exactly: "99/100" is not "100/100"
        unit = max(_last_digit_unit(x), _last_digit_unit(y))
        if not numbers_agree(float(x), float(y), rtol, atol, unit):
            return False
    return True


def first_difference(a: str, b: str, rtol: float = RTOL, atol: float = ATOL) -> str:
    """A one-line description of where two texts stop agreeing ("" when they agree)."""
    if texts_agree(a, b, rtol, atol):
        return ""
    words_a, nums_a = _split(a)
    words_b, nums_b = _split(b)
    for i, (wa, wb) in enumerate(zip(words_a, words_b)):
        if wa != wb:
            return f"text differs: {wa[:80]!r} vs {wb[:80]!r}"
        if i < min(len(nums_a), len(nums_b)) and not texts_agree(nums_a[i], nums_b[i], rtol, atol):
            return f"number {nums_a[i]} vs {nums_b[i]} (beyond rtol {rtol:g}, atol {atol:g})"
    return f"{len(nums_a)} vs {len(nums_b)} numbers"


def values_agree(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two JSON-like values agree: same structure and keys, numbers within tolerance, texts by
    :func:`texts_agree`, everything else (booleans, None) exactly. Used for claim records, where the
    ``status`` field must also be equal (see :func:`records_agree`)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or (type(a) is type(b) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return numbers_agree(float(a), float(b), rtol, atol)
    if isinstance(a, str) and isinstance(b, str):
        return texts_agree(a, b, rtol, atol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_agree(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_agree(x, y, rtol, atol) for x, y in zip(a, b))
    return a == b


#: Record fields compared exactly: what a claim's status is, and what it was computed on.
EXACT_FIELDS = ("id", "status", "variant_status", "power_shown", "profile", "data", "units", "variant", "params",
                "code")
#: Record fields that are printed texts: compared like a page's output (:func:`texts_agree`).
TEXT_FIELDS = ("ours", "reason", "interval_method", "detail")


def _printed(x: Any) -> str:
    """A record's number as the pages print it (3 significant digits, as :func:`mmtheory.claims.record`'s line)."""
    if x is None:
        return "None"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return repr(x)
    return f"{float(x):.2e}"  # 3 significant digits, trailing zeros kept (they set the last-digit unit)


def records_agree(old: dict, new: dict) -> bool:
    """Whether a re-computed claim record reproduces a stored one, as the scorecard and pages show it.

    Equal: the status, the broken world's status, ``power_shown``, the data, units, broken world, every
    parameter and the code digest (:data:`EXACT_FIELDS`: a re-run by changed code is not a reproduction,
    even when its words and numbers are within tolerance, e.g. a relabelled "99%" -> "98.52%"). Within tolerance: the printed texts (:data:`TEXT_FIELDS`, by
    :func:`texts_agree`) and the margin and interval ends as printed (3 significant digits, one unit of the
    last digit allowed). ``details`` (per-seed values, p-values, intermediate numbers at full precision) is
    not compared: a tail p-value moves by percents when a t statistic moves by 0.3 %, while nothing the
    pages show does. Then the stored record is kept as it is.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return False
    if set(old) - {"details", "version"} != set(new) - {"details", "version"}:
        return False
    if any(old.get(k) != new.get(k) for k in EXACT_FIELDS):
        return False
    if any(not texts_agree(str(old.get(k, "")), str(new.get(k, ""))) for k in TEXT_FIELDS):
        return False
    for key in ("margin", "interval"):
        a, b = old.get(key), new.get(key)
        a = a if isinstance(a, list) else [a]
        b = b if isinstance(b, list) else [b]
        if len(a) != len(b) or not all(texts_agree(_printed(x), _printed(y)) for x, y in zip(a, b)):
            return False
    return True


def number_pairs(a: str, b: str) -> list[tuple[float, float]]:
    """The pairs of numbers two texts with the same words print (``[]`` when their words differ)."""
    words_a, nums_a = _split(a)
    words_b, nums_b = _split(b)
    if words_a != words_b or len(nums_a) != len(nums_b):
        return []
    return [(float(x), float(y)) for x, y in zip(nums_a, nums_b)]
