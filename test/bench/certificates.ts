// What TLS by default costs the operator at scale: issuing each member of N pairs its certificate
// (ECDSA P-256, @peculiar/x509 over node's WebCrypto), as it does for every pair at its first start
// with spec.tls.mode Operator and again at each renewal. One core, in process.
// Run: npm run bench -- certificates [--pairs 1000]
import { memberDnsNames } from '../../src/operator/tls/member-names.ts';
import { issueCertificateAuthority } from '../../src/tls/certificate-authority.ts';
import { issueMemberCertificate } from '../../src/tls/member-certificate.ts';

const args = process.argv.slice(2);
const PAIRS = args.includes('--pairs') ? Number(args[args.indexOf('--pairs') + 1]) : 1000;

const ca = await issueCertificateAuthority({ commonName: 'bench CA', lifetimeMs: 3650 * 86_400_000 });
const times: number[] = [];
const started = performance.now();
for (let i = 0; i < PAIRS; i++)
  for (const member of ['primary', 'redundant'] as const) {
    const t = performance.now();
    await issueMemberCertificate(ca.authority, {
      pairId: `bench/pair-${i}`,
      member,
      dnsNames: memberDnsNames(`pair-${i}`, 'bench', member),
      lifetimeMs: 30 * 86_400_000,
    });
    times.push(performance.now() - t);
  }
const total = (performance.now() - started) / 1000;
times.sort((a, b) => a - b);
const pct = (p: number) => times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]!;
console.log(
  `${times.length} member certificates for ${PAIRS} pairs in ${total.toFixed(2)} s ` +
    `(${(times.length / total).toFixed(0)}/s); per certificate p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms`,
);
