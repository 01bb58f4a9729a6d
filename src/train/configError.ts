/**
 * A configuration that cannot be used; the message names the field and the value. Apart from
 * src/train/config.ts (which loads zod) so that the CLI can recognize it without loading the schema.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The bad field's path (e.g. `learning_rate`, `model.heads`), when one field is to blame. */
  readonly field?: string;

  constructor(message: string, field?: string) {
    super(message);
    this.field = field;
  }
}
