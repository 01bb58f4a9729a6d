/**
 * A file the user gave (prompts, reward module, text, preferences, task module) that cannot be used.
 * The message names the file, the line when there is one, and the bad value. Light (no TF.js), so
 * that the CLI can recognize it and exit with 2.
 */
export class UserFileError extends Error {
  override readonly name = 'UserFileError';
  readonly file: string;
  readonly line?: number;

  constructor(file: string, problem: string, line?: number) {
    super(`${file}${line === undefined ? '' : ` line ${line}`}: ${problem}`);
    this.file = file;
    this.line = line;
  }
}
