"""Schedules: Zhu & Gupta polynomial decay at known steps, one-shot, iterative."""
import pytest

from pruning.schedules import OneShot, PolynomialDecay, iterative_sparsities


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
