import { importDefault } from '../../rewards/rewardModule.js';
import { UserFileError } from '../../util/userFileError.js';
import { existsSync } from 'node:fs';
import type { Tool, ToolFunction, ToolSet } from './toolCall.js';
import { pathToFileURL } from 'node:url';

/**
 * Tools the policy may call during the rollout, from the user's module (`--tools FILE.mjs`): every
 * exported function that carries `description` and `parameters` (a JSON schema) is a tool named
 * after its export (or its `toolName`), run as `async (args) => string | object`.
 */

export type { Tool, ToolFunction, ToolResult, ToolSet } from './toolCall.js';
export { callTool } from './toolCall.js';

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
