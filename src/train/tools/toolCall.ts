import type { ChatToolSchema } from '../../nn/tokenizers/chatTemplate.js';

/** Tools as the rollout calls them (node-free; toolModule.ts loads them from the user's module). */

export type ToolFunction = (args: Record<string, unknown>) => unknown;

export interface Tool {
  name: string;
  schema: ChatToolSchema;
  run: ToolFunction;
}

/** The tools of a module, with the schemas chat templates render. */
export interface ToolSet {
  path: string;
  tools: readonly Tool[];
  schemas: readonly ChatToolSchema[];
}

export interface ToolResult {
  /** The tool message's content: the result (objects as JSON), or the error. */
  content: string;
  failed: boolean;
}

/**
 * Calls a tool by name with a time limit. An unknown tool, a thrown error, a rejected promise or a
 * timeout becomes the tool message (`error: ...`) and counts as a failure; the rollout goes on.
 */
export async function callTool(
  set: ToolSet,
  call: { name: string; arguments: Record<string, unknown>; problem?: string },
  timeoutMs: number,
): Promise<ToolResult> {
  if (call.problem !== undefined) return { content: `error: ${call.problem}`, failed: true };
  const tool = set.tools.find((t) => t.name === call.name);
  if (tool === undefined)
    return {
      content: `error: unknown tool ${JSON.stringify(call.name)} (tools: ${set.tools.map((t) => t.name).join(', ')})`,
      failed: true,
    };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const value = await Promise.race([Promise.resolve().then(() => tool.run(call.arguments)), timeout]);
    return { content: typeof value === 'string' ? value : JSON.stringify(value ?? null), failed: false };
  } catch (error) {
    return { content: `error: ${error instanceof Error ? error.message : String(error)}`, failed: true };
  } finally {
    clearTimeout(timer);
  }
}
