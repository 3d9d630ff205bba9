"""Predictive CLV: BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy
way") for who is still buying and how often, Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM
and CLV") for how much, fitted per shop.

Pure numpy/scipy, imported only by the analytics pass (its own function) and the
`kizuna analytics clv` command (never at import of an API handler: numpy and scipy cost cold start).

The pipeline, shared by the nightly and the command:

1. `summarise` turns transactions (customer, day, amount) into the model's inputs:
   same-day purchases merged into one, x = repeat purchases (distinct purchase days after
   the first) up to the calibration end, t_x = time of the last of them, T = time from the
   first purchase to the calibration end, both in weeks (`unit_days`), and the spend as
   the mean of the repeat purchases (the first is left out, as in the paper).
2. `check_history` refuses a shop without enough history, naming the threshold.
3. `fit_bgnbd` / `fit_gamma_gamma` maximise the likelihood over the distinct (x, t_x, T)
   (and (x, m)) rows with their counts as weights, in log-space, with analytic gradients:
   L-BFGS-B on the log-parameters, then Nelder-Mead and another L-BFGS-B from the best
   point when the first does not converge. The objective never overflows: every term is a
   gammaln / betaln / log1p / logaddexp of finite numbers, and a non-finite value is
   returned as a large finite one, so a fit always ends with the best parameters found
   (and says whether it converged). The rows are compressed once per shop
   (`compress_summary`: by counting, the times being whole days) for the fit and the
   scores; above `WARM_START_ROWS` rows a fit starts from a sample's optimum and Hessian.
4. `predict` scores every customer: P(alive), expected purchases in 90 and 365 days, the
   discounted 365-day CLV and the predicted next order date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

DAYS_PER_WEEK = 7.0
DEFAULT_MONTHLY_DISCOUNT_RATE = 0.01
"""1 % a month (≈ 12.7 % a year), the usual default in the CLV literature; per shop
configurable (`ClvSettings.monthly_discount_rate`)."""


# ---------------------------------------------------------------------------------------
# Data preparation


@dataclass(frozen=True)
class Summary:
    """One row per customer whose first purchase falls in the calibration period.

    `index` says which customer (the integer code the caller passed in); times are in
    model units (weeks by default) and `monetary` is NaN for a customer without repeats.
    `holdout` counts the repeat purchases (distinct days) after the calibration end up to
    the holdout end, when one was given."""

    index: Ints
    x: Floats
    t_x: Floats
    T: Floats
    monetary: Floats
    first_day: Ints
    holdout: Floats | None
    calibration_end: int
    holdout_end: int | None
    unit_days: float

    @property
    def size(self) -> int:
        return int(self.index.size)

    @property
    def holdout_length(self) -> float:
        if self.holdout_end is None:
            return 0.0
        return (self.holdout_end - self.calibration_end) / self.unit_days


def summarise(
    customers: Ints,
    days: Ints,
    amounts: Floats,
    calibration_end: int,
    holdout_end: int | None = None,
    unit_days: float = DAYS_PER_WEEK,
) -> Summary:
    """Transactions (customer code, epoch day, amount), one row per order, into the
    per-customer summary. Purchases on the calibration end day count in calibration; a
    customer whose first purchase comes after it is left out."""
    customers = np.asarray(customers, dtype=np.int64)
    days = np.asarray(days, dtype=np.int64)
    amounts = np.asarray(amounts, dtype=np.float64)
    if not customers.shape == days.shape == amounts.shape:
        raise ValueError("customers, days and amounts must have one value per transaction")
    if holdout_end is not None and holdout_end <= calibration_end:
        raise ValueError("the holdout must end after the calibration end")
    last = calibration_end if holdout_end is None else holdout_end
    keep = days <= last
    customers, days, amounts = customers[keep], days[keep], amounts[keep]
    empty = np.zeros(0, dtype=np.float64)
    if customers.size == 0:
        return Summary(
            np.zeros(0, dtype=np.int64), empty, empty, empty, empty,
            np.zeros(0, dtype=np.int64), None if holdout_end is None else empty,
            calibration_end, holdout_end, unit_days,
        )  # fmt: skip
    # Merge same-day purchases: one key per (customer, day), sorted by customer then day.
    day0 = int(days.min())
    span = int(days.max()) - day0 + 1
    keys, inverse = np.unique(customers * span + (days - day0), return_inverse=True)
    spend = np.bincount(inverse, weights=amounts, minlength=keys.size)
    cust = keys // span
    day = keys % span + day0
    who, start, per_customer = np.unique(cust, return_index=True, return_counts=True)
    first = day[start]
    # Each purchase day, with its customer's row and first day.
    row = np.repeat(np.arange(who.size), per_customer)
    in_cal = day <= calibration_end
    repeat_cal = in_cal & (day > first[row])
    x = np.bincount(row, weights=repeat_cal, minlength=who.size)
    last_cal = np.full(who.size, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_cal, row[in_cal], day[in_cal])
    repeat_spend = np.bincount(row, weights=np.where(repeat_cal, spend, 0.0), minlength=who.size)
    holdout = None
    if holdout_end is not None:
        holdout = np.bincount(row, weights=~in_cal, minlength=who.size)
    active = first <= calibration_end
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(x > 0, repeat_spend / x, np.nan)
    return Summary(
        index=who[active],
        x=x[active],
        t_x=(last_cal[active] - first[active]) / unit_days,
        T=(calibration_end - first[active]) / unit_days,
        monetary=monetary[active],
        first_day=first[active],
        holdout=None if holdout is None else holdout[active],
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        unit_days=unit_days,
    )


# ---------------------------------------------------------------------------------------
# Thresholds


@dataclass(frozen=True)
class Thresholds:
    """What a shop needs before its model means anything."""

    min_customers: int = 500
    """customers with an order in the calibration period"""
    min_history_days: int = 180
    """days from the shop's first order to the calibration end"""
    min_customers_with_3_orders: int = 20
    """customers with 3 or more orders (x ≥ 2): without them the purchase rates and the
    dropout cannot be told apart"""


