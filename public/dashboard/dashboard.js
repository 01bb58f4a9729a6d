// The dashboard page: polls /api/state and redraws the runs table, the charts (Vega-Lite specs
// compiled in the page by the bundled vega-lite, drawn as SVG by vega) and the samples when the
// state's version changes. Text from run folders goes through textContent only, never HTML.
'use strict';

const POLL_MS = 1000;
let version = null;
let state = null;
/** Chart views by chart name, finalized before a redraw. */
const views = new Map();

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined && text !== null) el.textContent = String(text);
  if (className) el.className = className;
  return el;
}

function formatNumber(value, digits = 3) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function renderRuns(runs) {
  const body = document.querySelector('#runs tbody');
  body.replaceChildren();
  if (runs.length === 0) {
    const row = element('tr');
    const cell = element('td', 'No run folder here yet (one appears when a run writes config.json).');
    cell.colSpan = 9;
    row.append(cell);
    body.append(row);
    return;
  }
  for (const run of runs) {
    const row = element('tr');
    row.dataset.run = run.id;
    const step = run.steps === null ? String(run.step) : `${run.step} / ${run.steps}`;
    const cells = [
      element('td', run.id),
      element('td', run.task ?? '–'),
      element('td', run.algo ?? '–'),
      element('td', run.seed ?? '–', 'number'),
      element('td', step, 'number step'),
      element('td', formatNumber(run.reward), 'number'),
      element('td', formatNumber(run.eval_reward), 'number'),
      element('td', formatNumber(run.kl, 4), 'number'),
      run.error
        ? element('td', `unreadable: ${run.error}`, 'error')
        : element('td', run.state, `state state-${run.state}`),
    ];
    row.append(...cells);
    body.append(row);
  }
}

async function renderCharts(charts) {
  const container = document.getElementById('charts');
  const names = new Set(charts.map((c) => c.name));
  for (const [name, view] of views) {
    if (!names.has(name)) {
      view.finalize();
      views.delete(name);
      container.querySelector(`[data-chart="${CSS.escape(name)}"]`)?.remove();
    }
  }
  for (const chart of charts) {
    let box = container.querySelector(`[data-chart="${CSS.escape(chart.name)}"]`);
    if (!box) {
      box = element('figure', undefined, 'chart');
      box.dataset.chart = chart.name;
      box.append(element('div'), element('p', chart.caption));
      container.append(box);
    }
    views.get(chart.name)?.finalize();
    const compiled = vegaLite.compile(chart.spec).spec;
    const view = new vega.View(vega.parse(compiled), {
      renderer: 'svg',
      container: box.firstElementChild,
      hover: true,
    });
    views.set(chart.name, view);
    await view.runAsync();
  }
}

function renderSamples() {
  const select = document.getElementById('sample-run');
  const target = document.getElementById('samples');
  const groups = state ? state.samples : [];
  const chosen = select.value;
  select.replaceChildren(...groups.map((g) => element('option', g.run)));
  if (groups.some((g) => g.run === chosen)) select.value = chosen;
  const group = groups.find((g) => g.run === select.value) ?? groups[0];
  target.replaceChildren();
  if (!group) {
    target.append(element('p', 'No samples yet: runs write samples.jsonl at every evaluation.'));
    return;
  }
  target.append(element('p', `Last evaluation with samples: step ${group.step} of ${group.run}`));
  const table = element('table');
  const head = element('tr');
  for (const title of ['prompt', 'completion', 'reward', 'rewards', 'gold'])
    head.append(element('th', title));
  table.append(head);
  for (const sample of group.samples) {
    const row = element('tr');
    const prompt = element('td');
    prompt.append(element('pre', sample.prompt));
    const completion = element('td');
    completion.append(element('pre', sample.completion));
    const rewards = Object.entries(sample.rewards ?? {})
      .map(([name, value]) => `${name} ${formatNumber(value)}`)
      .join(', ');
    row.append(
      prompt,
      completion,
      element('td', formatNumber(sample.reward), 'number'),
      element('td', rewards || '–'),
      element('td', formatNumber(sample.gold), 'number'),
    );
    table.append(row);
  }
  target.append(table);
}

async function poll() {
  const status = document.getElementById('status');
  try {
    const response = await fetch('/api/state', { cache: 'no-store' });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    const next = await response.json();
    if (next.version !== version) {
      state = next;
      version = next.version;
      document.getElementById('root').textContent = `runs under ${next.root}`;
      renderRuns(next.runs);
      renderSamples();
      await renderCharts(next.charts);
    }
    status.textContent = `updated ${new Date().toLocaleTimeString()} (every ${POLL_MS / 1000} s)`;
    status.className = '';
  } catch (error) {
    status.textContent = `cannot read the dashboard server: ${error.message}`;
    status.className = 'error';
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.getElementById('sample-run').addEventListener('change', renderSamples);
poll();
