'use strict';
// hello-node listens on LISTEN_PORT (default 3000) and stops on SIGTERM.
const http = require('node:http');
const { handler } = require('./app');

let handle;
try {
  handle = handler(process.env);
} catch (err) {
  console.error(`hello-node: ${err.message}`);
  process.exit(2);
}
const port = Number(process.env.LISTEN_PORT || 3000);
const server = http.createServer(handle);
server.listen(port, () => console.log(`hello-node listening on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
