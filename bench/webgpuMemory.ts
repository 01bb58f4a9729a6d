/**
 * `npm run bench:webgpu-memory`: resident memory of a long stretch of GPU work in Node with and
 * without turns of the event loop. Runs `--rounds N` (default 40) sampling rounds of a policy of
 * the sentiment shape on the webgpu backend, first without yielding (as train-rm did), then with
 * one `setImmediate` turn after each round (as train, pretrain and train-rm do now), and prints
 * the resident set size (RSS) and V8 heap after each half. Flags: `--rows` (32), `--tokens` (8).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend, backendLine, describeBackend } from '../src/nn/backends/backend.js';
import { releaseWebgpu } from '../src/nn/backends/webgpu/webgpuBackend.js';
import { generate } from '../src/nn/generation/sampler.js';
import { Gpt } from '../src/nn/models/gpt.js';
import { Rng } from '../src/util/rng.js';
import { yieldToEventLoop } from '../src/util/eventLoop.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const ROUNDS = flag('--rounds', 40);
const ROWS = flag('--rows', 32);
const TOKENS = flag('--tokens', 8);

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

async function main(): Promise<void> {
  await selectBackend('webgpu');
  console.log(backendLine(describeBackend('webgpu')));
  const policy = Gpt.init({ vocabSize: 3000, contextLength: 48, width: 96, depth: 3, heads: 4 }, 1);
  const rng = new Rng(1);
  const prompts = Array.from({ length: ROWS }, () => Array.from({ length: 6 }, () => 2 + rng.int(2990)));
  const round = () => generate(policy, prompts, { maxNewTokens: TOKENS, eosId: 1, padId: 0, rng });
  round(); // warm-up: pipelines
  await yieldToEventLoop();
  const start = process.memoryUsage();
  console.log(
    `${ROUNDS} rounds of ${ROWS} rows x ${TOKENS} new tokens; start: rss ${mb(start.rss)}, heap ${mb(start.heapUsed)}`,
  );
  for (const yielding of [false, true]) {
    const before = process.memoryUsage().rss;
    let peak = before;
    const t0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) {
      round();
      if (yielding) await yieldToEventLoop();
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = process.memoryUsage();
    console.log(
      `${yielding ? 'yielding after each round' : 'no yield (one synchronous stretch)'}: rss ${mb(before)} -> peak ${mb(peak)}, heap ${mb(after.heapUsed)}, ${seconds.toFixed(1)} s`,
    );
    await yieldToEventLoop();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  policy.dispose();
  console.log(`tensors left: ${tf.memory().numTensors}`);
}

main()
  .catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  })
  .finally(releaseWebgpu);
