#!/usr/bin/env python3
"""bench_torch.py: the standard workloads of experiments/bench/README.md in PyTorch (eager, CPU).

The PyTorch twin of `moe-bench` (experiments/bench/bench.cpp): the same models (mlp-mole,
vit-mole, mlp-mole-wide, and the byte-level GPT of lm-mole and lm-pretrain, whose cross-entropy
runs over every position and whose lm-mole row adds generation tokens/s with a KV cache), the
same batch, E, r, k, float32, and the same training step:
forward + backward + AdamW update (lr 1e-3, no weight decay, as moe-lab's default) over the
trainable parameters only (LoRA experts and routers; for vit-mole also the head), with the base
frozen. Cross-entropy over 10 classes plus 0.01 x the Switch load-balancing loss pooled over all
adapted sites (moe-lab's default for lbl = switch, like HF Mixtral's concatenation of the
layers' router logits).

Mixture-of-LoRA is written as the mixture-of-LoRA libraries do it (HF Mixtral
MixtralSparseMoeBlock, MixLoRA): per-token softmax router without bias, top-k with
renormalisation, then a loop over the experts that were hit: gather the expert's rows
(index_select), two matmuls (x A^T) B^T, multiply by the gate, scatter with index_add_ into the
base output.

Timing mirrors moe-bench: 3 warm-up steps, then --repeats timed repeats of --steps steps each,
the median time per step; samples/s = batch / that. GFLOP/step counts the matrix products
PyTorch actually performed in one profiled step (aten::mm/addmm/bmm/baddbmm/conv2d, 2 FLOP per
multiply-add); the peak is a 1024^3 torch.mm in the same process (same OpenBLAS, same threads).
Prints a table and, with --json, one JSON line per workload with moe-bench's fields (workload,
experts, k, batch, samples_per_s, ms_per_step, gflop_per_step, gflops, peak_gflops, ratio,
peak_rss_mb, threads) followed by engine, torch and blas_core.

OpenBLAS kernels: like every moe-lab binary, when OPENBLAS_CORETYPE is unset (and
MOE_BLAS_AUTO is not 0) and OpenBLAS falls back to its generic kernels for this CPU, the script
re-executes itself once with OPENBLAS_CORETYPE=SkylakeX or Haswell, so both engines run the same
GEMM kernels.

Without python3-torch it prints a message and exits 0.

  bench_torch.py [--workloads mlp-mole,vit-mole,mlp-mole-wide,lm-mole,lm-pretrain] [--repeats 5] [--steps 5]
                 [--threads N] [--experts E --k K --batch B] [--json]
"""
import argparse
import ctypes
import ctypes.util
import importlib.util
import json
import math
import os
import resource
import sys
import time

SKIP_MSG = "skipped: python3-torch is not installed (apt-get install python3-torch)"
GENERIC_CORES = {"Prescott", "Core2", "Nehalem", "unknown"}


def parse_args():
    p = argparse.ArgumentParser(description="the standard workloads (BENCHMARKS.md) in PyTorch eager on CPU")
    p.add_argument("--workloads", default="mlp-mole,vit-mole,mlp-mole-wide,lm-mole,lm-pretrain",
                   help="comma-separated workloads")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    p.add_argument("--steps", type=int, default=5, help="steps per timed repeat")
    p.add_argument("--threads", type=int, default=0, help="threads (0 = all cores, as moe-bench)")
    p.add_argument("--experts", type=int, default=0, help="override E of every workload")
    p.add_argument("--k", type=int, default=0, help="override k of every workload")
    p.add_argument("--batch", type=int, default=0, help="override the batch of every workload")
    p.add_argument("--json", action="store_true", help="also print one JSON line per workload")
    p.add_argument("--profile", action="store_true", help="print torch.profiler's op table of one step (stderr)")
    a = p.parse_args()
    if a.repeats < 1 or a.steps < 1 or a.threads < 0:
        p.error("--repeats and --steps must be >= 1, --threads >= 0")
    return a


def openblas():
    name = ctypes.util.find_library("openblas") or "libopenblas.so.0"
    try:
        lib = ctypes.CDLL(name)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib
    except (OSError, AttributeError):
        return None


