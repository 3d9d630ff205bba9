"""Predictive CLV: the published CDNOW results of Fader, Hardie & Lee (2005), the
analytic gradients, compression, the fallback optimiser and the history thresholds."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
from numpy.typing import NDArray

from segmenter.domain import clv
from tests.segmenter.cdnow import CALIBRATION_END, HOLDOUT_END, epoch_day, load_cdnow

Floats = NDArray[np.float64]


@cache
def cdnow_summary() -> clv.Summary:
    data = load_cdnow()
    return clv.summarise(
        data.codes, data.days, data.values, epoch_day(CALIBRATION_END), epoch_day(HOLDOUT_END)
    )


@cache
def cdnow_bgnbd() -> clv.BgNbdFit:
    s = cdnow_summary()
    return clv.fit_bgnbd(s.x, s.t_x, s.T)


@cache
def cdnow_gamma_gamma() -> clv.GammaGammaFit:
    s = cdnow_summary()
    return clv.fit_gamma_gamma(s.x, s.monetary)


def test_cdnow_prepared_as_in_the_paper() -> None:
    # Given the CDNOW sample and a 39-week calibration ending 1997-09-30
    # When it is summarised (same-day purchases merged, repeats only, weeks)
    s = cdnow_summary()
    # Then the 2,357 customers are there, 946 of them with repeat purchases
    assert s.size == 2357
    assert int(np.count_nonzero(s.x > 0)) == 946
    # And a customer who first bought on 1997-01-01 has T = 272 days = 38.86 weeks
    assert float(s.T.max()) == pytest.approx(272 / 7)
    assert float(s.T.min()) >= (272 - 90) / 7  # first purchases were all in 1997's Q1
    # And every time lies in the calibration period
    assert bool(np.all((s.t_x >= 0) & (s.t_x <= s.T)))


def test_same_day_purchases_are_one_and_spend_is_the_mean_of_repeats() -> None:
    # Given a customer buying twice on day 0, once on day 7 (10) and twice on day 14 (20 + 40)
    customers = np.zeros(5, dtype=np.int64)
    days = np.array([0, 0, 7, 14, 14], dtype=np.int64)
    amounts = np.array([5.0, 5.0, 10.0, 20.0, 40.0])
    # When summarised with the calibration ending on day 21 and a holdout to day 35
    s = clv.summarise(customers, days, amounts, calibration_end=21, holdout_end=35)
    # Then x counts the two later days, t_x and T are in weeks, spend is (10 + 60) / 2
    assert (s.x[0], s.t_x[0], s.T[0]) == (2.0, 2.0, 3.0)
    assert s.monetary[0] == pytest.approx(35.0)
    assert s.holdout is not None and s.holdout[0] == 0.0


def test_published_bgnbd_parameters_and_log_likelihood() -> None:
    # When the BG/NBD is fitted on the CDNOW calibration data
    fit = cdnow_bgnbd()
    # Then it finds FHL 2005's r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.43
    p = fit.params
    assert fit.converged
    assert fit.n == 2357
    assert p.r == pytest.approx(0.243, abs=5e-4)
    assert p.alpha == pytest.approx(4.414, abs=5e-4)
    assert p.a == pytest.approx(0.793, abs=5e-4)
    assert p.b == pytest.approx(2.426, abs=5e-4)
    assert fit.log_likelihood == pytest.approx(-9582.43, abs=0.05)


def test_published_conditional_expectation() -> None:
    # Given the fitted model
    params = cdnow_bgnbd().params
    # When asked for E[Y(39) | x = 2, t_x = 30.43, T = 38.86]
    expected = clv.expected_purchases(
        params, 39.0, np.array([2.0]), np.array([30.43]), np.array([38.86])
    )
    # Then it is the paper's 1.226
    assert float(expected[0]) == pytest.approx(1.226, abs=1e-3)


def test_published_gamma_gamma_parameters() -> None:
    # When the Gamma-Gamma is fitted on the 946 repeaters' mean repeat spend
    fit = cdnow_gamma_gamma()
    # Then p = 6.25, q = 3.74, γ = 15.44
    assert fit.converged
    assert fit.n == 946
    assert fit.params.p == pytest.approx(6.25, abs=1e-2)
    assert fit.params.q == pytest.approx(3.74, abs=1e-2)
    assert fit.params.gamma == pytest.approx(15.44, abs=1e-2)


def test_predictions_agree_with_lifetimes_formulas() -> None:
    # Given the fitted CDNOW models, and lifetimes (an independent implementation) set to them
    from lifetimes.fitters.beta_geo_fitter import BetaGeoFitter
    from lifetimes.fitters.gamma_gamma_fitter import GammaGammaFitter

    s = cdnow_summary()
    bg, gg = cdnow_bgnbd().params, cdnow_gamma_gamma().params
    reference = BetaGeoFitter()
    reference.params_ = {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b}
    spend_reference = GammaGammaFitter()
    spend_reference.params_ = {"p": gg.p, "q": gg.q, "v": gg.gamma}
    # When every customer is scored
    scores = clv.predict(bg, gg, s)
    # Then P(alive), E[Y(t)] (Euler-transformed here, eq. 10 verbatim there) and the
    # expected spend are the same numbers
    np.testing.assert_allclose(
        scores.p_alive, reference.conditional_probability_alive(s.x, s.t_x, s.T), rtol=1e-10
    )
    for days, ours in ((90, scores.expected_purchases_90d), (365, scores.expected_purchases_365d)):
        theirs = reference.conditional_expected_number_of_purchases_up_to_time(
            days / 7, s.x, s.t_x, s.T
        )
        np.testing.assert_allclose(ours, theirs, rtol=1e-8)
    repeaters = s.x > 0
    theirs_spend = spend_reference.conditional_expected_average_profit(
        s.x[repeaters], s.monetary[repeaters]
    )
    np.testing.assert_allclose(scores.expected_spend[repeaters], theirs_spend, rtol=1e-10)


def test_clv_is_the_discounted_sum_of_monthly_purchases_times_spend() -> None:
    # Given the fitted models and a customer
    bg = cdnow_bgnbd().params
    x, t_x, T = np.array([3.0]), np.array([20.0]), np.array([38.0])
    spend = np.array([40.0])
    # When the CLV is taken without discount, and with 1 % a month
    flat = clv.discounted_clv(bg, spend, x, t_x, T, 7.0, monthly_discount_rate=0.0)
    discounted = clv.discounted_clv(bg, spend, x, t_x, T, 7.0, monthly_discount_rate=0.01)
    # Then undiscounted it is E[Y(365 days)] × spend, and discounting lowers it by less
    # than a year's discount
    year = clv.expected_purchases(bg, 365 / 7, x, t_x, T) * spend
    assert float(flat[0]) == pytest.approx(float(year[0]), rel=1e-12)
    assert float(year[0]) / 1.01**12 < float(discounted[0]) < float(year[0])


def test_holdout_predictions_and_next_order_dates() -> None:
    # Given the CDNOW fit scored over the 39-week holdout
    s = cdnow_summary()
    scores = clv.predict(cdnow_bgnbd().params, cdnow_gamma_gamma().params, s)
    assert scores.holdout_expected is not None and s.holdout is not None
    # Then the total predicted is in line with the 1,882 repeat purchase days observed
    assert s.holdout.sum() == 1882
    assert 0.8 < scores.holdout_expected.sum() / s.holdout.sum() < 1.0
    # And a customer never seen again after the first purchase is surely alive (BG/NBD)
    assert bool(np.all(scores.p_alive[s.x == 0] == 1.0))
    # And every predicted next order falls after the calibration end
    assert bool(np.all(scores.next_order_day > s.calibration_end))


def _finite_difference(f: Callable[[Floats], float], theta: Floats, h: float = 1e-6) -> Floats:
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


def test_analytic_gradients_match_finite_differences() -> None:
    # Given the CDNOW rows and a point away from the optimum
    s = cdnow_summary()
    p = np.array([0.4, 3.0, 1.2, 1.7])
    # When the BG/NBD gradient is taken analytically and numerically
    _, grad = clv._bgnbd_terms(p, s.x, s.t_x, s.T, gradient=True)
    assert grad is not None

    def total(q: Floats) -> float:
        return float(clv._bgnbd_terms(q, s.x, s.t_x, s.T)[0].sum())

    # Then they agree
    np.testing.assert_allclose(grad.sum(axis=1), _finite_difference(total, p), rtol=1e-6)
    # And so for the Gamma-Gamma
    keep = s.x > 0
    g = np.array([3.0, 2.5, 20.0])
    _, ggrad = clv._gg_terms(g, s.x[keep], s.monetary[keep], gradient=True)
    assert ggrad is not None

    def gg_total(q: Floats) -> float:
        return float(clv._gg_terms(q, s.x[keep], s.monetary[keep])[0].sum())

    np.testing.assert_allclose(ggrad.sum(axis=1), _finite_difference(gg_total, g), rtol=1e-6)


def test_fitted_objectives_are_the_summed_likelihoods_with_exact_gradients() -> None:
    # Given the CDNOW customers compressed as the fits see them, at a point off the optimum
    s = cdnow_summary()
    bg_objective = clv._BgNbdObjective(clv.compress(s.x, s.t_x, s.T))
    theta = np.log([0.4, 3.0, 1.2, 1.7])
    # When the table-based objective is evaluated
    value, grad = bg_objective(theta)
    # Then it is minus the mean of the per-customer log-likelihoods
    per_customer = clv.bgnbd_log_likelihood(clv.BgNbd(*np.exp(theta)), s.x, s.t_x, s.T)
    assert value == pytest.approx(-float(per_customer.mean()), rel=1e-12)
    # And its gradient in the log-parameters is the numerical one
    np.testing.assert_allclose(
        grad, _finite_difference(lambda t: bg_objective(t)[0], theta), rtol=1e-6, atol=1e-9
    )
    # And so for the Gamma-Gamma
    keep = s.x > 0
    gg_objective = clv._GammaGammaObjective(s.x[keep], s.monetary[keep])
    g = np.log([3.0, 2.5, 20.0])
    gg_value, gg_grad = gg_objective(g)
    gg_per_customer = clv.gamma_gamma_log_likelihood(
        clv.GammaGamma(*np.exp(g)), s.x[keep], s.monetary[keep]
    )
    assert gg_value == pytest.approx(-float(gg_per_customer.mean()), rel=1e-12)
    np.testing.assert_allclose(
        gg_grad, _finite_difference(lambda t: gg_objective(t)[0], g), rtol=1e-6, atol=1e-9
    )


def test_compressed_fit_has_the_likelihood_of_every_customer() -> None:
    # Given the CDNOW customers and their distinct (x, t_x, T) rows
    s = cdnow_summary()
    rows = clv.compress(s.x, s.t_x, s.T)
    assert rows.rows.shape[0] < s.size
    assert rows.weights.sum() == s.size
    # When the fit's log-likelihood is recomputed customer by customer
    fit = cdnow_bgnbd()
    every = clv.bgnbd_log_likelihood(fit.params, s.x, s.t_x, s.T).sum()
    # Then it is the weighted sum the optimiser maximised
    assert fit.log_likelihood == pytest.approx(float(every), rel=1e-12)
    np.testing.assert_array_equal(rows.rows[rows.inverse, 0], s.x)


def test_extreme_customers_fit_without_overflow_or_warnings() -> None:
    # Given heavy buyers (hundreds of purchases) beside one-off buyers, ages near zero
    rng = np.random.default_rng(7)
    n = 2000
    x = np.where(rng.random(n) < 0.1, rng.integers(200, 900, n), rng.integers(0, 3, n))
    T = rng.uniform(0.01, 150.0, n)
    t_x = np.where(x > 0, T * rng.uniform(0.9, 1.0, n), 0.0)
    m = np.where(x > 0, rng.uniform(1.0, 1e6, n), np.nan)
    # When both models are fitted and scored with every warning an error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bg = clv.fit_bgnbd(x.astype(float), t_x, T)
        gg = clv.fit_gamma_gamma(x.astype(float), m)
        summary = clv.Summary(
            np.arange(n), x.astype(float), t_x, T, m, np.zeros(n, dtype=np.int64), None, 0, None,
            7.0,
        )  # fmt: skip
        scores = clv.predict(bg.params, gg.params, summary)
    # Then the likelihoods and every score are finite numbers
    assert np.isfinite(bg.log_likelihood) and np.isfinite(gg.log_likelihood)
    for column in (scores.p_alive, scores.expected_purchases_90d, scores.expected_purchases_365d):
        assert bool(np.all(np.isfinite(column)))
        assert bool(np.all(column >= 0))


def test_fallback_optimiser_finishes_when_the_gradient_misleads() -> None:
    # Given an objective whose minimum is at (1, -2) but whose gradient points the wrong way
    def objective(theta: Floats) -> tuple[float, Floats]:
        value = float((theta[0] - 1.0) ** 2 + (theta[1] + 2.0) ** 2)
        return value, -np.array([2 * (theta[0] - 1.0), 2 * (theta[1] + 2.0)])

    # When it is minimised
    result = clv.minimise(objective, np.array([5.0, 5.0]))
    # Then L-BFGS-B gives up, Nelder-Mead finds the minimum
    assert result.method.startswith("Nelder-Mead")
    np.testing.assert_allclose(result.log_params, [1.0, -2.0], atol=1e-6)


def test_fit_and_score_refuses_a_shop_below_each_threshold() -> None:
    # Given the CDNOW customers, and thresholds each just above what they have
    s = cdnow_summary()
    three = int(np.count_nonzero(s.x >= 2))
    cases = {
        "min_customers": clv.Thresholds(min_customers=2358),
        "min_history_days": clv.Thresholds(min_history_days=273),
        "min_customers_with_3_orders": clv.Thresholds(min_customers_with_3_orders=three + 1),
    }
    for name, thresholds in cases.items():
        # When a fit is asked for
        with pytest.raises(clv.NotEnoughHistory) as refused:
            clv.fit_and_score(s, clv.ClvSettings(thresholds=thresholds))
        # Then the answer names the threshold it misses, with both numbers
        assert refused.value.threshold == name
        assert name in str(refused.value)
        assert "not enough history" in str(refused.value)
    # And with the defaults, the shop is scored
    model = clv.fit_and_score(s)
    assert model.predictions.p_alive.size == s.size


def test_a_small_shop_is_told_it_lacks_customers() -> None:
    # Given 40 customers
    customers = np.repeat(np.arange(40), 3)
    days = np.tile(np.array([0, 100, 200]), 40)
    s = clv.summarise(customers, days, np.ones(120), calibration_end=300)
    # Then the answer is about the customers, not a fit of 40 rows
    refusal = r"40 customers with an order.* at least 500 \(min_customers\)"
    with pytest.raises(clv.NotEnoughHistory, match=refusal):
        clv.fit_and_score(s)


def test_grid_compression_is_the_sorting_one() -> None:
    # Given the CDNOW customers, whose times are whole days in weeks
    s = cdnow_summary()
    # When they are compressed by counting on the day grid, and by sorting
    grid = clv.compress_summary(s)
    sorted_ = clv.compress(s.x, s.t_x, s.T)
    # Then the distinct rows, their counts, each customer's row and the codes are the same
    np.testing.assert_array_equal(grid.rows, sorted_.rows)
    np.testing.assert_array_equal(grid.weights, sorted_.weights)
    np.testing.assert_array_equal(grid.inverse, sorted_.inverse)
    for a, b in zip(grid.codes, sorted_.codes, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grid.rows[grid.inverse, 1], s.t_x)
    # And times off the grid fall back to sorting, with the same result
    jittered = s.T + 1e-9
    off = clv.compress(s.x, s.t_x, jittered, steps=(1.0, 1 / 7, 1 / 7))
    np.testing.assert_array_equal(off.rows[off.inverse, 2], jittered)


def test_large_fits_start_from_a_sample_and_end_at_the_same_optimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the CDNOW customers and a warm-start size small enough that they count as large
    s = cdnow_summary()
    monkeypatch.setattr(clv, "WARM_START_ROWS", 300)
    # When both models are fitted (a 1-in-k sample first, then Newton steps on everyone)
    bg = clv.fit_bgnbd(s.x, s.t_x, s.T)
    gg = clv.fit_gamma_gamma(s.x, s.monetary)
    # Then they took that path and reached the published optimum all the same
    assert bg.method.endswith("Newton") and gg.method.endswith("Newton")
    assert bg.converged and gg.converged
    assert bg.log_likelihood == pytest.approx(cdnow_bgnbd().log_likelihood, rel=1e-12)
    assert gg.log_likelihood == pytest.approx(cdnow_gamma_gamma().log_likelihood, rel=1e-12)
    assert bg.params.r == pytest.approx(0.243, abs=5e-4)
    assert gg.params.p == pytest.approx(6.25, abs=1e-2)


def test_p_alive_after_matches_quadrature_and_a_simulated_shop() -> None:
    """Given BG/NBD parameters and a few customers' histories
    When P(alive) some weeks on is computed
    Then it equals P(alive now) times E[exp(-λpt)] integrated numerically over p (λ
    integrated out by hand), it falls with the horizon, and at t = 0 it is P(alive);
    and over a shop simulated from the model, the sum of it over the buyers is the number
    still alive at that time (within sampling error)."""
    from scipy import integrate, stats

    params = clv.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x = np.array([0.0, 2.0, 5.0, 30.0])
    t_x = np.array([0.0, 30.43, 20.0, 38.0])
    T = np.full(4, 38.86)
    now = clv.p_alive(params, x, t_x, T)
    assert clv.p_alive_after(params, 0.0, x, t_x, T) == pytest.approx(now)
    previous = now
    for t in (13.0, 26.0, 52.0):
        got = clv.p_alive_after(params, t, x, t_x, T)
        for i in range(4):

            def stays(p: float, i: int = i, t: float = t) -> float:
                lam_part = (1 + p * t / (params.alpha + T[i])) ** (-(params.r + x[i]))
                return float(lam_part * stats.beta.pdf(p, params.a, params.b + x[i]))

            want = now[i] * integrate.quad(stays, 0, 1, limit=200)[0]
            assert got[i] == pytest.approx(want, rel=1e-6), (t, i)
        assert np.all(got <= previous)
        previous = got

    # A shop simulated from the model: λ ~ Gamma(r, α), p ~ Beta(a, b); the first purchase
    # at week 0, repeats while alive, a dropout after each repeat with probability p;
    # observed for 39 weeks, then counted alive or not 26 weeks later
    rng = np.random.default_rng(11)
    n, weeks, ahead = 100_000, 39.0, 26.0
    end = weeks + ahead
    lam = rng.gamma(params.r, 1 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    clock, x_sim, t_x_sim = np.zeros(n), np.zeros(n), np.zeros(n)
    dead = np.zeros(n, dtype=bool)
    going = np.ones(n, dtype=bool)
    while going.any():
        clock[going] += rng.exponential(1 / lam[going])
        going &= clock <= end  # no purchase before the end: alive through it
        seen = going & (clock <= weeks)
        x_sim[seen] += 1
        t_x_sim[seen] = clock[seen]
        drops = going & (rng.random(n) < p)
        dead |= drops
        going &= ~drops
    predicted = clv.p_alive_after(params, ahead, x_sim, t_x_sim, np.full(n, weeks)).sum()
    assert predicted == pytest.approx(float(np.sum(~dead)), rel=0.02)
