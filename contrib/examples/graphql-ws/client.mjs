// A graphql-ws client behind wsgate: the token goes in connectionParams,
// exactly where graphql-ws clients put it without a proxy.
//
//   URL=ws://127.0.0.1:8080/graphql TOKEN=$(jwtmint ...) node client.mjs
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const client = createClient({
  url: process.env.URL,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  connectionParams: async () => ({ Authorization: `Bearer ${process.env.TOKEN}` }),
  on: { closed: (e) => { if (e.code !== 1000) console.error('closed', e.code, e.reason); } },
});

for await (const r of client.iterate({ query: 'subscription { countdown(from: 3) }' }))
  console.log(r.data.countdown);
console.log('whoami', (await client.iterate({ query: '{ whoami }' }).next()).value.data.whoami);
await client.dispose();
