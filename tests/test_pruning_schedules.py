"""Schedules: Zhu & Gupta polynomial decay at known steps, one-shot, iterative."""
import pytest

from pruning.schedules import OneShot, PolynomialDecay, iterative_sparsities
import numpy as np


def test_polynomial_decay_known_values():
    s = PolynomialDecay(initial=0.0, final=0.8, begin=100, end=200, frequency=10)
    assert s.sparsity(0) == 0.0 and s.sparsity(99) == 0.0
    assert s.sparsity(100) == 0.0
    # t = 150: p = 0.5 -> 0.8 + (0 - 0.8) * 0.5**3 = 0.7
    assert s.sparsity(150) == pytest.approx(0.7)
    # Piecewise constant between updates: 155 uses the update at 150.
    assert s.sparsity(155) == pytest.approx(0.7)
    # t = 120: p = 0.2 -> 0.8 * (1 - 0.8**3) = 0.3904
    assert s.sparsity(120) == pytest.approx(0.3904)
    assert s.sparsity(200) == pytest.approx(0.8) and s.sparsity(10_000) == pytest.approx(0.8)
    assert [t for t in range(0, 260) if s.should_prune(t)] == list(range(100, 201, 10))


def test_polynomial_decay_initial_and_end_not_multiple():
    s = PolynomialDecay(initial=0.5, final=0.9, begin=0, end=25, frequency=10)
    assert s.sparsity(0) == pytest.approx(0.5)
    assert s.sparsity(10) == pytest.approx(0.9 - 0.4 * (1 - 0.4) ** 3)
    assert s.should_prune(25) and s.sparsity(25) == pytest.approx(0.9)
    assert not s.should_prune(26)


@pytest.mark.parametrize("kw, msg", [({"final": 1.0}, "final sparsity"), ({"end": 0}, "end must"),
                                     ({"frequency": 0}, "frequency")])
def test_polynomial_decay_rejects(kw, msg):
    args = dict(initial=0.0, final=0.5, begin=0, end=10, frequency=1)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        PolynomialDecay(**args)


def test_one_shot_and_iterative():
    o = OneShot(0.9, at=5)
    assert o.sparsity(4) == 0.0 and o.sparsity(5) == 0.9 and o.should_prune(5) and not o.should_prune(6)
    geo = iterative_sparsities(0.875, 3)
    assert geo == pytest.approx([0.5, 0.75, 0.875])  # half of the survivors each round
    assert iterative_sparsities(0.9, 3, "linear") == pytest.approx([0.3, 0.6, 0.9])
    with pytest.raises(ValueError, match="rounds"):
        iterative_sparsities(0.5, 0)


def test_iterative_ends_exactly_at_final():
    # Review item 6: 1 - (1 - 0.3) ** 1 was 0.30000000000000004, which prunes 5 of 15, not 4.
    from pruning.masks import prune_count
    for mode in ("geometric", "linear"):
        for f in [i / 100 for i in range(1, 100)]:
            for r in range(1, 8):
                steps = iterative_sparsities(f, r, mode)
                assert len(steps) == r and steps[-1] is f
                assert all(a < b for a, b in zip(steps, steps[1:])) or f == 0
    assert prune_count(iterative_sparsities(0.3, 1)[-1], 15) == prune_count(0.3, 15) == 4
    assert iterative_sparsities(0.7, 3, "linear") == [0.233333333333, 0.466666666667, 0.7]
    # Geometric intermediate steps: 1 - 0.7 ** (1/3), 1 - 0.7 ** (2/3) to 12 decimals.
    assert iterative_sparsities(0.3, 3) == [0.112095998257, 0.211626483689, 0.3]
    assert iterative_sparsities(0.875, 3) == [0.5, 0.75, 0.875]


def test_polynomial_decay_is_exact_decimal_and_ends_at_final():
    s = PolynomialDecay(initial=0.1, final=0.3, begin=0, end=3, frequency=1, power=1)
    # float arithmetic gives 0.16666666666666669 and 0.2333...; exact: 1/6 and 7/30 of 1 at 12 places.
    assert [s.sparsity(t) for t in range(5)] == [0.1, 0.166666666667, 0.233333333333, 0.3, 0.3]
    assert PolynomialDecay(0.0, 0.7, begin=0, end=7).sparsity(7) == 0.7


def test_schedules_accept_numpy_integer_steps():
    from pruning.schedules import OneShot, PolynomialDecay
    s = PolynomialDecay(0.0, 0.5, np.int64(0), np.int32(10), np.int8(2), np.int64(3))
    assert type(s.end) is int and s.sparsity(10) == 0.5 and s.should_prune(np.int64(4))
    assert OneShot(0.5, np.int64(3)).at == 3


def test_schedule_errors_have_no_weights_label():
    from pruning.schedules import OneShot, PolynomialDecay, iterative_sparsities
    for make in (lambda: OneShot("x"), lambda: PolynomialDecay(0.0, 1.0, 0, 10),
                 lambda: iterative_sparsities(1.5, 3)):
        with pytest.raises(ValueError) as e:
            make()
        assert not str(e.value).startswith("weights") and "sparsity" in str(e.value)


def test_polynomial_decay_refuses_initial_above_final():
    from pruning.schedules import PolynomialDecay
    with pytest.raises(ValueError, match="initial sparsity 0.5 must not exceed final sparsity 0.3"):
        PolynomialDecay(0.5, 0.3, 0, 10)
    assert PolynomialDecay(0.5, 0.5, 0, 10).sparsity(3) == 0.5
