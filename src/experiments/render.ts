/**
 * Renders Vega-Lite specs to SVG (vega's headless view, no canvas needed) and SVG to PNG (resvg).
 * PNG text uses the system's fonts (DejaVu Sans when installed); without any font the PNG has no
 * text, while the SVG, which names the font family, is unaffected.
 */
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../util/atomicWrite.js';
import type { PlotSpec, VegaLiteSpec } from './plots.js';

export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = compile(spec as unknown as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterizes an SVG at twice its size on a white background. */
export function svgToPng(svg: string): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

export interface RenderedPlot {
  name: string;
  caption: string;
  /** File names relative to the comparison folder. */
  svg: string;
  png: string | null;
}

/** Writes `<name>.svg` and `<name>.png` for every plot into `dir`. */
export async function writePlots(dir: string, plots: readonly PlotSpec[]): Promise<RenderedPlot[]> {
  const rendered: RenderedPlot[] = [];
  for (const plot of plots) {
    const svg = await renderSvg(plot.spec);
    const svgFile = `${plot.name}.svg`;
    writeFileAtomic(join(dir, svgFile), svg);
    let pngFile: string | null = `${plot.name}.png`;
    try {
      writeFileAtomic(join(dir, pngFile), svgToPng(svg));
    } catch {
      // The SVG is the primary output; a rasterizer problem must not lose the comparison's report.
      pngFile = null;
    }
    rendered.push({ name: plot.name, caption: plot.caption, svg: svgFile, png: pngFile });
  }
  return rendered;
}
