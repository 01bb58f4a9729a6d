import { type Command, Option } from 'commander';
import type { SampleFlags } from '../options/sample.js';
import { backendOption } from '../options/backend.js';
import { integerArg, numberArg, pathArg, pathOrNameArg, weightedPathArg } from '../parsers.js';

function collect<T>(parse: (value: string) => T) {
  return (value: string, previous: T[]): T[] => [...previous, parse(value)];
}

/** Registers `grpovi sample`: completions of prompts from a policy folder or a run's latest checkpoint. */
export function registerSample(program: Command): void {
  program
    .command('sample')
    .description("print a policy's completions of prompts (optionally with their rewards)")
    .requiredOption('--policy <dir>', 'a model folder, or a run folder (its latest checkpoint)', pathArg)
    .addOption(
      new Option('--prompt <text>', 'a prompt (repeatable)').argParser(collect((v) => v)).default([], 'none'),
    )
    .option('--prompts <file>', 'prompts of a file: JSONL with a "prompt" string per line, or text', pathArg)
    .option('--n <n>', 'completions per prompt', integerArg(1), 1)
    .option('--temperature <t>', 'sampling temperature', numberArg({ positive: true }), 1)
    .option('--top-k <k>', 'sample from the k likeliest tokens (0: all)', integerArg(0), 0)
    .option('--top-p <p>', 'nucleus sampling mass, in (0, 1]', numberArg({ positive: true }), 1)
    .option('--greedy', 'always take the likeliest token (same as --top-k 1)')
    .option(
      '--max-new-tokens <n>',
      "tokens per completion at most (default: 16, within the policy's context)",
      integerArg(1),
    )
    .option(
      '--adapter <dir>',
      'a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) put on --policy, its base',
      pathArg,
    )
    .option('--seed <n>', 'sampling seed (same seed, same completions)', integerArg(0), 0)
    .option(
      '--json',
      'one JSON object per line: {"prompt", "prompt_text", "completion"} (and "reward", "rewards"; with --tools "messages", "tool_calls", "tool_failures")',
    )
    .option(
      '--chat-template <file|name>',
      "chat template for conversational prompts: a Jinja file, or the name of one of the policy's templates",
      pathOrNameArg,
    )
    .option(
      '--tools <module>',
      'tools the policy may call, as in train: a module exporting functions with "description" and "parameters" (conversational prompts)',
      pathArg,
    )
    .option(
      '--max-tool-calling-iterations <n>',
      'tool-calling rounds per completion at most (default: until the completion budget is spent)',
      integerArg(0),
    )
    .option(
      '--tool-timeout <seconds>',
      'seconds a tool call may take before it fails (default: 10)',
      numberArg({ positive: true }),
    )
    .addOption(
      new Option('--reward <module[:weight]>', 'score completions with a reward module (repeatable)')
        .argParser(collect(weightedPathArg))
        .default([], 'none'),
    )
    .option('--reward-model <dir[:weight]>', 'score completions with a reward model as well', weightedPathArg)
    .addOption(backendOption())
    .addHelpText(
      'after',
      `
Prompts are normalized as the policy's tokenizer expects (word-level: lower case, punctuation split off).
Conversational prompts (JSONL "prompt" as a list of {"role", "content"} messages) are rendered with the
policy's chat template; "prompt" is the prompt as given, "prompt_text" the text the policy read.
"completion" is the decoded generated tokens only. With --reward / --reward-model each completion gets
the weighted sum ("reward") and each function's score ("rewards"); JSONL prompt files hand their other
fields to the reward modules as rows, as in training. With --tools (conversational prompts) the
policy's tool calls run as in training: "messages" is the completion as messages (assistant turns with
their tool calls, the tool results, the last answer), and stderr ends with the tool call counts.

Examples:
  grpovi sample --policy assets/sentiment-policy --prompt "the garden in spring" --n 3
  grpovi sample --policy runs/own/grpovi --prompts examples/own-task/prompts.jsonl --json
  grpovi sample --policy models/SmolLM2-135M --adapter exported/my-adapter --prompt "Hello"
  grpovi sample --policy models/Qwen2.5-0.5B-Instruct --prompts examples/tools/prompts.jsonl --tools examples/tools/calculator.mjs --json`,
    )
    .action(async (flags: SampleFlags) => {
      const { executeSample } = await import('../actions/sample.js');
      await executeSample(flags);
    });
}
