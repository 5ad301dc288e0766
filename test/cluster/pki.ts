import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { net, nodeName, pkiDir } from './config.ts';

/**
 * Generates the cluster's PKI with openssl: one CA, serving certificates for the API server and
 * the kubelet, client certificates for every component and the admin, and the service-account
 * signing key. Idempotent: existing files are kept, so restarting the control plane keeps
 * kubeconfigs valid.
 */
interface CertSpec {
  name: string;
  cn: string;
  org?: string;
  sans?: string[];
  usage: 'server' | 'client' | 'both';
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function pkiPath(name: string): string {
  return path.join(pkiDir, name);
}

function ensureCA(): void {
  if (existsSync(pkiPath('ca.crt'))) return;
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', pkiPath('ca.key')]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    pkiPath('ca.key'),
    '-sha256',
    '-days',
    '3650',
    '-subj',
    '/CN=lpo-local-ca',
    '-out',
    pkiPath('ca.crt'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

export function ensureCert(spec: CertSpec): void {
  const crt = pkiPath(`${spec.name}.crt`);
  if (existsSync(crt)) return;
  const key = pkiPath(`${spec.name}.key`);
  const csr = pkiPath(`${spec.name}.csr`);
  const ext = pkiPath(`${spec.name}.ext`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const subject = `/CN=${spec.cn}` + (spec.org ? `/O=${spec.org}` : '');
  openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[spec.usage];
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
  ];
  if (spec.sans?.length) lines.push(`subjectAltName=${spec.sans.join(',')}`);
  writeFileSync(ext, lines.join('\n') + '\n');
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pkiPath('ca.crt'),
    '-CAkey',
    pkiPath('ca.key'),
    '-CAcreateserial',
    '-days',
    '825',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    crt,
  ]);
}

export function ensurePKI(): void {
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  ensureCA();
  const apiserverSANs = [
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    `DNS:kubernetes.default.svc.${net.clusterDomain}`,
    'IP:127.0.0.1',
    `IP:${net.hostIP}`,
    `IP:${net.kubernetesServiceIP}`,
  ];
  const certs: CertSpec[] = [
    { name: 'apiserver', cn: 'kube-apiserver', sans: apiserverSANs, usage: 'server' },
    {
      name: 'apiserver-kubelet-client',
      cn: 'kube-apiserver-kubelet-client',
      org: 'system:masters',
      usage: 'client',
    },
    { name: 'admin', cn: 'lpo-admin', org: 'system:masters', usage: 'client' },
    { name: 'controller-manager', cn: 'system:kube-controller-manager', usage: 'client' },
    { name: 'scheduler', cn: 'system:kube-scheduler', usage: 'client' },
    { name: 'kubelet', cn: `system:node:${nodeName}`, org: 'system:nodes', usage: 'client' },
    {
      name: 'kubelet-serving',
      cn: `system:node:${nodeName}`,
      org: 'system:nodes',
      sans: [`DNS:${nodeName}`, `IP:${net.hostIP}`, 'IP:127.0.0.1'],
      usage: 'server',
    },
    { name: 'kube-proxy', cn: 'system:kube-proxy', usage: 'client' },
    { name: 'local-serving', cn: 'localhost', sans: ['DNS:localhost', 'IP:127.0.0.1'], usage: 'server' },
  ];
  for (const c of certs) ensureCert(c);
  if (!existsSync(pkiPath('sa.key'))) {
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pkiPath('sa.key')]);
    openssl(['pkey', '-in', pkiPath('sa.key'), '-pubout', '-out', pkiPath('sa.pub')]);
  }
}

/** The client and serving certificates of an extra node's kubelet (node 1's are made by ensurePKI). */
export function ensureNodeKubeletCerts(node: {
  name: string;
  ip: string;
  kubeletClientCert: string;
  kubeletServingCert: string;
}): void {
  ensureCert({
    name: node.kubeletClientCert,
    cn: `system:node:${node.name}`,
    org: 'system:nodes',
    usage: 'client',
  });
  ensureCert({
    name: node.kubeletServingCert,
    cn: `system:node:${node.name}`,
    org: 'system:nodes',
    sans: [`DNS:${node.name}`, `IP:${node.ip}`],
    usage: 'server',
  });
}

/** A kubeconfig with the client certificate embedded, so it can be copied around on its own. */
export function kubeconfigFor(certName: string, server: string, user: string): string {
  const b64 = (f: string) => readFileSync(pkiPath(f)).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: lpo-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64('ca.crt')}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(`${certName}.crt`)}`,
    `    client-key-data: ${b64(`${certName}.key`)}`,
    'contexts:',
    '- name: lpo-local',
    '  context:',
    '    cluster: lpo-local',
    `    user: ${user}`,
    'current-context: lpo-local',
    '',
  ].join('\n');
}
