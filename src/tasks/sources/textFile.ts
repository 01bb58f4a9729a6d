import { UserFileError } from '../../util/userFileError.js';
import { sentencesFromText, splitTrainHeldOut } from '../corpus.js';
import { DATA_SPLIT_SEED } from '../datasets.js';
import { isJsonLinesPath, nonBlankLines, readJsonLines, readUserText, stringField } from './userJson.js';

/** Share of the user's texts held out for the perplexity figure. */
export const TEXT_HELD_OUT_SHARE = 0.1;

/** The documents of a text file: the whole text, or the `text` field of every JSONL line. */
export function readTextDocuments(path: string): string[] {
  if (isJsonLinesPath(path)) return readJsonLines(path, 'text file').map((r) => stringField(r, 'text', path));
  return [readUserText(path, 'text file')];
}

/**
 * The pretraining texts of the user's files: for a word-level model the normalized sentences
 * (split as the built-in corpora are), for a character-level one every non-blank line as written.
 * Duplicates are dropped; a fixed-seed 10% (at least one) is held out.
 */
export function textPretrainTexts(
  paths: readonly string[],
  kind: 'word' | 'char',
): { train: string[]; heldOut: string[] } {
  const seen = new Set<string>();
  const texts: string[] = [];
  for (const path of paths) {
    const before = texts.length;
    for (const doc of readTextDocuments(path)) {
      const pieces =
        kind === 'word'
          ? sentencesFromText(doc, { minWords: 1, maxWords: 10_000 })
          : nonBlankLines(doc).map((l) => l.text);
      for (const piece of pieces) {
        if (seen.has(piece)) continue;
        seen.add(piece);
        texts.push(piece);
      }
    }
    if (texts.length === before) throw new UserFileError(path, 'holds no text (the file is empty)');
  }
  if (texts.length < 2) {
    throw new UserFileError(
      paths.join(', '),
      `hold ${texts.length} ${kind === 'word' ? 'sentence' : 'line'}; a held-out split needs at least 2`,
    );
  }
  const share = Math.max(TEXT_HELD_OUT_SHARE, 1 / texts.length);
  return splitTrainHeldOut(texts, share, DATA_SPLIT_SEED);
}
