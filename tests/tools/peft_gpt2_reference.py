#!/usr/bin/env python3
"""GPT-2 logits with LoRA adapters applied by hand, from files alone: a Hugging Face checkpoint
directory (config.json + model.safetensors) and what `moe-eval export` wrote (one PEFT adapter,
or one per expert plus router.safetensors and moe_lab_mixture.json).

The forward is transformers' GPT2LMHeadModel in eager mode (modeling_gpt2.py: LayerNorm, Conv1D
x @ W + b, causal softmax attention, gelu_new, tied head); an adapted module adds PEFT's LoRA
term (peft/tuners/lora/layer.py: lora_B(lora_A(x)) * scaling, scaling = alpha / r, or
alpha / sqrt(r) with use_rslora). A mixture weighs the experts' terms by its router: softmax
over the router's logits x @ W_r^T, the top k, renormalised (routing "topk"), or all of them
("soft"). Only torch and the standard library are used (no transformers, no peft).

    peft_gpt2_reference.py CHECKPOINT_DIR EXPORT_DIR TOKEN_IDS... -> prints JSON (EXPORT_DIR "-": none)
      {"logits": [[...], ...] (T, V), "experts": {module: [[e, ...], ...]}}
"""
import json
import math
import os
import struct
import sys

import torch


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        lo, hi = v["data_offsets"]
        raw = bytearray(b[8 + n + lo: 8 + n + hi])
        if v["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif v["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.bfloat16).to(torch.float32)
        elif v["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).to(torch.float32)
        else:
            raise ValueError(f"{path}: {k}: dtype {v['dtype']}")
        out[k] = t.reshape(v["shape"]).clone()
    return out


def load_adapter(d):
    cfg = json.load(open(os.path.join(d, "adapter_config.json")))
    assert cfg["peft_type"] == "LORA", cfg
    r, alpha = cfg["r"], cfg["lora_alpha"]
    scaling = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    w = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
    mods = {}
    for k, t in w.items():
        assert k.startswith("base_model.model."), k
        k = k[len("base_model.model."):]
        for part in ("lora_A", "lora_B"):
            suffix = "." + part + ".weight"
            if k.endswith(suffix):
                mods.setdefault(k[: -len(suffix)], {})[part] = t
    for m, ab in mods.items():
        assert ab["lora_A"].shape[0] == r and ab["lora_B"].shape[1] == r, (m, r)
    return {"scaling": scaling, "modules": mods, "targets": cfg["target_modules"]}


class Adapters:
    def __init__(self, export_dir):
        self.trace = {}
        if export_dir == "-":  # the checkpoint alone
            self.experts, self.mixture = [], None
            return
        mix = os.path.join(export_dir, "moe_lab_mixture.json")
        if not os.path.exists(mix):  # one plain PEFT adapter
            self.experts = [load_adapter(export_dir)]
            self.mixture = None
            return
        self.mixture = json.load(open(mix))
        self.experts = [load_adapter(os.path.join(export_dir, e)) for e in self.mixture["expert_dirs"]]
        self.routers = read_safetensors(os.path.join(export_dir, self.mixture["router_tensors"]))
        self.router_of = {s["module"]: s["router"] for s in self.mixture["sites"]}

    def delta(self, module, x):
        """x (T, in) -> the adapters' term (T, out), or None for a module without adapters"""
        terms = [None if module not in e["modules"] else
                 (x @ e["modules"][module]["lora_A"].T) @ e["modules"][module]["lora_B"].T * e["scaling"]
                 for e in self.experts]
        if not terms or all(t is None for t in terms):
            return None
        if self.mixture is None:
            return terms[0]
        E = len(self.experts)
        rt = self.mixture["routing"]
        w = self.routers[self.router_of[module]["weight"]]
        p = torch.softmax(x @ w.T, dim=-1)  # (T, E)
        if rt["router"] == "soft":
            gates, idx = p, torch.arange(E).expand(x.shape[0], E)
        elif rt["router"] == "topk":
            gates, idx = torch.topk(p, rt["k"], dim=-1)
            if rt["renormalize"]:
                gates = gates / gates.sum(-1, keepdim=True)
        else:
            raise ValueError("router " + rt["router"] + " is not reproduced here")
        self.trace[module] = idx.tolist()
        out = torch.zeros(x.shape[0], terms[next(i for i, t in enumerate(terms) if t is not None)].shape[1])
        for j in range(idx.shape[1]):
            for e in range(E):
                if terms[e] is None:
                    continue
                sel = (idx[:, j] == e).to(x.dtype) * gates[:, j]
                out += sel[:, None] * terms[e]
        return out


def gpt2_logits(ckpt, ids, ad):
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: v
         for k, v in read_safetensors(os.path.join(ckpt, "model.safetensors")).items()}
    C, H, L, eps = cfg["n_embd"], cfg["n_head"], cfg["n_layer"], cfg.get("layer_norm_epsilon", 1e-5)
    T = len(ids)
    ids_t = torch.tensor(ids)
    x = w["wte.weight"][ids_t] + w["wpe.weight"][:T]

    def conv1d(name, h):  # transformers' Conv1D: x @ W + b, W stored (in, out); PEFT's LoRA beside it
        y = h @ w[name + ".weight"] + w[name + ".bias"]
        d = ad.delta("transformer." + name, h)
        return y if d is None else y + d

    def ln(name, h):
        return torch.nn.functional.layer_norm(h, (C,), w[name + ".weight"], w[name + ".bias"], eps)

    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        p = f"h.{l}."
        qkv = conv1d(p + "attn.c_attn", ln(p + "ln_1", x))
        q, k, v = qkv.split(C, dim=-1)
        hd = C // H
        q, k, v = (t.reshape(T, H, hd).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + conv1d(p + "attn.c_proj", y)
        m = torch.nn.functional.gelu(conv1d(p + "mlp.c_fc", ln(p + "ln_2", x)), approximate="tanh")
        x = x + conv1d(p + "mlp.c_proj", m)
    x = ln("ln_f", x)
    return x @ w["wte.weight"].T


def main():
    ckpt, export_dir = sys.argv[1], sys.argv[2]
    ids = [int(t) for t in sys.argv[3:]]
    ad = Adapters(export_dir)
    with torch.no_grad():
        z = gpt2_logits(ckpt, ids, ad)
    json.dump({"logits": z.tolist(), "experts": ad.trace}, sys.stdout)


if __name__ == "__main__":
    main()
