import type { Activation, DecoderDescription, DecoderShape } from './architecture.js';

/**
 * What a Hugging Face family is to grpovi: the `config.json` fields it reads (with their checks), its
 * architectures, and its architecture and weight layout for the one Decoder. Each family is one file
 * in `families/` holding one of these; `families/index.ts` lists them, and `hfConfig.ts` dispatches on
 * `model_type` and does the checks every family shares. Types only (and one predicate), so that the
 * family files and the dispatch both import it without a cycle.
 */
export type HfActivation = Activation;

/** A decoder-only model's config.json, read: the sizes and switches every family fills in. */
export interface HfFamilyConfig extends DecoderShape {
  /** `model_type` as written ("gpt2", "llama", "qwen2"). */
  modelType: string;
  /** Which block layout the weights follow. */
  family: 'gpt2' | 'llama';
  /** `architectures[0]` as written, e.g. "GPT2LMHeadModel" or "LlamaForSequenceClassification". */
  architecture: string;
  normEps: number;
  activation: HfActivation;
  /** RoPE base (Llama family only; 0 for learned positions). */
  ropeTheta: number;
  /** Biases on q, k and v (GPT-2: always; Llama: attention_bias; Qwen2: always). */
  qkvBias: boolean;
  /** Bias on the attention output projection (GPT-2: always; Llama: attention_bias; Qwen2: never). */
  outBias: boolean;
  /** Biases in the MLP (GPT-2: always; Llama: mlp_bias). */
  mlpBias: boolean;
  /** The output projection is the token embedding (no separate lm_head tensor). */
  tiedEmbeddings: boolean;
  bosId?: number;
  /** The first EOS id when the config lists several (Llama 3 style). */
  eosId?: number;
  padId?: number;
  /** Labels of a ForSequenceClassification head. */
  numLabels: number;
}

/**
 * The fields a family reads itself, in this order: the shared part (model type, architecture, labels,
 * token ids) is the dispatch's.
 */
export type HfFamilyFields = Omit<
  HfFamilyConfig,
  'modelType' | 'architecture' | 'bosId' | 'eosId' | 'padId' | 'numLabels'
>;

/**
 * Readers of one config.json's fields: a missing field takes the fallback; a bad value is a
 * CheckpointError naming the file, the field and the value as written.
 */
export interface HfConfigReader {
  /** The config object as parsed. */
  readonly raw: Readonly<Record<string, unknown>>;
  /** Throws the CheckpointError for `problem` (a sentence naming the field and the value). */
  fail(problem: string): never;
  int(field: string, fallback?: number): number;
  positive(field: string, fallback: number): number;
  flag(field: string, fallback: boolean): boolean;
  /** An MLP activation by its transformers name (aliases such as "swish" accepted). */
  activation(field: string, fallback: string): HfActivation;
}

export interface HfFamily {
  /** The causal LM and sequence-classification (reward model) architectures of this model type. */
  architectures: { causal: string; classifier: string };
  /** Reads and checks the family's own fields. */
  parse(reader: HfConfigReader): HfFamilyFields;
  /** The architecture and parameter layout of a config of this family. */
  describe(config: HfFamilyConfig): DecoderDescription;
}

/** Whether the config describes a sequence-classification (reward) model rather than a causal LM. */
export function isClassifier(config: Pick<HfFamilyConfig, 'architecture'>): boolean {
  return config.architecture.endsWith('ForSequenceClassification');
}
