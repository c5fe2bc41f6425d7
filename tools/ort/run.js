// run.js runs one ONNX model in onnxruntime-node for actswap's differential tests
// (internal/ortref). Usage: node run.js <ort-dir> <model.onnx> <io-dir>
//
// <io-dir>/inputs.json lists the inputs as [{name, dtype, dims, file}], each file holding the raw
// little-endian elements (bool as one byte). The outputs are written the same way, to
// <io-dir>/outputs.json and <io-dir>/out_<i>.bin. One intra-op thread keeps runs reproducible.
// With a fourth argument "WARMUP,ITERS" it also times ITERS runs after WARMUP untimed ones and
// writes the per-run milliseconds to <io-dir>/timings.json (actswap bench --ort).
'use strict';
const fs = require('fs');
const path = require('path');

const [ortDir, modelPath, ioDir, benchSpec] = process.argv.slice(2);
if (!ortDir || !modelPath || !ioDir) {
  console.error('usage: node run.js <ort-dir> <model.onnx> <io-dir>');
  process.exit(2);
}
const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));

const arrays = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array, float16: Uint16Array,
};

function readTensor(spec) {
  const ctor = arrays[spec.dtype];
  if (!ctor) throw new Error(`input ${spec.name}: unsupported dtype ${spec.dtype}`);
  const buf = fs.readFileSync(path.join(ioDir, spec.file));
  // Copy into a fresh, aligned ArrayBuffer: Node's Buffer may sit at any offset of its pool.
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  let data = new ctor(ab);
  if (spec.dtype === 'float16' && typeof Float16Array !== 'undefined') data = new Float16Array(ab);
  return new ort.Tensor(spec.dtype, data, spec.dims);
}

async function main() {
  const specs = JSON.parse(fs.readFileSync(path.join(ioDir, 'inputs.json'), 'utf8'));
  const feeds = {};
  for (const s of specs) feeds[s.name] = readTensor(s);
  // benchSpec is "warmup,iters[,threads]": the intra-op thread count matches the other side's.
  const threads = benchSpec ? (Number(benchSpec.split(',')[2]) || 1) : 1;
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const results = await session.run(feeds);
  if (benchSpec) {
    const [warmup, iters] = benchSpec.split(',').map(Number); // threads: see above
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < iters; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    fs.writeFileSync(path.join(ioDir, 'timings.json'), JSON.stringify(times));
  }
  const out = [];
  session.outputNames.forEach((name, i) => {
    const t = results[name];
    const data = t.data;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const file = `out_${i}.bin`;
    fs.writeFileSync(path.join(ioDir, file), bytes);
    out.push({ name, dtype: t.type, dims: t.dims.map(Number), file });
  });
  fs.writeFileSync(path.join(ioDir, 'outputs.json'), JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.message ? e.message : String(e));
  process.exit(1);
});
