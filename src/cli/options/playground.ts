/** The options of `grpovi playground` as commander hands them to the action. */
export interface PlaygroundFlags {
  port: number;
  host: string;
}
