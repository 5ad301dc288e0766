import { describe, expect, it } from 'vitest';
import { issueCertificateAuthority } from '../../../src/tls/certificate-authority.ts';
import { issueLeaf } from '../../../src/tls/issue-leaf.ts';
import {
  OPERATOR_IDENTITY,
  identitiesOfPem,
  isPeerOf,
  memberIdentity,
  parseIdentity,
  subjectAltNames,
} from '../../../src/tls/identity.ts';

describe('identities', () => {
  it('a member identity names namespace, pair and member and parses back', () => {
    const uri = memberIdentity('licensing/eda-tools', 'redundant');
    expect(uri).toBe('spiffe://license-pair-operator/ns/licensing/pair/eda-tools/member/redundant');
    expect(parseIdentity(uri)).toEqual({
      kind: 'member',
      namespace: 'licensing',
      pair: 'eda-tools',
      member: 'redundant',
    });
    expect(parseIdentity(OPERATOR_IDENTITY)).toEqual({ kind: 'operator' });
  });

  it('refuses what is not one of ours', () => {
    expect(() => memberIdentity('eda-tools', 'primary')).toThrow(/namespace\/name/);
    expect(() => memberIdentity('licensing/Eda', 'primary')).toThrow(/Kubernetes name/);
    for (const uri of [
      'spiffe://other-domain/operator',
      'spiffe://license-pair-operator/operator/extra',
      'spiffe://license-pair-operator/ns/a/pair/b/member/c/d',
      'spiffe://license-pair-operator/ns/a/pair/../member/c',
      'https://license-pair-operator/operator',
    ])
      expect(parseIdentity(uri), uri).toBeUndefined();
  });

  it('the peer of a member is another member of the same pair, never itself, the operator or another pair', () => {
    const member = (ns: string, pair: string, m: string) => ({
      kind: 'member' as const,
      namespace: ns,
      pair,
      member: m,
    });
    expect(isPeerOf(member('licensing', 'eda', 'redundant'), 'licensing/eda', 'primary')).toBe(true);
    expect(isPeerOf(member('licensing', 'eda', 'primary'), 'licensing/eda', 'primary')).toBe(false);
    expect(isPeerOf(member('licensing', 'cad', 'redundant'), 'licensing/eda', 'primary')).toBe(false);
    expect(isPeerOf(member('other', 'eda', 'redundant'), 'licensing/eda', 'primary')).toBe(false);
    expect(isPeerOf({ kind: 'operator' }, 'licensing/eda', 'primary')).toBe(false);
  });

  it("node's subjectAltName text is split as node quotes it", () => {
    expect(
      subjectAltNames(
        'DNS:a.example, IP Address:10.0.0.1, IP Address:::1, URI:spiffe://x/y, DNS:"b\\u002c URI:z"',
      ),
    ).toEqual([
      { type: 'DNS', value: 'a.example' },
      { type: 'IP Address', value: '10.0.0.1' },
      { type: 'IP Address', value: '::1' },
      { type: 'URI', value: 'spiffe://x/y' },
      { type: 'DNS', value: 'b, URI:z' },
    ]);
    expect(subjectAltNames(undefined)).toEqual([]);
  });

  it('a DNS name crafted to look like an operator URI in the text is not an identity', async () => {
    const ca = await issueCertificateAuthority({ commonName: 'ca', lifetimeMs: 86_400_000 });
    const forged = await issueLeaf(ca.authority, {
      commonName: 'forged',
      dnsNames: [`x, URI:${OPERATOR_IDENTITY}`],
      purposes: ['clientAuth'],
      lifetimeMs: 86_400_000,
    });
    expect(identitiesOfPem(forged.certPem)).toEqual([]);
  });
});
