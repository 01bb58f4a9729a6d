/**
 * Which projections a LoRA adapter can sit on, by model family, and how PEFT names them. Pure: no
 * tensors, no file system.
 *
 * Facts taken from PEFT (src/peft/tuners/lora/layer.py, model.py, utils/constants.py):
 * - a target name matches a module whose full name equals it or ends with `.` + it, so `c_proj`
 *   matches both GPT-2's attention and MLP output projections (`mlp.c_proj` only the MLP's); a
 *   target given as one string is a regular expression that must match the whole module name;
 * - the defaults (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) are `c_attn` for gpt2 and
 *   `q_proj`, `v_proj` for llama and qwen2;
 * - `lora_A.weight` is [r, in] and `lora_B.weight` [out, r] for nn.Linear and for GPT-2's Conv1D
 *   alike (lora_A is an nn.Linear(in, r), lora_B an nn.Linear(r, out)); `fan_in_fan_out` (true for
 *   Conv1D, whose weight is [in, out]) only transposes the merged delta: delta = transpose(B @ A,
 *   fan_in_fan_out) * alpha / r;
 * - saved keys are `base_model.model.<module>.lora_A.weight` with <module> the path inside the
 *   transformers model: `transformer.h.0.attn.c_attn` (GPT2LMHeadModel), `model.layers.0.self_attn.q_proj`
 *   (LlamaForCausalLM, Qwen2ForCausalLM).
 */

/** What adapters read of a model's parameter specs (ParamSpec has more). */
export interface AdaptableSpec {
  name: string;
  shape: readonly number[];
}

/** grpovi's own GPT (exported as GPT2LMHeadModel) and the Hugging Face model types. */
export type AdapterFamily = 'gpt' | 'gpt2' | 'llama' | 'qwen2';

/** The projection names per family that adapters can target. */
export const ADAPTABLE_MODULES: Record<AdapterFamily, readonly string[]> = {
  gpt: ['c_attn', 'c_proj', 'c_fc'],
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  qwen2: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
};

/** PEFT's default target modules when none are given. */
export const PEFT_DEFAULT_TARGETS: Record<AdapterFamily, readonly string[]> = {
  gpt: ['c_attn'],
  gpt2: ['c_attn'],
  llama: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
};

/** One projection x @ W with W stored [inputs, outputs]; `module` is its path without the body prefix. */
export interface ProjectionShape {
  /** e.g. `h.0.attn.c_attn` or `layers.0.self_attn.q_proj`. */
  module: string;
  inputs: number;
  outputs: number;
}

/** Which modules to adapt: a list of names (suffix match) or one regular expression (full match). */
export type TargetModules = readonly string[] | string;

/** An adapter's target list that matches nothing, or names a module the family cannot adapt. */
export class AdapterTargetError extends Error {
  override readonly name = 'AdapterTargetError';
}

/** The adaptable projections of a model, in parameter order, from its parameter specs (stored [in, out]). */
export function adaptableProjections(
  family: AdapterFamily,
  specs: readonly AdaptableSpec[],
): ProjectionShape[] {
  const names = new Set(ADAPTABLE_MODULES[family]);
  const out: ProjectionShape[] = [];
  for (const spec of specs) {
    if (!spec.name.endsWith('.weight') || spec.shape.length !== 2) continue;
    const module = spec.name.slice(0, -'.weight'.length);
    if (!names.has(module.slice(module.lastIndexOf('.') + 1))) continue;
    out.push({ module, inputs: spec.shape[0], outputs: spec.shape[1] });
  }
  return out;
}

/** The key prefix of the body in transformers' module names. */
export function bodyModulePrefix(family: AdapterFamily): string {
  return family === 'gpt' || family === 'gpt2' ? 'transformer.' : 'model.';
}

/** The module's name inside the transformers model, as PEFT matches and saves it. */
export function peftModulePath(family: AdapterFamily, module: string): string {
  return bodyModulePrefix(family) + module;
}

/** The key PEFT saves an adapter matrix under. */
export function peftKey(family: AdapterFamily, module: string, matrix: 'A' | 'B'): string {
  return `base_model.model.${peftModulePath(family, module)}.lora_${matrix}.weight`;
}

/** PEFT's fan_in_fan_out: true where the base weight is stored [in, out] (GPT-2's Conv1D). */
export function fanInFanOut(family: AdapterFamily): boolean {
  return family === 'gpt' || family === 'gpt2';
}

function matchesTarget(path: string, targets: TargetModules): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(path);
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

/**
 * The projections the targets select, PEFT's way (matched against the full transformers module
 * name). Every listed target must match at least one adaptable projection, as PEFT requires of the
 * whole list; `source` names the input in the error.
 */
export function selectTargets(
  family: AdapterFamily,
  projections: readonly ProjectionShape[],
  targets: TargetModules | undefined,
  source = 'lora_target_modules',
): ProjectionShape[] {
  const chosen = targets ?? PEFT_DEFAULT_TARGETS[family];
  if (typeof chosen === 'string') {
    try {
      new RegExp(chosen);
    } catch {
      throw new AdapterTargetError(`${source}: ${JSON.stringify(chosen)} is not a valid regular expression`);
    }
  } else {
    if (chosen.length === 0)
      throw new AdapterTargetError(`${source}: the list of target modules is empty ([])`);
    for (const target of chosen) {
      const hits = projections.some((p) => matchesTarget(peftModulePath(family, p.module), [target]));
      if (!hits)
        throw new AdapterTargetError(
          `${source}: target module ${JSON.stringify(target)} matches no projection of this ${familyLabel(family)} model (adaptable: ${ADAPTABLE_MODULES[family].join(', ')})`,
        );
    }
  }
  const selected = projections.filter((p) => matchesTarget(peftModulePath(family, p.module), chosen));
  if (selected.length === 0)
    throw new AdapterTargetError(
      `${source}: ${JSON.stringify(chosen)} matches no projection of this ${familyLabel(family)} model (adaptable: ${ADAPTABLE_MODULES[family].join(', ')})`,
    );
  return selected;
}

/** Parameters of rank-r adapters on these projections: r (in + out) each. */
export function adapterParameterCount(projections: readonly ProjectionShape[], r: number): number {
  return projections.reduce((n, p) => n + r * (p.inputs + p.outputs), 0);
}

function familyLabel(family: AdapterFamily): string {
  return family === 'gpt' ? 'grpovi GPT' : family;
}
