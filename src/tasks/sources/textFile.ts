import { UserFileError } from '../../util/userFileError.js';
import { normalizeSentence, sentencesFromText, splitTrainHeldOut } from '../corpus.js';
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
 * How a word-level document is cut into sentences:
 * - `lines`: one sentence per line, when every non-blank line is already in normalized words (as
 *   `normalizeSentence` writes them: lower case, each punctuation mark a token of its own, e.g.
 *   `the people wants peace .`). Such lines carry no capitals, so the running-text rule below would
 *   join them all into one sentence.
 * - `running`: otherwise, sentences are split from running text as in the shipped corpora (a sentence
 *   ends at `.`, `!` or `?` before a capital or a digit; single line breaks are spaces).
 */
export type SentenceRule = 'lines' | 'running';

/** Whether every non-blank line of `doc` is already a normalized sentence (and there is one). */
export function isOneSentencePerLine(doc: string): boolean {
  const lines = nonBlankLines(doc);
  return (
    lines.length > 0 && lines.every((l) => normalizeSentence(l.text) === l.text.replace(/\s+/g, ' ').trim())
  );
}

/** The normalized sentences of one word-level document, and the rule that cut them. */
export function documentSentences(doc: string): { sentences: string[]; rule: SentenceRule } {
  if (isOneSentencePerLine(doc)) {
    return { sentences: nonBlankLines(doc).map((l) => normalizeSentence(l.text)), rule: 'lines' };
  }
  return { sentences: sentencesFromText(doc, { minWords: 1, maxWords: 10_000 }), rule: 'running' };
}

/** How one of the user's files was read: what `grpovi pretrain --text` reports for it. */
export interface TextFileSplit {
  path: string;
  /** Sentences (word level) or lines (char level) it gave, before duplicates across the files are dropped. */
  texts: number;
  /** Its non-blank lines (for JSONL: its records). */
  lines: number;
  /** Word level: the rule of its documents (`mixed` when a JSONL file's records differ). */
  rule?: SentenceRule | 'mixed';
}

/** One line saying how a file was split, e.g. `a.txt: 216 sentences from 216 lines (one sentence per line: ...)`. */
export function describeTextSplit(split: TextFileSplit): string {
  const unit = split.rule === undefined ? 'line' : 'sentence';
  const from = isJsonLinesPath(split.path) ? 'text record' : 'line';
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const how =
    split.rule === 'lines'
      ? 'one sentence per line: the lines are already normalized words'
      : split.rule === 'running'
        ? 'split at sentence ends as running text'
        : split.rule === 'mixed'
          ? 'records in normalized words one sentence per line, the others split as running text'
          : 'each non-blank line a text';
  return `${split.path}: ${plural(split.texts, unit)} from ${plural(split.lines, from)} (${how})`;
}

/**
 * The pretraining texts of the user's files: for a word-level model the normalized sentences (one
 * per line when the lines are already normalized, else split as the built-in corpora are; see
 * `SentenceRule`), for a character-level one every non-blank line as written. Duplicates are
 * dropped; a fixed-seed 10% (at least one) is held out. `splits` says how each file was read.
 */
export function textPretrainTexts(
  paths: readonly string[],
  kind: 'word' | 'char',
): { train: string[]; heldOut: string[]; splits: TextFileSplit[] } {
  const seen = new Set<string>();
  const texts: string[] = [];
  const splits: TextFileSplit[] = [];
  for (const path of paths) {
    const docs = readTextDocuments(path);
    const rules = new Set<SentenceRule>();
    let count = 0;
    for (const doc of docs) {
      let pieces: string[];
      if (kind === 'word') {
        const { sentences, rule } = documentSentences(doc);
        pieces = sentences;
        rules.add(rule);
      } else pieces = nonBlankLines(doc).map((l) => l.text);
      count += pieces.length;
      for (const piece of pieces) {
        if (seen.has(piece)) continue;
        seen.add(piece);
        texts.push(piece);
      }
    }
    if (count === 0) throw new UserFileError(path, 'holds no text (the file is empty)');
    const lines = isJsonLinesPath(path) ? docs.length : docs.reduce((n, d) => n + nonBlankLines(d).length, 0);
    splits.push({
      path,
      texts: count,
      lines,
      ...(kind === 'word' ? { rule: rules.size === 1 ? [...rules][0] : 'mixed' } : {}),
    });
  }
  if (texts.length < 2) {
    throw new UserFileError(
      paths.join(', '),
      `hold ${texts.length} ${kind === 'word' ? 'sentence' : 'line'} (${splits.map(describeTextSplit).join('; ')}); a held-out split needs at least 2`,
    );
  }
  const share = Math.max(TEXT_HELD_OUT_SHARE, 1 / texts.length);
  return { ...splitTrainHeldOut(texts, share, DATA_SPLIT_SEED), splits };
}
