// The metrics port: the member's Prometheus registry.
import express from 'express';
import type { Express } from 'express';
import { finish, requireHost } from './http-common.ts';
import type { Member } from './server.ts';

/** The metrics port. */
export function metricsApp(member: Member): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requireHost);
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', member.metrics.registry.contentType);
    res.send(await member.metrics.registry.metrics());
  });
  return finish(app, member);
}
