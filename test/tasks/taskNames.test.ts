import { describe, expect, it } from 'vitest';
import { TASKS } from '../../src/tasks/registry.js';
import { TASK_NAMES } from '../../src/tasks/taskNames.js';

describe('TASK_NAMES', () => {
  it("lists the registry's tasks, in its order (the CLI's --help shows them without loading it)", () => {
    expect([...TASK_NAMES]).toEqual(Object.keys(TASKS));
  });
});