class NotEnoughHistory(ValueError):
    """The shop's data cannot support a fit; `threshold` names the one it misses."""

    def __init__(self, threshold: str, required: int, actual: int) -> None:
        self.threshold = threshold
        self.required = required
        self.actual = actual
        what = _THRESHOLD_WORDS.get(threshold, threshold)
        super().__init__(
            f"not enough history: {actual:,} {what}, the model needs at least {required:,}"
            f" ({threshold})"
        )


_THRESHOLD_WORDS = {
    "min_customers": "customers with an order in the calibration period",
    "min_history_days": "days from the first order to the calibration end",
    "min_customers_with_3_orders": "customers with 3 or more orders",
}


def check_history(summary: Summary, thresholds: Thresholds = Thresholds()) -> None:
    """Raise `NotEnoughHistory` for the first threshold the shop misses."""
    customers = summary.size
    history = 0 if not customers else summary.calibration_end - int(summary.first_day.min())
    three = int(np.count_nonzero(summary.x >= 2))
    for name, required, actual in (
        ("min_customers", thresholds.min_customers, customers),
        ("min_history_days", thresholds.min_history_days, history),
        ("min_customers_with_3_orders", thresholds.min_customers_with_3_orders, three),
    ):
        if actual < required:
            raise NotEnoughHistory(name, required, actual)


# ---------------------------------------------------------------------------------------
# Compression


@dataclass(frozen=True)
class Compressed:
    """Distinct rows of a design matrix, with how many customers share each, each
    customer's row, and for each column its distinct values and every row's code into them
    (so a function of one column is computed once per distinct value)."""

    rows: Floats
    weights: Floats
    inverse: Ints
    values: tuple[Floats, ...]
    codes: tuple[Ints, ...]

    def column(self, i: int) -> Floats:
        return np.ascontiguousarray(self.rows[:, i])


def _grid_codes(column: Floats, step: float | None) -> tuple[Floats, Ints] | None:
    """A column whose values are all whole multiples of `step` (purchase counts; times
    made of whole days) over a range no wider than a few times its length: its distinct
    values and each value's code, by counting instead of sorting (linear time)."""
    if step is None or column.size == 0:
        return None
    per_step = 1.0 / step
    with np.errstate(invalid="ignore"):
        k = np.rint(column * per_step)
    if not np.all(np.isfinite(k)):
        return None
    low, high = float(k.min()), float(k.max())
    span = high - low + 1.0
    if span > max(4.0 * column.size, 65_536.0) or not np.array_equal(k / per_step, column):
        return None
    offset = (k - low).astype(np.int64)
    present = np.bincount(offset, minlength=int(span)) > 0
    rank = np.cumsum(present) - 1
    values = np.asarray((np.flatnonzero(present) + low) / per_step, dtype=np.float64)
    return values, np.asarray(rank[offset], dtype=np.int64)


def _distinct_keys(key: Ints, radix: int) -> tuple[Ints, Ints, Floats]:
    """Distinct keys (sorted), each element's index into them, and their counts: by
    counting when the keys' range is small, else one sort of the keys."""
    if radix <= max(4 * key.size, 65_536):
        counts = np.bincount(key, minlength=radix)
        distinct = np.flatnonzero(counts)
        rank = np.cumsum(counts > 0) - 1
        return (
            distinct.astype(np.int64),
            np.asarray(rank[key], dtype=np.int64),
            counts[distinct].astype(np.float64),
        )
    order = np.argsort(key)
    ordered = key[order]
    new = np.empty(key.size, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(key.size, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, key.size)).astype(np.float64)
    return np.asarray(ordered[starts], dtype=np.int64), inverse, sizes


