/**
 * A tool the policy may call during the rollout (grpovi train --tools examples/tools/calculator.mjs).
 * Every exported function carrying `description` and `parameters` (a JSON schema) is a tool; the
 * chat template renders them in its `tools` variable, and the policy calls them by name.
 */
export function calculator({ expression }) {
  // Arithmetic only: digits, spaces, + - * / and parentheses.
  if (typeof expression !== 'string' || !/^[\d\s+*/().-]+$/.test(expression))
    throw new Error(`not an arithmetic expression: ${JSON.stringify(expression)}`);
  const value = Function(`"use strict"; return (${expression});`)();
  if (!Number.isFinite(value)) throw new Error(`${expression} has no finite value`);
  return String(value);
}
calculator.description = 'Evaluates an arithmetic expression such as "3 * (4 + 5)" and returns its value.';
calculator.parameters = {
  type: 'object',
  properties: { expression: { type: 'string', description: 'the expression to evaluate' } },
  required: ['expression'],
};
