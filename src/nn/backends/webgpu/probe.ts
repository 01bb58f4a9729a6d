import { type WebgpuAdapterInfo, readAdapterInfo } from './adapterInfo.js';
import { askDawnInChild, gpuWorthProbing } from './nodeGpu.js';

/**
 * Asks Dawn for an adapter in a child process, for `auto`: a machine without a usable driver makes
 * the Vulkan loader print to stderr, which must not land in the user's log, and the child leaves
 * nothing loaded behind (nodeGpu.ts's askDawnInChild). Undefined when there is no adapter or no
 * reason to look.
 */
export function probeAdapterInChild(env: NodeJS.ProcessEnv = process.env): WebgpuAdapterInfo | undefined {
  if (!gpuWorthProbing(env)) return undefined;
  const { adapter } = askDawnInChild(env);
  return adapter === null || adapter === undefined ? undefined : readAdapterInfo(adapter);
}
