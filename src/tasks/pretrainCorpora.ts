import type { CorpusName } from './corpus.js';

/**
 * Corpora `grpovi pretrain` trains on: English sentences (word-level) or arithmetic lines (character-level).
 * Apart from src/tasks/datasets.ts (which loads the corpora) so that the CLI can offer the names cheaply.
 */
export type PretrainCorpus = CorpusName | 'arithmetic';
export const PRETRAIN_CORPORA: readonly PretrainCorpus[] = ['sotu', 'moby-dick', 'arithmetic'];
