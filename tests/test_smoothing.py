"""The One Euro filter and the per-group smoother: still signals steady, moving ones followed."""
import numpy as np
import pytest

from tracking.smoothing import DEFAULT_GROUPS, OneEuroFilter, ParamSmoother

FPS = 30.0


def run(filter: OneEuroFilter, values: np.ndarray, fps: float = FPS) -> np.ndarray:
    return np.array([filter(v, i / fps) for i, v in enumerate(values)])


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
