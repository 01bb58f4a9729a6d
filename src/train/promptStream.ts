import { Rng, type RngState } from '../util/rng.js';

/** Where a prompt stream stands, for checkpoints. */
export interface PromptStreamState {
  rng: RngState;
  order: number[];
  position: number;
  epoch: number;
}

/** Draws prompts in a seeded shuffled order, reshuffling at each pass over the data. */
export class PromptStream {
  private readonly prompts: readonly string[];
  private rng: Rng;
  private order: number[] = [];
  private position = 0;
  private epoch = 0;

  constructor(prompts: readonly string[], seed: number) {
    if (prompts.length === 0) throw new RangeError('the task has no training prompts (0)');
    this.prompts = prompts;
    this.rng = Rng.derive(seed, 'prompt-stream');
    this.reshuffle();
  }

  /** The next `count` prompts. */
  next(count: number): string[] {
    return this.nextIndices(count).map((i) => this.prompts[i]);
  }

  /** The indices (into the prompts) of the next `count` prompts, so callers can find their rows. */
  nextIndices(count: number): number[] {
    const out: number[] = [];
    while (out.length < count) {
      if (this.position >= this.order.length) {
        this.epoch++;
        this.reshuffle();
      }
      out.push(this.order[this.position++]);
    }
    return out;
  }

  state(): PromptStreamState {
    return { rng: this.rng.getState(), order: [...this.order], position: this.position, epoch: this.epoch };
  }

  restore(state: PromptStreamState): void {
    if (
      state.order.length !== this.prompts.length ||
      state.order.some((i) => !(i >= 0 && i < this.prompts.length))
    ) {
      throw new RangeError(`the saved prompt order does not fit this task's ${this.prompts.length} prompts`);
    }
    this.rng = new Rng(state.rng);
    this.order = [...state.order];
    this.position = state.position;
    this.epoch = state.epoch;
  }

  private reshuffle(): void {
    this.order = this.rng.shuffle(Array.from({ length: this.prompts.length }, (_, i) => i));
    this.position = 0;
  }
}
