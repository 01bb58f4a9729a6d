/**
 * A plain-JS transcription of how Hugging Face transformers turns next-token logits into the
 * sampling distribution for `generate(do_sample=True)` (transformers/generation/logits_process.py,
 * in the order `GenerationMixin._get_logits_processor` applies them), written independently of src/:
 * 1. `RepetitionPenaltyLogitsProcessor`: for each token id in input_ids (prompt + generated so far),
 *    score < 0 ? score * penalty : score / penalty;
 * 2. `TemperatureLogitsWarper`: scores / temperature;
 * 3. `TopKLogitsWarper`: scores below the k-th largest become -inf;
 * 4. `TopPLogitsWarper`: sort ascending, softmax, cumsum; tokens with cumsum <= 1 - top_p become -inf
 *    (the most likely token always stays);
 * 5. `MinPLogitsWarper`: probs = softmax(scores); tokens with probs < min_p * max(probs) become -inf;
 * then softmax. TRL's GRPOTrainer passes `top_k`, `top_p`, `min_p`, `repetition_penalty` and
 * `temperature` from GRPOConfig into this generation config.
 */
export interface HfSampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
}

function softmax(scores: readonly number[]): number[] {
  const max = Math.max(...scores);
  const e = scores.map((s) => (s === -Infinity ? 0 : Math.exp(s - max)));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

export function hfNextTokenDistribution(
  logits: readonly number[],
  inputIds: readonly number[],
  o: HfSampling,
): number[] {
  let scores = [...logits];
  if (o.repetitionPenalty !== 1) {
    for (const id of inputIds) {
      const s = logits[id];
      scores[id] = s < 0 ? s * o.repetitionPenalty : s / o.repetitionPenalty;
    }
  }
  scores = scores.map((s) => s / o.temperature);
  if (o.topK > 0 && o.topK < scores.length) {
    const kth = [...scores].sort((a, b) => b - a)[o.topK - 1];
    scores = scores.map((s) => (s < kth ? -Infinity : s));
  }
  if (o.topP < 1) {
    const ascending = scores.map((s, i) => ({ s, i })).sort((a, b) => a.s - b.s);
    const probs = softmax(ascending.map((x) => x.s));
    let cum = 0;
    ascending.forEach((x, r) => {
      cum += probs[r];
      if (cum <= 1 - o.topP && r < ascending.length - 1) scores[x.i] = -Infinity;
    });
  }
  if (o.minP > 0) {
    const probs = softmax(scores);
    const top = Math.max(...probs);
    scores = scores.map((s, i) => (probs[i] < o.minP * top ? -Infinity : s));
  }
  return softmax(scores);
}
