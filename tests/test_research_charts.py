"""The research figures: honest colours, PNGs that open."""

import numpy as np

from research.charts import color_norm, heatmaps_png, stability_png


def test_a_map_of_losses_is_never_green():
    norm = color_norm(np.array([-1.6, -0.7, -0.27]), "sharpe")
    assert norm(-0.27) < 0.5 and norm(0.0) == 0.5  # the least bad loss is still below "no edge"
    assert color_norm(np.array([0.2, 0.8]), "sharpe")(0.8) == 1.0
    psr = color_norm(np.array([0.1, 0.45]), "psr")
    assert psr(0.45) < 0.5 and psr(0.5) == 0.5  # a probability's "no edge" is 0.5


def test_figures_are_pngs_and_say_when_there_is_nothing_to_draw():
    points = [({"a": a, "b": b, "c": c}, a - b if c else None)
              for a in (1, 2, 3) for b in (0.5, 0.7) for c in (True, False)]
    png = heatmaps_png(points, ["a", "b", "c"], "sharpe")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert heatmaps_png([({"a": 1}, 0.3), ({"a": 2}, 0.1)], ["a"], "sharpe") is None
    many = [({"x": float(i), "y": i % 3}, float(i)) for i in range(40)]  # binned continuous axis
    assert heatmaps_png(many, ["x", "y"], "calmar")[:4] == b"\x89PNG"
    assert stability_png([(0, {"a": 3, "m": "close"}), (1, None), (2, {"a": 5, "m": "wick"})],
                         ["a", "m"])[:4] == b"\x89PNG"
    assert stability_png([], ["a"]) is None
