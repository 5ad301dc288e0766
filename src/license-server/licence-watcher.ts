// The licence in force: reads the licence and public key files, verifies them (licence-file.ts),
// reloads them when they change or when the licence expires, and reports the `license` block of
// the status. A refused file leaves the last good licence in force.
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.ts';
import { LicenceError, verifyLicence } from './licence-file.ts';
import type { VerifiedLicence } from './licence-file.ts';
import type { Metrics } from './metrics.ts';
import type { LicenceJson } from './protocol.ts';

type LicenceState = {
  state: 'valid' | 'invalid' | 'expired' | 'missing';
  message: string;
  /** the refusal code of the file, when no licence is in force */
  code?: string;
  lastError?: string;
  lastErrorCode?: string;
  verified?: VerifiedLicence;
};

export type LicenceWatcherOptions = {
  config: Pick<ServerConfig, 'licenseFile' | 'publicKeyFile' | 'pairId' | 'licenceCheckMs'>;
  log: Logger;
  /** license_server_license_reloads_total */
  reloads: Metrics['licenceReloads'];
  /** a licence was verified and is now in force */
  onLoaded: (licence: VerifiedLicence) => void;
};

export class LicenceWatcher {
  private readonly opts: LicenceWatcherOptions;
  private licence: LicenceState = { state: 'missing', message: 'no licence loaded yet' };
  private stamp = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: LicenceWatcherOptions) {
    this.opts = opts;
  }

  /** Load the files, then look at them every `licenceCheckMs`. */
  start(): void {
    this.reload('start');
    if (this.opts.config.licenseFile) {
      this.timer = setInterval(() => this.check(), this.opts.config.licenceCheckMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get valid(): boolean {
    return this.licence.state === 'valid';
  }

  /** Why the licence is (or is not) in force. */
  get message(): string {
    return this.licence.message;
  }

  /** The licence in force, if any. */
  get verified(): VerifiedLicence | undefined {
    return this.licence.verified;
  }

  private fileStamp(): string {
    const { licenseFile, publicKeyFile } = this.opts.config;
    const parts = [licenseFile, publicKeyFile].map((f) => {
      try {
        const s = fs.statSync(f as string);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return 'missing';
      }
    });
    return parts.join('|');
  }

  private check(): void {
    if (this.fileStamp() !== this.stamp) this.reload('file changed');
    else if (
      this.licence.verified &&
      this.licence.state === 'valid' &&
      Date.now() >= this.licence.verified.expiresMs
    )
      this.reload('expiry check');
  }

  /** Load the licence file; a refused file leaves the last good one in force. */
  reload(why: string): { ok: boolean; message: string } {
    this.stamp = this.fileStamp();
    const { licenseFile, publicKeyFile, pairId } = this.opts.config;
    const { log, reloads } = this.opts;
    let result: VerifiedLicence;
    try {
      if (!licenseFile || !publicKeyFile) throw new LicenceError('UNREADABLE', 'no licence file configured');
      let text: string;
      let key: string;
      try {
        text = fs.readFileSync(licenseFile, 'utf8');
      } catch (err) {
        throw new LicenceError(
          'UNREADABLE',
          `cannot read licence file ${licenseFile}: ${(err as Error).message}`,
        );
      }
      try {
        key = fs.readFileSync(publicKeyFile, 'utf8');
      } catch (err) {
        throw new LicenceError(
          'UNREADABLE',
          `cannot read public key ${publicKeyFile}: ${(err as Error).message}`,
        );
      }
      result = verifyLicence(text, key, { pairId, now: Date.now() });
    } catch (err) {
      const message =
        err instanceof LicenceError ? err.message : `unexpected error: ${(err as Error).message}`;
      const code = err instanceof LicenceError ? err.code : 'INTERNAL';
      reloads.inc({ result: 'refused' });
      if (this.licence.verified && Date.now() < this.licence.verified.expiresMs) {
        this.licence = {
          ...this.licence,
          lastError: `licence file refused (${why}): ${message}`,
          lastErrorCode: code,
        };
        log.error({ code, why }, `licence file refused, the previous licence stays in force: ${message}`);
      } else {
        const state = code === 'EXPIRED' ? 'expired' : code === 'UNREADABLE' ? 'missing' : 'invalid';
        this.licence = { state, message, code, lastError: message, lastErrorCode: code };
        log.error({ code, why }, `licence file refused: ${message}`);
      }
      return { ok: false, message };
    }
    this.opts.onLoaded(result);
    this.licence = { state: 'valid', message: result.summary, verified: result };
    reloads.inc({ result: 'ok' });
    log.info(
      { why, issuedTo: result.licence.issuedTo, issuer: result.licence.issuer },
      `licence loaded: ${result.summary}`,
    );
    return { ok: true, message: result.summary };
  }

  /** The `license` block of the status. */
  json(): LicenceJson {
    const l = this.licence;
    const v = l.state === 'valid' ? l.verified : undefined;
    return {
      state: l.state,
      message: l.message,
      ...(l.code && l.state !== 'valid' ? { code: l.code } : {}),
      ...(l.lastError ? { lastError: l.lastError } : {}),
      ...(l.lastErrorCode ? { lastErrorCode: l.lastErrorCode } : {}),
      ...(v
        ? {
            expires: new Date(v.expiresMs).toISOString(),
            firstExpiry: {
              feature: v.firstExpiry.feature,
              expires: new Date(v.firstExpiry.ms).toISOString(),
            },
          }
        : {}),
    };
  }
}
