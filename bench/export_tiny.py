#!/usr/bin/env python3
"""Exports small versions of the benchmark's transformer models to ONNX with the same exporter
settings as bench_models.py (opset 17, dynamo=False, eager attention), so that the graph
patterns the optimizer must match can be studied and tested without a GPU or PyTorch:

  python3 bench/export_tiny.py OUTDIR

writes tiny_vit.onnx (torchvision VisionTransformer: 2 layers, 2 heads, hidden 64, image 32,
patch 16) and tiny_bert.onnx (BertModel: 2 layers, 2 heads, hidden 64, sequence 16), each
with an .npz of inputs and PyTorch float32 outputs."""
import os
import sys

import numpy as np
import torch


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)
    import torchvision

    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=2,
                                               num_heads=2, hidden_dim=64, mlp_dim=128,
                                               num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.onnx.export(vit, (x,), f"{out}/tiny_vit.onnx", dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          do_constant_folding=True)
        np.savez(f"{out}/tiny_vit.npz", input=x.numpy(), output=vit(x).numpy())
    import transformers

    try:
        cfg = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=128, attn_implementation="eager")
    except TypeError:
        cfg = transformers.BertConfig(hidden_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=128)
    bert = transformers.BertModel(cfg, add_pooling_layer=False).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          return_dict=True).last_hidden_state

    m = LastHidden(bert).eval()
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 10:] = 0
    with torch.no_grad():
        torch.onnx.export(m, (ids, mask), f"{out}/tiny_bert.onnx", dynamo=False,
                          opset_version=17, input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], do_constant_folding=True)
        np.savez(f"{out}/tiny_bert.npz", input_ids=ids.numpy(), attention_mask=mask.numpy(),
                 last_hidden_state=m(ids, mask).numpy())
    print("exported", sorted(os.listdir(out)))


if __name__ == "__main__":
    main()
