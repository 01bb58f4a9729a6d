import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { folderFiles, modelFolderKind } from '../../src/playground/page/folder.js';
import { parsePromptFile } from '../../src/tasks/sources/promptFile.js';
import { EXAMPLE_REWARD } from '../../src/playground/page/reward.js';
import { crc32, zipFiles } from '../../src/playground/page/zip.js';
import { rewardFunctionOf } from '../../src/rewards/rewardExport.js';
import { readPromptFile } from '../../src/tasks/sources/promptFileReader.js';
import { UserFileError } from '../../src/util/userFileError.js';

// The page reads the user's files from their text (the browser has no paths); it must read them as
// `grpovi train` does. Each prompts case runs both readers on the same bytes and compares records or
// errors. (Reward modules are read by the CLI's own rewardExport.ts in the page.)

const dir = mkdtempSync(join(tmpdir(), 'grpovi-playground-page-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a reader gives: its records, or its error's class and message. */
function outcome<T>(read: () => T): T | { error: string; message: string } {
  try {
    return read();
  } catch (error) {
    return { error: (error as Error).name, message: (error as Error).message };
  }
}

const PROMPT_FILES: [string, string][] = [
  ['p.jsonl', '{"prompt": "two plus two", "answer": "4", "tags": ["a"]}\n\n{"prompt": "x", "answer": 7}\n'],
  ['p.txt', 'first one\r\n\r\nsecond\n'],
  ['bom.txt', '\uFEFFa prompt\n'],
  ['p.json', '{"prompt": "json extension is JSON Lines"}\n'],
  ['upper.JSONL', '{"prompt": "case"}\n'],
  ['chat.jsonl', '{"prompt": [{"role": "user", "content": "hi"}], "k": 1}\n'],
  ['bad.jsonl', '{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": nope}\n'],
  ['dup.jsonl', '{"prompt": "a", "prompt": "b"}\n'],
  ['array.jsonl', '[1, 2]\n'],
  ['missing.jsonl', '{"question": "where is the prompt?"}\n'],
  ['number.jsonl', '{"prompt": 12}\n'],
  ['empty-prompt.jsonl', '{"prompt": "  "}\n'],
  ['empty-list.jsonl', '{"prompt": []}\n'],
  ['bad-message.jsonl', '{"prompt": [{"role": "user"}]}\n'],
  ['not-object-message.jsonl', '{"prompt": ["hello"]}\n'],
  ['mixed.jsonl', '\n{"prompt": "text"}\n{"prompt": [{"role": "user", "content": "hi"}]}\n'],
  ['empty.txt', '\n  \n'],
  ['empty.jsonl', ''],
  ['deep.jsonl', `{"prompt": "a", "x": ${'['.repeat(70)}${']'.repeat(70)}}\n`],
];

describe('a prompts file parsed from its text (the page) and read from disk (grpovi train)', () => {
  it.each(PROMPT_FILES)('%s: the same records or the same error', (name, text) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    const page = outcome(() => parsePromptFile(text, path));
    expect(page).toEqual(outcome(() => readPromptFile(path)));
  });

  it('agrees on random JSON Lines too', () => {
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 2 }),
    );
    const line = fc.oneof(
      fc.record({ prompt: fc.string({ minLength: 0, maxLength: 6 }), col: value }),
      fc.record({ col: value }),
      fc.constant('not json'),
      fc.constant(''),
    );
    let n = 0;
    fc.assert(
      fc.property(fc.array(line, { maxLength: 5 }), (lines) => {
        const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
        const path = join(dir, `random-${n++}.jsonl`);
        writeFileSync(path, text);
        expect(outcome(() => parsePromptFile(text, path))).toEqual(outcome(() => readPromptFile(path)));
      }),
      { numRuns: 150, seed: 23 },
    );
  });
});

describe('the reward module the page starts with', () => {
  it('is a valid reward module (imported by Node from a file, read as grpovi train reads it)', async () => {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, EXAMPLE_REWARD);
    const module = (await import(file)) as { default: unknown };
    const reward = rewardFunctionOf(module.default, file);
    expect(reward.name).toBe('lengthBonus');
    expect(reward.range).toEqual([0, 1]);
    expect(await reward.score(['p', 'p'], ['short', 'x'.repeat(40)])).toEqual([0.25, 1]);
  });
});

describe('zipFiles', () => {
  it('computes the CRC-32 zlib computes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it("writes an archive Python's zipfile reads back byte for byte (nested paths, UTF-8 names, empty files)", () => {
    const files: Record<string, Uint8Array> = {
      'model.json': new TextEncoder().encode('{"width": 8}\n'),
      'model.safetensors': Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31 + 7) % 256),
      'tokenizer/vocab é.txt': new TextEncoder().encode('a\nb\n'),
      'empty.bin': new Uint8Array(0),
    };
    const path = join(dir, 'policy.zip');
    writeFileSync(path, zipFiles(files));
    const script = `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({i.filename: [i.compress_type, z.read(i).hex()] for i in z.infolist()}))
`;
    const run = spawnSync('python3', ['-c', script, path], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const read = JSON.parse(run.stdout) as Record<string, [number, string]>;
    expect(Object.keys(read)).toEqual(Object.keys(files));
    for (const [name, bytes] of Object.entries(files)) {
      expect(read[name][0]).toBe(0); // stored
      expect(read[name][1]).toBe(Buffer.from(bytes).toString('hex'));
    }
  });
});

describe('model folders picked in the page', () => {
  const bytes = new Uint8Array([1]);
  it('keys files by their path inside the picked folder', () => {
    const { folder, files } = folderFiles([
      { path: 'my-model/model.json', bytes },
      { path: 'my-model/sub/extra.bin', bytes },
    ]);
    expect(folder).toBe('my-model');
    expect(Object.keys(files)).toEqual(['model.json', 'sub/extra.bin']);
  });

  it('recognizes the packaged grpovi policy folder', () => {
    const root = join('assets', 'sentiment-policy');
    const picked = readdirSync(root).map((name) => ({
      path: `sentiment-policy/${name}`,
      bytes: new Uint8Array(readFileSync(join(root, name))),
    }));
    const { folder, files } = folderFiles(picked);
    expect(modelFolderKind(folder, files)).toBe('grpovi');
  });

  it('recognizes a Hugging Face folder, sharded or not', () => {
    const hf = (names: string[]) => Object.fromEntries(names.map((n) => [n, bytes]));
    expect(modelFolderKind('m', hf(['config.json', 'tokenizer.json', 'model.safetensors']))).toBe(
      'huggingface',
    );
    expect(
      modelFolderKind(
        'm',
        hf(['config.json', 'tokenizer.json', 'model.safetensors.index.json', 'a.safetensors']),
      ),
    ).toBe('huggingface');
  });

  it('names the folder and what is missing', () => {
    const cases: [string[], string][] = [
      [['model.json'], 'm: has model.json (a grpovi folder) but no model.safetensors'],
      [
        ['config.json'],
        'm: has config.json (a Hugging Face folder) but no tokenizer.json, no model.safetensors',
      ],
      [['config.json', 'tokenizer.json'], 'no model.safetensors (or model.safetensors.index.json)'],
      [['notes.txt', 'cat.png'], 'm: is not a model folder: it needs model.json'],
    ];
    for (const [names, message] of cases) {
      const error = outcome(() => modelFolderKind('m', Object.fromEntries(names.map((n) => [n, bytes]))));
      expect(error).toMatchObject({ error: 'UserFileError' });
      expect((error as { message: string }).message).toContain(message);
    }
    expect(() => folderFiles([])).toThrow(UserFileError);
  });
});
