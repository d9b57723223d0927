"""Gaussian (RE)ML for the linear model ``y_i ~ N(X_i beta, V[obs_i, obs_i])``, vectorised by
missingness pattern.

Participants who were observed at the same set of visits share the same covariance submatrix,
so each pattern needs one Cholesky factor and the per-participant work becomes stacked
(BLAS) products over that pattern's participants. There is no loop over participants.

With ``V = sigma2 R`` the REML deviance (-2 log-likelihood on the lme4 / SAS scale) is::

    (N - p) log(2 pi) + sum_i log|V_i| + log|X' V^-1 X| + r' V^-1 r

and the derivative with respect to any covariance parameter t is ``<G, dV/dt>`` with the
k x k matrix ``G = sum_i [V_i^-1 - W_i (X'V^-1X)^-1 W_i' - V_i^-1 r_i r_i' V_i^-1]``
(scattered into the visits observed), ``W_i = V_i^-1 X_i``. For ML the middle term is absent
and ``N - p`` becomes ``N``, without ``log|X'V^-1X|``.

Examples
--------
>>> import numpy as np
>>> y = np.array([1.0, 2.0, 3.0, 2.5]); X = np.ones((4, 1))
>>> data = PatternData.from_arrays(y, X, subject=np.array([0, 0, 1, 1]),
...                                visit=np.array([0, 1, 0, 1]), n_visits=2)
>>> round(float(data.evaluate(np.eye(2), reml=True).deviance), 4)
9.0874
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

__all__ = ["Pattern", "PatternData", "Evaluation"]

_LOG_2PI = np.log(2 * np.pi)


class Pattern:
    """Participants observed at the same visits: ``visits`` (m,), ``y`` (m, n), ``X`` (m, n, p).

    ``group`` is the participants' covariance group (0 when ungrouped): patterns are keyed by
    (group, observed visits). ``rows`` (m, n) are the row positions in the original arrays.
    A large pattern keeps no copy of its design rows: ``X`` is then gathered from ``source``
    (the caller's n x p matrix) when asked for, since the likelihood itself works on the
    pattern's moments and a copy would double the memory of a registry-sized design.
    """

    def __init__(self, visits, y, X=None, rows=None, group: int = 0, *, source=None, subjects=None):
        if X is None and (source is None or rows is None):
            raise ValueError("a Pattern needs its design rows X, or rows and their source matrix.")
        self.visits = visits
        self.y = y
        self.rows = rows
        self.group = group
        self.subjects = subjects  # (n,) subject codes of the columns (from_arrays sets them)
        self._X = X
        self._source = source

    def without_columns(self, drop: np.ndarray) -> "Pattern":
        """The pattern without the participants (columns) where the boolean ``drop`` is set."""
        keep = ~drop
        rows = None if self.rows is None else self.rows[:, keep]
        subjects = None if self.subjects is None else self.subjects[keep]
        if self._X is not None:
            return Pattern(
                self.visits, self.y[:, keep], self._X[:, keep], rows, self.group, subjects=subjects
            )
        return Pattern(
            self.visits, self.y[:, keep], rows=rows, group=self.group, source=self._source, subjects=subjects
        )

    @property
    def X(self) -> np.ndarray:
        return self._X if self._X is not None else self._source[self.rows]

    @property
    def n_subjects(self) -> int:
        return self.y.shape[1]

    def __repr__(self) -> str:
        return f"Pattern(visits={self.visits.tolist()}, n_subjects={self.n_subjects}, group={self.group})"


@dataclass
class Evaluation:
    """Everything one pass over the patterns yields for a given ``V``."""

    deviance: float
    beta: np.ndarray
    xtvx: np.ndarray  # X' V^-1 X
    quad: float  # r' V^-1 r at beta
    logdet_v: float  # sum_i log|V_i|
    logdet_xtvx: float
    g_fixed: np.ndarray | None = None  # sum_i V_i^-1 - W_i C W_i' (REML) or V_i^-1 (ML), k x k
    g_resid: np.ndarray | None = None  # sum_i V_i^-1 r_i r_i' V_i^-1, k x k

    def gradient(self, dV: np.ndarray) -> np.ndarray:
        """Derivative of the (unprofiled) deviance for each ``dV[j]``.

        ``dV`` is (q, k, k), or (q, G, k, k) for a per-group covariance; ``g_fixed`` and
        ``g_resid`` are (G, k, k) when the evaluation was at a (G, k, k) ``V``. A (q, k, k)
        ``dV`` against grouped matrices is the same change in every group.
        """
        G = self.g_fixed - self.g_resid
        dV = np.asarray(dV)
        if G.ndim == 2 and dV.ndim == 3:
            return np.einsum("ab,jab->j", G, dV)
        if G.ndim == 3 and dV.ndim == 4:
            return np.einsum("gab,jgab->j", G, dV)
        if G.ndim == 3 and dV.ndim == 3:
            return np.einsum("ab,jab->j", G.sum(axis=0), dV)
        raise ValueError(
            f"dV of shape {dV.shape} does not match an evaluation at a covariance of shape "
            f"{G.shape}; evaluate at a (G, k, k) V to differentiate per group."
        )


class PatternData:
    """Outcome and design rows grouped by missingness pattern."""

    def __init__(self, patterns: list[Pattern], n_visits: int, n_obs: int, n_coef: int):
        self.patterns = patterns
        self._source = None  # (y, X) as given to from_arrays: the rows in their original order
        self._moment_cache = None
        self._group_cache = None
        self.k = n_visits
        self.n_obs = n_obs
        self.p = n_coef
        self.n_groups = max((pat.group for pat in patterns), default=0) + 1

    @classmethod
    def from_arrays(cls, y, X, *, subject, visit, n_visits, group=None) -> "PatternData":
        """Group rows by participant's (covariance group, set of observed visits).

        ``subject`` are integer codes, ``visit`` are 0-based visit positions; each
        (subject, visit) pair must occur at most once. ``group`` (optional) is a non-negative
        integer code per row, constant within a participant: its covariance group.

        Raises
        ------
        ValueError
            If ``group`` is not a non-negative integer per row or varies within a participant.

        Examples
        --------
        >>> y = np.array([1.0, 2.0, 3.0, 2.5, 0.5]); X = np.ones((5, 1))
        >>> d = PatternData.from_arrays(y, X, subject=np.array([0, 0, 1, 1, 2]),
        ...                             visit=np.array([0, 1, 0, 1, 0]), n_visits=2,
        ...                             group=np.array([0, 0, 1, 1, 1]))
        >>> [(p.group, p.visits.tolist(), p.n_subjects) for p in d.patterns]
        [(0, [0, 1], 1), (1, [0], 1), (1, [0, 1], 1)]
        >>> V = np.stack([np.eye(2), 4 * np.eye(2)])  # group 1 has four times the variance
        >>> [(g, n) for g, visits, n, Vinv, H in d.pattern_products(V)]
        [(0, 1), (1, 1), (1, 1)]
        """
        y = np.asarray(y, dtype=float)
        X = np.asarray(X, dtype=float)
        subject = np.asarray(subject)
        visit = np.asarray(visit, dtype=np.int64)
        n = y.size
        if _are_first_codes(subject):
            subj_code = subject.astype(np.int64, copy=False)  # already 0, 1, 2, ... in order
        else:
            _, subj_code = np.unique(subject, return_inverse=True)
            subj_code = subj_code.reshape(-1)
        n_subj = subj_code.max() + 1 if n else 0
        subj_group = np.zeros(n_subj, dtype=np.int64)
        n_groups = 1
        if group is not None:
            group = np.asarray(group)
            if group.shape != (n,) or not np.issubdtype(group.dtype, np.integer) or (n and group.min() < 0):
                raise ValueError("group must be a non-negative integer code per row.")
            subj_group[subj_code] = group
            if np.any(subj_group[subj_code] != group):
                raise ValueError(
                    "group must be constant within a participant (a participant's visits share one "
                    "covariance matrix); recode the grouping variable or check the subject column."
                )
            n_groups = int(group.max()) + 1 if n else 1
        # A participant's pattern is its group and its set of observed visits. Patterns are
        # ordered by group, then by the observed-visit set read as a binary number (bit v =
        # visit v). The number is formed only when it fits an int64 (it overflows beyond 62
        # visits: spatial structures over actual days); else sorting the bit vectors from the
        # highest visit down gives the same order, so the patterns (and sums) keep their order.
        observed = np.zeros((n_subj, n_visits), dtype=np.int8)
        observed[subj_code, visit] = 1
        group_bits = int(subj_group.max()).bit_length() if n_subj else 0
        if n_visits + group_bits <= 62:
            weights = np.left_shift(np.int64(1), np.arange(n_visits, dtype=np.int64))
            key = (subj_group << n_visits) + observed.astype(np.int64) @ weights
            _, rank = np.unique(key, return_inverse=True)
        else:
            key = np.column_stack((subj_group, observed[:, ::-1]))
            _, rank = np.unique(key, axis=0, return_inverse=True)
        rank = rank.reshape(-1)
        row_key = rank[subj_code]
        if n < 2 or np.all(np.diff(subj_code * n_visits + visit) > 0):
            # rows already in (subject, visit) order (both front ends sort them): a stable sort
            # by pattern alone is the lexsort below, and for few patterns a radix sort
            small = row_key.astype(np.int16) if rank.max(initial=0) < 2**15 else row_key
            order = np.argsort(small, kind="stable")
        else:
            order = np.lexsort((visit, subj_code, row_key))
        row_rank = row_key[order]
        patterns = []
        boundaries = np.flatnonzero(np.diff(row_rank)) + 1
        p = X.shape[1]
        for chunk in np.split(order, boundaries):
            if chunk.size == 0:
                continue
            first = subj_code[chunk[0]]
            visits = np.flatnonzero(observed[first]).astype(np.int64)
            m = visits.size
            rows = chunk.reshape(-1, m).T  # (m, n_p): rows sorted by subject then visit
            g = int(subj_group[first])
            codes = subj_code[rows[0]]
            if rows.shape[1] > m * p:  # evaluated from its moments: no copy of its rows
                patterns.append(Pattern(visits, y[rows], rows=rows, group=g, source=X, subjects=codes))
            else:
                patterns.append(Pattern(visits, y[rows], X[rows], rows=rows, group=g, subjects=codes))
        out = cls(patterns, n_visits, n, X.shape[1])
        out.n_groups = max(out.n_groups, n_groups)
        out._source = (y, X)
        return out

    def without_subjects(self, subjects) -> "PatternData":
        """The same data without the participants whose subject codes are in ``subjects``,
        downdated rather than rebuilt: every other pattern (with its moments) is shared as is,
        and a pattern that loses participants has their contributions subtracted from its moments
        (``XX``, ``Xy``, ``yy``), or its rows removed when it is evaluated from its rows.

        The result evaluates the likelihood of the remaining rows; it equals
        ``PatternData.from_arrays`` of those rows up to the rounding of the subtraction (a few
        units in the last place of the pattern's sums), and exactly where nothing was subtracted.
        A pattern keeps the evaluation it had (moments or rows) so that a downdate never rebuilds
        the moments. Codes that are not in the data are ignored. Needs data built by
        :meth:`from_arrays` (which records each pattern's subject codes).

        Examples
        --------
        >>> y = np.array([1.0, 2.0, 3.0, 2.5, 0.5]); X = np.ones((5, 1))
        >>> d = PatternData.from_arrays(y, X, subject=np.array([0, 0, 1, 1, 2]),
        ...                             visit=np.array([0, 1, 0, 1, 0]), n_visits=2)
        >>> loo = d.without_subjects([1])
        >>> [(p.visits.tolist(), p.n_subjects) for p in loo.patterns], loo.n_obs
        ([([0], 1), ([0, 1], 1)], 3)
        >>> fresh = PatternData.from_arrays(y[[0, 1, 4]], X[[0, 1, 4]], subject=np.array([0, 0, 2]),
        ...                                 visit=np.array([0, 1, 0]), n_visits=2)
        >>> V = np.array([[1.0, 0.3], [0.3, 2.0]])
        >>> bool(np.isclose(loo.evaluate(V, reml=True).deviance, fresh.evaluate(V, reml=True).deviance))
        True
        """
        if any(pat.subjects is None for pat in self.patterns):
            raise ValueError("without_subjects needs pattern data built by PatternData.from_arrays.")
        subjects = np.unique(np.asarray(subjects, dtype=np.int64))
        patterns, moments, n_obs = [], [], self.n_obs
        changed = False
        for pat, mom in zip(self.patterns, self._moments()):
            drop = np.isin(pat.subjects, subjects)
            if not drop.any():
                patterns.append(pat)
                moments.append(mom)
                continue
            changed = True
            n_obs -= int(drop.sum()) * pat.visits.size
            if drop.all():
                continue
            out = pat.without_columns(drop)
            if mom is not None:
                gone = pat.without_columns(~drop)  # the left-out participants' columns
                XX, Xy, yy = mom
                X = gone.X
                mom = (
                    XX - np.einsum("anp,bnq->abpq", X, X),
                    Xy - np.einsum("anp,bn->abp", X, gone.y),
                    yy - gone.y @ gone.y.T,
                )
            patterns.append(out)
            moments.append(mom)
        if not changed:
            return self
        out = PatternData(patterns, self.k, n_obs, self.p)
        out.n_groups = self.n_groups
        out._moment_cache = moments
        return out

    # --------------------------------------------------------------------------------------
    def _uses_moments(self, pat: Pattern) -> bool:
        # Moments (m^2 p^2 numbers) pay off, and stay smaller than the rows themselves (m n p),
        # only for patterns with more participants than m * p.
        m, n = pat.y.shape
        return n > m * self.p

    def _moments(self):
        """Per-pattern sums over participants, computed once: with them every likelihood
        evaluation costs O(m^2 p^2) per pattern, independent of the number of participants.

        ``XX[a, b] = sum_i X_i[a]' X_i[b]`` (m, m, p, p), ``Xy[a, b] = sum_i X_i[a]' y_i[b]``
        (m, m, p), ``yy[a, b] = sum_i y_i[a] y_i[b]`` (m, m). ``None`` for small patterns,
        which are evaluated from their rows.
        """
        if getattr(self, "_moment_cache", None) is None:
            cache = []
            for pat in self.patterns:
                if self._uses_moments(pat):
                    cache.append(_pattern_moments(pat, self.p))
                else:
                    cache.append(None)
            self._moment_cache = cache
        return self._moment_cache

    def _row_groups(self):
        """Participants of the small (row-evaluated) patterns, stacked by number of observed
        visits m: ``vis`` (n, m) visit indices, ``X`` (n, m, p), ``y`` (n, m), ``grp`` (n,)
        covariance groups. One batched Cholesky per stack replaces a Python loop over (possibly
        hundreds of) patterns."""
        if getattr(self, "_group_cache", None) is None:
            by_m: dict[int, list] = {}
            for pat, mom in zip(self.patterns, self._moments()):
                if mom is None:
                    by_m.setdefault(pat.visits.size, []).append(pat)
            groups = []
            for m, pats in sorted(by_m.items()):
                vis = np.concatenate([np.tile(pt.visits, (pt.n_subjects, 1)) for pt in pats])
                X = np.concatenate([pt.X.transpose(1, 0, 2) for pt in pats])
                y = np.concatenate([pt.y.T for pt in pats])
                grp = np.concatenate([np.full(pt.n_subjects, pt.group, dtype=np.int64) for pt in pats])
                groups.append((vis, X, y, grp))
            self._group_cache = groups
        return self._group_cache

    def _check_covariance(self, V: np.ndarray) -> np.ndarray:
        V = np.asarray(V, dtype=float)
        k = self.k
        if V.shape == (k, k) or (V.ndim == 3 and V.shape[1:] == (k, k) and V.shape[0] >= self.n_groups):
            return V
        raise ValueError(
            f"V of shape {V.shape} does not fit these data: use ({k}, {k}) or (G, {k}, {k}) with "
            f"G >= {self.n_groups} covariance groups."
        )

    def evaluate(self, V: np.ndarray, *, reml: bool, gradient: bool = False) -> Evaluation:
        """Deviance, GLS estimate and (optionally) the gradient matrices at covariance ``V``.

        ``V`` is (k, k), common to all participants, or (G, k, k): group g's participants have
        ``V[g]``; the gradient matrices ``g_fixed``/``g_resid`` then are (G, k, k) too.
        """
        V = self._check_covariance(V)
        grouped = V.ndim == 3
        p = self.p
        xtvx = np.zeros((p, p))
        xtvy = np.zeros(p)
        yvy = 0.0
        logdet = 0.0
        moment_work = []
        for pat, mom in zip(self.patterns, self._moments()):
            if mom is None:
                continue
            XX, Xy, yy = mom
            Vp = (V[pat.group] if grouped else V)[np.ix_(pat.visits, pat.visits)]
            L = np.linalg.cholesky(Vp)
            logdet += pat.n_subjects * 2.0 * np.log(np.diag(L)).sum()
            Linv = solve_triangular(L, np.eye(L.shape[0]), lower=True, check_finite=False)
            Vinv = Linv.T @ Linv
            xtvx += np.einsum("ab,abpq->pq", Vinv, XX)
            xtvy += np.einsum("ab,abp->p", Vinv, Xy)
            yvy += float(np.sum(Vinv * yy))
            moment_work.append((pat, mom, Vinv))
        row_work = []
        for vis, X, y, grp in self._row_groups():
            n, m = vis.shape
            if grouped:
                Vs = V[grp[:, None, None], vis[:, :, None], vis[:, None, :]]
            else:
                Vs = V[vis[:, :, None], vis[:, None, :]]
            L = np.linalg.cholesky(Vs)
            logdet += 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum()
            Linv = np.linalg.inv(L)
            Z = Linv @ X  # whitened design, (n, m, p)
            w = (Linv @ y[:, :, None])[:, :, 0]
            Zf = Z.reshape(n * m, p)
            wf = w.reshape(n * m)
            xtvx += Zf.T @ Zf
            xtvy += Zf.T @ wf
            yvy += float(wf @ wf)
            row_work.append((vis, Linv, Z, w, grp))
        xtvx = (xtvx + xtvx.T) / 2
        chol = cho_factor(xtvx)
        beta = cho_solve(chol, xtvy)
        quad = float(yvy - xtvy @ beta)
        logdet_xtvx = 2.0 * np.log(np.diag(chol[0])).sum()
        if reml:
            dev = (self.n_obs - p) * _LOG_2PI + logdet + logdet_xtvx + quad
        else:
            dev = self.n_obs * _LOG_2PI + logdet + quad
        ev = Evaluation(dev, beta, xtvx, quad, logdet, logdet_xtvx)
        if gradient:
            C = cho_solve(chol, np.eye(p))
            shape = V.shape
            g_fixed = np.zeros(shape)
            g_resid = np.zeros(shape)
            for pat, (XX, Xy, yy), Vinv in moment_work:
                xb = Xy @ beta  # xb[a, b] = sum_i (X_i[a] beta) y_i[b]
                resid = yy - xb - xb.T + np.einsum("abpq,p,q->ab", XX, beta, beta)
                F = pat.n_subjects * Vinv
                if reml:
                    F = F - Vinv @ np.einsum("abpq,pq->ab", XX, C) @ Vinv
                ix = np.ix_(pat.visits, pat.visits)
                if grouped:
                    g_fixed[pat.group][ix] += F
                    g_resid[pat.group][ix] += Vinv @ resid @ Vinv
                else:
                    g_fixed[ix] += F
                    g_resid[ix] += Vinv @ resid @ Vinv
            for vis, Linv, Z, w, grp in row_work:
                LinvT = np.swapaxes(Linv, 1, 2)
                F = LinvT @ Linv  # V_i^-1
                u = (LinvT @ (w - Z @ beta)[:, :, None])[:, :, 0]  # V_i^-1 r_i
                S = u[:, :, None] * u[:, None, :]
                if reml:
                    Wt = LinvT @ Z  # V_i^-1 X_i
                    F = F - Wt @ C @ np.swapaxes(Wt, 1, 2)
                # scatter-add into the k x k matrices (bincount is much faster than add.at)
                flat = (vis[:, :, None] * self.k + vis[:, None, :]).ravel()
                if grouped:
                    flat = flat + np.repeat(grp * (self.k * self.k), vis.shape[1] ** 2)
                size = g_fixed.size
                g_fixed += np.bincount(flat, weights=F.ravel(), minlength=size).reshape(shape)
                g_resid += np.bincount(flat, weights=S.ravel(), minlength=size).reshape(shape)
            ev.g_fixed, ev.g_resid = g_fixed, g_resid
        return ev

    def weighted_design_products(self, V: np.ndarray):
        """Per pattern, ``H[a, b] = sum_i W_i[a]' W_i[b]`` with ``W_i = V_i^-1 X_i``.

        Yields (visits, n_p, Vinv_p, H_p) with H_p of shape (m, m, p, p), one pattern at a
        time (so memory stays bounded); the derivative of ``X'V^-1X`` along ``dV`` is
        ``-sum_p einsum('ab,abij', dV_p, H_p)``. For a per-group ``V`` use
        :meth:`pattern_products`, which also yields each pattern's group.
        """
        for _group, visits, n, Vinv, H in self.pattern_products(V):
            yield visits, n, Vinv, H

    def pattern_products(self, V: np.ndarray):
        """As :meth:`weighted_design_products`, yielding ``(group, visits, n_p, Vinv_p, H_p)``.

        ``V`` is (k, k) or (G, k, k); pattern p's block is ``V[group][visits, visits]``.
        """
        V = self._check_covariance(V)
        for pat, mom in zip(self.patterns, self._moments()):
            m, n = pat.y.shape
            Vp = (V[pat.group] if V.ndim == 3 else V)[np.ix_(pat.visits, pat.visits)]
            Vinv = np.linalg.inv(Vp)
            Vinv = (Vinv + Vinv.T) / 2
            if mom is not None:
                H = np.einsum("ac,bd,cdpq->abpq", Vinv, Vinv, mom[0], optimize=True)
            else:
                W = (Vinv @ pat.X.reshape(m, n * self.p)).reshape(m, n, self.p)
                H = np.einsum("anp,bnq->abpq", W, W, optimize=True)
            yield pat.group, pat.visits, n, Vinv, H

    def residual_matrix(self, beta: np.ndarray) -> np.ndarray:
        """Residuals ``y - X beta`` as a (n_subjects, k) array with NaN where unobserved."""
        blocks = []
        source = getattr(self, "_source", None)
        fitted = source[1] @ beta if source is not None else None
        for pat in self.patterns:
            m, n = pat.y.shape
            r = pat.y - (pat.X @ beta if fitted is None else fitted[pat.rows])
            full = np.full((n, self.k), np.nan)
            full[:, pat.visits] = r.T
            blocks.append(full)
        return np.vstack(blocks) if blocks else np.zeros((0, self.k))

    def residual_groups(self) -> np.ndarray:
        """The covariance group of each row of :meth:`residual_matrix` (all 0 when ungrouped)."""
        return np.concatenate(
            [np.full(pat.n_subjects, pat.group, dtype=np.int64) for pat in self.patterns]
            + [np.zeros(0, dtype=np.int64)]
        )

    def ols(self):
        """Ordinary least squares of the rows: ``(beta, residual)``, the residual ``y - X beta``
        in the rows' original order.

        ``X'X`` and ``X'y`` come from the pattern moments (no pass over the rows), then one
        step of iterative refinement against the rows restores the accuracy the normal
        equations lose, so a residual of zero (an exact fit) is recognised as such. For data
        built without the source arrays (``PatternData(patterns, ...)``) the rows are stacked.
        """
        if getattr(self, "_ols_cache", None) is not None:
            return self._ols_cache
        p = self.p
        source = getattr(self, "_source", None)
        if source is None:
            X = np.vstack([pat.X.transpose(1, 0, 2).reshape(-1, p) for pat in self.patterns])
            y = np.concatenate([pat.y.T.reshape(-1) for pat in self.patterns])
        else:
            y, X = source
        xtx = np.zeros((p, p))
        xty = np.zeros(p)
        for pat, mom in zip(self.patterns, self._moments()):
            if mom is None:
                Xp = pat.X.reshape(-1, p)
                xtx += Xp.T @ Xp
                xty += Xp.T @ pat.y.reshape(-1)
            else:
                XX, Xy, _ = mom
                diag = np.arange(pat.visits.size)
                xtx += XX[diag, diag].sum(axis=0)
                xty += Xy[diag, diag].sum(axis=0)
        try:
            chol = cho_factor((xtx + xtx.T) / 2)
            beta = cho_solve(chol, xty)
            residual = y - X @ beta
            beta = beta + cho_solve(chol, X.T @ residual)
            residual = y - X @ beta
        except np.linalg.LinAlgError:
            beta = np.linalg.lstsq(X, y, rcond=None)[0]
            residual = y - X @ beta
        self._ols_cache = (beta, residual)
        return beta, residual


def _are_first_codes(codes: np.ndarray) -> bool:
    """Whether integer ``codes`` are 0, 1, 2, ... in order of appearance and sorted (each step
    0 or 1): then ``np.unique(codes, return_inverse=True)[1]`` is ``codes`` itself."""
    if codes.size == 0 or codes.dtype.kind not in "iu" or codes[0] != 0:
        return False
    step = np.diff(codes)
    return bool(np.all((step == 0) | (step == 1)))


_MOMENT_CHUNK = 1 << 15  # participants per block: the gathered rows stay ~ m * 32768 * p floats
_DIRECT_MOMENTS = 1 << 20  # patterns of up to this many design entries take the direct products


def _pattern_moments(pat: Pattern, p: int):
    """``XX`` (m, m, p, p), ``Xy`` (m, m, p) and ``yy`` (m, m) of one pattern, by blocks of
    participants (no copy of the whole pattern's rows).

    A participant's m x p design rows, laid side by side, have m * p columns, and a trial's
    design repeats most of them: the intercept and the arm and baseline-covariate columns are
    the same at every visit, and a visit's indicator columns are constant in a pattern. So the
    products are taken over the distinct columns only (``U``, typically ~10 of the m * p ~ 100)
    and scattered back: ``XX[c, d] = (U'U)[class c, class d]``, the same sums of products at ~1 %
    of the work. Columns are equal when equal in every block seen; a column that differs from
    its class in a later block starts a class of its own, whose sums over the earlier blocks
    (where it was equal to its old class) are those of the old class.
    """
    m, n = pat.y.shape
    mp = m * p
    if m * n * p <= _DIRECT_MOMENTS:
        # a small pattern: the direct products, as always (the same numbers to the last bit)
        X = pat.X
        return (
            np.einsum("anp,bnq->abpq", X, X, optimize=True),
            np.einsum("anp,bn->abp", X, pat.y, optimize=True),
            pat.y @ pat.y.T,
        )
    cls = reps = UU = Uy = None
    for start in range(0, n, _MOMENT_CHUNK):
        stop = min(start + _MOMENT_CHUNK, n)
        if pat._X is not None:
            Z = np.ascontiguousarray(pat._X[:, start:stop].transpose(1, 0, 2)).reshape(stop - start, mp)
        else:  # gathered participant by participant: (c, m, p) is already (c, m * p)
            Z = pat._source[pat.rows[:, start:stop].T].reshape(stop - start, mp)
        if cls is None:
            cls, reps = _equal_columns(Z)
            UU = np.zeros((len(reps), len(reps)))
            Uy = np.zeros((len(reps), m))
        else:
            U = Z[:, reps]
            differs = np.flatnonzero(np.any(Z != U[:, cls], axis=0))
            split: dict[int, list[int]] = {}  # old class -> classes split off it in this block
            for j in differs:
                old = int(cls[j])
                new = next((c for c in split.get(old, []) if np.array_equal(Z[:, reps[c]], Z[:, j])), None)
                if new is None:
                    new = len(reps)
                    reps.append(int(j))
                    UU = np.pad(UU, ((0, 1), (0, 1)))
                    UU[new, :] = UU[old, :]
                    UU[:, new] = UU[:, old]
                    Uy = np.vstack((Uy, Uy[old]))
                    split.setdefault(old, []).append(new)
                cls[j] = new
        U = Z[:, reps]
        UU += U.T @ U
        Uy += U.T @ pat.y[:, start:stop].T
    XX = UU[np.ix_(cls, cls)].reshape(m, p, m, p).transpose(0, 2, 1, 3)
    Xy = Uy[cls].reshape(m, p, m).transpose(0, 2, 1)
    return np.ascontiguousarray(XX), np.ascontiguousarray(Xy), pat.y @ pat.y.T


def _equal_columns(Z: np.ndarray):
    """Classes of exactly equal columns of ``Z``: ``(class per column, first column of each
    class)``. Columns are grouped by a random projection, then compared exactly within a group
    (a projection tie of unequal columns only costs a comparison)."""
    weights = np.random.default_rng(0).standard_normal(Z.shape[0])
    key = weights @ Z
    cls = np.empty(Z.shape[1], dtype=np.int64)
    reps: list[int] = []
    by_key: dict[float, list[int]] = {}
    for j in range(Z.shape[1]):
        bucket = by_key.setdefault(float(key[j]), [])
        found = next((c for c in bucket if np.array_equal(Z[:, reps[c]], Z[:, j])), None)
        if found is None:
            found = len(reps)
            reps.append(j)
            bucket.append(found)
        cls[j] = found
    return cls, reps
