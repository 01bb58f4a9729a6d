/**
 * Checking a value meant as a chat message. Free of imports, so the playground page loads it as it is.
 */

/** What is wrong with a value meant as a message, or undefined when it is one. */
export function describeMessageProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object';
  const m = value as Record<string, unknown>;
  if (typeof m.role !== 'string' || m.role === '') return `has no "role" string (${JSON.stringify(m.role)})`;
  if (typeof m.content !== 'string')
    return `has no "content" string (${JSON.stringify(m.content) ?? 'missing'})`;
  return undefined;
}
