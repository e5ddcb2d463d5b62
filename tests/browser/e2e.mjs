// End-to-end test of the web interface in a real browser.
//
// Starts two real nodes (Albania and Greece) on 127.0.0.1 with temporary
// homes, peered under the example AL-GR agreement that both sign, exactly
// as two admins would with the `nfp-node` binary. Then drives Debian's
// headless Chromium through playwright-core: an operator signs in on GR,
// opens a case, sees field-level errors on an empty form, fills in and
// sends a social inquiry request, sees it delivered, and sees the asylum
// safeguard refuse a second one in plain words. A case manager signs in on
// AL and finds the request in that node's inbox with the deadline AL owes.
// Screenshots of the main screens go to docs/screenshots/.
//
// Usage: node e2e.mjs   (after `cargo build`; NFP_NODE_BIN overrides the
// binary, CHROMIUM the browser, NFP_SCREENSHOTS the directory the
// screenshots go to, NFP_KEEP=1 keeps the temporary homes).

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const BIN = process.env.NFP_NODE_BIN || path.join(repo, 'target', 'debug', 'nfp-node');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.NFP_SCREENSHOTS || path.join(repo, 'docs', 'screenshots');
const AGREEMENT = path.join(repo, 'config', 'agreements', 'AL-GR.toml');
const started = Date.now();

function log(msg) {
  const s = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[${s}s] ${msg}`);
}

function fail(msg) {
  throw new Error(msg);
}

function nfp(args) {
  return execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function udpFree(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A port free for both TCP (API) and UDP (QUIC) on loopback.
async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    if (await udpFree(port)) return port;
  }
  fail('no free loopback port');
}

async function waitFor(what, check, ms) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      // not yet
    }
    if (Date.now() > until) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

class TestNode {
  constructor(dir, cc) {
    this.cc = cc;
    this.home = path.join(dir, cc.toLowerCase());
    this.logFile = path.join(dir, cc.toLowerCase() + '.log');
    this.proc = null;
  }

  async init() {
    this.quic = await freePort();
    this.apiPort = await freePort();
    nfp(['init', '--home', this.home, '--country', this.cc, '--name', `NFP ${this.cc === 'AL' ? 'Albania' : 'Greece'} (test)`,
      '--endpoint', `127.0.0.1:${this.quic}`, '--api', `127.0.0.1:${this.apiPort}`]);
    // Quick retries and checkpoints, as in the Rust integration tests.
    const cfg = path.join(this.home, 'node.toml');
    let text = fs.readFileSync(cfg, 'utf8');
    text = text.replace('retry_max = "5 minutes"', 'retry_max = "2 s"')
      .replace('checkpoint_entries = 100', 'checkpoint_entries = 4')
      .replace('checkpoint_interval = "60 s"', 'checkpoint_interval = "1 s"');
    fs.writeFileSync(cfg, text);
    this.base = `http://127.0.0.1:${this.apiPort}`;
  }

  card(dir) {
    const p = path.join(dir, `${this.cc}.card.toml`);
    fs.writeFileSync(p, nfp(['card', '--home', this.home]));
    return p;
  }

  adminToken() {
    return fs.readFileSync(path.join(this.home, 'keys', 'api.token'), 'utf8').trim();
  }

  async serve() {
    const out = fs.openSync(this.logFile, 'a');
    this.proc = spawn(BIN, ['serve', '--home', this.home], { stdio: ['ignore', 'ignore', out], env: { ...process.env, RUST_LOG: 'info' } });
    this.proc.once('exit', (code, signal) => { this.exited = { code, signal }; });
    await waitFor(`${this.cc} API`, async () => {
      if (this.exited) fail(`${this.cc} exited: ${fs.readFileSync(this.logFile, 'utf8')}`);
      const r = await fetch(this.base + '/v1/health');
      return r.ok;
    }, 30000);
  }

  userAdd(name, role) {
    return nfp(['user', 'add', '--home', this.home, '--name', name, '--role', role]).trim();
  }

  async stop() {
    if (!this.proc || this.exited) return;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await gone;
    clearTimeout(t);
  }
}

