"""Run the Qwen-derived AndroidControl evaluator on generated (gold, prediction) pairs; print its
verdicts.

    python make_verdicts.py PATH/TO/InfiGUI-R1 > verdicts.json

PATH/TO/InfiGUI-R1 is a checkout of https://github.com/Reallm-Labs/InfiGUI-R1 (used at commit
d280ab8786cb3b063ae5cc62dc5fa91c4ceb348e). Its ``eval/android_control/evaluate_android_control.py``
is the evaluator the Qwen team shared for Qwen2.5-VL's AndroidControl numbers (QwenLM/Qwen2.5-VL
issue 904); it needs numpy. Nothing of it is copied here: the script calls
``evaluate_android_control_action(pred_action, check_pam, width, height, resized_width,
resized_height)`` — gold ("check pams") in original pixels with ``candidate_bbox`` boxes,
predictions in ``mobile_use`` arguments in pixels of the resized screenshot — and writes its
answers next to the inputs. A call that raises counts as wrong in type and in content, as its own
harness (``android_control.py``, ``compute_scores``) counts it.

The pairs cover every gold action against every predicted one, clicks on each edge of the
enlarged (1.2×) target boxes and at the 0.04·max(W, H) distance, open answered by a click with and
without an icon box, swipes in each direction and on the diagonal, text containment and case, on
a portrait and a landscape screen whose resized size differs from the original.
"""

from __future__ import annotations

import json
import math
import sys

# (width, height, resized width, resized height): smart_resize with max_pixels 6400·28·28.
SCREENS = [(1080, 2400, 1092, 2408), (2400, 1080, 2408, 1092)]
BOX1, BOX2, ICON = (0.40, 0.45, 0.60, 0.55), (0.10, 0.12, 0.30, 0.17), (0.75, 0.75, 0.88, 0.81)


def pixels(box: tuple[float, ...], width: int, height: int) -> list[int]:
    return [
        round(box[0] * width),
        round(box[1] * height),
        round(box[2] * width),
        round(box[3] * height),
    ]


def centre(box: list[int]) -> list[float]:
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


def golds(width: int, height: int) -> list[dict]:
    b1, b2, icon = (
        pixels(BOX1, width, height),
        pixels(BOX2, width, height),
        pixels(ICON, width, height),
    )
    return [
        {"action": "click", "coordinate": centre(b1), "candidate_bbox": [b1]},
        {
            "action": "click",
            "coordinate": [round(0.7 * width), round(0.3 * height)],
            "candidate_bbox": [],
        },
        {"action": "click", "coordinate": centre(b2), "candidate_bbox": [b1, b2]},
        {"action": "long_press", "coordinate": centre(b1), "candidate_bbox": [b1], "time": 1},
        {"action": "open", "text": "Clock", "candidate_bbox": [icon]},
        {"action": "open", "text": "Clock", "candidate_bbox": []},
        {"action": "type", "text": "Hello World"},
        {"action": "type", "text": "  paris "},
        {"action": "system_button", "button": "Back"},
        {"action": "system_button", "button": "Home"},
        {"action": "wait", "time": 2},
    ] + [{"action": "swipe", "direction": d} for d in ("up", "down", "left", "right")]


def predictions(width: int, height: int, rw: int, rh: int) -> list[dict]:
    def resized(point: list[float]) -> list[int]:  # an original pixel → the resized pixel grid
        return [round(point[0] * rw / width), round(point[1] * rh / height)]

    points = []
    for box in (BOX1, BOX2, ICON):
        b = pixels(box, width, height)
        c = resized(centre(b))
        points.append(c)
        w, h = (b[2] - b[0]) * 1.2 / width * rw, (b[3] - b[1]) * 1.2 / height * rh
        for edge_x in (c[0] - w / 2, c[0] + w / 2):
            points += [[x, c[1]] for x in range(math.floor(edge_x) - 1, math.floor(edge_x) + 3)]
        for edge_y in (c[1] - h / 2, c[1] + h / 2):
            points += [[c[0], y] for y in range(math.floor(edge_y) - 1, math.floor(edge_y) + 3)]
    limit = 0.04 * max(rw, rh)
    for gold_point in ([round(0.7 * width), round(0.3 * height)],):
        g = [gold_point[0] * rw / width, gold_point[1] * rh / height]
        for step in (math.floor(limit) - 1, math.floor(limit), math.ceil(limit)):
            points += [[round(g[0] + step), round(g[1])], [round(g[0]), round(g[1] - step)]]
        diagonal = limit / math.sqrt(2)
        points += [
            [round(g[0] + d), round(g[1] + d)] for d in (math.floor(diagonal), math.ceil(diagonal))
        ]
    points.append([5, 5])
    middle = [rw // 2, rh // 2]
    moves = [
        (0, -300),
        (0, 300),
        (-300, 0),
        (300, 0),
        (200, 200),
        (-200, 200),
        (201, 200),
        (0, 0),
        (150, -151),
    ]
    return (
        [{"action": "click", "coordinate": p} for p in points]
        + [{"action": "long_press", "coordinate": p, "time": 1} for p in points[:1] + points[-1:]]
        + [
            {
                "action": "swipe",
                "coordinate": middle,
                "coordinate2": [middle[0] + dx, middle[1] + dy],
            }
            for dx, dy in moves
        ]
        + [
            {"action": "type", "text": t}
            for t in ("Hello World", "hello", "HELLO WORLD!!", "", "Paris", "xyz")
        ]
        + [{"action": "open", "text": t} for t in ("Clock", "clock app", "Clo", "Camera")]
        + [{"action": "system_button", "button": b} for b in ("Back", "Home", "back", "Enter")]
        + [
            {"action": "wait", "time": 2},
            {"action": "terminate", "status": "success"},
            {"action": "key", "text": "volume_up"},
            {"action": "click"},
        ]
    )


def main(repository: str) -> None:
    sys.path.insert(0, f"{repository}/eval/android_control")
    from evaluate_android_control import evaluate_android_control_action

    steps = []
    for width, height, rw, rh in SCREENS:
        for gold in golds(width, height):
            preds = predictions(width, height, rw, rh)
            if gold["action"] not in ("click", "long_press", "open"):  # one tap stands for all
                preds = [
                    p
                    for i, p in enumerate(preds)
                    if p["action"] not in ("click", "long_press") or i == 0
                ]
            for pred in preds:
                try:
                    type_match, exact_match = evaluate_android_control_action(
                        pred, gold, width, height, rw, rh
                    )
                except Exception as exc:  # the harness counts it as an error: neither match
                    type_match, exact_match, error = False, False, type(exc).__name__
                else:
                    error = None
                steps.append(
                    {
                        "screen": [width, height],
                        "resized": [rw, rh],
                        "gold": gold,
                        "prediction": pred,
                        "type_match": bool(type_match),
                        "exact_match": bool(exact_match),
                        "error": error,
                    }
                )
    json.dump(
        {
            "reference": "Reallm-Labs/InfiGUI-R1 eval/android_control/evaluate_android_control.py "
            "evaluate_android_control_action, commit d280ab8786cb3b063ae5cc62dc5fa91c4ceb348e",
            "steps": steps,
        },
        sys.stdout,
        indent=None,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
