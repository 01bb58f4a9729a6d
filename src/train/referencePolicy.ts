/** The settings that decide whether a run keeps a frozen reference policy. */
export interface ReferenceSettings {
  beta?: number;
  log_kl?: boolean;
  algo?: string;
  grpovi_weights?: string;
}

/**
 * Whether a run scores its completions under the frozen reference policy (and so keeps a copy of
 * it): the KL term (beta > 0), the KL logged at beta 0 (log_kl), or GRPOVI weights that read it.
 * Free of imports, so the playground page (through the run charts) can load it as it is.
 */
export function needsReference(settings: ReferenceSettings): boolean {
  const weights = settings.algo === 'grpovi' ? (settings.grpovi_weights ?? 'uniform') : 'uniform';
  return (settings.beta ?? 0) > 0 || settings.log_kl === true || weights !== 'uniform';
}
