import { Option } from 'commander';
import { BACKENDS, DEFAULT_BACKEND } from '../../nn/backends/backendNames.js';

/** What `auto` means, said once for every command's --help. */
export const BACKEND_HELP =
  'TF.js backend (auto: webgpu on a real GPU adapter, else blas, matrix products through the system CBLAS, when a library loads, else wasm)';

/** `--backend NAME` of a command that runs a model outside a training config: defaults to `auto`. */
export function backendOption(): Option {
  return new Option('--backend <name>', BACKEND_HELP).choices(BACKENDS).default(DEFAULT_BACKEND);
}

/**
 * `--backend NAME` of a command whose runs take their backend from a training config (compare, demo,
 * compare-run): given, it overrides the config's; not given, the config's stands, which is `auto`
 * unless the --config file names another.
 */
export function runBackendOption(): Option {
  return new Option('--backend <name>', `${BACKEND_HELP}; overrides the config's backend`)
    .choices(BACKENDS)
    .default(undefined, `the config's, else ${DEFAULT_BACKEND}`);
}
