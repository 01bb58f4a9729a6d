/**
 * What a WebGPU adapter says about itself, and whether it is a real GPU. No TF.js and no Dawn here:
 * the CLI and the run records read these cheaply.
 */
export interface WebgpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The adapter is a fallback (software) one, by its own flag or by its name. */
  fallback: boolean;
}

/** Software rasterisers that expose Vulkan or WebGPU: correct, but slower than the CPU paths. */
const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic render/i;

/** The fields of a GPUAdapterInfo (or an older adapter's), read defensively. */
export function readAdapterInfo(
  info: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', unknown>> & {
    isFallbackAdapter?: unknown;
  },
  adapterFallbackFlag?: unknown,
): WebgpuAdapterInfo {
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const read = {
    vendor: text(info.vendor),
    architecture: text(info.architecture),
    device: text(info.device),
    description: text(info.description),
  };
  const named = SOFTWARE_NAMES.test(`${read.vendor} ${read.architecture} ${read.device} ${read.description}`);
  return { ...read, fallback: info.isFallbackAdapter === true || adapterFallbackFlag === true || named };
}

/** One line for logs: `google swiftshader (SwiftShader driver 5.0.0, fallback)`. */
export function adapterLine(adapter: WebgpuAdapterInfo): string {
  const name = [adapter.vendor, adapter.architecture].filter((s) => s !== '').join(' ') || 'unnamed adapter';
  const details = [adapter.description || adapter.device, adapter.fallback ? 'fallback' : '']
    .filter((s) => s !== '')
    .join(', ');
  return details === '' ? name : `${name} (${details})`;
}
