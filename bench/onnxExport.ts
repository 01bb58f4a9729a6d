/**
 * `npm run bench:onnx-export`: what the ONNX export costs and how fast transformers.js runs the
 * result, at distilgpt2's and SmolLM2-135M's shapes with random weights (nothing is downloaded).
 *
 * Baselines measured in the same run: writing the same weights as model.safetensors (the export's
 * other big file) for the ONNX encoding, and grpovi's own KV-cached greedy sampling of the same model
 * on the wasm backend for transformers.js's greedy `generate` (onnxruntime-node, CPU). Both continue
 * one prompt of `--prompt-tokens N` (16) by `--new-tokens N` (16) tokens; the token lists must match.
 * Times are the best of `--runs N` (2) after a warm-up. `--only gpt2|smollm2` runs one shape.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { selectBackend } from '../src/nn/backends/backend.js';
import type { HfDecoderConfig } from '../src/nn/models/hfConfig.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import { hfFolderFiles, writeFolderAtomic } from '../src/nn/weights/hfFolder.js';
import { onnxCausalLm } from '../src/nn/weights/onnxExport.js';
import { encodeSafetensors } from '../src/nn/weights/safetensors.js';
import { generate } from '../src/nn/generation/sampler.js';
import { Rng } from '../src/util/rng.js';
import { DISTILGPT2, SMOLLM2_135M } from './hfShapes.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const PROMPT_TOKENS = flag('--prompt-tokens', 16);
const NEW_TOKENS = flag('--new-tokens', 16);
const RUNS = flag('--runs', 2);
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

const SHAPES: [string, string, HfDecoderConfig][] = [
  ['gpt2', 'distilgpt2 shape', DISTILGPT2],
  ['smollm2', 'SmolLM2-135M shape', SMOLLM2_135M],
];

async function best<T>(run: () => T | Promise<T>): Promise<{ seconds: number; value: T }> {
  let value = await run(); // warm-up
  let seconds = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    value = await run();
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  return { seconds, value };
}

async function main(): Promise<void> {
  const backend = await selectBackend('wasm');
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.useFSCache = false;
  console.log(
    `ONNX export and transformers.js greedy generate: ${PROMPT_TOKENS} prompt + ${NEW_TOKENS} new tokens; ` +
      `grpovi on ${backend}; best of ${RUNS} after a warm-up`,
  );
  for (const [key, name, config] of SHAPES) {
    if (ONLY !== undefined && ONLY !== key) continue;
    const model = HfDecoder.init(config, 1, { trainable: false });
    const tensors = model.toHfTensors();
    const safetensors = await best(() => encodeSafetensors(tensors, { format: 'pt' }));
    const onnx = await best(() => onnxCausalLm(config, tensors, { producerVersion: 'bench' }));
    const size = onnx.value.files['onnx/model.onnx'].byteLength / 2 ** 20;
    console.log(
      `${name}: ONNX graph ${size.toFixed(0)} MiB in ${onnx.seconds.toFixed(2)} s; ` +
        `safetensors ${(safetensors.value.byteLength / 2 ** 20).toFixed(0)} MiB in ${safetensors.seconds.toFixed(2)} s; ` +
        `ONNX / safetensors time ${(onnx.seconds / safetensors.seconds).toFixed(2)}`,
    );

    const rng = new Rng(7);
    const prompt = Array.from({ length: PROMPT_TOKENS }, () => rng.int(config.vocabSize));
    const ours = await best(() => {
      const gen = generate(model, [prompt], {
        maxNewTokens: NEW_TOKENS,
        eosId: -1,
        padId: 0,
        rng: new Rng(0),
        topK: 1,
      });
      return Array.from(gen.tokens.subarray(0, gen.lengths[0]));
    });

    const root = mkdtempSync(join(tmpdir(), 'grpovi-onnx-bench-'));
    const folder = join(root, key);
    try {
      writeFolderAtomic(
        folder,
        hfFolderFiles(config, tensors, { sideFiles: {}, onnx: { producerVersion: 'bench' } }),
      );
      t.env.localModelPath = `${dirname(folder)}/`;
      const loadStart = performance.now();
      const theirs = await t.AutoModelForCausalLM.from_pretrained(basename(folder), { device: 'cpu' });
      const load = (performance.now() - loadStart) / 1000;
      const ids = new t.Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, PROMPT_TOKENS]);
      const mask = new t.Tensor('int64', new BigInt64Array(PROMPT_TOKENS).fill(1n), [1, PROMPT_TOKENS]);
      const js = await best(async () => {
        const out = (await theirs.generate({
          input_ids: ids,
          attention_mask: mask,
          max_new_tokens: NEW_TOKENS,
          min_new_tokens: NEW_TOKENS,
          do_sample: false,
        })) as { tolist(): bigint[][] };
        return out.tolist()[0].slice(PROMPT_TOKENS).map(Number);
      });
      await theirs.dispose();
      const same = JSON.stringify(js.value) === JSON.stringify(ours.value);
      console.log(
        `${name}: greedy ${NEW_TOKENS} tokens: transformers.js ${js.seconds.toFixed(2)} s (load ${load.toFixed(2)} s), ` +
          `grpovi ${ours.seconds.toFixed(2)} s; transformers.js / grpovi ${(js.seconds / ours.seconds).toFixed(2)}; ` +
          `same tokens: ${same ? 'yes' : 'NO'}`,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
      model.dispose();
    }
  }
}

await main();
