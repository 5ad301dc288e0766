import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ANNOTATION_SPEC_HASH } from '../../../src/api/pair.ts';
import { desiredChildren } from '../../../src/operator/children.ts';
import { memberAdminUrl } from '../../../src/operator/member-env.ts';
import {
  desiredPod,
  PRESTOP_SLEEP_SECONDS,
  TERMINATION_GRACE_SECONDS,
} from '../../../src/operator/member-pod-spec.ts';
import { desiredPvc } from '../../../src/operator/member-state-claim.ts';
import { SHUTDOWN_LIMIT_MS } from '../../../src/license-server/main.ts';
import { pair } from './child-fixtures.ts';

const env = (pod: V1Pod) =>
  Object.fromEntries((pod.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value]));

describe('member pods', () => {
  const p = pair();
  const pod = desiredPod(p, 'primary');
  const c = pod.spec!.containers[0]!;

  it('are named and labelled per member, without the role label', () => {
    expect(pod.metadata!.name).toBe('eda-primary');
    expect(pod.metadata!.labels).toMatchObject({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'primary' });
    expect(pod.metadata!.labels!['lpo.dev/role']).toBeUndefined();
    expect(desiredPod(p, 'redundant').metadata!.labels!['lpo.dev/member']).toBe('redundant');
  });

  it('get the environment of the server contract', () => {
    expect(env(pod)).toEqual({
      LS_PAIR_ID: 'lic/eda',
      LS_MEMBER: 'primary',
      LS_PEER_URL: 'https://eda-redundant.lic.svc:7071',
      LS_ADVERTISE_URL: 'https://eda-primary.lic.svc:7070',
      LS_LICENSE_FILE: '/etc/license-server/license/license.json',
      LS_PUBLIC_KEY_FILE: '/etc/license-server/license/public-key.pem',
      LS_ADMIN_TOKEN_FILE: '/etc/license-server/admin/token',
      LS_STATE_DIR: '/var/lib/license-server',
      LS_PORT: '7070',
      LS_ADMIN_PORT: '7071',
      LS_METRICS_PORT: '9464',
      LS_TLS_CERT_FILE: '/etc/license-server/tls/tls.crt',
      LS_TLS_KEY_FILE: '/etc/license-server/tls/tls.key',
      LS_TLS_CA_FILE: '/etc/license-server/tls/ca.crt',
    });
    expect(env(desiredPod(p, 'redundant'))['LS_PEER_URL']).toBe('https://eda-primary.lic.svc:7071');
    expect(memberAdminUrl(p, 'redundant')).toBe('https://eda-redundant.lic.svc:7071');
  });

  it('a sub-second health-check timeout: a promise and heartbeat to match, the kubelet probe at its 1 s floor; none otherwise', () => {
    const fast = pair({
      server: { license: { secretName: 'eda-license' } },
      healthCheck: { periodSeconds: 1, timeoutMilliseconds: 500, failureThreshold: 1 },
    });
    const fp = desiredPod(fast, 'primary');
    expect(env(fp)).toMatchObject({ LS_PEER_PROMISE_MS: '500', LS_HEARTBEAT_MS: '125' });
    expect(fp.spec!.containers[0]!.readinessProbe!.timeoutSeconds).toBe(1);
    // a second or more: the members' defaults, and the pod spec of a pair that never set it
    for (const healthCheck of [{ timeoutSeconds: 1 }, { timeoutMilliseconds: 1500, periodSeconds: 2 }]) {
      const e = env(
        desiredPod(pair({ server: { license: { secretName: 'eda-license' } }, healthCheck }), 'primary'),
      );
      expect(e['LS_PEER_PROMISE_MS']).toBeUndefined();
      expect(e['LS_HEARTBEAT_MS']).toBeUndefined();
    }
  });

  it('with spec.tls.mode Disabled: plaintext URLs, no certificate files, HTTP probes', () => {
    const q = pair({ server: { license: { secretName: 'eda-license' } }, tls: { mode: 'Disabled' } });
    const qp = desiredPod(q, 'primary');
    const e = env(qp);
    expect(e['LS_PEER_URL']).toBe('http://eda-redundant.lic.svc:7071');
    expect(e['LS_ADVERTISE_URL']).toBe('http://eda-primary.lic.svc:7070');
    expect(Object.keys(e).filter((k) => k.startsWith('LS_TLS_'))).toEqual([]);
    expect(qp.spec!.volumes!.map((v) => v.name)).not.toContain('tls');
    expect(qp.spec!.containers[0]!.readinessProbe!.httpGet!.scheme).toBe('HTTP');
  });

  it('with spec.tls.mode Provided: the user’s tls.crt and tls.key and the operator’s trust bundle in one projected volume', () => {
    const q = pair({
      server: { license: { secretName: 'eda-license' } },
      tls: { mode: 'Provided', secretNames: { primary: 'eda-a-cert', redundant: 'eda-b-cert' } },
    });
    for (const [m, secret] of [
      ['primary', 'eda-a-cert'],
      ['redundant', 'eda-b-cert'],
    ] as const) {
      const qp = desiredPod(q, m);
      const tls = qp.spec!.volumes!.find((v) => v.name === 'tls')!;
      expect(tls.secret).toBeUndefined();
      expect(tls.projected).toEqual({
        sources: [
          {
            secret: {
              name: secret,
              items: [
                { key: 'tls.crt', path: 'tls.crt' },
                { key: 'tls.key', path: 'tls.key' },
              ],
            },
          },
          { configMap: { name: 'eda-member-trust', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        ],
        defaultMode: 0o440,
      });
      // Served exactly as with operator-issued certificates: same files, https, HTTPS probes.
      expect(env(qp)['LS_TLS_CA_FILE']).toBe('/etc/license-server/tls/ca.crt');
      expect(env(qp)['LS_PEER_URL']).toMatch(/^https:/);
      expect(qp.metadata!.labels!['lpo.dev/tls']).toBe('true');
      expect(qp.spec!.containers[0]!.readinessProbe!.httpGet!.scheme).toBe('HTTPS');
    }
    // Naming other Secrets is a spec change: the pods roll.
    const r = pair({
      server: { license: { secretName: 'eda-license' } },
      tls: { mode: 'Provided', secretNames: { primary: 'eda-a-cert-2', redundant: 'eda-b-cert' } },
    });
    expect(desiredPod(r, 'primary').metadata!.annotations![ANNOTATION_SPEC_HASH]).not.toBe(
      desiredPod(q, 'primary').metadata!.annotations![ANNOTATION_SPEC_HASH],
    );
  });

  it('protocol none: no certificates whatever spec.tls says (the server’s TLS is its own)', () => {
    const q = pair({ server: { license: { secretName: 'l' }, protocol: 'none' } });
    const qp = desiredPod(q, 'primary');
    expect(Object.keys(env(qp)).filter((k) => k.startsWith('LS_TLS_'))).toEqual([]);
    expect(qp.spec!.volumes!.map((v) => v.name)).not.toContain('tls');
  });

  it('user env is appended, and replaces a contract variable of the same name', () => {
    const q = pair({
      server: {
        license: { secretName: 'l' },
        env: [
          { name: 'LOG_LEVEL', value: 'debug' },
          { name: 'LS_STATE_DIR', value: '/data' },
        ],
      },
    });
    const e = desiredPod(q, 'primary').spec!.containers[0]!.env!;
    expect(e.filter((x) => x.name === 'LS_STATE_DIR')).toEqual([{ name: 'LS_STATE_DIR', value: '/data' }]);
    expect(e.at(-1)).toEqual({ name: 'LOG_LEVEL', value: 'debug' });
  });

  it('run the configured image with named ports', () => {
    expect(c.name).toBe('license-server');
    expect(c.image).toBe('license-pair-operator/license-server:0.1.0');
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.ports).toEqual([
      { name: 'licences', containerPort: 7070, protocol: 'TCP' },
      { name: 'admin', containerPort: 7071, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
    ]);
    expect(c.args).toBeUndefined();
    const q = pair({
      server: {
        license: { secretName: 'l' },
        args: ['--verbose'],
        resources: { requests: { cpu: 1, memory: '64Mi' }, limits: { memory: '128Mi' } },
      },
    });
    const qc = desiredPod(q, 'primary').spec!.containers[0]!;
    expect(qc.args).toEqual(['--verbose']);
    expect(qc.resources).toEqual({ requests: { cpu: '1', memory: '64Mi' }, limits: { memory: '128Mi' } });
  });

  it('meet the restricted Pod Security Standard', () => {
    expect(pod.spec!.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    for (const v of pod.spec!.volumes!) expect(v.hostPath).toBeUndefined();
  });

  it('mount the licence Secret, the admin token, the member certificate, state and a writable /tmp', () => {
    const vols = Object.fromEntries(pod.spec!.volumes!.map((v) => [v.name, v]));
    expect(vols['license']!.secret).toMatchObject({
      secretName: 'eda-license',
      items: [
        { key: 'license.json', path: 'license.json' },
        { key: 'public-key.pem', path: 'public-key.pem' },
      ],
    });
    expect(vols['admin-token']!.secret).toMatchObject({ secretName: 'eda-admin-token', optional: false });
    expect(vols['tls']!.secret).toMatchObject({
      secretName: 'eda-primary-tls',
      items: [
        { key: 'tls.crt', path: 'tls.crt' },
        { key: 'tls.key', path: 'tls.key' },
        { key: 'ca.crt', path: 'ca.crt' },
      ],
    });
    expect(vols['state']!.emptyDir).toEqual({});
    expect(vols['tmp']!.emptyDir).toBeDefined();
    expect(c.volumeMounts!.map((m) => [m.name, m.mountPath, m.readOnly ?? false])).toEqual([
      ['license', '/etc/license-server/license', true],
      ['admin-token', '/etc/license-server/admin', true],
      ['tls', '/etc/license-server/tls', true],
      ['state', '/var/lib/license-server', false],
      ['tmp', '/tmp', false],
    ]);
  });

  it('custom Secret keys are mapped to the contract file names', () => {
    const q = pair({ server: { license: { secretName: 's', fileKey: 'lic', publicKeyKey: 'pub' } } });
    const v = desiredPod(q, 'primary').spec!.volumes!.find((x) => x.name === 'license')!;
    expect(v.secret!.items).toEqual([
      { key: 'lic', path: 'license.json' },
      { key: 'pub', path: 'public-key.pem' },
    ]);
  });

  it('use a PersistentVolumeClaim per member when storage is set', () => {
    const q = pair({
      server: { license: { secretName: 'l' }, storage: { size: '5Gi', storageClassName: 'fast' } },
    });
    const v = desiredPod(q, 'redundant').spec!.volumes!.find((x) => x.name === 'state')!;
    expect(v.persistentVolumeClaim).toEqual({ claimName: 'eda-redundant-state' });
    expect(desiredPvc(q, 'redundant')!.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '5Gi' } },
      storageClassName: 'fast',
    });
    expect(desiredPvc(pair(), 'primary')).toBeUndefined();
    expect(desiredChildren(pair(), '').pvcs).toBeUndefined();
  });

  it('reference protocol: readiness on /readyz (admin), liveness on the health check', () => {
    expect(c.readinessProbe).toEqual({
      httpGet: { path: '/readyz', port: 'admin', scheme: 'HTTPS' },
      periodSeconds: 2,
      timeoutSeconds: 1,
      failureThreshold: 3,
      successThreshold: 1,
    });
    expect(c.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'admin', scheme: 'HTTPS' });
    expect(c.livenessProbe!.failureThreshold! * c.livenessProbe!.periodSeconds!).toBeGreaterThanOrEqual(60);
  });

  it('a deleting pod runs on (preStop sleep, no shell needed) for a handover, well inside its grace period', () => {
    const spec = desiredPod(pair(), 'primary').spec!;
    expect(spec.containers[0]!.lifecycle).toEqual({ preStop: { sleep: { seconds: PRESTOP_SLEEP_SECONDS } } });
    expect(spec.terminationGracePeriodSeconds).toBe(TERMINATION_GRACE_SECONDS);
    // the sleep, then the server's own shutdown, with seconds to spare before the kubelet's SIGKILL
    expect(PRESTOP_SLEEP_SECONDS + SHUTDOWN_LIMIT_MS / 1000).toBeLessThanOrEqual(
      TERMINATION_GRACE_SECONDS - 5,
    );
    // long enough for a handover (well under a second) and a check to confirm the new active
    expect(PRESTOP_SLEEP_SECONDS).toBeGreaterThanOrEqual(3);
  });

  it('protocol none: probes follow the health check (TCP too); admin token optional', () => {
    const q = pair({
      server: { license: { secretName: 'l' }, protocol: 'none' },
      healthCheck: { type: 'TCP', port: 7070 },
    });
    const qp = desiredPod(q, 'primary');
    const qc = qp.spec!.containers[0]!;
    expect(qc.readinessProbe!.tcpSocket).toEqual({ port: 7070 });
    expect(qc.readinessProbe!.httpGet).toBeUndefined();
    expect(qc.livenessProbe!.tcpSocket).toEqual({ port: 7070 });
    expect(qp.spec!.volumes!.find((v) => v.name === 'admin-token')!.secret!.optional).toBe(true);
    const h = pair({
      server: { license: { secretName: 'l' }, protocol: 'none' },
      healthCheck: { path: '/up' },
    });
    expect(desiredPod(h, 'primary').spec!.containers[0]!.readinessProbe!.httpGet).toEqual({
      path: '/up',
      port: 'admin',
      scheme: 'HTTP',
    });
  });

  it('spread members: preferred anti-affinity to the other member by default', () => {
    expect(pod.spec!.affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              labelSelector: { matchLabels: { 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'redundant' } },
              topologyKey: 'kubernetes.io/hostname',
            },
          },
        ],
      },
    });
  });

  it('spread members Required, merged with the user affinity', () => {
    const userTerm = { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' };
    const nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } };
    const q = pair({
      placement: {
        spreadMembers: 'Required',
        affinity: {
          nodeAffinity,
          podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [userTerm] },
        },
      },
    });
    const a = desiredPod(q, 'redundant').spec!.affinity!;
    expect(a.nodeAffinity).toEqual(nodeAffinity);
    expect(a.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      userTerm,
      {
        labelSelector: { matchLabels: { 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'primary' } },
        topologyKey: 'kubernetes.io/hostname',
      },
    ]);
    expect(a.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    // the input pair is not modified
    expect(q.spec.placement.affinity).toEqual({
      nodeAffinity,
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [userTerm] },
    });
  });

  it('spread members None: no affinity at all; node selector and tolerations pass through', () => {
    const q = pair({
      placement: {
        spreadMembers: 'None',
        nodeSelector: { pool: 'lic' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'lic', effect: 'NoSchedule' }],
      },
    });
    const s = desiredPod(q, 'primary').spec!;
    expect(s.affinity).toBeUndefined();
    expect(s.nodeSelector).toEqual({ pool: 'lic' });
    expect(s.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'lic', effect: 'NoSchedule' },
    ]);
  });
});
