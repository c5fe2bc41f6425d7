"""PyTorch modules for the ai.actswap activations, written by `actswap export-torch`.

Zorro, PWLU and CRReLU follow the contract of actswap's docs/OPS.md exactly, with trainable
parameters of the same shapes as the ONNX parameter inputs: one set for the whole tensor, or a
leading dimension C (> 1) applying per channel along `axis`. Forward and backward are written to
stay finite where the formulas would meet inf*0 or overflow (the Zorro humps never form
k = 1 + e^(ab), which overflows float32 once a*b > 88.7).

Next to this file an export holds `params.safetensors` (the calibrated parameters, keyed by
site) and `sites.json` (each site's family, parameters and the PyTorch module path that produced
it). Typical use, to fine-tune after a post-training swap:

    import actswap_torch
    swapped = actswap_torch.swap(model)      # model: the torch.nn.Module that was exported to ONNX
    # ... fine-tune model; the new activations' parameters are ordinary nn.Parameters

Only the Python standard library and torch are needed.
"""

import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Zorro", "PWLU", "CRReLU", "SwapError", "load_safetensors", "load_sites", "swap"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def _channel_shape(p, x, axis, what):
    """Reshape a per-channel parameter column p [C] so it broadcasts along x's axis."""
    ax = axis % x.dim() if x.dim() else 0
    if x.dim() == 0 or x.shape[ax] != p.shape[0]:
        raise ValueError(
            f"{what}: {p.shape[0]} channels, but the input has shape {tuple(x.shape)} "
            f"(axis {axis})")
    return p.reshape([-1] + [1] * (x.dim() - ax - 1))


class _Activation(nn.Module):
    def __init__(self, axis):
        super().__init__()
        self.axis = int(axis)

    def _column(self, p, k, x):
        """Column k of a [width] or [C, width] parameter, shaped to broadcast against x."""
        if p.dim() == 1:
            return p[k]
        return _channel_shape(p[:, k], x, self.axis, type(self).__name__)

    def extra_repr(self):
        return f"axis={self.axis}, channels={self.channels}"


class CRReLU(_Activation):
    """Y = max(X, 0) + epsilon * X * exp(-X^2/2); the correction is 0 where |X| > 40.

    epsilon: shape [] or [1] (whole tensor) or [C] (per channel along axis).
    """

    def __init__(self, epsilon, axis=1):
        super().__init__(axis)
        eps = torch.as_tensor(epsilon, dtype=torch.float32).detach().clone()
        if eps.dim() > 1 or (eps.dim() == 1 and eps.numel() == 0):
            raise ValueError(f"CRReLU: epsilon has shape {tuple(eps.shape)}, want [], [1] or [C]")
        if eps.dim() == 1 and eps.numel() == 1:
            eps = eps.reshape(())
        self.epsilon = nn.Parameter(eps)

    @property
    def channels(self):
        return 1 if self.epsilon.dim() == 0 else self.epsilon.shape[0]

    def forward(self, x):
        eps = self.epsilon if self.epsilon.dim() == 0 else _channel_shape(self.epsilon, x, self.axis, "CRReLU")
        near = x.abs() <= 40  # False for NaN, which then flows through relu
        xs = torch.where(near, x, torch.zeros_like(x))
        return torch.relu(x) + eps * xs * torch.exp(-0.5 * xs * xs)


