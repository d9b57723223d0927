"""mmrm / R model formulas: parsing, R's factor coding and the design matrix.

A formula such as ``change ~ basval * VISIT + THERAPY * VISIT + us(VISIT | PATIENT)`` is parsed
into fixed-effect terms (R's ``terms()``: ``a*b = a + b + a:b``, ``(a + b):c``, ``-1``, ``+ 0``,
``+ 1``; terms sorted by order, variables in order of first appearance) and exactly one
covariance term (mmrm's ``us``, ``cs``, ``csh``, ``ar1``, ``ar1h``, ``toep``, ``toeph``, ``ad``,
``adh``, ``sp_exp``, optionally grouped ``us(VISIT | ARM / PATIENT)``, or lme4's ``(1 | ID)``).

Why a parser of our own and not ``formulaic`` / ``patsy``: the design has to follow R's
``model.matrix`` exactly, including its rule for terms whose margins are absent (a factor is
coded by treatment contrasts only if the term without it precedes it in the model, else by
full indicators; without an intercept the first factor gets full indicators), because the
reference numbers (SAS, mmrm, lmerTest, emmeans) are defined on that coding; and neither of those
packages parses mmrm's covariance terms. The grammar is small (``~ + - * : ( ) | / ,``), so
owning it costs less than adapting a general one.

Factor coding: numeric columns enter as is; string, category and bool columns are factors with
levels in categorical order, else sorted (``levels=`` overrides, ``reference=`` moves a level
first). Linearly dependent (aliased) columns are found by a pivot-free QR in column order with
R's tolerance 1e-7 (``lm`` / mmrm ``accept_singular``), so the later of two dependent columns
is the one dropped.

Examples
--------
>>> f = parse_formula("y ~ a * b + x - 1 + us(visit | id)")
>>> [":".join(t) for t in f.terms], f.intercept
(['a', 'b', 'x', 'a:b'], False)
>>> f.covariance.structure, f.covariance.visit, f.covariance.subject
('unstructured', ('visit',), 'id')
>>> import pandas as pd
>>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "a": ["p", "q", "p", "q"], "x": [0.5, 1, 2, 3]})
>>> design = Design.build(parse_formula("y ~ a:x + (1 | a)"), df)
>>> design.column_names
['(Intercept)', 'a[p]:x', 'a[q]:x']
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg

from ..errors import ModelError
from .blas import one_blas_thread
from .covariance import COVARIANCE_REGISTRY

__all__ = ["CovarianceTerm", "Formula", "Design", "parse_formula", "MMRM_COVARIANCE_CODES", "aliased_columns"]

# mmrm's short codes -> the engine's registry names (the ``mmrm`` field of each row of
# covariance.COVARIANCE_REGISTRY; the random intercept is lme4's ``(1 | id)``, not a call).
MMRM_COVARIANCE_CODES = {
    spec.mmrm: name for name, spec in COVARIANCE_REGISTRY.items() if spec.mmrm and "(" not in spec.mmrm
}
_ALIAS_TOLERANCE = 1e-7  # R's qr(tol = 1e-7) in lm / model fitting


@dataclass(frozen=True)
class CovarianceTerm:
    """The covariance part of a formula.

    ``visit`` is one column (the visit factor) or, for ``sp_exp``, the coordinate columns, or
    empty for ``(1 | ID)``; ``group`` the optional grouping column (``ARM / PATIENT``).
    """

    code: str
    structure: str
    visit: tuple
    subject: str
    group: str | None = None


@dataclass
class Formula:
    """A parsed formula: response, fixed-effect terms (tuples of variables), intercept, covariance."""

    text: str
    response: str
    terms: list
    intercept: bool
    covariance: CovarianceTerm | None
    variables: list  # fixed-effect variables in order of first appearance (R's variable order)

    def term_label(self, term) -> str:
        return ":".join(term)


# ------------------------------------------------------------------------------------------ parsing
_TOKEN = re.compile(r"\s*(?:(`[^`]+`)|([A-Za-z_.][A-Za-z0-9_.]*)|(\d+(?:\.\d*)?)|(.))")


def _formula_error(text, why):
    return ModelError(
        f"formula {text!r}: {why}. Write it as in R mmrm, e.g. "
        "'change ~ basval * VISIT + THERAPY * VISIT + us(VISIT | PATIENT)' (terms joined by +, "
        "a*b for a + b + a:b, -1 for no intercept, exactly one covariance term)."
    )


def _tokens(text):
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        quoted, name, number, op = m.groups()
        if quoted:
            out.append(("name", quoted[1:-1]))
        elif name:
            out.append(("name", name))
        elif number:
            out.append(("num", number))
        elif op and not op.isspace():
            if op not in "~+-*:()|/,":
                raise _formula_error(text, f"the symbol {op!r} is not supported")
            out.append(("op", op))
    return out


class _Parser:
    """Recursive descent with R's precedence: ``|`` < ``+ -`` < ``* /`` < ``:``."""

    def __init__(self, text, tokens):
        self.text, self.tokens, self.i = text, tokens, 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise _formula_error(self.text, f"expected {value!r}" if value else "unexpected end")
        self.i += 1
        return tok

    def bar(self):
        left = self.sum()
        if self.peek() == ("op", "|"):
            self.take()
            return ("bar", left, self.sum())
        return left

    def sum(self):
        if self.peek() == ("op", "-"):  # a leading minus, as in "~ -1 + x"
            self.take()
            node = ("minus", ("num", "0", True), self.product())
        else:
            node = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            node = ("plus" if op == "+" else "minus", node, self.product())
        return node

    def product(self):
        node = self.colon()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            node = ("star" if op == "*" else "slash", node, self.colon())
        return node

    def colon(self):
        node = self.atom()
        while self.peek() == ("op", ":"):
            self.take()
            node = ("colon", node, self.atom())
        return node

    def atom(self):
        kind, value = self.take()
        if kind == "op" and value == "(":
            inner = self.bar()
            self.take(")")
            return ("paren", inner)
        if kind == "num":
            return ("num", value, False)
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                args = [self.bar()]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.bar())
                self.take(")")
                return ("call", value, args)
            return ("name", value)
        raise _formula_error(self.text, f"unexpected {value!r}")


