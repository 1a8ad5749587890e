"""Print every tf.train.Example of the given GZIP TFRecord files as read by TensorFlow itself, as
JSON (bytes in base64), for the test that compares vlagent's reader with TensorFlow's.

    PYTHON_WITH_TENSORFLOW read_with_tensorflow.py FILE...

Needs only ``tensorflow-cpu``; vlagent is not imported.
"""

from __future__ import annotations

import base64
import json
import sys

import tensorflow as tf


def value(v: object) -> object:
    return {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v


def main(paths: list[str]) -> None:
    files = {}
    for path in paths:
        examples = []
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            parsed = tf.train.Example.FromString(record.numpy())
            examples.append(
                {
                    key: [value(v) for v in getattr(feature, feature.WhichOneof("kind")).value]
                    for key, feature in parsed.features.feature.items()
                }
            )
        files[path] = examples
    json.dump(files, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
