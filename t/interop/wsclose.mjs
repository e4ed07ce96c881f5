// Node's ws client on the Engine.IO websocket transport of the NestJS
// example: live-session enforcement reaches a real client as close codes,
// 4401 when the token expires and 4403 when it is revoked in Redis.
import WebSocket from 'ws';
import { GW, claims, finish, mint, ok, redis } from './lib.mjs';

const URL = `${GW.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;

/* Opens the transport, joins the main namespace, then waits for the close. */
function session(tok, onWelcome) {
  return new Promise((resolve) => {
    const res = { welcome: null, code: null, reason: null, error: null };
    const ws = new WebSocket(URL, { headers: { Authorization: `Bearer ${tok}` } });
    const t = setTimeout(() => { res.error = 'timeout'; ws.terminate(); }, 15000);
    ws.on('message', (d) => {
      const m = d.toString();
      if (m.startsWith('0')) ws.send('40');
      else if (m === '2') ws.send('3');
      else if (m.startsWith('42["welcome"')) {
        res.welcome = JSON.parse(m.slice(2))[1];
        onWelcome(ws);
      }
    });
    ws.on('error', (e) => { res.error = res.error || e.message; });
    ws.on('close', (code, reason) => {
      clearTimeout(t);
      res.code = code;
      res.reason = reason.toString();
      resolve(res);
    });
  });
}

const now = Math.floor(Date.now() / 1000);
const started = Date.now();
const exp = await session(mint(claims({ sub: 'expiring', exp: now + 2 })), () => {});
ok(exp.welcome && exp.welcome.sub === 'expiring', 'ws: connected through wsgate', exp);
ok(exp.code === 4401 && exp.reason === 'token expired', 'ws: 4401 "token expired" reaches the client',
  { code: exp.code, reason: exp.reason });
ok(Date.now() - started < 12000, 'ws: closed at exp + leeway');

const c = claims({ sub: 'revoked' });
const rev = await session(mint(c), () => {
  setTimeout(() => redis('SET', `wsgate:revoked:jti:${c.jti}`, '1', 'EX', '600'), 200);
});
ok(rev.welcome && rev.welcome.sub === 'revoked', 'ws: second session connected');
ok(rev.code === 4403 && rev.reason === 'token revoked', 'ws: 4403 "token revoked" reaches the client',
  { code: rev.code, reason: rev.reason });

const again = await session(mint({ ...c }), () => {});
ok(!again.welcome && /401/.test(again.error || ''), 'ws: the revoked token is refused with 401 afterwards',
  again);
finish();
