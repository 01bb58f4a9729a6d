import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { installDawnPump } from './dawnPump.js';

/**
 * The WebGPU entry point: the browser's `navigator.gpu`, or in Node the one made by Dawn's `webgpu`
 * package (an optional dependency). No TF.js here: the CLI releases the Node one at exit without
 * loading TF.js.
 */

/** The few members of GPU and GPUAdapter grpovi reads (the DOM types are not part of this build). */
export interface GpuAdapterLike {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
}
export interface GpuLike {
  requestAdapter(options?: {
    powerPreference?: 'high-performance' | 'low-power';
  }): Promise<GpuAdapterLike | null>;
}

interface NavigatorHolder {
  navigator?: { gpu?: GpuLike };
}

/** Whether this module put Dawn's GPU on `navigator` (then it must take it away again). */
let installedByUs = false;

export class GpuUnavailableError extends Error {}

/** The GPU object to ask for adapters: the browser's, else Dawn's, installed on `navigator`. */
export async function gpuEntryPoint(): Promise<GpuLike> {
  const holder = globalThis as NavigatorHolder;
  if (holder.navigator?.gpu !== undefined) return holder.navigator.gpu;
  let dawn: { create(options: string[]): GpuLike; globals: object };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (error) {
    throw new GpuUnavailableError(
      `the optional dependency "webgpu" (Dawn for Node) did not load (${(error as Error).message.split('\n')[0]}); reinstall grpovi on a platform it supports`,
    );
  }
  // Asked first in a child whose stderr is kept: without a driver, the Vulkan loader and Dawn print
  // their complaints on this process's stderr, and the user should see one line of ours.
  const answer = askDawnInChild();
  if (answer.adapter === null) throw new GpuUnavailableError(noAdapterMessage(answer.stderr));
  // TF.js's WebGPU backend looks for GPUBufferUsage & co. and for navigator.gpu when it is imported.
  Object.assign(globalThis, dawn.globals);
  // Before Dawn schedules anything: synchronous reads pump its events (dawnPump.ts).
  installDawnPump();
  const gpu = dawn.create([]);
  if (holder.navigator === undefined)
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else holder.navigator.gpu = gpu;
  installedByUs = true;
  return gpu;
}

/**
 * Drops the reference to Dawn's GPU so that Node can exit (Dawn keeps the process alive while its
 * GPU object is reachable). Nothing in the browser, and nothing if Dawn was never loaded.
 */
export function releaseNodeGpu(): void {
  if (!installedByUs) return;
  const holder = globalThis as NavigatorHolder;
  if (holder.navigator !== undefined) delete holder.navigator.gpu;
  installedByUs = false;
}

/** Where the Vulkan loader looks for drivers on Linux, and the directories libvulkan may sit in. */
const LIBRARY_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib64',
  '/lib',
  '/usr/local/lib',
];

/** Whether a Vulkan loader (libvulkan.so.1) is where the dynamic linker will find it. */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(delimiter).filter((d) => d !== ''), ...LIBRARY_DIRS];
  return dirs.some((dir) => existsSync(join(dir, 'libvulkan.so.1')));
}

/** Software Vulkan drivers: they give WebGPU adapters that run slower than the CPU paths. */
const SOFTWARE_DRIVER = /lvp|lavapipe|llvmpipe|swiftshader/i;

