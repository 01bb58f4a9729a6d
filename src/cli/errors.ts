/**
 * An error the user can fix (bad flag, bad file, bad line). The CLI prints its message alone,
 * without a stack, and exits with `exitCode` (2 by default, as for usage errors).
 */
export class UserInputError extends Error {
  override readonly name = 'UserInputError';
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * A problem with one line of an input file: the message is `line N: <problem>` until the command
 * that knows the file's name gives it with `inInput` (`in.jsonl line N: <problem>`).
 */
export class InputLineError extends UserInputError {
  constructor(
    readonly line: number,
    readonly problem: string,
    exitCode = 2,
  ) {
    super(`line ${line}: ${problem}`, exitCode);
  }

  /** The same error, naming the input (a file's path as given, or `stdin`). */
  inInput(input: string): UserInputError {
    return new UserInputError(`${input} line ${this.line}: ${this.problem}`, this.exitCode);
  }
}
