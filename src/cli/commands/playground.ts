import type { Command } from 'commander';
import type { PlaygroundFlags } from '../options/playground.js';
import { integerArg } from '../parsers.js';

/** Registers `grpovi playground`. */
export function registerPlayground(program: Command): void {
  program
    .command('playground')
    .description('serve a web page that trains GRPO or GRPOVI in the browser tab (WebGPU, else wasm)')
    .option('--port <n>', 'port to listen on; 0 picks a free one', integerArg(0), 8081)
    .option('--host <address>', 'address to bind; the default lets only this machine connect', '127.0.0.1')
    .addHelpText(
      'after',
      `
The page trains in the tab that opens it, on WebGPU where the browser has it, else on wasm: the
built-in toy task, or a Hugging Face or grpovi model folder and a prompts file picked from disk
with a reward function given as a module file or typed into the page. It draws the dashboard's
charts live and saves the trained model as a folder. The server only hands out the page, grpovi's
browser bundle, TF.js's wasm files and vega; the files you pick never leave the browser.

For automation: ?task=toy&steps=N&backend=webgpu|wasm&autostart=1 trains at once; each step's
metrics row (the fields of metrics.jsonl) is appended to #metrics as one JSON line and #backend
names the backend in use. See docs/playground.md.

Examples:
  grpovi playground
  grpovi playground --port 0`,
    )
    .action(async (flags: PlaygroundFlags) => {
      const { executePlayground } = await import('../actions/playground.js');
      await executePlayground(flags);
    });
}
