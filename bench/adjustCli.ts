/**
 * `npm run bench:adjust-cli`: throughput and peak memory of the `grpovi adjust` process on 10^6 and
 * 10^7 short lines (`{"rewards":[0.66,0.3,0.63,1]}`, about 33 bytes), written to a temporary file.
 * The baseline, run in the same session on the same file, is the least a streaming JSON Lines filter
 * in Node does: read lines (node:readline), JSON.parse each, JSON.stringify an answer of the same
 * shape, write it to a file. Goals: at least 500,000 lines/s and under 200 MB peak RSS at any size.
 *
 *   npm run bench:adjust-cli                    # 10^6 and 10^7 lines
 *   npm run bench:adjust-cli -- --lines 1e5,1e6 # other sizes
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`) when present, else from sampling the child's
 * VmHWM in /proc every 20 ms (Linux). With GNU time the table also gives adjust's CPU time (user +
 * system), which other load on the machine changes much less than the wall time.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/util/rng.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'bin.js');
const GNU_TIME = '/usr/bin/time';
const SEED = 20261201;

const BASELINE_SCRIPT = `
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
const [input, output] = process.argv.slice(2);
const out = createWriteStream(output);
let text = '';
for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
  if (line === '') continue;
  const { rewards } = JSON.parse(line);
  text += JSON.stringify({ adjusted: rewards, variance_before: rewards[0] / 3, variance_after: rewards[1] / 7 }) + '\\n';
  if (text.length > 65536) {
    if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
    text = '';
  }
}
out.end(text);
`;

/** Short lines of four rewards with two decimals, as a reward model's rounded scores. */
function writeInput(path: string, lines: number): void {
  const rng = Rng.derive(SEED, `lines-${lines}`);
  const fd = openSync(path, 'w');
  const reward = (): number => Math.round(rng.uniform() * 100) / 100;
  let text = '';
  for (let i = 0; i < lines; i++) {
    text += `{"rewards":[${reward()},${reward()},${reward()},${reward()}]}\n`;
    if (text.length > 1 << 20) {
      writeSync(fd, text);
      text = '';
    }
  }
  writeSync(fd, text);
  closeSync(fd);
}

interface Measured {
  seconds: number;
  peakMb: number;
  /** User + system CPU seconds (GNU time only). */
  cpuSeconds: number | undefined;
}

/** Runs `node ...args`, returns its wall time and peak RSS; fails on a non-zero exit. */
function measure(args: string[], stdoutPath: string | undefined, work: string): Promise<Measured> {
  const useTime = existsSync(GNU_TIME);
  const timeFile = join(work, 'time.txt');
  const command = useTime ? GNU_TIME : process.execPath;
  const commandArgs = useTime ? ['-f', '%M %U %S', '-o', timeFile, process.execPath, ...args] : args;
  const stdout = stdoutPath === undefined ? 'ignore' : openSync(stdoutPath, 'w');
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(command, commandArgs, { stdio: ['ignore', stdout, 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let sampledKb = 0;
    const sampler = useTime
      ? undefined
      : setInterval(() => {
          try {
            const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
            const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
            if (hwm !== null) sampledKb = Math.max(sampledKb, Number(hwm[1]));
          } catch {
            // The process has just ended.
          }
        }, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - began) / 1e3;
      if (sampler !== undefined) clearInterval(sampler);
      if (typeof stdout === 'number') closeSync(stdout);
      if (code !== 0) {
        reject(new Error(`node ${args.join(' ')} exited with ${code}: ${stderr}`));
        return;
      }
      if (!useTime) {
        resolve({ seconds, peakMb: sampledKb / 1024, cpuSeconds: undefined });
        return;
      }
      const [kb, user, system] = (readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '')
        .split(' ')
        .map(Number);
      resolve({ seconds, peakMb: kb / 1024, cpuSeconds: user + system });
    });
  });
}

/** The 1, 5 and 15 minute load averages: figures taken under load are not the machine's own. */
function loadText(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

function parseSizes(argv: string[]): number[] {
  const at = argv.indexOf('--lines');
  const text = at === -1 ? '1e6,1e7' : argv[at + 1];
  const sizes = (text ?? '').split(',').map(Number);
  if (sizes.length === 0 || !sizes.every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw new Error(`--lines must be a comma-separated list of line counts, e.g. 1e6,1e7 (${text})`);
  }
  return sizes;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const sizes = parseSizes(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'grpovi-bench-adjust-'));
  try {
    const baselineScript = join(work, 'baseline.mjs');
    writeFileSync(baselineScript, BASELINE_SCRIPT);
    console.log(
      `grpovi adjust FILE --min 0 --max 1 --out OUT vs a plain streaming JSON Lines filter (same file)`,
    );
    console.log(`peak RSS from ${existsSync(GNU_TIME) ? 'GNU time' : '/proc/PID/status VmHWM sampling'}`);
    console.log(`load average at the start: ${loadText()}`);
    console.log('');
    const header = [
      'lines',
      'input MB',
      'adjust s',
      'adjust CPU s',
      'adjust lines/s',
      'adjust peak MB',
      'baseline s',
      'baseline peak MB',
      'time adjust/baseline',
    ];
    console.log(`| ${header.join(' | ')} |`);
    console.log(`|${header.map((h) => `${'-'.repeat(h.length + 1)}:`).join('|')}|`);
    const rows: Array<{ lines: number; rate: number; peakMb: number }> = [];
    for (const lines of sizes) {
      const input = join(work, `in-${lines}.jsonl`);
      const output = join(work, `out-${lines}.jsonl`);
      writeInput(input, lines);
      const inputMb = statSync(input).size / 2 ** 20;
      // Alternate, so that neither always runs on a warmer page cache.
      const baseline = await measure([baselineScript, input, output], undefined, work);
      rmSync(output, { force: true });
      const adjust = await measure(
        [CLI, 'adjust', input, '--min', '0', '--max', '1', '--out', output],
        undefined,
        work,
      );
      rmSync(output, { force: true });
      rmSync(input, { force: true });
      const rate = lines / adjust.seconds;
      rows.push({ lines, rate, peakMb: adjust.peakMb });
      const cells = [
        lines.toExponential(0).replace('e+', 'e'),
        inputMb.toFixed(0),
        adjust.seconds.toFixed(2),
        adjust.cpuSeconds === undefined ? '-' : adjust.cpuSeconds.toFixed(2),
        Math.round(rate).toString(),
        adjust.peakMb.toFixed(0),
        baseline.seconds.toFixed(2),
        baseline.peakMb.toFixed(0),
        (adjust.seconds / baseline.seconds).toFixed(2),
      ];
      console.log(`| ${cells.map((c, k) => c.padStart(header[k].length)).join(' | ')} |`);
    }
    console.log(`load average at the end: ${loadText()}`);
    const slowest = Math.min(...rows.map((r) => r.rate));
    const largest = Math.max(...rows.map((r) => r.peakMb));
    console.log('');
    console.log(
      `goal: >= 500000 lines/s and < 200 MB at every size; measured >= ${Math.round(slowest)} lines/s, <= ${largest.toFixed(0)} MB (${slowest >= 5e5 && largest < 200 ? 'met' : 'NOT met'})`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
