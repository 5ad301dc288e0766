// Kept whole: one document, served as it is and checked against the routes as a whole.
// OpenAPI 3 description of the licence server, served at /v1/openapi.json on the licences and
// admin ports. `x-port` names the port a path is served on; a unit test checks that the paths
// and methods here are exactly the routes registered on each express app.
import { ERROR_CODES } from './protocol.ts';

const err = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const json = (description: string, schema: object) => ({
  description,
  content: { 'application/json': { schema } },
});
const body = (ref: string) => ({
  required: true,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});
const bearer = [{ bearer: [] }];
// the lease a checkout returned, renewed or released by the client that checked it out
const leaseLink = (operationId: string) => ({
  operationId,
  requestBody: { leaseId: '$response.body#/lease/id', clientId: '$request.body#/clientId' },
});
const seq = { type: 'integer', minimum: 0 };
// after/afterEpoch: the standby's position; epoch: the standby's epoch (a higher one makes an
// active member step down)
const replicationParams = [
  { name: 'after', in: 'query', required: true, schema: seq },
  { name: 'afterEpoch', in: 'query', required: true, schema: seq },
  { name: 'member', in: 'query', required: false, schema: { type: 'string', maxLength: 100 } },
  { name: 'epoch', in: 'query', required: false, schema: seq },
];
const common = {
  '400': err('BAD_REQUEST: the body or query does not validate'),
  '401': err('UNAUTHORIZED: missing or wrong bearer token, or (TLS) no trusted client certificate'),
  '403': err("FORBIDDEN: (TLS) the client certificate's identity may not call this endpoint"),
  '413': err('PAYLOAD_TOO_LARGE'),
};

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'license-pair-operator reference licence server',
    version: '1.0.0',
    description:
      'Floating licences with leases, replicated from the active member to the standby. ' +
      'See docs/server-contract.md and docs/license-server.md.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: {
            type: 'string',
            enum: [...ERROR_CODES],
          },
          message: { type: 'string' },
          active: {
            type: 'string',
            nullable: true,
            description: 'NOT_ACTIVE: client URL of the live member',
          },
        },
      },
      CheckoutRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['feature', 'clientId', 'user', 'host'],
        // 'synth' is a feature of the sample licence (samples/)
        example: { feature: 'synth', count: 1, clientId: 'build-42', user: 'alice', host: 'ws1' },
        properties: {
          feature: { type: 'string', minLength: 1, maxLength: 100 },
          count: { type: 'integer', minimum: 1, maximum: 100000, default: 1 },
          clientId: { type: 'string', minLength: 1, maxLength: 253 },
          user: { type: 'string', minLength: 1, maxLength: 253 },
          host: { type: 'string', minLength: 1, maxLength: 253 },
        },
      },
      LeaseRef: {
        type: 'object',
        additionalProperties: false,
        required: ['leaseId', 'clientId'],
        properties: {
          leaseId: { type: 'string', minLength: 1, maxLength: 100 },
          clientId: { type: 'string', minLength: 1, maxLength: 253 },
        },
      },
      Lease: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          feature: { type: 'string' },
          count: { type: 'integer' },
          clientId: { type: 'string' },
          user: { type: 'string' },
          host: { type: 'string' },
          expiresInSeconds: { type: 'number' },
          renewAfterSeconds: { type: 'number' },
          expiresAt: { type: 'string', format: 'date-time' },
          existing: { type: 'boolean' },
        },
      },
      LeaseResponse: {
        type: 'object',
        properties: { lease: { $ref: '#/components/schemas/Lease' } },
      },
      PromoteRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['epoch'],
        properties: {
          epoch: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          force: { type: 'boolean', default: false },
          peerExited: {
            type: 'boolean',
            default: false,
            description:
              "the peer's process that was active has exited (the kubelet reported it): do not wait out the promise made to it",
          },
          grant: {
            type: 'object',
            additionalProperties: false,
            required: ['anchor', 'ms'],
            description: 'serve alone from the start (the solo grant of /v1/admin/grant)',
            properties: {
              anchor: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
              ms: { type: 'integer', minimum: 100, maximum: 600_000 },
            },
          },
        },
      },
      DemoteRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['epoch'],
        properties: { epoch: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
      },
      GrantRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['epoch', 'anchor', 'ms'],
        properties: {
          epoch: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          anchor: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          ms: {
            description:
              'how long the grant lasts; 0 ends the grants (a grant anchored at or before `anchor` then extends nothing)',
            oneOf: [
              { type: 'integer', enum: [0] },
              { type: 'integer', minimum: 100, maximum: 600_000 },
            ],
          },
        },
      },
      RoleResponse: {
        type: 'object',
        properties: {
          role: { type: 'string', enum: ['active', 'standby'] },
          epoch: { type: 'integer' },
          waitedMs: {
            type: 'integer',
            description: 'promote: how long the promise to the peer was waited out',
          },
        },
      },
      Status: {
        type: 'object',
        description: 'see docs/server-contract.md',
        properties: {
          member: { type: 'string' },
          pairId: { type: 'string' },
          role: { type: 'string', enum: ['active', 'standby'] },
          epoch: { type: 'integer' },
          ready: { type: 'boolean' },
          license: { type: 'object' },
          replication: { type: 'object' },
          serving: { type: 'object', description: 'serving rights, see docs/reliability.md' },
          time: { type: 'string', format: 'date-time' },
          activeLeases: { type: 'integer' },
          advertiseUrl: { type: 'string', nullable: true },
        },
      },
    },
  },
  paths: {
    '/v1/openapi.json': {
      'x-port': ['licences', 'admin'],
      get: { summary: 'This document', responses: { '200': json('OpenAPI document', { type: 'object' }) } },
    },
    '/v1/checkout': {
      'x-port': ['licences'],
      post: {
        summary: 'Check out seats of a feature (idempotent per clientId and feature)',
        operationId: 'checkout',
        security: bearer,
        requestBody: body('CheckoutRequest'),
        responses: {
          '200': {
            ...json('The lease (a new one, or the existing lease of this client)', {
              $ref: '#/components/schemas/LeaseResponse',
            }),
            links: { renew: leaseLink('renew'), release: leaseLink('release') },
          },
          ...common,
          '403': err('LICENSE_EXPIRED or EXCLUDED'),
          '404': err('UNKNOWN_FEATURE'),
          '409': err('NO_SEATS, USER_LIMIT or HOST_LIMIT'),
          '503': err(
            'NOT_ACTIVE (with the active member in `active`), NO_QUORUM (no serving right: retry, on a new connection) or TIMEOUT',
          ),
        },
      },
    },
    '/v1/renew': {
      'x-port': ['licences'],
      post: {
        summary: 'Renew a lease',
        operationId: 'renew',
        security: bearer,
        requestBody: body('LeaseRef'),
        responses: {
          '200': json('The renewed lease', { $ref: '#/components/schemas/LeaseResponse' }),
          ...common,
          '404': err('LEASE_NOT_FOUND'),
          '410': err('LEASE_EXPIRED'),
          '503': err('NOT_ACTIVE or NO_QUORUM'),
        },
      },
    },
    '/v1/release': {
      'x-port': ['licences'],
      post: {
        summary: 'Release a lease (its seats stay held for the feature linger time, if any)',
        operationId: 'release',
        security: bearer,
        requestBody: body('LeaseRef'),
        responses: {
          '200': json('Released', { type: 'object' }),
          ...common,
          '404': err('LEASE_NOT_FOUND'),
          '503': err('NOT_ACTIVE or NO_QUORUM'),
        },
      },
    },
    '/v1/features': {
      'x-port': ['licences'],
      get: {
        summary: 'Licensed features with their usage',
        security: bearer,
        responses: { '200': json('Features', { type: 'object' }), '401': common['401'] },
      },
    },
    '/healthz': {
      'x-port': ['admin'],
      get: { summary: 'Liveness', responses: { '200': json('alive', { type: 'object' }) } },
    },
    '/readyz': {
      'x-port': ['admin'],
      get: {
        summary: 'Readiness: able to serve its role',
        responses: {
          '200': json('ready', { type: 'object' }),
          '503': json('not ready, with a reason', { type: 'object' }),
        },
      },
    },
    '/v1/status': {
      'x-port': ['admin'],
      get: {
        summary: 'Role, epoch, licence and replication state',
        description:
          'With peerSilentMs and waitMs: answered once this standby has heard nothing from its active for peerSilentMs, or after waitMs.',
        security: bearer,
        parameters: [
          {
            name: 'peerSilentMs',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 100, maximum: 60000 },
          },
          {
            name: 'waitMs',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 0, maximum: 30000 },
          },
        ],
        responses: {
          '200': json('Status', { $ref: '#/components/schemas/Status' }),
          '400': common['400'],
          '401': common['401'],
        },
      },
    },
    '/v1/admin/promote': {
      'x-port': ['admin'],
      post: {
        summary: 'Become active with a new epoch',
        security: bearer,
        requestBody: body('PromoteRequest'),
        responses: {
          '200': json('Promoted', { $ref: '#/components/schemas/RoleResponse' }),
          ...common,
          '409': err('STALE_EPOCH, PEER_ACTIVE or NOT_CAUGHT_UP'),
        },
      },
    },
    '/v1/admin/demote': {
      'x-port': ['admin'],
      post: {
        summary: 'Become standby (idempotent)',
        security: bearer,
        requestBody: body('DemoteRequest'),
        responses: {
          '200': json('Demoted', { $ref: '#/components/schemas/RoleResponse' }),
          ...common,
          '409': err('STALE_EPOCH'),
        },
      },
    },
    '/v1/admin/grant': {
      'x-port': ['admin'],
      post: {
        summary:
          "Serve alone for `ms`, counted from this member's status answer `anchor` (the operator's solo grant); `ms` 0 ends the grants",
        security: bearer,
        requestBody: body('GrantRequest'),
        responses: {
          '200': json('Granted; the status', { $ref: '#/components/schemas/Status' }),
          ...common,
          '409': err('NOT_ACTIVE, STALE_EPOCH or UNKNOWN_ANCHOR (with the status in `status`)'),
        },
      },
    },
    '/v1/admin/reload-license': {
      'x-port': ['admin'],
      post: {
        summary: 'Reload the licence file now',
        security: bearer,
        responses: {
          '200': json('Loaded', { type: 'object' }),
          '401': common['401'],
          '422': err('LICENSE_INVALID: refused; the previous licence stays in force'),
        },
      },
    },
    '/v1/admin/leases': {
      'x-port': ['admin'],
      get: {
        summary: 'List leases',
        security: bearer,
        parameters: [{ name: 'feature', in: 'query', required: false, schema: { type: 'string' } }],
        responses: { '200': json('Leases', { type: 'object' }), '401': common['401'] },
      },
    },
    '/v1/admin/leases/{id}': {
      'x-port': ['admin'],
      delete: {
        summary: 'Revoke a lease',
        security: bearer,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': json('Revoked', { type: 'object' }),
          '401': common['401'],
          '404': err('LEASE_NOT_FOUND'),
          '503': err('NOT_ACTIVE'),
        },
      },
    },
    '/v1/replication/snapshot': {
      'x-port': ['admin'],
      get: {
        summary: 'The whole ledger (for a standby that resyncs)',
        security: bearer,
        responses: {
          '200': json('Snapshot', { type: 'object' }),
          '401': common['401'],
          '503': err('NOT_ACTIVE'),
        },
      },
    },
    '/v1/replication/stream': {
      'x-port': ['admin'],
      get: {
        summary:
          'The replication stream: with `Connection: Upgrade` and `Upgrade: lsp-replication/1`, a raw ' +
          'connection carrying JSON lines (entries after (after, afterEpoch) and heartbeats to the standby, ' +
          '{"ack","epoch"} lines back); without the upgrade 426',
        security: bearer,
        parameters: replicationParams,
        responses: {
          '101': { description: 'Switching Protocols: the stream follows' },
          '400': common['400'],
          '401': common['401'],
          '409': err('SNAPSHOT_REQUIRED'),
          '426': err('BAD_REQUEST'),
          '503': err('NOT_ACTIVE'),
        },
      },
    },
    '/v1/replication/entries': {
      'x-port': ['admin'],
      get: {
        summary: 'Log entries after (after, afterEpoch); long-poll up to `wait` ms; acknowledges `after`',
        security: bearer,
        parameters: [
          ...replicationParams,
          {
            name: 'wait',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 0, maximum: 10000, default: 1000 },
          },
        ],
        responses: {
          '200': json('Entries', { type: 'object' }),
          '400': common['400'],
          '401': common['401'],
          '409': err('SNAPSHOT_REQUIRED'),
          '503': err('NOT_ACTIVE'),
        },
      },
    },
  },
} as const;
