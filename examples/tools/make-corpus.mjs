/**
 * Writes the pretraining text of the tool-calling example's tiny policy: for every "a op b" with
 * single digits, the conversation in which the assistant calls the calculator, and the one that
 * goes on with the tool's answer, written as chat_template.jinja renders them (one line each: the
 * char-level pretraining reads lines).
 *
 *   node examples/tools/make-corpus.mjs > tool-corpus.jsonl
 */
const lines = [];
for (let a = 0; a < 10; a++) {
  for (let b = 0; b < 10; b++) {
    for (const [op, value] of [
      ['+', a + b],
      ['-', a - b],
      ['*', a * b],
    ]) {
      const expression = `${a} ${op} ${b}`;
      const call = `<tool_call>${JSON.stringify({ name: 'calculator', arguments: { expression } }).replaceAll('":', '": ').replaceAll(',"', ', "')}</tool_call>`;
      const head = `user: What is ${expression}? assistant: ${call}`;
      lines.push(head, `${head} tool: ${value} assistant: ${value}`);
    }
  }
}
process.stdout.write(lines.map((text) => `${JSON.stringify({ text })}\n`).join(''));