def _names_of(node, text, what):
    """Column names of a plain ``a`` or ``a, b`` argument (no operators)."""
    if node[0] == "name":
        return [node[1]]
    if node[0] == "paren":
        return _names_of(node[1], text, what)
    raise _formula_error(text, f"{what} must be column names")


def _covariance_from(node, text):
    kind = node[0]
    if kind == "call":
        code, args = node[1], node[2]
        if code not in MMRM_COVARIANCE_CODES:
            raise _formula_error(
                text,
                f"the function {code}() is not supported (covariance terms: "
                f"{', '.join(MMRM_COVARIANCE_CODES)}; transform columns before fitting)",
            )
        *coords, last = args
        if last[0] != "bar":
            raise _formula_error(text, f"the covariance term {code}() needs the form {code}(VISIT | SUBJECT)")
        visit = [n for c in coords for n in _names_of(c, text, "covariance coordinates")]
        visit += _names_of(last[1], text, "the visit of a covariance term")
        right = last[2]
        group = None
        if right[0] == "slash":
            group = _names_of(right[1], text, "the group of a covariance term")[0]
            right = right[2]
        subject = _names_of(right, text, "the subject of a covariance term")
        if len(subject) != 1:
            raise _formula_error(text, "a covariance term names one subject column")
        if code != "sp_exp" and len(visit) != 1:
            raise _formula_error(
                text, f"{code}() takes one visit column; only sp_exp() takes several coordinates"
            )
        return CovarianceTerm(code, MMRM_COVARIANCE_CODES[code], tuple(visit), subject[0], group)
    # (1 | ID): lme4's random intercept
    bar = node[1]
    if bar[1] != ("num", "1", False):
        raise _formula_error(text, "only a random intercept (1 | ID) is supported as a random effect")
    subject = _names_of(bar[2], text, "the subject of (1 | ID)")
    return CovarianceTerm("ri", "random_intercept", (), subject[0], None)


def _is_covariance(node):
    return (node[0] == "call" and node[1] in MMRM_COVARIANCE_CODES) or (
        node[0] == "paren" and node[1][0] == "bar"
    )


