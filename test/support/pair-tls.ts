import type * as k8s from '@kubernetes/client-node';
import { CA_SECRET_NAME } from '../../src/operator/tls/installation-ca.ts';
import { loadCertificateAuthority } from '../../src/tls/certificate-authority.ts';
import { issueOperatorCertificate } from '../../src/tls/client-certificate.ts';

/**
 * What a test needs to talk to a TLS pair from the host: the pair's CA bundle (its ConfigMap
 * `<pair>-ca`, as any client reads it) and, for the admin calls members admit from the operator
 * only, a client certificate with the operator's identity, issued from the installation CA (the
 * test runs as cluster admin and may read that Secret; nothing else should).
 */
export interface PairTls {
  ca: string;
  cert?: string;
  key?: string;
}

export async function pairCa(core: k8s.CoreV1Api, ns: string, pair: string): Promise<string> {
  const cm = await core.readNamespacedConfigMap({ namespace: ns, name: `${pair}-ca` });
  const ca = cm.data?.['ca.crt'];
  if (!ca) throw new Error(`the ConfigMap ${ns}/${pair}-ca has no ca.crt yet`);
  return ca;
}

export async function operatorTls(
  core: k8s.CoreV1Api,
  operatorNs: string,
  ns: string,
  pair: string,
): Promise<Required<PairTls>> {
  const s = await core.readNamespacedSecret({ namespace: operatorNs, name: CA_SECRET_NAME });
  const text = (k: string) => Buffer.from(s.data?.[k] ?? '', 'base64').toString('utf8');
  const authority = await loadCertificateAuthority(text('tls.crt'), text('tls.key'));
  const issued = await issueOperatorCertificate(authority, { lifetimeMs: 3_600_000 });
  return { ca: await pairCa(core, ns, pair), cert: issued.certPem, key: issued.keyPem };
}

/** The name a member's certificate holds for its member Service (a host dials its pod IP). */
export function memberServerName(ns: string, pair: string, member: string): string {
  return `${pair}-${member}.${ns}.svc`;
}

/** The name members' certificates hold for the client Service (a host dials its cluster IP). */
export function clientServerName(ns: string, pair: string): string {
  return `${pair}.${ns}.svc`;
}
