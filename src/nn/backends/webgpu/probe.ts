import { spawnSync } from 'node:child_process';
import { type WebgpuAdapterInfo, readAdapterInfo } from './adapterInfo.js';
import { dawnModulePath, gpuWorthProbing } from './nodeGpu.js';

/**
 * Asks Dawn for an adapter in a child process, for `auto`: a machine without a usable driver makes
 * the Vulkan loader print to stderr, which must not land in the user's log, and the child leaves
 * nothing loaded behind. Undefined when there is no adapter or no reason to look.
 */
export function probeAdapterInChild(env: NodeJS.ProcessEnv = process.env): WebgpuAdapterInfo | undefined {
  if (!gpuWorthProbing(env)) return undefined;
  const script = `
const { create, globals } = await import(process.argv[1]);
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const info = adapter?.info ?? {};
process.stdout.write(JSON.stringify(adapter === null ? null : {
  vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
  isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter,
}));
process.exit(0);
`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, dawnModulePath()!], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 20_000,
  });
  if (result.status !== 0) return undefined;
  try {
    const parsed = JSON.parse(result.stdout) as Record<string, unknown> | null;
    return parsed === null ? undefined : readAdapterInfo(parsed);
  } catch {
    return undefined;
  }
}