def _expand(node, text, found):
    """Terms of a right-hand side as an ordered list of frozensets (frozenset() = intercept)."""
    kind = node[0]
    if _is_covariance(node):
        found.append(_covariance_from(node, text))
        return [], False
    if kind == "call":
        return _covariance_from(node, text)  # raises the "not supported" message
    if kind == "name":
        return [frozenset([node[1]])], False
    if kind == "num":
        if node[1] == "1":
            return [frozenset()], False
        if node[1] == "0":
            return [], True  # "+ 0": remove the intercept
        raise _formula_error(text, f"the number {node[1]} is not a term (use 0, 1 or -1)")
    if kind == "paren":
        if node[1][0] == "bar":
            raise _formula_error(text, "a '|' belongs inside a covariance term such as us(VISIT | ID)")
        return _expand(node[1], text, found)
    if kind == "bar":
        raise _formula_error(text, "a '|' belongs inside a covariance term such as us(VISIT | ID)")
    if kind in ("colon", "star", "slash"):
        left, _ = _expand(node[1], text, found)
        right, _ = _expand(node[2], text, found)
        if found and (_is_covariance(node[1]) or _is_covariance(node[2])):
            raise _formula_error(text, "a covariance term is added with +, not combined with * or :")
        inter = _unique([a | b for a in left for b in right])
        if kind == "colon":
            return inter, False
        if kind == "star":
            return _unique(left + right + inter), False
        # a / b = a + a:b with a's variables all together (R's %in%)
        whole = frozenset().union(*left) if left else frozenset()
        return _unique(left + [whole | b for b in right]), False
    if kind == "plus":
        left, drop_l = _expand(node[1], text, found)
        right, drop_r = _expand(node[2], text, found)
        terms = _unique(left + right)
        if drop_r:
            return [t for t in terms if t], True
        if frozenset() in right:
            return terms, False
        return terms, drop_l
    if kind == "minus":
        left, drop_l = _expand(node[1], text, found)
        right, _ = _expand(node[2], text, found)
        if node[2] == ("num", "0", False):  # "- 0" keeps (adds) the intercept, as in R
            return _unique(left + [frozenset()]), False
        removes_intercept = frozenset() in right
        terms = [t for t in left if t not in right]
        return terms, drop_l or removes_intercept
    raise _formula_error(text, f"cannot read {kind}")


def _unique(terms):
    out = []
    for t in terms:
        if t not in out:
            out.append(t)
    return out


def _first_appearance(node, out):
    if node[0] == "name":
        if node[1] not in out:
            out.append(node[1])
    elif node[0] in ("colon", "star", "slash", "plus", "minus"):
        _first_appearance(node[1], out)
        _first_appearance(node[2], out)
    elif node[0] == "paren" and not _is_covariance(node):
        _first_appearance(node[1], out)
    return out


def parse_formula(text: str) -> Formula:
    """Parse an mmrm / R formula ``response ~ terms + covariance``.

    Raises
    ------
    ModelError
        On a syntax error, an unsupported function, a missing response, or more than one
        covariance term. (A missing covariance term is refused by :func:`prt_outcomes.mmrm`,
        which needs one; the parser also serves plain fixed-effect formulas.)

    Examples
    --------
    >>> f = parse_formula("y ~ (a + b) * c")
    >>> [":".join(t) for t in f.terms]
    ['a', 'b', 'c', 'a:c', 'b:c']
    """
    if not isinstance(text, str) or text.count("~") != 1:
        raise _formula_error(text, "it needs exactly one '~' between the response and the terms")
    lhs, rhs = text.split("~")
    response = lhs.strip().strip("`")
    if not re.fullmatch(r"[^\s()+*:|/,~-]+", response or ""):
        raise _formula_error(text, "the left-hand side must be one column name (transform it before fitting)")
    tokens = _tokens(rhs)
    if not tokens:
        raise _formula_error(text, "the right-hand side is empty")
    parser = _Parser(text, tokens)
    tree = parser.sum()
    if parser.i != len(tokens):
        raise _formula_error(text, f"unexpected {tokens[parser.i][1]!r}")
    found: list[CovarianceTerm] = []
    terms, dropped = _expand(tree, text, found)
    if len(found) > 1:
        raise _formula_error(text, f"it has {len(found)} covariance terms; a model has exactly one")
    intercept = not dropped
    fixed = [t for t in terms if t]
    if frozenset() in terms:
        intercept = True if not dropped else intercept
    order = _first_appearance(tree, [])
    if response in order:
        raise _formula_error(text, f"the response {response!r} also appears on the right-hand side")
    # R's terms(): sorted by order (number of variables), stable; variables in a term by their
    # first appearance in the formula.
    fixed = sorted(fixed, key=len)
    ordered = [tuple(v for v in order if v in t) for t in fixed]
    return Formula(text, response, ordered, intercept, found[0] if found else None, order)


# ------------------------------------------------------------------------------------------ design
def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def factor_levels(series: pd.Series, explicit=None, reference=None, column=None) -> list:
    """Levels of a factor column: ``explicit``, else categorical order, else sorted; the
    ``reference`` level moved first. Unused categories are dropped (R ``droplevels``)."""
    present = pd.unique(series.dropna())
    if explicit is not None:
        levels = list(explicit)
        unknown = [v for v in present if v not in levels]
        if unknown:
            raise ModelError(
                f"column {column!r} has values {sorted(map(str, unknown))} that are not in the levels "
                f"given for it ({levels}); add them to levels={{{column!r}: [...]}} or drop those rows."
            )
        levels = [lv for lv in levels if lv in set(present)]
    elif isinstance(series.dtype, pd.CategoricalDtype):
        levels = [c for c in series.cat.categories if c in set(present)]
    else:
        try:
            levels = sorted(present)
        except TypeError:
            levels = sorted(present, key=str)
    if reference is not None:
        if reference not in levels:
            raise ModelError(
                f"reference level {reference!r} of column {column!r} is not one of its levels {levels}; "
                "pass one of them in reference={...}."
            )
        levels = [reference] + [lv for lv in levels if lv != reference]
    return levels


