// A real socket.io 4 server (the socket.io, engine.io and parser packages
// of contrib/examples/nestjs-chat/node_modules) for the adversarial tests.
// It logs, as one JSON line each on stdout: its port, every Engine.IO
// connection (protocol, transport, the extensions offered to it), every
// Engine.IO connection error, every namespace connection with its
// namespace, protocol and auth object, and every event a socket emits. It is deliberately permissive, as a
// careless deployment is: protocol 3 allowed (allowEIO3), compression on,
// dynamic namespaces; whatever reaches a namespace is what wsgate let by.
// Usage: node siobackend.js MODULES_DIR
'use strict';
const path = require('path');
const http = require('http');

const mods = process.argv[2];
const { Server } = require(path.join(mods, 'socket.io'));

function log(o) {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const srv = http.createServer();
const io = new Server(srv, {
  allowEIO3: true,
  perMessageDeflate: { threshold: 0 },
  httpCompression: false,
  pingInterval: 60000,
  pingTimeout: 60000,
  connectTimeout: 60000,
});

io.engine.on('connection', (conn) => {
  log({
    ev: 'engine', sid: conn.id, protocol: conn.protocol, transport: conn.transport.name,
    extensions: conn.request.headers['sec-websocket-extensions'] || null,
  });
  conn.on('close', (why) => log({ ev: 'engine_close', sid: conn.id, why }));
});
io.engine.on('connection_error', (e) => {
  log({ ev: 'engine_error', code: e.code, message: e.message });
});

function watch(nsp) {
  nsp.on('connection', (socket) => {
    log({
      ev: 'nsp', nsp: socket.nsp.name, sid: socket.conn.id, protocol: socket.conn.protocol,
      auth: socket.handshake.auth, sub: socket.handshake.headers['x-auth-sub'] || null,
    });
    socket.emit('welcome', { nsp: socket.nsp.name, auth: socket.handshake.auth });
    socket.onAny((name, ...args) => log({ ev: 'event', nsp: socket.nsp.name, sid: socket.conn.id, name, args }));
    socket.on('disconnect', (why) => log({ ev: 'nsp_close', nsp: socket.nsp.name, sid: socket.conn.id, why }));
  });
}
watch(io.of('/'));
watch(io.of('/admin'));
watch(io.of('/chat'));
watch(io.of(/^\/dyn-[a-z0-9?=&]*$/));

srv.listen(0, '127.0.0.1', () => log({ ev: 'listening', port: srv.address().port }));
