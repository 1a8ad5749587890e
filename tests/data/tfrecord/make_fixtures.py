"""Write small AITW and AndroidControl files in the published layout, with TensorFlow's own
TFRecord writer and android_env's own accessibility protos (not vlagent's reader's code).

    python make_fixtures.py OUT_DIR

Needs ``tensorflow`` and ``android-env`` (its compiled a11y protos). Writes:
- ``aitw-sample.tfrecord.gz``: GZIP TFRecord, one ``tf.train.Example`` per step, the feature
  layout of google-research ``android_in_the_wild`` (raw uint8 screenshots in ``image/encoded``,
  normalized ``(y, x, h, w)`` annotation boxes, ``results/*`` actions);
- ``androidcontrol-sample.tfrecord.gz``: GZIP TFRecord, one ``tf.train.Example`` per episode, the
  layout of google-research ``android_control`` (PNG screenshots, serialized
  ``AndroidAccessibilityForest`` trees, JSON actions, step instructions);
- ``androidcontrol-splits.json``: the split file's layout (episode ids per split).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from android_env.proto.a11y import android_accessibility_forest_pb2 as forest_pb2

GZIP = tf.io.TFRecordOptions(compression_type="GZIP")


def _bytes(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values: list[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _floats(values: list[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _screen(width: int, height: int, shade: int) -> np.ndarray:
    image = np.full((height, width, 3), shade, dtype=np.uint8)
    image[height // 4 : height // 2, width // 4 : width * 3 // 4] = (30, 120, 230)  # a "button"
    return image


def aitw(out: Path) -> None:
    # (episode, goal, steps): each step is (action_type, touch_yx, lift_yx, typed text)
    episodes = [
        (
            "1001",
            "open the clock app",
            [
                (4, [0.3, 0.5], [0.3, 0.5], ""),
                (4, [0.8, 0.5], [0.2, 0.5], ""),
                (3, [-1.0, -1.0], [-1.0, -1.0], "7:30"),
                (10, [-1.0, -1.0], [-1.0, -1.0], ""),
            ],
        ),
        (
            "1002",
            "go home",
            [(6, [-1.0, -1.0], [-1.0, -1.0], ""), (11, [-1.0, -1.0], [-1.0, -1.0], "")],
        ),
    ]
    width, height = 40, 80
    with tf.io.TFRecordWriter(str(out / "aitw-sample.tfrecord.gz"), GZIP) as writer:
        for episode_id, goal, steps in episodes:
            for step_id, (kind, touch, lift, text) in enumerate(steps):
                image = _screen(width, height, 200 + step_id)
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "android_api_level": _ints([28]),
                            "current_activity": _bytes([b"com.example/.Main"]),
                            "device_type": _bytes([b"pixel"]),
                            "episode_id": _bytes([episode_id.encode()]),
                            "episode_length": _ints([len(steps)]),
                            "goal_info": _bytes([goal.encode()]),
                            "image/channels": _ints([3]),
                            "image/height": _ints([height]),
                            "image/width": _ints([width]),
                            "image/encoded": _bytes([image.tobytes()]),
                            "image/ui_annotations_positions": _floats(
                                [0.25, 0.25, 0.25, 0.5, 0.9, 0.0, 0.1, 1.0]
                            ),
                            "image/ui_annotations_text": _bytes([b"Clock", b""]),
                            "image/ui_annotations_ui_types": _bytes(
                                [b"TEXT", b"ICON_NAV_BAR_RECT"]
                            ),
                            "results/action_type": _ints([kind]),
                            "results/type_action": _bytes([text.encode()]),
                            "results/yx_touch": _floats(touch),
                            "results/yx_lift": _floats(lift),
                            "step_id": _ints([step_id]),
                        }
                    )
                )
                writer.write(example.SerializeToString())


def _forest(width: int, height: int) -> bytes:
    """A window with a full-screen container and two leaves: a button and a text field."""
    forest = forest_pb2.AndroidAccessibilityForest()
    window = forest.windows.add(id=7, layer=1, window_type=1)
    window.bounds_in_screen.right, window.bounds_in_screen.bottom = width, height
    nodes = [
        (0, "android.widget.FrameLayout", "", "", (0, 0, width, height), False, [1, 2]),
        (1, "android.widget.Button", "Alarm", "", (100, 200, 300, 280), True, []),
        (2, "android.widget.EditText", "", "Search", (20, 600, 700, 680), True, []),
    ]
    for unique_id, class_name, text, description, (
        left,
        top,
        right,
        bottom,
    ), clickable, children in nodes:
        node = window.tree.nodes.add(
            unique_id=unique_id,
            class_name=class_name,
            text=text,
            content_description=description,
            is_clickable=clickable,
            is_visible_to_user=True,
            child_ids=children,
            window_id=7,
        )
        node.bounds_in_screen.left, node.bounds_in_screen.top = left, top
        node.bounds_in_screen.right, node.bounds_in_screen.bottom = right, bottom
    return forest.SerializeToString()


def androidcontrol(out: Path) -> None:
    width, height = 720, 1280
    episodes = [
        (
            20001,
            "Set an alarm for 7:30 in the Clock app",
            [
                {"action_type": "open_app", "app_name": "Clock"},
                {"action_type": "click", "x": 200, "y": 240},
                {"action_type": "scroll", "direction": "down"},
                {"action_type": "input_text", "text": "7:30"},
                {"action_type": "navigate_back"},
            ],
            ["Open the Clock app", "Tap Alarm", "Scroll down", "Type 7:30", "Go back"],
        ),
        (
            20002,
            "Go to the home screen",
            [{"action_type": "navigate_home"}, {"action_type": "wait"}],
            ["Press home", "Wait"],
        ),
    ]
    with tf.io.TFRecordWriter(str(out / "androidcontrol-sample.tfrecord.gz"), GZIP) as writer:
        for episode_id, goal, actions, instructions in episodes:
            shots = [
                tf.io.encode_png(_screen(width, height, 180 + i)).numpy()
                for i in range(len(actions) + 1)
            ]  # one more screenshot than actions
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "episode_id": _ints([episode_id]),
                        "goal": _bytes([goal.encode()]),
                        "screenshots": _bytes(shots),
                        "accessibility_trees": _bytes([_forest(width, height) for _ in shots]),
                        "screenshot_widths": _ints([width] * len(shots)),
                        "screenshot_heights": _ints([height] * len(shots)),
                        "actions": _bytes([json.dumps(a).encode() for a in actions]),
                        "step_instructions": _bytes([s.encode() for s in instructions]),
                    }
                )
            )
            writer.write(example.SerializeToString())
    (out / "androidcontrol-splits.json").write_text(
        json.dumps({"train": [20002], "validation": [], "test": [20001]}) + "\n"
    )


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    aitw(target)
    androidcontrol(target)
