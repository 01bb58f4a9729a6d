/**
 * `npm run build` (after tsc): bundles src/browser/index.ts into dist/browser/grpovi.js (ESM for
 * browsers; the package export `grpovi/browser`) with tfjs-backend-wasm's .wasm binaries beside it.
 * Fails when anything Node-only would enter the bundle: a `node:` import, a Node built-in without a
 * browser replacement, or one of grpovi's Node hosts (backend selection, BLAS loader, file readers).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The entry and the folder may be overridden (the tests build a bad entry to see the build refuse it).
const entry = process.env.GRPOVI_BROWSER_ENTRY ?? join(root, 'src', 'browser', 'index.ts');
const outDir = process.env.GRPOVI_BROWSER_OUT ?? join(root, 'dist', 'browser');
/** grpovi modules that need Node: if one is in the bundle, something imported it by mistake. */
const NODE_HOSTS = [
  /src\/nn\/backends\/backend\.ts$/,
  /src\/nn\/backends\/blas\/cblasLibrary\.ts$/,
  /src\/nn\/backends\/webgpu\/(nodeGpu|probe)\.ts$/,
  /src\/nn\/weights\/diskFolder\.ts$/,
  /node_modules\/(koffi|webgpu)\//,
];

const refuseNode = {
  name: 'refuse-node',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `Node-only import "${args.path}" from ${relative(root, args.importer)}` }],
    }));
  },
};

// A source map of an earlier build would no longer match the bundle.
rmSync(join(outDir, 'grpovi.js.map'), { force: true });
const result = await esbuild.build({
  entryPoints: [entry],
  outfile: join(outDir, 'grpovi.js'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [refuseNode],
});
const hosts = Object.keys(result.metafile.inputs).filter((input) => NODE_HOSTS.some((re) => re.test(input)));
if (hosts.length > 0) {
  console.error(`dist/browser/grpovi.js would hold Node-only modules: ${hosts.join(', ')}`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
// Node's globals resolve to nothing in a browser, and esbuild cannot see them: refuse them in
// grpovi's own modules. onnxGraph.ts is reached only by the ONNX export, which the browser never calls.
const NODE_GLOBAL = /\b(Buffer\.|setImmediate\(|__dirname|__filename|require\()/;
const globals = [];
for (const input of Object.keys(result.metafile.inputs)) {
  if (!input.startsWith('src/') || input.endsWith('src/nn/weights/onnxGraph.ts')) continue;
  readFileSync(join(root, input), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (NODE_GLOBAL.test(line) && !/^\s*(\/\/|\*|\/\*)/.test(line))
        globals.push(`${input}:${i + 1}: ${line.trim()}`);
    });
}
if (globals.length > 0) {
  console.error(`dist/browser/grpovi.js would use Node globals:\n${globals.join('\n')}`);
  process.exit(1);
}
const wasmDir = dirname(
  createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'),
);
for (const name of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm')))
  copyFileSync(join(wasmDir, name), join(outDir, name));
const bytes = result.metafile.outputs[relative(process.cwd(), join(outDir, 'grpovi.js'))]?.bytes;
console.log(
  `dist/browser/grpovi.js${bytes ? ` (${(bytes / 1024 ** 2).toFixed(1)} MiB)` : ''} and the tfjs wasm binaries`,
);
