// Browser test of the operator dashboard in headless Chromium, driven over
// the DevTools protocol on --remote-debugging-pipe (no npm packages), on a
// real demo run: `cardbureau serve --production line --http` (two simulated
// printers on loopback readers, SQLite store, the real line) fed by the
// reference centre (`cardbureau centre`) with jobs of one school.
//
// usage: node dashboard_browser_test.mjs CARDBUREAU SOURCE_DIR ARTIFACT_DIR
// Exit: 0 pass, 1 fail, 77 skip (chromium not installed; a failure when CI=true).
//
// Story: an operator signs in, pauses both stations, the centre delivers the
// batch, the operator resumes the stations and watches the batch progress to
// completion on the live event stream, opens a produced job (card preview +
// timeline) and asks for a reprint; it waits for QA. A QA user signs in,
// approves it, and the new attempt is produced by the line. Screenshots land
// in ARTIFACT_DIR.
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [cardbureau, sourceDir, artifactDir] = process.argv.slice(2);
if (!cardbureau || !sourceDir || !artifactDir) {
  console.error('usage: dashboard_browser_test.mjs CARDBUREAU SOURCE_DIR ARTIFACT_DIR');
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) {
  // In CI (CI=true: root, every package installed) nothing may skip.
  if (process.env.CI === 'true' || process.env.CI === '1') {
    console.log(`FAIL: ${chromiumPath} not installed (apt-get install chromium; CI=true)`);
    process.exit(1);
  }
  console.log(`SKIP: ${chromiumPath} not installed (apt-get install chromium)`);
  process.exit(77);
}

const deadline = Date.now() + 110_000;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-browser-'));
const children = [];
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a);

// Stops the browser, the centre and the bureau (by their own pids), waits
// for them to exit, then removes the scratch directory.
async function shutdown() {
  await Promise.all(children.map((c) => new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const hard = setTimeout(() => c.kill('SIGKILL'), 8000);
    c.once('exit', () => { clearTimeout(hard); resolve(); });
    c.kill('SIGTERM');
  })));
  try {
    fs.rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (e) {
    log('could not remove', work, e.message);
  }
}

function fail(message) {
  console.error('FAIL:', message);
  process.exitCode = 1;
  throw new Error(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- tokens, jobs, the bureau's data directory ----
const tokens = {};
const entries = [];
for (const [name, role] of [['wang', 'operator'], ['li', 'qa'], ['zhao', 'admin']]) {
  tokens[role] = randomBytes(24).toString('base64url');
  entries.push({ name, role, sha256: createHash('sha256').update(tokens[role]).digest('hex') });
}
const tokenFile = path.join(work, 'tokens.json');
fs.writeFileSync(tokenFile, JSON.stringify({ tokens: entries }), { mode: 0o600 });

const data = path.join(work, 'data');
fs.mkdirSync(path.join(data, 'keys'), { recursive: true });
for (const f of ['keystore-test.json', 'qr-test-ed25519.pem']) {  // test-only keys
  fs.copyFileSync(path.join(sourceDir, 'fixtures/keys', f), path.join(data, 'keys', f));
  fs.chmodSync(path.join(data, 'keys', f), 0o600);
}
fs.writeFileSync(path.join(data, 'line.json'), JSON.stringify({
  keys: 'keys/keystore-test.json', template: 'bjt-student', profile: 'evolis-300',
  render_threads: 1, max_tries: 3, batches_dir: path.join(work, 'batches'),
  stations: ['station-1', 'station-2'].map((name, i) => ({
    name, printer: 'sim', reader: 'loopback', hopper: path.join(work, 'hopper', name),
    seed: 1000 * (i + 1), time_per_card_ms: 700 })),
}));

// One school's batch from the demo jobs: six valid jobs and one refused at
// intake (no face in the photo).
const allJobs = path.join(work, 'all-jobs.jsonl');
execFileSync('python3', [path.join(sourceDir, 'scripts/make_demo_jobs.py'), allJobs]);
const parsed = fs.readFileSync(allJobs, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const school = parsed.find((j) => j.job_id === 'DEMO-BAD-no-face').school.code;
const batchJobs = parsed.filter((j) => j.school.code === school && !j.job_id.startsWith('DEMO-BAD-')).slice(0, 6);
batchJobs.push(parsed.find((j) => j.job_id === 'DEMO-BAD-no-face'));
const jobsFile = path.join(work, 'jobs.jsonl');
fs.writeFileSync(jobsFile, batchJobs.map((j) => JSON.stringify(j)).join('\n') + '\n');
const firstJob = batchJobs[0].job_id;
log(`batch school-${school}: ${batchJobs.map((j) => j.job_id).join(' ')}`);

async function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}
const centreEndpoint = `tcp://127.0.0.1:${await freePort()}`;

async function startBureau() {
  const proc = spawn(cardbureau, ['serve', '--centre', centreEndpoint, '--data', data,
    '--production', 'line', '--bureau-id', 'bj-bureau-browser', '--http', '127.0.0.1:0',
    '--tokens', tokenFile, '--web', path.join(sourceDir, 'web')],
  { stdio: ['ignore', 'inherit', 'pipe'] });
  children.push(proc);
  let err = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`bureau did not start: ${err}`)), 30_000);
    proc.stderr.on('data', (d) => {
      process.stderr.write(d);
      err += d;
      const m = err.match(/dashboard on (http:\/\/[\d.]+:\d+)/);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`bureau exited ${code}: ${err}`)); });
  });
}