def compress(*columns: Floats, steps: Sequence[float | None] | None = None) -> Compressed:
    """Distinct rows of the stacked columns, their counts, and each customer's row.

    Each column is coded by its distinct values (by counting when `steps` says it lies on
    a grid, e.g. whole days in weeks, and it does; by sorting otherwise), the codes are
    combined into one integer key (mixed radix), and the keys are made unique: a 1-D
    integer sort at most, much faster than sorting rows of floats."""
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    n = arrays[0].size if arrays else 0
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Compressed(
            np.zeros((0, len(arrays))), np.zeros(0), empty,
            tuple(np.zeros(0) for _ in arrays), tuple(empty for _ in arrays),
        )  # fmt: skip
    grid = list(steps) if steps is not None else [None] * len(arrays)
    uniques: list[Floats] = []
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for column, step in zip(arrays, grid, strict=True):
        coded = _grid_codes(column, step)
        if coded is None:
            values, code = np.unique(column, return_inverse=True)  # NaNs are one value each
            coded = values, code.reshape(-1).astype(np.int64)
        uniques.append(coded[0])
        if radix * coded[0].size >= 2**62:
            raise ValueError("too many distinct rows to compress")
        key = key * coded[0].size + coded[1]
        radix *= coded[0].size
    distinct, inverse, counts = _distinct_keys(key, radix)
    codes: list[Ints] = []
    for values in reversed(uniques):
        distinct, code = np.divmod(distinct, values.size)
        codes.insert(0, code)
    rows = np.column_stack([u[c] for u, c in zip(uniques, codes, strict=True)])
    return Compressed(rows, counts, inverse, tuple(uniques), tuple(codes))


def compress_summary(summary: Summary) -> Compressed:
    """The summary's distinct (x, t_x, T) rows: x counted as whole purchases, t_x and T as
    whole days in the summary's unit (falling back to sorting if they are not)."""
    day = 1.0 / summary.unit_days
    return compress(summary.x, summary.t_x, summary.T, steps=(1.0, day, day))


# ---------------------------------------------------------------------------------------
# Optimisation


@dataclass(frozen=True)
class Optimum:
    log_params: Floats
    value: float
    converged: bool
    method: str
    iterations: int


_HUGE = 1e300
_BOUND = (-25.0, 25.0)
"""Log-parameters stay within e^±25: far beyond any meaningful fit, and every term stays
finite there."""


def _safe(
    objective: Callable[[Floats], tuple[float, Floats]],
) -> Callable[[Floats], tuple[float, Floats]]:
    def wrapped(theta: Floats) -> tuple[float, Floats]:
        with np.errstate(all="ignore"):
            value, grad = objective(theta)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return _HUGE, np.zeros_like(theta)
        return value, grad

    return wrapped


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """The optimiser's and numpy's BLAS calls are on vectors of 3 or 4: extra BLAS threads
    only spin, and on two busy cores (or a Lambda's) they made a fit ten times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


WARM_START_ROWS = 20_000
"""A fit over more rows than this first fits an evenly spread 1-in-k sample of them (every
k-th distinct row, or customer: about this many), then polishes on the full data with
Newton steps using the sample's Hessian: three or four passes over the full data instead
of the twenty to forty an optimiser needs from a blind start (its first step has no
curvature to go on). The sample only chooses where the full fit starts and how it steps;
the full likelihood's gradient decides where it ends."""


def _sample_then_polish(
    objective: Callable[[Floats], tuple[float, Floats]],
    sample: Callable[[Floats], tuple[float, Floats]],
    start: Floats,
) -> Optimum:
    """Fit the sample, take its Hessian (central differences of the analytic gradient),
    Newton-polish on the full objective; L-BFGS-B (and its fallback) on the full objective
    from the sample's optimum if the polish does not reach a flat gradient."""
    with one_blas_thread():
        found = _minimise(sample, start, gtol=1e-7)
        if found.value >= _HUGE:
            return _minimise(objective, start, 1e-9)
        hessian = _hessian(_safe(sample), found.log_params)
        polished = _newton_polish(_safe(objective), found.log_params, hessian)
        if polished is not None and polished.converged:
            return polished
        return _minimise(objective, found.log_params, 1e-9)


def _hessian(objective: Callable[[Floats], tuple[float, Floats]], theta: Floats) -> Floats:
    h = 1e-5
    columns = []
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        columns.append((objective(theta + step)[1] - objective(theta - step)[1]) / (2 * h))
    hessian = np.array(columns)
    return np.asarray(0.5 * (hessian + hessian.T), dtype=np.float64)


def _newton_polish(
    objective: Callable[[Floats], tuple[float, Floats]],
    theta: Floats,
    hessian: Floats,
    gtol: float = 1e-9,
    max_steps: int = 30,
) -> Optimum | None:
    """Steps θ ← θ − t H⁻¹ ∇f(θ) with a fixed H (t halved until f does not rise), while the
    gradient is not flat. None when H is not positive definite or f is not finite at θ."""
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    value, grad = objective(theta)
    if value >= _HUGE:
        return None
    steps = 0
    while float(np.max(np.abs(grad))) > gtol and steps < max_steps:
        direction = np.linalg.solve(hessian, grad)
        t = 1.0
        while t > 1e-4:
            candidate = np.clip(theta - t * direction, *_BOUND)
            new_value, new_grad = objective(candidate)
            if new_value <= value:
                break
            t /= 2.0
        else:
            break  # no step lowers f: as flat as floating point allows
        theta, value, grad = candidate, new_value, new_grad
        steps += 1
    return Optimum(
        log_params=theta, value=value, converged=float(np.max(np.abs(grad))) < 1e-6,
        method="L-BFGS-B on a sample, Newton", iterations=steps,
    )  # fmt: skip


