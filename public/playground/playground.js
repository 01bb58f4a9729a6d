// The playground page: trains GRPO or GRPOVI in this tab with grpovi's browser bundle, on WebGPU when
// the browser has it, else on wasm. Everything it loads comes from the playground server: the bundle
// with TF.js's wasm binaries beside it (/grpovi/), vega (/vendor/) and the page's own modules (/lib/, the
// dashboard's chart specs among them). The files the user picks are read here and never sent anywhere.
//
// Automation: ?task=toy&steps=N&backend=webgpu|wasm&autostart=1 (and the settings' names, e.g.
// num_generations=2) fills the form and starts; every metrics row is appended to #metrics as one
// JSON line, #backend names the backend in use, and <body data-state> ends as finished or error.
import { runPlots } from '/lib/experiments/runPlots.js';
import { modelFolderKind, folderFiles } from '/lib/playground/page/folder.js';
import { parsePromptFile } from '/lib/tasks/sources/promptFile.js';
import { EXAMPLE_REWARD, rewardFromSource } from '/lib/playground/page/reward.js';
import { zipFiles } from '/lib/playground/page/zip.js';

const BUNDLE = '/grpovi/grpovi.js';
const WASM_PATH = '/grpovi/';
/** Numeric settings: the form's inputs, the query parameters and the TrainConfig fields share these names. */
const NUMBER_SETTINGS = [
  'steps',
  'seed',
  'learning_rate',
  'num_generations',
  'prompts_per_step',
  'max_completion_length',
  'beta',
  'eval_every',
];
const WHOLE = new Set([
  'steps',
  'seed',
  'num_generations',
  'prompts_per_step',
  'max_completion_length',
  'eval_every',
]);

const $ = (id) => document.getElementById(id);
const form = $('settings');
let grpovi = null;
let trainer = null;
let stopRequested = false;
let rewardSourceName = 'reward (typed in the page)';
const views = new Map();

function setState(state, text) {
  document.body.dataset.state = state;
  $('status').textContent = text;
}

function showError(error) {
  const message = error instanceof Error ? error.message : String(error);
  $('error').textContent = message;
  $('error').hidden = false;
  setState('error', 'stopped on an error (below)');
  console.error(error);
}

function clearError() {
  $('error').textContent = '';
  $('error').hidden = true;
}

/** A setting's value from the form: a number, or undefined when left empty (the task's default). */
function numberSetting(name, raw = form.elements[name].value.trim(), what = 'setting') {
  if (raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || (WHOLE.has(name) && !Number.isInteger(value)))
    throw new Error(
      `${what} "${name}" must be ${WHOLE.has(name) ? 'a whole number' : 'a number'} (${JSON.stringify(raw)})`,
    );
  return value;
}

/** Fills the form from the query string; an unknown parameter or a bad value is an error naming it. */
function applyQuery(params) {
  for (const [name, value] of params) {
    if (name === 'autostart') {
      if (!['0', '1'].includes(value))
        throw new Error(`query parameter "autostart" must be 0 or 1 (${JSON.stringify(value)})`);
    } else if (name === 'task') {
      if (!['toy', 'files'].includes(value))
        throw new Error(`query parameter "task" must be toy or files (${JSON.stringify(value)})`);
      form.elements.task.value = value;
    } else if (name === 'backend' || name === 'algo') {
      const select = name === 'backend' ? $('backend-choice') : $('algo');
      if (![...select.options].some((o) => o.value === value))
        throw new Error(
          `query parameter "${name}" must be one of ${[...select.options].map((o) => o.value).join(', ')} (${JSON.stringify(value)})`,
        );
      select.value = value;
    } else if (NUMBER_SETTINGS.includes(name)) {
      if (numberSetting(name, value.trim(), 'query parameter') === undefined)
        throw new Error(`query parameter "${name}" needs a value (${JSON.stringify(value)})`);
      form.elements[name].value = value;
    } else {
      throw new Error(
        `unknown query parameter "${name}" (known: task, steps, backend, algo, autostart, ${NUMBER_SETTINGS.filter((n) => n !== 'steps').join(', ')})`,
      );
    }
  }
}

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined && text !== null) el.textContent = String(text);
  if (className) el.className = className;
  return el;
}

