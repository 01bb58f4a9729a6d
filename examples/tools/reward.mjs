/**
 * The reward of the tool-calling example: 1 when the policy's last message states the answer.
 * With conversational prompts a reward module receives messages, as TRL hands them: `completions[i]`
 * is the conversation the policy added (assistant turns with their tool calls, the tool messages,
 * the final answer), `rows[i]` the prompt file's line (its "answer" column).
 */
export default function correctAnswer(prompts, completions, rows) {
  return completions.map((messages, i) => {
    const last = messages.at(-1);
    return last.role === 'assistant' && last.content.trim() === String(rows[i].answer) ? 1 : 0;
  });
}
correctAnswer.range = [0, 1];
