# Pure-Python golden values from the formulas of the reference implementations the method pages
# cite (docs/methods/): HF Mixtral and Switch, Megatron-LM, MoE-PEFT (MixLoRA, DynMoLE), DeepSeek-V3,
# expert choice, PEFT Poly, AdaMoE. Not a port of any repository: written from the formulas so the
# known-answer tests (tests/unit/test_routing_golden.cpp, test_parts.cpp) have fixed numbers.
#   /usr/bin/python3 tests/tools/golden_routing.py
import math

def softmax(v):
    m = max(v); e = [math.exp(x - m) for x in v]; s = sum(e); return [x / s for x in e]

def topk_idx(v, k):
    # ties -> lower index first (torch.topk tie order is not guaranteed; avoid ties in tests)
    return sorted(range(len(v)), key=lambda i: (-v[i], i))[:k]

def logsumexp(v):
    m = max(v); return m + math.log(sum(math.exp(x - m) for x in v))

LOGITS = [  # T=4 tokens, E=4 experts (one layer)
    [2.0, 1.0, 0.5, -1.0],
    [0.1, 0.3, 2.2, 0.0],
    [1.5, 1.4, -0.3, 0.2],
    [-0.5, 0.0, 0.4, 1.8],
]
T, E, K = len(LOGITS), len(LOGITS[0]), 2
P = [softmax(r) for r in LOGITS]

print("== Mixtral top-k (softmax -> topk -> renormalize), k=2")
for t in range(T):
    idx = topk_idx(P[t], K); s = sum(P[t][i] for i in idx)
    print(t, idx, [round(P[t][i] / s, 6) for i in idx])

# HF Mixtral load_balancing_loss_func (no mask): tokens_per_expert has shape [k, E]
tpe = [[0.0] * E for _ in range(K)]
for t in range(T):
    for slot, i in enumerate(topk_idx(P[t], K)):
        tpe[slot][i] += 1.0 / T
Pbar = [sum(P[t][i] for t in range(T)) / T for i in range(E)]
mixtral = E * sum(tpe[s][i] * Pbar[i] for s in range(K) for i in range(E))
print("HF Mixtral LBL (min = k when balanced):", round(mixtral, 6))

# Megatron switch_load_balancing_loss_func: f normalized by topk -> min 1
counts = [sum(1 for t in range(T) if i in topk_idx(P[t], K)) for i in range(E)]
megatron = E * sum((counts[i] / (K * T)) * Pbar[i] for i in range(E))
print("Megatron LBL (coeff=1, f/=k, min = 1):", round(megatron, 6))

# HF SwitchTransformers load_balancing_loss_func, top-1, one group
f1 = [sum(1 for t in range(T) if topk_idx(P[t], 1)[0] == i) / T for i in range(E)]
switch = sum(f1[i] * Pbar[i] for i in range(E)) / E * E ** 2
print("Switch LBL top-1 (min = 1):", round(switch, 6))

z = sum(logsumexp(r) ** 2 for r in LOGITS) / T
print("router z-loss (mean over tokens of logsumexp^2):", round(z, 6))

print("== DynMoLE (moe_peft/adapters/dynmole/model.py semantics, q=1.1, eps=1e-5, thr=0.9, top_p=0.75, keep_top_k=2)")
def tsallis_norm(p, q, eps=1e-5):
    n = len(p); pe = [x + eps for x in p]
    if q == 1.0:
        h = -sum(x * math.log(x) for x in pe); hmax = math.log(n)
    else:
        h = (1 - sum(x ** q for x in pe)) / (q - 1); hmax = (1 - n ** (1 - q)) / (q - 1)
    return h / hmax
def dynmole_route(p, thr=0.9, q=1.1, top_p=0.75, keep=2):
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))
    cum, mask = 0.0, [0.0] * len(p)
    for rank, i in enumerate(order):
        cum += p[i]
        if cum <= top_p or rank < keep:
            mask[i] = 1.0
    h = tsallis_norm(p, q)
    if h > thr:
        mask = [1.0] * len(p)
    return h, [p[i] * mask[i] for i in range(len(p))]   # NOT renormalized
W = []
for t in range(T):
    h, w = dynmole_route(P[t]); W.append(w)
    print(t, "H_q=", round(h, 6), "w=", [round(x, 6) for x in w])
# uniform distribution must give normalized entropy ~1
print("H_q(uniform,E=4) =", round(tsallis_norm([0.25] * 4, 1.1), 6))
ent = sum(dynmole_route(P[t])[0] for t in range(T)) / T
tok = [sum(W[t][i] for t in range(T)) / T for i in range(E)]
lb = E * sum(tok[i] * Pbar[i] for i in range(E))
print("DynMoLE router loss = 0.01*mean(H_q) + 0.001*LB =", round(0.01 * ent + 0.001 * lb, 8),
      "(mean H_q =", round(ent, 6), ", LB =", round(lb, 6), ")")

print("== DeepSeek-V3 aux-loss-free (sigmoid scores, bias only for selection), k=2, u=0.001")
S = [[1 / (1 + math.exp(-x)) for x in r] for r in LOGITS]
bias = [0.0, 0.0, 0.3, 0.0]
load = [0] * E
for t in range(T):
    idx = topk_idx([S[t][i] + bias[i] for i in range(E)], K)
    g = [S[t][i] for i in idx]; s = sum(g)
    for i in idx: load[i] += 1
    print(t, idx, [round(x / s, 6) for x in g], "(route_scale applied afterwards, 2.5 in V3 config)")
mean_load = sum(load) / E
new_bias = [bias[i] + 0.001 * ((mean_load - load[i] > 0) - (mean_load - load[i] < 0)) for i in range(E)]
print("load", load, "-> new bias", [round(b, 6) for b in new_bias])

print("== Expert choice (Zhou et al. 2022), capacity factor c=2 -> k = T*c/E")
kcap = T * 2 // E
for i in range(E):
    col = [P[t][i] for t in range(T)]
    idx = topk_idx(col, kcap)
    print("expert", i, "takes tokens", idx, "gates", [round(col[t], 6) for t in idx])

print("== PEFT Poly eval-mode mixing weights (sigmoid, normalize, EPS=1e-12), 1 split, 3 skills")
ml = [0.2, -0.4, 1.0]
sg = [1 / (1 + math.exp(-x)) for x in ml]; s = sum(sg) + 1e-12
print([round(x / s, 6) for x in sg])

print("== AdaMoE (4 true + 4 null experts, softmax over 8, top-4; true weights renormalized, null outputs 0)")
al = [1.0, 0.2, -0.5, 0.1, 0.9, 0.8, 0.85, -2.0]
ap = softmax(al); idx = topk_idx(ap, 4)
true_idx = [i for i in idx if i < 4]; s = sum(ap[i] for i in true_idx) or 1.0
print("selected", idx, "true weights", {i: round(ap[i] / s, 6) for i in true_idx})
