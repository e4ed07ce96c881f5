// Headless Chromium (Debian's, through playwright-core) for t/cors.t: for
// each case it opens a page and runs fetch() in it against the gateway on
// another origin, with a bearer header and credentials: 'include', and
// prints one JSON line: {status, json, exposed} or {error}. A case with
// "sio" (the socket.io client's URL on the page's server) connects
// socket.io-client instead, polling only, the token in extraHeaders:
// {welcome, transport} or {error}. The assertions are t/cors.t's, since
// only it sees the backends.
// Input: CORS_CASES, a JSON list of {page, url, token, method, body, sio}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const cases = JSON.parse(process.env.CORS_CASES);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-cors-'));
let ctx;
try {
  ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  for (const c of cases) {
    const page = await ctx.newPage();
    const console = [];
    page.on('console', (m) => console.push(m.text()));
    await page.goto(c.page);
    if (c.sio) await page.addScriptTag({ url: c.sio });
    const r = c.sio ? await page.evaluate((c) => new Promise((resolve) => {
      // eslint-disable-next-line no-undef
      const s = io(c.url, {
        transports: ['polling'], withCredentials: true, reconnection: false,
        extraHeaders: { Authorization: `Bearer ${c.token}` },
      });
      const timer = setTimeout(() => { s.close(); resolve({ error: 'no welcome in 10s' }); }, 10000);
      s.on('welcome', (w) => {
        clearTimeout(timer);
        const transport = s.io.engine.transport.name;
        s.close();
        resolve({ welcome: w, transport });
      });
      s.on('connect_error', (e) => {
        clearTimeout(timer);
        s.close();
        resolve({ error: `connect_error: ${e.message}` });
      });
    }), c) : await page.evaluate(async (c) => {
      const opt = {
        method: c.method,
        credentials: 'include',
        headers: { Authorization: `Bearer ${c.token}` },
        signal: AbortSignal.timeout(10000),
      };
      if (c.body !== undefined) {
        opt.headers['Content-Type'] = 'application/json';
        opt.body = JSON.stringify(c.body);
      }
      try {
        const resp = await fetch(c.url, opt);
        return {
          status: resp.status,
          json: await resp.json(),
          exposed: resp.headers.get('x-backend'),
        };
      } catch (e) {
        return { error: String(e) };
      }
    }, c);
    r.console = console;
    process.stdout.write(JSON.stringify(r) + '\n');
    await page.close();
  }
} finally {
  if (ctx) await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
