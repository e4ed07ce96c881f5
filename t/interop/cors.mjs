// Headless Chromium (Debian's, through playwright-core) for t/cors.t: for
// each case it opens a page and runs fetch() in it against the gateway on
// another origin, with a bearer header and credentials: 'include', and
// prints one JSON line: {status, json, exposed} or {error}. The
// assertions are t/cors.t's, since only it sees the backend.
// Input: CORS_CASES, a JSON list of {page, url, token, method, body}.
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
    const r = await page.evaluate(async (c) => {
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
