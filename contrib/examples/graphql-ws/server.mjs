// A GraphQL subscription server (graphql-ws over ws) with no auth code of
// its own, meant to run behind a wsgate route whose token_sources include
// graphql_ws: wsgate reads the token from connection_init, checks it, and
// only then connects here, with the identity in X-Auth-* headers of the
// upgrade request and the token removed from connectionParams.
//
//   PORT=4000 node server.mjs
//
// GET /stats reports the upgrades and connection_inits this process saw
// (the tests use it to show that refused clients never reached it).
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

// graphql, graphql-ws and ws from this directory's node_modules, or from
// MODULES_FROM's (the test suite's t/interop).
const req = createRequire(process.env.MODULES_FROM
  ? path.join(process.env.MODULES_FROM, 'noop.js') : import.meta.url);
const load = async (m, name) => { const x = await import(req.resolve(m)); return x[name] ?? x.default[name]; };
const buildSchema = await load('graphql', 'buildSchema');
const useServer = await load('graphql-ws/use/ws', 'useServer');
const WebSocketServer = await load('ws', 'WebSocketServer');

const schema = buildSchema(`
  type Query { whoami: String }
  type Subscription { countdown(from: Int!): Int! }
`);
const roots = {
  query: { whoami: (_args, ctx) => ctx.extra.request.headers['x-auth-sub'] ?? null },
  subscription: {
    countdown: async function* ({ from }) {
      for (let i = from; i >= 0; i--) {
        yield { countdown: i };
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  },
};

const stats = { upgrades: 0, inits: [] };
const server = http.createServer((q, res) => {
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(stats));
});
server.on('upgrade', () => { stats.upgrades++; });
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({
  schema,
  roots,
  context: (ctx) => ctx,
  onConnect: (ctx) => {
    stats.inits.push({ params: ctx.connectionParams ?? null, sub: ctx.extra.request.headers['x-auth-sub'] ?? null });
    return true;
  },
}, wss);
server.listen(Number(process.env.PORT || 4000), process.env.HOST || '127.0.0.1');