class PWLU(_Activation):
    """Piecewise linear unit: N uniform intervals on [B_L, B_R] with knot heights Y_0..Y_N and
    slopes K_L, K_R outside the bounds.

    bounds [2] or [C, 2]; heights [N+1] or [C, N+1]; slopes [2] or [C, 2].
    """

    def __init__(self, bounds, heights, slopes, axis=1):
        super().__init__(axis)
        b = torch.as_tensor(bounds, dtype=torch.float32).detach().clone()
        h = torch.as_tensor(heights, dtype=torch.float32).detach().clone()
        s = torch.as_tensor(slopes, dtype=torch.float32).detach().clone()
        if h.dim() not in (1, 2) or h.shape[-1] < 2:
            raise ValueError(f"PWLU: heights has shape {tuple(h.shape)}, want [N+1] or [C, N+1] with N >= 1")
        if b.shape[-1:] != (2,) or s.shape[-1:] != (2,) or not (b.dim() == s.dim() == h.dim()) or (
                h.dim() == 2 and not (b.shape[0] == s.shape[0] == h.shape[0])):
            raise ValueError(f"PWLU: bounds {tuple(b.shape)}, heights {tuple(h.shape)}, slopes {tuple(s.shape)} "
                             "do not agree (want [2], [N+1], [2] or [C, 2], [C, N+1], [C, 2])")
        if h.dim() == 2 and h.shape[0] == 1:
            b, h, s = b[0], h[0], s[0]
        if not bool((b[..., 0] < b[..., 1]).all()):
            raise ValueError("PWLU: bounds need B_L < B_R")
        self.bounds = nn.Parameter(b)
        self.heights = nn.Parameter(h)
        self.slopes = nn.Parameter(s)

    @property
    def channels(self):
        return 1 if self.heights.dim() == 1 else self.heights.shape[0]

    def forward(self, x):
        n = self.heights.shape[-1] - 1
        per_channel = self.heights.dim() == 2
        # Per channel, the channel axis moves last so every parameter broadcasts as [C].
        xt = x.movedim(self.axis, -1) if per_channel else x
        if per_channel and xt.shape[-1] != self.heights.shape[0]:
            raise ValueError(f"PWLU: {self.heights.shape[0]} channels, but the input has shape "
                             f"{tuple(x.shape)} (axis {self.axis})")
        bl, br = self.bounds[..., 0], self.bounds[..., 1]
        kl, kr = self.slopes[..., 0], self.slopes[..., 1]
        d = (br - bl) / n
        # The segment index is piecewise constant (no gradient); NaN and ±inf are pinned to a
        # valid segment here and take the outer or NaN branches below.
        t = ((xt - bl) / d).detach()
        t = torch.nan_to_num(t, nan=0.0, posinf=float(n - 1), neginf=0.0)
        idx = torch.floor(t).clamp(0, n - 1).long()
        if per_channel:
            flat = self.heights.reshape(-1)
            base = torch.arange(self.heights.shape[0], device=x.device) * (n + 1)
            y_i, y_next = flat[base + idx], flat[base + idx + 1]
            y_first, y_last = self.heights[:, 0], self.heights[:, n]
        else:
            y_i, y_next = self.heights[idx], self.heights[idx + 1]
            y_first, y_last = self.heights[0], self.heights[n]
        # Each branch sees x clamped to its own range, so the branches not taken stay finite and
        # pass no NaN into the gradient.
        inner_x = torch.minimum(torch.maximum(xt, bl), br)
        inner = y_i + (inner_x - (bl + idx * d)) * ((y_next - y_i) / d)
        # inf*0 (x = ±inf with a zero outer slope) is the end height, per OPS.md.
        left = y_first + torch.nan_to_num((torch.minimum(xt, bl) - bl) * kl, nan=0.0,
                                          posinf=float("inf"), neginf=float("-inf"))
        right = y_last + torch.nan_to_num((torch.maximum(xt, br) - br) * kr, nan=0.0,
                                          posinf=float("inf"), neginf=float("-inf"))
        y = torch.where(xt < bl, left, torch.where(xt >= br, right, inner))
        return y.movedim(-1, self.axis) if per_channel else y


def _softplus(t):
    return F.softplus(t, beta=1, threshold=20)


