import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adapterLine, readAdapterInfo } from '../../src/nn/backends/webgpu/adapterInfo.js';
import {
  dawnModulePath,
  gpuWorthProbing,
  isSoftwareDriver,
  loaderSummary,
  vulkanDriverManifests,
  vulkanLoaderPresent,
} from '../../src/nn/backends/webgpu/nodeGpu.js';
import { CLI_BIN, runNode } from '../cli/cliBin.js';

const dir = mkdtempSync(join(tmpdir(), 'grpovi-webgpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function manifest(name: string, library: string): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library } }));
  return path;
}

describe('adapter info', () => {
  it('reads a GPUAdapterInfo and flags fallback adapters by their flag or their name', () => {
    const swiftshader = readAdapterInfo({
      vendor: 'google',
      architecture: 'swiftshader',
      device: 'swiftshader-device-subzero-',
      description: 'SwiftShader driver 5.0.0',
    });
    expect(swiftshader).toEqual({
      vendor: 'google',
      architecture: 'swiftshader',
      device: 'swiftshader-device-subzero-',
      description: 'SwiftShader driver 5.0.0',
      fallback: true,
    });
    expect(adapterLine(swiftshader)).toBe('google swiftshader (SwiftShader driver 5.0.0, fallback)');
    const nvidia = readAdapterInfo({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100' });
    expect(nvidia.fallback).toBe(false);
    expect(adapterLine(nvidia)).toBe('nvidia hopper (NVIDIA H100)');
    expect(readAdapterInfo({ vendor: 'x', isFallbackAdapter: true }).fallback).toBe(true);
    expect(readAdapterInfo({ vendor: 'x' }, true).fallback).toBe(true);
    expect(readAdapterInfo({ vendor: 7 }).vendor).toBe('');
  });
});

describe('Vulkan drivers for auto', () => {
  it('tells software drivers from hardware ones by manifest name or library', () => {
    expect(isSoftwareDriver(manifest('lvp_icd.x86_64.json', 'libvulkan_lvp.so'))).toBe(true);
    expect(isSoftwareDriver(manifest('vk_swiftshader_icd.json', './libvk_swiftshader.so'))).toBe(true);
    expect(isSoftwareDriver(manifest('renamed.json', '/opt/libvk_swiftshader.so'))).toBe(true);
    expect(isSoftwareDriver(manifest('nvidia_icd.json', 'libGLX_nvidia.so.0'))).toBe(false);
  });

  it('reads VK_ICD_FILENAMES (files and folders) before the standard folders', () => {
    const only = manifest('nvidia_icd.json', 'libGLX_nvidia.so.0');
    expect(vulkanDriverManifests({ VK_ICD_FILENAMES: `${only}:/nonexistent.json` })).toEqual([only]);
    expect(vulkanDriverManifests({ VK_DRIVER_FILES: dir }).sort()).toContain(only);
  });

  it('does not probe for a GPU when the only driver is a software one', () => {
    const software = manifest('only-lvp.json', 'libvulkan_lvp.so');
    expect(gpuWorthProbing({ VK_ICD_FILENAMES: software, LD_LIBRARY_PATH: dir })).toBe(false);
  });
});

describe('the loader text in the no-adapter error', () => {
  it('keeps each distinct message once, without "Warning:" and Dawn\'s source locations, on one line', () => {
    const stderr = [
      'Warning: loader_get_json: Failed to open JSON file /x.json',
      'Warning: vkCreateInstance: Found no drivers!',
      'Warning: vkCreateInstance: Found no drivers!',
      '    at CheckVkSuccessImpl (/dawn/src/dawn/native/vulkan/VulkanError.cpp:106)',
      '',
    ].join('\n');
    expect(loaderSummary(stderr)).toBe(
      'loader_get_json: Failed to open JSON file /x.json; vkCreateInstance: Found no drivers!',
    );
    expect(loaderSummary('')).toBe('');
    const long = loaderSummary(`Warning: ${'x'.repeat(500)}`);
    expect(long).toHaveLength(300);
    expect(long.endsWith('...')).toBe(true);
  });
});

describe.skipIf(!existsSync(CLI_BIN))('--backend webgpu without an adapter', () => {
  it('is one line naming what is missing, exit 2, and no run folder', async () => {
    const out = join(dir, 'run');
    const result = await runNode(
      [CLI_BIN, 'train', '--task', 'toy', '--steps', '1', '--backend', 'webgpu', '--out', out],
      { env: { ...process.env, VK_ICD_FILENAMES: join(dir, 'no-such-driver.json') } },
    );
    expect(result.code).toBe(2);
    // Only grpovi's line: the Vulkan loader's and Dawn's messages stay in the probing child.
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^grpovi: backend "webgpu": (no WebGPU adapter found|the optional dependency)/);
    // What the loader said is summarized in that line (it names the missing driver file).
    if (dawnModulePath() !== undefined && vulkanLoaderPresent())
      expect(lines[0]).toContain(
        `the Vulkan loader said: loader_get_json: Failed to open JSON file ${join(dir, 'no-such-driver.json')}`,
      );
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
