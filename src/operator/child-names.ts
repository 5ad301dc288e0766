import type { Member } from '../api/pair.ts';

export interface ChildNames {
  pod: Record<Member, string>;
  memberService: Record<Member, string>;
  clientService: string;
  pdb: string;
  networkPolicy: string;
  adminTokenSecret: string;
  pvc: Record<Member, string>;
  /** each member's certificate, key and CA bundle (kubernetes.io/tls) */
  tlsSecret: Record<Member, string>;
  /** the CA bundle for clients (`ca.crt`) */
  caConfigMap: string;
  /** with `spec.tls.mode: Provided`: the CAs the members trust (`ca.crt`), see tls/provided-trust.ts */
  trustConfigMap: string;
}

export function childNames(pairName: string): ChildNames {
  return {
    pod: { primary: `${pairName}-primary`, redundant: `${pairName}-redundant` },
    memberService: { primary: `${pairName}-primary`, redundant: `${pairName}-redundant` },
    clientService: pairName,
    pdb: pairName,
    networkPolicy: pairName,
    adminTokenSecret: `${pairName}-admin-token`,
    pvc: { primary: `${pairName}-primary-state`, redundant: `${pairName}-redundant-state` },
    tlsSecret: { primary: `${pairName}-primary-tls`, redundant: `${pairName}-redundant-tls` },
    caConfigMap: `${pairName}-ca`,
    trustConfigMap: `${pairName}-member-trust`,
  };
}
