// The HTTP shell over a Member: three express apps, one module each: the licences port
// (http-licences.ts), the admin port (http-admin.ts) with the replication stream upgraded on it
// (http-replication-stream.ts), and the metrics port (http-metrics.ts); what they share is in
// http-common.ts. Every body is validated with zod; every error is a JSON {code, message} with a
// 4xx/5xx status.
export { adminApp } from './http-admin.ts';
export { HttpError, clientError, registeredRoutes } from './http-common.ts';
export type { HttpOptions } from './http-common.ts';
export { clientApp, clientHandler } from './http-licences.ts';
export { metricsApp } from './http-metrics.ts';
export { replicationStream } from './http-replication-stream.ts';