def minimise(
    objective: Callable[[Floats], tuple[float, Floats]], start: Floats, gtol: float = 1e-9
) -> Optimum:
    with one_blas_thread():
        return _minimise(objective, start, gtol)


def _minimise(
    objective: Callable[[Floats], tuple[float, Floats]], start: Floats, gtol: float
) -> Optimum:
    """Minimise a (value, gradient) objective over log-parameters: L-BFGS-B, and when it
    does not converge, Nelder-Mead from its best point then L-BFGS-B again. Returns the
    best finite point any of them reached."""
    from scipy.optimize import minimize

    safe = _safe(objective)
    bounds = [_BOUND] * start.size
    tried: list[tuple[OptimizeResult, str]] = []

    def lbfgs(x0: Floats) -> OptimizeResult:
        return minimize(
            safe, x0, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": 1000, "ftol": 1e-15, "gtol": gtol, "maxcor": 20},
        )  # fmt: skip

    def converged(result: OptimizeResult) -> bool:
        """Finite, and the projected gradient (a log-parameter at a bound may still
        pull outward) is flat."""
        theta = np.asarray(result.x, dtype=np.float64)
        value, grad = safe(theta)
        at_low, at_high = theta <= _BOUND[0] + 1e-9, theta >= _BOUND[1] - 1e-9
        grad = np.where((at_low & (grad > 0)) | (at_high & (grad < 0)), 0.0, grad)
        return value < _HUGE and float(np.max(np.abs(grad))) < 1e-6

    first = lbfgs(start)
    tried.append((first, "L-BFGS-B"))
    if not converged(first):
        best = min(tried, key=lambda t: float(t[0].fun))[0]
        nelder = minimize(
            lambda th: safe(th)[0], np.clip(best.x, *_BOUND), method="Nelder-Mead",
            options={"maxfev": 400 * start.size, "xatol": 1e-10, "fatol": 1e-14},
        )  # fmt: skip
        tried.append((nelder, "Nelder-Mead"))
        polish = lbfgs(np.clip(nelder.x, *_BOUND))
        tried.append((polish, "Nelder-Mead, L-BFGS-B"))
    result, method = min(tried, key=lambda t: float(t[0].fun))
    return Optimum(
        log_params=np.asarray(result.x, dtype=np.float64),
        value=float(result.fun),
        converged=converged(result),
        method=method,
        iterations=sum(int(r.nit) for r, _ in tried),
    )


# ---------------------------------------------------------------------------------------
# BG/NBD


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbd
    log_likelihood: float
    """Summed over the customers (the paper's LL)."""
    n: int
    converged: bool
    method: str
    iterations: int


def bgnbd_log_likelihood(params: BgNbd, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """Each customer's log-likelihood (FHL 2005, eq. 6), in log-space."""
    return _bgnbd_terms(np.array([params.r, params.alpha, params.a, params.b]), x, t_x, T)[0]


def _bgnbd_terms(
    p: Floats, x: Floats, t_x: Floats, T: Floats, gradient: bool = False
) -> tuple[Floats, Floats | None]:
    """Per-row log-likelihood, and d ll / d(r, α, a, b) per row when asked.

    ll = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b) − (r+x) ln(α+T)
         + [x > 0] softplus(D),
    D  = ln a − ln(b+x−1) + (r+x) (ln(α+T) − ln(α+t_x)),
    the second term of eq. 6 over the first, so softplus(D) = ln(1 + e^D) adds it."""
    from scipy.special import betaln, digamma, gammaln

    r, alpha, a, b = p
    repeat = x > 0
    log_aT = np.log(alpha + T)
    log_atx = np.log(alpha + t_x)
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    d = np.where(repeat, np.log(a) - np.log(bx1) + (r + x) * (log_aT - log_atx), -np.inf)
    ll = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + betaln(a, b + x) - betaln(a, b) - (r + x) * log_aT
        + np.logaddexp(0.0, d)
    )  # fmt: skip
    if not gradient:
        return ll, None
    s = np.where(repeat, 0.5 * (1.0 + np.tanh(0.5 * np.where(repeat, d, 0.0))), 0.0)  # sigmoid
    psi_abx = digamma(a + b + x)
    psi_ab = digamma(a + b)
    grad = np.empty((4, x.size))
    grad[0] = digamma(r + x) - digamma(r) + np.log(alpha) - log_aT + s * (log_aT - log_atx)
    grad[1] = (
        r / alpha - (r + x) / (alpha + T) + s * (r + x) * (1.0 / (alpha + T) - 1.0 / (alpha + t_x))
    )
    grad[2] = psi_ab - psi_abx + s / a
    grad[3] = digamma(b + x) - psi_abx - digamma(b) + psi_ab - s / bx1
    return ll, grad


