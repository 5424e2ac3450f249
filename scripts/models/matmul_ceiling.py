"""The CPU's ceiling for the MiniLM encoder: how many tokens/s this machine could encode if every
FLOP ran at the speed of onnxruntime's best matrix multiply, with the same library, kernels and
thread count as railyard. It bounds what batching can gain over one text per call:
    most speed-up = ceiling tokens/s / one-text-per-call tokens/s.

    .venv/bin/python scripts/models/matmul_ceiling.py [--threads 2] [--single-tokens-per-s 4300]

The encoder's cost per token is counted from its shapes (6 layers of hidden 384 and
feed-forward 1,536): 2 x (4 x 384 x 384 + 2 x 384 x 1,536) multiply-adds = 21.2 MFLOP, plus
attention over the sequence (2 x 2 x seq x 384 per layer), which is small for short texts.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

LAYERS, HIDDEN, FFN = 6, 384, 1536


def flops_per_token(sequence):
    per_layer = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) + 2 * 2 * sequence * HIDDEN
    return LAYERS * per_layer


def matmul_gflops(rows, inner, cols, threads):
    """Best-of-5 GFLOP/s of one [rows, inner] x [inner, cols] MatMul in onnxruntime."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [inner, cols],
                                np.random.default_rng(0).standard_normal(inner * cols).astype(np.float32))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "matmul",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, inner])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, cols])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "matmul.onnx")
        onnx.save(model, path)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((rows, inner)).astype(np.float32)
    reps = max(5, int(4e9 / (2 * rows * inner * cols)))
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(reps):
            session.run(["y"], {"x": x})
        best = max(best, 2 * rows * inner * cols * reps / (time.perf_counter() - started) / 1e9)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=640, help="tokens per batch (railyard's CPU max_batch_tokens)")
    parser.add_argument("--sequence", type=int, default=35, help="mean tokens per text")
    parser.add_argument("--single-tokens-per-s", type=float, help="measured one-text-per-call tokens/s")
    args = parser.parse_args()
    shapes = [(args.rows, HIDDEN, HIDDEN), (args.rows, HIDDEN, FFN), (args.rows, FFN, HIDDEN)]
    rates = {shape: matmul_gflops(*shape, args.threads) for shape in shapes}
    for (rows, inner, cols), rate in rates.items():
        print(f"MatMul [{rows}x{inner}] x [{inner}x{cols}], {args.threads} threads: {rate:.1f} GFLOP/s")
    best = max(rates.values())
    ceiling = best * 1e9 / flops_per_token(args.sequence)
    print(f"encoder cost: {flops_per_token(args.sequence) / 1e6:.1f} MFLOP per token at {args.sequence} tokens a text")
    print(f"ceiling: {ceiling:,.0f} tokens/s (every FLOP at the best MatMul rate)")
    if args.single_tokens_per_s:
        print(f"most speed-up batching can give over {args.single_tokens_per_s:,.0f} tokens/s one text per call: "
              f"{ceiling / args.single_tokens_per_s:.2f}x")


if __name__ == "__main__":
    main()
