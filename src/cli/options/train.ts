/** The options of `grpovi train` as commander hands them to the action (config flags under their attribute names). */
export interface TrainFlags {
  out?: string;
  config?: string;
  resume?: string;
  quiet?: boolean;
  printConfig?: boolean;
  allowChangedFiles?: boolean;
  /** False with --no-hangup: SIGHUP and a lost parent do not stop the run. */
  hangup?: boolean;
  [attribute: string]: unknown;
}

/** The config flags added to a command, and how to read them back. */
export interface ConfigFlagSet {
  /** Config values of the flags that were given, by config key, and every key's flag spelling. */
  collect(flags: Record<string, unknown>): { values: Record<string, unknown>; names: Record<string, string> };
}
