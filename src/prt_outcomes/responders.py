"""Responder thresholds as readable rules, and responder analyses per arm x visit.

A threshold is a short rule, written the same way in the API and in the study config::

    value <= 1                          pain-free or nearly (Ashar 2022)
    value == 0                          pain-free (Donnino 2021)
    percent_reduction >= 30             IMMPACT moderate improvement
    reduction >= 2                      absolute reduction from baseline (e.g. an MCID)
    improvement >= 5                    change in the instrument's better direction
    percent_improvement >= 35
    change <= -2                        value - baseline
    percent_change <= -30               100 * (value - baseline) / |baseline|
    pain_avg <= 1 and odi <= 10         several outcomes
    percent_reduction(pain_avg) >= 30 or pain_avg <= 1

Grammar
-------
``rule := term ("or" term)*``, ``term := factor ("and" factor)*``,
``factor := "(" rule ")" | quantity OP number``, ``OP`` one of ``<= < >= > ==``.
A *quantity* is a kind, optionally naming its outcome in parentheses, or a bare outcome name:

=======================  ===================================================================
``value``                the score at the visit
``reduction``            ``baseline - value``
``percent_reduction``    ``100 * (baseline - value) / |baseline|``
``change``               ``value - baseline``
``percent_change``       ``100 * (value - baseline) / |baseline|``
``improvement``          ``baseline - value``, or ``value - baseline`` where higher is better
``percent_improvement``  ``100 * improvement / |baseline|``
=======================  ===================================================================

``kind(outcome)`` names the outcome (``percent_reduction(pain_avg)``); a bare outcome name means
its value (``pain_avg <= 1`` is ``value(pain_avg) <= 1``); a bare kind (``value <= 1``) refers
to the default outcome given to :func:`parse_threshold`. A number may carry a trailing ``%`` for
the percent kinds. ``and``/``or`` are case-insensitive; ``and`` binds tighter than ``or``.

Missing values and undefined quantities
---------------------------------------
A comparison is NA when its value (or, for baseline-based kinds, the baseline) is missing, and
when a percent kind meets a baseline of 0 (the percent change from 0 is undefined; such
participants are counted in ``n_undefined``). ``and``/``or`` use three-valued (Kleene) logic:
``NA or True`` is True, ``NA and False`` is False, otherwise NA.

Comparisons allow for binary rounding: a quantity within ``1e-9 * max(1, |number|)`` of the
threshold counts as equal to it, so ``100 * (7 - 4.9) / 7 >= 30`` holds although the floating
point result is 29.999999999999996.

Denominators
------------
``observed``: participants whose response can be decided at that visit (value present and, for
baseline-based rules, baseline present and non-zero for percent kinds). ``randomized``: every
randomized participant of the arm; undecidable responses (missing visit, missing baseline,
undefined percent) count as non-responders, as Ashar et al. (2022) did.

Baseline visit
--------------
Rules that need a baseline (any kind other than ``value``) get no rows for the baseline visit
itself (change from baseline to baseline is 0 by construction); rules on values alone (e.g.
``value <= 1``) get a baseline row too, which shows the proportion already below the threshold
at entry. Visit levels without any row in the data are left out.

Examples
--------
>>> import pandas as pd
>>> from prt_outcomes.responders import parse_threshold
>>> rule = parse_threshold("percent_reduction >= 30", outcome="pain")
>>> frame = pd.DataFrame({"pain": [1.0, 4.0, 2.0], "pain_baseline": [5.0, 5.0, 0.0]})
>>> rule.evaluate(frame).tolist()
[True, False, <NA>]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .derive import change_from_baseline, percent_change
from .errors import PrtOutcomesError
from .levels import ordered_levels
from .proportions import proportion_statistics

__all__ = [
    "ThresholdError",
    "Threshold",
    "parse_threshold",
    "responder_analysis",
    "responders_from_config",
    "RESPONDER_COLUMNS",
    "RESPONDER_EXTRA_COLUMNS",
    "KINDS",
    "THRESHOLD_KINDS",
    "ThresholdKind",
]

#: Output contract of ``tables/responders.csv`` (order matters).
RESPONDER_COLUMNS = (
    "outcome",
    "threshold",
    "visit",
    "arm",
    "responders",
    "denominator",
    "percent",
    "reference",
    "risk_difference",
    "rd_ci_low",
    "rd_ci_high",
    "odds_ratio",
    "or_ci_low",
    "or_ci_high",
    "p",
)
#: Extra columns after the contract columns.
RESPONDER_EXTRA_COLUMNS = (
    "denominator_type",
    "percent_ci_low",
    "percent_ci_high",
    "nnt",
    "nnt_ci_low",
    "nnt_ci_high",
    "nnt_label",
    "or_corrected",
    "test",
    "n_missing",
    "n_undefined",
)


@dataclass(frozen=True)
class ThresholdKind:
    """One row of :data:`THRESHOLD_KINDS`: a quantity a threshold rule compares.

    ``definition`` is what the module docstring's table shows; ``needs_baseline`` says whether
    the quantity reads the participant's baseline value; ``percent`` whether it is a percent of
    the baseline (undefined for a baseline of 0, and the only kinds a ``%`` may follow).
    """

    name: str
    definition: str
    needs_baseline: bool
    percent: bool


#: The quantities of the threshold language, by name: the one table that the parser, the error
#: message's list (``_ALLOWED``) and the module docstring's table read or are checked against
#: (tests/test_registries.py).
THRESHOLD_KINDS: dict[str, ThresholdKind] = {
    kind.name: kind
    for kind in (
        ThresholdKind("value", "the score at the visit", False, False),
        ThresholdKind("reduction", "``baseline - value``", True, False),
        ThresholdKind("percent_reduction", "``100 * (baseline - value) / |baseline|``", True, True),
        ThresholdKind("change", "``value - baseline``", True, False),
        ThresholdKind("percent_change", "``100 * (value - baseline) / |baseline|``", True, True),
        ThresholdKind(
            "improvement",
            "``baseline - value``, or ``value - baseline`` where higher is better",
            True,
            False,
        ),
        ThresholdKind("percent_improvement", "``100 * improvement / |baseline|``", True, True),
    )
}
KINDS = tuple(THRESHOLD_KINDS)
_PERCENT_KINDS = {name for name, kind in THRESHOLD_KINDS.items() if kind.percent}
_OPERATORS = ("<=", ">=", "==", "<", ">")
_BASELINE_SUFFIX = "_baseline"

_ALLOWED = (
    "A threshold rule is 'QUANTITY OP NUMBER', combined with 'and' / 'or' and parentheses. "
    "QUANTITY is one of " + ", ".join(KINDS) + " (for the rule's outcome), "
    "KIND(outcome) such as percent_reduction(pain_avg), or an outcome name meaning its value; "
    "OP is one of <=, <, >=, >, ==. Examples: 'value <= 1', 'value == 0', "
    "'percent_reduction >= 30', 'reduction >= 2', 'improvement >= 5', 'change <= -2', "
    "'pain_avg <= 1 and odi <= 10', 'percent_reduction(pain_avg) >= 30 or pain_avg <= 1'."
)


class ThresholdError(PrtOutcomesError):
    """A threshold rule cannot be parsed or applied; the message lists the allowed forms."""


# ----------------------------------------------------------------------------------------------
# Tokenizer and parser
# ----------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<op><=|>=|==|<|>)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<lparen>\()|(?P<rparen>\))|(?P<percent>%))"
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ThresholdError(
                f"threshold {text!r}: cannot read {text[pos:].strip()!r} at position {pos}. " + _ALLOWED
            )
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class _Comparison:
    kind: str
    outcome: str | None
    op: str
    number: float

    def text(self) -> str:
        quantity = self.kind if self.outcome is None else f"{self.kind}({self.outcome})"
        return f"{quantity} {self.op} {self.number:g}"


@dataclass(frozen=True)
class _Logical:
    op: str  # "and" | "or"
    children: tuple


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def fail(self, message: str) -> ThresholdError:
        return ThresholdError(f"threshold {self.text!r}: {message}. " + _ALLOWED)

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None, len(self.text))

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def is_keyword(self, word: str) -> bool:
        kind, value, _ = self.peek()
        return kind == "name" and value.lower() == word

    def parse(self):
        if not self.tokens:
            raise self.fail("the rule is empty")
        node = self.parse_or()
        if self.pos != len(self.tokens):
            _, value, where = self.peek()
            raise self.fail(f"unexpected {value!r} at position {where}")
        return node

    def parse_or(self):
        children = [self.parse_and()]
        while self.is_keyword("or"):
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else _Logical("or", tuple(children))

    def parse_and(self):
        children = [self.parse_factor()]
        while self.is_keyword("and"):
            self.take()
            children.append(self.parse_factor())
        return children[0] if len(children) == 1 else _Logical("and", tuple(children))

    def parse_factor(self):
        kind, value, where = self.peek()
        if kind == "lparen":
            self.take()
            node = self.parse_or()
            if self.peek()[0] != "rparen":
                raise self.fail(f"missing ')' for the '(' at position {where}")
            self.take()
            return node
        return self.parse_comparison()

    def parse_comparison(self):
        kind, value, where = self.take()
        if kind != "name" or value.lower() in ("and", "or"):
            shown = "the end of the rule" if kind is None else repr(value)
            raise self.fail(f"expected a quantity at position {where}, found {shown}")
        if value in KINDS:
            quantity_kind, outcome = value, None
            if self.peek()[0] == "lparen":
                self.take()
                name_kind, name, name_at = self.take()
                if name_kind != "name":
                    raise self.fail(f"expected an outcome name inside {value}( ) at position {name_at}")
                if self.take()[0] != "rparen":
                    raise self.fail(f"missing ')' after {value}({name}")
                outcome = name
        else:
            quantity_kind, outcome = "value", value
        op_kind, op, op_at = self.take()
        if op_kind != "op":
            shown = "the end of the rule" if op_kind is None else repr(op)
            raise self.fail(f"expected a comparison operator after {value!r}, found {shown}")
        num_kind, number, num_at = self.take()
        if num_kind != "number":
            shown = "the end of the rule" if num_kind is None else repr(number)
            raise self.fail(f"expected a number after {op!r}, found {shown}")
        if self.peek()[0] == "percent":
            if quantity_kind not in _PERCENT_KINDS:
                raise self.fail(f"'%' only follows numbers compared with percent kinds, not {quantity_kind}")
            self.take()
        return _Comparison(quantity_kind, outcome, op, float(number))


def _comparisons(node) -> list[_Comparison]:
    if isinstance(node, _Comparison):
        return [node]
    return [c for child in node.children for c in _comparisons(child)]


def _bind_outcome(node, outcome: str):
    if isinstance(node, _Comparison):
        return node if node.outcome is not None else _Comparison(node.kind, outcome, node.op, node.number)
    return _Logical(node.op, tuple(_bind_outcome(c, outcome) for c in node.children))


def _node_text(node, top: bool = True) -> str:
    if isinstance(node, _Comparison):
        return node.text()
    inner = f" {node.op} ".join(_node_text(c, top=False) for c in node.children)
    return inner if top else f"({inner})"


# ----------------------------------------------------------------------------------------------
# Threshold object
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    """A parsed responder rule.

    Attributes
    ----------
    text : str
        The rule as written.
    outcomes : tuple of str
        Outcomes the rule reads, in order of first use.
    needs_baseline : bool
        Whether any comparison uses the baseline (every kind but ``value``).
    higher_is_better : dict
        Direction per outcome, used by the ``improvement`` kinds.
    """

    text: str
    outcomes: tuple[str, ...]
    needs_baseline: bool
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)
    _tree: object = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    @property
    def canonical(self) -> str:
        """The rule with every outcome named, e.g. ``'value(pain_avg) <= 1'``."""
        return _node_text(self._tree)

    @property
    def outcome_label(self) -> str:
        """Outcome names joined with ``+`` (the ``outcome`` column of the responders table)."""
        return "+".join(self.outcomes)

    def evaluate(self, frame: pd.DataFrame, baseline: pd.DataFrame | None = None) -> pd.Series:
        """Apply the rule row by row.

        Parameters
        ----------
        frame : DataFrame
            One row per participant with a column per outcome the rule reads (the values at
            the visit being assessed).
        baseline : DataFrame, optional
            Baseline values with the same index and outcome columns. Without it, baseline-based
            rules read ``<outcome>_baseline`` columns of ``frame``.

        Returns
        -------
        Series of pandas ``boolean`` dtype, NA where the rule cannot be decided.

        Examples
        --------
        >>> import pandas as pd
        >>> rule = parse_threshold("pain <= 1 or reduction(pain) >= 2")
        >>> frame = pd.DataFrame({"pain": [1, 3, 6, None], "pain_baseline": [4, 6, None, 2]})
        >>> rule.evaluate(frame).tolist()
        [True, True, <NA>, <NA>]
        """
        return self._eval(self._tree, frame, baseline)

    # -- internals -------------------------------------------------------------------------
    def _column(self, frame: pd.DataFrame, name: str, role: str) -> pd.Series:
        if name not in frame.columns:
            raise ThresholdError(
                f"threshold {self.text!r} needs the {role} column {name!r}, which the data lack; "
                f"columns present: {list(map(str, frame.columns))}."
            )
        column = frame[name]
        try:
            return pd.to_numeric(column, errors="raise").astype("float64")
        except (ValueError, TypeError):
            bad = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
            raise ThresholdError(
                f"threshold {self.text!r}: column {name!r} holds non-numeric values "
                f"(e.g. {bad.iloc[0]!r}); recode missing values as empty/NaN before the analysis."
            ) from None

    def _quantity(self, comp: _Comparison, frame, baseline) -> pd.Series:
        value = self._column(frame, comp.outcome, "outcome")
        if comp.kind == "value":
            return value
        if baseline is None:
            base = self._column(frame, comp.outcome + _BASELINE_SUFFIX, "baseline")
        else:
            base = self._column(baseline, comp.outcome, "baseline").reindex(frame.index)
        higher = bool(self.higher_is_better.get(comp.outcome, False))
        # change and percent change have one definition (prt_outcomes.derive); the kinds only
        # choose a sign. A zero baseline makes the percent NaN, so the comparison is NA.
        if comp.kind in _PERCENT_KINDS:
            quantity = percent_change(value, base)
            kind = comp.kind[len("percent_") :]
        else:
            quantity = change_from_baseline(value, base)
            kind = comp.kind
        improvement_sign = 1.0 if higher else -1.0
        sign = {"change": 1.0, "reduction": -1.0, "improvement": improvement_sign}[kind]
        return quantity if sign > 0 else -quantity

    def _eval(self, node, frame, baseline) -> pd.Series:
        if isinstance(node, _Comparison):
            quantity = self._quantity(node, frame, baseline).to_numpy()
            tol = 1e-9 * max(1.0, abs(node.number))
            t = node.number
            with np.errstate(invalid="ignore"):
                if node.op == "<=":
                    hit = quantity <= t + tol
                elif node.op == "<":
                    hit = quantity < t - tol
                elif node.op == ">=":
                    hit = quantity >= t - tol
                elif node.op == ">":
                    hit = quantity > t + tol
                else:
                    hit = np.abs(quantity - t) <= tol
            result = pd.array(hit, dtype="boolean")
            result[np.isnan(quantity)] = pd.NA
            return pd.Series(result, index=frame.index)
        parts = [self._eval(child, frame, baseline) for child in node.children]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if node.op == "and" else (out | part)
        return out

    def inputs_present(self, frame: pd.DataFrame, baseline: pd.DataFrame | None = None) -> pd.Series:
        """True where every value (and baseline, if needed) the rule reads is present."""
        present = pd.Series(True, index=frame.index)
        needs = {c.outcome for c in _comparisons(self._tree) if THRESHOLD_KINDS[c.kind].needs_baseline}
        for name in self.outcomes:
            present &= self._column(frame, name, "outcome").notna()
            if name in needs:
                base = (
                    self._column(frame, name + _BASELINE_SUFFIX, "baseline")
                    if baseline is None
                    else self._column(baseline, name, "baseline").reindex(frame.index)
                )
                present &= base.notna()
        return present


def parse_threshold(
    text: str,
    outcome: str | Sequence[str] | None = None,
    higher_is_better: bool | Mapping[str, bool] = False,
) -> Threshold:
    """Parse a responder rule (see the module docstring for the grammar).

    Parameters
    ----------
    text : str
        The rule, e.g. ``"percent_reduction >= 30"`` or ``"pain_avg <= 1 and odi <= 10"``.
    outcome : str or sequence of one str, optional
        Outcome that bare kinds (``value``, ``reduction``, ...) refer to.
    higher_is_better : bool or mapping outcome -> bool
        Direction of improvement, used by ``improvement`` and ``percent_improvement``.

    Raises
    ------
    ThresholdError
        When the rule cannot be read; the message lists the allowed forms.

    Examples
    --------
    >>> rule = parse_threshold("percent_reduction(pain_avg) >= 30 or pain_avg <= 1")
    >>> rule.outcomes, rule.needs_baseline
    (('pain_avg',), True)
    >>> parse_threshold("value <= 1", outcome="pain_avg").canonical
    'value(pain_avg) <= 1'
    """
    if isinstance(text, Threshold):
        return text
    if not isinstance(text, str):
        raise ThresholdError(f"a threshold must be a string, got {type(text).__name__}. " + _ALLOWED)
    if outcome is not None and not isinstance(outcome, str):
        names = list(outcome)
        outcome = names[0] if len(names) == 1 else None
        default_is_ambiguous = len(names) > 1
    else:
        default_is_ambiguous = False
    tree = _Parser(text).parse()
    if any(c.outcome is None for c in _comparisons(tree)):
        if outcome is None:
            why = "several outcomes were given" if default_is_ambiguous else "no outcome was given"
            raise ThresholdError(
                f"threshold {text!r} uses a kind without naming its outcome and {why}; "
                "pass outcome=... or name it in the rule, e.g. 'value(pain_avg) <= 1'. " + _ALLOWED
            )
        tree = _bind_outcome(tree, outcome)
    comps = _comparisons(tree)
    outcomes = tuple(dict.fromkeys(c.outcome for c in comps))
    if isinstance(higher_is_better, Mapping):
        direction = {name: bool(higher_is_better.get(name, False)) for name in outcomes}
    else:
        direction = {name: bool(higher_is_better) for name in outcomes}
    return Threshold(
        text=" ".join(text.split()),
        outcomes=outcomes,
        needs_baseline=any(THRESHOLD_KINDS[c.kind].needs_baseline for c in comps),
        higher_is_better=direction,
        _tree=tree,
    )


# ----------------------------------------------------------------------------------------------
# Responder analysis
# ----------------------------------------------------------------------------------------------
def _levels(values: pd.Series, given: Sequence | None, what: str, param: str) -> list:
    return ordered_levels(values, given, parameter=param, column=what)


def _randomized_arms(randomized, data: pd.DataFrame, subject: str, arm: str) -> pd.Series:
    from_data = data[[subject, arm]].dropna().drop_duplicates()
    conflicting = from_data[from_data[subject].duplicated(keep=False)]
    if len(conflicting):
        ids = list(pd.unique(conflicting[subject]))[:5]
        raise ValueError(
            f"responder_analysis: participants {ids} appear in more than one arm; "
            "each participant must have exactly one arm."
        )
    if randomized is None:
        return from_data.set_index(subject)[arm]
    if isinstance(randomized, pd.DataFrame):
        if subject not in randomized.columns or arm not in randomized.columns:
            raise ValueError(
                f"responder_analysis: 'randomized' must have columns {subject!r} and {arm!r} "
                f"(or be a Series indexed by participant); it has {list(randomized.columns)}."
            )
        series = randomized.set_index(subject)[arm]
    elif isinstance(randomized, pd.Series):
        series = randomized
    else:
        raise TypeError("responder_analysis: 'randomized' must be a DataFrame, a Series, or None.")
    if series.index.duplicated().any():
        ids = list(series.index[series.index.duplicated()][:5])
        raise ValueError(f"responder_analysis: 'randomized' lists participants {ids} more than once.")
    if series.isna().any():
        ids = list(series.index[series.isna()][:5])
        raise ValueError(f"responder_analysis: 'randomized' has no arm for participants {ids}.")
    known = from_data.set_index(subject)[arm]
    absent = known.index.difference(series.index)
    if len(absent):
        raise ValueError(
            f"responder_analysis: {len(absent)} participants in the data are not in 'randomized' "
            f"(e.g. {list(absent[:5])}); list every randomized participant."
        )
    mismatch = known[known != series.reindex(known.index)]
    if len(mismatch):
        raise ValueError(
            f"responder_analysis: participants {list(mismatch.index[:5])} have a different arm "
            "in the data than in 'randomized'."
        )
    return series


def responder_analysis(
    data: pd.DataFrame,
    *,
    threshold: str | Threshold,
    outcome: str | Sequence[str] | None = None,
    arm: str = "arm",
    visit: str = "visit",
    subject: str = "participant_id",
    baseline_visit=None,
    reference_arm=None,
    denominator: str = "observed",
    higher_is_better: bool | Mapping[str, bool] = False,
    arm_levels: Sequence | None = None,
    visit_levels: Sequence | None = None,
    randomized: pd.DataFrame | pd.Series | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Responders per arm x visit for one threshold rule, compared with the reference arm.

    Parameters
    ----------
    data : DataFrame
        Long data: one row per participant x visit, with the outcome column(s).
    threshold : str or Threshold
        Rule such as ``"value <= 1"`` (see :mod:`prt_outcomes.responders`).
    outcome : str or list of str, optional
        Outcome a rule's bare kinds refer to; may be omitted when the rule names its outcomes.
    arm, visit, subject : str
        Column names (canonical names by default).
    baseline_visit : optional
        Visit holding baseline values; default the first visit level.
    reference_arm : optional
        Arm the others are compared with; default the last arm level (the config's convention),
        none for single-arm data.
    denominator : {"observed", "randomized"}
        ``observed``: participants whose response can be decided at the visit; ``randomized``:
        all randomized participants of the arm, undecided counting as non-responders.
    higher_is_better : bool or mapping
        Direction per outcome, for the ``improvement`` kinds.
    arm_levels, visit_levels : sequence, optional
        Order of arms and visits; default the categorical order if the column is categorical,
        otherwise sorted values. Pass ``visit_levels`` for named visits (``"baseline"``,
        ``"post"``, ...), whose alphabetical order is rarely chronological.
    randomized : DataFrame or Series, optional
        Every randomized participant with their arm: a Series indexed by participant, or a
        DataFrame with ``subject`` and ``arm`` columns. Default: everyone appearing in ``data``.
    alpha : float
        1 - confidence level of every interval.

    Returns
    -------
    DataFrame
        :data:`RESPONDER_COLUMNS` then :data:`RESPONDER_EXTRA_COLUMNS`, one row per visit x arm.
        ``percent`` is 0-100; ``risk_difference`` is a difference of proportions (0-1);
        ``reference`` names the reference arm on comparison rows and is empty on the reference
        arm's own row. ``n_missing`` counts randomized participants whose response could not be
        decided; ``n_undefined`` those among them with all values present but a percent kind
        undefined because the baseline is 0. See :mod:`prt_outcomes.proportions` for the methods.

    Raises
    ------
    ThresholdError
        For an unreadable rule or outcome columns the data lack.
    ValueError
        For inconsistent data (duplicate participant x visit rows, a participant in two arms,
        unknown arms or visits, a bad ``denominator``).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({
    ...     "participant_id": [1, 1, 2, 2, 3, 3, 4, 4],
    ...     "arm": ["prt"] * 4 + ["uc"] * 4,
    ...     "visit": ["pre", "post"] * 4,
    ...     "pain": [5, 1, 4, 2, 5, 4, 6, 6]})
    >>> table = responder_analysis(data, outcome="pain", threshold="value <= 1",
    ...                            visit_levels=["pre", "post"], reference_arm="uc")
    >>> table[["visit", "arm", "responders", "denominator"]].values.tolist()
    [['pre', 'prt', 0, 2], ['pre', 'uc', 0, 2], ['post', 'prt', 1, 2], ['post', 'uc', 0, 2]]
    """
    if denominator not in ("observed", "randomized"):
        raise ValueError(
            f"responder_analysis: denominator must be 'observed' or 'randomized', got {denominator!r}."
        )
    if not 0 < alpha < 1:
        raise ValueError(f"responder_analysis: alpha must lie between 0 and 1, got {alpha}.")
    rule = (
        threshold
        if isinstance(threshold, Threshold)
        else parse_threshold(threshold, outcome, higher_is_better)
    )
    missing = [c for c in (subject, arm, visit) if c not in data.columns]
    if missing:
        raise ValueError(
            f"responder_analysis: the data lack the columns {missing}; pass subject=, arm=, "
            f"visit= naming them (columns present: {list(map(str, data.columns))})."
        )
    absent = [o for o in rule.outcomes if o not in data.columns]
    if absent:
        raise ThresholdError(
            f"threshold {rule.text!r} reads outcomes {absent}, which are not columns of the data "
            f"(columns present: {list(map(str, data.columns))})."
        )
    rows = data[data[visit].notna()]
    duplicated = rows.duplicated([subject, visit], keep=False)
    if duplicated.any():
        example = rows.loc[duplicated, [subject, visit]].drop_duplicates().head(3).values.tolist()
        raise ValueError(
            f"responder_analysis: {int(duplicated.sum())} rows repeat a participant x visit "
            f"(e.g. {example}); keep one row per participant and visit."
        )

    arms_of = _randomized_arms(randomized, rows, subject, arm)
    arm_order = _levels(arms_of, arm_levels, "arm", "arm_levels")
    visit_order = _levels(rows[visit], visit_levels, "visit", "visit_levels")
    if reference_arm is None and len(arm_order) > 1:
        reference_arm = arm_order[-1]
    if reference_arm is not None and reference_arm not in arm_order:
        raise ValueError(
            f"responder_analysis: reference_arm {reference_arm!r} is not one of the arms {arm_order}."
        )
    if baseline_visit is None:
        baseline_visit = visit_order[0] if visit_order else None
    if rule.needs_baseline and baseline_visit not in visit_order:
        raise ValueError(
            f"responder_analysis: threshold {rule.text!r} needs a baseline, but the baseline visit "
            f"{baseline_visit!r} is not among the visits {visit_order}; pass baseline_visit=."
        )

    subjects = arms_of.index
    baseline = rows[rows[visit] == baseline_visit].set_index(subject)[list(rule.outcomes)].reindex(subjects)
    counts = []
    # A visit level without a single row (e.g. a follow-up not yet reached) is left out rather
    # than reported as 0 responders out of everyone randomized.
    visits_with_rows = set(pd.unique(rows[visit]))
    report_visits = [
        v for v in visit_order if v in visits_with_rows and not (rule.needs_baseline and v == baseline_visit)
    ]
    for v in report_visits:
        current = rows[rows[visit] == v].set_index(subject)[list(rule.outcomes)].reindex(subjects)
        decided = rule.evaluate(current, baseline)
        present = rule.inputs_present(current, baseline)
        for a in arm_order:
            members = (arms_of == a).to_numpy()
            result = decided[members]
            n_decided = int(result.notna().sum())
            n_members = int(members.sum())
            counts.append(
                {
                    "outcome": rule.outcome_label,
                    "threshold": rule.text,
                    "visit": v,
                    "arm": a,
                    "responders": int(result.fillna(False).sum()),
                    "denominator": n_decided if denominator == "observed" else n_members,
                    "n_missing": n_members - n_decided,
                    "n_undefined": int((present[members] & result.isna()).sum()),
                }
            )
    counts = pd.DataFrame(
        counts,
        columns=[
            "outcome",
            "threshold",
            "visit",
            "arm",
            "responders",
            "denominator",
            "n_missing",
            "n_undefined",
        ],
    )
    table = proportion_statistics(counts, reference_arm=reference_arm, by=["visit"], alpha=alpha)
    table["denominator_type"] = denominator
    return table[list(RESPONDER_COLUMNS) + list(RESPONDER_EXTRA_COLUMNS)].reset_index(drop=True)


