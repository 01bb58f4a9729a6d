// A reward module for `grpovi train --reward examples/own-task/keywords.mjs`.
// rows[i] is the prompt file's line of sample i: here its "keywords" column.
// The reward is the share of the line's keywords the completion mentions: 0, 1/3, 2/3 or 1.
export default function keywords(prompts, completions, rows) {
  return completions.map((completion, i) => {
    const words = new Set(completion.split(' '));
    const wanted = rows[i].keywords;
    return wanted.filter((word) => words.has(word)).length / wanted.length;
  });
}
keywords.range = [0, 1];
