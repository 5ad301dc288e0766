import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { LicenseServerPair, Member } from '../api/pair.ts';
import { ADMIN_TOKEN_KEY } from './admin-token-secret.ts';
import { childNames } from './child-names.ts';
import { servesTls } from './serves-tls.ts';

export const MOUNT_LICENSE = '/etc/license-server/license';
export const MOUNT_ADMIN = '/etc/license-server/admin';
export const MOUNT_TLS = '/etc/license-server/tls';
export const STATE_DIR = '/var/lib/license-server';

export function memberVolumes(pair: LicenseServerPair, member: Member): V1Volume[] {
  const s = pair.spec.server;
  const names = childNames(pair.metadata.name);
  return [
    {
      name: 'license',
      secret: {
        secretName: s.license.secretName,
        items: [
          { key: s.license.fileKey, path: 'license.json' },
          { key: s.license.publicKeyKey, path: 'public-key.pem' },
        ],
        defaultMode: 0o440,
      },
    },
    {
      name: 'admin-token',
      secret: {
        secretName: names.adminTokenSecret,
        items: [{ key: ADMIN_TOKEN_KEY, path: ADMIN_TOKEN_KEY }],
        defaultMode: 0o440,
        optional: s.protocol === 'none',
      },
    },
    ...(servesTls(pair) ? [tlsVolume(pair, member)] : []),
    s.storage
      ? { name: 'state', persistentVolumeClaim: { claimName: names.pvc[member] } }
      : { name: 'state', emptyDir: {} },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
  ];
}

/**
 * The member's certificate, key and CA bundle at MOUNT_TLS. Operator mode: its Secret, which holds
 * all three. Provided mode: the certificate and key from the user's Secret and the CA bundle from
 * the trust ConfigMap the operator keeps (the user's CAs and the installation CA, whose operator
 * certificate the member must admit), in one projected volume: the kubelet refreshes both sources
 * in place, so a renewal by cert-manager reaches the member without a restart.
 */
function tlsVolume(pair: LicenseServerPair, member: Member): V1Volume {
  const names = childNames(pair.metadata.name);
  const provided = pair.spec.tls.secretNames;
  if (pair.spec.tls.mode === 'Provided' && provided)
    return {
      name: 'tls',
      projected: {
        sources: [
          {
            secret: {
              name: provided[member],
              items: ['tls.crt', 'tls.key'].map((k) => ({ key: k, path: k })),
            },
          },
          { configMap: { name: names.trustConfigMap, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        ],
        defaultMode: 0o440,
      },
    };
  return {
    name: 'tls',
    secret: {
      secretName: names.tlsSecret[member],
      items: ['tls.crt', 'tls.key', 'ca.crt'].map((k) => ({ key: k, path: k })),
      defaultMode: 0o440,
    },
  };
}

export function memberVolumeMounts(pair: LicenseServerPair): V1VolumeMount[] {
  return [
    { name: 'license', mountPath: MOUNT_LICENSE, readOnly: true },
    { name: 'admin-token', mountPath: MOUNT_ADMIN, readOnly: true },
    ...(servesTls(pair) ? [{ name: 'tls', mountPath: MOUNT_TLS, readOnly: true }] : []),
    { name: 'state', mountPath: STATE_DIR },
    { name: 'tmp', mountPath: '/tmp' },
  ];
}