/** Draws the dashboard's charts (the same specs: src/experiments/runPlots.ts) of this tab's rows. */
async function renderCharts(rows, algo) {
  const container = $('charts');
  for (const chart of runPlots([{ label: 'this tab', algo, rows }])) {
    let box = container.querySelector(`[data-chart="${CSS.escape(chart.name)}"]`);
    if (!box) {
      box = element('figure', undefined, 'chart');
      box.dataset.chart = chart.name;
      box.append(element('div'), element('p', chart.caption));
    }
    // In runPlots' order, whichever chart got its first point first (as the dashboard shows them).
    container.append(box);
    views.get(chart.name)?.finalize();
    const view = new vega.View(vega.parse(vegaLite.compile(chart.spec).spec), {
      renderer: 'svg',
      container: box.firstElementChild,
      hover: true,
    });
    views.set(chart.name, view);
    await view.runAsync();
  }
}

function clearCharts() {
  for (const view of views.values()) view.finalize();
  views.clear();
  $('charts').replaceChildren();
}

async function readPicked(input) {
  return Promise.all(
    [...input.files].map(async (file) => ({
      path: file.webkitRelativePath || file.name,
      bytes: new Uint8Array(await file.arrayBuffer()),
    })),
  );
}

/**
 * The user's files for the file task, read and checked before any backend or tensor exists, so that
 * a bad prompts file, reward module or folder is reported at once, naming the file, line and value.
 */
async function readUserInputs() {
  if (form.elements.task.value === 'toy') return null;
  const folderInput = $('model-folder');
  if (folderInput.files.length === 0)
    throw new Error('model folder: none picked (pick a grpovi or Hugging Face folder)');
  const promptsInput = $('prompts-file');
  if (promptsInput.files.length === 0) throw new Error('prompts file: none picked');
  const promptsFile = promptsInput.files[0];
  const records = parsePromptFile(await promptsFile.text(), promptsFile.name);
  const reward = await rewardFromSource($('reward-source').value, rewardSourceName);
  const { folder, files } = folderFiles(await readPicked(folderInput));
  modelFolderKind(folder, files);
  return { records, reward, folder, files };
}

/** The task (and policy) to train on: the toy task, or the user's inputs. */
function taskOf(inputs, seed) {
  if (inputs === null) return { task: grpovi.toyTask(seed), policy: undefined };
  let policy;
  try {
    policy = grpovi.policyFromFiles(inputs.files);
  } catch (error) {
    throw new Error(`${inputs.folder}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const task = grpovi.promptsTask({ prompts: inputs.records.map((r) => r.row), reward: inputs.reward });
  return { task, policy };
}

function appendRow(rows, row, algo) {
  rows.push(row);
  $('metrics').append(document.createTextNode(`${JSON.stringify(row)}\n`));
  return renderCharts(rows, algo);
}

async function train() {
  clearError();
  stopRequested = false;
  $('start').disabled = true;
  $('stop').disabled = false;
  $('save').disabled = true;
  $('save-zip').disabled = true;
  trainer?.dispose();
  trainer = null;
  $('metrics').textContent = '';
  clearCharts();
  try {
    const settings = Object.fromEntries(NUMBER_SETTINGS.map((name) => [name, numberSetting(name)]));
    const { seed = 0, ...config } = settings;
    for (const name of Object.keys(config)) if (config[name] === undefined) delete config[name];
    const algo = $('algo').value;
    setState('starting', 'reading the task…');
    const inputs = await readUserInputs();
    setState('starting', 'choosing the backend…');
    const backend = await grpovi.useBackend($('backend-choice').value, { wasmPath: WASM_PATH });
    $('backend').textContent = backend.name;
    $('adapter').textContent = backend.adapter
      ? `(adapter: ${[backend.adapter.vendor, backend.adapter.architecture, backend.adapter.description].filter(Boolean).join(' ')}${backend.adapter.fallback ? ', fallback' : ''})`
      : '';
    const { task, policy } = taskOf(inputs, seed);
    setState('starting', 'building the trainer…');
    trainer = await grpovi.createTrainer({ task, policy, config: { ...config, algo }, seed });
    const rows = [];
    const steps = trainer.config.steps;
    if (trainer.config.eval_every > 0) {
      setState('training', 'evaluating the starting policy (step 0)…');
      await appendRow(rows, { ...(await trainer.evaluate()), step: 0 }, algo);
    }
    while (trainer.stepsDone < steps && !stopRequested) {
      const step = trainer.stepsDone + 1;
      setState('training', `step ${step} of ${steps} on ${backend.name}…`);
      let row;
      try {
        row = await trainer.step();
      } catch (error) {
        throw new Error(`step ${step}: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
      await appendRow(rows, row, algo);
    }
    setState(
      'finished',
      stopRequested ? `stopped after ${trainer.stepsDone} of ${steps} steps` : `finished ${steps} steps`,
    );
    $('save').disabled = false;
    $('save-zip').disabled = false;
  } catch (error) {
    showError(error);
    if (trainer && trainer.stepsDone > 0) {
      $('save').disabled = false;
      $('save-zip').disabled = false;
    }
  } finally {
    $('start').disabled = false;
    $('stop').disabled = true;
  }
}

