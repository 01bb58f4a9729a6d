/**
 * Tokenizers for the policy and reward models: a character-level one and a word-level one over
 * pre-normalized text (words separated by single spaces). Both are plain vocabularies (no TF.js,
 * no file system) and serialize to `{ kind, vocab }` JSON.
 *
 * Special tokens sit at fixed ids: `<pad>` = 0, `<eos>` = 1, `<unk>` = 2.
 * - `encode` never produces pad or eos, and never appends eos: callers add `eosId` where a sequence ends.
 *   Text that spells a special token (the word `<eos>`) is not special: it encodes as unk (word) or
 *   character by character (char).
 * - `decode` skips pad and eos (they carry no text) and renders unk as `<unk>`.
 */
import { CheckpointError, describeJsonValue } from '../weights/checkpointError.js';

export const PAD_TOKEN = '<pad>';
export const EOS_TOKEN = '<eos>';
export const UNK_TOKEN = '<unk>';
export const PAD_ID = 0;
export const EOS_ID = 1;
export const UNK_ID = 2;
/** The special tokens in id order: `SPECIAL_TOKENS[PAD_ID] === PAD_TOKEN`, and so on. */
export const SPECIAL_TOKENS: readonly string[] = Object.freeze([PAD_TOKEN, EOS_TOKEN, UNK_TOKEN]);

export type TokenizerKind = 'char' | 'word';

/** The serialized form; `vocab[id]` is the token with that id, starting with the special tokens. */
export interface TokenizerJson {
  kind: TokenizerKind;
  vocab: string[];
}

export interface EncodeOptions {
  /** Whether the tokenizer's own special tokens are added (a BOS); default true. */
  addSpecialTokens?: boolean;
}

export interface Tokenizer {
  /** `tokenizer.json` for Hugging Face tokenizers (see hfTokenizer.ts), which are saved as their own files. */
  readonly kind: TokenizerKind | 'tokenizer.json';
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Token ids of the text; unknown characters or words become `unkId`. */
  encode(text: string, options?: EncodeOptions): number[];
  /** Ids generation also stops at besides `eosId` (end-of-turn tokens); absent: only `eosId`. */
  readonly stopIds?: readonly number[];
  /** The text of the ids, skipping pad and eos. Throws RangeError for an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): string;
  /** The token with this id (specials as `<pad>`, `<eos>`, `<unk>`). Throws RangeError outside the vocabulary. */
  tokenToString(id: number): string;
  /** The id of a vocabulary entry (including the specials' own spellings), or undefined. */
  tokenToId(token: string): number | undefined;
  /** The form model.json stores (word and char tokenizers; a tokenizer.json one throws: it has its own files). */
  toJSON(): TokenizerJson;
}

export interface CharFitOptions {
  /** Characters to include even if the texts do not contain them. */
  extraChars?: string;
}

export interface WordFitOptions {
  /** Total vocabulary size, special tokens included (at least 3). */
  maxVocab: number;
  /** Words seen fewer times than this never enter the vocabulary (default 1). */
  minCount?: number;
  /**
   * Words that take precedence over more frequent ones if they occur at least `minCount` times; they
   * count towards `maxVocab` and evict the least frequent other words. If even they do not all fit, the
   * most frequent of them win. Entries that can never be a word token (empty, containing a space) are
   * ignored, so phrase lists can be passed as they are.
   */
  keep?: Iterable<string>;
}

/** Deterministic, locale-independent string order (UTF-16 code units). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

abstract class VocabularyTokenizer implements Tokenizer {
  abstract readonly kind: TokenizerKind;
  readonly padId = PAD_ID;
  readonly eosId = EOS_ID;
  readonly unkId = UNK_ID;
  private readonly vocab: readonly string[];
  /** Ids of the ordinary tokens only, so that text never encodes to a special token. */
  private readonly textIds: Map<string, number>;

  protected constructor(vocab: readonly string[]) {
    this.vocab = Object.freeze([...vocab]);
    this.textIds = new Map();
    for (let id = SPECIAL_TOKENS.length; id < vocab.length; id++) this.textIds.set(vocab[id], id);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  abstract encode(text: string): number[];
  abstract decode(ids: ArrayLike<number>): string;

  tokenToString(id: number): string {
    this.checkId(id, 'token id');
    return this.vocab[id];
  }

  tokenToId(token: string): number | undefined {
    const special = SPECIAL_TOKENS.indexOf(token);
    return special >= 0 ? special : this.textIds.get(token);
  }

  toJSON(): TokenizerJson {
    return { kind: this.kind, vocab: [...this.vocab] };
  }

  protected idOf(token: string): number {
    return this.textIds.get(token) ?? UNK_ID;
  }

  /** The token strings of `ids`, without pad and eos. */
  protected textPieces(ids: ArrayLike<number>): string[] {
    const pieces: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      this.checkId(id, `ids[${i}]`);
      if (id !== PAD_ID && id !== EOS_ID) pieces.push(this.vocab[id]);
    }
    return pieces;
  }

  private checkId(id: number, what: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) {
      throw new RangeError(`${what} is not an id of this ${this.vocab.length}-token vocabulary (${id})`);
    }
  }
}

/** One token per Unicode code point. */
export class CharTokenizer extends VocabularyTokenizer {
  readonly kind = 'char' as const;

  private constructor(vocab: readonly string[]) {
    super(vocab);
  }