/** The Vulkan driver manifests the loader would read (explicit lists first, as the loader does). */
export function vulkanDriverManifests(env: NodeJS.ProcessEnv = process.env): string[] {
  const explicit = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  const entries =
    explicit !== undefined && explicit !== ''
      ? explicit.split(delimiter)
      : [
          ...(env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(delimiter).map((d) => join(d, 'vulkan/icd.d')),
          '/etc/vulkan/icd.d',
          join(homedir(), '.local/share/vulkan/icd.d'),
          ...(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share')
            .split(delimiter)
            .map((d) => join(d, 'vulkan/icd.d')),
        ];
  const files: string[] = [];
  for (const entry of entries) {
    if (entry === '' || !existsSync(entry)) continue;
    if (entry.endsWith('.json')) files.push(entry);
    else {
      try {
        for (const name of readdirSync(entry)) if (name.endsWith('.json')) files.push(join(entry, name));
      } catch {
        // not a readable directory
      }
    }
  }
  return files;
}

/** Whether a driver manifest names a software driver (by its file name or its library). */
export function isSoftwareDriver(manifestPath: string): boolean {
  if (SOFTWARE_DRIVER.test(manifestPath)) return true;
  try {
    const parsed = JSON.parse(readFileSync(manifestPath, 'utf8')) as { ICD?: { library_path?: unknown } };
    return SOFTWARE_DRIVER.test(String(parsed.ICD?.library_path ?? ''));
  } catch {
    return false;
  }
}

/**
 * Whether `auto` should look for a GPU adapter at all: the `webgpu` package resolves and, on Linux,
 * a Vulkan loader and a hardware driver manifest exist. Cheap (file checks only): asking Dawn on a
 * machine without a GPU costs most of a second and prints the Vulkan loader's complaints.
 */
export function gpuWorthProbing(env: NodeJS.ProcessEnv = process.env): boolean {
  if (dawnModulePath() === undefined) return false;
  if (process.platform !== 'linux') return true;
  return vulkanLoaderPresent(env) && vulkanDriverManifests(env).some((m) => !isSoftwareDriver(m));
}

/** The file of the `webgpu` package, if it is installed. */
export function dawnModulePath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('webgpu');
  } catch {
    return undefined;
  }
}

/** Why Dawn found no adapter, as far as files can tell. */
export function missingAdapterHint(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform !== 'linux') return 'the system offers no WebGPU adapter';
  if (!vulkanLoaderPresent(env))
    return 'no Vulkan loader (libvulkan.so.1) was found: install it (Debian: apt-get install libvulkan1) with a GPU driver';
  return "the Vulkan loader found no usable driver: install the GPU vendor's Vulkan driver, or for the software adapter set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (Debian package chromium)";
}

/** What Dawn answered when asked for an adapter in a child process. */
export interface ChildAdapterAnswer {
  /** The adapter's info (GPUAdapterInfo's fields); null when Dawn found none; undefined when the child failed. */
  adapter: Record<string, unknown> | null | undefined;
  /** What the child printed on stderr: the Vulkan loader's and Dawn's messages. */
  stderr: string;
}

/** Answers by the environment the loader reads (asking costs a Node start and Dawn's start). */
const answers = new Map<string, ChildAdapterAnswer>();

/** The variables that decide what the Vulkan loader finds. */
function loaderEnvironment(env: NodeJS.ProcessEnv): string {
  return JSON.stringify(
    Object.entries(env)
      .filter(
        ([name]) =>
          name.startsWith('VK_') || /^(LD_LIBRARY_PATH|XDG_CONFIG_DIRS|XDG_DATA_DIRS|HOME)$/.test(name),
      )
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/**
 * Asks Dawn for an adapter in a child process whose stderr is captured, so that a machine without a
 * usable driver prints nothing on ours, and nothing stays loaded here. For `auto` (probe.ts) and
 * before `--backend webgpu` loads Dawn in this process.
 */
export function askDawnInChild(env: NodeJS.ProcessEnv = process.env): ChildAdapterAnswer {
  const key = loaderEnvironment(env);
  const known = answers.get(key);
  if (known !== undefined) return known;
  const module = dawnModulePath();
  if (module === undefined) return { adapter: undefined, stderr: '' };
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
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script, module], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  let adapter: ChildAdapterAnswer['adapter'];
  if (result.status === 0) {
    try {
      const parsed = JSON.parse(result.stdout) as unknown;
      if (parsed === null || (typeof parsed === 'object' && !Array.isArray(parsed)))
        adapter = parsed as Record<string, unknown> | null;
    } catch {
      adapter = undefined;
    }
  }
  const answer = { adapter, stderr: result.stderr ?? '' };
  // A failed child is asked again next time.
  if (adapter !== undefined) answers.set(key, answer);
  return answer;
}

/**
 * The gist of what the Vulkan loader and Dawn printed, on one line: distinct messages without their
 * "Warning:" prefix and Dawn's source locations, at most about 300 characters.
 */
export function loaderSummary(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim().replace(/^Warning:\s*/, ''))
    .filter((line) => line !== '' && !line.startsWith('at '));
  const text = [...new Set(lines)].join('; ');
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** The error of a machine where Dawn found no adapter: what to install, and what the loader said. */
export function noAdapterMessage(stderr: string, env: NodeJS.ProcessEnv = process.env): string {
  const said = loaderSummary(stderr);
  return `no WebGPU adapter found (${missingAdapterHint(env)}${said === '' ? '' : `; the Vulkan loader said: ${said}`})`;
}
