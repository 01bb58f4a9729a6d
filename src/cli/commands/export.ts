import type { Command } from 'commander';

/** Registers `grpovi export SOURCE --format hf --out DIR`. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write a policy as a Hugging Face folder (config.json, model.safetensors, tokenizer files, onnx/model.onnx)',
    )
    .argument('<source>', 'a run folder (its latest checkpoint), a checkpoint folder, or a model folder')
    .requiredOption('--format <name>', 'output format: hf')
    .requiredOption('--out <dir>', 'folder to create (must not exist)')
    .addHelpText(
      'after',
      `
Hugging Face models (and runs and checkpoints that started from one) are written back in their own
architecture with float32 weights and the original tokenizer files. grpovi's own GPT is written as
GPT2LMHeadModel with activation_function "quick_gelu" (its exact GELU form) and a word-level
tokenizer.json; models without an exact equivalent (char-level tokenizers, reward models) are refused
with the reason. Causal LMs also get onnx/model.onnx (and onnx/model.onnx_data past 2 GiB of
weights), the ONNX graph transformers.js loads. The folder appears complete or not at all.

Example:
  grpovi export runs/my-run --format hf --out exported/my-model`,
    )
    .action(async (source: string, flags: { format: string; out: string }) => {
      const { executeExport } = await import('../actions/export.js');
      executeExport(source, flags);
    });
}
