import { UserFileError } from '../../util/userFileError.js';
import { readJsonLines, stringField } from './userJson.js';

/** One line of a preference file in TRL's explicit-prompt format. */
export interface PreferenceRecord {
  line: number;
  prompt: string;
  chosen: string;
  rejected: string;
}

/**
 * Reads a preference file: JSONL `{"prompt", "chosen", "rejected"}` per line (TRL's preference
 * format with an explicit prompt; chosen and rejected are completions of the prompt). Errors name
 * the line and the field.
 */
export function readPreferenceFile(path: string): PreferenceRecord[] {
  const records = readJsonLines(path, 'preference file').map((record) => ({
    line: record.line,
    prompt: stringField(record, 'prompt', path),
    chosen: stringField(record, 'chosen', path),
    rejected: stringField(record, 'rejected', path),
  }));
  if (records.length === 0) throw new UserFileError(path, 'holds no preference pairs (the file is empty)');
  return records;
}
