"""The One Euro filter and the per-group smoother: still signals steady, moving ones followed."""
import numpy as np
import pytest

from tracking.smoothing import DEFAULT_GROUPS, OneEuroFilter, ParamSmoother

FPS = 30.0


def run(filter: OneEuroFilter, values: np.ndarray, fps: float = FPS) -> np.ndarray:
    return np.array([filter(v, i / fps) for i, v in enumerate(values)])


def one_euro_by_hand(samples: list[float], times: list[float], min_cutoff: float, beta: float,
                     d_cutoff: float) -> list[float]:
    """Casiez, Roussel and Vogel's 1 euro filter, written out from the paper for one scalar signal: the first
    sample is its own estimate; then, with alpha(fc, Te) = 1 / (1 + tau / Te) and tau = 1 / (2 pi fc),
    dx = (x - x_prev_hat) / Te, dx_hat = alpha(d_cutoff) dx + (1 - alpha) dx_prev_hat,
    fc = min_cutoff + beta |dx_hat|, x_hat = alpha(fc) x + (1 - alpha) x_prev_hat."""
    def alpha(cutoff, period):
        return 1 / (1 + 1 / (2 * np.pi * cutoff) / period)

    x_hat, dx_hat, out = samples[0], 0.0, [samples[0]]
    for x, period in zip(samples[1:], np.diff(times)):
        a = alpha(d_cutoff, period)
        dx_hat = a * (x - x_hat) / period + (1 - a) * dx_hat
        a = alpha(min_cutoff + beta * abs(dx_hat), period)
        x_hat = a * x + (1 - a) * x_hat
        out.append(x_hat)
    return out


def test_filter_equals_the_papers_formulas():
    """Irregular frame times, a speed-dependent cutoff (beta > 0) and a speed estimate smoothed at its own cutoff
    (d_cutoff, not min_cutoff), per element of an array."""
    rng = np.random.default_rng(4)
    times = np.cumsum(rng.uniform(0.02, 0.06, 40)).tolist()
    signals = np.cumsum(rng.normal(0, 0.3, (40, 3)), axis=0) + np.sin(np.arange(40))[:, None]
    settings = dict(min_cutoff=0.7, beta=2.5, d_cutoff=4.0)
    one_euro = OneEuroFilter(**settings)
    ours = np.array([one_euro(value, t) for value, t in zip(signals, times)])
    for k in range(3):
        np.testing.assert_allclose(ours[:, k], one_euro_by_hand(signals[:, k].tolist(), times, **settings),
                                   rtol=1e-12, atol=1e-12)
    assert np.abs(ours - signals).max() > 0.1  # it filtered


def test_smoother_strength_divides_the_groups_cutoffs():
    rng = np.random.default_rng(5)
    smoother = ParamSmoother(strength=0.5, d_cutoff=2.0)
    jaw = np.cumsum(rng.normal(0, 0.1, (30, 3)), axis=0)
    ours = np.array([smoother({"jaw": value}, k / FPS)["jaw"] for k, value in enumerate(jaw)])
    min_cutoff, beta = DEFAULT_GROUPS["jaw"]
    expected = one_euro_by_hand(jaw[:, 1].tolist(), [k / FPS for k in range(30)], min_cutoff / 0.5, beta / 0.5, 2.0)
    np.testing.assert_allclose(ours[:, 1], expected, rtol=1e-12, atol=1e-12)


def test_constant_passes_unchanged():
    values = np.tile(np.array([0.3, -1.2, 5.0], np.float32), (60, 1))
    out = run(OneEuroFilter(min_cutoff=1.0, beta=0.5), values)
    np.testing.assert_allclose(out, values, atol=1e-6)
    assert out.dtype == np.float32


def test_noise_on_a_constant_is_reduced():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.05, (300, 10))
    out = run(OneEuroFilter(min_cutoff=1.0, beta=0.0), 2.0 + noise)
    ratio = (out[30:] - 2.0).std() / noise[30:].std()
    print(f"One Euro (min_cutoff 1 Hz, 30 fps): noise std ratio {ratio:.3f}")
    assert ratio < 0.4


def test_step_is_followed():
    values = np.r_[np.zeros(30), np.ones(60)][:, None]
    out = run(OneEuroFilter(min_cutoff=1.0, beta=0.0), values)[:, 0]
    assert out[30] < 0.5  # it does not jump...
    assert abs(out[-1] - 1.0) < 0.01  # ...but within two seconds it has arrived


def test_higher_beta_lags_less_on_a_ramp():
    ramp = (np.arange(90) / FPS * 2.0)[:, None]  # 2 units per second
    lag = {beta: np.abs(run(OneEuroFilter(min_cutoff=1.0, beta=beta), ramp) - ramp)[-30:].mean()
           for beta in (0.0, 1.0, 10.0)}
    assert lag[10.0] < lag[1.0] < lag[0.0]
    assert lag[10.0] < 0.25 * lag[0.0]


def test_first_sample_repeated_and_backward_times():
    filter = OneEuroFilter(min_cutoff=1.0)
    assert filter(np.array([1.0]), 0.0)[0] == 1.0  # the first sample is its own estimate
    assert filter(np.array([3.0]), 0.0)[0] == 1.0  # dt == 0: no step, the estimate stays
    assert 1.0 < filter(np.array([3.0]), 0.1)[0] < 3.0
    assert filter(np.array([7.0]), 0.05)[0] == 7.0  # time went back: restart from this sample
    filter.reset()
    assert filter(np.array([-2.0, 4.0]), 9.0).tolist() == [-2.0, 4.0]  # a new shape after reset


def test_smoother_groups_and_strength():
    rng = np.random.default_rng(1)
    smoother = ParamSmoother()
    assert set(DEFAULT_GROUPS) == {"expression", "jaw", "rotation", "translation", "eyes"}
    jitter = []
    for i in range(60):
        groups = {"expression": rng.normal(0, 0.1, 50), "rotation": rng.normal(0, 0.01, 3)}
        out = smoother(groups, i / FPS)
        assert set(out) == set(groups) and out["expression"].shape == (50,)
        jitter.append(out["rotation"])
    assert np.std(jitter[10:]) < 0.01 * 0.5

    smoother.strength = 0.0
    value = {"jaw": np.array([0.1, 0.0, 0.0]), "eyes": np.arange(6.0)}
    out = smoother(value, 3.0)
    for name in value:
        np.testing.assert_array_equal(out[name], value[name])

    with pytest.raises(KeyError, match="neck"):
        smoother({"neck": np.zeros(3)}, 4.0)
    with pytest.raises(ValueError):
        smoother.strength = 1.5


def test_lower_strength_smooths_less():
    step = {"jaw": np.zeros(3)}, {"jaw": np.full(3, 0.3)}
    after = {}
    for strength in (1.0, 0.25):
        smoother = ParamSmoother(strength=strength)
        smoother(step[0], 0.0)
        after[strength] = smoother(step[1], 1 / FPS)["jaw"][0]
    assert after[1.0] < after[0.25] < 0.3
