'use strict';
// The image's HEALTHCHECK: exit 0 if HEALTH_URL (default the local
// listener's /healthz) answers 200 within 3 s.
const http = require('node:http');

const url = process.env.HEALTH_URL || 'http://127.0.0.1:3000/healthz';
const req = http.get(url, { timeout: 3000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  console.error(`healthcheck: ${url}: ${err.message}`);
  process.exit(1);
});