def _hump(u, a, b):
    """h(u; a, b) = k*u*sigmoid(a(u - b)), k = 1 + e^(ab), for u <= 0, as
    u * exp(softplus(-ab) + a*u - softplus(a*u - ab)), whose exponent is <= 0; 0 where a|u| > 100."""
    far = (a * u).abs() > 100
    us = torch.where(far, torch.zeros_like(u), u)
    beta = a * b
    return us * torch.exp(_softplus(-beta) + a * us - _softplus(a * us - beta))


class Zorro(_Activation):
    """Zorro: z = in_scale*x + in_shift,
    Z(z) = clip(z, 0, 1) + h(min(z, 0); a_n, b_n) - h(min(1 - z, 0); a_p, b_p),
    Y = out_scale*Z(z) + out_shift, or with gate, Y = X * (out_scale*Z(z) + out_shift).

    params: [8] or [C, 8] = (a_n, b_n, a_p, b_p, in_scale, in_shift, out_scale, out_shift).
    """

    def __init__(self, params, gate=False, axis=1):
        super().__init__(axis)
        p = torch.as_tensor(params, dtype=torch.float32).detach().clone()
        if p.dim() not in (1, 2) or p.shape[-1] != 8:
            raise ValueError(f"Zorro: params has shape {tuple(p.shape)}, want [8] or [C, 8]")
        if p.dim() == 2 and p.shape[0] == 1:
            p = p[0]
        self.params = nn.Parameter(p)
        self.gate = bool(gate)

    @property
    def channels(self):
        return 1 if self.params.dim() == 1 else self.params.shape[0]

    def extra_repr(self):
        return super().extra_repr() + f", gate={self.gate}"

    def forward(self, x):
        an, bn, ap, bp, s_in, sh_in, s_out, sh_out = (self._column(self.params, k, x) for k in range(8))
        z = s_in * x + sh_in
        zero = torch.zeros_like(z)
        zv = torch.clamp(z, 0, 1) + _hump(torch.minimum(z, zero), an, bn) - _hump(torch.minimum(1 - z, zero), ap, bp)
        y = s_out * zv + sh_out
        if not self.gate:
            return y
        # A zero factor gives 0 even at x = ±inf (the limit of x*Z), never inf*0. Only infinite x
        # is replaced, so a finite x keeps its gradient where the factor happens to be 0, and no
        # inf reaches the product's backward.
        xs = torch.where(torch.isinf(x) & (y == 0), torch.zeros_like(x), x)
        return xs * y


class SwapError(ValueError):
    """A site of the export that swap() cannot place in the given model."""


