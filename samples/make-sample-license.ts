// Regenerates samples/licenseserverpair.yaml: the sample pair licensing/eda-tools and the Secret with
// its licence file, signed with the DEMO issuer key in samples/demo-issuer/.
//
//   node samples/make-sample-license.ts            # sign with the committed demo key
//   node samples/make-sample-license.ts --new-key  # make a new demo key pair first
//
// THE DEMO KEY IS PUBLIC (it is in this repository): anyone can sign licences with it. Never use it
// for real licences; make your own with `lspctl keygen --out-dir keys/` and keep the private key secret.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { generateIssuerKeys, signLicence, verifyLicence } from '../src/license-server/licence-file.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const keyDir = path.join(here, 'demo-issuer');
const privateKeyFile = path.join(keyDir, 'DEMO-ONLY-private-key.pem');
const publicKeyFile = path.join(keyDir, 'public-key.pem');
export const samplePath = path.join(here, 'licenseserverpair.yaml');

export const pairNamespace = 'licensing';
export const pairName = 'eda-tools';

export const body = {
  format: 1 as const,
  issuedTo: `${pairNamespace}/${pairName}`,
  issuer: 'Example EDA Inc. (DEMO licence, signed with the public demo key)',
  issued: '2026-01-15',
  features: [
    {
      name: 'synth',
      seats: 10,
      start: '2026-01-01',
      expiry: '2036-12-31',
      reserved: [{ host: 'lab-01', seats: 2 }],
      maxPerUser: 4,
      lingerSeconds: 30,
    },
    { name: 'sim', seats: 5, start: '2026-01-01', expiry: '2036-12-31', maxPerHost: 2 },
    { name: 'layout', seats: 2, start: '2026-01-01', expiry: '2036-12-31', exclude: { users: ['guest'] } },
  ],
};

export function makeSample(privateKeyPem: string, publicKeyPem: string): string {
  const licence = signLicence(body, privateKeyPem);
  const licenceText = `${JSON.stringify(licence, null, 2)}\n`;
  // Fails here rather than in the cluster when something is off.
  verifyLicence(licenceText, publicKeyPem, {
    pairId: body.issuedTo,
    now: Date.parse('2026-06-01T00:00:00Z'),
  });
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${pairName}-license`, namespace: pairNamespace, labels: { 'lpo.dev/pair': pairName } },
    type: 'Opaque',
    stringData: { 'license.json': licenceText, 'public-key.pem': publicKeyPem },
  };
  const pair = {
    apiVersion: 'lpo.dev/v1alpha1',
    kind: 'LicenseServerPair',
    metadata: { name: pairName, namespace: pairNamespace },
    spec: {
      server: {
        image: 'license-pair-operator/license-server:0.1.0',
        license: { secretName: `${pairName}-license` },
        resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      },
      placement: { spreadMembers: 'Preferred' },
      failover: { failback: 'Automatic', failbackStableSeconds: 30 },
      preferredMember: 'primary',
    },
  };
  const header = [
    '# A sample LicenseServerPair and the Secret with its signed licence file.',
    '#',
    '#   kubectl create namespace licensing',
    '#   kubectl apply -f samples/licenseserverpair.yaml',
    '#   kubectl get lsp -n licensing -w',
    '#',
    '# The licence is a DEMO licence for the pair identity licensing/eda-tools (namespace/name), signed',
    '# with the demo issuer key in samples/demo-issuer/ -- a key that is public. Never use it for real',
    '# licences. Regenerate this file with `node samples/make-sample-license.ts`.',
    '',
  ].join('\n');
  return `${header}${YAML.stringify(secret, { lineWidth: 0 })}---\n${YAML.stringify(pair, { lineWidth: 0 })}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--new-key') || !existsSync(privateKeyFile)) {
    const keys = generateIssuerKeys();
    mkdirSync(keyDir, { recursive: true });
    writeFileSync(privateKeyFile, keys.privateKeyPem);
    writeFileSync(publicKeyFile, keys.publicKeyPem);
    console.log(`wrote a new DEMO key pair in ${path.relative(process.cwd(), keyDir)}/`);
  }
  writeFileSync(
    samplePath,
    makeSample(readFileSync(privateKeyFile, 'utf8'), readFileSync(publicKeyFile, 'utf8')),
  );
  console.log(`wrote ${path.relative(process.cwd(), samplePath)}`);
}
