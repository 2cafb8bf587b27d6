'use strict';
// Runs exported ONNX models with onnxruntime-node, a runtime independent of LibTorch and of nasc's own code:
//   node run.js MODEL.onnx INPUT.json OUTPUT.json [MODEL.onnx INPUT.json OUTPUT.json ...]
// INPUT and OUTPUT hold {"shape": [N, ...], "data": [row-major fp32 values]}. Several triples share one process,
// because starting node and loading the runtime costs more than the models. Any failure exits non-zero.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function runOne(model, input, output) {
  const x = JSON.parse(fs.readFileSync(input, 'utf8'));
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) };
  const y = (await session.run(feeds))[session.outputNames[0]];
  fs.writeFileSync(output, JSON.stringify({ shape: y.dims, data: Array.from(y.data) }));
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.length % 3 !== 0) {
    throw new Error('usage: node run.js MODEL.onnx INPUT.json OUTPUT.json [MODEL INPUT OUTPUT ...]');
  }
  for (let i = 0; i < args.length; i += 3) await runOne(args[i], args[i + 1], args[i + 2]);
}

main().catch((e) => {
  console.error(`run.js: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