function startCentre() {
  const proc = spawn(cardbureau, ['centre', '--bind', centreEndpoint, '--jobs', jobsFile,
    '--photos', path.join(sourceDir, 'fixtures/photos'), '--reports', path.join(work, 'reports.jsonl'),
    '--quiet'], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(proc);
  return proc;
}

// ---- CDP over a pipe (fd 3 = to browser, fd 4 = from browser, NUL framed) ----
class Cdp {
  constructor(proc) {
    this.out = proc.stdio[3];
    this.nextId = 1;
    this.pending = new Map();
    let buf = Buffer.alloc(0);
    proc.stdio[4].on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let i;
      while ((i = buf.indexOf(0)) >= 0) {
        const msg = JSON.parse(buf.subarray(0, i).toString('utf8'));
        buf = buf.subarray(i + 1);
        if (msg.id && this.pending.has(msg.id)) {
          const { resolve, reject, method } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve(msg.result);
        }
      }
    });
  }
  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    this.out.write(JSON.stringify(msg) + '\0');
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      setTimeout(() => {
        if (this.pending.delete(id)) reject(new Error(`${method}: CDP timeout`));
      }, 15_000);
    });
  }
}

class Page {
  constructor(cdp, sessionId) { this.cdp = cdp; this.sid = sessionId; }
  send(method, params) { return this.cdp.send(method, params, this.sid); }
  async eval(expression) {
    const r = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`page exception in ${expression}: ${r.exceptionDetails.text}`);
    return r.result.value;
  }
  async waitFor(expression, what, timeoutMs = 20_000) {
    const end = Math.min(Date.now() + timeoutMs, deadline);
    for (;;) {
      const v = await this.eval(expression);
      if (v) return v;
      if (Date.now() > end) {
        await this.screenshot('failure.png').catch(() => {});
        fail(`timed out waiting for ${what}`);
      }
      await sleep(100);
    }
  }
  // A real mouse click in the middle of the element.
  async click(selector) {
    const box = await this.waitFor(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
      if (!e || e.offsetParent === null) return null; e.scrollIntoView({block: 'center'});
      const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`,
    `visible ${selector}`);
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
    }
  }
  async type(selector, text) {
    await this.click(selector);
    await this.eval(`document.querySelector(${JSON.stringify(selector)}).value = ''`);
    await this.send('Input.insertText', { text });
  }
  async screenshot(name) {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    fs.mkdirSync(artifactDir, { recursive: true });
    const file = path.join(artifactDir, name);
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
    log('screenshot', file);
  }
}

async function startBrowser() {
  const proc = spawn(chromiumPath, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', `--user-data-dir=${path.join(work, 'profile')}`,
    '--remote-debugging-pipe', '--window-size=1280,1600', 'about:blank'],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  children.push(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  proc.on('exit', (code) => { if (code) log('chromium exited', code, stderr); });
  const cdp = new Cdp(proc);
  const { targetInfos } = await cdp.send('Target.getTargets');
  let page = targetInfos.find((t) => t.type === 'page');
  if (!page) page = { targetId: (await cdp.send('Target.createTarget', { url: 'about:blank' })).targetId };
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: page.targetId, flatten: true });
  const p = new Page(cdp, sessionId);
  await p.send('Page.enable');
  await p.send('Runtime.enable');
  await p.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1600, deviceScaleFactor: 1, mobile: false });
  return p;
}

async function signIn(page, base, token, expectUser) {
  await page.send('Page.navigate', { url: base + '/' });
  await page.waitFor(`document.readyState === 'complete' && !!document.querySelector('#token')`, 'login page');
  await page.type('#token', token);
  await page.click('#login-btn');
  await page.waitFor(`document.querySelector('#user').textContent === ${JSON.stringify(expectUser)}`,
    `signed in as ${expectUser}`);
}

// Pauses or resumes a station from its tile. Tiles are re-rendered on every
// station event, so a click can land on a tile that is being replaced; the
// state is checked before each (re)try, so a slow success is never undone.
async function setStation(page, id, paused) {
  const stateOf = `document.querySelector('.station[data-station="${id}"]')?.dataset.state`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (((await page.eval(stateOf)) === 'paused') === paused) return;
    await page.click(`.station[data-station="${id}"] button.station-toggle`);
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      if (((await page.eval(stateOf)) === 'paused') === paused) return;
      await sleep(100);
    }
    log(`${id}: click did not take (tile re-rendered?), again`);
  }
  await page.screenshot('failure.png').catch(() => {});
  fail(`${id} not ${paused ? 'paused' : 'resumed'}`);
}

async function main() {
  const base = await startBureau();
  log('bureau dashboard at', base);
  const page = await startBrowser();

  // A wrong token is refused on the page.
  await page.send('Page.navigate', { url: base + '/' });
  await page.waitFor(`document.readyState === 'complete' && !!document.querySelector('#token')`, 'login page');
  await page.type('#token', 'not-a-token');
  await page.click('#login-btn');
  await page.waitFor(`document.querySelector('#login-error').textContent.includes('Unknown token')`,
    'wrong token refused');

  // 1. Operator signs in and pauses both stations from their tiles.
  await signIn(page, base, tokens.operator, 'wang (operator)');
  await page.waitFor(`document.querySelector('#live').textContent === 'live'`, 'live event stream');
  await page.waitFor(`document.querySelectorAll('.station').length === 2`, 'two station tiles');
  for (const id of ['station-1', 'station-2']) await setStation(page, id, true);
  // The centre delivers the batch; while the stations are paused only the
  // job refused at intake is finished.
  startCentre();
  const batchSel = `.batch[data-batch="school-${school}"]`;
  await page.waitFor(`(() => { const b = document.querySelector('${batchSel}');
      return b && b.querySelector('progress').max === ${batchJobs.length}; })()`,
  'the batch with all its jobs', 30_000);
  await sleep(1500);
  const start = await page.eval(`document.querySelector('${batchSel} progress').value`);
  if (start !== 1) fail(`unexpected progress while paused: ${start}`);
  await page.screenshot('00-batch-waiting.png');

  // The operator resumes the stations and watches the batch to completion.
  for (const id of ['station-1', 'station-2']) await setStation(page, id, false);
  const seen = new Set();
  for (;;) {
    const s = await page.eval(`(() => { const b = document.querySelector('${batchSel}');
        return {done: b.dataset.done === '1', value: b.querySelector('progress').value}; })()`);
    seen.add(s.value);
    if (s.done) break;
    if (Date.now() > deadline) fail('batch did not complete');
    await sleep(50);
  }
  if (seen.size < 3) fail(`progress did not move live (values seen: ${[...seen].join(',')})`);
  log('progress values seen live:', [...seen].join(','));
  const bar = await page.eval(`(() => { const p = document.querySelector('${batchSel} progress');
      return {value: p.value, max: p.max}; })()`);
  if (bar.value !== bar.max) fail(`progress bar not full: ${JSON.stringify(bar)}`);
  log('batch complete, progress bar', bar);
  const produced = await page.eval(`document.querySelector('${batchSel} .counts').textContent`);
  if (!produced.startsWith(`${batchJobs.length - 1}/${batchJobs.length} produced`)) {
    fail(`unexpected batch counts: ${produced}`);
  }
  const tiles = await page.eval(`[...document.querySelectorAll('.station')].map(e => e.textContent).join(' | ')`);
  log('station tiles:', tiles);
  await page.screenshot('01-batch-complete.png');

  // 2. Open a produced job: preview + timeline; ask for a reprint.
  await page.type('#search-q', firstJob);
  await page.click('#search-btn');
  await page.waitFor(`document.querySelectorAll('#results tbody tr').length === 1`, 'one search hit');
  await page.click(`#results tbody tr[data-job="${firstJob}"]`);
  await page.waitFor(`document.querySelector('#detail').dataset.job === '${firstJob}'
      && document.querySelector('#preview-front').dataset.loaded === '1'
      && document.querySelector('#preview-front').naturalWidth > 0`, 'job detail with card preview');
  const steps = await page.eval(`[...document.querySelectorAll('#timeline .state')].map(e => e.textContent)`);
  if (steps[0] !== 'received' || !['reported', 'acknowledged'].includes(steps[steps.length - 1])) {
    fail(`unexpected timeline ${steps.join(',')}`);
  }
  await page.type('#reprint-reason', 'print smudged across the photo');
  await page.click('#reprint-btn');
  await page.waitFor(`(() => { const r = document.querySelector('#reprints tr[data-reprint]');
      return r && r.dataset.status === 'pending'; })()`, 'reprint pending');
  const opButtons = await page.eval(`document.querySelectorAll('#reprints button.approve').length`);
  if (opButtons !== 0) fail('an operator sees an approve button');
  const msg = await page.eval(`document.querySelector('#message').textContent`);
  if (!msg.includes('waiting for QA approval')) fail(`unexpected message: ${msg}`);
  await page.screenshot('02-reprint-requested.png');

  // 3. QA signs in, approves; the new attempt is produced.
  await page.click('#logout-btn');
  await page.waitFor(`!document.querySelector('#login').hidden`, 'signed out');
  await signIn(page, base, tokens.qa, 'li (qa)');
  await page.click('#reprints tr[data-status="pending"] button.approve');
  const newJob = await page.waitFor(`(() => { const r = document.querySelector('#reprints tr[data-reprint]');
      return r && r.dataset.status === 'approved' && r.children[5].textContent; })()`, 'reprint approved');
  log('reprint approved as', newJob);
  await page.type('#search-q', newJob);
  await page.click('#search-btn');
  await page.click(`#results tbody tr[data-job="${newJob}"]`);
  await page.waitFor(`document.querySelector('#detail').dataset.job === ${JSON.stringify(newJob)}
      && document.querySelector('#detail').dataset.state === 'acknowledged'
      && document.querySelector('#preview-front').dataset.loaded === '1'`, 'reprint produced', 30_000);
  const reprintOf = await page.eval(`[...document.querySelectorAll('#detail-fields dt')]
      .find(e => e.textContent === 'Reprint of')?.nextElementSibling.textContent`);
  if (reprintOf !== firstJob) fail(`reprint not linked to the old job: ${reprintOf}`);
  await page.screenshot('dashboard.png');

  // The audit trail recorded both people (checked through the API as admin).
  const res = await fetch(base + '/api/audit', { headers: { Authorization: 'Bearer ' + tokens.admin } });
  const { entries: audit } = await res.json();
  const did = audit.map((e) => `${e.actor}:${e.action}:${e.outcome}`);
  for (const want of ['wang:reprint.request:OK', 'li:reprint.approve:OK']) {
    if (!did.includes(want)) fail(`audit trail lacks ${want}: ${did.join(' ')}`);
  }
  // The old card is voided.
  const old = await (await fetch(`${base}/api/jobs/${firstJob}`,
    { headers: { Authorization: 'Bearer ' + tokens.qa } })).json();
  if (!old.card_voided || old.reprinted_by !== newJob) fail('old card not voided / linked');
  // The line produced it on a real station: the batch counts the attempt and
  // /metrics reflects the run.
  const batch = await (await fetch(`${base}/api/batches/school-${school}`,
    { headers: { Authorization: 'Bearer ' + tokens.qa } })).json();
  if (batch.total !== batchJobs.length + 1 || batch.reprinted !== 1 || batch.produced !== batchJobs.length) {
    fail(`batch after the reprint: ${JSON.stringify(batch)}`);
  }
  const metrics = await (await fetch(`${base}/metrics`,
    { headers: { Authorization: 'Bearer ' + tokens.admin } })).text();
  const perHour = Number((metrics.match(/^cardbureau_cards_per_hour (\d+)$/m) || [])[1]);
  if (!(perHour >= batchJobs.length)) fail(`cards_per_hour ${perHour} in:\n${metrics}`);
  if (!/^cardbureau_station_up\{station="station-1"\} 1$/m.test(metrics)) fail(`station-1 not up:\n${metrics}`);
  if (!/^cardbureau_failures_total\{code="PHOTO_NO_FACE"\} 1$/m.test(metrics)) {
    fail(`the refused job is not counted:\n${metrics}`);
  }
  log('PASS');
}

main().then(async () => { await shutdown(); process.exit(0); }, async (e) => {
  console.error(e.stack || String(e));
  await shutdown();
  process.exit(1);
});
