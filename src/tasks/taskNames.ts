/**
 * The names of the tasks in `TASKS` (src/tasks/registry.ts), in its order. The registry loads every
 * task and with them TF.js; the CLI's --help needs only the names, so they are also listed here
 * (test/tasks/taskNames.test.ts checks that the two agree).
 */
export const TASK_NAMES: readonly string[] = ['toy', 'sentiment', 'arithmetic'];
