import { UserFileError } from '../../util/userFileError.js';
import { isJsonLinesPath, nonBlankLines, readJsonLines, readUserText, stringField } from './userJson.js';

/** One prompt of a prompt file with its line's fields (the columns handed to reward functions). */
export interface PromptRecord {
  prompt: string;
  /** Every field of the JSONL line (`prompt` included); `{ prompt }` for a text file. */
  row: Readonly<Record<string, unknown>>;
}

/**
 * Reads a prompt file: JSONL with a `prompt` string per line (the Hugging Face datasets convention;
 * every other field is a column), or any other file as text with one prompt per line.
 */
export function readPromptFile(path: string): PromptRecord[] {
  let records: PromptRecord[];
  if (isJsonLinesPath(path)) {
    records = readJsonLines(path, 'prompt file').map((record) => {
      const prompt = stringField(record, 'prompt', path);
      if (prompt.trim() === '') throw new UserFileError(path, 'has an empty "prompt" ("")', record.line);
      return { prompt, row: record.value };
    });
  } else {
    records = nonBlankLines(readUserText(path, 'prompt file')).map(({ text }) => ({
      prompt: text,
      row: { prompt: text },
    }));
  }
  if (records.length === 0) throw new UserFileError(path, 'holds no prompts (the file is empty)');
  return records;
}
