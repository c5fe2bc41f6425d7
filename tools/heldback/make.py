#!/usr/bin/env python3
"""Writes three exporter models of the kinds the speed issue's reviewer holds back, for
tools/ratios.sh: a MobileNetV3-Small-style CNN (depthwise 3×3/5×5 at strides 1 and 2, channel
counts off multiples of 16, squeeze-and-excitation, HardSwish/HardSigmoid, BatchNorm), a
ConvNeXt-style CNN (4×4 patchify stem, depthwise 7×7, channels-last LayerNorm through
Transpose, Linear+GELU on 4-D tensors, layer scale) and an EfficientNet-B0-style CNN (SiLU as
x·Sigmoid(x), squeeze-and-excitation with Sigmoid, depthwise 3×3/5×5, a 1280 → 1000 classifier;
B0's stages at one or two blocks each). Random weights (seed 7), exported by the
installed PyTorch's TorchScript exporter at opset 17, each as DIR/NAME/model.onnx with one
224×224 input in DIR/NAME/test_data_set_0/input_0.pb and PyTorch's output in output_0.pb.

    /usr/bin/python3 tools/heldback/make.py DIR [--force]  # needs python3-torch (Debian) and numpy
    MODELS_DIR=DIR MODELS="mobilenetv3_like convnext_like efficientnet_like" bash tools/ratios.sh 1 2
"""
import os, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

