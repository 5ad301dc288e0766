// Bearer tokens read from a file (a mounted Secret) and re-read when the file changes, so a
// rotation needs no restart: the new token is accepted at once, the previous one for a grace period.
// The file may hold several tokens, one per line: all are accepted and the first is presented to
// the peer, so a rotation can go add-new, present-new, drop-old without a moment where the two
// members (whose files the kubelet updates at different times) disagree.
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';

export type TokenSourceOptions = {
  file: string;
  /** how long the previous token stays valid after a rotation (default 5 minutes) */
  graceMs?: number;
  /** how often the file is checked (default 1 s) */
  pollMs?: number;
  onChange?: (info: { rotated: boolean; error?: string }) => void;
  /** monotonic clock, for tests */
  now?: () => number;
};

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class TokenSource {
  private readonly file: string;
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly onChange: TokenSourceOptions['onChange'];
  private current: Buffer[] = [];
  private currentText = '';
  private currentFile = '';
  private previous: Buffer[] = [];
  private previousUntil = 0;
  private readonly listener: () => void;

  constructor(opts: TokenSourceOptions) {
    this.file = opts.file;
    this.graceMs = opts.graceMs ?? 5 * 60_000;
    this.now = opts.now ?? (() => performance.now());
    this.onChange = opts.onChange;
    this.reload();
    this.listener = () => this.reload();
    fs.watchFile(this.file, { interval: opts.pollMs ?? 1000, persistent: false }, this.listener);
  }

  /** The token this member presents to its peer (the file's first). */
  get token(): string {
    return this.currentText;
  }

  reload(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8').trim();
    } catch (err) {
      this.onChange?.({ rotated: false, error: `cannot read token file: ${(err as Error).message}` });
      return; // keep the tokens we have
    }
    const tokens = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (tokens.length === 0) {
      this.onChange?.({ rotated: false, error: 'token file is empty; keeping the previous token' });
      return;
    }
    if (text === this.currentFile) return;
    const rotated = this.current.length > 0;
    if (rotated) {
      this.previous = this.current;
      this.previousUntil = this.now() + this.graceMs;
    }
    this.current = tokens.map(digest);
    this.currentText = tokens[0]!;
    this.currentFile = text;
    this.onChange?.({ rotated });
  }

  /** Check an `Authorization` header value. */
  check(header: string | undefined): boolean {
    if (!header || !header.startsWith('Bearer ') || this.current.length === 0) return false;
    const given = digest(header.slice('Bearer '.length).trim());
    if (this.current.some((t) => timingSafeEqual(given, t))) return true;
    return this.now() < this.previousUntil && this.previous.some((t) => timingSafeEqual(given, t));
  }

  close(): void {
    fs.unwatchFile(this.file, this.listener);
  }
}
