import type { Command } from 'commander';

/** Registers `grpovi export SOURCE --format hf --out DIR`. */
export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      "write a policy as a Hugging Face folder (config.json, model.safetensors, tokenizer files, onnx/model.onnx), or a LoRA run's adapter as a PEFT folder",
    )
    .argument('<source>', 'a run folder (its latest checkpoint), a checkpoint folder, or a model folder')
    .requiredOption(
      '--format <name>',
      "output format: hf (the whole model; a LoRA run's merged) or peft (a LoRA run's adapter)",
    )
    .requiredOption('--out <dir>', 'folder to create (must not exist)')
    .addHelpText(
      'after',
      `
Hugging Face models (and runs and checkpoints that started from one) are written back in their own
architecture with float32 weights and the original tokenizer files. grpovi's own GPT is written as
GPT2LMHeadModel with activation_function "quick_gelu" (its exact GELU form) and a word-level
tokenizer.json; models without an exact equivalent (char-level tokenizers, reward models) are refused
with the reason. Causal LMs also get onnx/model.onnx (and onnx/model.onnx_data past 2 GiB of
weights), the ONNX graph transformers.js loads. A LoRA run (--lora-r) exports with --format hf as the
merged model (base + alpha/r B A) and with --format peft as its adapter: adapter_config.json and
adapter_model.safetensors, which PEFT loads onto the base (PeftModel.from_pretrained). The folder
appears complete or not at all.

Examples:
  grpovi export runs/my-run --format hf --out exported/my-model
  grpovi export runs/my-lora-run --format peft --out exported/my-adapter`,
    )
    .action(async (source: string, flags: { format: string; out: string }) => {
      const { executeExport } = await import('../actions/export.js');
      executeExport(source, flags);
    });
}
