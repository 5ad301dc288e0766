import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { chartDir, repoRoot, run } from './lib.ts';

// The alerts are checked and unit-tested by Prometheus's own promtool, on the very file the chart's
// PrometheusRule includes.

const alertsFile = path.join(chartDir, 'files', 'alerts.yaml');
const testFile = path.join(repoRoot, 'test', 'monitoring', 'alerts.test.yaml');

type AlertTest = { eval_time: string; alertname: string; exp_alerts?: unknown[] };
type TestFile = { rule_files: string[]; tests: { alert_rule_test?: AlertTest[] }[] };

describe('promtool', () => {
  it('check rules: the rules file is valid', () => {
    const r = run('promtool', ['check', 'rules', alertsFile]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 14 rules found/);
  });

  it('test rules: every alert fires when it should and stays quiet when it should not', () => {
    const r = run('promtool', ['test', 'rules', testFile]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('SUCCESS');
  });

  it('the unit tests cover each alert firing and not firing, and test the chart file', () => {
    const tests = YAML.parse(readFileSync(testFile, 'utf8')) as TestFile;
    expect(tests.rule_files.map((f) => path.resolve(path.dirname(testFile), f))).toEqual([alertsFile]);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const names = (
      YAML.parse(readFileSync(alertsFile, 'utf8')) as { groups: { rules: { alert: string }[] }[] }
    ).groups
      .flatMap((g) => g.rules)
      .map((r) => r.alert);
    for (const name of names) {
      const mine = cases.filter((c) => c.alertname === name);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${name} fires in some test`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${name} stays quiet in some test`,
      ).toBe(true);
    }
  });

  it('a broken threshold makes the unit tests fail (they are not vacuous)', async () => {
    const { mkdtempSync, writeFileSync, rmSync, mkdirSync } = await import('node:fs');
    const os = await import('node:os');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lpo-alerts-'));
    try {
      const rules = readFileSync(alertsFile, 'utf8');
      const mutants = [
        rules.replace('(lpo_pair_live == 0)', '(lpo_pair_live == 1)'),
        // without its live-member half, LicensePairNotServing fires together with LicensePairUnavailable
        rules.replace(
          'expr: lpo_pair_ready == 0 and on (namespace, pair) lpo_pair_live == 1',
          'expr: lpo_pair_ready == 0',
        ),
        rules.replace('> 0.9', '> 0.95'),
        rules.replace(
          "for: 10m\n        labels:\n          severity: warning\n        annotations:\n          summary: 'Licence pair",
          "for: 1m\n        labels:\n          severity: warning\n        annotations:\n          summary: 'Licence pair",
        ),
        // a fixed 14-day window instead of the pair's own
        rules.replace(
          '< on (namespace, pair) max by (namespace, pair) (lpo_pair_licence_warning_seconds)',
          '< 14 * 86400',
        ),
        // expiryWarningDays: 0 no longer turns the warning off
        rules.replace(
          '\n          and on (namespace, pair) max by (namespace, pair) (lpo_pair_licence_warning_seconds) > 0',
          '',
        ),
        rules.replace(
          'lpo_pair_licence_update_refused == 1\n        for: 5m',
          'lpo_pair_licence_update_refused == 1\n        for: 2m',
        ),
      ];
      for (const [i, mutant] of mutants.entries()) {
        expect(mutant, `mutant ${i} differs`).not.toBe(rules);
        mkdirSync(path.join(dir, 'rules'), { recursive: true });
        writeFileSync(path.join(dir, 'rules', 'alerts.yaml'), mutant);
        const t = readFileSync(testFile, 'utf8').replace(
          /- \.\.\/\.\.\/charts\/license-pair-operator\/files\/alerts\.yaml/,
          '- rules/alerts.yaml',
        );
        writeFileSync(path.join(dir, 'test.yaml'), t);
        const r = run('promtool', ['test', 'rules', path.join(dir, 'test.yaml')]);
        expect(r.status, `mutant ${i} must fail the tests`).not.toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
