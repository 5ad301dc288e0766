// Whether a member's own certificate Secret (`spec.tls.mode: Provided`, for example written by
// cert-manager) can serve: it exists, holds tls.crt, tls.key and ca.crt, the certificate parses,
// is valid now, matches the key, chains to ca.crt, holds the member's identity and the names its
// peer and clients dial, and may serve and be presented as a client. The first defect found is the
// answer, with what to change (in cert-manager's terms). Pure: the caller reads the Secret and
// passes the clock.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Member } from '../../api/pair.ts';
import { identitiesOf, subjectAltNames } from '../../tls/identity.ts';
import { certificateBlocks } from '../../tls/pem.ts';

export const PROVIDED_KEYS = ['tls.crt', 'tls.key', 'ca.crt'] as const;
export type ProvidedKey = (typeof PROVIDED_KEYS)[number];

/** Condition reasons of a Secret that cannot serve (CertificatesReady=False). */
export const PROVIDED_DEFECTS = [
  'SecretMissing',
  'SecretInvalid',
  'Expired',
  'NotYetValid',
  'ChainUntrusted',
  'IdentityMissing',
  'NamesMissing',
  'UsageMissing',
] as const;
export type ProvidedDefect = (typeof PROVIDED_DEFECTS)[number];

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** How many intermediate CAs tls.crt may carry between the certificate and a CA of ca.crt. */
const MAX_CHAIN = 4;

export type ProvidedSecretCheck = {
  member: Member;
  namespace: string;
  secretName: string;
  /** the Secret's data, decoded (undefined: no such Secret) */
  data: Partial<Record<ProvidedKey, string>> | undefined;
  /** the member's URI SAN, spiffe://license-pair-operator/ns/<ns>/pair/<name>/member/<m> */
  identity: string;
  /** the DNS names the certificate must hold (member-names.ts) */
  dnsNames: readonly string[];
  now: Date;
};

export type ProvidedSecretFinding =
  | { ok: true; notBefore: Date; notAfter: Date; serialNumber: string; caPem: string }
  | { ok: false; reason: ProvidedDefect; message: string };

