import { arch, cpus, platform, release, totalmem, type } from 'node:os';

/** The machine a comparison ran on, for the report. */
export interface MachineInfo {
  os: string;
  cpu_model: string;
  cpu_count: number;
  memory_gb: number;
  node: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    os: `${type()} ${release()} (${platform()} ${arch()})`,
    cpu_model: list[0]?.model.trim() ?? 'unknown',
    cpu_count: list.length,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}
