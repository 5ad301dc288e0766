// A failed call to a member is read by a person, as the pair's lastProbeMessage or in a refused
// promotion's Event, not by code: the wording is kept apart from the transport that produces it.

const CERTIFICATE_REFUSAL = 'TLS: ';

/** A failed call's error as that line: its code, or for a certificate refusal the reason too. */
export function describeCallError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: string }).code;
  // A certificate refusal needs its reason (the code alone says little), and a hint where to look.
  if (code && /CERT|SIGNATURE|ISSUER|SSL|TLS/.test(code))
    return `${CERTIFICATE_REFUSAL}${err.message} (${code}); the member's certificate must chain to a CA the operator trusts: the installation CA (Secret license-pair-operator-ca), or with spec.tls.mode Provided the ca.crt of the member's Secret`;
  return code ?? err.message;
}

/** Whether a line of describeCallError's is a certificate refusal (the TLS handshake failed on trust). */
export function isCertificateRefusal(message: string | undefined): boolean {
  return message?.startsWith(CERTIFICATE_REFUSAL) === true;
}
