// Shared helpers of the interop scripts: TAP lines (t/interop.t numbers
// them and prints the plan), token minting through tools/jwtmint, the
// example backend's /stats, and deadline waits. The environment comes from
// t/interop.t: GW_PORT, NEST_PORT, REDIS_PORT, WSGATE_MINT, KEYS.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { io } from 'socket.io-client';

export const env = process.env;
export const GW = `http://127.0.0.1:${env.GW_PORT}`;
export const NEST = `http://127.0.0.1:${env.NEST_PORT}`;

let failed = 0;

export function ok(cond, name, diag) {
  const line = `${cond ? 'ok' : 'not ok'} - ${name.replace(/#/g, '\\#')}`;
  process.stdout.write(line + '\n');
  if (!cond) {
    failed++;
    if (diag !== undefined) note(typeof diag === 'string' ? diag : JSON.stringify(diag));
  }
  return !!cond;
}

export function skip(name, why) {
  process.stdout.write(`ok - ${name} # SKIP ${why}\n`);
}

export function note(msg) {
  for (const l of String(msg).split('\n')) process.stdout.write(`# ${l}\n`);
}

export function finish() {
  process.exit(failed ? 1 : 0);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, ms = 5000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(every);
  }
}

let seq = 0;
export function claims(extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  const c = {
    iss: 'https://auth.test/', aud: 'chat', sub: 'alice', iat: now, exp: now + 300,
    jti: `interop-${process.pid}-${Date.now()}-${seq++}`, ...extra,
  };
  for (const k of Object.keys(c)) if (c[k] === null) delete c[k];
  return c;
}

export function mint(c = claims(), alg = 'RS256') {
  const key = path.join(env.KEYS, alg.startsWith('HS') ? 'hmac.secret' : 'rsa.key');
  return execFileSync(env.WSGATE_MINT, ['-a', alg, '-k', key, '-c', JSON.stringify(c)])
    .toString().trim();
}

export function tamper(tok) {
  const [h, p, s] = tok.split('.');
  const i = Math.floor(s.length / 2);
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
}

export async function stats() {
  const r = await fetch(`${NEST}/stats`);
  return r.json();
}

let probes = 0;

/* The barrier of "the backend's connection handler never ran" (instead of
 * waiting a fixed time): one valid client more, through the same gateway
 * (url) to the same backend, with opts(token) as its credentials. The
 * gateway decided on the refused client before answering it, so anything it
 * forwarded for that client was on its way to the backend before the probe
 * even started, and the probe needs several round trips of its own: once
 * the backend has welcomed the probe, the refused client's CONNECT would
 * have been handled. The check is then that the probe is the only new
 * handled connection since before. Returns [pass, detail]. */
export async function onlyProbe(url, opts, before, ms = 8000) {
  const sub = `probe-${process.pid}-${++probes}`;
  const token = mint(claims({ sub }));
  const welcome = await new Promise((resolve) => {
    const socket = io(url, { reconnection: false, timeout: ms, forceNew: true, ...opts(token) });
    const t = setTimeout(() => { socket.close(); resolve(null); }, ms);
    socket.on('welcome', (w) => { clearTimeout(t); socket.close(); resolve(w); });
    socket.on('connect_error', (e) => { clearTimeout(t); socket.close(); resolve({ error: e.message }); });
  });
  const s = await stats();
  const fresh = s.connections.slice(before);
  const pass = !!welcome && welcome.sub === sub && s.handled === before + 1 &&
    fresh.length === 1 && fresh[0].sub === sub;
  return [pass, { probe: sub, welcome, before, handled: s.handled, fresh }];
}

/* One Redis command over RESP, for revocations. */
export function redis(...args) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(Number(env.REDIS_PORT), '127.0.0.1');
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
    s.on('connect', () => s.write(out));
    s.on('data', (d) => { resolve(d.toString()); s.end(); });
    s.on('error', reject);
  });
}
