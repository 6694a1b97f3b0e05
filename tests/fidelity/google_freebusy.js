#!/usr/bin/env node
// freeBusy.query through the official Google npm client (@googleapis/calendar
// on google-auth-library), for the fidelity test: a client no one here wrote
// must accept calgate's POST /calendar/v3/freeBusy answers as Google's.
//
// Install the client with scripts/npm-test-deps.sh DIR, then:
//
//   NODE_PATH=DIR/node_modules node google_freebusy.js --root http://127.0.0.1:PORT/ \
//       --token TOKEN --request '{"timeMin":...,"timeMax":...,"items":[{"id":...}]}'
//
// Options:
//   --root URL       the per-API rootUrl (google.md §4.3: a path prefix in it is dropped
//                    by the library, so serve freeBusy at the root)
//   --token TOKEN    access token, sent as "Authorization: Bearer TOKEN" through an
//                    OAuth2Client that holds only that token (google.md §4.2: no refresh,
//                    exactly one attempt on 401/403)
//   --bad-token      send a token no server issued ("calgate-fidelity-bad-token") instead
//   --no-auth        no auth object at all: the request carries no Authorization header
//   --request JSON   the requestBody, passed to freebusy.query({requestBody}) as parsed
//   --timeout MS     per-request timeout (default 10000), so a hung server fails the test
//
// Prints ONE line of JSON on stdout:
//   HTTP 2xx:        {"ok":true,"status":200,"data":<response data as the client parsed it>}
//   HTTP error:      {"ok":false,"status":<HTTP status>,"reason":<error.errors[0].reason or null>,
//                     "message":<err.message>,"data":<the error body as the client parsed it>}
//   both exit 0. Bad arguments: usage on stderr, exit 2. No HTTP answer at all
//   (connection refused, timeout, a client bug): {"ok":false,"status":null,"exception":<code or
//   name>,"message":...} on stdout, the stack on stderr, exit 3.
'use strict';

// Loopback only: never go through a proxy from the environment (gaxios reads these).
for (const v of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'])
  delete process.env[v];

const BAD_TOKEN = 'calgate-fidelity-bad-token';

function usage(msg) {
  process.stderr.write(
    `google_freebusy.js: ${msg}\n` +
      'usage: NODE_PATH=DIR/node_modules node google_freebusy.js --root URL ' +
      '(--token TOKEN | --bad-token | --no-auth) --request JSON [--timeout MS]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const a = { timeout: 10000 };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${k} needs a value`);
      return argv[++i];
    };
    switch (k) {
      case '--root': a.root = val(); break;
      case '--token': a.token = val(); break;
      case '--request': a.request = val(); break;
      case '--timeout': a.timeout = Number(val()); break;
      case '--bad-token': a.badToken = true; break;
      case '--no-auth': a.noAuth = true; break;
      default: usage(`unknown argument ${JSON.stringify(k)}`);
    }
  }
  if (!a.root) usage('--root is required');
  try {
    const u = new URL(a.root);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch (e) {
    usage(`--root ${JSON.stringify(a.root)} is not an http(s) URL`);
  }
  if (a.request === undefined) usage('--request is required');
  try {
    a.requestBody = JSON.parse(a.request);
  } catch (e) {
    usage(`--request is not JSON: ${e.message}`);
  }
  const modes = [a.token !== undefined && !a.badToken, !!a.badToken, !!a.noAuth].filter(Boolean).length;
  if (a.noAuth && (a.badToken || a.token !== undefined)) usage('--no-auth excludes --token and --bad-token');
  if (modes === 0) usage('one of --token, --bad-token, --no-auth is required');
  if (a.token === '') usage('--token is empty');
  if (!Number.isFinite(a.timeout) || a.timeout <= 0) usage('--timeout must be a positive number of ms');
  return a;
}

// Writes the one line and exits once stdout has taken it (a pipe may be slow;
// an explicit exit also drops the client's keep-alive sockets).
function finish(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));

  let calendar, OAuth2Client;
  try {
    ({ calendar } = require('@googleapis/calendar'));
    ({ OAuth2Client } = require('google-auth-library'));
  } catch (e) {
    process.stderr.write(`google_freebusy.js: cannot load the npm client (${e.message}); ` +
      'run scripts/npm-test-deps.sh DIR and set NODE_PATH=DIR/node_modules\n');
    finish({ ok: false, status: null, exception: 'MODULE_NOT_FOUND', message: e.message }, 3);
    return;
  }

  const opts = { version: 'v3', rootUrl: args.root };
  if (!args.noAuth) {
    const auth = new OAuth2Client();
    // No refresh_token and no expiry_date: the client never tries to refresh.
    auth.setCredentials({ access_token: args.badToken ? BAD_TOKEN : args.token });
    opts.auth = auth;
  }
  const cal = calendar(opts);

  let res;
  try {
    res = await cal.freebusy.query({ requestBody: args.requestBody }, { timeout: args.timeout });
  } catch (err) {
    const response = err && err.response;
    if (response) {
      const data = response.data === undefined ? null : response.data;
      const first = data && data.error && Array.isArray(data.error.errors) ? data.error.errors[0] : undefined;
      finish({
        ok: false,
        status: err.status !== undefined ? err.status : response.status,
        reason: first && first.reason !== undefined ? first.reason : null,
        message: err.message,
        data,
      }, 0);
      return;
    }
    process.stderr.write(`google_freebusy.js: no HTTP answer: ${(err && err.stack) || err}\n`);
    finish({
      ok: false,
      status: null,
      exception: (err && (err.code || err.name)) || 'Error',
      message: String((err && err.message) || err),
    }, 3);
    return;
  }
  finish({ ok: true, status: res.status, data: res.data }, 0);
}

main().catch((e) => {
  process.stderr.write(`google_freebusy.js: unexpected: ${(e && e.stack) || e}\n`);
  finish({ ok: false, status: null, exception: (e && e.name) || 'Error', message: String((e && e.message) || e) }, 3);
});
