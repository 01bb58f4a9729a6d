import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  assertFolderPath,
  ensureRunFolder,
  removeCrashLeftovers,
  runFolderStage,
} from '../../src/train/runFolder.js';
import { RunFolderError } from '../../src/train/runFolderError.js';
import { tempDir } from './helpers.js';

let dir = '';
let cleanup = () => {};
beforeEach(() => {
  ({ dir, cleanup } = tempDir('folder'));
});
afterEach(() => cleanup());

describe('ensureRunFolder', () => {
  it('creates missing parents one level at a time', () => {
    ensureRunFolder(join(dir, 'a', 'b', 'c'));
    expect(existsSync(join(dir, 'a', 'b', 'c'))).toBe(true);
    ensureRunFolder(join(dir, 'a', 'b', 'c'));
  });

  it('names a file given as the folder, or in its path, writing nothing', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => ensureRunFolder(join(dir, 'file'))).toThrow(/is a file, not a folder/);
    expect(() => ensureRunFolder(join(dir, 'file', 'sub', 'deeper'))).toThrow(
      new RegExp(`${join(dir, 'file')} is a file, not a folder`),
    );
    expect(() => assertFolderPath(join(dir, 'file', 'sub'))).toThrow(RunFolderError);
    expect(readdirSync(dir)).toEqual(['file']);
  });

  it.skipIf(!existsSync('/proc/self'))('fails at once where the file system refuses (/proc)', () => {
    // Node's recursive mkdir loops forever here.
    expect(() => ensureRunFolder('/proc/grpovi-run/x')).toThrow(/cannot be created: \/proc\/grpovi-run/);
  });
});

describe('runFolderStage and removeCrashLeftovers', () => {
  it('tells a started run from a checkpointed one', () => {
    expect(runFolderStage(dir)).toBe('empty');
    writeFileSync(join(dir, 'config.json'), '{}');
    expect(runFolderStage(dir)).toBe('started');
    mkdirSync(join(dir, 'checkpoints'));
    writeFileSync(join(dir, 'checkpoints', 'latest.json'), '{}');
    expect(runFolderStage(dir)).toBe('checkpointed');
  });

  it('removes temporary files and half-written checkpoints, and nothing else', () => {
    const ckpt = join(dir, 'checkpoints');
    mkdirSync(join(ckpt, 'step-000002'), { recursive: true });
    writeFileSync(join(ckpt, 'step-000002', 'state.json'), '{}');
    mkdirSync(join(ckpt, 'step-000004'));
    writeFileSync(join(ckpt, 'step-000004', 'model.json'), '{}');
    mkdirSync(join(ckpt, '.step-000006.tmp-123'));
    mkdirSync(join(ckpt, '.step-000001.old-123'));
    writeFileSync(join(ckpt, '.latest.json.0a1b2c3d.tmp'), '');
    writeFileSync(join(dir, '.config.json.deadbeef.tmp'), '');
    writeFileSync(join(dir, 'metrics.jsonl'), '');
    writeFileSync(join(dir, 'notes.tmp'), '');
    const removed = removeCrashLeftovers(dir)
      .map((p) => p.slice(dir.length + 1))
      .sort();
    expect(removed).toEqual([
      '.config.json.deadbeef.tmp',
      'checkpoints/.latest.json.0a1b2c3d.tmp',
      'checkpoints/.step-000001.old-123',
      'checkpoints/.step-000006.tmp-123',
      'checkpoints/step-000004',
    ]);
    expect(readdirSync(dir).sort()).toEqual(['checkpoints', 'metrics.jsonl', 'notes.tmp']);
    expect(readdirSync(ckpt)).toEqual(['step-000002']);
  });
});
