#!/usr/bin/env python3
"""Export the PyTorch mirror of COVID-Net (docs/performance.md) to ONNX, for the ONNX Runtime anchor
of `covidnet bench --anchor onnxruntime`. The file is written where --out says (the bench uses a
temporary folder); nothing generated belongs in the repository.

    /usr/bin/python3 scripts/export-onnx.py --anchor ../shared/anchors/pytorch_covidnet.py \
        --model single --size 112 --width 32 --fc 256 --out /tmp/covidnet.onnx

Needs PyTorch (Debian: apt-get install python3-torch); the `onnx` package is not needed.
"""
import argparse
import importlib.util

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor", required=True, help="path of the PyTorch mirror (pytorch_covidnet.py)")
    ap.add_argument("--model", choices=["single", "siamese"], default="single")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--fc", type=int, default=1024)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("pytorch_covidnet", a.anchor)
    mirror = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mirror)
    torch.manual_seed(0)
    kw = dict(width=a.width, fc=a.fc, size=a.size)
    net = (mirror.Single if a.model == "single" else mirror.Siamese)(**kw).eval()
    names = ["image"] if a.model == "single" else ["image_a", "image_b"]
    example = tuple(torch.randn(2, 1, a.size, a.size) for _ in names)
    axes = {n: {0: "batch"} for n in names + ["out"]}
    with torch.no_grad():
        torch.onnx.export(net, example, a.out, input_names=names, output_names=["out"], dynamic_axes=axes, opset_version=13)
    print(a.out)


if __name__ == "__main__":
    main()
