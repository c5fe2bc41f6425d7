"""The PyTorch half of torchexport's round-trip test (driven by torch_test.go).

    torch_roundtrip.py build DIR            small PyTorch models, exported with this PyTorch's own
                                            ONNX exporter: DIR/NAME/{model.onnx, model.pt, calib.npy, test.npy}
    torch_roundtrip.py check MODELDIR EXPORTDIR NAME ACTSWAP_OUT.npy
                                            swap the exported activations into the PyTorch model, compare its
                                            outputs with actswap's, check gradients against finite differences
                                            and fine-tune against the original; prints one JSON line
    torch_roundtrip.py reference CASES.json MODULEDIR
                                            evaluate the modules on cases whose values actswap computed in
                                            float64 (onnxops), edge values included; prints one JSON line
    torch_roundtrip.py refuse MODELDIR EXPORTDIR
                                            swap into a model whose activations are functional calls or a reused
                                            module: swap must refuse, name each site and change nothing
"""

import copy
import importlib.util
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x))


class MLPGelu(nn.Module):
    """Scopes /blocks.0/act/Mul_1: a ModuleList that is never called itself."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(16, 32), Block(32, 32)])
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTGelu(nn.Module):
    """A tiny ViT on 1x16x16 images: 4x4 patches, 2 pre-norm blocks; scopes /blocks.0/mlp/act/Mul_1."""

    def __init__(self, dim=32):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, 4, stride=4)
        self.pos = nn.Parameter(torch.randn(1, 16, dim) * 0.1)
        self.blocks = nn.ModuleList([EncoderBlock(dim, 2, 64) for _ in range(2)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x).mean(dim=1))


class CNNRelu(nn.Module):
    """Conv-BN-ReLU in Sequentials inside a Sequential: scopes /stages/stages.0/stages.0.2/Relu."""

    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
            nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU()),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.stages(x).mean(dim=(2, 3)))


class LinearGelu(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return F.gelu(self.fc(x))


class Functional(nn.Module):
    """Activations swap cannot place: F.gelu inside a block's forward, F.relu in the top-level
    forward, and one nn.ReLU module called twice."""

    def __init__(self):
        super().__init__()
        self.block = LinearGelu(8)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.block(x)
        x = self.relu(self.relu(x) - 0.5)
        return F.relu(x - 0.25)


MODELS = {
    "mlp_gelu": (MLPGelu, (16,)),
    "vit_gelu": (ViTGelu, (1, 16, 16)),
    "cnn_relu": (CNNRelu, (3, 16, 16)),
    "functional": (Functional, (8,)),
}


def build(directory):
    for i, (name, (cls, shape)) in enumerate(MODELS.items()):
        torch.manual_seed(1000 + i)
        model = cls().eval()
        if name == "cnn_relu":  # BN statistics that are not the identity
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
        out = os.path.join(directory, name)
        os.makedirs(out, exist_ok=True)
        gen = torch.Generator().manual_seed(2000 + i)
        calib = torch.randn((256,) + shape, generator=gen)
        test = torch.randn((64,) + shape, generator=gen)
        np.save(os.path.join(out, "calib.npy"), calib.numpy())
        np.save(os.path.join(out, "test.npy"), test.numpy())
        torch.save(model.state_dict(), os.path.join(out, "model.pt"))
        torch.onnx.export(model, calib[:2], os.path.join(out, "model.onnx"), opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})


def load_model(model_dir, name):
    model = MODELS[name][0]()
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pt")))
    return model.eval()


def import_export(export_dir):
    """The exported actswap_torch module of export_dir, imported under a name of its own."""
    path = os.path.join(export_dir, "actswap_torch.py")
    spec = importlib.util.spec_from_file_location("actswap_torch_" + str(abs(hash(export_dir))), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def away_from_kinks(x, kinks, margin=1e-3):
    """x with every value within margin of a kink moved off it, so finite differences do not straddle one."""
    for k in kinks:
        near = (x - k).abs() < margin
        x = torch.where(near, x + 4 * margin, x)
    return x


def gradcheck_module(mod, act, channels_shape):
    """Gradients of one swapped module, in float64, against central finite differences, with
    respect to its input and every parameter."""
    act = copy.deepcopy(act).double()
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(channels_shape, generator=gen, dtype=torch.float64) * 3
    kinks = [0.0]
    if isinstance(act, mod.PWLU):
        b = act.bounds.detach()
        n = act.heights.shape[-1] - 1
        kinks = [float(v) for v in (b[..., :1] + (b[..., 1:] - b[..., :1]) * torch.arange(n + 1) / n).flatten()]
    if isinstance(act, mod.Zorro):
        p = act.params.detach().reshape(-1, 8)
        # z = in_scale*x + in_shift is 0 or 1 at a kink of clip
        kinks = [float(v) for v in torch.cat([(-p[:, 5]) / p[:, 4], (1 - p[:, 5]) / p[:, 4]])] + [0.0]
    x = away_from_kinks(x, kinks).requires_grad_(True)
    names = [n for n, _ in act.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in act.named_parameters()]

    def f(x, *ps):
        return torch.nn.utils.stateless.functional_call(act, dict(zip(names, ps)), (x,))

    return bool(torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-3))


def check(model_dir, export_dir, name, actswap_out):
    mod = import_export(export_dir)
    model = load_model(model_dir, name)
    teacher = copy.deepcopy(model)
    swapped = mod.swap(model)
    x = torch.from_numpy(np.load(os.path.join(model_dir, "test.npy")))
    want = torch.from_numpy(np.load(actswap_out)).double()
    with torch.no_grad():
        got = model(x).double()
    err = ((got - want).abs() / want.abs().clamp(min=1)).max().item()
    nan = bool(torch.isnan(got).any() or torch.isnan(want).any())

    # Gradients of every swapped module, on a small input of the rank its site sees (the full
    # channel count where it is per channel): gradcheck differentiates every element.
    ranks = {}

    def record(path):
        def hook(module, inputs, output):
            ranks.setdefault(path, inputs[0].dim())
        return hook
    acts = {p: m for p, m in model.named_modules() if isinstance(m, (mod.Zorro, mod.PWLU, mod.CRReLU))}
    hooks = [m.register_forward_hook(record(p)) for p, m in acts.items()]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    grads = {}
    for p, act in sorted(acts.items()):
        shape = [1] * ranks[p]
        shape[-1] = 5
        shape[act.axis] = act.channels if act.channels > 1 else 3
        grads[p] = gradcheck_module(mod, act, tuple(shape))

    # A short distillation: the swapped model learns to follow the original on the calibration rows.
    calib = torch.from_numpy(np.load(os.path.join(model_dir, "calib.npy")))
    with torch.no_grad():
        target = teacher(calib)
    # Only the new activations learn, as in a first fine-tuning phase.
    opt = torch.optim.Adam([q for m in acts.values() for q in m.parameters()], lr=1e-4)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(model(calib), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = F.mse_loss(model(calib), target).item()
    kinds = sorted({type(model.get_submodule(p)).__name__ for p in swapped.values()})
    print(json.dumps({"sites": len(swapped), "modules": kinds, "max_err": err, "nan": nan,
                      "gradcheck": grads, "loss_before": losses[0], "loss_after": final}))


def reference(cases_path, module_dir):
    """Each case: a module's parameters, inputs x [rows, C] and actswap's float64 outputs. The
    module runs in float64 (agreement to rounding) and float32 (OPS.md's bound 1e-5*max(1,|y|)),
    NaN where actswap gives NaN, the same infinities; and its gradients are finite wherever x is."""
    mod = import_export(module_dir)
    with open(cases_path) as f:
        cases = json.load(f)
    out = []
    for case in cases:
        def tensor(v):
            return torch.tensor([float(e) for e in v["data"]], dtype=torch.float64).reshape(v["shape"])
        params = {name: tensor(v) for name, v in case["params"].items()}
        site = {"site": case["name"], "family": case["family"], "axis": 1, "gate": case.get("gate", False),
                "params": {name: name for name in params}}
        x, want = tensor(case["x"]), tensor(case["y"])
        worst = {}
        for dtype, name in ((torch.float64, "f64"), (torch.float32, "f32")):
            act = mod.build_module(site, params).to(dtype)
            with torch.no_grad():
                got = act(x.to(dtype)).double()
            same_nan = bool((torch.isnan(got) == torch.isnan(want)).all())
            inf = torch.isinf(want)
            same_inf = bool((got[inf] == want[inf]).all()) and not bool(torch.isinf(got[~inf]).any())
            fin = torch.isfinite(want) & torch.isfinite(got)
            err = ((got[fin] - want[fin]).abs() / want[fin].abs().clamp(min=1)).max().item() if fin.any() else 0.0
            worst[name] = err
            worst[name + "_special"] = same_nan and same_inf
        act = mod.build_module(site, params).double()
        xg = x[torch.isfinite(x).all(dim=1)].clone().requires_grad_(True)
        act(xg).sum().backward()
        grads_finite = bool(torch.isfinite(xg.grad).all()) and all(
            bool(torch.isfinite(p.grad).all()) for p in act.parameters())
        out.append({"name": case["name"], "f64": worst["f64"], "f32": worst["f32"], "grads_finite": grads_finite,
                    "special_values": worst["f64_special"] and worst["f32_special"]})
    print(json.dumps(out))


def refuse(model_dir, export_dir):
    mod = import_export(export_dir)
    model = load_model(model_dir, "functional")
    before = copy.deepcopy(model.state_dict())
    modules_before = [type(m).__name__ for m in model.modules()]
    try:
        mod.swap(model)
    except mod.SwapError as e:
        unchanged = [type(m).__name__ for m in model.modules()] == modules_before and all(
            torch.equal(before[k], v) for k, v in model.state_dict().items())
        print(json.dumps({"refused": True, "message": str(e), "unchanged": unchanged}))
        return
    print(json.dumps({"refused": False}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    torch.set_num_threads(1)
    if cmd == "build":
        build(sys.argv[2])
    elif cmd == "check":
        check(*sys.argv[2:6])
    elif cmd == "reference":
        reference(*sys.argv[2:4])
    elif cmd == "refuse":
        refuse(*sys.argv[2:4])
    else:
        sys.exit(f"unknown command {cmd!r}")