def _dot(a: Floats, b: Floats) -> float:
    """A sum of products without BLAS: numpy's `@` hands even a vector dot product to a
    multi-threaded BLAS, whose threads cost more than they save on a busy or small
    machine (ten times the fit's time on two shared cores)."""
    return float(np.einsum("i,i->", a, b))


class _BgNbdObjective:
    """The weighted BG/NBD log-likelihood of compressed rows and its gradient, with every
    function of x alone (gammaln, digamma) computed once per distinct x and every log of
    α + T or α + t_x once per distinct T or t_x; only the second term of eq. 6 (softplus
    of D, for customers with repeats) is computed per row."""

    def __init__(self, rows: Compressed) -> None:
        w = rows.weights
        self.total = float(w.sum())
        ux, uTx, uT = rows.values
        xc, txc, Tc = rows.codes
        self.ux, self.uT, self.uTx = ux, uT, uTx
        self.w_by_x: Floats = np.bincount(xc, weights=w, minlength=ux.size).astype(np.float64)
        self.w_by_T: Floats = np.bincount(Tc, weights=w, minlength=uT.size).astype(np.float64)
        self.wx_by_T: Floats = np.bincount(Tc, weights=w * ux[xc], minlength=uT.size).astype(
            np.float64
        )
        rep = ux[xc] > 0
        self.rep_w = w[rep]
        self.rep_xc, self.rep_txc, self.rep_Tc = xc[rep], txc[rep], Tc[rep]
        self.rep_x = ux[xc][rep]

    def __call__(self, theta: Floats) -> tuple[float, Floats]:
        """(−mean ll, its gradient in the log-parameters)."""
        from scipy.special import digamma, gammaln

        r, alpha, a, b = np.exp(theta)
        n, ux = self.total, self.ux
        log_aT = np.log(alpha + self.uT)
        log_atx = np.log(alpha + self.uTx)
        wx, wT, wxT = self.w_by_x, self.w_by_T, self.wx_by_T
        ll = (
            _dot(wx, gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux))
            + n * (-gammaln(r) + r * np.log(alpha) - gammaln(b) + gammaln(a + b))
            - _dot(r * wT + wxT, log_aT)
        )  # fmt: skip
        # Customers with repeats: D and its sigmoid s, per row.
        log_bx1 = np.log(b + ux - 1.0, where=ux > 0, out=np.zeros_like(ux))
        gap = log_aT[self.rep_Tc] - log_atx[self.rep_txc]
        rx = r + self.rep_x
        d = np.log(a) - log_bx1[self.rep_xc] + rx * gap
        w = self.rep_w
        ll += _dot(w, np.logaddexp(0.0, d))
        ws = w * (0.5 * (1.0 + np.tanh(0.5 * d)))
        inv_gap = (1.0 / (alpha + self.uT))[self.rep_Tc] - (1.0 / (alpha + self.uTx))[self.rep_txc]
        psi_abx = digamma(a + b + ux)
        grad = np.array(
            [
                _dot(wx, digamma(r + ux)) + n * (np.log(alpha) - digamma(r)) - _dot(wT, log_aT)
                + _dot(ws, gap),
                n * r / alpha - _dot(r * wT + wxT, 1.0 / (alpha + self.uT))
                + _dot(ws, rx * inv_gap),
                -_dot(wx, psi_abx) + n * digamma(a + b) + ws.sum() / a,
                _dot(wx, digamma(b + ux) - psi_abx) + n * (digamma(a + b) - digamma(b))
                - _dot(ws, np.exp(-log_bx1[self.rep_xc])),
            ]
        )  # fmt: skip
        return -float(ll) / n, -grad * np.array([r, alpha, a, b]) / n


def fit_bgnbd(
    x: Floats,
    t_x: Floats,
    T: Floats,
    start: BgNbd | None = None,
    rows: Compressed | None = None,
) -> BgNbdFit:
    """Maximum likelihood over the distinct (x, t_x, T) rows, weighted by their counts
    (`rows`, when the caller has compressed them already: `compress_summary`)."""
    if rows is None:
        rows = compress(x, t_x, T)
    if rows.weights.size == 0:
        raise ValueError("no customers to fit")
    objective = _BgNbdObjective(rows)
    if start is None:
        start = BgNbd(r=1.0, alpha=max(float(np.mean(T)), 1e-3), a=1.0, b=1.0)
    theta0 = np.log([start.r, start.alpha, start.a, start.b])
    step = rows.weights.size // WARM_START_ROWS
    if step >= 2:
        sample = Compressed(
            rows.rows[::step], rows.weights[::step], np.zeros(0, dtype=np.int64),
            rows.values, tuple(c[::step] for c in rows.codes),
        )  # fmt: skip
        opt = _sample_then_polish(objective, _BgNbdObjective(sample), theta0)
    else:
        opt = minimise(objective, theta0)
    r, alpha, a, b = (float(v) for v in np.exp(opt.log_params))
    return BgNbdFit(
        BgNbd(r, alpha, a, b), -opt.value * objective.total, int(objective.total),
        opt.converged, opt.method, opt.iterations,
    )  # fmt: skip


