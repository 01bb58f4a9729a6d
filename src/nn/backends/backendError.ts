/**
 * A backend that was asked for and cannot run (no CBLAS library, no WebGPU adapter). Apart from
 * backend.ts so that the CLI can recognise it without loading TF.js.
 */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}