  /** Vocabulary = specials + every distinct character of the texts and `extraChars`, by code point. */
  static fit(texts: Iterable<string>, options: CharFitOptions = {}): CharTokenizer {
    const chars = new Set<string>();
    for (const text of texts) for (const ch of text) chars.add(ch);
    for (const ch of options.extraChars ?? '') chars.add(ch);
    const sorted = [...chars].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer([...SPECIAL_TOKENS, ...sorted]);
  }

  /** A tokenizer over an explicit vocabulary, validated like JSON; errors name `source`. */
  static fromVocab(vocab: unknown, source: string): CharTokenizer {
    return new CharTokenizer(validateVocab(vocab, 'char', source));
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const ch of text) ids.push(this.idOf(ch));
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    return this.textPieces(ids).join('');
  }
}

/** One token per space-separated word of pre-normalized text. */
export class WordTokenizer extends VocabularyTokenizer {
  readonly kind = 'word' as const;

  private constructor(vocab: readonly string[]) {
    super(vocab);
  }

  /**
   * Vocabulary = specials + the most frequent words (count descending, ties alphabetical) up to
   * `maxVocab` entries in all, with `keep` words taking precedence (see `WordFitOptions`). Ids follow
   * that order, so frequent words get small ids.
   */
  static fit(texts: Iterable<string>, options: WordFitOptions): WordTokenizer {
    const { maxVocab, minCount = 1 } = options;
    if (!Number.isInteger(maxVocab) || maxVocab < SPECIAL_TOKENS.length) {
      throw new RangeError(`maxVocab must be an integer of at least ${SPECIAL_TOKENS.length} (${maxVocab})`);
    }
    if (!Number.isInteger(minCount) || minCount < 1) {
      throw new RangeError(`minCount must be a positive integer (${minCount})`);
    }
    const counts = new Map<string, number>();
    for (const text of texts) {
      for (const word of splitWords(text)) {
        if (!SPECIAL_TOKENS.includes(word)) counts.set(word, (counts.get(word) ?? 0) + 1);
      }
    }
    const ranked = [...counts]
      .filter(([, count]) => count >= minCount)
      .sort(([a, countA], [b, countB]) => countB - countA || compareStrings(a, b))
      .map(([word]) => word);

    const room = maxVocab - SPECIAL_TOKENS.length;
    const keep = new Set(options.keep ?? []);
    const keptWords = ranked.filter((w) => keep.has(w)).slice(0, room);
    const otherWords = ranked.filter((w) => !keep.has(w)).slice(0, room - keptWords.length);
    const chosen = new Set([...keptWords, ...otherWords]);
    return new WordTokenizer([...SPECIAL_TOKENS, ...ranked.filter((w) => chosen.has(w))]);
  }

  /** A tokenizer over an explicit vocabulary, validated like JSON; errors name `source`. */
  static fromVocab(vocab: unknown, source: string): WordTokenizer {
    return new WordTokenizer(validateVocab(vocab, 'word', source));
  }

  encode(text: string): number[] {
    return splitWords(text).map((word) => this.idOf(word));
  }

  decode(ids: ArrayLike<number>): string {
    return this.textPieces(ids).join(' ');
  }
}

function splitWords(text: string): string[] {
  return text.split(' ').filter((word) => word !== '');
}

function validateVocab(vocab: unknown, kind: TokenizerKind, source: string): string[] {
  const fail = (problem: string): never => {
    throw new CheckpointError(source, problem);
  };
  if (!Array.isArray(vocab)) fail(`vocab must be an array of strings (got ${describeJsonValue(vocab)})`);
  const entries = vocab as unknown[];
  if (entries.length < SPECIAL_TOKENS.length) {
    fail(
      `vocab must start with the special tokens ${SPECIAL_TOKENS.join(', ')} (got ${describeJsonValue(entries)})`,
    );
  }
  const firstIndex = new Map<string, number>();
  entries.forEach((token, id) => {
    if (typeof token !== 'string') fail(`vocab[${id}] must be a string (got ${describeJsonValue(token)})`);
    const text = token as string;
    if (id < SPECIAL_TOKENS.length) {
      if (text !== SPECIAL_TOKENS[id]) {
        fail(
          `vocab[${id}] must be the special token "${SPECIAL_TOKENS[id]}" (got ${describeJsonValue(text)})`,
        );
      }
    } else if (kind === 'char' && [...text].length !== 1) {
      fail(`vocab[${id}] must be a single character in a char tokenizer (got ${describeJsonValue(text)})`);
    } else if (kind === 'word' && (text === '' || text.includes(' '))) {
      fail(
        `vocab[${id}] must be a non-empty word without spaces in a word tokenizer (got ${describeJsonValue(text)})`,
      );
    }
    const earlier = firstIndex.get(text);
    if (earlier !== undefined) fail(`vocab[${id}] duplicates vocab[${earlier}] (${describeJsonValue(text)})`);
    firstIndex.set(text, id);
  });
  return entries as string[];
}

/** Rebuilds a tokenizer from its `toJSON()` form; errors are CheckpointErrors naming `source` and the field. */
export function tokenizerFromJson(json: unknown, source: string): Tokenizer {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(
      source,
      `tokenizer must be a JSON object with kind and vocab (got ${describeJsonValue(json)})`,
    );
  }
  const { kind, vocab } = json as Record<string, unknown>;
  if (kind === 'char') return CharTokenizer.fromVocab(vocab, source);
  if (kind === 'word') return WordTokenizer.fromVocab(vocab, source);
  throw new CheckpointError(source, `kind must be "char" or "word" (got ${describeJsonValue(kind)})`);
}
