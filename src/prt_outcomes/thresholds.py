"""The threshold language: responder rules as short readable text, parsed without ``eval``.

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

Examples
--------
>>> import pandas as pd
>>> from prt_outcomes.thresholds import parse_threshold
>>> rule = parse_threshold("percent_reduction >= 30", outcome="pain")
>>> frame = pd.DataFrame({"pain": [1.0, 4.0, 2.0], "pain_baseline": [5.0, 5.0, 0.0]})
>>> rule.evaluate(frame).tolist()
[True, False, <NA>]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

from .errors import PrtOutcomesError

if TYPE_CHECKING:
    import pandas as pd

# pandas, numpy and prt_outcomes.derive load where a rule is applied, not where it is parsed:
# every workflow job and the launcher parse the config's rules, and pandas is ~0.3 s of start-up.

__all__ = [
    "ThresholdError",
    "Threshold",
    "parse_threshold",
    "names_its_outcomes",
    "KINDS",
    "THRESHOLD_KINDS",
    "ThresholdKind",
]


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
        import pandas as pd

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
        from .derive import change_from_baseline, percent_change

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
        import numpy as np
        import pandas as pd

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
        import pandas as pd

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


def names_its_outcomes(text: str) -> bool:
    """Whether every comparison of the rule names its outcome (so it needs no default outcome).

    Examples
    --------
    >>> names_its_outcomes("pain_avg <= 1"), names_its_outcomes("value <= 1")
    (True, False)
    """
    return all(c.outcome is not None for c in _comparisons(_Parser(text).parse()))


def percent_reduction_cutoff(text: str) -> float | None:
    """``X`` of a rule that is one comparison ``percent_reduction >= X``, else None.

    The responder curves (cumulative percent reduction per arm) mark these rules: their height
    at ``X`` is the rule's responder rate. A combined rule, another kind or another operator
    has no single point on the curve.

    Examples
    --------
    >>> percent_reduction_cutoff("percent_reduction >= 30")
    30.0
    >>> percent_reduction_cutoff("percent_reduction(pain) >= 50")
    50.0
    >>> percent_reduction_cutoff("percent_reduction >= 30 or value <= 1") is None
    True
    """
    tree = _Parser(text).parse()
    if isinstance(tree, _Comparison) and tree.kind == "percent_reduction" and tree.op == ">=":
        return float(tree.number)
    return None