def _term_codes(terms, intercept):
    """R's ``TermCode``: per term, per variable, 1 = contrasts, 2 = full indicators.

    A variable of a term is coded by contrasts if the term without it is among the *preceding*
    terms (the empty term counts as present, R's ``allzero`` case); the intercept-free
    adjustment is made in :meth:`Design.build`, where it needs to know which are factors.
    """
    codes = []
    for j, term in enumerate(terms):
        row = {}
        for v in term:
            rest = set(term) - {v}
            if not rest:
                row[v] = 1
            else:
                row[v] = 1 if any(rest <= set(terms[i]) for i in range(j)) else 2
        codes.append(row)
    return codes


def aliased_columns(X: np.ndarray, tol: float = _ALIAS_TOLERANCE) -> np.ndarray:
    """Boolean mask of columns that are (numerically) linear combinations of earlier ones.

    Gram-Schmidt in column order (twice, for orthogonality), a column aliased when its
    residual norm is below ``tol`` times its own norm: the criterion of R's ``dqrdc2`` (lm,
    mmrm), which also keeps the first and drops the later of dependent columns.

    Examples
    --------
    >>> import numpy as np
    >>> aliased_columns(np.array([[1.0, 1, 0], [1, 0, 1], [1, 1, 0]])).tolist()
    [False, False, True]
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if n > p:
        # The inner products of the columns of X are those of the columns of its QR triangle R
        # (Q is orthonormal), so Gram-Schmidt on the p x p R decides exactly what it would on
        # X, at O(n p^2) once instead of an n x p basis grown column by column.
        X = qr_triangle(X)
        n = X.shape[0]
    Q = np.zeros((n, 0))
    out = np.zeros(p, dtype=bool)
    for j in range(p):
        x = X[:, j]
        norm = np.linalg.norm(x)
        if norm == 0:
            out[j] = True
            continue
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)
        if np.linalg.norm(r) < tol * norm:
            out[j] = True
            continue
        Q = np.column_stack((Q, r / np.linalg.norm(r)))
    return out


def _indicator(codes: np.ndarray, uniques: list, level) -> np.ndarray:
    """``value == level`` per row as floats, from the factorized column (missing: 0)."""
    hit = np.zeros(len(uniques) + 1)
    for i, u in enumerate(uniques):
        try:
            hit[i] = bool(u == level)
        except (TypeError, ValueError):
            hit[i] = 0.0
    return hit[codes]  # code -1 (missing) picks the trailing 0


def qr_triangle(X: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """The triangle ``R`` of ``X = QR`` (up to the signs of its rows) for a tall ``X``, with
    memory of one block of rows.

    A well-conditioned ``X`` (every design of full rank a trial has) takes Cholesky QR twice
    (Fukaya et al. 2014): ``R1 = chol(X'X)``, then ``R2 = chol(Q1'Q1)`` with
    ``Q1 = X R1^-1`` formed block by block, ``R = R2 R1``, as accurate as Householder QR for
    condition numbers below ~1e6 and two matrix products' work. An ill-conditioned or
    rank-deficient ``X`` (aliased columns) gets the Householder QR of stacked blocks, which is
    exact in the sense of backward stability at any condition.

    Examples
    --------
    >>> X = np.array([[3.0, 1.0], [4.0, 2.0], [0.0, 2.0]])
    >>> R = qr_triangle(X, chunk=2)
    >>> bool(np.allclose(R.T @ R, X.T @ X))
    True
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    with one_blas_thread():
        if n >= 4 * p and p > 0:
            G = X.T @ X
            scale = np.sqrt(np.diag(G))
            if np.all(scale > 0):
                try:
                    R1 = np.linalg.cholesky(G / np.outer(scale, scale)).T * scale  # upper
                    if np.min(np.abs(np.diag(R1)) / scale) > 1e-6:
                        # R1 is well conditioned here, so its inverse times a block is as
                        # good as a triangular solve, and a plain matrix product
                        R1inv = linalg.solve_triangular(R1, np.eye(p))
                        G2 = np.zeros((p, p))
                        for start in range(0, n, chunk):
                            Q1 = X[start : start + chunk] @ R1inv
                            G2 += Q1.T @ Q1
                        return np.linalg.cholesky(G2).T @ R1
                except np.linalg.LinAlgError:
                    pass
        # Householder QR of small blocks of rows: fastest on one BLAS thread
        R = np.zeros((0, p))
        for start in range(0, n, 8192):
            block = np.vstack((R, X[start : start + 8192]))
            R = linalg.qr(block, mode="r", overwrite_a=True, check_finite=False)[0][: min(p, block.shape[0])]
    return R


