"""``plot``: the curves are the schedule's own values, stairs have exact corners."""

from __future__ import annotations

import numpy as np
import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay, plot, stack

pytest.importorskip("matplotlib")


def test_single_staircase_curve_is_the_schedule():
    sched = exponential_decay(0.1, 1000, 0.5, staircase=True)
    fig = plot(sched, 5000)
    (line,) = fig.axes[0].get_lines()
    x, y = (np.asarray(v) for v in line.get_data())
    assert line.get_drawstyle() == "steps-post"
    assert x[0] == 0 and x[-1] == 5000 and (np.diff(x) > 0).all()
    np.testing.assert_array_equal(y, np.asarray(sched(x.astype(np.uint32)), np.float64))
    for k in range(1, 6):  # every stair's first step, and its value, is on the curve
        i = int(np.searchsorted(x, 1000 * k))
        assert x[i] == 1000 * k and y[i] == np.float32(0.1 * 0.5**k)
        assert y[i - 1] == np.float32(0.1 * 0.5 ** (k - 1))


def test_a_batch_and_a_list_give_one_curve_each():
    cfgs = [ExponentialDecayConfig(0.1, 100, r, staircase=True) for r in (0.5, 0.9)]
    mixed = [cfgs[0], exponential_decay(cfgs[1].replace(staircase=False))]
    for what in (stack(cfgs), exponential_decay(stack(cfgs)), cfgs, mixed):
        fig = plot(what, (10, 1000), log_y=True, labels=["a", "b"])
        lines = fig.axes[0].get_lines()
        assert [ln.get_label() for ln in lines] == ["a", "b"]
        assert fig.axes[0].get_yscale() == "log"
        want = cfgs if what is not mixed else [cfgs[0], cfgs[1].replace(staircase=False)]
        for ln, c in zip(lines, want, strict=True):
            x, y = (np.asarray(v) for v in ln.get_data())
            assert x[0] == 10 and x[-1] == 1000
            np.testing.assert_array_equal(y, np.asarray(exponential_decay(c)(x.astype(np.uint32))))


def test_default_range_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    sched = exponential_decay(0.1, 100_000, 0.96, staircase=True)
    assert plot(sched, ax=ax) is fig
    x = np.asarray(ax.get_lines()[0].get_xdata())
    assert x[0] == 0 and x[-1] == 17_000_000  # the CLI's horizon: 1e-3 of the initial rate


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "msg"),
    [
        (("x",), {}, TypeError, r"plot: schedule must be an ExponentialDecay"),
        (([],), {}, TypeError, r"non-empty list"),
        ((exponential_decay(0.1, 10, 0.5), -5), {}, ValueError, r"got 0..-5"),
        ((exponential_decay(0.1, 10, 0.5), (5, 5)), {}, ValueError, r"got 5..5"),
        ((exponential_decay(0.1, 10, 0.5), 2**31), {}, ValueError, r"<= 2\*\*31 - 1"),
        ((exponential_decay(0.1, 10, 0.5), 10), {"labels": ["a", "b"]}, ValueError, r"2 labels for 1 curves"),
    ],
)  # fmt: skip
def test_refusals(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        plot(*args, **kwargs)
