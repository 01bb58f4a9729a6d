/** grpovi's GPT config and parameters: defined with the family (families/grpoviGpt.ts). */
export { type GptConfig, gptParamSpecs, validateGptConfig } from './families/grpoviGpt.js';
export { countParams, type ParamSpec } from './paramSpec.js';
