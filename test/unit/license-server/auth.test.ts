import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenSource } from '../../../src/license-server/auth.ts';

let dir = '';
let src: TokenSource | undefined;
afterEach(() => {
  src?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function source(content: string, clock: { t: number }, graceMs = 1000): { file: string; src: TokenSource } {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lpo-auth-'));
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, content);
  src = new TokenSource({ file, graceMs, pollMs: 60_000, now: () => clock.t });
  return { file, src };
}

const bearer = (t: string) => `Bearer ${t}`;

describe('TokenSource', () => {
  it('accepts every token of a multi-line file and presents the first', () => {
    const { src } = source('new-token\nold-token\n', { t: 0 });
    expect(src.token).toBe('new-token');
    expect(src.check(bearer('new-token'))).toBe(true);
    expect(src.check(bearer('old-token'))).toBe(true);
    expect(src.check(bearer('other'))).toBe(false);
    expect(src.check(undefined)).toBe(false);
    expect(src.check('new-token')).toBe(false);
  });

  it('rotates in three steps with no moment where a member refuses the token its peer presents', () => {
    const clock = { t: 0 };
    const { file, src } = source('old\n', clock);
    fs.writeFileSync(file, 'old\nnew\n'); // 1: accept both, still present old
    src.reload();
    expect([src.token, src.check(bearer('old')), src.check(bearer('new'))]).toEqual(['old', true, true]);
    fs.writeFileSync(file, 'new\nold\n'); // 2: present new
    src.reload();
    expect([src.token, src.check(bearer('old')), src.check(bearer('new'))]).toEqual(['new', true, true]);
    fs.writeFileSync(file, 'new\n'); // 3: drop old (still accepted for the grace period)
    src.reload();
    expect(src.check(bearer('old'))).toBe(true);
    clock.t += 1001;
    expect(src.check(bearer('old'))).toBe(false);
    expect(src.check(bearer('new'))).toBe(true);
  });

  it('keeps the tokens it has when the file becomes empty', () => {
    const { file, src } = source('a\n', { t: 0 });
    fs.writeFileSync(file, '\n\n');
    src.reload();
    expect(src.token).toBe('a');
    expect(src.check(bearer('a'))).toBe(true);
  });
});
