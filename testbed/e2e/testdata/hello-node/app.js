'use strict';
// The service's routes, apart from the listener so that tests call them.
// Config comes from the environment: GREETING (required) is what /hello
// says, APP_VERSION what /version says, UPSTREAM_URL (optional) what
// /upstream relays.

function handler(env) {
  const greeting = env.GREETING;
  if (!greeting) {
    throw new Error('GREETING is not set: set it to what /hello answers');
  }
  return (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') {
      return send(405, { error: 'method not allowed' });
    }
    switch (url.pathname) {
      case '/healthz':
        return send(200, { status: 'ready' });
      case '/hello':
        return send(200, { message: greeting });
      case '/version':
        return send(200, { version: env.APP_VERSION || 'dev' });
      case '/upstream':
        if (!env.UPSTREAM_URL) {
          return send(404, { error: 'no UPSTREAM_URL' });
        }
        return fetch(env.UPSTREAM_URL, { signal: AbortSignal.timeout(3000) })
          .then((r) => r.text())
          .then((body) => send(200, { upstream: body }))
          .catch((err) => send(502, { error: String(err.message) }));
      default:
        return send(404, { error: 'not found' });
    }
  };
}

module.exports = { handler };
