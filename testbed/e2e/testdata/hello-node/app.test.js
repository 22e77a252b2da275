'use strict';
const test = require('node:test');
const assert = require('node:assert');
const http = require('node:http');
const { handler } = require('./app');

// get starts the handler on a free port and GETs path.
async function get(env, path) {
  const server = http.createServer(handler(env));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${server.address().port}${path}`);
    return { status: res.status, body: await res.json() };
  } finally {
    server.close();
  }
}

test('/hello says the greeting', async () => {
  const { status, body } = await get({ GREETING: 'hi' }, '/hello');
  assert.strictEqual(status, 200);
  assert.deepStrictEqual(body, { message: 'hi' });
});

test('/healthz is ready', async () => {
  const { status, body } = await get({ GREETING: 'hi' }, '/healthz');
  assert.strictEqual(status, 200);
  assert.strictEqual(body.status, 'ready');
});

test('an unknown path is 404', async () => {
  const { status } = await get({ GREETING: 'hi' }, '/nope');
  assert.strictEqual(status, 404);
});

test('no greeting is an error that names it', () => {
  assert.throws(() => handler({}), /GREETING is not set/);
});

test('/upstream without UPSTREAM_URL is 404', async () => {
  const { status } = await get({ GREETING: 'hi' }, '/upstream');
  assert.strictEqual(status, 404);
});

test('/upstream relays UPSTREAM_URL', async () => {
  const upstream = http.createServer((req, res) => res.end('from upstream'));
  await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${upstream.address().port}/`;
    const { status, body } = await get({ GREETING: 'hi', UPSTREAM_URL: url }, '/upstream');
    assert.strictEqual(status, 200);
    assert.deepStrictEqual(body, { upstream: 'from upstream' });
  } finally {
    upstream.close();
  }
});
