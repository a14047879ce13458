// An ordinary Node HTTP server: it binds its own port (server.listen(PORT)); clusterd's socket
// adoption hands each worker the master's socket instead (docs/adoption.md).
//
// The drain recipe, for reloads with no failed request (docs/recipes.md#node): on SIGTERM,
// every answer says `Connection: close`, so that a keep-alive client opens its next request
// on a new connection (which reaches a new worker); the server stops accepting, and the
// process exits once its last connection has ended.
'use strict';
const http = require('http');
const net = require('net');

const port = Number(process.env.PORT || 8080);
let draining = false;

const server = http.createServer((req, res) => {
  if (draining) res.setHeader('Connection', 'close');
  res.setHeader('X-Worker', String(process.pid));
  res.end(`hello from ${process.pid}\n`);
});

server.listen(port);

process.on('SIGTERM', () => {
  draining = true;
  // http.Server#close() would also close the idle keep-alive connections at once (Node 19+),
  // racing a request the client may be sending on one right now. net.Server#close() only stops
  // accepting; each open connection ends after its next answer (Connection: close) or after
  // keepAliveTimeout when idle, and the callback runs when the last one has gone.
  net.Server.prototype.close.call(server, () => process.exit(0));
});