function download(name, bytes, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = element('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Writes the trained policy's files into a folder the user picks (File System Access API). */
async function saveFolder() {
  try {
    const files = await trainer.exportFolder();
    const root = await window.showDirectoryPicker({ mode: 'readwrite', id: 'grpovi-policy' });
    for (const [path, bytes] of Object.entries(files)) {
      const parts = path.split('/');
      let dir = root;
      for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
      const handle = await dir.getFileHandle(parts.at(-1), { create: true });
      const writable = await handle.createWritable();
      await writable.write(bytes);
      await writable.close();
    }
    $('status').textContent = `saved ${Object.keys(files).length} files into the folder ${root.name}`;
  } catch (error) {
    if (error?.name !== 'AbortError') showError(error);
  }
}

async function saveZip() {
  try {
    const files = await trainer.exportFolder();
    download('grpovi-policy.zip', zipFiles(files), 'application/zip');
    $('status').textContent =
      `downloaded grpovi-policy.zip (${Object.keys(files).length} files; unzip it into a folder)`;
  } catch (error) {
    showError(error);
  }
}

function showTaskInputs() {
  $('files-task').hidden = form.elements.task.value !== 'files';
}

async function main() {
  $('reward-source').value = EXAMPLE_REWARD;
  for (const radio of form.elements.task) radio.addEventListener('change', showTaskInputs);
  $('reward-file').addEventListener('change', async () => {
    const file = $('reward-file').files[0];
    if (!file) return;
    $('reward-source').value = await file.text();
    rewardSourceName = file.name;
  });
  $('reward-source').addEventListener('input', () => {
    rewardSourceName = 'reward (typed in the page)';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void train();
  });
  $('stop').addEventListener('click', () => {
    stopRequested = true;
    $('status').textContent = 'stopping after the current step…';
  });
  // Without showDirectoryPicker (Firefox, Safari) the folder button is hidden: the zip remains.
  if (typeof window.showDirectoryPicker !== 'function') $('save').hidden = true;
  $('save').addEventListener('click', () => void saveFolder());
  $('save-zip').addEventListener('click', () => void saveZip());
  const params = new URLSearchParams(location.search);
  try {
    applyQuery(params);
    showTaskInputs();
    grpovi = await import(BUNDLE);
  } catch (error) {
    showError(
      error instanceof TypeError && String(error.message).includes(BUNDLE)
        ? new Error(
            `cannot load grpovi's browser bundle ${BUNDLE}: build it with \`npm run build\` (${error.message})`,
          )
        : error,
    );
    return;
  }
  $('start').disabled = false;
  setState('ready', 'ready: pick the settings and press Start');
  if (params.get('autostart') === '1') await train();
}

void main();