@dataclass
class Design:
    """Fixed-effect design of a formula on a data frame (R ``model.matrix``)."""

    formula: Formula
    kinds: dict  # variable -> "numeric" | "factor"
    levels: dict  # factor variable -> levels
    codes: list  # per term: {variable: 1 | 2} after the intercept-free adjustment
    factor_codes: list  # per term: R's terms() "factors" codes (before that adjustment)
    column_names: list
    column_term: list  # index into formula.terms per column, -1 for the intercept
    means: dict = field(default_factory=dict)  # numeric variable -> mean over the rows built on

    @classmethod
    def build(cls, formula: Formula, data: pd.DataFrame, *, levels=None, reference=None) -> "Design":
        levels = dict(levels or {})
        reference = dict(reference or {})
        kinds, lv = {}, {}
        for v in formula.variables:
            s = data[v]
            if _is_numeric(s) and v not in levels and v not in reference:
                kinds[v] = "numeric"
            else:
                kinds[v] = "factor"
                lv[v] = factor_levels(s, levels.get(v), reference.get(v), v)
        factor_codes = _term_codes(formula.terms, formula.intercept)
        codes = [dict(c) for c in factor_codes]
        if not formula.intercept:
            # R's modelmatrix(): without an intercept, the first factor (with more than one level)
            # of the first term containing one is coded by indicators.
            done = False
            for j, term in enumerate(formula.terms):
                for v in formula.variables:
                    if v in term and kinds[v] == "factor" and len(lv[v]) > 1:
                        codes[j][v] = 2
                        done = True
                        break
                if done:
                    break
        names, col_term = [], []
        if formula.intercept:
            names.append("(Intercept)")
            col_term.append(-1)
        design = cls(formula, kinds, lv, codes, factor_codes, names, col_term)
        for j, term in enumerate(formula.terms):
            for name in design._term_column_names(j):
                names.append(name)
                col_term.append(j)
        design.means = {
            v: float(np.mean(data[v].to_numpy(dtype=float))) for v in kinds if kinds[v] == "numeric"
        }
        return design

    def _parts(self, j):
        """Per variable of term j: list of (name, level or None)."""
        parts = []
        for v in self.formula.terms[j]:
            if self.kinds[v] == "numeric":
                parts.append([(v, None)])
            else:
                levels = self.levels[v] if self.codes[j][v] == 2 else self.levels[v][1:]
                parts.append([(v, lv) for lv in levels])
        return parts

    def _combinations(self, j):
        # R: the first variable of a term varies fastest
        parts = self._parts(j)
        return [tuple(reversed(c)) for c in itertools.product(*reversed(parts))]

    def _term_column_names(self, j):
        return [
            ":".join(v if lv is None else f"{v}[{lv}]" for v, lv in combo) for combo in self._combinations(j)
        ]

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The design matrix of ``data`` (rows in order); factor values outside the levels give
        zero indicators.

        Each factor column is factorized once and its indicators are looked up from the codes
        (a level compared with each distinct value, not with every row); the matrix is
        allocated once and filled column by column.
        """
        n = len(data)
        combos = [c for j in range(len(self.formula.terms)) for c in self._combinations(j)]
        X = np.empty((n, int(self.formula.intercept) + len(combos)))
        col = 0
        if self.formula.intercept:
            X[:, 0] = 1.0
            col = 1
        values = {}
        for v, kind in self.kinds.items():
            s = data[v]
            if kind == "numeric":
                values[v] = s.to_numpy(dtype=float)
            else:
                codes, uniques = pd.factorize(s)
                values[v] = (codes, list(uniques))
        for combo in combos:
            out = np.ones(n)  # contiguous work column, written into X once
            for v, lv in combo:
                out *= values[v] if lv is None else _indicator(*values[v], lv)
            X[:, col] = out
            col += 1
        return X

    @property
    def factors(self) -> list:
        return [v for v in self.formula.variables if self.kinds[v] == "factor"]

    def term_labels(self) -> list:
        return [":".join(t) for t in self.formula.terms]
