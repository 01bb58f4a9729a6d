/**
 * What every chart spec shares, in a module that imports nothing, so that the run charts
 * (runPlots.ts) also load in the browser: the playground page draws them from the same code.
 */
export type VegaLiteSpec = Record<string, unknown>;

export interface PlotSpec {
  /** File name without extension. */
  name: string;
  /** What the plot shows, for the report. */
  caption: string;
  spec: VegaLiteSpec;
}

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** Steps are whole numbers: no ticks between them. */
export const STEP_AXIS = {
  field: 'step',
  type: 'quantitative',
  title: 'step',
  axis: { tickMinStep: 1, format: 'd' },
};
