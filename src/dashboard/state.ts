/**
 * What the dashboard page shows, computed from the run folders under one directory: a row per run,
 * the charts (the same Vega-Lite specs as `grpovi report RUN`, one curve per run) and the latest
 * samples of each run. Folders are re-read only when one of their files changed.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { PlotSpec } from '../experiments/plots.js';
import { type RunSeries, runPlots } from '../experiments/runPlots.js';
import {
  CONFIG_FILE,
  findRunFolders,
  METRICS_FILE,
  readRunView,
  runActivity,
  type RunActivity,
  type RunView,
  SAMPLES_FILE,
  type SampleRow,
} from '../experiments/runView.js';
import type { MetricsRow } from '../train/metrics.js';

/** Samples sent per run: the last evaluation's. */
export const SAMPLES_PER_RUN = 16;

export interface DashboardRun {
  /** Folder relative to the dashboard's directory; '.' for the directory itself. */
  id: string;
  task: string | null;
  algo: string | null;
  seed: number | null;
  step: number;
  steps: number | null;
  state: RunActivity;
  /** Latest training reward, evaluation reward and KL; null until logged. */
  reward: number | null;
  eval_reward: number | null;
  kl: number | null;
  /** Why the folder could not be read, if it could not (e.g. a bad line in metrics.jsonl). */
  error: string | null;
}

export interface DashboardSamples {
  run: string;
  step: number;
  samples: SampleRow[];
}

export interface DashboardState {
  /** Changes whenever any shown file changes; the page redraws only then. */
  version: string;
  root: string;
  runs: DashboardRun[];
  charts: PlotSpec[];
  samples: DashboardSamples[];
}

function last(rows: readonly MetricsRow[], field: 'reward_mean' | 'eval_reward' | 'kl'): number | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    const v = rows[i][field];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

function fingerprint(dir: string): string {
  return [CONFIG_FILE, METRICS_FILE, SAMPLES_FILE]
    .map((file) => {
      const path = join(dir, file);
      if (!existsSync(path)) return '-';
      const stat = statSync(path);
      return `${stat.size}:${stat.mtimeMs}`;
    })
    .join('/');
}

interface Cached {
  fingerprint: string;
  view: RunView | null;
  error: string | null;
}

/** Reads the runs under a directory on demand, caching each folder's contents by file size and time. */
export class DashboardSource {
  readonly root: string;
  private readonly cache = new Map<string, Cached>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  private read(id: string): Cached {
    const dir = join(this.root, id);
    const print = fingerprint(dir);
    const cached = this.cache.get(id);
    if (cached && cached.fingerprint === print) return cached;
    let entry: Cached;
    try {
      entry = { fingerprint: print, view: readRunView(dir), error: null };
    } catch (error) {
      entry = { fingerprint: print, view: null, error: (error as Error).message };
    }
    this.cache.set(id, entry);
    return entry;
  }

  state(now = Date.now()): DashboardState {
    const ids = findRunFolders(this.root);
    const runs: DashboardRun[] = [];
    const series: RunSeries[] = [];
    const samples: DashboardSamples[] = [];
    const prints: string[] = [];
    for (const id of ids) {
      const entry = this.read(id);
      prints.push(`${id}=${entry.fingerprint}`);
      const label = id === '' ? '.' : id;
      const view = entry.view;
      if (view === null) {
        runs.push({
          id: label,
          task: null,
          algo: null,
          seed: null,
          step: 0,
          steps: null,
          state: 'new',
          reward: null,
          eval_reward: null,
          kl: null,
          error: entry.error,
        });
        continue;
      }
      // The state depends on the time as well: a run that stops writing turns from running to interrupted.
      const lastStep = view.rows.length > 0 ? view.step : null;
      const steps = typeof view.config.steps === 'number' ? view.config.steps : null;
      const fresh = runActivity(lastStep, steps, view.lastWriteMs, now);
      prints.push(fresh);
      const config = view.config;
      const algo = typeof config.algo === 'string' ? config.algo : null;
      runs.push({
        id: label,
        task: typeof config.task === 'string' ? config.task : null,
        algo,
        seed: typeof config.seed === 'number' ? config.seed : null,
        step: view.step,
        steps: typeof config.steps === 'number' ? config.steps : null,
        state: fresh,
        reward: last(view.rows, 'reward_mean'),
        eval_reward: last(view.rows, 'eval_reward'),
        kl: last(view.rows, 'kl'),
        error: null,
      });
      series.push({
        label: ids.length === 1 ? (algo ?? basename(this.root)) : label,
        algo: algo ?? '',
        rows: view.rows,
      });
      if (view.samples.length > 0) {
        const step = Math.max(...view.samples.map((s) => s.step));
        samples.push({
          run: label,
          step,
          samples: view.samples.filter((s) => s.step === step).slice(0, SAMPLES_PER_RUN),
        });
      }
    }
    return { version: prints.join('|'), root: this.root, runs, charts: runPlots(series), samples };
  }
}
