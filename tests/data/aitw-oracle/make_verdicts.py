"""Run Google's AITW action matching once on generated pairs and store its verdicts (not a test).

    python make_verdicts.py PATH/TO/google-research > verdicts.json

PATH/TO/google-research is a checkout of https://github.com/google-research/google-research (it
needs ``android_in_the_wild/action_matching.py`` and ``action_type.py``; ``pip install jax
numpy``). The pairs are generated here, independently of vlagent, to sit on what decides a
verdict: points on the edges of enlarged element boxes (and one float32 step past them), boxes
clipped at the screen's edge, tap distances at 0.14 and touch-lift distances at 0.04, swipes whose
axes tie, and every pair of action types. Values are multiples of 1/1024 so both sides read them
exactly.
"""

from __future__ import annotations

import json
import random
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
from android_in_the_wild import action_matching

F32 = np.float32
TYPES = [3, 4, 5, 6, 7, 10, 11]


def grid(rng: random.Random, low: float = 0.0, high: float = 1.0) -> float:
    return rng.randint(round(low * 1024), round(high * 1024)) / 1024


def edges(box: list[float]) -> list[tuple[float, float]]:
    """Points on the enlarged box's edges as the reference computes them, and one step outside."""
    y, x, h, w = (F32(v) for v in box)
    hc, wc = F32(1.4) * h, F32(1.4) * w
    top, left = max(F32(0), y - hc / F32(2)), max(F32(0), x - wc / F32(2))
    bottom, right = top + min(F32(1), h + hc), left + min(F32(1), w + wc)
    mid_y, mid_x = top + (bottom - top) / F32(2), left + (right - left) / F32(2)
    out = []
    for edge_y in (top, bottom, np.nextafter(top, F32(-1)), np.nextafter(bottom, F32(2))):
        out.append((float(edge_y), float(mid_x)))
    for edge_x in (left, right, np.nextafter(left, F32(-1)), np.nextafter(right, F32(2))):
        out.append((float(mid_y), float(edge_x)))
    return out


def main() -> None:
    rng = random.Random(20261123)
    cases = []

    def add(gold: tuple, predicted: tuple, boxes: list[list[float]]) -> None:
        # The reference needs at least one box (its max over boxes has no identity); AITW screens
        # always have some. A box of size 0 in the corner stands for "none".
        boxes = boxes or [[0.0, 0.0, 0.0, 0.0]]
        arrays = np.asarray(boxes, dtype=F32).reshape(-1, 4)
        verdict = action_matching.check_actions_match(
            gold[1], gold[2], gold[0], predicted[1], predicted[2], predicted[0], arrays
        )
        cases.append(
            {
                "gold": {"type": gold[0], "touch_yx": list(gold[1]), "lift_yx": list(gold[2])},
                "predicted": {
                    "type": predicted[0],
                    "touch_yx": list(predicted[1]),
                    "lift_yx": list(predicted[2]),
                },
                "boxes_yxhw": boxes,
                "match": bool(verdict),
            }
        )

    none = (-1.0, -1.0)
    for gold_type in TYPES:  # every pair of types, dual points as taps
        for predicted_type in TYPES:
            point = (grid(rng), grid(rng))
            add(
                (gold_type, point if gold_type == 4 else none, point if gold_type == 4 else none),
                (
                    predicted_type,
                    point if predicted_type == 4 else none,
                    point if predicted_type == 4 else none,
                ),
                [],
            )
    for _ in range(40):  # taps near and on enlarged box edges, boxes clipped at the screen's edge
        near_edge = rng.random() < 0.4
        h, w = grid(rng, 1 / 64, 0.5), grid(rng, 1 / 64, 0.5)
        y = grid(rng, 0, 0.05) if near_edge else grid(rng, 0, 1 - h)
        x = grid(rng, 0, 0.05) if near_edge else grid(rng, 0, 1 - w)
        box = [y, x, h, w]
        gold = (y + h / 2, x + w / 2)
        for point in edges(box)[:8]:
            add((4, gold, gold), (4, point, point), [box, [grid(rng), grid(rng), 1 / 32, 1 / 32]])
    for _ in range(40):  # tap distances around 0.14, no boxes
        gold = (grid(rng, 0.2, 0.8), grid(rng, 0.2, 0.8))
        step = float(F32(0.14))
        for d in (
            step,
            float(np.nextafter(F32(step), F32(1))),
            float(np.nextafter(F32(step), F32(0))),
        ):
            add((4, gold, gold), (4, (gold[0], gold[1] + d), (gold[0], gold[1] + d)), [])
            add((4, gold, gold), (4, (gold[0] + d, gold[1]), (gold[0] + d, gold[1])), [])
    for _ in range(40):  # tap or swipe: touch-lift distance around 0.04
        touch = (grid(rng, 0.2, 0.8), grid(rng, 0.2, 0.8))
        for d in (0.04, float(np.nextafter(F32(0.04), F32(1))), 0.03125, 0.0625):
            tapped = (4, touch, touch)
            add(tapped, (4, touch, (touch[0] + d, touch[1])), [])
            add((4, touch, (touch[0], touch[1] + d)), (4, touch, (touch[0] + d, touch[1])), [])
    for _ in range(60):  # swipes: axes, signs, ties
        touch = (grid(rng, 0.25, 0.75), grid(rng, 0.25, 0.75))
        dy, dx = grid(rng, -0.25, 0.25), grid(rng, -0.25, 0.25)
        if rng.random() < 0.3:
            dx = dy if rng.random() < 0.5 else -dy
        dy2, dx2 = grid(rng, -0.25, 0.25), grid(rng, -0.25, 0.25)
        add(
            (4, touch, (touch[0] + dy, touch[1] + dx)),
            (4, touch, (touch[0] + dy2, touch[1] + dx2)),
            [],
        )
    json.dump(
        {
            "reference": "google-research android_in_the_wild/action_matching.py, "
            "check_actions_match",
            "generator": "tests/data/aitw-oracle/make_verdicts.py",
            "seed": 20261123,
            "cases": cases,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
