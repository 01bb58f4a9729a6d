/** The options of `grpovi dashboard` as commander hands them to the action. */
export interface DashboardFlags {
  port: number;
  host: string;
}
