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
