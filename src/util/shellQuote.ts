/** Quotes a shell word when it needs it (single quotes; a quote inside becomes '\''). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