async function twoNodes(dir) {
  const al = new TestNode(dir, 'AL');
  const gr = new TestNode(dir, 'GR');
  await al.init();
  await gr.init();
  const alCard = al.card(dir);
  const grCard = gr.card(dir);
  nfp(['peer', 'add', '--home', al.home, '--card', grCard, '--agreement', AGREEMENT]);
  nfp(['peer', 'add', '--home', gr.home, '--card', alCard, '--agreement', AGREEMENT]);
  for (const [signer, other] of [[al, gr], [gr, al]]) {
    const sig = path.join(dir, `${signer.cc}.sig`);
    fs.writeFileSync(sig, nfp(['agreement', 'sign', '--home', signer.home, '--agreement', AGREEMENT]));
    nfp(['agreement', 'add-signature', '--home', other.home, '--signature', sig]);
  }
  await Promise.all([al.serve(), gr.serve()]);
  return { al, gr };
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
  log(`screenshot ${path.relative(repo, path.join(SHOTS, name + '.png'))}`);
}

async function signIn(page, node, token) {
  await page.goto(node.base + '/');
  await page.locator('#signin-form').waitFor();
  await page.fill('#token', token);
  await page.click('#signin-button');
  await page.locator('#who-name').waitFor({ state: 'visible' });
}

async function checkHeaders(node) {
  const r = await fetch(node.base + '/');
  const csp = r.headers.get('content-security-policy') || '';
  if (!csp.includes("default-src 'self'")) fail(`no strict CSP on /: ${csp}`);
  if (r.headers.get('x-content-type-options') !== 'nosniff') fail('no nosniff on /');
}