def select_blas_kernels():
    """moe-lab's select_blas_kernels (apps/common/cli_common.cpp), for PyTorch's OpenBLAS."""
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("MOE_BLAS_AUTO") == "0" or os.environ.get("MOE_BLAS_REEXEC"):
        return
    lib = openblas()
    if lib is None:
        return
    core = lib.openblas_get_corename().decode()
    if core not in GENERIC_CORES:
        return
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        want = "SkylakeX"
    elif {"avx2", "fma"} <= flags:
        want = "Haswell"
    else:
        return
    os.environ["OPENBLAS_CORETYPE"] = want
    os.environ["MOE_BLAS_REEXEC"] = core
    print(f"blas: OpenBLAS chose its generic '{core}' kernels for this CPU; using OPENBLAS_CORETYPE={want}",
          file=sys.stderr)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable] + sys.argv)


def main():
    args = parse_args()
    if importlib.util.find_spec("torch") is None:
        print(SKIP_MSG)
        return 0
    select_blas_kernels()
    threads = args.threads or len(os.sched_getaffinity(0)) or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    # Debian's torch runs its own loops on OpenMP (libgomp) and its GEMMs on the pthreads OpenBLAS:
    # two thread pools. libgomp's default active wait keeps a core spinning after every parallel
    # loop, which starves OpenBLAS's threads (mlp-mole at 2 threads on this machine: 2.8x slower
    # than with PASSIVE when idle, 7-15x when other jobs run). PASSIVE unless the caller chose.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError as e:  # installed but broken
        print(f"skipped: python3-torch is installed but does not import ({e})")
        return 0
    bench = TorchBench(torch, threads)
    return bench.run(args)