class SE(nn.Module):
    def __init__(s, c, r=4):
        super().__init__(); s.f1=nn.Conv2d(c, c//r, 1); s.f2=nn.Conv2d(c//r, c, 1)
    def forward(s, x):
        y=F.adaptive_avg_pool2d(x,1); y=F.relu(s.f1(y)); return x*F.hardsigmoid(s.f2(y))
class IR(nn.Module):
    def __init__(s, cin, exp, cout, k, st, se, hs):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        s.res = st==1 and cin==cout
        L=[]
        if exp!=cin: L += [nn.Conv2d(cin,exp,1,bias=False), nn.BatchNorm2d(exp), act()]
        L += [nn.Conv2d(exp,exp,k,st,k//2,groups=exp,bias=False), nn.BatchNorm2d(exp), act()]
        if se: L += [SE(exp)]
        L += [nn.Conv2d(exp,cout,1,bias=False), nn.BatchNorm2d(cout)]
        s.b=nn.Sequential(*L)
    def forward(s,x):
        y=s.b(x); return x+y if s.res else y
def mnv3():
    cfg=[(16,16,16,3,2,1,0),(16,72,24,3,2,0,0),(24,88,24,3,1,0,0),(24,96,40,5,2,1,1),(40,240,40,5,1,1,1),(40,240,40,5,1,1,1),
         (40,120,48,5,1,1,1),(48,144,48,5,1,1,1),(48,288,96,5,2,1,1),(96,576,96,5,1,1,1),(96,576,96,5,1,1,1)]
    L=[nn.Conv2d(3,16,3,2,1,bias=False),nn.BatchNorm2d(16),nn.Hardswish()]+[IR(*c) for c in cfg]
    L+=[nn.Conv2d(96,576,1,bias=False),nn.BatchNorm2d(576),nn.Hardswish(),nn.AdaptiveAvgPool2d(1),nn.Flatten(),nn.Linear(576,1024),nn.Hardswish(),nn.Linear(1024,1000)]
    return nn.Sequential(*L)
class LN2d(nn.Module):
    def __init__(s,c): super().__init__(); s.ln=nn.LayerNorm(c,eps=1e-6)
    def forward(s,x): return s.ln(x.permute(0,2,3,1)).permute(0,3,1,2)
class CNB(nn.Module):
    def __init__(s,d):
        super().__init__(); s.dw=nn.Conv2d(d,d,7,padding=3,groups=d); s.ln=nn.LayerNorm(d,eps=1e-6)
        s.p1=nn.Linear(d,4*d); s.p2=nn.Linear(4*d,d); s.g=nn.Parameter(torch.full((d,),1e-1))
    def forward(s,x):
        y=s.dw(x).permute(0,2,3,1); y=s.p2(F.gelu(s.p1(s.ln(y)))); y=s.g*y
        return x+y.permute(0,3,1,2)
class MBConv(nn.Module):
    """EfficientNet's block: 1×1 expansion, depthwise k×k, squeeze-and-excitation with SiLU and
    Sigmoid, 1×1 projection; SiLU (x·Sigmoid(x) in the export) after the first two."""
    def __init__(s, cin, cout, e, k, st):
        super().__init__()
        mid = cin*e; s.res = st==1 and cin==cout
        L = [] if e == 1 else [nn.Conv2d(cin,mid,1,bias=False), nn.BatchNorm2d(mid), nn.SiLU()]
        L += [nn.Conv2d(mid,mid,k,st,k//2,groups=mid,bias=False), nn.BatchNorm2d(mid), nn.SiLU()]
        s.pre = nn.Sequential(*L)
        r = max(1, cin//4); s.f1 = nn.Conv2d(mid,r,1); s.f2 = nn.Conv2d(r,mid,1)
        s.post = nn.Sequential(nn.Conv2d(mid,cout,1,bias=False), nn.BatchNorm2d(cout))
    def forward(s,x):
        y = s.pre(x)
        y = y*torch.sigmoid(s.f2(F.silu(s.f1(F.adaptive_avg_pool2d(y,1)))))
        y = s.post(y)
        return x+y if s.res else y
def effnet():
    """EfficientNet-B0's stages (expansion, kernel, stride, width) at one or two blocks each."""
    cfg=[(1,3,1,16,1),(6,3,2,24,2),(6,5,2,40,2),(6,3,2,80,2),(6,5,1,112,2),(6,5,2,192,2),(6,3,1,320,1)]
    L=[nn.Conv2d(3,32,3,2,1,bias=False),nn.BatchNorm2d(32),nn.SiLU()]; cin=32
    for e,k,st,c,n in cfg:
        for i in range(n):
            L.append(MBConv(cin,c,e,k,st if i==0 else 1)); cin=c
    L+=[nn.Conv2d(cin,1280,1,bias=False),nn.BatchNorm2d(1280),nn.SiLU(),nn.AdaptiveAvgPool2d(1),nn.Flatten(),nn.Linear(1280,1000)]
    return nn.Sequential(*L)
def convnext(dims=(48,96,192,384),depths=(2,2,4,2)):
    L=[nn.Conv2d(3,dims[0],4,4),LN2d(dims[0])]
    for i,(d,n) in enumerate(zip(dims,depths)):
        if i>0: L+=[LN2d(dims[i-1]),nn.Conv2d(dims[i-1],d,2,2)]
        L+=[CNB(d) for _ in range(n)]
    L+=[nn.AdaptiveAvgPool2d(1),nn.Flatten(),nn.LayerNorm(dims[-1]),nn.Linear(dims[-1],1000)]
    return nn.Sequential(*L)


def tensor_proto(name, a):
    """A float32 onnx.TensorProto, encoded by hand so that no onnx package is needed."""
    def varint(v):
        out = b""
        while True:
            b, v = v & 0x7F, v >> 7
            out += bytes([b | (0x80 if v else 0)])
            if not v:
                return out
    def field(num, wire, payload):
        return varint(num << 3 | wire) + payload
    msg = b"".join(field(1, 0, varint(d)) for d in a.shape)
    msg += field(2, 0, varint(1))  # FLOAT
    nb = name.encode()
    msg += field(8, 2, varint(len(nb)) + nb)
    raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
    msg += field(9, 2, varint(len(raw)) + raw)
    return msg


def save(root, name, m, x):
    m.eval()
    with torch.no_grad():
        for mod in m.modules():  # BatchNorm statistics that are not the identity
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
        y = m(x)
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    torch.onnx.export(m, x, os.path.join(d, "model.onnx"), opset_version=17,
                      input_names=["input"], output_names=["logits"])
    for k, (n, a) in enumerate([("input", x), ("logits", y)]):
        kind = "input" if k == 0 else "output"
        with open(os.path.join(d, "test_data_set_0", f"{kind}_0.pb"), "wb") as f:
            f.write(tensor_proto(n, a.numpy()))


MODELS = ("mobilenetv3_like", "convnext_like", "efficientnet_like")


def main():
    args = sys.argv[1:]
    force = "--force" in args
    args = [a for a in args if a != "--force"]
    if len(args) != 1:
        sys.exit("usage: make.py DIR [--force]")
    root = args[0]
    # Checked before any work: an existing model folder is never overwritten without --force.
    existing = [os.path.join(root, n) for n in MODELS if os.path.exists(os.path.join(root, n))]
    if existing and not force:
        sys.exit(f"make.py: {', '.join(existing)} already exist; give --force to replace them")
    torch.manual_seed(7)
    x = torch.randn(1, 3, 224, 224)
    save(root, MODELS[0], mnv3(), x)
    save(root, MODELS[1], convnext(), x)
    save(root, MODELS[2], effnet(), x)


if __name__ == "__main__":
    main()
