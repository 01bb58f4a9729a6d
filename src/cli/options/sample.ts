import type { BackendName } from '../../nn/backends/backendNames.js';

/** The options of `grpovi sample` as commander hands them to the action. */
export interface SampleFlags {
  policy: string;
  prompt: string[];
  prompts?: string;
  n: number;
  temperature: number;
  topK: number;
  topP: number;
  greedy?: boolean;
  maxNewTokens?: number;
  seed: number;
  json?: boolean;
  chatTemplate?: string;
  reward: { path: string; weight?: number }[];
  rewardModel?: { path: string; weight?: number };
  backend: BackendName;
  /** A PEFT LoRA adapter folder put on the policy. */
  adapter?: string;
  /** A module of tools the policy may call (conversational prompts). */
  tools?: string;
  /** Seconds a tool call may take. */
  toolTimeout?: number;
  /** Tool-calling rounds per completion at most. */
  maxToolCallingIterations?: number;
}
