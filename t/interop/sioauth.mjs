// socket.io-client with its token in the CONNECT packet
// (io(url, { auth: { token } })) against the NestJS example behind a wsgate
// route with "socketio on" and "socketio_require_claim /admin roles admin".
// Polling and websocket transports; refusals must never reach the
// gateway's handleConnection. GW2_PORT is that gateway.
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { claims, env, finish, mint, note, ok, onlyProbe, redis, sleep, stats, tamper, waitFor } from './lib.mjs';

const GW2 = `http://127.0.0.1:${env.GW2_PORT}`;

function connect(nsp, opts, { upgrade = false, ms = 8000 } = {}) {
  return new Promise((resolve) => {
    const socket = io(GW2 + nsp, { reconnection: false, timeout: ms, forceNew: true, ...opts });
    const res = { socket, welcome: null, error: null, data: null, transport: null };
    const t = setTimeout(() => { res.error = res.error || 'timeout'; resolve(res); }, ms);
    const done = () => { clearTimeout(t); res.transport = socket.io.engine?.transport?.name; resolve(res); };
    socket.on('welcome', (w) => {
      res.welcome = w;
      if (!upgrade || socket.io.engine.transport.name === 'websocket') return done();
      socket.io.engine.once('upgrade', () => done());
    });
    socket.on('connect_error', (e) => { res.error = e.message || String(e); res.data = e.data; done(); });
  });
}

async function accepted(name, nsp, opts, sub, extra = {}) {
  const r = await connect(nsp, opts, extra);
  ok(r.welcome && r.welcome.sub === sub, `${name}: connected, the backend saw sub ${sub}`, r.error || r.welcome);
  if (extra.upgrade) ok(r.transport === 'websocket', `${name}: upgraded to websocket`, r.transport);
  r.socket.close();
  return r;
}

async function refused(name, nsp, opts, message) {
  const before = (await stats()).handled;
  const r = await connect(nsp, opts, { ms: 5000 });
  r.socket.close();
  ok(!r.welcome && r.error && (!message || r.error === message),
    `${name}: connect_error${message ? ' ' + message : ''}`, { error: r.error, data: r.data });
  const [only, detail] = await onlyProbe(GW2 + '/', (t) => ({ auth: { token: t } }), before);
  ok(only, `${name}: the backend's connection handler never ran (a valid client after it is the only new one)`,
    detail);
  return r;
}

const user = mint(claims({ sub: 'auth-user', roles: ['user'] }));
const admin = mint(claims({ sub: 'auth-admin', roles: ['user', 'admin'] }));

await accepted('auth token, default transports', '/', { auth: { token: user } }, 'auth-user', { upgrade: true });
await accepted('auth token, websocket only', '/', { transports: ['websocket'], auth: { token: user } }, 'auth-user');
await accepted('auth token, /admin with the admin role', '/admin', { auth: { token: admin } }, 'auth-admin');
await accepted('auth token, /admin with the admin role, websocket only', '/admin',
  { transports: ['websocket'], auth: { token: admin } }, 'auth-admin');
const sp = await connect('/', { transports: ['websocket'], auth: { token: user, 'x-auth-sub': 'mallory' } });
ok(sp.welcome && sp.welcome.sub === 'auth-user', 'auth: a spoofed x-auth-sub key is replaced', sp.welcome);
sp.socket.close();

await refused('no token anywhere, websocket only', '/', { transports: ['websocket'] }, 'missing_token');
await refused('tampered auth token, websocket only', '/', { transports: ['websocket'], auth: { token: tamper(user) } },
  'invalid_token');
await refused('auth token, /admin without the role, websocket only', '/admin',
  { transports: ['websocket'], auth: { token: user } }, 'insufficient_scope');
