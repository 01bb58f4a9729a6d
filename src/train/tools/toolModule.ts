import { importDefault } from '../../rewards/rewardModule.js';
import type { ChatToolSchema } from '../../nn/tokenizers/chatTemplate.js';
import { UserFileError } from '../../util/userFileError.js';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * Tools the policy may call during the rollout, from the user's module (`--tools FILE.mjs`): every
 * exported function that carries `description` and `parameters` (a JSON schema) is a tool named
 * after its export (or its `toolName`), run as `async (args) => string | object`.
 */

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

function toolOf(exportName: string, value: unknown, path: string): Tool | undefined {
  if (typeof value !== 'function') return undefined;
  const fn = value as ToolFunction & { description?: unknown; parameters?: unknown; toolName?: unknown };
  const name = typeof fn.toolName === 'string' && fn.toolName !== '' ? fn.toolName : exportName;
  if (typeof fn.description !== 'string' || fn.description === '')
    throw new UserFileError(path, `tool "${name}" needs a "description" string (fn.description = "...")`);
  if (typeof fn.parameters !== 'object' || fn.parameters === null || Array.isArray(fn.parameters))
    throw new UserFileError(
      path,
      `tool "${name}" needs "parameters", a JSON schema object (fn.parameters = { type: "object", properties: {...} })`,
    );
  return {
    name,
    run: fn,
    schema: {
      type: 'function',
      function: { name, description: fn.description, parameters: fn.parameters as Record<string, unknown> },
    },
  };
}

/** Imports a tool module; a module without tools, or a tool without its description or schema, is a UserFileError. */
export async function loadToolModule(path: string): Promise<ToolSet> {
  if (!existsSync(path)) throw new UserFileError(path, 'tool module not found (no such file)');
  await importDefault(path, 'tool module'); // the same load errors as reward modules
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const tools: Tool[] = [];
  for (const [exportName, value] of Object.entries(module)) {
    const named =
      exportName === 'default' && typeof value === 'function' && value.name ? value.name : exportName;
    const tool = toolOf(named, value, path);
    if (tool !== undefined && !tools.some((t) => t.name === tool.name)) tools.push(tool);
  }
  if (tools.length === 0)
    throw new UserFileError(
      path,
      'exports no tools: export functions carrying "description" and "parameters" (a JSON schema)',
    );
  return { path, tools, schemas: tools.map((t) => t.schema) };
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
  let timer: NodeJS.Timeout | undefined;
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