def p_alive(params: BgNbd, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """P(still active at T | x, t_x, T) = 1 / (1 + [x>0] a/(b+x−1) ((α+T)/(α+t_x))^(r+x))."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    with np.errstate(divide="ignore"):
        d = np.where(
            repeat,
            np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)),
            -np.inf,
        )  # fmt: skip
    return np.exp(-np.logaddexp(0.0, d))


def p_alive_after(params: BgNbd, t: float, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """P(still active at T + t | x, t_x, T): the customer is alive at T (`p_alive`) and
    drops out in none of the purchases of the next t units. Given alive at T, λ ~ Gamma(r+x,
    α+T) and p ~ Beta(a, b+x), independently; a dropout follows each purchase with
    probability p, so P(none | λ, p) = exp(−λpt), whose expectation is ₂F₁(r+x, a; a+b+x;
    −t/(α+T)). Pfaff's transformation makes it (1+t/(α+T))^(−a) ₂F₁(a, a+b−r; a+b+x; w),
    w = t/(α+T+t) in [0, 1): a series that converges for any x. Summed over a shop's
    buyers, the BG/NBD forecast of its active base."""
    from scipy.special import hyp2f1

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    w = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        stays = np.exp(-a * np.log1p(t / (alpha + T))) * hyp2f1(a, a + b - r, a + b + x, w)
        lost = ~np.isfinite(stays)
        if np.any(lost):  # a, b huge: p is a point mass at its mean (see _purchases_if_alive)
            p_mean = a / (a + b + x[lost])
            stays[lost] = np.exp(-(r + x[lost]) * np.log1p(t * p_mean / (alpha + T[lost])))
    return np.asarray(np.clip(stays, 0.0, 1.0) * p_alive(params, x, t_x, T), dtype=np.float64)


def expected_purchases(params: BgNbd, t: float, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """E[Y(t) | x, t_x, T] (FHL 2005, eq. 10): repeat purchases in the next t units."""
    with np.errstate(all="ignore"):
        return _purchases_if_alive(params, t, x, T) * p_alive(params, x, t_x, T)


def _purchases_if_alive(params: BgNbd, t: float, x: Floats, T: Floats) -> Floats:
    """E[Y(t) | x, t_x, T] / P(alive | x, t_x, T), a function of x and T only.

    Eq. 10 reads (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)]
    · P(alive), z = t/(α+T+t). Euler's transformation ₂F₁(A,B;C;z) = (1−z)^(C−A−B)
    ₂F₁(C−A, C−B; C; z) turns the bracket into 1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1;
    a+b+x−1; z), whose series converges fast for any x (no overflow for heavy buyers)."""
    from scipy.special import hyp2f1

    r, alpha, b = params.r, params.alpha, params.b
    a = params.a if abs(params.a - 1.0) > 1e-7 else 1.0 + 1e-7  # eq. 10 is 0/0 at a = 1
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        series = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        bracket = 1.0 - np.exp((a - 1.0) * np.log1p(-z)) * series
        expected = (a + b + x - 1.0) / (a - 1.0) * bracket
        lost = ~np.isfinite(expected)
        if np.any(lost):
            # a and b so large (a fit on data without dropout variation) that the series
            # would need millions of terms: p ~ Beta(a, b+x) is then a point mass at its
            # mean, and E[Y(t) | alive, p] = E_λ[(1 − e^(−λpt)) / p], λ ~ Gamma(r+x, α+T).
            shape = r + x[lost]
            p_mean = a / (a + b + x[lost])
            scale = t * p_mean / (alpha + T[lost])
            expected[lost] = -np.expm1(-shape * np.log1p(scale)) / p_mean
    return np.asarray(expected, dtype=np.float64)


def median_days_to_next_purchase(
    params: BgNbd, x: Floats, T: Floats, unit_days: float = DAYS_PER_WEEK
) -> Floats:
    """For a customer still active: the median wait for the next purchase, in days.

    Alive, the customer buys at rate λ, whose posterior is Gamma(r+x, α+T); the wait is
    then Lomax: P(wait > s) = ((α+T)/(α+T+s))^(r+x), median (α+T)(2^(1/(r+x)) − 1)."""
    shape = params.r + x
    wait = (params.alpha + T) * np.expm1(np.log(2.0) / shape) * unit_days
    return np.asarray(wait, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# Gamma-Gamma


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGamma
    log_likelihood: float
    n: int
    converged: bool
    method: str
    iterations: int


def _gg_terms(
    params: Floats, x: Floats, m: Floats, gradient: bool = False
) -> tuple[Floats, Floats | None]:
    """Per-row log-likelihood of the mean spend m over x purchases (the density of the
    mean, as lifetimes writes it), and its gradient in (p, q, γ)."""
    from scipy.special import digamma, gammaln

    p, q, g = params
    px = p * x
    log_xm_g = np.log(x * m + g)
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
        + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * log_xm_g
    )  # fmt: skip
    if not gradient:
        return ll, None
    psi = digamma(px + q)
    grad = np.empty((3, x.size))
    grad[0] = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_xm_g)
    grad[1] = psi - digamma(q) + np.log(g) - log_xm_g
    grad[2] = q / g - (px + q) / (x * m + g)
    return ll, grad


def gamma_gamma_log_likelihood(params: GammaGamma, x: Floats, m: Floats) -> Floats:
    return _gg_terms(np.array([params.p, params.q, params.gamma]), x, m)[0]


class _GammaGammaObjective:
    """The weighted Gamma-Gamma log-likelihood and gradient: functions of x alone once per
    distinct x, the constant terms in m once, and per row only ln(x m + γ)."""

    def __init__(self, x: Floats, m: Floats) -> None:
        self.total = float(x.size)
        coded = _grid_codes(x, 1.0)
        if coded is None:
            ux, code = np.unique(x, return_inverse=True)
            coded = ux, code.reshape(-1).astype(np.int64)
        self.ux, xc = coded
        self.w_by_x = np.bincount(xc, minlength=self.ux.size).astype(np.float64)
        log_m = np.log(m)
        self.sum_x_log_m = _dot(x, log_m)
        self.sum_log_m = float(log_m.sum())
        self.sum_x_log_x = _dot(self.w_by_x, self.ux * np.log(self.ux))
        self.xm = x * m
        self.x = x

    def __call__(self, theta: Floats) -> tuple[float, Floats]:
        from scipy.special import digamma, gammaln

        p, q, g = np.exp(theta)
        n, ux, wx = self.total, self.ux, self.w_by_x
        log_xm_g = np.log(self.xm + g)
        px = p * ux
        ll = (
            _dot(wx, gammaln(px + q) - gammaln(px)) + n * (q * np.log(g) - gammaln(q))
            + p * (self.sum_x_log_m + self.sum_x_log_x) - self.sum_log_m
            - p * _dot(self.x, log_xm_g) - q * log_xm_g.sum()
        )  # fmt: skip
        psi = digamma(px + q)
        grad = np.array(
            [
                _dot(wx, ux * (psi - digamma(px))) + self.sum_x_log_m + self.sum_x_log_x
                - _dot(self.x, log_xm_g),
                _dot(wx, psi) - n * digamma(q) + n * np.log(g) - log_xm_g.sum(),
                n * q / g - _dot(p * self.x + q, 1.0 / (self.xm + g)),
            ]
        )  # fmt: skip
        return -float(ll) / n, -grad * np.array([p, q, g]) / n


def fit_gamma_gamma(x: Floats, monetary: Floats, start: GammaGamma | None = None) -> GammaGammaFit:
    """Maximum likelihood on the customers with repeat purchases and a positive mean spend."""
    keep = (x > 0) & np.isfinite(monetary) & (monetary > 0)
    if not np.any(keep):
        raise ValueError("no customers with repeat purchases to fit")
    x, monetary = x[keep], monetary[keep]
    objective = _GammaGammaObjective(x, monetary)
    if start is None:
        start = GammaGamma(p=1.0, q=2.0, gamma=max(float(np.mean(monetary)), 1e-6))
    theta0 = np.log([start.p, start.q, start.gamma])
    step = x.size // WARM_START_ROWS
    if step >= 2:
        sample = _GammaGammaObjective(x[::step], monetary[::step])
        opt = _sample_then_polish(objective, sample, theta0)
    else:
        opt = minimise(objective, theta0)
    p, q, g = (float(v) for v in np.exp(opt.log_params))
    return GammaGammaFit(
        GammaGamma(p, q, g), -opt.value * objective.total, int(objective.total),
        opt.converged, opt.method, opt.iterations,
    )  # fmt: skip


def expected_spend(params: GammaGamma, x: Floats, monetary: Floats) -> Floats:
    """E[M | x, m̄] = (q−1)/(px+q−1) · pγ/(q−1) + px/(px+q−1) · m̄ = p(γ + x m̄)/(px+q−1);
    the population mean pγ/(q−1) for a customer without repeats. NaN (unknown) where the
    mean does not exist (px + q ≤ 1: so heavy-tailed a spend has no expectation)."""
    p, q, g = params.p, params.q, params.gamma
    m = np.where((x > 0) & np.isfinite(monetary), monetary, 0.0)
    xs = np.where((x > 0) & np.isfinite(monetary), x, 0.0)
    denominator = p * xs + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        spend = np.where(denominator > 0, p * (g + xs * m) / denominator, np.nan)
    return np.asarray(spend, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Predictions:
    """Per customer of the summary, in its order."""

    p_alive: Floats
    expected_purchases_90d: Floats
    expected_purchases_365d: Floats
    expected_spend: Floats
    predicted_clv_365d: Floats
    next_order_day: Ints
    """epoch day of the predicted next order (calibration end + the median wait)"""
    holdout_expected: Floats | None


def _discounted_purchases_if_alive(
    params: BgNbd,
    x: Floats,
    T: Floats,
    unit_days: float,
    horizon_days: float,
    monthly_discount_rate: float,
) -> Floats:
    """Σ_i (E[Y(t_i)] − E[Y(t_(i−1))]) / (1 + d)^i over the 12 months of the horizon,
    divided by P(alive) (a function of x and T only)."""
    months = 12
    step = horizon_days / months / unit_days
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for i in range(1, months + 1):
        current = _purchases_if_alive(params, step * i, x, T)
        total += (current - previous) / (1.0 + monthly_discount_rate) ** i
        previous = current
    return total


def discounted_clv(
    params: BgNbd,
    spend: Floats,
    x: Floats,
    t_x: Floats,
    T: Floats,
    unit_days: float,
    horizon_days: float = 365.0,
    monthly_discount_rate: float = DEFAULT_MONTHLY_DISCOUNT_RATE,
) -> Floats:
    """Σ over the months i = 1..12 of the horizon: (E[Y(t_i)] − E[Y(t_(i−1))]) · spend
    / (1 + d)^i, with t_i = i · horizon/12 and d the monthly discount rate (each month's
    purchases discounted to today as if paid at its end)."""
    discounted = _discounted_purchases_if_alive(
        params, x, T, unit_days, horizon_days, monthly_discount_rate
    )
    return discounted * p_alive(params, x, t_x, T) * spend


def predict(
    bgnbd: BgNbd,
    gamma_gamma: GammaGamma,
    summary: Summary,
    monthly_discount_rate: float = DEFAULT_MONTHLY_DISCOUNT_RATE,
    rows: Compressed | None = None,
) -> Predictions:
    """Score every customer of the summary as of its calibration end.

    E[Y(t) | x, t_x, T] is P(alive | x, t_x, T) times a function of (x, T) alone, so the
    hypergeometric part is computed once per distinct (x, T), P(alive) once per distinct
    (x, t_x, T), and the per-customer work is a gather and a product."""
    with one_blas_thread():
        return _predict(bgnbd, gamma_gamma, summary, monthly_discount_rate, rows)


def _predict(
    bgnbd: BgNbd,
    gamma_gamma: GammaGamma,
    s: Summary,
    monthly_discount_rate: float,
    rows: Compressed | None,
) -> Predictions:
    unit = s.unit_days
    triples = compress_summary(s) if rows is None else rows
    # The distinct (x, T) pairs, from the triples' own codes (a short count, no sort).
    ux, _, uT = triples.values
    x_code, _, T_code = triples.codes
    pair_keys, pair_of_row, _ = _distinct_keys(x_code * uT.size + T_code, ux.size * uT.size)
    px, pT = ux[pair_keys // uT.size], uT[pair_keys % uT.size]
    pair_of = pair_of_row[triples.inverse]
    with np.errstate(all="ignore"):
        alive = p_alive(bgnbd, triples.column(0), triples.column(1), triples.column(2))[
            triples.inverse
        ]
        e90 = _purchases_if_alive(bgnbd, 90.0 / unit, px, pT)[pair_of] * alive
        e365 = _purchases_if_alive(bgnbd, 365.0 / unit, px, pT)[pair_of] * alive
        spend = expected_spend(gamma_gamma, s.x, s.monetary)
        discounted = _discounted_purchases_if_alive(
            bgnbd, px, pT, unit, 365.0, monthly_discount_rate
        )
        clv = discounted[pair_of] * alive * spend
        wait = median_days_to_next_purchase(bgnbd, px, pT, unit)
        holdout = (
            None
            if s.holdout_end is None
            else _purchases_if_alive(bgnbd, s.holdout_length, px, pT)[pair_of] * alive
        )
    next_day = s.calibration_end + np.ceil(np.minimum(wait, 1e9)).astype(np.int64)
    return Predictions(
        p_alive=alive,
        expected_purchases_90d=e90,
        expected_purchases_365d=e365,
        expected_spend=spend,
        predicted_clv_365d=clv,
        next_order_day=next_day[pair_of],
        holdout_expected=holdout,
    )


# ---------------------------------------------------------------------------------------
# One shop, end to end (the nightly and the command)


@dataclass(frozen=True)
class ClvSettings:
    monthly_discount_rate: float = DEFAULT_MONTHLY_DISCOUNT_RATE
    unit_days: float = DAYS_PER_WEEK
    thresholds: Thresholds = Thresholds()


@dataclass(frozen=True)
class ClvModel:
    summary: Summary
    bgnbd: BgNbdFit
    gamma_gamma: GammaGammaFit
    predictions: Predictions
    settings: ClvSettings


def fit_and_score(summary: Summary, settings: ClvSettings = ClvSettings()) -> ClvModel:
    """Check the thresholds, fit both models, score every customer."""
    check_history(summary, settings.thresholds)
    rows = compress_summary(summary)  # once, for the fit and the scores
    bg = fit_bgnbd(summary.x, summary.t_x, summary.T, rows=rows)
    gg = fit_gamma_gamma(summary.x, summary.monetary)
    scores = predict(bg.params, gg.params, summary, settings.monthly_discount_rate, rows)
    return ClvModel(summary, bg, gg, scores, settings)