# ------------------------------------------------------------------------------------------------
def TorchBench(torch, threads):
    """Builds the models once torch is importable (keeps the skip path free of torch)."""
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    blas = openblas()
    if blas is not None:
        try:
            blas.openblas_set_num_threads(threads)  # PyTorch's GEMMs run on OpenBLAS's own threads
        except AttributeError:
            pass
    blas_core = blas.openblas_get_corename().decode() if blas is not None else "unknown"

    class LoRAExpert(nn.Module):
        """One LoRA expert as in PEFT / MixLoRA: A kaiming-uniform (U(+-1/sqrt(C))), B = 0."""

        def __init__(self, c, oc, r):
            super().__init__()
            self.lora_A = nn.Parameter(torch.empty(r, c))
            self.lora_B = nn.Parameter(torch.zeros(oc, r))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

        def forward(self, x):
            return F.linear(F.linear(x, self.lora_A), self.lora_B)

    class MoLoRALinear(nn.Module):
        """Frozen base Linear + a top-k mixture of LoRA experts (HF Mixtral / MixLoRA style)."""

        def __init__(self, base, experts, rank, k, alpha):
            super().__init__()
            self.base = base
            self.E, self.k, self.scale = experts, k, alpha / rank
            self.router = nn.Linear(base.in_features, experts, bias=False)
            nn.init.normal_(self.router.weight, std=0.02)  # MixLoRA router_init_range, moe-lab init_std
            self.experts = nn.ModuleList(LoRAExpert(base.in_features, base.out_features, rank) for _ in range(experts))
            self.probs = None  # router probabilities of the last forward (for the load-balancing loss)

        def forward(self, x):
            shape = x.shape
            h = x.reshape(-1, shape[-1])
            out = self.base(h)
            probs = F.softmax(self.router(h), dim=-1)
            self.probs = probs
            w, sel = torch.topk(probs, self.k, dim=-1)
            w = w / w.sum(dim=-1, keepdim=True) * self.scale  # renormalised gates, LoRA scale folded in
            expert_mask = F.one_hot(sel, num_classes=self.E).permute(2, 1, 0)  # (E, k, N)
            hit = torch.nonzero(expert_mask.sum(dim=(1, 2)) > 0).flatten().tolist()
            for e in hit:
                slot, rows = torch.where(expert_mask[e])
                ye = self.experts[e](h.index_select(0, rows)) * w[rows, slot, None]
                out.index_add_(0, rows, ye)
            return out.reshape(*shape[:-1], out.shape[-1])

    def switch_lbl(sites):
        """Switch load-balancing loss pooled over the adapted sites: E sum_e f_e P_e, f_e the
        fraction of tokens whose most probable expert is e, P_e the mean router probability."""
        p = torch.cat([s.probs for s in sites], dim=0)
        E = p.shape[1]
        f = torch.bincount(p.argmax(dim=1), minlength=E).to(p.dtype) / p.shape[0]
        return E * torch.sum(f * p.mean(dim=0))

    class MlpMole(nn.Module):
        def __init__(self, E, r, k):
            super().__init__()
            dims = [784, 1024, 1024]
            self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(2))
            self.head = nn.Linear(1024, 10)
            self.requires_grad_(False)  # frozen base (the head too)
            self.layers = nn.ModuleList(MoLoRALinear(l, E, r, k, 2.0 * r) for l in self.layers)
            self.act = nn.GELU()

        def forward(self, x):
            for l in self.layers:
                x = self.act(l(x))
            return self.head(x)

    class Attention(nn.Module):  # timm's Attention
        def __init__(self, dim, heads):
            super().__init__()
            self.heads, self.hd = heads, dim // heads
            self.scale = self.hd ** -0.5
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, T, C = x.shape
            qkv = self.qkv(x).reshape(B, T, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0
                x = F.scaled_dot_product_attention(q, k, v)
            else:
                att = (q * self.scale) @ k.transpose(-2, -1)
                x = att.softmax(dim=-1) @ v
            return self.proj(x.transpose(1, 2).reshape(B, T, C))

    class Mlp(nn.Module):
        def __init__(self, dim, hidden):
            super().__init__()
            self.fc1 = nn.Linear(dim, hidden)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(hidden, dim)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):  # pre-LayerNorm
        def __init__(self, dim, heads, mlp_dim):
            super().__init__()
            self.ln1 = nn.LayerNorm(dim)
            self.attn = Attention(dim, heads)
            self.ln2 = nn.LayerNorm(dim)
            self.mlp = Mlp(dim, mlp_dim)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class VitMole(nn.Module):
        def __init__(self, E, r, k, patch=4, width=192, depth=6, heads=3, mlp_dim=768):
            super().__init__()
            n_patches = (28 // patch) ** 2
            self.patch_embed = nn.Conv2d(1, width, patch, stride=patch)
            self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02)
            self.pos = nn.Parameter(torch.randn(1, n_patches + 1, width) * 0.02)
            self.blocks = nn.ModuleList(Block(width, heads, mlp_dim) for _ in range(depth))
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, 10)
            self.requires_grad_(False)
            self.head.requires_grad_(True)  # the head trains
            for b in self.blocks:
                b.attn.qkv = MoLoRALinear(b.attn.qkv, E, r, k, 2.0 * r)
                b.mlp.fc1 = MoLoRALinear(b.mlp.fc1, E, r, k, 2.0 * r)
                b.mlp.fc2 = MoLoRALinear(b.mlp.fc2, E, r, k, 2.0 * r)

        def forward(self, img):
            x = self.patch_embed(img.view(-1, 1, 28, 28)).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
            for b in self.blocks:
                x = b(x)
            return self.head(self.norm(x[:, 0]))  # final LayerNorm of the CLS token

    class CausalSelfAttention(nn.Module):  # GPT-2's (llm.c / nanoGPT): fused qkv, causal mask
        def __init__(self, dim, heads, ctx):
            super().__init__()
            self.heads, self.hd = heads, dim // heads
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)
            self.register_buffer("mask", torch.ones(ctx, ctx, dtype=torch.bool).tril())

        def forward(self, x, cache=None):
            B, T, C = x.shape
            q, k, v = self.qkv(x).split(C, dim=2)
            q, k, v = (t.view(B, T, self.heads, self.hd).transpose(1, 2) for t in (q, k, v))
            if cache is not None:  # generation: the keys and values of the earlier positions
                if "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
            att = (q @ k.transpose(-2, -1)) * (self.hd ** -0.5)
            S = k.shape[2]
            att = att.masked_fill(~self.mask[S - T:S, :S], float("-inf"))
            y = att.softmax(dim=-1) @ v
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class GptBlock(nn.Module):
        def __init__(self, dim, heads, mlp_dim, ctx):
            super().__init__()
            self.ln1 = nn.LayerNorm(dim)
            self.attn = CausalSelfAttention(dim, heads, ctx)
            self.ln2 = nn.LayerNorm(dim)
            self.fc1 = nn.Linear(dim, mlp_dim)
            self.fc2 = nn.Linear(mlp_dim, dim)

        def forward(self, x, cache=None):
            x = x + self.attn(self.ln1(x), cache)
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class Gpt(nn.Module):
        """The LM workloads' byte-level GPT: V 257, T 256, width 384, depth 6, 6 heads, MLP 1536,
        learned positions, pre-LayerNorm, final LayerNorm, head tied to the token embedding."""

        def __init__(self, E, r, k, adapt=True, V=257, ctx=256, width=384, depth=6, heads=6, mlp_dim=1536):
            super().__init__()
            self.wte = nn.Embedding(V, width)
            self.wpe = nn.Embedding(ctx, width)
            self.blocks = nn.ModuleList(GptBlock(width, heads, mlp_dim, ctx) for _ in range(depth))
            self.norm = nn.LayerNorm(width)
            if adapt:
                self.requires_grad_(False)
                for b in self.blocks:
                    b.attn.qkv = MoLoRALinear(b.attn.qkv, E, r, k, 2.0 * r)
                    b.fc1 = MoLoRALinear(b.fc1, E, r, k, 2.0 * r)
                    b.fc2 = MoLoRALinear(b.fc2, E, r, k, 2.0 * r)

        def forward(self, tok, caches=None, start=0):
            T = tok.shape[1]
            x = self.wte(tok) + self.wpe(torch.arange(start, start + T))
            for i, b in enumerate(self.blocks):
                x = b(x, None if caches is None else caches[i])
            return F.linear(self.norm(x), self.wte.weight)

    def GptMole(E, r, k):
        return Gpt(E, r, k, adapt=True)

    def GptPretrain(E, r, k):
        return Gpt(E, r, k, adapt=False)

    WORKLOADS = {  # name: (model, E, batch)
        "mlp-mole": (MlpMole, 8, 512),
        "vit-mole": (VitMole, 8, 64),
        "mlp-mole-wide": (MlpMole, 64, 512),
        "lm-mole": (GptMole, 8, 8),
        "lm-pretrain": (GptPretrain, 0, 8),
    }
    LM = {"lm-mole", "lm-pretrain"}
    profile_table = False
    MM_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::conv2d"}

    class Bench:
        def run_workload(self, name, E, k, batch, repeats, steps):
            cls, e0, b0 = WORKLOADS[name]
            E, B, r = E or e0, batch or b0, 16
            torch.manual_seed(5)
            model = cls(E, r, k)
            sites = [m for m in model.modules() if isinstance(m, MoLoRALinear)]
            params = [p for p in model.parameters() if p.requires_grad]
            if name == "lm-pretrain":  # weight decay 0.1 on the matrices and embeddings only
                decay = [p for p in params if p.dim() >= 2]
                rest = [p for p in params if p.dim() < 2]
                opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                        lr=1e-3, foreach=True)
            else:
                opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0, foreach=True)
            if name in LM:  # random tokens over the 257 ids, next-token targets
                seq = torch.randint(0, 257, (B * 256 + 1,))
                x = seq[:-1].view(B, 256)
                y = seq[1:].reshape(-1)
            else:
                x = torch.randn(B, 784)
                y = torch.randint(0, 10, (B,))

            def one_step():
                logits = model(x)
                if name in LM:
                    logits = logits.view(-1, logits.shape[-1])
                loss = F.cross_entropy(logits, y)
                if sites:
                    loss = loss + 0.01 * switch_lbl(sites)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            for _ in range(3):  # warm-up
                one_step()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(steps):
                    one_step()
                times.append((time.perf_counter() - t0) / steps)
            t = sorted(times)[len(times) // 2]  # the median as moe-bench takes it (times[size / 2])
            gen = self.generation_speed(model, repeats) if name == "lm-mole" else None
            return E, B, t, self.matmul_flops(one_step, name if profile_table else None), gen

        def generation_speed(self, model, repeats):
            """moe-bench's generation figure: greedy, batch 1, a 16-token prompt, up to the context
            (240 new tokens), with a KV cache; one warm-up, the median tokens/s of the repeats."""
            prompt = torch.tensor([[256] + list(b"int main(void) ")])

            @torch.no_grad()
            def gen():
                caches = [dict() for _ in model.blocks]
                logits = model(prompt, caches, 0)
                pos, out = prompt.shape[1], []
                while pos < 256:
                    t = int(logits[0, -1].argmax())
                    out.append(t)
                    logits = model(torch.tensor([[t]]), caches, pos)
                    pos += 1
                return len(out)

            gen()
            rates = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                n = gen()
                rates.append(n / (time.perf_counter() - t0))
            return sorted(rates)[len(rates) // 2], n

        def matmul_flops(self, one_step, table_for=None):
            """FLOP of the matrix products one step performs (profiled, outside the timing)."""
            try:
                from torch.profiler import ProfilerActivity, profile
                with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
                    one_step()
                if table_for:
                    print(f"== {table_for}: one step\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25),
                          file=sys.stderr)
                return float(sum(e.flops or 0 for e in prof.events() if e.name in MM_OPS))
            except Exception as e:  # the profiler is optional for the timing
                print(f"warning: FLOP count unavailable ({e})", file=sys.stderr)
                return float("nan")

        def peak_gflops(self):
            n = 1024
            a = torch.full((n, n), 0.5)
            b = torch.full((n, n), 0.25)
            c = torch.empty(n, n)
            torch.mm(a, b, out=c)
            ts = []
            for _ in range(7):
                t0 = time.perf_counter()
                torch.mm(a, b, out=c)
                ts.append(time.perf_counter() - t0)
            return 2.0 * n ** 3 / sorted(ts)[len(ts) // 2] / 1e9

        def run(self, args):
            nonlocal profile_table
            profile_table = args.profile
            names = [w for w in args.workloads.split(",") if w]
            for w in names:
                if w not in WORKLOADS:
                    print(f"error: unknown workload '{w}' ({', '.join(WORKLOADS)})", file=sys.stderr)
                    return 2
            k = args.k or 2
            peak = before = self.peak_gflops()
            print(f"PyTorch {torch.__version__} (eager, CPU), OpenBLAS {blas_core} kernels, "
                  f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}")
            print(f"GEMM peak (1024^3 torch.mm, {threads} threads): {peak:.1f} GFLOP/s; re-measured after every "
                  "workload, each row against the better of the two around it")
            print("| workload | E | k | batch | samples/s | tokens/s | ms/step | GFLOP/step | GFLOP/s | of peak | peak RSS MB |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            sys.stdout.flush()
            lines = []
            for name in names:
                E, B, t, flops, gen = self.run_workload(name, args.experts, k, args.batch, args.repeats, args.steps)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
                after = self.peak_gflops()  # the host's speed drifts: the better of the peaks around the row
                peak, before = max(before, after), after
                gflops = flops / t / 1e9
                lm = name in LM
                tok_s = B * 256 / t if lm else 0.0
                print(f"| {name} | {E} | {k if E else 0} | {B} | {B / t:.{2 if lm else 0}f} | "
                      f"{f'{tok_s:.0f}' if lm else '-'} | {1000 * t:.2f} | {flops / 1e9:.3f} | {gflops:.1f} | "
                      f"{100 * gflops / peak:.1f}% | {rss:.0f} |")
                if gen:
                    print(f"{name}: generation with a KV cache, batch 1, greedy, {gen[1]} tokens after a 16-token "
                          f"prompt: {gen[0]:.1f} tokens/s")
                sys.stdout.flush()
                lines.append(json.dumps({
                    "workload": name, "experts": E, "k": k, "batch": B,
                    "samples_per_s": round(B / t, 2), "ms_per_step": round(1000 * t, 4),
                    "gflop_per_step": round(flops / 1e9, 5), "gflops": round(gflops, 3),
                    "peak_gflops": round(peak, 3), "ratio": round(gflops / peak, 4),
                    "peak_rss_mb": round(rss, 1), "threads": threads, "tokens_per_s": round(tok_s, 1),
                    "gen_tokens_per_s": round(gen[0], 2) if gen else 0.0, "gen_tokens": gen[1] if gen else 0,
                    "engine": "pytorch", "torch": torch.__version__, "blas_core": blas_core,
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                }, separators=(",", ":")))
            if args.json:
                for l in lines:
                    print(l)
            return 0

    return Bench()


if __name__ == "__main__":
    sys.exit(main())
