// Who a certificate speaks for: a URI subject alternative name in the SPIFFE form, one trust
// domain for the whole product:
//
//   spiffe://license-pair-operator/ns/<namespace>/pair/<name>/member/<member>   a pair's member
//   spiffe://license-pair-operator/operator                                     the operator
//
// A URI SAN rather than the subject's CN: it is the field service meshes and cert-manager
// (`spec.uris`) already fill, and it cannot be mistaken for a host name by hostname checks.
// Parsing uses only node:crypto, so the licence server needs no certificate library at run time.
import { X509Certificate } from 'node:crypto';

export const TRUST_DOMAIN = 'license-pair-operator';
const PREFIX = `spiffe://${TRUST_DOMAIN}/`;

export type Identity =
  { kind: 'operator' } | { kind: 'member'; namespace: string; pair: string; member: string };

/** A Kubernetes name segment (DNS label or subdomain): no slashes, nothing to escape. */
const SEGMENT = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

function segment(what: string, value: string): string {
  if (!SEGMENT.test(value)) throw new Error(`${what} "${value}" is not a Kubernetes name`);
  return value;
}

/** The member identity of `pairId` ("namespace/name", as LS_PAIR_ID) and `member` (primary, redundant). */
export function memberIdentity(pairId: string, member: string): string {
  const [namespace, name, ...rest] = pairId.split('/');
  if (namespace === undefined || name === undefined || rest.length > 0)
    throw new Error(`pair id "${pairId}" must be namespace/name`);
  return `${PREFIX}ns/${segment('namespace', namespace)}/pair/${segment('pair name', name)}/member/${segment('member', member)}`;
}

export const OPERATOR_IDENTITY = `${PREFIX}operator`;

export function parseIdentity(uri: string): Identity | undefined {
  if (uri === OPERATOR_IDENTITY) return { kind: 'operator' };
  if (!uri.startsWith(PREFIX)) return undefined;
  const parts = uri.slice(PREFIX.length).split('/');
  if (parts.length !== 6 || parts[0] !== 'ns' || parts[2] !== 'pair' || parts[4] !== 'member')
    return undefined;
  const [, namespace, , pair, , member] = parts as [string, string, string, string, string, string];
  if (![namespace, pair, member].every((s) => SEGMENT.test(s))) return undefined;
  return { kind: 'member', namespace, pair, member };
}

export function describeIdentity(id: Identity): string {
  return id.kind === 'operator' ? 'the operator' : `member ${id.member} of pair ${id.namespace}/${id.pair}`;
}

/**
 * The entries of a subjectAltName text as node writes it ("DNS:a, IP Address:10.0.0.1,
 * URI:spiffe://…"). Node quotes a value holding a separator as a JSON string, so a DNS name
 * "x, URI:spiffe://…/operator" stays one DNS entry here: splitting on ", " would make it an identity.
 */
export function subjectAltNames(text: string | undefined): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  if (!text) return out;
  const entry = /\s*([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (entry.lastIndex < text.length && (m = entry.exec(text)) !== null) {
    const raw = m[2] ?? '';
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        return out; // not node's format: stop rather than guess
      }
    }
    out.push({ type: (m[1] ?? '').trim(), value });
  }
  return out;
}

/** The product identities a certificate carries (usually one). */
export function identitiesOf(
  cert: Pick<X509Certificate, 'subjectAltName'> | { subjectaltname?: string },
): Identity[] {
  const text = 'subjectAltName' in cert ? cert.subjectAltName : cert.subjectaltname;
  return subjectAltNames(text)
    .filter((n) => n.type === 'URI')
    .map((n) => parseIdentity(n.value))
    .filter((i): i is Identity => i !== undefined);
}

/** The identities of a PEM certificate. */
export function identitiesOfPem(pem: string): Identity[] {
  return identitiesOf(new X509Certificate(pem));
}

/** Whether `id` is a member of pair `pairId` other than `self`: the one peer replication accepts. */
export function isPeerOf(id: Identity, pairId: string, self: string): boolean {
  return id.kind === 'member' && `${id.namespace}/${id.pair}` === pairId && id.member !== self;
}
