/** `npm run build:wasm`: regenerates the TS modules holding the bytes of the .wat sources. */
import { writeFileSync } from 'node:fs';
import { compileWat, generatedModule, WASM_SOURCES } from './watToWasm.js';

for (const source of WASM_SOURCES) {
  const bytes = await compileWat(source.wat);
  writeFileSync(source.generated, generatedModule(source, bytes));
  process.stdout.write(`${source.generated}: ${bytes.length} bytes from ${source.wat}\n`);
}
