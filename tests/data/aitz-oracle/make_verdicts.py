"""Run AITZ's own evaluator on generated (gold, prediction) pairs and print its verdicts as JSON.

    python make_verdicts.py PATH/TO/CoAT > verdicts.json

PATH/TO/CoAT is a checkout of https://github.com/IMNearth/CoAT (used at commit
9ab1a9f0e76581c50c84f8ebc6ada1a2084a0c71); its evaluator needs numpy, pandas, pillow, imagesize,
levenshtein and (for ``action_utils``) jax. Nothing of it is copied here: the script only calls
``coat.evaluate.ActionEvaluator`` (demo mode "COAT", screen mode "txt") and
``coat.action_utils.extract_gt_action``, and writes their answers next to the inputs it gave them.

The pairs cover every gold action type of AITZ against every predicted action type, typed texts on
both sides of the 0.8 similarity threshold and of containment (case included), every scroll
direction, and clicks; gold scroll labels are made by ``extract_gt_action`` from touch/lift points
around its 0.9 axis ratio.
"""

from __future__ import annotations

import itertools
import json
import struct
import sys
import tempfile
import zlib
from pathlib import Path

WIDTH, HEIGHT = 1080, 2400


def png(path: Path) -> None:
    """A blank WIDTHxHEIGHT PNG: the evaluator reads the screen size from the screenshot file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x00" * WIDTH for _ in range(HEIGHT))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# Gold steps as AITZ stores them (ui_positions are [y, x, h, w] pixels).
BOXES = [[1150, 490, 100, 100], [300, 100, 80, 400], [2200, 0, 200, 1080]]
TEXTS = ["Hello World", "abcde", "abcdefghij", "Paris", "new york pizza", "x"]
GOLD = (
    [
        {
            "coat_action_desc": "click on the button in the middle",
            "result_action_type": 4,
            "result_touch_yx": [0.5, 0.5],
            "result_lift_yx": [0.5, 0.5],
            "result_action_text": "",
        }
    ]
    + [
        {
            "coat_action_desc": f"scroll {d}",
            "result_action_type": 4,
            "result_touch_yx": t,
            "result_lift_yx": lift,
            "result_action_text": "",
        }
        for d, t, lift in [
            ("up", [0.7, 0.5], [0.3, 0.5]),
            ("down", [0.3, 0.5], [0.7, 0.5]),
            ("left", [0.5, 0.8], [0.5, 0.2]),
            ("right", [0.5, 0.2], [0.5, 0.8]),
        ]
    ]
    + [
        {
            "coat_action_desc": f'input text "{t}"',
            "result_action_type": 3,
            "result_touch_yx": [-1, -1],
            "result_lift_yx": [-1, -1],
            "result_action_text": t,
        }
        for t in TEXTS
    ]
    + [
        {
            "coat_action_desc": d,
            "result_action_type": a,
            "result_touch_yx": [-1, -1],
            "result_lift_yx": [-1, -1],
            "result_action_text": "",
        }
        for d, a in [
            ("press the back button", 5),
            ("press the home button", 6),
            ("press enter", 7),
            ("stop and set the query as completed", 10),
            ("stop and set the query as impossible", 11),
        ]
    ]
)
PRED_TEXTS = [
    "Hello World",
    "hello world",
    "Hello",
    "Hello World!!",
    "HELLO WORLD",
    "",
    *"abcdx abcdef ABCDE abxde abcdefghix abcdefgxyz paris".split(),
    "Paris, France",
    "new york",
    "pizza",
    "New York Pizza",
    "x",
    "y",
]
PREDICTIONS = (
    [
        {"ACTION": "CLICK", "ARGS": {"bbox": b}}
        for b in (
            [450, 450, 550, 550],
            [0, 0, 100, 100],
            [800, 800, 900, 900],
            [500, 495, 505, 505],
        )
    ]
    + [{"ACTION": "SCROLL", "ARGS": {"direction": d}} for d in ("up", "down", "left", "right")]
    + [{"ACTION": "TYPE", "ARGS": {"text": t}} for t in PRED_TEXTS]
    + [{"ACTION": "INPUT", "ARGS": {"text": "Hello World"}}]
    + [
        {"ACTION": a, "ARGS": {}}
        for a in ("PRESS_BACK", "PRESS_HOME", "PRESS_ENTER", "STOP", "OPEN_APP")
    ]
    + [{"ARGS": {}}]
)
# Gold swipes around extract_gt_action's 0.9 axis ratio: (touch_yx, lift_yx).
SWIPES = [
    ([0.5, 0.5], [0.5 - dy, 0.5 + dx])
    for dx, dy in itertools.product(
        [0.1, 0.3, -0.2],
        [0.09, 0.0899, 0.0901, 0.27, 0.2699, 0.2701, -0.18, -0.1799, -0.1801, 0.3, -0.3, 0.05],
    )
]


def main(coat: str) -> None:
    sys.path.insert(0, coat)
    from coat.action_utils import extract_gt_action
    from coat.evaluate import ActionEvaluator

    evaluator = ActionEvaluator(demo_mode="COAT", screen_mode="txt")
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "screen.png"
        png(image)
        steps = []
        for i, (gold, pred) in enumerate(itertools.product(GOLD, PREDICTIONS)):
            gt = {
                **gold,
                "subset": "general",
                "episode_id": "e",
                "step_id": i,
                "image_full_path": str(image),
                "result_touch_yx": json.dumps(gold["result_touch_yx"]),
                "result_lift_yx": json.dumps(gold["result_lift_yx"]),
                "ui_positions": BOXES,
                "ui_text": ["" for _ in BOXES],
                "ui_types": ["TEXT" for _ in BOXES],
            }
            verdict = evaluator(gt, {"action_predict": {"COAT": {"txt": pred}}})
            steps.append(
                {
                    "gold": gold,
                    "prediction": pred,
                    "type_match": bool(verdict["type_match"]),
                    "exact_match": bool(verdict["exact_match"]),
                }
            )
        labels = []
        for touch, lift in SWIPES:
            example = {
                "result_action_type": 4,
                "result_touch_yx": json.dumps(touch),
                "result_lift_yx": json.dumps(lift),
                "image_full_path": str(image),
                "result_action_text": "",
            }
            label, _ = extract_gt_action(example)
            labels.append({"touch_yx": touch, "lift_yx": lift, "label": label})
    json.dump(
        {
            "reference": "IMNearth/CoAT coat/evaluate.py ActionEvaluator('COAT', 'txt') and "
            "coat/action_utils.py extract_gt_action",
            "screen": [WIDTH, HEIGHT],
            "ui_positions": BOXES,
            "steps": steps,
            "gold_labels": labels,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