export function checkProvidedSecret(c: ProvidedSecretCheck): ProvidedSecretFinding {
  const where = `the ${c.member} member's Secret ${c.namespace}/${c.secretName}`;
  const fail = (reason: ProvidedDefect, what: string, fix: string): ProvidedSecretFinding => ({
    ok: false,
    reason,
    message: `${where} ${what}; ${fix}`,
  });
  if (!c.data)
    return fail(
      'SecretMissing',
      'does not exist',
      `create it (a cert-manager Certificate with spec.secretName: ${c.secretName}), or name the right Secret in spec.tls.secretNames.${c.member}`,
    );
  const missing = PROVIDED_KEYS.filter((k) => !c.data![k]?.trim());
  if (missing.length > 0)
    return fail(
      'SecretInvalid',
      `lacks ${missing.join(', ')}`,
      missing.includes('ca.crt')
        ? 'it needs the certificate, its key and the CA that issued it (cert-manager writes ca.crt for CA, Vault and self-signed issuers, not for ACME)'
        : 'it needs the kubernetes.io/tls keys tls.crt and tls.key, and ca.crt',
    );
  const data = c.data as Record<ProvidedKey, string>;

  const chain = parseCertificates(data['tls.crt']);
  if (chain instanceof Error)
    return fail(
      'SecretInvalid',
      `has a tls.crt that does not parse (${chain.message})`,
      'write a PEM certificate to tls.crt',
    );
  const cert = chain[0]!;
  try {
    if (!cert.checkPrivateKey(createPrivateKey(data['tls.key'])))
      return fail(
        'SecretInvalid',
        `has a tls.key that is not the key of its certificate (serial ${cert.serialNumber})`,
        'write the certificate and its own key together (a cert-manager renewal does)',
      );
  } catch (err) {
    return fail(
      'SecretInvalid',
      `has a tls.key that does not parse (${(err as Error).message})`,
      'write a PEM private key to tls.key',
    );
  }
  const cas = parseCertificates(data['ca.crt']);
  if (cas instanceof Error)
    return fail(
      'SecretInvalid',
      `has a ca.crt that does not parse (${cas.message})`,
      'write the issuing CA (PEM) to ca.crt',
    );

  const t = c.now.getTime();
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= t)
    return fail(
      'Expired',
      `holds a certificate that expired at ${notAfter.toISOString()}`,
      'renew it (kubectl describe certificate says why cert-manager did not; `cmctl renew` forces it)',
    );
  if (notBefore.getTime() > t)
    return fail(
      'NotYetValid',
      `holds a certificate valid only from ${notBefore.toISOString()}`,
      "check the issuer's clock and this cluster's, or wait",
    );

  const anchor = chainAnchor(chain, cas);
  if (!anchor)
    return fail(
      'ChainUntrusted',
      `holds a certificate (issuer ${oneLine(cert.issuer)}) that does not chain to a CA of its ca.crt (${cas.map((x) => oneLine(x.subject)).join('; ')})`,
      'issue it from the CA in ca.crt (put any intermediate CAs in tls.crt after the certificate)',
    );
  if (new Date(anchor.validTo).getTime() <= t)
    return fail(
      'Expired',
      `chains to a CA (${oneLine(anchor.subject)}) that expired at ${new Date(anchor.validTo).toISOString()}`,
      'renew the CA and reissue the certificate from it',
    );

  const ids = identitiesOf(cert);
  const sans = subjectAltNames(cert.subjectAltName);
  const uris = sans.filter((n) => n.type === 'URI').map((n) => n.value);
  if (ids.length !== 1 || !uris.includes(c.identity))
    return fail(
      'IdentityMissing',
      ids.length > 1
        ? `holds a certificate with ${ids.length} identities of this product (${uris.join(', ')}); a member's has one`
        : `holds a certificate without the member's identity (URI SANs: ${uris.length > 0 ? uris.join(', ') : 'none'})`,
      `set the cert-manager Certificate's spec.uris to ["${c.identity}"]`,
    );
  const names = new Set(sans.filter((n) => n.type === 'DNS').map((n) => n.value));
  const lacking = c.dnsNames.filter((n) => !names.has(n));
  if (lacking.length > 0)
    return fail(
      'NamesMissing',
      `holds a certificate without the DNS names ${lacking.join(', ')} (its peer and clients dial them)`,
      `add them to the cert-manager Certificate's spec.dnsNames (all of: ${c.dnsNames.join(', ')})`,
    );
  const usages = cert.keyUsage;
  const lackingUsage = [
    ...(usages && !usages.includes(SERVER_AUTH) ? ['server auth'] : []),
    ...(usages && !usages.includes(CLIENT_AUTH) ? ['client auth'] : []),
  ];
  if (lackingUsage.length > 0)
    return fail(
      'UsageMissing',
      `holds a certificate whose extended key usage lacks ${lackingUsage.join(' and ')} (a member serves with it and presents it to its peer)`,
      'set the cert-manager Certificate\'s spec.usages to ["digital signature", "key encipherment", "server auth", "client auth"]',
    );
  return { ok: true, notBefore, notAfter, serialNumber: cert.serialNumber, caPem: data['ca.crt'] };
}

/** The certificates of a PEM text, or why it holds none that parse. */
function parseCertificates(pem: string): X509Certificate[] | Error {
  try {
    const certs = certificateBlocks(pem).map((p) => new X509Certificate(p));
    return certs.length > 0 ? certs : new Error('no PEM certificate in it');
  } catch (err) {
    return err as Error;
  }
}

/** The CA of `cas` the certificate chains to, through the intermediates after it in tls.crt. */
function chainAnchor(chain: X509Certificate[], cas: X509Certificate[]): X509Certificate | undefined {
  let current = chain[0]!;
  const intermediates = chain.slice(1);
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    const anchor = cas.find((ca) => issuedBy(current, ca));
    if (anchor) return anchor;
    const next = intermediates.find((i) => i.ca && issuedBy(current, i));
    if (!next) return undefined;
    current = next;
  }
  return undefined;
}

function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}
