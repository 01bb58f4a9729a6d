import { fileURLToPath } from 'node:url';

/** The folder of the models shipped with the package (made by `grpovi pretrain` and `grpovi train-rm`). */
export const ASSETS_DIR = fileURLToPath(new URL('../../assets/', import.meta.url));

export const ASSET = {
  sentimentPolicy: `${ASSETS_DIR}sentiment-policy`,
  sentimentRewardModel: `${ASSETS_DIR}sentiment-reward-model`,
  arithmeticPolicy: `${ASSETS_DIR}arithmetic-policy`,
} as const;
