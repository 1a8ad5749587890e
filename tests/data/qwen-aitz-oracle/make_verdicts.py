"""Run the Qwen-derived AITZ evaluator on generated (gold, prediction) pairs; print its verdicts.

    python make_verdicts.py PATH/TO/AgentCPM-GUI > verdicts.json

PATH/TO/AgentCPM-GUI is a checkout of https://github.com/OpenBMB/AgentCPM-GUI (used at commit
acbaf509b8afb3f58b782486f4e8c0e33d8a486b). Its ``eval/utils/evaluator.py`` says it is based on the
evaluator the Qwen team published for Qwen2.5-VL (QwenLM/Qwen2.5-VL issue 904 and two gists); it
needs numpy, pillow, levenshtein and colorama. Nothing of it is copied here: the script calls
``ActionEvaluator(save_dir, eval_android_control=False)`` — the AITZ setting — and writes its
answers next to the inputs it gave it (gold in AgentCPM's processed AITZ layout: element boxes
``[y, x, h, w]`` normalized; predictions in its action schema: ``POINT``/``to`` in 0–1000,
``TYPE``, ``PRESS``, ``STATUS``, ``duration``).

The pairs cover every gold type against every predicted type, taps on the enlarged (1.2×) box
edges and at the 0.14 distance, gold taps inside and outside every box, swipes in every direction
and on the diagonals (ties), typed texts with case, spaces and containment.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys

BOXES = [[0.45, 0.40, 0.10, 0.20], [0.10, 0.05, 0.05, 0.90], [0.95, 0.0, 0.05, 1.0]]  # [y, x, h, w]
WIDTH, HEIGHT = 1080, 2400


def gold(kind: int, touch: list[float], lift: list[float], text: str = "") -> dict:
    return {
        "result_action_type": kind,
        "result_touch_yx": touch,
        "result_lift_yx": lift,
        "result_action_text": text,
    }


GOLD = (
    [
        gold(4, [0.5, 0.5], [0.5, 0.5]),
        gold(4, [0.3, 0.7], [0.3, 0.7]),
        gold(4, [0.96, 0.02], [0.96, 0.02]),
    ]
    + [
        gold(4, t, lift)
        for t, lift in [
            ([0.7, 0.5], [0.3, 0.5]),
            ([0.3, 0.5], [0.7, 0.5]),
            ([0.5, 0.8], [0.5, 0.2]),
            ([0.5, 0.2], [0.5, 0.8]),
            ([0.7, 0.3], [0.3, 0.7]),
            ([0.3, 0.3], [0.7, 0.7]),
        ]
    ]
    + [gold(3, [-1, -1], [-1, -1], t) for t in ("Hello World", "  paris ", "new york pizza")]
    + [gold(a, [-1, -1], [-1, -1]) for a in (5, 6, 7, 10, 11)]
)
POINTS = [
    [500, 500],
    [400, 430],
    [399, 430],
    [600, 570],
    [601, 570],
    [380, 440],
    [381, 440],
    [500, 640],
    [500, 641],
    [640, 500],
    [700, 300],
    [20, 960],
    [0, 1000],
    [900, 100],
]
PREDICTIONS = (
    [{"ACTION": {"POINT": p}, "ARGS": {"duration": 200}, "STATUS": "continue"} for p in POINTS]
    + [{"ACTION": {"POINT": [500, 500]}, "ARGS": {"duration": 1000}, "STATUS": "continue"}]
    + [
        {
            "ACTION": {"POINT": [500, 500], "to": q},
            "ARGS": {"duration": 200, "to": q},
            "STATUS": "continue",
        }
        for q in (
            [500, 100],
            [500, 900],
            [100, 500],
            [900, 500],
            [900, 100],
            [100, 100],
            [800, 200],
        )
    ]
    + [
        {"ACTION": {"TYPE": t}, "ARGS": {"duration": 200}, "STATUS": "continue"}
        for t in (
            "Hello World",
            "hello world ",
            "Hello",
            "HELLO WORLD!!",
            "",
            "Paris",
            "pizza",
            "New York Pizza",
            "Hello Wrld",
        )
    ]
    + [
        {"ACTION": {"PRESS": b}, "ARGS": {"duration": 200}, "STATUS": "continue"}
        for b in ("BACK", "HOME", "ENTER")
    ]
    + [{"ACTION": {}, "ARGS": {"duration": 200}, "STATUS": s} for s in ("finish", "impossible")]
    + [{"ACTION": {}, "ARGS": {"duration": 3000}, "STATUS": "continue"}]
)


def main(repository: str) -> None:
    sys.path.insert(0, f"{repository}/eval")
    from utils.evaluator import ActionEvaluator

    evaluator = ActionEvaluator(save_dir="/nonexistent", eval_android_control=False)
    steps = []
    for i, (g, pred) in enumerate(itertools.product(GOLD, PREDICTIONS)):
        gt = {
            **g,
            "result_touch_yx": json.dumps(g["result_touch_yx"]),
            "result_lift_yx": json.dumps(g["result_lift_yx"]),
            "ui_positions": json.dumps(BOXES),
            "image_width": WIDTH,
            "image_height": HEIGHT,
            "subset": "general",
            "episode_id": "e",
            "step_id": i,
            "instruction": "g",
        }
        with contextlib.redirect_stdout(io.StringIO()):  # it prints every mismatch
            verdict = evaluator(gt, {"action_predict": {"COA": {"txt": pred}}})
        steps.append(
            {
                "gold": g,
                "prediction": pred,
                "type_match": bool(verdict["type_match"]),
                "exact_match": bool(verdict["exact_match"]),
            }
        )
    json.dump(
        {
            "reference": "OpenBMB/AgentCPM-GUI eval/utils/evaluator.py "
            "ActionEvaluator(eval_android_control=False)",
            "ui_positions_yxhw": BOXES,
            "steps": steps,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
