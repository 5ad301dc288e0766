// Shared fixtures: an issuer key pair, signed licences, token files and server configs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateIssuerKeys, signLicence } from '../../../src/license-server/licence-file.ts';
import type { LicenceBody } from '../../../src/license-server/licence-file.ts';
import type { ServerConfig } from '../../../src/license-server/config.ts';

export const PAIR_ID = 'licensing/eda-tools';

export type Feature = LicenceBody['features'][number];

export function licenceBody(features: Feature[], pairId = PAIR_ID): LicenceBody {
  return {
    format: 1,
    issuedTo: pairId,
    issuer: 'Example EDA Inc.',
    issued: '2025-01-01T00:00:00Z',
    features,
  };
}

export const feature = (name: string, seats: number, extra: Partial<Feature> = {}): Feature => ({
  name,
  seats,
  start: '2024-01-01',
  expiry: '2099-12-31',
  ...extra,
});

export type Fixture = {
  dir: string;
  keys: { publicKeyPem: string; privateKeyPem: string };
  licenceFile: string;
  publicKeyFile: string;
  tokenFile: string;
  token: string;
  writeLicence(features: Feature[], pairId?: string): void;
  stateDir(name: string): string;
  cleanup(): void;
};

export function makeFixture(features: Feature[] = [feature('synth', 5)]): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lsp-test-'));
  const keys = generateIssuerKeys();
  const licenceFile = path.join(dir, 'license.json');
  const publicKeyFile = path.join(dir, 'public-key.pem');
  const tokenFile = path.join(dir, 'token');
  const token = `tok-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(publicKeyFile, keys.publicKeyPem);
  fs.writeFileSync(tokenFile, `${token}\n`);
  const fx: Fixture = {
    dir,
    keys,
    licenceFile,
    publicKeyFile,
    tokenFile,
    token,
    writeLicence(fs2, pairId = PAIR_ID) {
      const signed = signLicence(licenceBody(fs2, pairId), keys.privateKeyPem);
      const tmp = `${licenceFile}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(signed, null, 2));
      fs.renameSync(tmp, licenceFile);
    },
    stateDir(name) {
      const d = path.join(dir, `state-${name}`);
      fs.mkdirSync(d, { recursive: true });
      return d;
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  fx.writeLicence(features);
  return fx;
}

export function testConfig(fx: Fixture, over: Partial<ServerConfig> = {}): ServerConfig {
  return {
    pairId: PAIR_ID,
    member: 'primary',
    peerUrl: undefined,
    advertiseUrl: null,
    licenseFile: fx.licenceFile,
    publicKeyFile: fx.publicKeyFile,
    adminTokenFile: fx.tokenFile,
    clientTokenFile: undefined,
    allowNoToken: false,
    tokenGraceMs: 60_000,
    stateDir: fx.stateDir(over.member ?? 'primary'),
    bind: '127.0.0.1',
    port: 0,
    adminPort: 0,
    metricsPort: 0,
    replicationMode: 'sync',
    syncTimeoutMs: 500,
    heartbeatMs: 250,
    peerPromiseMs: 1000,
    leaseTtlMs: 60_000,
    sweepIntervalMs: 200,
    fsync: 'batch',
    compactEvery: 100_000,
    usageLog: 'off',
    logLevel: 'silent',
    bodyLimit: '16kb',
    requestTimeoutMs: 10_000,
    licenceCheckMs: 100,
    ...over,
  };
}