const p1 = await refused('no token anywhere, default transports', '/', {});
note(`polling refusal as the client sees it: ${p1.error}`);
await refused('tampered auth token, default transports', '/', { auth: { token: tamper(user) } });
await refused('auth token, /admin without the role, default transports', '/admin', { auth: { token: user } });
await refused('HTTP token without the role, /admin, websocket only', '/admin',
  { transports: ['websocket'], extraHeaders: { Authorization: `Bearer ${user}` } }, 'insufficient_scope');

/* Live enforcement of a CONNECT token on the websocket transport. */
{
  const now = Math.floor(Date.now() / 1000);
  const ws = new WebSocket(`${GW2.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const res = await new Promise((resolve) => {
    const r = { welcome: null, code: null };
    const t = setTimeout(() => { ws.terminate(); }, 15000);
    ws.on('message', (d) => {
      const m = d.toString();
      if (m.startsWith('0')) ws.send(`40${JSON.stringify({ token: mint(claims({ sub: 'short', exp: now + 2 })) })}`);
      else if (m === '2') ws.send('3');
      else if (m.startsWith('42["welcome"')) r.welcome = JSON.parse(m.slice(2))[1];
    });
    ws.on('close', (code) => { clearTimeout(t); r.code = code; resolve(r); });
    ws.on('error', () => {});
  });
  ok(res.welcome && res.welcome.sub === 'short', 'ws + CONNECT token: connected', res);
  ok(res.code === 4401, 'ws + CONNECT token: 4401 at expiry reaches the client', res.code);
}

/* Live enforcement of a CONNECT token on the polling transport (SPEC §10):
 * revocation ends the sid; the client is told "io server disconnect" and
 * the NestJS gateway's handleDisconnect runs (its online count drops). */
async function pollingSession(sub, exp) {
  const c = claims({ sub, ...(exp ? { exp } : {}) });
  const socket = io(GW2, { reconnection: false, forceNew: true, transports: ['polling'], auth: { token: mint(c) } });
  const r = { socket, claims: c, welcome: null, disconnect: null, at: null };
  socket.on('disconnect', (why) => { r.disconnect = why; r.at = Date.now() / 1000; });
  r.welcome = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), 8000);
    socket.on('welcome', (w) => { clearTimeout(t); resolve(w); });
    socket.on('connect_error', (e) => { clearTimeout(t); resolve({ error: e.message }); });
  });
  return r;
}
const online = async (sub) => (await stats()).online[sub] || 0;
{
  const sub = `poll-revoked-${process.pid}`;
  const r = await pollingSession(sub);
  ok(r.welcome && r.welcome.sub === sub && r.socket.io.engine.transport.name === 'polling',
    'polling + CONNECT token: connected on polling', r.welcome);
  ok(await waitFor(async () => (await online(sub)) === 1, 3000), 'polling: handleConnection counted the user online');
  const t0 = Date.now();
  await redis('SET', `wsgate:revoked:jti:${r.claims.jti}`, '1', 'EX', '600');
  await waitFor(() => r.disconnect !== null, 5000);
  ok(r.disconnect === 'io server disconnect', 'polling: revocation disconnects the client (io server disconnect)',
    r.disconnect);
  ok(await waitFor(async () => (await online(sub)) === 0, 3000),
    `polling: NestJS handleDisconnect ran (${Date.now() - t0} ms after the revocation)`);
  r.socket.close();
}
{
  const sub = `poll-expired-${process.pid}`;
  const exp = Math.floor(Date.now() / 1000) + 2;
  const r = await pollingSession(sub, exp);
  ok(r.welcome && r.welcome.sub === sub, 'polling + a 2 s CONNECT token: connected', r.welcome);
  await waitFor(() => r.disconnect !== null, 12000);
  ok(r.disconnect === 'io server disconnect' && r.at >= exp, 'polling: expiry (exp + leeway) disconnects the client',
    { why: r.disconnect, at: r.at, exp });
  ok(await waitFor(async () => (await online(sub)) === 0, 3000), 'polling: and NestJS handleDisconnect ran');
  r.socket.close();
}
finish();
