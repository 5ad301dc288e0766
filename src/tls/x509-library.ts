// The one import of @peculiar/x509. It resolves its helpers through tsyringe, which needs the
// Reflect metadata API before the library's first line runs; ESM evaluates imports in order, so
// the polyfill comes first here and nowhere else has to remember it.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's WebCrypto (OpenSSL underneath) does every signature; the library only encodes ASN.1.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
