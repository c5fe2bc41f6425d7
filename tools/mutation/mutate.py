#!/usr/bin/env python3
"""Mutation check: for each package, break one central line in a temporary copy of the
repository and run the tests that should notice; a mutation that passes them is a missing test.

    python3 tools/mutation/mutate.py            # all mutations (a few minutes on 2 cores)
    python3 tools/mutation/mutate.py tensor gemm  # only these (by name)

Each mutation replaces an exact snippet that must occur once in its file, so the script fails
loudly when the code moves on and the table needs updating. Results are listed in TESTING.md.
"""
import os, shutil, subprocess, sys, tempfile

# name, file, snippet, replacement, test arguments (after `go test -count=1`)
MUTATIONS = [
    ("tensor", "tensor/tensor.go", "n *= d", "n += d", ["./tensor"]),
    ("onnx", "onnx/external.go", "raw := make([]byte, length)", "raw := make([]byte, length/2)", ["./onnx"]),
    ("workers", "internal/workers/workers.go", "j.n, j.chunks, j.failure = n, chunks, nil",
     "j.n, j.chunks, j.failure = n-n/4, chunks, nil", ["./internal/workers"]),
    ("gemm", "internal/gemm/pack.go", "rows := min(mr, mcb-ir)", "rows := min(mr-1, mcb-ir)",
     ["-run", "TestSgemm", "./internal/gemm"]),
    ("vecmath", "internal/vecmath/scalar.go", "w := -0.5 * u // exact", "w := -0.49 * u // exact",
     ["-run", "TestAccuracy", "./internal/vecmath"]),
    ("ops", "runtime/ops/activation.go", "x / (1 + math.Abs(x))", "x / (1 + x)",
     ["-run", "TestNodeCases", "./runtime/ops"]),
    ("runtime", "runtime/optimize_batchnorm.go", "math.Sqrt(float64(params[3][c])+eps)",
     "math.Sqrt(math.Abs(float64(params[0][c]))+eps)", ["-short", "-run", "TestBackendSuite|TestOptimiz|BatchNorm", "./runtime"]),
    ("onnxops", "onnxops/pwlu.go", "return p.Heights[n] + (x-p.BR)*p.KR", "return p.Heights[n] + (x-p.BR)*p.KL",
     ["-short", "-run", "PWLU", "./onnxops"]),
    ("rewrite", "rewrite/apply.go", "removed[i] = true", "removed[i] = false", ["-short", "./rewrite"]),
    ("calibrate", "calibrate/fit.go", "sum += s.w[i] * e * e", "sum += s.w[i] * e",
     ["-run", "TestFit|TestPWLU|TestZorro|TestCRReLU|TestReLU", "./calibrate"]),
    ("bench", "bench/bench.go", "pos := p * float64(len(sorted)-1)", "pos := p * float64(len(sorted))", ["./bench"]),
    ("watch", "runtime/watch.go", "if in.scope == v.Scope {", 'if in.scope == "" {',
     ["-run", "RunWatching", "./runtime"]),
    ("nested-rewrite", "rewrite/scope.go", "if !replaced {", "if true {",
     ["-run", "InsideLoopBodyAndFunction", "./rewrite"]),
    ("seqproto", "runtime/dataset.go", "sp.ElemType = proto.Int32(seqSequence)", "sp.ElemType = proto.Int32(seqMap)",
     ["-run", "NestedSequenceElemType", "./runtime"]),
    ("output-metric", "calibrate/output_aware.go", "total += dot32(out[:n*d], out[:n*d])",
     "total += dot32(out[:n*d/2], out[:n*d/2])", ["-run", "TestOutputObjectiveIsTheNextLayersError", "./calibrate"]),
    ("sequential-candidates", "calibrate/calibrate.go", "{{name: CandidateSequential, sites: seq}}, ind...)",
     "{{name: CandidateSequential, sites: seq}}, ind[:1]...)", ["-run", "TestSequentialPerChannelNeverWorse", "./calibrate"]),
    ("sequential-bounds", "calibrate/sequential.go", "\tif pwlu {", "\tif false && pwlu {",
     ["-run", "TestSequentialReachesTheFamilysOptimum", "./calibrate"]),
    ("per-channel-axis", "calibrate/calibrate.go", "\t\t\treturn -1, \"\"", "\t\t\treturn 1, \"\"",
     ["-run", "TestPerChannelAlongTheFeatures", "./calibrate"]),
    ("per-channel-held-out", "calibrate/sequential.go", "\t\tif opts.HeldOut == nil {\n\t\t\treturn nil", "\t\tif true {\n\t\t\treturn nil",
     ["-run", "TestSequentialChoosesPerChannelOnHeldOutRows", "./calibrate"]),
    ("flexattention", "runtime/ops/flexattention.go", "kh := (b*Hkv + h/rep) * S * E", "kh := (b*Hkv + h%Hkv) * S * E",
     ["-run", "FlexAttentionMatches", "./runtime"]),
    ("deformconv", "runtime/ops/deformconv.go", "fh, fw := h-h0, w-w0", "fh, fw := h-h0, 0*(w-w0)",
     ["-short", "-run", "TestBackendSuite", "./runtime"]),
    ("gather-tiles", "internal/gemm/gather.go", "return mr, long*lead + (t-long)*mr", "return mr, t * mr",
     ["-run", "SgemmGather", "./internal/gemm"]),
    ("gather-batch", "runtime/ops/conv_gather.go", "imageStride = s.c * s.inSize", "imageStride = s.cg() * s.inSize",
     ["-run", "ConvGatherLowering", "./runtime/ops"]),
    ("maxpool-direct", "runtime/ops/pool.go", "m = max(m, plane[corner+ky*rowStep+kx*colStep])",
     "m = max(m, plane[corner+ky*rowStep+kx])", ["-run", "Pool2DFastPath", "./runtime/ops"]),
    ("matmul-rowblocks", "runtime/ops/matmul.go", "c := j.c[bi*cSize+r0*p.n : bi*cSize+(r0+rows)*p.n]",
     "c := j.c[bi*cSize : bi*cSize+rows*p.n]", ["-run", "MatMulAgainstReference", "./runtime/ops"]),
    ("conv-tuning", "runtime/ops/conv.go", "tunedLowerings.Load(s.tuneKey)", 'tunedLowerings.Load(s.tuneKey + "x")',
     ["-run", "ConvTunesLowering", "./runtime/ops"]),
    ("workers-wake", "internal/workers/workers.go", "if w.state.Load() == parked && w.state.CompareAndSwap(parked, claimed) {",
     "if false && w.state.CompareAndSwap(parked, claimed) {", ["-run", "ReachesPollingAndParked", "./internal/workers"]),
    ("workers-retract", "internal/workers/workers.go", "if w.job.CompareAndSwap(j, nil) {",
     "if false && w.job.CompareAndSwap(j, nil) {", ["-run", "Retract", "./internal/workers"]),
    ("threads-split", "internal/workers/workers.go", "j.run(j.n*i/j.chunks, j.n*(i+1)/j.chunks)",
     "j.run(j.n*i/j.chunks, j.n*(i+1)/j.chunks-i/(j.chunks-1))", ["-short", "-run", "ThreadsGiveIdentical", "./runtime"]),
    ("sigmoid-exp", "internal/vecmath/scalar.go", "expPartsWith(max(x, expLo), sigPoly[:])", "expPartsWith(max(x, expLo), sigPoly[:4])",
     ["-run", "TestAccuracy", "./internal/vecmath"]),
    ("maxpool-pairs", "internal/vecmath/elementwise.go", "max(bottom[2*j], bottom[2*j+1]))",
     "bottom[2*j])", ["-run", "MaxPool2x2", "./internal/vecmath"]),
    ("maxpool-rows-taps", "internal/vecmath/vecmath_amd64.s",
     "VMOVUPS   (SI)(R8*2), Z4\n\tVPERMT2PS 64(SI)(R8*2), Z1, Z4\n\tVCMPPS    $0x07, Z4, Z3, K1, K1\n\tVRANGEPS  $0x05, Z4, Z3, Z3\n\tVBLENDMPS Z3, Z0, K1, Z3\n\tVMOVUPS   Z3, (AX)",
     "VMOVUPS   (SI)(R8*1), Z4\n\tVPERMT2PS 64(SI)(R8*1), Z1, Z4\n\tVCMPPS    $0x07, Z4, Z3, K1, K1\n\tVRANGEPS  $0x05, Z4, Z3, Z3\n\tVBLENDMPS Z3, Z0, K1, Z3\n\tVMOVUPS   Z3, (AX)",
     ["-run", "TestMaxPool2D", "./internal/vecmath"]),
    ("avgpool-rows-divisor", "internal/vecmath/vecmath_amd64.s",
     "VPERMT2PS    64(SI)(R8*2), Z0, Z3\n\tVADDPS       Z3, Z2, Z2\n\tVBROADCASTSS 16(CX), Z3\n\tVMULPS       (R10), Z3, Z3\n\tVDIVPS       Z3, Z2, Z2\n\tVMOVUPS      Z2, (AX)",
     "VPERMT2PS    64(SI)(R8*2), Z0, Z3\n\tVADDPS       Z3, Z2, Z2\n\tVBROADCASTSS 16(CX), Z3\n\tVMULPS       (R10), Z3, Z3\n\tVMULPS       Z3, Z2, Z2\n\tVMOVUPS      Z2, (AX)",
     ["-run", "TestAveragePool2D", "./internal/vecmath"]),
    ("avgpool-padded-count", "internal/vecmath/pool.go", "-padBegin[1], in[1]+padEnd[1])", "-padBegin[1], in[1])",
     ["-run", "TestAveragePool2D", "./internal/vecmath"]),
    ("maxpool-rows-planes", "runtime/ops/pool.go", "s.rowPool.Run(j.out[lo*s.outSize:hi*s.outSize], j.xv[lo*s.inSize:hi*s.inSize], *buf)",
     "s.rowPool.Run(j.out[lo*s.outSize:hi*s.outSize], j.xv[:(hi-lo)*s.inSize], *buf)", ["-run", "TestMaxPoolRowKernel", "./runtime/ops"]),
    ("maxpool-rows-nan", "internal/vecmath/vecmath_amd64.s", "VCMPPS    $0x07, (R10)(R11*2), Z3, K1, K1", "NOP",
     ["-run", "TestMaxPool2D", "./internal/vecmath"]),
    ("reduce-trailing", "runtime/ops/reduce.go", "s /= float64(count)", "s /= float64(count + 1)",
     ["-run", "ReduceTrailingAxes", "./runtime/ops"]),
    ("panel-of", "internal/gemm/gather.go", "!x.Asm() || n != nr ||", "!x.Asm() || n != 64 ||",
     ["-run", "PanelOf", "./internal/gemm"]),
    ("direct-kernel", "internal/gemm/gemm_amd64.s", "DATA directPerm2<>+4(SB)/4, $0x00000002",
     "DATA directPerm2<>+4(SB)/4, $0x00000003", ["-run", "DirectConvRows", "./internal/gemm"]),
    ("direct-runs-stride", "internal/gemm/kernel_amd64.go", "d, s := &dst[done], &src[step*done]",
     "d, s := &dst[done], &src[done]", ["-run", "DirectConvRows", "./internal/gemm"]),
    ("direct-runs-split", "internal/gemm/direct.go", "return (vectors - 4) / 3, 2", "return (vectors - 4) / 3, 1",
     ["-run", "DirectRuns", "./internal/gemm"]),
    ("direct-run-kernel", "internal/gemm/gemm_amd64.s", "DATA directRun3Perm2<>+4(SB)/4, $0x00000002",
     "DATA directRun3Perm2<>+4(SB)/4, $0x00000003", ["-run", "DirectConvRows", "./internal/gemm"]),
    ("direct-columns", "internal/gemm/kernel_amd64.go", "dst, src, rows = dst[3*groups*dstRow:], src[3*groups*srcRow:], rows-3*groups",
     "dst, src, rows = dst[3*groups*dstRow:], src[3*groups*dstRow:], rows-3*groups", ["-run", "DirectConvRows", "./internal/gemm"]),
    ("transpose16-relu", "internal/gemm/kernel_amd64.go", "case res == nil:\n\t\ttranspose16x16BiasRelu(",
     "case res == nil:\n\t\ttranspose16x16Bias(", ["-run", "TransposeEpilogue", "./internal/gemm"]),
    ("direct-pairs", "internal/gemm/gemm_amd64.s", "VINSERTF32X8     $0x01, (SI)(R10*4), Z16, Z16",
     "VINSERTF32X8     $0x01, (CX)(R10*4), Z16, Z16", ["-run", "DirectConvRowsPairs", "./internal/gemm"]),
    ("direct-bands", "runtime/ops/conv_direct.go", "y0 := r0*s.strides[0] - s.padBegin[0]",
     "y0 := r0 - s.padBegin[0]", ["-run", "ConvDirect", "./runtime/ops"]),
    ("conv-one-channel", "runtime/ops/conv_gather.go", "if s.cg() == 1 && s.kSize > 1 {", "if false {",
     ["-run", "ConvOneInputChannel", "./runtime/ops"]),
    ("half-lengths", "internal/half/dispatch_amd64.go", "toFloat32AVX512(dst, bits)\n\t\treturn len(src) &^ 15",
     "toFloat32AVX512(dst, bits)\n\t\treturn len(src) &^ 7", ["-run", "Lengths", "./internal/half"]),
    ("float16-blocks", "internal/actkernel/half.go", "ch := (run / inner) % c", "ch := (run/inner + 1) % c",
     ["-run", "Half", "./internal/actkernel"]),
    ("plugin-param-cache", "ortplugin/plugin.go", "last != nil && sameTensors(last.params, ts)", "last != nil",
     ["-run", "TestParametersFedAtRunTime", "./ortplugin/plugintest"]),
    ("plugin-float16", "ortplugin/shim.c", "ops[i].elem = elems[i / 3];", "ops[i].elem = elems[0];",
     ["-run", "TestFloat16Nodes", "./ortplugin/plugintest"]),
    ("epilogue-columns", "internal/gemm/gemm.go", "ep.Columns(j.c[i*j.ldc+j0:i*j.ldc+j1], j0)",
     "ep.Columns(j.c[i*j.ldc+j0:i*j.ldc+j1], 0)", ["-run", "EpilogueColumns", "./internal/gemm"]),
    ("kernel-columns", "internal/actkernel/dispatch_amd64.go", "&t.rows.groups[ch0/8*(pwluConsts+1)*8]",
     "&t.rows.groups[0]", ["-run", "TestColumns", "./internal/actkernel"]),
    ("matmul-columns", "runtime/optimize_matmul.go", "(f.colsRank != 0 && a.Rank() != f.colsRank)", "false",
     ["-run", "ChannelsLastActivationFusion", "./runtime"]),
    ("alpha-on-b", "internal/gemm/gemm.go", "if j.pa != nil || j.alphaOnB {", "if j.pa != nil {", ["./internal/gemm"]),
    ("kt-interleave", "internal/gemm/pack.go", "b[(j0+jr)*ldb+p0:], ldb, kcb)", "b[(j0+jr)*ldb:], ldb, kcb)",
     ["./internal/gemm"]),
    ("direct-rows", "internal/gemm/kernel_amd64.go", "case 8:\n\t\t\tkernel8x32DirectA(", "case 8:\n\t\t\tkernel7x32DirectA(",
     ["-run", "TestDirectTiles", "./internal/gemm"]),
    ("direct-edge", "internal/gemm/gemm.go", "j.addEdge(edgeWide[:], width, rows, cols, cOff, accumulate)",
     "j.addEdge(edgeWide[:], width, rows-1, cols, cOff, accumulate)", ["-run", "TestDirectTiles", "./internal/gemm"]),
    ("scale-tail", "internal/gemm/gemm_amd64.s", "VMULSS (AX), X0, X1", "VADDSS (AX), X0, X1",
     ["-run", "TestAddVectors", "./internal/gemm"]),
    ("direct-bias-edge", "internal/gemm/gemm.go", "j.addEdge(edgeWide[:], width, rows, cols, cOff, accumulate)\n\t\t\tj.addBias(bias, rows, cOff)",
     "j.addEdge(edgeWide[:], width, rows, cols, cOff, accumulate)", ["-run", "TestDirectTiles", "./internal/gemm"]),
    ("direct-bias-skip", "internal/gemm/gemm.go", "if j.directBias() && j.k > 0 {", "if j.ep.Bias != nil && j.k > 0 {",
     ["-run", "TestDirectTiles", "./internal/gemm"]),
    ("where-mask-row", "runtime/ops/where.go", "v := y[j]\n\t\t\tif keep {\n\t\t\t\tv = xv", "v := y[j]\n\t\t\tif !keep {\n\t\t\t\tv = xv",
     ["-run", "TestWhereBroadcasts", "./runtime/ops"]),
    ("where-row-condition", "runtime/ops/where.go", "if c[0] {", "if !c[0] {", ["-run", "TestWhereBroadcasts", "./runtime/ops"]),
    ("zorro-hump", "internal/actkernel/kernels_amd64.s", "JZ                zorroZ_nohump1",
     "JMP               zorroZ_nohump1", ["-run", "TestZorroHumpBlocks", "./internal/actkernel"]),
    ("crrelu-negzero", "internal/actkernel/kernels_amd64.s", "VMAXPS       Y1, Y3, Y3\n\tVADDPS       Y7, Y3, Y3\n\tVMOVUPS      Y2, (AX)",
     "VMAXPS       Y3, Y1, Y3\n\tVADDPS       Y7, Y3, Y3\n\tVMOVUPS      Y2, (AX)", ["-run", "TestCRReLUNegativeZero", "./internal/actkernel"]),
    ("conv-one-pixel", "runtime/ops/conv_pixel.go", "ep = &gemm.Epilogue{Bias: bias, Elementwise: k.act}",
     "ep = &gemm.Epilogue{Bias: bias, BiasPerRow: true, Elementwise: k.act}", ["-run", "ConvOnePixel", "./runtime/ops"]),
    ("unary-fusion", "runtime/ops/unary.go", "return func(dst []float32) { f(dst, dst) }", "_ = f\n\treturn nil",
     ["-run", "ConvUnaryActivationFusion", "./runtime"]),
    ("depthwise-tail", "runtime/ops/conv_depthwise_blocked.go",
     "from := (cb-channels+c)*s.outSize + oy0*ow",
     "from := c*s.outSize + oy0*ow", ["-run", "ConvDepthwise", "./runtime/ops"]),
    ("depthwise-tail-weights", "runtime/ops/conv_depthwise_blocked.go", "first = min(first, channels-cb)",
     "first = min(first, channels-cb+1)", ["-run", "ConvDepthwise", "./runtime/ops"]),
    ("image-split", "runtime/ops/conv_gather.go", "t.residual, t.out, lo, hi); err != nil {",
     "t.residual, t.out, lo, hi-1); err != nil {", ["-run", "ConvImageSplit", "./runtime/ops"]),
    ("gather-epilogue", "internal/gemm/gather.go", "j.then.Finish(r0, r1, 0, n)", "j.then.Finish(r0, r1-1, 0, n)",
     ["-run", "SgemmGatherThen", "./internal/gemm"]),
    ("threads-bound", "internal/workers/workers.go", "j.start(n, chunks, min(threads, chunks)-1)",
     "j.start(n, chunks, chunks-1)", ["-run", "RunTaskOnBoundsThreads", "./internal/workers"]),
    ("pad-split", "runtime/ops/conv_gather.go", "p.dst[lo*out:hi*out], p.src[lo*in:hi*in], hi-lo,",
     "p.dst[lo*out:(hi-1)*out], p.src[lo*in:(hi-1)*in], hi-1-lo,", ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("chunk-epilogue", "runtime/ops/conv_gather.go", "t.block(img, blk, t.first+p0, t.first+p1)",
     "t.block(img, blk, p0, p1)", ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("cmd", "cmd/actswap/rewrite.go", 'code: exitNothingToDo, err: fmt.Errorf("no ReLU or GELU',
     'code: exitOK, err: fmt.Errorf("no ReLU or GELU', ["-run", "Exit", "./cmd/actswap"]),
    ("pad-planes", "internal/gemm/kernel_amd64.go", "load := uint16((1<<iw - 1) << left)", "load := uint16(1<<iw - 1)",
     ["-run", "PadPlanes", "./internal/gemm"]),
    ("gather-lead-tiles", "internal/gemm/gather.go", "return lead, t * lead", "return lead, t * gatherMR",
     ["-run", "SgemmGather", "./internal/gemm"]),
    ("planes-whole-block", "runtime/ops/conv_gather.go", "t.finish(dst[m0*t.pixels:m1*t.pixels], residual, m0*t.pixels)",
     "t.finish(dst[m0*t.pixels:m1*t.pixels], residual, 0)", ["-run", "ConvGatherLowering", "./runtime/ops"]),
    ("gather-chunks", "runtime/ops/conv_gather.go", "t.src[(img*t.count+s0-t.first)*t.channels+m0:]", "t.src[(img*t.count+s0)*t.channels+m0:]",
     ["-run", "ConvGatherLowering", "./runtime/ops"]),
    ("gather-class-started", "internal/gemm/gather.go", "started := taps[0].From < p0", "started := false",
     ["-run", "SgemmGatherClasses", "./internal/gemm"]),
    ("gather-skip-taps", "runtime/ops/conv_gather.go", "add(base+(ky*kw+x[0])*n, base+(ky*kw+x[1])*n)", "add(base+(ky*kw+x[0])*n, base+(ky*kw+x[1])*n-1)",
     ["-run", "ConvGatherSkipsPadding", "./runtime/ops"]),
    ("gather-tap-blocks", "runtime/ops/conv_gather.go", "return b0*s.kSize + t*min(s.tapBlock, s.cg()-b0) + c - b0",
     "return b0*s.kSize + t*s.tapBlock + c - b0", ["-run", "ConvGatherSkipsPadding", "./runtime/ops"]),
    ("few-rows-threads", "internal/gemm/gemm.go", "threadsForWork(max(ceilDiv(j.m, mr)*mr, bStreamRows)*j.n*max(j.k, 1), threads)",
     "threadsForWork(ceilDiv(j.m, mr)*mr*j.n*max(j.k, 1), threads)", ["-run", "FewRowsSplitOverColumns", "./internal/gemm"]),
    ("pad-bands", "runtime/ops/conv_gather.go", "if band == p.bands-1 {", "if band == p.bands {",
     ["-run", "PadPlanesBands", "./runtime/ops"]),
    ("image-split-work", "runtime/ops/conv_gather.go", "const minImageSplitWork = 1 << 19", "const minImageSplitWork = 1 << 16",
     ["-run", "ConvImageSplit", "./runtime/ops"]),
    ("units-bytes", "runtime/ops/conv_gather.go", "const unitsBytes = 1 << 20", "const unitsBytes = 256 << 10",
     ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("units-fewer", "runtime/ops/conv_gather.go", "for per := gatherUnitsPerThread; per >= 1; per-- {",
     "for per := gatherUnitsPerThread; per >= gatherUnitsPerThread; per-- {", ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("units-span", "runtime/ops/conv_gather.go", "unit >= transposeSpan && unit < s.outSize", "unit >= 6 && unit < s.outSize",
     ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("transpose-relu", "internal/gemm/kernel_amd64.go", "transpose8x8BiasRelu(blocks, &dst[0], ldd, &src[0], lds, &bias[0])",
     "transpose8x8Bias(blocks, &dst[0], ldd, &src[0], lds, &bias[0])", ["-run", "TransposeEpilogue", "./internal/gemm"]),
    ("planes-whole-epilogue", "runtime/ops/conv_gather.go", "whole := t.act == nil || t.relu", "whole := t.act == nil",
     ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("fuse-relu", "runtime/optimize_activation.go", "if rf, ok := k.(ops.ReluFuser); ok && relu {",
     "if rf, ok := k.(ops.ReluFuser); ok && !relu {", ["-run", "ConvReluFusion", "./runtime"]),
    ("thread-clock", "internal/workers/threadclock_linux.go", "const clockThreadCPUTimeID = 3", "const clockThreadCPUTimeID = 1",
     ["-run", "ThreadCPU", "./internal/workers"]),
    ("gather-units", "runtime/ops/conv_gather.go", "p0, p1 := i*u.unit, min((i+1)*u.unit, u.s.outSize)",
     "p0, p1 := i*u.unit, min((i+1)*u.unit, u.s.outSize-1)", ["-run", "ConvGatherEpilogueOnThreads", "./runtime/ops"]),
    ("threads-per-work", "internal/gemm/gemm.go", "minFlopsPerThread = 1 << 18", "minFlopsPerThread = 1 << 20",
     ["-run", "SmallProductsSplit", "./internal/gemm"]),
    ("path-schedule", "internal/workers/path_on.go", "first := slices.Index(free, slices.Min(free))",
     "first := 0", ["-tags", "workerpath", "-run", "Makespan|PathClock", "./internal/workers"]),
    ("plane-scalar-rows", "runtime/ops/binary.go", "floatRowVS(op, out[o:o+inner], a[o:o+inner], b[r])",
     "floatRowVS(op, out[o:o+inner], a[o:o+inner], b[r-lo])", ["-run", "ArithPerPlaneScalar", "./runtime/ops"]),
    ("small-pointwise-gather", "runtime/ops/conv_gather.go", "(s.outSize <= 7*7 && depth >= 32)",
     "(s.outSize <= 7*7 && depth >= 128)", ["-run", "ConvPointwiseSmallImages", "./runtime/ops"]),
    ("gather-plan-bounds", "internal/gemm/gather_plan.go", "lo, hi := offsets[0], offsets[len(offsets)-1]", "lo, hi := offsets[0], offsets[0]",
     ["-run", "GatherPlanRefuses", "./internal/gemm"]),
    ("gather-plan-range", "internal/gemm/gather_plan.go", "hi, _ := slices.BinarySearch(index, r1)", "hi, _ := len(index), 0",
     ["-run", "SgemmGatherPlanned", "./internal/gemm"]),
    ("gather-plan-copy", "internal/gemm/gather_plan.go", "p.rows, p.cols, p.class = slices.Clone(rows),",
     "p.rows, p.cols, p.class = rows,", ["-run", "GatherPlanRefuses", "./internal/gemm"]),
    ("gather-plan-class-bounds", "internal/gemm/gather_plan.go", "p.classLo[c], p.classHi[c] = min(p.classLo[c], lo), max(p.classHi[c], hi)",
     "p.classLo[c], p.classHi[c] = min(p.classLo[c], lo), p.classHi[c]", ["-run", "GatherPlanRefuses", "./internal/gemm"]),
    ("gather-in-place", "runtime/ops/conv_gather.go", "groupExact = groupExact && w == window{y, x}", "groupExact = true",
     ["-run", "ConvGatherSkipsPadding", "./runtime/ops"]),
    ("gather-in-place-corner", "runtime/ops/conv_gather.go", "ph, pw, top, left = s.in[0], s.in[1], s.padBegin[0], s.padBegin[1]",
     "ph, pw, top, left = s.in[0], s.in[1], 0, s.padBegin[1]", ["-run", "ConvGatherSkipsPadding", "./runtime/ops"]),
    ("expand-parts", "runtime/ops/conv_expand_depthwise.go", "blk0, blk1 := p*blocks/j.parts, (p+1)*blocks/j.parts",
     "blk0, blk1 := p*blocks/j.parts, max(p*blocks/j.parts+1, (p+1)*blocks/j.parts-1)", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("expand-rows-in-place", "runtime/ops/conv_expand_depthwise.go", "bandX := j.xv[b*s1.c*s1.inSize+yf*iw:]",
     "bandX := j.xv[b*s1.c*s1.inSize+yf*iw+iw:]", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("expand-rows-in-place-end", "runtime/ops/conv_expand_depthwise.go", "ceilDivInt(fresh, gemm.PanelWidth)*gemm.PanelWidth <= len(bandX)",
     "fresh <= len(bandX)", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("expand-rows-in-place-gather", "runtime/ops/conv_expand_depthwise.go", "&& len(s1.planeOffsets()) == s1.c", "",
     ["-run", "TestExpandDepthwiseFusion", "./runtime"]),
    ("expand-carried-rows", "runtime/ops/conv_expand_depthwise.go", "copy(band[ch*n:ch*n+carried*iw]",
     "copy(band[ch*n:ch*n+0*iw]", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("expand-carried-from", "runtime/ops/conv_expand_depthwise.go", "at := ch*prevN + (y0-prevY0)*iw",
     "at := ch*prevN + (y0-prevY0)*iw - min(1, ch)*iw", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("expand-part-rows", "runtime/ops/conv_expand_depthwise.go", "oyLo, oyHi = p*s2.out[0]/j.parts, (p+1)*s2.out[0]/j.parts",
     "oyLo, oyHi = p*s2.out[0]/j.parts, (p+1)*s2.out[0]/j.parts-1", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("expand-part-weights", "runtime/ops/conv_expand_depthwise.go", "k.pw.constW.F32()[c0*kk:c1*kk]",
     "k.pw.constW.F32()[:(c1-c0)*kk]", ["-run", "ExpandDepthwiseParts", "./runtime/ops"]),
    ("depthwise-band-epilogue", "runtime/ops/conv_depthwise_blocked.go", "at := (plane0+c)*s.outSize + oy0*ow",
     "at := (plane0+c)*s.outSize + 0*oy0*ow", ["-run", "ConvDepthwisePartialBlockEpilogue", "./runtime/ops"]),
    ("gemv-four-panels", "internal/gemm/kernel_amd64.go", "kernel4x1x16RowZ(k, &a[0], &b[0], 4*k*nr, &c[0], accumulate)",
     "kernel4x1x16RowZ(k, &a[0], &b[0], 4*k*(nr-1), &c[0], accumulate)", ["-run", "TestSgemm|TestDirectTiles|TestFewRows", "./internal/gemm"]),
    ("gemv-four-panels-step", "internal/gemm/gemm.go", "\t\t\treturn 4 * nr", "\t\t\treturn 2 * nr",
     ["-run", "TestSgemm|TestDirectTiles|TestFewRows", "./internal/gemm"]),
    ("depthwise-row-overlap", "runtime/ops/conv_depthwise_blocked.go", "dst[(n-blockedGroup)*cb:], src[n-blockedGroup:]",
     "dst[(n-blockedGroup)*cb:], src[n-blockedGroup+1:]", ["-run", "ConvDepthwisePartialBlockEpilogue", "./runtime/ops"]),
    ("depthwise-band-items", "runtime/ops/conv_depthwise_blocked.go", "job, band := item/l.bands, item%l.bands",
     "job, band := item/l.bands, item%l.bands/2", ["-run", "ConvDepthwisePartialBlockEpilogue", "./runtime/ops"]),
    ("depthwise-tail-band", "runtime/ops/conv_depthwise_blocked.go",
     "from := (cb-channels+c)*s.outSize + oy0*ow", "from := (cb-channels+c)*s.outSize", ["-run", "ConvDepthwisePartialBlockEpilogue", "./runtime/ops"]),
    ("depthwise-even-bands", "runtime/ops/conv_depthwise_blocked.go", "\t\tl.bands++", "\t\tl.bands += 0",
     ["-run", "ConvDepthwisePartialBlockEpilogue", "./runtime/ops"]),
    ("epilogue-biased-row", "internal/gemm/gemm.go", "ep.BiasedElementwise(row, ep.Bias[i])",
     "ep.BiasedElementwise(row, ep.Bias[i0])", ["-run", "TestEpilogueBiasedElementwise", "./internal/gemm"]),
    ("silu-bias-scalar", "internal/vecmath/vecmath.go", "dst[i] = siluScalar(v + b)", "dst[i] = siluScalar(v)",
     ["-run", "TestBiasedKernels", "./internal/vecmath"]),
    ("silu-bias-avx512", "internal/vecmath/vecmath_amd64.s",
     "\tJB            siluBiasAVX512_single\n\tVMOVUPS       (CX), Z11\n\tVMOVUPS       64(CX), Z12\n\tVADDPS        Z0, Z11, Z11\n",
     "\tJB            siluBiasAVX512_single\n\tVMOVUPS       (CX), Z11\n\tVMOVUPS       64(CX), Z12\n\tVADDPS        Z0, Z12, Z11\n",
     ["-run", "TestBiasedKernels", "./internal/vecmath"]),
    ("biased-activation-fusion", "runtime/optimize_activation.go", "\t\t\tfuseBiased(fuser, o.g.nodes[i].kernel)\n", "\n",
     ["-run", "TestConvBiasedActivationFusion", "./runtime"]),
    ("bench-settle", "bench/sidebyside.go", "		time.Sleep(settle)\n		y, err := b()", "		y, err := b()",
     ["-run", "Settle", "./bench"]),
]


def main():
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=True).stdout.strip()
    wanted = set(sys.argv[1:])
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    escaped = []
    with tempfile.TemporaryDirectory(prefix="actswap-mutation-") as tmp:
        # The copy sits beside ../shared's real location through a link, so shared-data tests run.
        copy = os.path.join(tmp, "repo")
        for f in files:
            if f and os.path.isfile(os.path.join(root, f)):
                os.makedirs(os.path.dirname(os.path.join(copy, f)), exist_ok=True)
                shutil.copy2(os.path.join(root, f), os.path.join(copy, f))
        shared = os.path.join(os.path.dirname(root), "shared")
        if os.path.isdir(shared):
            os.symlink(shared, os.path.join(tmp, "shared"))
        if os.path.exists(os.path.join(root, ".tools")):
            os.symlink(os.path.realpath(os.path.join(root, ".tools")), os.path.join(copy, ".tools"))
        for name, path, old, new, args in MUTATIONS:
            if wanted and name not in wanted:
                continue
            target = os.path.join(copy, path)
            src = open(target).read()
            if src.count(old) != 1:
                sys.exit(f"{name}: {path} holds {old!r} {src.count(old)} times, not once: update the mutation")
            open(target, "w").write(src.replace(old, new))
            try:
                res = subprocess.run(["go", "test", "-count=1", *args], cwd=copy, capture_output=True, text=True,
                                     timeout=900)
                if "[build failed]" in res.stdout or "[setup failed]" in res.stdout:
                    sys.exit(f"{name}: the mutated code does not build: fix the mutation\n{res.stdout}{res.stderr}")
                caught = res.returncode != 0
                detail = next((l.strip() for l in res.stdout.splitlines()
                               if l.strip().startswith("--- FAIL")), res.stdout.strip().splitlines()[-1:] or "")
            except subprocess.TimeoutExpired:
                caught, detail = True, "timed out (counts as caught)"
            finally:
                open(target, "w").write(src)
            print(f"{'caught ' if caught else 'ESCAPED'}  {name:10} {path}: {old!r} -> {new!r}  [{detail}]", flush=True)
            if not caught:
                escaped.append(name)
    if escaped:
        sys.exit(f"mutations no test caught: {', '.join(escaped)}")


if __name__ == "__main__":
    main()
