"""Run OS-Atlas's AndroidControl evaluation on generated (gold, prediction) pairs; print its
verdicts.

    python make_verdicts.py PATH/TO/OS-Atlas > verdicts.json

PATH/TO/OS-Atlas is a checkout of https://github.com/OS-Copilot/OS-Atlas (used at commit
bad08407ab54b5bf6c17a69fe1ced476b9494926); its
``eval/eval_scripts/android_control/evaluation_unify.py``
needs numpy. Nothing of it is copied here. Its ``evaluate(args)`` reads a prediction and a ground
truth JSONL file and ``android_control_test_subsplits.json`` from the working directory, and only
logs accuracies per subsplit (dividing by each subsplit's count, so all four must be present). So
each pair is evaluated alone: the pair under test in subsplit ``IDD`` and three filler pairs, each
right, in the other three subsplits. Its verdicts are then read from the log: ``iid`` is the pair's
exact match (1 or 0), and ``type_match acc`` is (its type match + 3) / 4.

The gold strings are OS-Atlas's own format (``eval/data/ac_test.jsonl``: ``CLICK
<point>[[x,y]]</point>``, ``OPEN_APP [name]``, …); the pairs sit on the 140 distance (a 3-4-5
triangle lands exactly on it), test the second-word F1 rule of TYPE and OPEN_APP, and cover every
action type against every other.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile

GOLD = (
    [
        "CLICK <point>[[500,500]]</point>",
        "CLICK <point>[[0,0]]</point>",
        "CLICK <point>[[1000,1000]]</point>",
        "LONG_PRESS <point>[[300,700]]</point>",
    ]
    + [f"TYPE [{t}]" for t in ("Hello World", "paris", "New York pizza")]
    + [f"OPEN_APP [{a}]" for a in ("Clock", "Google Chrome")]
    + [f"SCROLL [{d}]" for d in ("UP", "DOWN", "LEFT", "RIGHT")]
    + ["PRESS_BACK", "PRESS_HOME", "WAIT", "COMPLETE"]
)
POINTS = [
    (500, 500),
    (640, 500),
    (641, 500),
    (584, 612),
    (585, 612),
    (500, 640),
    (500, 641),
    (0, 0),
    (98, 99),
    (99, 99),
    (1000, 1000),
    (900, 900),
    (300, 700),
    (400, 800),
]
PREDICTIONS = (
    [f"CLICK <point>[[{x},{y}]]</point>" for x, y in POINTS]
    + [f"LONG_PRESS <point>[[{x},{y}]]</point>" for x, y in ((300, 700), (400, 800), (500, 500))]
    + [
        f"TYPE [{t}]"
        for t in (
            "Hello World",
            "hello",
            "Hello there",
            "HELLO WORLD",
            "paris",
            "Paris!",
            "new york",
            "York pizza",
            "",
        )
    ]
    + [
        f"OPEN_APP [{a}]"
        for a in ("Clock", "clock", "Clock app", "Google", "google chrome", "Chrome")
    ]
    + [f"SCROLL [{d}]" for d in ("UP", "DOWN", "LEFT", "RIGHT")]
    + ["PRESS_BACK", "PRESS_HOME", "PRESS_RECENT", "WAIT", "COMPLETE", None]
)
FILLER = "CLICK <point>[[500,500]]</point>"
SUBSPLITS = {"IDD": [1], "app_unseen": [2], "task_unseen": [3], "category_unseen": [4]}


def main(repository: str) -> None:
    sys.path.insert(0, f"{repository}/eval/eval_scripts/android_control")
    import evaluation_unify

    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    evaluation_unify.logger.addHandler(Collect())
    steps = []
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        with open("android_control_test_subsplits.json", "w") as f:
            json.dump(SUBSPLITS, f)
        for gold in GOLD:
            for pred in PREDICTIONS:
                pairs = [(gold, pred)] + [(FILLER, FILLER)] * 3
                with open("gt.jsonl", "w") as g, open("pred.jsonl", "w") as p:
                    for episode, (gt, answer) in enumerate(pairs, start=1):
                        g.write(
                            json.dumps(
                                {
                                    "image": f"screenshots/episode_{episode}_screenshot_0.png",
                                    "conversations": [
                                        {"from": "human", "value": "task"},
                                        {"from": "gpt", "value": f"thoughts:\nx\nactions:\n{gt}"},
                                    ],
                                }
                            )
                            + "\n"
                        )
                        text = (
                            "no action here"
                            if answer is None
                            else f"thoughts:\nx\nactions:\n{answer}<|im_end|>"
                        )
                        p.write(json.dumps({"pred": text}) + "\n")
                records.clear()
                evaluation_unify.evaluate(
                    argparse.Namespace(
                        prediction_file_path="pred.jsonl",
                        ground_truth_file_path="gt.jsonl",
                        split="low",
                    )
                )
                log = "\n".join(records)
                exact = float(re.search(r"^iid: ([\d.]+)", log, re.M).group(1))
                type_rate = float(re.search(r"^type_match acc: ([\d.]+)", log, re.M).group(1))
                steps.append(
                    {
                        "gold": gold,
                        "prediction": pred,
                        "type_match": round(type_rate * 4) - 3 == 1,
                        "exact_match": exact == 1.0,
                    }
                )
    json.dump(
        {
            "reference": "OS-Copilot/OS-Atlas "
            "eval/eval_scripts/android_control/evaluation_unify.py "
            "evaluate, commit bad08407ab54b5bf6c17a69fe1ced476b9494926",
            "steps": steps,
        },
        sys.stdout,
        indent=None,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]))
