/**
 * The playground page's reading of a prompts file picked from disk: the formats `grpovi train
 * --prompts` accepts (src/tasks/sources/promptFile.ts), from the file's text instead of its path,
 * with the same records and the same one-line errors (test/playground/pageModules.test.ts holds the
 * two to each other). Runs in the browser: it imports only modules free of Node.
 */
import { describeValue } from '../../util/describeValue.js';
import { parseStrictJson, StrictJsonError } from '../../util/strictJson.js';
import { UserFileError } from '../../util/userFileError.js';

/** A chat message of a conversational prompt. */
export interface PageChatMessage {
  role: string;
  content: string;
}

/** One prompt with its line's fields (the columns handed to reward functions). */
export interface PagePromptRecord {
  prompt: string | PageChatMessage[];
  row: Readonly<Record<string, unknown>>;
}

function nonBlankLines(text: string): { line: number; text: string }[] {
  return text
    .split('\n')
    .map((t, i) => ({ line: i + 1, text: t.replace(/\r$/, '') }))
    .filter((l) => l.text.trim() !== '');
}

/** Why a value is not a `{role, content}` message (as the chat template reader words it), or undefined. */
export function messageProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object';
  const m = value as Record<string, unknown>;
  if (typeof m.role !== 'string' || m.role === '') return `has no "role" string (${JSON.stringify(m.role)})`;
  if (typeof m.content !== 'string')
    return `has no "content" string (${JSON.stringify(m.content) ?? 'missing'})`;
  return undefined;
}

function jsonLine(text: string, line: number, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(text, file);
  } catch (error) {
    if (error instanceof StrictJsonError)
      throw new UserFileError(file, `is not valid JSON (${error.problem})`, line);
    throw error;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UserFileError(file, `must be a JSON object (${describeValue(value)})`, line);
  return value as Record<string, unknown>;
}

function promptField(value: Record<string, unknown>, line: number, file: string): string | PageChatMessage[] {
  const v = value.prompt;
  if (typeof v === 'string') {
    if (v.trim() === '') throw new UserFileError(file, 'has an empty "prompt" ("")', line);
    return v;
  }
  if (Array.isArray(v)) {
    if (v.length === 0)
      throw new UserFileError(file, 'has an empty "prompt" list ([]): a conversation needs a message', line);
    v.forEach((message: unknown, i) => {
      const problem = messageProblem(message);
      if (problem !== undefined)
        throw new UserFileError(
          file,
          `"prompt"[${i}] ${problem}: messages are {"role", "content"} objects`,
          line,
        );
    });
    return v as PageChatMessage[];
  }
  const got = v === undefined ? 'missing' : `${typeof v} ${describeValue(v)}`;
  throw new UserFileError(
    file,
    `needs a "prompt" string or a list of {"role", "content"} messages (${got})`,
    line,
  );
}

/**
 * The prompts of a file's text: JSON Lines (`.jsonl`/`.json`) with a `prompt` per line (a string or
 * a conversation; every other field is a column), any other name one prompt per line. `file`
 * names the file in errors (`prompts.jsonl line 3: ...`).
 */
export function parsePromptText(text: string, file: string): PagePromptRecord[] {
  const body = text.replace(/^\uFEFF/, '');
  let records: PagePromptRecord[];
  if (/\.jsonl?$/i.test(file)) {
    const lines = nonBlankLines(body).map(({ line, text: t }) => ({ line, value: jsonLine(t, line, file) }));
    records = lines.map(({ line, value }) => ({ prompt: promptField(value, line, file), row: value }));
    const kind = (r: PagePromptRecord) => (typeof r.prompt === 'string' ? 'a string' : 'a conversation');
    const mixed = records.findIndex((r) => kind(r) !== kind(records[0]));
    if (mixed >= 0)
      throw new UserFileError(
        file,
        `"prompt" is ${kind(records[mixed])} where line ${lines[0].line} has ${kind(records[0])}: a file holds plain prompts or conversations, not both`,
        lines[mixed].line,
      );
  } else {
    records = nonBlankLines(body).map(({ text: t }) => ({ prompt: t, row: { prompt: t } }));
  }
  if (records.length === 0) throw new UserFileError(file, 'holds no prompts (the file is empty)');
  return records;
}
