import { Tokenizer as TokenizerJs } from '@huggingface/tokenizers';
import { CheckpointError, describeJsonValue, parseCheckpointJson } from '../weights/checkpointError.js';
import { chatTemplatesOf, type SpecialTokenStrings, specialTokenStrings } from './chatTemplate.js';
import type { EncodeOptions, Tokenizer, TokenizerJson } from './tokenizer.js';

/** The special-token ids a model's config.json states (each may be absent). */
export interface ConfigSpecialIds {
  bosId?: number;
  eosId?: number;
  padId?: number;
}

/** A folder's other files a tokenizer reads: the chat template file and generation_config.json. */
export interface TokenizerSideFiles {
  chatTemplateJinja?: string;
  generationConfigJson?: string;
}

/**
 * A Hugging Face `tokenizer.json` tokenizer (byte-level BPE for GPT-2, SentencePiece-style BPE for
 * Llama, ...) through `@huggingface/tokenizers`, the tokenizer library transformers.js itself uses.
 *
 * - `encode` does what `tokenizer(text)` does in transformers: with the post-processor's special
 *   tokens (Llama's BOS; nothing for GPT-2).
 * - `decode` drops pad and EOS ids (as grpovi's other tokenizers do) and decodes the rest as
 *   transformers' `decode` would, honouring `clean_up_tokenization_spaces` from tokenizer_config.json.
 * - EOS, BOS and pad come from config.json first, then tokenizer_config.json; GPT-2 has no pad token,
 *   so pad falls back to EOS (padding never reaches the model's attention: it is masked).
 */
export class HfTokenizer implements Tokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly bosId: number | undefined;
  /** The files as read, so that checkpoints and exports write them back unchanged. */
  readonly tokenizerJson: string;
  readonly tokenizerConfigJson: string | undefined;
  /** EOS and the end-of-turn ids of generation_config.json's `eos_token_id` (e.g. `<|im_end|>`). */
  readonly stopIds: readonly number[];
  /** The folder's chat templates by name (empty without one), and the special tokens they read. */
  readonly chatTemplates: ReadonlyMap<string, string>;
  readonly specialTokens: SpecialTokenStrings;
  private readonly tokenizer: TokenizerJs;

  constructor(
    tokenizerJson: string,
    tokenizerConfigJson: string | undefined,
    ids: ConfigSpecialIds,
    source: string,
    sideFiles: TokenizerSideFiles = {},
  ) {
    const parse = (text: string, name: string): Record<string, unknown> => {
      const value = parseCheckpointJson(text, `${source}/${name}`);
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new CheckpointError(
          `${source}/${name}`,
          `must hold a JSON object (${describeJsonValue(value)})`,
        );
      return value as Record<string, unknown>;
    };
    const json = parse(tokenizerJson, 'tokenizer.json');
    const config =
      tokenizerConfigJson === undefined ? {} : parse(tokenizerConfigJson, 'tokenizer_config.json');
    try {
      this.tokenizer = new TokenizerJs(json, config);
    } catch (error) {
      throw new CheckpointError(`${source}/tokenizer.json`, `cannot be loaded (${(error as Error).message})`);
    }
    this.tokenizerJson = tokenizerJson;
    this.tokenizerConfigJson = tokenizerConfigJson;
    this.vocabSize = this.tokenizer.get_vocab(true).size;
    const fromConfig = (field: string): number | undefined => {
      const raw = config[field];
      const text = typeof raw === 'string' ? raw : (raw as { content?: unknown } | undefined)?.content;
      if (typeof text !== 'string') return undefined;
      const id = this.tokenizer.token_to_id(text);
      if (id === undefined)
        throw new CheckpointError(
          `${source}/tokenizer_config.json`,
          `"${field}" ${JSON.stringify(text)} is not a token of tokenizer.json`,
        );
      return id;
    };
    const eos = ids.eosId ?? fromConfig('eos_token');
    if (eos === undefined)
      throw new CheckpointError(
        source,
        'no EOS token: config.json has no "eos_token_id" and tokenizer_config.json no "eos_token"',
      );
    this.eosId = eos;
    this.bosId = ids.bosId ?? fromConfig('bos_token');
    this.padId = ids.padId ?? fromConfig('pad_token') ?? eos;
    this.unkId = fromConfig('unk_token') ?? eos;
    this.chatTemplates = chatTemplatesOf(config, sideFiles.chatTemplateJinja, source);
    this.specialTokens = specialTokenStrings(config);
    const stops = new Set([eos]);
    if (sideFiles.generationConfigJson !== undefined) {
      const generation = parse(sideFiles.generationConfigJson, 'generation_config.json');
      const field = generation.eos_token_id;
      const listed = Array.isArray(field) ? (field as unknown[]) : field === undefined ? [] : [field];
      for (const id of listed) {
        if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= this.vocabSize)
          throw new CheckpointError(
            `${source}/generation_config.json`,
            `"eos_token_id" ${JSON.stringify(field)} is not a token id of tokenizer.json`,
          );
        stops.add(id as number);
      }
    }
    this.stopIds = [...stops];
  }

  /** Ids of the text; `addSpecialTokens: false` leaves out the post-processor's tokens (rendered chats carry their own). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids = this.tokenizer.encode(text, {
      add_special_tokens: options.addSpecialTokens ?? true,
    }).ids;
    // @huggingface/tokenizers 0.2 runs WordLevel models without their unk_token (unknown words come
    // out as undefined); transformers' tokenizers library maps them to the unk id.
    for (let i = 0; i < ids.length; i++) if (ids[i] === undefined) ids[i] = this.unkId;
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    const kept: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new RangeError(`ids[${i}] is not an id of this ${this.vocabSize}-token vocabulary (${id})`);
      if (id !== this.padId && !this.stopIds.includes(id)) kept.push(id);
    }
    // The library refuses an empty list (a completion that is only its end token has no text).
    return kept.length === 0 ? '' : this.tokenizer.decode(kept);
  }

  tokenToString(id: number): string {
    const token = Number.isInteger(id) ? this.tokenizer.id_to_token(id) : undefined;
    if (token === undefined)
      throw new RangeError(`token id is not an id of this ${this.vocabSize}-token vocabulary (${id})`);
    return token;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Refused: a Hugging Face model is saved as a Hugging Face folder, with tokenizer.json as it was read. */
  toJSON(): TokenizerJson {
    throw new TypeError(
      'a tokenizer.json tokenizer is saved as tokenizer.json, not inside a grpovi model.json',
    );
  }
}
