import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../../../src/license-server/config.ts';

const base = {
  LS_PAIR_ID: 'licensing/eda-tools',
  LS_LICENSE_FILE: '/l',
  LS_PUBLIC_KEY_FILE: '/k',
  LS_ALLOW_NO_TOKEN: 'true',
};
const tls = { LS_TLS_CERT_FILE: '/s/tls.crt', LS_TLS_KEY_FILE: '/s/tls.key', LS_TLS_CA_FILE: '/s/ca.crt' };

describe('the licence server TLS configuration', () => {
  it('is off without the files, and the advertised address is http', () => {
    const cfg = configFromEnv(base);
    expect(cfg.tls).toBeUndefined();
    expect(cfg.advertiseUrl).toMatch(/^http:\/\//);
  });

  it('is on with the three files, reloads every second by default, and advertises https', () => {
    const cfg = configFromEnv({ ...base, ...tls });
    expect(cfg.tls).toEqual({
      certFile: '/s/tls.crt',
      keyFile: '/s/tls.key',
      caFile: '/s/ca.crt',
      reloadMs: 1000,
    });
    expect(cfg.advertiseUrl).toMatch(/^https:\/\//);
    expect(configFromEnv({ ...base, ...tls, LS_TLS_RELOAD_MS: '200' }).tls?.reloadMs).toBe(200);
  });

  it('refuses part of the files, and a plaintext peer URL with TLS on', () => {
    expect(() => configFromEnv({ ...base, LS_TLS_CERT_FILE: '/s/tls.crt' })).toThrow(
      /missing LS_TLS_KEY_FILE, LS_TLS_CA_FILE/,
    );
    expect(() => configFromEnv({ ...base, ...tls, LS_PEER_URL: 'http://peer:7071' })).toThrow(ConfigError);
    expect(configFromEnv({ ...base, ...tls, LS_PEER_URL: 'https://peer:7071/' }).peerUrl).toBe(
      'https://peer:7071',
    );
  });
});
