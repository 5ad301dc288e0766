// PEM text: the certificates of a bundle, one by one (node's X509Certificate reads only the first).
import { X509Certificate } from 'node:crypto';

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Each certificate block of `text`, normalised to end with a newline; anything else is ignored. */
export function certificateBlocks(text: string): string[] {
  return [...text.matchAll(CERTIFICATE)].map((m) => `${m[0]}\n`);
}

/** The certificates of a PEM bundle, parsed. Throws on a block that is not a certificate. */
export function parseCertificates(text: string): X509Certificate[] {
  return certificateBlocks(text).map((pem) => new X509Certificate(pem));
}
