import { existsSync } from 'node:fs';
import { BackendError, selectBackend } from '../../src/nn/backends/backend.js';

/**
 * Whether the WebGPU tests can run here. The software adapter is Chromium's SwiftShader (Debian
 * package chromium, with libvulkan1 for the loader): pointed at unless VK_ICD_FILENAMES already
 * names a driver. Without an adapter the tests are skipped, with the reason, unless
 * GRPOVI_REQUIRE_WEBGPU=1 (CI), where a missing adapter is an error.
 */
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function webgpuSkipReason(): Promise<string> {
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER))
    process.env.VK_ICD_FILENAMES = SWIFTSHADER;
  try {
    await selectBackend('webgpu');
    return '';
  } catch (error) {
    if (process.env.GRPOVI_REQUIRE_WEBGPU === '1' || !(error instanceof BackendError)) throw error;
    return ` (skipped: ${error.message})`;
  }
}
