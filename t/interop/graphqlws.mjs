// graphql-ws first-message tokens (SPEC §12) with the real libraries: the
// graphql-ws client (createClient({connectionParams: {Authorization}}))
// against contrib/examples/graphql-ws/server.mjs (graphql-ws + graphql + ws)
// behind wsgate, running a subscription. GQL_GW_PORT is the gateway,
// GQL_PORT the server (its /stats counts upgrades and connection_inits).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { claims, env, finish, mint, ok, tamper } from './lib.mjs';

const URL = `ws://127.0.0.1:${env.GQL_GW_PORT}/graphql`;

async function stats() {
  return (await fetch(`http://127.0.0.1:${env.GQL_PORT}/stats`)).json();
}

function client(params, url = URL, lazy = true) {
  const closed = [];
  const c = createClient({
    url, webSocketImpl: WebSocket, retryAttempts: 0, lazy, onNonLazyError: () => {},
    connectionParams: params,
    on: { closed: (e) => closed.push({ code: e.code, reason: e.reason }) },
  });
  return { c, closed };
}

async function run(c, query) {
  const out = [];
  try {
    for await (const r of c.iterate({ query })) out.push(r);
    return { out };
  } catch (e) {
    return { out, err: e };
  }
}

const errCode = (e) => (e && typeof e.code === 'number' ? e.code : e && e.err && e.err.code);

/* A subscription through wsgate. */
for (const [name, params] of [
  ['payload.Authorization "Bearer <jwt>"', (t) => ({ Authorization: `Bearer ${t}`, room: 'lobby' })],
  ['payload.authorization without Bearer', (t) => ({ authorization: t, room: 'lobby' })],
  ['payload.authToken', (t) => ({ authToken: t, room: 'lobby' })],
  ['payload.token', (t) => ({ token: t, room: 'lobby' })],
]) {
  const sub = `gql-${name.length}`;
  const before = await stats();
  const { c } = client(params(mint(claims({ sub, scope: 'graphql' }))), URL, false);
  const r = await run(c, 'subscription { countdown(from: 3) }');
  ok(!r.err && JSON.stringify(r.out.map((x) => x.data.countdown)) === '[3,2,1,0]',
    `${name}: the subscription runs through wsgate (3,2,1,0)`, r.err ? String(r.err.message || r.err.code || r.err) : r.out);
  const w = await run(c, '{ whoami }');
  ok(w.out[0] && w.out[0].data.whoami === sub, `${name}: the server saw X-Auth-Sub ${sub}`, w);
  const after = await stats();
  const init = after.inits[before.inits.length];
  ok(after.upgrades === before.upgrades + 1 && init && init.params && init.params.room === 'lobby' &&
     !('Authorization' in init.params) && !('authorization' in init.params) && !('authToken' in init.params) &&
     !('token' in init.params),
    `${name}: one upgrade; connection_init replayed without the token`, init);
  await c.dispose();
}

/* Refusals: the close code, and the server saw no connection. */
async function refused(name, params, code, url = URL) {
  const before = await stats();
  const { c, closed } = client(params, url);
  const r = await run(c, 'subscription { countdown(from: 1) }');
  const got = closed[0] ? closed[0].code : errCode(r.err);
  ok(got === code, `${name}: closed with ${code}`, { closed, err: String(r.err) });
  const after = await stats();
  ok(after.upgrades === before.upgrades && after.inits.length === before.inits.length,
    `${name}: the server saw no connection`, { before: before.upgrades, after: after.upgrades });
  await c.dispose();
}

await refused('no token', { room: 'lobby' }, 4401);
await refused('a tampered token', { Authorization: `Bearer ${tamper(mint(claims({ scope: 'graphql' })))}` }, 4401);
await refused('an expired token', { Authorization: `Bearer ${mint(claims({ scope: 'graphql', exp: Math.floor(Date.now() / 1000) - 60 }))}` }, 4401);
await refused('require_claim fails', { Authorization: `Bearer ${mint(claims({ scope: 'other' }))}` }, 4403);
await refused('upstream unreachable', { Authorization: `Bearer ${mint(claims({ scope: 'graphql' }))}` }, 1014,
  `ws://127.0.0.1:${env.GQL_GW_PORT}/graphql-down`);

/* No connection_init in time: 4408 after handshake_timeout. */
{
  const before = await stats();
  const ws = new WebSocket(URL, 'graphql-transport-ws');
  const res = await new Promise((resolve) => {
    const t = setTimeout(() => { ws.terminate(); resolve({ code: 'timeout' }); }, 10000);
    ws.on('close', (code, reason) => { clearTimeout(t); resolve({ code, reason: reason.toString(), protocol: ws.protocol }); });
    ws.on('error', () => {});
  });
  ok(res.code === 4408 && res.reason === 'Connection initialisation timeout' && res.protocol === 'graphql-transport-ws',
    'no connection_init in time: 4408 "Connection initialisation timeout" (after a 101 with the subprotocol)', res);
  const after = await stats();
  ok(after.upgrades === before.upgrades, 'no connection_init: the server saw no connection');
}
finish();
