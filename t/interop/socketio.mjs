// socket.io-client (Node) against the NestJS example behind wsgate: the
// default transports (polling, then the upgrade to websocket) and
// websocket only, with the token in a cookie, the query, or the
// Authorization header. A refused client must never reach the gateway's
// handleConnection: the example's /stats says who did.
import { io } from 'socket.io-client';
import { GW, claims, finish, mint, note, ok, onlyProbe, sleep, stats, tamper, waitFor } from './lib.mjs';

/* Connects and waits for the example's 'welcome' (or an error). */
function connect(opts, { upgrade = false, ms = 8000 } = {}) {
  return new Promise((resolve) => {
    const socket = io(GW, { reconnection: false, timeout: ms, forceNew: true, ...opts });
    const res = { socket, welcome: null, error: null, transport: null };
    const t = setTimeout(() => { res.error = res.error || 'timeout'; resolve(res); }, ms);
    const done = () => { clearTimeout(t); res.transport = socket.io.engine?.transport?.name; resolve(res); };
    socket.on('welcome', (w) => {
      res.welcome = w;
      if (!upgrade || socket.io.engine.transport.name === 'websocket') return done();
      socket.io.engine.once('upgrade', () => done());
    });
    socket.on('connect_error', (e) => { res.error = e.message || String(e); done(); });
  });
}

async function handledFor(sub) {
  const s = await stats();
  return s.connections.filter((c) => c.sub === sub);
}

async function accepted(name, opts, sub, { upgrade = true } = {}) {
  const r = await connect(opts, { upgrade });
  const good = r.welcome && r.welcome.sub === sub;
  ok(good, `${name}: connected, the backend saw sub ${sub}`, r.error || r.welcome);
  if (upgrade)
    ok(r.transport === 'websocket', `${name}: transport upgraded to websocket`, r.transport);
  if (good) {
    const ack = await r.socket.timeout(3000).emitWithAck('message', `hello from ${sub}`).catch((e) => e);
    ok(ack && ack.from === sub && ack.text === `hello from ${sub}`, `${name}: message round trip`, ack);
  }
  r.socket.close();
  return r;
}

async function refused(name, opts) {
  const before = (await stats()).handled;
  const r = await connect(opts, { ms: 5000 });
  r.socket.close();
  ok(!r.welcome && r.error, `${name}: connect_error`, r.welcome);
  const [only, detail] = await onlyProbe(GW, (t) => ({ extraHeaders: { Authorization: `Bearer ${t}` } }), before);
  ok(only, `${name}: the backend's connection handler never ran (a valid client after it is the only new one)`,
    detail);
}

const cookieTok = mint(claims({ sub: 'cookie-user', roles: ['user'] }));
const queryTok = mint(claims({ sub: 'query-user' }));
const headerTok = mint(claims({ sub: 'header-user' }));
const wsTok = mint(claims({ sub: 'ws-user' }));

await accepted('defaults, token in a cookie',
  { extraHeaders: { Cookie: `theme=dark; access_token=${cookieTok}` } }, 'cookie-user');
await accepted('defaults, token in the query', { query: { access_token: queryTok } }, 'query-user');
await accepted('defaults, token in Authorization',
  { extraHeaders: { Authorization: `Bearer ${headerTok}` } }, 'header-user');
await accepted('websocket only, token in Authorization',
  { transports: ['websocket'], extraHeaders: { Authorization: `Bearer ${wsTok}` } }, 'ws-user',
  { upgrade: false });
await accepted('websocket only, token as a subprotocol (protocols option)',
  { transports: ['websocket'], protocols: ['bearer', mint(claims({ sub: 'proto-io-user' }))] },
  'proto-io-user', { upgrade: false });
const wsq = await accepted('websocket only, token in the query',
  { transports: ['websocket'], query: { access_token: mint(claims({ sub: 'wsq-user' })) } },
  'wsq-user', { upgrade: false });
ok(wsq.transport === 'websocket', 'websocket only: no polling request was made', wsq.transport);

const spoof = await connect({ extraHeaders: { Authorization: `Bearer ${headerTok}`,
  'X-Auth-Sub': 'mallory', 'X-Auth-Roles': 'admin' } });
ok(spoof.welcome && spoof.welcome.sub === 'header-user' && spoof.welcome.roles.length === 0,
  'spoofed X-Auth-* headers are replaced by the verified identity', spoof.welcome);
spoof.socket.close();

const byTransport = await handledFor('cookie-user');
ok(byTransport.length === 1 && byTransport[0].transport === 'polling',
  'the polling handshake carried the identity (handleConnection ran once, on polling)', byTransport);

await refused('defaults, no token', {});
await refused('defaults, tampered token in a cookie',
  { extraHeaders: { Cookie: `access_token=${tamper(cookieTok)}` } });
await refused('defaults, expired token in the query',
  { query: { access_token: mint(claims({ sub: 'late', exp: Math.floor(Date.now() / 1000) - 600 })) } });
await refused('websocket only, no token', { transports: ['websocket'] });
await refused('websocket only, token for another audience',
  { transports: ['websocket'], extraHeaders: { Authorization: `Bearer ${mint(claims({ aud: 'other' }))}` } });
await refused('defaults, foreign Origin',
  { extraHeaders: { Authorization: `Bearer ${headerTok}`, Origin: 'http://evil.test' } });

/* Every poll is admitted on its own: a session whose token is gone from
 * later requests loses its transport. */
{
  const c = await connect({ transports: ['polling'], query: { access_token: queryTok } });
  ok(c.welcome && c.welcome.sub === 'query-user', 'polling only: connected');
  const closed = new Promise((r) => c.socket.on('disconnect', (why) => r(why)));
  delete c.socket.io.engine.transport.query.access_token;
  c.socket.emit('message', 'wakes the pending poll');
  const why = await Promise.race([closed, sleep(8000).then(() => 'still connected')]);
  note(`polling without token: ${why}`);
  ok(why !== 'still connected', 'polling: a later poll without the token is refused and the session drops', why);
  c.socket.close();
}

await waitFor(async () => Object.keys((await stats()).online).length === 0, 5000);
finish();
