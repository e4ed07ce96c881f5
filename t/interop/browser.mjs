// Headless Chromium (Debian's, through playwright-core) running the
// socket.io client in a page: from a page on an allowed origin with the
// token in a cookie it connects (polling, then websocket); from a page on
// another origin it is refused and the backend never hears of it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { GW, claims, env, finish, mint, note, ok, onlyProbe, skip, stats } from './lib.mjs';

const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  skip('browser tests', `${CHROMIUM} not installed`);
  finish();
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-chromium-'));
let ctx;
try {
  ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
} catch (e) {
  ok(false, 'chromium starts', e.message);
  fs.rmSync(dir, { recursive: true, force: true });
  finish();
}

const port = env.GW_PORT;
const tok = mint(claims({ sub: 'browser-user', roles: ['user'] }));
await ctx.addCookies([{ name: 'access_token', value: tok, domain: '127.0.0.1', path: '/',
  httpOnly: true, sameSite: 'Lax' }]);

async function run(pageUrl) {
  const page = await ctx.newPage();
  page.on('console', (m) => note(`console: ${m.text()}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 15000 })
    .catch(() => {});
  const r = await page.evaluate(() => window.result);
  await page.close();
  return r;
}

try {
  const before = (await stats()).handled;
  const good = await run(`http://127.0.0.1:${port}/app/index.html`);
  ok(good && good.welcome && good.welcome.sub === 'browser-user',
    'chromium, allowed origin, cookie token: connected as browser-user', good);
  ok(good && good.transport === 'websocket', 'chromium: upgraded from polling to websocket', good);
  ok(good && good.ack && good.ack.from === 'browser-user', 'chromium: message round trip', good);
  const s = await stats();
  ok(s.handled === before + 1 && s.connections.at(-1).sub === 'browser-user',
    'chromium: the backend saw exactly this connection', s.connections.at(-1));

  const before2 = (await stats()).handled;
  const bad = await run(`http://localhost:${port}/app/index.html?target=http://127.0.0.1:${port}`);
  ok(bad && !bad.welcome && bad.error, 'chromium, page on another origin: refused', bad);
  const [only, detail] = await onlyProbe(GW, (t) => ({ extraHeaders: { Authorization: `Bearer ${t}` } }),
    before2);
  ok(only, 'chromium, other origin: the backend connection handler never ran (a valid client after it is the only new one)',
    detail);

  /* The plain-WebSocket re-auth from a page (GW3: reauth on, leeway 0);
   * the session's token is the cookie's (sub browser-user). */
  const fresh = claims({ sub: 'browser-user', exp: Math.floor(Date.now() / 1000) + 900 });
  const ra = await run(`http://127.0.0.1:${env.GW3_PORT}/app/reauth.html#t2=${mint(fresh)}`);
  ok(ra && ra.answer && ra.answer.type === 'wsgate.reauth' && ra.answer.ok === true && ra.answer.exp === fresh.exp,
    'chromium: a page re-authenticates its WebSocket ({"type":"wsgate.reauth"} answered ok with the new exp)', ra);
  ok(ra && ra.echo === 'from the page', 'chromium: the echo backend answers the next message, and never saw the re-auth', ra);
} finally {
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
finish();