def responders_from_config(
    data: pd.DataFrame,
    config,
    *,
    randomized: pd.DataFrame | pd.Series | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every threshold of a :class:`~prt_outcomes.config.StudyConfig`, as one responders table.

    Uses the canonical columns (``participant_id``, ``arm``, ``visit``), the config's arm and
    visit order, baseline visit, reference arm, ``responders.denominator`` and each outcome's
    direction. A rule written with bare kinds (``value <= 1``) is applied to each of the
    threshold's ``outcomes`` in turn; a rule naming its outcomes (``pain_avg <= 1 and odi <= 10``)
    is applied once. The extra column ``threshold_label`` holds the config's label.

    Examples
    --------
    >>> from prt_outcomes.config import load_config                # doctest: +SKIP
    >>> table = responders_from_config(data, load_config("config/config.yaml"))  # doctest: +SKIP
    """
    direction = {o.name: o.higher_is_better for o in config.outcomes}
    visits_present = set(pd.unique(data["visit"].dropna())) if "visit" in data.columns else set()
    visit_levels = [v for v in config.visit_names if v in visits_present] or list(config.visit_names)
    tables = []
    for spec in config.thresholds:
        probe = _Parser(spec.rule).parse()
        names_outcomes = all(c.outcome is not None for c in _comparisons(probe))
        targets = [None] if names_outcomes else list(spec.outcomes)
        for target in targets:
            rule = parse_threshold(spec.rule, target, direction)
            table = responder_analysis(
                data,
                threshold=rule,
                baseline_visit=config.baseline_visit,
                reference_arm=config.reference_arm if len(config.arms) > 1 else None,
                denominator=config.responder_denominator,
                arm_levels=list(config.arm_names),
                visit_levels=visit_levels,
                randomized=randomized,
                alpha=alpha,
            )
            table["threshold_label"] = spec.label
            tables.append(table)
    if not tables:
        return pd.DataFrame(columns=[*RESPONDER_COLUMNS, *RESPONDER_EXTRA_COLUMNS, "threshold_label"])
    return pd.concat(tables, ignore_index=True)
