/**
 * A comparison that cannot run or be reported as asked (bad option, a folder made with another
 * config, a failed run). The CLI prints the message and exits with `exitCode`.
 */
export class ComparisonError extends Error {
  override readonly name = 'ComparisonError';
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}
