import { describeJsonValue } from '../../nn/weights/checkpointError.js';
import { importDefault } from '../../rewards/rewardModule.js';
import { UserFileError } from '../../util/userFileError.js';
import type { Task, TaskContext } from '../task.js';

/** Whether a `task` value names a module file rather than a built-in task. */
export function isTaskModulePath(task: string): boolean {
  return /\.(?:mjs|cjs|js|mts|ts)$/i.test(task) || task.includes('/') || task.includes('\\');
}

function checkTask(task: unknown, path: string): Task {
  const fail = (problem: string): never => {
    throw new UserFileError(path, `the task its factory returned ${problem}`);
  };
  if (typeof task !== 'object' || task === null) fail(`is not an object (${describeJsonValue(task)})`);
  const t = task as Record<string, unknown>;
  if (typeof t.name !== 'string' || t.name === '')
    fail(`needs a "name" string (${describeJsonValue(t.name)})`);
  if (
    typeof t.tokenizer !== 'object' ||
    t.tokenizer === null ||
    typeof (t.tokenizer as { encode?: unknown }).encode !== 'function'
  )
    fail('needs a "tokenizer" (a grpovi Tokenizer)');
  if (typeof t.createPolicy !== 'function') fail('needs a "createPolicy(seed, options)" function');
  for (const field of ['trainPrompts', 'evalPrompts'] as const) {
    const list = t[field];
    if (!Array.isArray(list) || list.length === 0 || list.some((p) => typeof p !== 'string'))
      fail(`needs "${field}", a non-empty array of strings (${describeJsonValue(list)})`);
  }
  if (!Array.isArray(t.rewards) || t.rewards.length === 0)
    fail(`needs "rewards", a non-empty array of { fn, weight } (${describeJsonValue(t.rewards)})`);
  for (const [i, r] of (t.rewards as unknown[]).entries()) {
    const entry = r as { fn?: { name?: unknown; score?: unknown }; weight?: unknown } | null;
    if (
      typeof entry?.fn?.score !== 'function' ||
      typeof entry.fn.name !== 'string' ||
      typeof entry.weight !== 'number'
    )
      fail(`has rewards[${i}] that is not { fn: { name, range?, score }, weight }`);
  }
  const checked = t as unknown as Task;
  return {
    ...checked,
    description: checked.description ?? `task module ${path}`,
    defaults: checked.defaults ?? {},
  };
}

/**
 * Builds a task from a module whose default export is a task factory `(context) => Task | Promise<Task>`.
 * A missing module, one that throws on import or in its factory, and a malformed task are UserFileErrors.
 */
export async function loadTaskModule(path: string, context: TaskContext): Promise<Task> {
  const factory = await importDefault(path, 'task module');
  if (typeof factory !== 'function') {
    throw new UserFileError(
      path,
      `the default export must be a task factory (context) => Task (${factory === undefined ? 'no default export' : typeof factory})`,
    );
  }
  let task: unknown;
  try {
    task = await (factory as (c: TaskContext) => unknown)(context);
  } catch (error) {
    throw new UserFileError(
      path,
      `the task factory threw: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return checkTask(task, path);
}
