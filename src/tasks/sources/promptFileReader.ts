import { type PromptRecord, parsePromptFile } from './promptFile.js';
import { readUserText } from './userJson.js';

/** Reads a prompt file from disk (the formats of `parsePromptFile`); errors name the path and line. */
export function readPromptFile(path: string): PromptRecord[] {
  return parsePromptFile(readUserText(path, 'prompt file'), path);
}
