"""Runs exported ONNX models with onnxruntime, a runtime independent of LibTorch and of nasc's own code.

    python run.py MODEL.onnx INPUT.json OUTPUT.json [MODEL.onnx INPUT.json OUTPUT.json ...]

INPUT and OUTPUT hold {"shape": [N, ...], "data": [row-major fp32 values]}. Several triples share one process,
because starting Python and loading the runtime costs more than the models. Any failure exits non-zero.
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def run_one(model, input_path, output_path):
    with open(input_path, encoding="utf-8") as f:
        x = json.load(f)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    feed = np.asarray(x["data"], dtype=np.float32).reshape(x["shape"])
    y = session.run(None, {session.get_inputs()[0].name: feed})[0]
    with open(output_path, "w", encoding="utf-8") as f:
        json.dump({"shape": list(y.shape), "data": y.astype(np.float32).ravel().tolist()}, f)


def main(args):
    if not args or len(args) % 3 != 0:
        sys.exit("usage: python run.py MODEL.onnx INPUT.json OUTPUT.json [MODEL INPUT OUTPUT ...]")
    for i in range(0, len(args), 3):
        run_one(*args[i:i + 3])


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as e:  # one line, naming the failure, and a non-zero exit
        sys.exit(f"run.py: {type(e).__name__}: {e}")