async function main() {
  if (!fs.existsSync(BIN)) fail(`${BIN} is missing: run cargo build first`);
  if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: apt-get install chromium`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nfp-browser-'));
  let nodes = null;
  let browser = null;
  const problems = [];
  try {
    log(`homes in ${dir}`);
    nodes = await twoNodes(dir);
    const { al, gr } = nodes;
    log(`AL on ${al.base}, GR on ${gr.base}`);
    await checkHeaders(gr);
    const eleni = gr.userAdd('eleni', 'operator');
    const arben = al.userAdd('arben', 'case-manager');

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(gr.base) && !r.url().startsWith(al.base)) problems.push(`outside request: ${r.url()}`);
    });

    // --- GR: sign in (a wrong token first) ---
    await page.goto(gr.base + '/');
    await page.locator('#signin-form').waitFor();
    await shot(page, 'sign-in');
    await page.fill('#token', '0'.repeat(64));
    await page.click('#signin-button');
    await page.locator('#signin-status .notice.bad').waitFor();
    log('a wrong token is refused');
    await page.fill('#token', eleni);
    await page.click('#signin-button');
    await page.locator('#who-name').waitFor({ state: 'visible' });
    if ((await page.textContent('#who-name')) !== 'eleni') fail('not signed in as eleni');
    if ((await page.textContent('#who-role')) !== 'operator') fail('role not shown');
    const stored = await page.evaluate(() => [sessionStorage.getItem('nfp-token') !== null, localStorage.length]);
    if (!stored[0] || stored[1] !== 0) fail('the token must be in sessionStorage only');
    log('signed in on GR as eleni (operator)');

    // --- GR: open a case ---
    const CASE = 'GR-2026-0042';
    await page.click('a[data-nav=cases]');
    await page.locator('#open-case-form').waitFor();
    await page.fill('#new-case', CASE);
    await page.fill('#new-nationality', 'AL');
    await page.fill('#new-resides', 'AL');
    await page.fill('#new-born', '2011-04-02');
    await page.click('#open-case-form button[type=submit]');
    await page.waitForURL(/#\/cases\/GR-2026-0042/);
    await page.getByText('Case record').waitFor();
    log('case opened');

    // --- GR: compose; an empty form shows field-level errors ---
    await page.goto(`${gr.base}/#/compose?case=${CASE}&to=AL`);
    await page.locator('#compose-form [data-path="child"]').waitFor();
    if ((await page.inputValue('#compose-kind')) !== 'social-inquiry-request') fail('compose does not start with a social inquiry request');
    await page.click('#compose-send');
    await page.locator('#form-problems').waitFor();
    await page.locator('[data-error-for="child"], [data-error-for^="child."], [data-error-for="reason"]').first().waitFor();
    log('the empty form shows field-level errors before sending');

    // Fill it in, field by field, as an operator would.
    await page.fill('[data-field="child.given_names"]', 'Example');
    await page.fill('[data-field="child.family_name"]', 'Child-Demo');
    await page.selectOption('[data-field="child.sex"]', 'female');
    await page.fill('[data-field="child.nationality"]', 'AL');
    await page.fill('[data-field="child.date_of_birth"]', '2011-04-02');
    await page.selectOption('[data-field="reason"]', 'assess-return');
    await page.selectOption('[data-field="return_is_option"]', 'undecided');
    await page.fill('[data-field="child_account"]', 'MADE-UP TEST DATA. The child says she lived with her mother in a rented flat.');
    await page.click('[data-add="family"]');
    await page.selectOption('[data-field="family[0].relationship"]', 'mother');
    await page.fill('[data-field="family[0].given_names"]', 'Example');
    await page.fill('[data-field="family[0].family_name"]', 'Parent-Demo');
    await page.click('[data-add="questions"]');
    await page.fill('[data-field="questions[0]"]', 'Is the mother able and willing to care for the child?');
    await page.click('#compose-check');
    await page.locator('#form-ok').waitFor();
    log('the filled form validates');
    await page.setInputFiles('#compose-attachments', {
      name: 'school-report.txt', mimeType: 'text/plain', buffer: Buffer.from('MADE-UP TEST ATTACHMENT'),
    });
    await shot(page, 'compose');
    await page.click('#compose-send');
    await page.locator('#sent').waitFor();
    const id = (await page.textContent('#sent-id')).trim();
    log(`sent ${id}`);
    await page.locator('#delivery-state .badge.delivered').waitFor({ timeout: 30000 });
    log('the UI shows it delivered');

    // --- GR: the asylum safeguard refuses a social inquiry, in plain words ---
    const ASYLUM = 'GR-2026-0043';
    await page.click('a[data-nav=cases]');
    await page.locator('#open-case-form').waitFor();
    await page.fill('#new-case', ASYLUM);
    await page.fill('#new-nationality', 'AL');
    await page.check('#new-asylum');
    await page.click('#open-case-form button[type=submit]');
    await page.waitForURL(/#\/cases\/GR-2026-0043/);
    await page.goto(`${gr.base}/#/compose?case=${ASYLUM}&to=AL`);
    await page.locator('#compose-form [data-path="child"]').waitFor();
    await page.fill('[data-field="child.given_names"]', 'Other');
    await page.fill('[data-field="child.family_name"]', 'Child-Demo');
    await page.selectOption('[data-field="child.sex"]', 'male');
    await page.fill('[data-field="child.nationality"]', 'AL');
    await page.fill('[data-field="child.birth_year"]', '2012');
    await page.selectOption('[data-field="reason"]', 'assess-return');
    await page.selectOption('[data-field="return_is_option"]', 'undecided');
    await page.fill('[data-field="child_account"]', 'MADE-UP TEST DATA.');
    await page.click('[data-add="questions"]');
    await page.fill('[data-field="questions[0]"]', 'Can the family care for the child?');
    await page.click('#compose-send');
    await page.locator('#send-refused').waitFor();
    const refusal = await page.textContent('#send-refused');
    if (!/safeguard/i.test(refusal) || !/asylum/i.test(refusal)) fail(`refusal not explained: ${refusal}`);
    log('the asylum safeguard refusal is shown in plain words');
    await shot(page, 'compose-refused');

    // --- GR: every kind's form renders from its schema and takes its example ---
    // Each example in config/forms/ is loaded into the rendered fields and
    // read back out of them; the node must find the result valid, so every
    // construct of every schema goes through the form builder both ways.
    await page.goto(`${gr.base}/#/compose?case=${CASE}&to=AL`);
    await page.locator('#compose-form [data-path="child"]').waitFor();
    const kinds = await page.$$eval('#compose-kind option', (os) => os.map((o) => o.value));
    if (kinds.length !== 12) fail(`compose offers ${kinds.length} kinds, not 12`);
    for (const kind of kinds) {
      await page.selectOption('#compose-kind', kind);
      await page.locator(`#compose-form h2:text-is("${await page.$eval(`#compose-kind option[value="${kind}"]`, (o) => o.textContent)}")`).waitFor();
      await page.setInputFiles('#compose-file', path.join(repo, 'config', 'forms', `${kind}.json`));
      const outcome = await Promise.race([
        page.locator('#form-ok').waitFor().then(() => 'ok'),
        page.locator('#form-problems, #form-not-taken').first().waitFor().then(() => 'problem'),
      ]);
      if (outcome !== 'ok') fail(`${kind}: the example did not survive the form: ${await page.textContent('#compose-status')}`);
    }
    log(`all ${kinds.length} kinds render and take their example form`);
    // A tagged form (case update) draws the fields of the type chosen.
    await page.selectOption('#compose-kind', 'case-update');
    await page.locator('[data-field="type"]').waitFor();
    await page.selectOption('[data-field="type"]', 'guardian-appointed');
    await page.locator('[data-field="authority"]').waitFor();
    await page.click('#compose-check');
    await page.locator('#form-problems').waitFor();
    await page.locator('[data-error-for="authority"], [data-error-for="guardian_type"], [data-error-for="appointed_on"]').first().waitFor();

    // --- GR: the case thread shows the delivered message and its deadline ---
    await page.goto(`${gr.base}/#/cases/${CASE}`);
    await page.locator(`li[data-message="${id}"] .badge.delivered`).waitFor();
    await page.locator(`li[data-message="${id}"]`).getByText('AL owes an answer by').waitFor({ timeout: 15000 });
    log('GR thread: delivered, AL owes an answer');

    // --- AL: a case manager finds it in the inbox with its deadline ---
    const alPage = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    alPage.on('pageerror', (e) => problems.push(`AL page error: ${e.message}`));
    await signIn(alPage, al, arben);
    await alPage.locator(`tr[data-message="${id}"]`).waitFor({ timeout: 15000 });
    const row = await alPage.textContent(`tr[data-message="${id}"]`);
    if (!row.includes(CASE) || !row.includes('Social inquiry request')) fail(`inbox row: ${row}`);
    if (!/\d{4}-\d\d-\d\d/.test(row.split('Social inquiry request')[1] || '')) fail(`no deadline in the inbox row: ${row}`);
    log('AL inbox shows the request with its deadline');
    await alPage.locator('text=we owe').first().waitFor();
    const peerRow = await alPage.textContent('section:has(h2:text-is("Peers")) tbody tr');
    if (!/connected/.test(peerRow) || /never|not known/.test(peerRow)) fail(`peer health on AL: ${peerRow}`);
    log('AL dashboard: GR connected, last contact and certificate expiry known');
    await shot(alPage, 'dashboard');
    await alPage.click(`tr[data-message="${id}"]`);
    await alPage.locator(`li[data-message="${id}"]`).getByText('We owe an answer by').waitFor();
    await alPage.locator(`li[data-message="${id}"] button`).first().click();
    await alPage.locator(`li[data-message="${id}"] .form-view dl`).first().waitFor();
    if (!(await alPage.textContent(`li[data-message="${id}"] .form-view`)).includes('Parent-Demo')) fail('the form did not open');
    log('AL case manager reads the form (audited)');
    const attached = alPage.locator(`li[data-message="${id}"] [data-attachment="school-report.txt"]`);
    await attached.waitFor();
    const [dl] = await Promise.all([alPage.waitForEvent('download'), attached.locator('button').click()]);
    const got = fs.readFileSync(await dl.path(), 'utf8');
    if (got !== 'MADE-UP TEST ATTACHMENT') fail(`the downloaded attachment differs: ${got}`);
    log('AL downloads the attachment sent from the compose screen');
    await shot(alPage, 'cases');

    // --- AL: the node admin sees agreements and the audit screen, and exports ---
    await alPage.click('#sign-out');
    await signIn(alPage, al, al.adminToken());
    await alPage.click('a[data-nav=agreements]');
    await alPage.locator('[data-agreement="AL-GR"] .badge.active').first().waitFor();
    await shot(alPage, 'agreements');
    await alPage.click('a[data-nav=audit]');
    await alPage.locator('#export-button').waitFor();
    await alPage.locator('#checkpoint-note').waitFor({ timeout: 15000 }).catch(() => {});
    await alPage.fill('#export-out', path.join(dir, 'al-audit-bundle'));
    await alPage.click('#export-button');
    await alPage.locator('#export-result .notice.ok').waitFor();
    if (!fs.existsSync(path.join(dir, 'al-audit-bundle'))) fail('the bundle was not written');
    await alPage.click('#verify-button');
    await alPage.locator('#verify-result .notice.ok').waitFor();
    log('AL admin exported and verified the audit log');
    await shot(alPage, 'audit');

    // The GR dashboard, for the record: the peer's health and what GR awaits.
    await page.click('a[data-nav=dashboard]');
    await page.locator('text=Peers').waitFor();
    await shot(page, 'dashboard-sender');

    const unexpected = problems.filter((p) => !/401|422|Unauthorized|Unprocessable/.test(p));
    if (unexpected.length) fail('browser problems:\n' + unexpected.join('\n'));
    log('PASS');
  } catch (e) {
    // Keep what the browser showed, to see why.
    for (const [i, pg] of (browser ? browser.contexts().flatMap((c) => c.pages()) : []).entries()) {
      const file = path.join(os.tmpdir(), `nfp-browser-failure-${i}.png`);
      await pg.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error(`failure screenshot: ${file}`);
    }
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (nodes) await Promise.all([nodes.al.stop(), nodes.gr.stop()]);
    if (process.env.NFP_KEEP) log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
