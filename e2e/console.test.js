// Browser tests of the firebreak web console.
//
// Starts a real firebreak (SQLite in a temp dir, a free loopback port), sets up users, teams,
// services, integrations and grants through the JSON API with the bootstrap token, and drives
// Debian's chromium with playwright-core through the pages a responder uses during an outage.
// Screenshots land in e2e/output/ (ignored by git; CI keeps them as artifacts).
//
// Every wait is bounded; nothing is skipped: a missing chromium or firebreak binary fails the run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createInterface } from 'node:readline';
import { existsSync, accessSync, constants as fsc } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUTPUT = join(HERE, 'output');
const BOOTSTRAP_TOKEN = 'e2e-bootstrap-token-0123456789abcdef';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** Default bound of every Playwright action and wait. */
const ACTION_MS = 10_000;
/** How long a live part of a page may take to show a change (the pages poll every 2 s). */
const LIVE_MS = 10_000;
const TEST_MS = 45_000;

const RESPONDER = { email: 'rita@example.com', name: 'Rita Responder', password: 'correct horse battery staple' };
const EXTERNAL = { email: 'vic@vendor.example', name: 'Vic Vendor', password: 'outsourced but careful 42' };

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; fails after `timeout` ms with `what`. */
async function eventually(what, fn, { timeout = LIVE_MS, interval = 200 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not true within ${timeout} ms${last ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(interval);
  }
}

function onPath(dirs, name) {
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Debian's chromium: $CHROMIUM_BIN, else `command -v chromium`. */
function findChromium() {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  const found = onPath((process.env.PATH || '').split(delimiter).filter(Boolean), 'chromium');
  if (!found) {
    throw new Error('chromium not found on PATH: install Debian\'s package (apt-get install chromium) or set CHROMIUM_BIN');
  }
  return found;
}

/** $FIREBREAK_BIN, else $CARGO_TARGET_DIR/debug/firebreak, else ../target/debug/firebreak. */
function findFirebreak() {
  const candidates = [];
  if (process.env.FIREBREAK_BIN) candidates.push(resolve(process.env.FIREBREAK_BIN));
  else {
    if (process.env.CARGO_TARGET_DIR) candidates.push(resolve(process.env.CARGO_TARGET_DIR, 'debug', 'firebreak'));
    candidates.push(resolve(HERE, '..', 'target', 'debug', 'firebreak'));
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`firebreak binary not found (tried ${candidates.join(', ')}): run \`cargo build -p firebreak\` or set FIREBREAK_BIN`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// The server

const server = { child: null, base: '', log: [], dir: '', exited: null };

async function startFirebreak() {
  const bin = findFirebreak();
  server.dir = await mkdtemp(join(tmpdir(), 'firebreak-e2e-'));
  // Only our settings: no FIREBREAK_* from the caller's environment leaks into the server.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIREBREAK_')));
  env.FIREBREAK_BOOTSTRAP_TOKEN = BOOTSTRAP_TOKEN;
  env.RUST_LOG = env.RUST_LOG || 'info';
  const args = [
    'serve',
    '--listen', '127.0.0.1:0',
    '--metrics-listen', 'off',
    '--database-url', `sqlite://${join(server.dir, 'fb.db')}`,
  ];
  const child = spawn(bin, args, { cwd: server.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.child = child;
  server.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const keep = (line) => {
    server.log.push(line);
    if (server.log.length > 2000) server.log.shift();
  };
  createInterface({ input: child.stderr }).on('line', keep);
  const lines = createInterface({ input: child.stdout });
  const addr = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`firebreak did not say where it listens within 20 s:\n${server.log.join('\n')}`)), 20_000);
    lines.on('line', (line) => {
      keep(line);
      const m = /^firebreak: listening on http:\/\/(\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    server.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(new Error(`firebreak exited early (code ${code}, signal ${signal}):\n${server.log.join('\n')}`));
    });
  });
  server.base = `http://${addr}`;
}

async function stopFirebreak() {
  const child = server.child;
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const done = await Promise.race([server.exited, sleep(5_000).then(() => null)]);
    if (!done) {
      child.kill('SIGKILL');
      await Promise.race([server.exited, sleep(2_000)]);
    }
  }
  await mkdir(OUTPUT, { recursive: true });
  await writeFile(join(OUTPUT, 'firebreak.log'), server.log.join('\n').replace(/\x1b\[[0-9;]*m/g, '') + '\n');
  if (server.dir) await rm(server.dir, { recursive: true, force: true });
}

// A last resort if the run is torn down without after(): never leave the server behind.
process.on('exit', () => {
  if (server.child && server.child.exitCode === null) server.child.kill('SIGKILL');
});

/** A JSON API call with the bootstrap (admin) token; asserts the status. */
async function api(method, path, body, expect = method === 'POST' ? 201 : 200) {
  const r = await fetch(server.base + path, {
    method,
    headers: { authorization: `Bearer ${BOOTSTRAP_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(ACTION_MS),
  });
  const text = await r.text();
  assert.equal(r.status, expect, `${method} ${path} → ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Sends an alert through a generic integration; returns the ingest answer (with incident_id). */
async function ingest(key, event) {
  const r = await fetch(`${server.base}/ingest/generic/${key}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(ACTION_MS),
  });
  const text = await r.text();
  assert.equal(r.status, 202, `ingest → ${r.status}: ${text}`);
  const out = JSON.parse(text);
  assert.ok(out.incident_id, `the alert opened no incident: ${text}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The browser

let browser;
const problems = []; // page errors and CSP violations seen on any page

async function newContext(viewport = DESKTOP, extra = {}) {
  const context = await browser.newContext({ viewport, baseURL: server.base, ...extra });
  context.setDefaultTimeout(ACTION_MS);
  context.setDefaultNavigationTimeout(ACTION_MS);
  return context;
}

/** A page that records dialogs (and dismisses them), page errors and CSP violations. */
async function newPage(context) {
  const page = await context.newPage();
  page.dialogs = [];
  page.on('dialog', (d) => {
    page.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) {
      problems.push(`CSP violation on ${page.url()}: ${m.text()}`);
    }
  });
  return page;
}

/** Signs in on the sign-in page (opened at `/signin?next=...` when `next` is given). */
async function signIn(page, who, { next, landOn = /\/incidents$/ } = {}) {
  if (next !== undefined) await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  else if (new URL(page.url()).pathname !== '/signin') await page.goto('/signin');
  await page.getByTestId('email').fill(who.email);
  await page.getByTestId('password').fill(who.password);
  await Promise.all([page.waitForURL(landOn), page.getByTestId('signin').click()]);
}

async function shot(page, name) {
  await mkdir(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: true });
}

const rowOf = (page, id) => page.locator(`[data-testid="incident-row"][data-incident-id="${id}"]`);
const statusText = async (page) => ((await page.getByTestId('incident-status').textContent()) || '').trim();
const timelineKinds = (page) =>
  page.locator('[data-testid="timeline-event"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));

/** The console's CSRF token of a signed-in page (the sign-out form carries it). */
const csrfOf = (page) => page.locator('form.signout input[name="_csrf"]').inputValue();

/** A form POST from inside the page (same origin, with the session cookie). */
function postFromPage(page, path, fields) {
  return page.evaluate(
    async ({ path, fields }) => {
      const r = await fetch(path, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' });
      return { status: r.status, type: r.type, text: await r.text() };
    },
    { path, fields },
  );
}

// ---------------------------------------------------------------------------------------------
// Fixture: what the tests share

const w = {}; // ids and keys from the setup
let responder; // { context, page } of the signed-in responder, shared by the tests in order

before(async () => {
  const executablePath = findChromium();
  await rm(OUTPUT, { recursive: true, force: true });
  await mkdir(OUTPUT, { recursive: true });
  await startFirebreak();

  const expires_at = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  w.team = (await api('POST', '/api/v1/teams', { name: 'payments', member_ids: [] })).id;
  w.responder = (await api('POST', '/api/v1/users', {
    ...RESPONDER, role: 'responder', time_zone: 'Europe/Berlin', team_ids: [w.team],
  })).id;
  w.external = (await api('POST', '/api/v1/users', { ...EXTERNAL, role: 'responder', external: true })).id;

  w.checkout = (await api('POST', '/api/v1/services', { name: 'checkout', team_id: w.team })).id;
  w.billing = (await api('POST', '/api/v1/services', { name: 'billing', team_id: w.team })).id;
  w.checkoutKey = (await api('POST', `/api/v1/services/${w.checkout}/integrations`, { kind: 'generic', name: 'checkout-generic' })).key;
  w.billingKey = (await api('POST', `/api/v1/services/${w.billing}/integrations`, { kind: 'generic', name: 'billing-generic' })).key;
  assert.ok(w.checkoutKey && w.billingKey, 'integrations show their keys on creation');

  // The external responder may act on checkout only.
  await api('POST', '/api/v1/grants', { user_id: w.external, role: 'responder', service_ids: [w.checkout], expires_at });

  // Something on both services before anyone signs in.
  w.checkoutSeed = (await ingest(w.checkoutKey, {
    summary: 'Checkout p99 latency above 2 s', severity: 'warning', dedup_key: 'checkout/latency', source: 'prometheus',
  })).incident_id;
  w.billingSecret = (await ingest(w.billingKey, {
    summary: 'Billing ledger drift on invoices-7', severity: 'critical', dedup_key: 'billing/ledger', source: 'ledger-checker',
  })).incident_id;

  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    // Playwright gives every launch a new, empty user data dir of its own.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, { timeout: 60_000 });

after(async () => {
  try {
    if (browser) await browser.close();
  } finally {
    await stopFirebreak();
  }
}, { timeout: 20_000 });

// ---------------------------------------------------------------------------------------------
// The tests (they run in order and share the responder's signed-in page)

test('1. password sign-in lands on /incidents with a safe session cookie', { timeout: TEST_MS }, async () => {
  const context = await newContext();
  const page = await newPage(context);
  responder = { context, page };

  // Signed out, the console sends you to sign in and remembers where you were going.
  await page.goto('/incidents');
  assert.match(page.url(), /\/signin\?next=\/incidents$/);
  await page.getByTestId('signin-form').waitFor();
  await shot(page, 'signin-desktop');

  // A wrong password is refused on the page.
  await page.getByTestId('email').fill(RESPONDER.email);
  await page.getByTestId('password').fill('not the password at all');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/signin'),
    page.getByTestId('signin').click(),
  ]);
  assert.equal(refused.status(), 401);
  assert.match(await page.getByTestId('signin-error').textContent(), /Wrong email or password/);

  await signIn(page, RESPONDER);
  assert.equal(new URL(page.url()).pathname, '/incidents');
  assert.equal((await page.getByTestId('who').textContent()).trim(), RESPONDER.name);
  await rowOf(page, w.checkoutSeed).waitFor();

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'fb_session');
  assert.ok(session, 'a session cookie is set');
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Lax', 'the session cookie is SameSite=Lax');
  assert.equal(session.path, '/');
  assert.ok(!cookies.some((c) => c.name === 'fb_signin' && c.value), 'the sign-in CSRF cookie is cleared');
});

test('2. an ingested alert\'s incident appears on the open list without a reload', { timeout: TEST_MS }, async () => {
  const { page } = responder;
  assert.equal(new URL(page.url()).pathname, '/incidents');
  const countsBefore = (await page.getByTestId('counts').textContent()).trim();
  // A reload or navigation would lose this marker and show up as a navigation.
  const marker = `no-reload-${Date.now()}`;
  await page.evaluate((m) => { window.__e2eMarker = m; }, marker);
  let navigations = 0;
  const onNav = (f) => { if (f === page.mainFrame()) navigations += 1; };
  page.on('framenavigated', onNav);

  const summary = `Checkout error rate 12% on pod checkout-7f9c (${Date.now()})`;
  const got = await ingest(w.checkoutKey, { summary, severity: 'critical', source: 'alertmanager', dedup_key: 'checkout/errors' });
  w.live = got.incident_id;

  const row = rowOf(page, w.live);
  await row.waitFor({ state: 'visible', timeout: LIVE_MS });
  assert.equal((await row.getByTestId('incident-link').textContent()).trim(), summary);
  assert.match(await row.textContent(), /SEV1/);
  assert.match(await row.textContent(), /triggered/);
  await eventually('the counts update', async () => (await page.getByTestId('counts').textContent()).trim() !== countsBefore);

  page.off('framenavigated', onNav);
  assert.equal(navigations, 0, 'the page did not navigate');
  assert.equal(await page.evaluate(() => window.__e2eMarker), marker, 'the page was not reloaded');
  await shot(page, 'incidents-desktop');
});

test('3. acknowledge and resolve from the incident room', { timeout: TEST_MS }, async () => {
  const { page } = responder;
  await Promise.all([
    page.waitForURL(new RegExp(`/incidents/${w.live}$`)),
    rowOf(page, w.live).getByTestId('incident-link').click(),
  ]);
  await page.getByTestId('incident-detail').waitFor();
  assert.equal(await statusText(page), 'triggered');
  assert.equal(await page.getByTestId('alert-row').count(), 1);

  await page.getByTestId('acknowledge').click();
  await eventually('status shows acknowledged', async () => (await statusText(page)) === 'acknowledged');
  assert.equal(new URL(page.url()).pathname, `/incidents/${w.live}`);
  assert.equal(await page.getByTestId('acknowledge').count(), 0, 'no Acknowledge button once acknowledged');
  await shot(page, 'incident-room-desktop');

  await page.getByTestId('resolve').click();
  await eventually('status shows resolved', async () => (await statusText(page)) === 'resolved');
  assert.equal(await page.getByTestId('resolve').count(), 0, 'no Resolve button once resolved');

  const kinds = await eventually('the timeline lists both changes', async () => {
    const k = await timelineKinds(page);
    return k.includes('incident.acknowledged') && k.includes('incident.resolved') ? k : null;
  });
  assert.ok(kinds.indexOf('incident.acknowledged') >= 0);
  const ack = page.locator('[data-testid="timeline-event"][data-kind="incident.acknowledged"]');
  assert.match(await ack.first().textContent(), new RegExp(`by ${RESPONDER.name}`), 'the timeline names who acknowledged');

  const stored = await api('GET', `/api/v1/incidents/${w.live}`);
  assert.equal(stored.status, 'resolved');
});

test('4. an external responder sees only the granted service and is refused elsewhere', { timeout: TEST_MS }, async () => {
  const context = await newContext();
  const page = await newPage(context);
  try {
    // A sign-in link that would send the user off-site lands on the console instead.
    await signIn(page, EXTERNAL, { next: 'https://evil.example/phish' });
    assert.equal(new URL(page.url()).origin, server.base);
    await rowOf(page, w.checkoutSeed).waitFor();
    const shown = await page.locator('[data-testid="incident-row"]').evaluateAll((rows) =>
      rows.map((r) => ({ id: r.getAttribute('data-incident-id'), status: r.cells[2].textContent.trim() })));
    const checkoutIds = (await api('GET', `/api/v1/incidents?service_id=${w.checkout}`)).items.map((i) => i.id);
    for (const { id } of shown) {
      assert.ok(checkoutIds.includes(id), `incident ${id} on the external list is not a checkout incident`);
    }
    assert.equal(await rowOf(page, w.billingSecret).count(), 0, 'the billing incident is not listed');
    assert.doesNotMatch(await page.locator('main').textContent(), /Billing ledger drift/);
    // Counts count only what the grant shows.
    const triggered = shown.filter((s) => s.status === 'triggered').length;
    const acknowledged = shown.filter((s) => s.status === 'acknowledged').length;
    assert.equal((await page.getByTestId('counts').textContent()).replace(/\s+/g, ' ').trim(),
      `${triggered} triggered · ${acknowledged} acknowledged`);
    // All statuses: still nothing of billing.
    await page.goto('/incidents?status=all');
    assert.equal(await rowOf(page, w.billingSecret).count(), 0, 'the billing incident is not listed under "all"');

    // The granted incident opens; the other one is refused, its live fragment and its actions too.
    const ok = await page.goto(`/incidents/${w.checkoutSeed}`);
    assert.equal(ok.status(), 200);
    await page.getByTestId('acknowledge').waitFor();
    const csrf = await csrfOf(page);

    const denied = await page.goto(`/incidents/${w.billingSecret}`);
    assert.equal(denied.status(), 403);
    assert.match(await page.getByTestId('message').textContent(), /Not allowed/);
    assert.doesNotMatch(await page.content(), /Billing ledger drift/);
    const live = await page.goto(`/incidents/${w.billingSecret}/live`);
    assert.equal(live.status(), 403);

    await page.goto('/incidents');
    const post = await postFromPage(page, `/incidents/${w.billingSecret}/acknowledge`, { _csrf: csrf });
    assert.equal(post.status, 403, 'acknowledging outside the grant is refused');
    assert.equal((await api('GET', `/api/v1/incidents/${w.billingSecret}`)).status, 'triggered');
  } finally {
    await context.close();
  }
});

test('5. CSRF-less and wrong-CSRF form posts are rejected and change nothing', { timeout: TEST_MS }, async () => {
  const { context, page } = responder;
  const target = (await ingest(w.checkoutKey, {
    summary: 'Payment provider timeouts (CSRF target)', severity: 'error', dedup_key: 'checkout/psp-timeouts',
  })).incident_id;
  await page.goto(`/incidents/${target}`);
  assert.equal(await statusText(page), 'triggered');
  const csrf = await csrfOf(page);
  assert.match(csrf, /^[0-9a-f]{64}$/);

  const none = await postFromPage(page, `/incidents/${target}/acknowledge`, {});
  assert.equal(none.status, 403, 'a form post without _csrf is refused');
  assert.match(none.text, /CSRF/);
  const wrong = await postFromPage(page, `/incidents/${target}/acknowledge`, { _csrf: '0'.repeat(64) });
  assert.equal(wrong.status, 403, 'a form post with a wrong _csrf is refused');
  const resolveWrong = await postFromPage(page, `/incidents/${target}/resolve`, { _csrf: csrf.slice(0, 63) + (csrf[63] === 'a' ? 'b' : 'a') });
  assert.equal(resolveWrong.status, 403, 'a resolve with an almost-right _csrf is refused');
  const signoutNone = await postFromPage(page, '/signout', {});
  assert.equal(signoutNone.status, 403, 'sign-out without _csrf is refused');

  // A form on another site posting to the console (the classic CSRF): refused as well.
  const attacker = await newPage(context);
  try {
    await attacker.route('http://attacker.invalid/**', (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><form id="f" method="post" action="${server.base}/incidents/${target}/acknowledge">
               <input name="note" value="gotcha"></form><script>document.getElementById('f').submit()</script>`,
    }));
    await Promise.all([
      attacker.waitForURL((u) => u.origin === server.base),
      attacker.goto('http://attacker.invalid/'),
    ]);
    await attacker.waitForLoadState();
    assert.notEqual(new URL(attacker.url()).pathname, `/incidents/${target}`, 'the cross-site post did not reach the room');
  } finally {
    await attacker.close();
  }

  // Nothing changed: not in the store, not on the page, not in the timeline; and the session lives.
  assert.equal((await api('GET', `/api/v1/incidents/${target}`)).status, 'triggered');
  await page.reload();
  assert.equal(await statusText(page), 'triggered');
  assert.ok(!(await timelineKinds(page)).includes('incident.acknowledged'));
  assert.equal(await page.getByTestId('who').count(), 1, 'still signed in');
});

test('6. HTML and script in an alert are shown as text, never run', { timeout: TEST_MS }, async () => {
  const { page } = responder;
  await page.goto('/incidents');
  page.dialogs.length = 0;
  await page.evaluate(() => { delete window.__xss; });
  const summary = '<img src=x onerror="window.__xss=1;alert(1)"> <script>window.__xss=2;alert(2)</script> disk "full" & <b>bold</b>';
  const source = '<svg onload="window.__xss=3;alert(3)">';
  const id = (await ingest(w.checkoutKey, {
    summary, source, severity: 'critical', dedup_key: 'xss/1',
    labels: { host: '<iframe src="javascript:alert(4)">' }, details: { note: '<script>alert(5)</script>' },
  })).incident_id;

  // The live list (swapped in by script) and a fresh render both show the text as it was sent.
  const liveRow = rowOf(page, id);
  await liveRow.waitFor({ state: 'visible', timeout: LIVE_MS });
  const checkList = async (where) => {
    assert.equal((await liveRow.getByTestId('incident-link').textContent()).trim(), summary, `${where}: the title is the text`);
    assert.equal(await page.locator('[data-testid="incident-list"] :is(img, script, svg, b, iframe)').count(), 0,
      `${where}: no element came from the alert`);
  };
  await checkList('live list');
  await page.reload();
  await checkList('rendered list');

  await page.goto(`/incidents/${id}`);
  const detail = page.getByTestId('incident-detail');
  assert.match(await detail.locator('h1').textContent(), /<img src=x onerror=/);
  assert.equal((await page.getByTestId('alert-summary').first().textContent()).trim(), summary);
  assert.match(await page.getByTestId('alert-row').first().textContent(), /<svg onload=/);
  assert.ok((await page.title()).includes('<script>'), 'the page title carries the text');
  const injected = () => page.locator('main :is(img, script, svg, b, iframe)').count();
  assert.equal(await injected(), 0, 'no element came from the alert in the room');
  // And after the room's live part refreshed at least once.
  await page.waitForResponse((r) => new URL(r.url()).pathname === `/incidents/${id}/live`, { timeout: LIVE_MS });
  await sleep(300);
  assert.equal(await injected(), 0, 'no element came from the alert after a live refresh');

  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
  assert.deepEqual(page.dialogs, [], 'no dialog opened');
  assert.deepEqual(problems, [], 'no page errors or CSP violations anywhere so far');
});

test('7. the console on a phone-sized screen', { timeout: TEST_MS }, async () => {
  const context = await newContext(PHONE, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await newPage(context);
  try {
    // A deep link to an incident survives signing in.
    await page.goto(`/incidents/${w.live}`);
    assert.match(page.url(), new RegExp(`/signin\\?next=/incidents/${w.live}$`));
    await shot(page, 'signin-phone');
    await signIn(page, RESPONDER, { landOn: new RegExp(`/incidents/${w.live}$`) });
    await page.getByTestId('incident-detail').waitFor();
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const roomOverflow = await overflow();
    await shot(page, 'incident-room-phone');
    await page.goto('/incidents');
    await rowOf(page, w.checkoutSeed).waitFor();
    const listOverflow = await overflow();
    await shot(page, 'incidents-phone');
    assert.ok(listOverflow <= 0, `the incident list fits the phone's width (overflows by ${listOverflow} px)`);
    assert.ok(roomOverflow <= 0, `the incident room fits the phone's width (overflows by ${roomOverflow} px)`);
  } finally {
    await context.close();
  }
});

test('8. sign-out returns to /signin and the old session cookie is dead', { timeout: TEST_MS }, async () => {
  const { context, page } = responder;
  await page.goto('/incidents');
  const old = (await context.cookies()).find((c) => c.name === 'fb_session');
  assert.ok(old && old.value, 'signed in before signing out');

  await Promise.all([page.waitForURL(/\/signin$/), page.getByTestId('signout').click()]);
  await page.getByTestId('signin-form').waitFor();
  assert.ok(!(await context.cookies()).some((c) => c.name === 'fb_session' && c.value), 'the browser dropped the cookie');

  // The old cookie, replayed by another browser and by a plain HTTP client, opens nothing.
  const replay = await newContext();
  try {
    await replay.addCookies([{ name: 'fb_session', value: old.value, url: server.base }]);
    const p = await newPage(replay);
    await p.goto('/incidents');
    assert.equal(new URL(p.url()).pathname, '/signin', 'the old session is sent to sign in');
    await p.goto(`/incidents/${w.checkoutSeed}/live`);
    assert.equal(new URL(p.url()).pathname, '/signin');
  } finally {
    await replay.close();
  }
  const r = await fetch(`${server.base}/incidents`, {
    headers: { cookie: `fb_session=${old.value}` }, redirect: 'manual', signal: AbortSignal.timeout(ACTION_MS),
  });
  assert.ok(r.status >= 300 && r.status < 400, `GET /incidents with the old cookie → ${r.status}`);
  assert.match(r.headers.get('location') || '', /^\/signin/);
  await responder.context.close();
});

// ---------------------------------------------------------------------------------------------
// Live updates must not get in the way: focus stays put, an ended session goes to sign-in.

test('9. a live refresh keeps keyboard focus on the Acknowledge button', {
  timeout: TEST_MS,
}, async () => {
  const context = await newContext();
  const page = await newPage(context);
  try {
    await signIn(page, RESPONDER);
    await page.goto(`/incidents/${w.checkoutSeed}`);
    await page.getByTestId('acknowledge').focus();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'acknowledge');
    // Two live refreshes later (one of them must swap if anything is different).
    for (let n = 0; n < 2; n += 1) {
      await page.waitForResponse((r) => new URL(r.url()).pathname === `/incidents/${w.checkoutSeed}/live`, { timeout: LIVE_MS });
    }
    await sleep(300);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName),
      'acknowledge', 'focus stayed on Acknowledge');
  } finally {
    await context.close();
  }
});

test('10. a page whose session ended does not swap the sign-in page into its live part', {
  timeout: TEST_MS,
}, async () => {
  const context = await newContext();
  const page = await newPage(context);
  try {
    await signIn(page, RESPONDER);
    const other = await newPage(context);
    await other.goto('/incidents');
    await Promise.all([other.waitForURL(/\/signin$/), other.getByTestId('signout').click()]);
    // The list page polls with the dead session.
    await page.waitForResponse((r) => new URL(r.url()).pathname === '/signin', { timeout: LIVE_MS });
    await sleep(300);
    const nested = await page.locator('[data-testid="incident-list"] :is(header, form, [data-testid="signin-form"])').count();
    assert.equal(nested, 0, 'the incident list holds no page header or sign-in form');
  } finally {
    await context.close();
  }
});

// ---------------------------------------------------------------------------------------------
// The second factor: enrol an authenticator in the console, then sign in with password + TOTP.

/** RFC 4648 base32 → bytes. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code (HMAC-SHA1, 30 s, 6 digits) an authenticator app shows at `atMs`. */
function totp(secretB32, atMs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 1000 / 30)));
  const h = createHmac('sha1', base32Decode(secretB32)).update(counter).digest();
  const offset = h[h.length - 1] & 0x0f;
  return String((h.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

test('11. enrol a TOTP authenticator, then sign in with password + code', { timeout: TEST_MS }, async () => {
  const who = { email: 'otto@example.com', name: 'Otto Oncall', password: 'second factor please 7' };
  await api('POST', '/api/v1/users', { email: who.email, name: who.name, role: 'responder', password: who.password });
  const context = await newContext();
  const page = await newPage(context);
  try {
    await signIn(page, who);
    await page.goto('/mfa');
    await page.getByTestId('mfa-start').click();
    assert.equal(await page.locator('[data-testid="mfa-qr"] svg').count(), 1, 'a QR code to scan');
    const secret = ((await page.getByTestId('mfa-secret').textContent()) || '').trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await shot(page, 'mfa-enrolment');
    await page.getByTestId('mfa-code').fill(totp(secret, Date.now()));
    await page.getByTestId('mfa-confirm').click();
    const codes = await page.locator('[data-testid="recovery-codes"] li').count();
    assert.equal(codes, 10, 'ten recovery codes, shown once');
    await page.getByTestId('signout').click();
    await page.waitForURL(/\/signin/);

    // The password alone is no longer enough.
    await page.getByTestId('email').fill(who.email);
    await page.getByTestId('password').fill(who.password);
    await page.getByTestId('signin').click();
    await page.getByTestId('signin-error').waitFor();
    assert.match(new URL(page.url()).pathname, /^\/signin/);

    // Password + the authenticator's code (the next step's: the current one was just used).
    await page.getByTestId('email').fill(who.email);
    await page.getByTestId('password').fill(who.password);
    await page.getByTestId('code').fill(totp(secret, Date.now() + 30_000));
    await Promise.all([page.waitForURL(/\/incidents$/), page.getByTestId('signin').click()]);
    assert.equal(((await page.getByTestId('who').textContent()) || '').trim(), who.name);
  } finally {
    await context.close();
  }
});
