import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RewardFunctionError, scoreCompletions } from '../../src/rewards/rewardFunction.js';
import { distinctNames, loadRewardModule } from '../../src/rewards/rewardModule.js';
import { UserFileError } from '../../src/util/userFileError.js';
import { tempDir } from '../train/helpers.js';

const { dir, cleanup } = tempDir('reward-modules');
afterAll(cleanup);
let count = 0;

/** Writes a module with this source and returns its path (a fresh name each time: imports are cached). */
function module(source: string, ext = 'mjs'): string {
  const path = join(dir, `reward-${count++}.${ext}`);
  writeFileSync(path, source);
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('loadRewardModule', () => {
  it('takes a default-exported function with its range and rewardName, called as fn(prompts, completions, rows)', async () => {
    const path = module(`
      export default function exact(prompts, completions, rows) {
        return completions.map((c, i) => (c.trim() === String(rows[i].answer) ? 1 : 0));
      }
      exact.range = [0, 1];
      exact.rewardName = 'exact_answer';
    `);
    const { fn, weight } = await loadRewardModule(path, 0.5);
    expect(weight).toBe(0.5);
    expect(fn.name).toBe('exact_answer');
    expect(fn.range).toEqual([0, 1]);
    const rows = [
      { prompt: '2+2=', answer: 4 },
      { prompt: '3+3=', answer: '6' },
    ];
    const scores = await scoreCompletions([{ fn, weight: 2 }], ['2+2=', '3+3='], [' 4', '7'], rows);
    expect([...scores.byFunction.get('exact_answer')!]).toEqual([1, 0]);
    expect([...scores.total]).toEqual([2, 0]);
  });

  it('names a function without rewardName by its own name, an anonymous one by its file; async works', async () => {
    const named = module(
      'export default async function lengthReward(p, c) { return c.map((x) => x.length); }',
    );
    const { fn } = await loadRewardModule(named, 1);
    expect(fn.name).toBe('lengthReward');
    expect(fn.range).toBeUndefined();
    expect(await fn.score(['a'], ['abc'])).toEqual([3]);
    const anonymous = module('export default (p, c) => c.map(() => 0);');
    expect((await loadRewardModule(anonymous, 1)).fn.name).toBe(
      anonymous.split('/').at(-1)!.replace('.mjs', ''),
    );
  });

  it('takes an exported object { name, range, score }', async () => {
    const path = module(`export default { name: 'half', range: [0, 1], score: (p, c) => c.map(() => 0.5) };`);
    const { fn } = await loadRewardModule(path, 1);
    expect(fn.name).toBe('half');
    expect(await fn.score(['a', 'b'], ['x', 'y'])).toEqual([0.5, 0.5]);
  });

  it('refuses a missing module, one without a usable export, one that throws on import, and a bad range', async () => {
    const missing = join(dir, 'nope.mjs');
    const e1 = await rejection(loadRewardModule(missing, 1));
    expect(e1).toBeInstanceOf(UserFileError);
    expect(e1.message).toBe(`${missing}: reward module not found (no such file)`);
    const noDefault = module('export const score = () => [];');
    expect((await rejection(loadRewardModule(noDefault, 1))).message).toBe(
      `${noDefault}: the default export must be a function (prompts, completions, rows) => number[] or an object { name, range?, score } (no default export)`,
    );
    const objectWithoutScore = module('export default { name: "x" };');
    expect((await rejection(loadRewardModule(objectWithoutScore, 1))).message).toMatch(
      /\(an object with keys \["name"\]\)$/,
    );
    const throws = module('throw new Error("database is down");');
    expect((await rejection(loadRewardModule(throws, 1))).message).toBe(
      `${throws}: reward module failed to load: database is down`,
    );
    const syntax = module('export default (p, c) => ;');
    expect((await rejection(loadRewardModule(syntax, 1))).message).toMatch(
      new RegExp(`^${syntax}: reward module failed to load: `),
    );
    const badRange = module('const f = (p, c) => c.map(() => 0); f.range = [1, 0]; export default f;');
    expect((await rejection(loadRewardModule(badRange, 1))).message).toBe(
      `${badRange}: "range" must be [min, max] with finite min < max ([1,0])`,
    );
  });

  it('gives two functions with one name distinct names', async () => {
    const path = module(`export default { name: 'same', score: (p, c) => c.map(() => 1) };`);
    const one = await loadRewardModule(path, 1);
    expect(distinctNames([one, one]).map((r) => r.fn.name)).toEqual(['same', 'same_2']);
  });
});

describe('scoreCompletions with a module that returns something unusable', () => {
  const cases: [string, string, RegExp][] = [
    ['the wrong count', 'return [1];', /^reward function "bad" returned 1 scores for 2 completions$/],
    [
      'NaN',
      'return c.map(() => NaN);',
      /^reward function "bad" returned NaN for sample 0 \(prompt "p0", completion "c0"\): scores must be finite numbers$/,
    ],
    [
      'a value outside its range',
      'return c.map(() => 1.5);',
      /returned 1\.5, outside its declared range \[0, 1\], for sample 0/,
    ],
    [
      'strings',
      "return c.map(() => '0.5');",
      /^reward function "bad" returned a string \("0\.5"\) for sample 0/,
    ],
    ['null', 'return c.map(() => null);', /returned null for sample 0/],
    ['no array', 'return 3;', /^reward function "bad" must return an array of numbers \(it returned 3\)$/],
    ['undefined', 'return undefined;', /must return an array of numbers \(it returned undefined\)$/],
  ];
  for (const [what, body, message] of cases) {
    it(`names the function and the problem: ${what}`, async () => {
      const path = module(`const bad = (p, c) => { ${body} }; bad.range = [0, 1]; export default bad;`);
      const reward = await loadRewardModule(path, 1);
      const error = await rejection(scoreCompletions([reward], ['p0', 'p1'], ['c0', 'c1'], [{}, {}]));
      expect(error).toBeInstanceOf(RewardFunctionError);
      expect(error.message).toMatch(message);
    });
  }

  it('names the sample and the message when the function throws', async () => {
    const path = module(
      `export default (p, c, rows) => c.map((x, i) => { if (rows[i].bad) throw new Error('no answer'); return 0; });`,
    );
    const reward = await loadRewardModule(path, 1);
    const error = await rejection(
      scoreCompletions([reward], ['p0', 'p1'], ['c0', 'c1'], [{}, { bad: true }]),
    );
    expect(error.message).toMatch(/threw on sample 1 \(prompt "p1", completion "c1"\): no answer$/);
  });
});
