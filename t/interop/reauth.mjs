// In-band re-auth (SPEC §11) with the real clients: socket.io-client's
// emitWithAck("wsgate:reauth", jwt) against the NestJS example, and the
// plain-WebSocket message from node's ws against an echo backend. GW3_PORT
// is a gateway with "leeway 0" and "reauth on" on both routes, so a token's
// exp is when its session closes.
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { claims, env, finish, mint, ok, sleep, waitFor } from './lib.mjs';

const GW3 = `http://127.0.0.1:${env.GW3_PORT}`;
const now = () => Math.floor(Date.now() / 1000);

function connect(token) {
  return new Promise((resolve) => {
    const socket = io(GW3, { reconnection: false, forceNew: true, transports: ['websocket'], auth: { token } });
    const t = setTimeout(() => resolve({ socket, welcome: null }), 8000);
    socket.on('welcome', (w) => { clearTimeout(t); resolve({ socket, welcome: w }); });
    socket.on('connect_error', (e) => { clearTimeout(t); resolve({ socket, welcome: null, error: e.message }); });
  });
}

/* A token that would expire during the test stays connected after re-auth. */
{
  const exp0 = now() + 2;
  const { socket, welcome } = await connect(mint(claims({ sub: 'reauth-user', exp: exp0 })));
  ok(welcome && welcome.sub === 'reauth-user', 'socket.io: connected with a 2 s token', welcome);
  let disconnected = null;
  socket.on('disconnect', (why) => { disconnected = why; });
  const fresh = claims({ sub: 'reauth-user', exp: now() + 300 });
  const ack = await socket.timeout(5000).emitWithAck('wsgate:reauth', mint(fresh)).catch((e) => ({ err: String(e) }));
  ok(ack && ack.ok === true && ack.exp === fresh.exp, 'socket.io: emitWithAck("wsgate:reauth") resolves {ok: true, exp}', ack);
  await waitFor(() => now() > exp0 + 1, 6000);
  const who = await socket.timeout(5000).emitWithAck('whoami').catch((e) => ({ err: String(e) }));
  ok(disconnected === null && socket.connected && who && who.sub === 'reauth-user',
    'socket.io: past the first token\'s exp the session still works (whoami answered)', { disconnected, who });
  socket.close();
}

/* Another sub's token is refused, and the session closes at the old exp. */
{
  const exp0 = now() + 3;
  const { socket, welcome } = await connect(mint(claims({ sub: 'reauth-keep', exp: exp0 })));
  ok(welcome && welcome.sub === 'reauth-keep', 'socket.io: connected with a 3 s token', welcome);
  let closedAt = null;
  socket.on('disconnect', () => { closedAt = Date.now() / 1000; });
  const ack = await socket.timeout(5000).emitWithAck('wsgate:reauth', mint(claims({ sub: 'mallory' })))
    .catch((e) => ({ err: String(e) }));
  ok(ack && ack.ok === false && ack.error === 'sub_mismatch' && typeof ack.error_description === 'string',
    'socket.io: another sub\'s token is refused with sub_mismatch', ack);
  await waitFor(() => closedAt !== null, 8000);
  ok(closedAt !== null && closedAt >= exp0 - 0.05 && closedAt < exp0 + 2,
    'socket.io: the session closes at the old exp', { closedAt, exp0 });
  socket.close();
}

/* node ws, plain WebSocket route. */
{
  const exp0 = now() + 2;
  const ws = new WebSocket(`${GW3.replace('http', 'ws')}/plain`,
    { headers: { Authorization: `Bearer ${mint(claims({ sub: 'ws-user', exp: exp0 }))}` } });
  const got = [];
  let closed = null;
  ws.on('message', (d) => got.push(d.toString()));
  ws.on('close', (code) => { closed = code; });
  ws.on('error', () => {});
  await new Promise((r) => { ws.on('open', r); ws.on('close', r); });
  ok(ws.readyState === WebSocket.OPEN && ws.extensions === '', 'ws: connected, no extension negotiated', ws.extensions);
  const fresh = claims({ sub: 'ws-user', exp: now() + 300 });
  ws.send(JSON.stringify({ type: 'wsgate.reauth', token: mint(fresh) }));
  await waitFor(() => got.length >= 1, 5000);
  let a = null;
  try { a = JSON.parse(got[0]); } catch { a = got[0]; }
  ok(a && a.type === 'wsgate.reauth' && a.ok === true && a.exp === fresh.exp,
    'ws: {"type":"wsgate.reauth","token":...} answered {"type":"wsgate.reauth","ok":true,"exp":...}', a);
  await waitFor(() => now() > exp0 + 1, 6000);
  ws.send('after the old exp');
  await waitFor(() => got.length >= 2 || closed !== null, 5000);
  ok(closed === null && got.length === 2 && got[1] === 'after the old exp',
    'ws: past the first token\'s exp the echo backend still answers, and never saw the re-auth', { got, closed });
  ws.close();
}
await sleep(10);
finish();