def load_safetensors(path):
    """Read a safetensors file (F32/F64/F16/BF16/I64/I32 tensors) into a dict of tensors, with
    only the standard library and torch: an 8-byte little-endian header length, a JSON header,
    then the raw little-endian data."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
              "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32}
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: {len(blob)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header of {n} bytes runs past the end of the file ({len(blob)} bytes)")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if entry["dtype"] not in dtypes:
            raise ValueError(f"{path}: tensor {key!r} has dtype {entry['dtype']}, not one this reader knows")
        begin, end = entry["data_offsets"]
        dt = dtypes[entry["dtype"]]
        count = 1
        for dim in entry["shape"]:
            count *= dim
        if not (0 <= begin <= end <= len(data)) or end - begin != count * torch.tensor([], dtype=dt).element_size():
            raise ValueError(f"{path}: tensor {key!r} has offsets {begin}..{end}, which do not fit its shape "
                             f"{entry['shape']} and the file")
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dt) if end > begin else torch.empty(0, dtype=dt)
        if sys.byteorder != "little" and t.element_size() > 1:
            t = t.byteswap()  # pragma: no cover - big-endian hosts
        out[key] = t.reshape(entry["shape"])
    return out


def load_sites(directory=None):
    """The sites of an export (sites.json) and their parameters (params.safetensors)."""
    directory = directory or _HERE
    with open(os.path.join(directory, "sites.json"), encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("format") != "actswap.torch/1":
        raise ValueError(f"{directory}/sites.json: format {doc.get('format')!r}, this module reads actswap.torch/1")
    return doc["sites"], load_safetensors(os.path.join(directory, doc["params"]))


def build_module(site, tensors):
    """The torch module of one site with its exported parameters."""
    p = {name: tensors[key] for name, key in site["params"].items()}
    fam = site["family"]
    if fam == "CRReLU":
        return CRReLU(p["epsilon"], axis=site["axis"])
    if fam == "PWLU":
        return PWLU(p["bounds"], p["heights"], p["slopes"], axis=site["axis"])
    if fam == "Zorro":
        return Zorro(p["params"], gate=site.get("gate", False), axis=site["axis"])
    raise ValueError(f"site {site['site']!r}: unknown family {fam!r}")


def _resolve(site, modules):
    """The module path of a site in this model: the exporter's guess when it names a module, else
    the scopes walked one by one, each matched to a module below the previous one whose path ends
    with the scope (containers that were not called leave no scope). None if nothing matches."""
    if site["module"] in modules:
        return site["module"]
    path = ""
    for scope in site["scope"]:
        prefix = path + "." if path else ""
        found = [name for name in modules
                 if name.startswith(prefix) and (name in (scope, prefix + scope) or name.endswith("." + scope))]
        if not found:
            return None
        path = min(found, key=len)
        if len([name for name in found if len(name) == len(path)]) > 1:
            return None  # ambiguous
    return path or None


def _is_activation_module(m):
    """A module that can stand for an activation: stateless (no parameters, buffers or
    submodules), or one of ours from an earlier swap."""
    if isinstance(m, _Activation):
        return True
    return not any(True for _ in m.children()) and not any(True for _ in m.parameters(recurse=False)) \
        and not any(True for _ in m.buffers(recurse=False))


def swap(model, directory=None):
    """Replace, in place, each activation module of model that an exported site came from with the
    site's Zorro, PWLU or CRReLU module, holding the calibrated parameters. Nothing is changed
    unless every site resolves: otherwise SwapError lists every site that does not, and why.
    Returns {site name: module path}."""
    sites, tensors = load_sites(directory)
    modules = dict(model.named_modules())
    problems, plan, owners = [], {}, {}
    for site in sites:
        where = f"site {site['site']!r} (from node {site['replaced']!r})"
        if not site["scope"]:
            problems.append(f"{where}: the node has no module scope: the activation is a functional call in "
                            f"{type(model).__name__}.forward; make it a submodule (e.g. nn.GELU()) to swap it")
            continue
        path = _resolve(site, modules)
        if path is None:
            hint = ""
            base, _, count = site["module"].rpartition("_")
            if count.isdigit() and base in modules:
                # The exporter names the second call of a module "<name>_1".
                hint = f"; it looks like call {int(count) + 1} of module {base!r}: give each call its own module"
            problems.append(f"{where}: module path {site['module']!r} (scopes {site['scope']}) does not resolve "
                            f"in {type(model).__name__}{hint}")
            continue
        target = modules[path]
        if not _is_activation_module(target):
            problems.append(f"{where}: {path!r} is a {type(target).__name__} with parameters or submodules, not an "
                            "activation module: the activation is a functional call inside its forward; make it a "
                            "submodule (e.g. nn.GELU()) to swap it")
            continue
        if path in owners:
            problems.append(f"{where}: module {path!r} was also called at site {owners[path]!r}; one module "
                            "cannot hold two sites' parameters, give each call its own module")
            continue
        owners[path] = site["site"]
        plan[path] = build_module(site, tensors)
    if problems:
        raise SwapError(f"cannot swap {len(problems)} of {len(sites)} sites into {type(model).__name__}:\n  "
                        + "\n  ".join(problems))
    ref = next(iter(model.parameters()), None)
    for path, new in plan.items():
        if ref is not None:
            new = new.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None)
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, name, new)
    return {site: path for path, site in owners.items()}
