// A real OAuth 2.0 authorization server (oidc-provider) for the resource-server tests.
//
// Usage: node server.mjs <modules-dir> <port> <audience>
//   <modules-dir>: the directory holding node_modules/oidc-provider (var/ci/oidc-provider).
// Clients (client-credentials grant only):
//   svc-writer / writer-secret  scopes: events:write tickets:read
//   svc-auditor / auditor-secret scopes: audit:read
// Access tokens for <audience> are JWTs (typ at+jwt, ES256); opaque tokens are issued for the
// resource "urn:rcmgw:opaque" (same audience) and are answered by RFC 7662 introspection
// (client svc-rs / rs-secret).
// POST /__test/rotate (loopback only) prepends a new signing key; the old one stays published.
// Prints "READY <port>" on stdout once listening.
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const [modulesDir, portArg, audience] = process.argv.slice(2);
const { default: Provider } = await import(
  pathToFileURL(path.join(modulesDir, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);
const port = Number(portArg);
const issuer = `http://127.0.0.1:${port}`;
const OPAQUE = 'urn:rcmgw:opaque';
const SCOPES = ['events:write', 'tickets:read', 'tickets:ack', 'tickets:sensitive', 'spool:read',
  'spool:replay', 'audit:read', 'phi:reidentify', 'admin'];

let generation = 0;
function newKey() {
  generation += 1;
  const jwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `oidc-${generation}-${crypto.randomBytes(3).toString('hex')}`, alg: 'ES256', use: 'sig' };
}

function build(keys) {
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'svc-writer', client_secret: 'writer-secret', grant_types: ['client_credentials'],
        redirect_uris: [], response_types: [], scope: 'events:write tickets:read' },
      { client_id: 'svc-auditor', client_secret: 'auditor-secret', grant_types: ['client_credentials'],
        redirect_uris: [], response_types: [], scope: 'audit:read' },
      { client_id: 'svc-rs', client_secret: 'rs-secret', grant_types: [], redirect_uris: [],
        response_types: [] },
    ],
    jwks: { keys },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    scopes: SCOPES,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => audience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => {
          if (resource === OPAQUE) {
            return { scope: SCOPES.join(' '), audience, accessTokenFormat: 'opaque' };
          }
          if (resource !== audience) throw new Error('unknown resource');
          return { scope: SCOPES.join(' '), audience, accessTokenFormat: 'jwt', accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } } };
        },
      },
    },
  });
  provider.proxy = false;
  return provider;
}

let keys = [newKey()];
let callback = build(keys).callback();

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test/rotate') {
    keys = [newKey(), ...keys];
    callback = build(keys).callback();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
