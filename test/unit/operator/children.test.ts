import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parsePair } from '../../../src/api/pair-parse.ts';
import { ANNOTATION_SPEC_HASH, type LicenseServerPairInput } from '../../../src/api/pair.ts';
import {
  childNames,
  clientSelector,
  desiredAdminTokenSecret,
  desiredChildren,
  desiredClientService,
  desiredMemberService,
  desiredNetworkPolicy,
  desiredPdb,
  desiredPod,
  desiredPvc,
  liveFromSelector,
  memberAdminUrl,
  PRESTOP_SLEEP_SECONDS,
  specHash,
  stableStringify,
  TERMINATION_GRACE_SECONDS,
} from '../../../src/operator/children.ts';
import { SHUTDOWN_LIMIT_MS } from '../../../src/license-server/main.ts';

function pair(spec: Partial<LicenseServerPairInput['spec']> = {}) {
  return parsePair({
    metadata: { name: 'eda', namespace: 'lic', uid: 'uid-1', generation: 1 },
    spec: { server: { license: { secretName: 'eda-license' } }, ...spec },
  });
}

const env = (pod: V1Pod) =>
  Object.fromEntries((pod.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value]));

describe('names', () => {
  it('follows the design', () => {
    expect(childNames('eda')).toEqual({
      pod: { primary: 'eda-primary', redundant: 'eda-redundant' },
      memberService: { primary: 'eda-primary', redundant: 'eda-redundant' },
      clientService: 'eda',
      pdb: 'eda',
      networkPolicy: 'eda',
      adminTokenSecret: 'eda-admin-token',
      pvc: { primary: 'eda-primary-state', redundant: 'eda-redundant-state' },
      tlsSecret: { primary: 'eda-primary-tls', redundant: 'eda-redundant-tls' },
      trustConfigMap: 'eda-member-trust',
      caConfigMap: 'eda-ca',
    });
  });
});

describe('every child', () => {
  it('has a controller owner reference to the pair, the namespace and the pair label', () => {
    const p = pair({ server: { license: { secretName: 'l' }, storage: { size: '2Gi' } } });
    const c = desiredChildren(p, 'primary');
    const all = [
      c.pods.primary,
      c.pods.redundant,
      c.memberServices.primary,
      c.memberServices.redundant,
      c.clientService,
      c.pdb,
      c.pvcs!.primary,
      c.pvcs!.redundant,
      desiredAdminTokenSecret(p, 'x'),
      desiredNetworkPolicy(p, undefined)!,
    ];
    for (const o of all) {
      expect(o.metadata!.namespace).toBe('lic');
      expect(o.metadata!.labels!['lpo.dev/pair']).toBe('eda');
      expect(o.metadata!.ownerReferences).toEqual([
        {
          apiVersion: 'lpo.dev/v1alpha1',
          kind: 'LicenseServerPair',
          name: 'eda',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });
  it('refuses a pair without uid (owner references need it)', () => {
    const p = parsePair({ metadata: { name: 'eda' }, spec: { server: { license: { secretName: 'l' } } } });
    expect(() => desiredPdb(p)).toThrow(/uid/);
  });
});

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

describe('spec hash', () => {
  it('is on every pod and reproducible', () => {
    const a = desiredPod(pair(), 'primary');
    const h = a.metadata!.annotations![ANNOTATION_SPEC_HASH]!;
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(desiredPod(pair(), 'primary').metadata!.annotations![ANNOTATION_SPEC_HASH]).toBe(h);
    expect(specHash(a)).toBe(h);
  });
  it('differs between members and changes with the spec', () => {
    const h = (p: ReturnType<typeof pair>, m: 'primary' | 'redundant' = 'primary') =>
      desiredPod(p, m).metadata!.annotations![ANNOTATION_SPEC_HASH];
    const base = h(pair());
    expect(h(pair(), 'redundant')).not.toBe(base);
    expect(h(pair({ server: { license: { secretName: 'eda-license' }, image: 'x:2' } }))).not.toBe(base);
    expect(h(pair({ healthCheck: { periodSeconds: 5, timeoutSeconds: 2 } }))).not.toBe(base);
  });
  it('ignores fields that do not change the pod (failover policy, service, preferred member)', () => {
    const h = (p: ReturnType<typeof pair>) =>
      desiredPod(p, 'primary').metadata!.annotations![ANNOTATION_SPEC_HASH];
    const base = h(pair());
    expect(h(pair({ failover: { failback: 'Manual' } }))).toBe(base);
    expect(h(pair({ service: { type: 'NodePort' } }))).toBe(base);
    expect(h(pair({ preferredMember: 'redundant' }))).toBe(base);
  });
  it('does not depend on key order or on the hash annotation or the role label', () => {
    expect(stableStringify({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    const pod = desiredPod(pair(), 'primary');
    const h = specHash(pod);
    const relabelled = structuredClone(pod);
    relabelled.metadata!.annotations = { other: 'x' };
    relabelled.metadata!.labels!['lpo.dev/role'] = 'live';
    delete relabelled.metadata!.labels!['lpo.dev/role'];
    expect(specHash(relabelled)).toBe(h);
  });
});

describe('client Service', () => {
  it('selects the live member', () => {
    const s = desiredClientService(pair(), 'redundant');
    expect(s.metadata!.name).toBe('eda');
    expect(s.spec!.selector).toEqual({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'redundant' });
    expect(s.spec!.ports).toEqual([
      { name: 'licences', port: 7070, targetPort: 'licences', protocol: 'TCP' },
    ]);
    expect(s.spec!.type).toBe('ClusterIP');
    // the selector alone decides: the pod's readiness does not race the operator's move
    expect(s.spec!.publishNotReadyAddresses).toBe(true);
  });
  it('selects no pod when no member is live (empty endpoints, not a selector-less Service)', () => {
    const s = desiredClientService(pair(), '');
    expect(s.spec!.selector).toEqual({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'none' });
    expect(liveFromSelector(s.spec!.selector)).toBe('');
  });
  it('round-trips the live member through the selector', () => {
    for (const m of ['primary', 'redundant', ''] as const)
      expect(liveFromSelector(clientSelector(pair(), m))).toBe(m);
    expect(liveFromSelector(undefined)).toBe('');
  });
  it('takes type, port and annotations from the spec', () => {
    const s = desiredClientService(
      pair({
        service: { type: 'LoadBalancer', port: 27000, annotations: { 'lb.example/internal': 'true' } },
      }),
      'primary',
    );
    expect(s.spec!.type).toBe('LoadBalancer');
    expect(s.spec!.ports![0]).toMatchObject({ port: 27000, targetPort: 'licences' });
    expect(s.metadata!.annotations).toEqual({ 'lb.example/internal': 'true' });
  });
});

describe('per-member Services and PDB', () => {
  it('member Services are headless, select one member, publish not-ready addresses, expose admin', () => {
    const s = desiredMemberService(pair(), 'redundant');
    expect(s.metadata!.name).toBe('eda-redundant');
    // The name resolves to the pod itself: no cluster IP to allocate, nothing for kube-proxy.
    expect(s.spec!.clusterIP).toBe('None');
    expect(s.spec!.selector).toEqual({ 'lpo.dev/pair': 'eda', 'lpo.dev/member': 'redundant' });
    expect(s.spec!.publishNotReadyAddresses).toBe(true);
    expect(s.spec!.ports!.map((p) => [p.name, p.port])).toEqual([
      ['admin', 7071],
      ['licences', 7070],
      ['metrics', 9464],
    ]);
  });
  it('PDB allows one member down at a time', () => {
    const b = desiredPdb(pair());
    expect(b.apiVersion).toBe('policy/v1');
    expect(b.spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: { 'lpo.dev/pair': 'eda' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });
  it('admin token Secret carries the given token', () => {
    const s = desiredAdminTokenSecret(pair(), 'sekrit');
    expect(s.metadata!.name).toBe('eda-admin-token');
    expect(s.stringData).toEqual({ token: 'sekrit' });
  });
});

describe('desiredChildren', () => {
  it('is pure: same input, same output; input not modified', () => {
    const p = pair({ placement: { affinity: { podAntiAffinity: {} } } });
    const copy = structuredClone(p);
    expect(desiredChildren(p, 'primary')).toEqual(desiredChildren(p, 'primary'));
    expect(p).toEqual(copy);
  });
  it('has both members', () => {
    const c = desiredChildren(pair(), 'primary');
    expect(Object.keys(c.pods)).toEqual(['primary', 'redundant']);
    expect(c.pods.redundant.metadata!.name).toBe('eda-redundant');
    expect(c.clientService.spec!.selector!['lpo.dev/member']).toBe('primary');
  });
});

describe('desiredNetworkPolicy', () => {
  const operator = {
    namespace: 'lpo-system',
    podLabels: { 'app.kubernetes.io/name': 'license-pair-operator', 'app.kubernetes.io/instance': 'lpo' },
  };
  // What the API server receives: the client library's serializer maps _from/_except to from/except.
  const wire = (o: unknown) => JSON.parse(JSON.stringify(o).replaceAll('"_from"', '"from"'));

  it('selects the pair’s pods and limits ingress port by port; the operator reaches every port', () => {
    const np = wire(desiredNetworkPolicy(pair(), operator));
    expect(np.metadata.name).toBe('eda');
    expect(np.spec).toEqual({
      podSelector: { matchLabels: { 'lpo.dev/pair': 'eda' } },
      policyTypes: ['Ingress'],
      ingress: [
        { ports: [{ port: 'licences', protocol: 'TCP' }] },
        {
          from: [{ podSelector: { matchLabels: { 'lpo.dev/pair': 'eda' } } }],
          ports: [{ port: 'admin', protocol: 'TCP' }],
        },
        { ports: [{ port: 'metrics', protocol: 'TCP' }] },
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'lpo-system' } },
              podSelector: { matchLabels: operator.podLabels },
            },
          ],
        },
      ],
    });
  });

  it('admits only the listed clients to the licence port and the listed scrapers to metrics', () => {
    const p = pair({
      networkPolicy: {
        clients: [
          { namespaceSelector: { matchLabels: { team: 'eda' } } },
          { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
        ],
        metricsFrom: [{ podSelector: { matchLabels: { app: 'prometheus' } } }],
      },
    });
    const np = wire(desiredNetworkPolicy(p, operator));
    expect(np.spec.ingress[0]).toEqual({
      from: [
        { namespaceSelector: { matchLabels: { team: 'eda' } } },
        { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
      ],
      ports: [{ port: 'licences', protocol: 'TCP' }],
    });
    expect(np.spec.ingress[2].from).toEqual([{ podSelector: { matchLabels: { app: 'prometheus' } } }]);
  });

  it('uses the client model’s field names, which its serializer keeps (a plain `from` would be dropped)', async () => {
    const { ObjectSerializer } = await import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js');
    const p = pair({
      networkPolicy: { clients: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] },
    });
    const np = desiredNetworkPolicy(p, operator)!;
    // What KubernetesObjectApi sends: the model serializer's output.
    const sent = ObjectSerializer.serialize(np, 'V1NetworkPolicy', '') as { spec: { ingress: unknown[] } };
    expect(sent.spec.ingress[0]).toEqual({
      from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      ports: [{ port: 'licences', protocol: 'TCP' }],
    });
    expect(sent.spec.ingress[1]).toEqual({
      from: [{ podSelector: { matchLabels: { 'lpo.dev/pair': 'eda' } } }],
      ports: [{ port: 'admin', protocol: 'TCP' }],
    });
  });

  it('has no operator rule when the operator’s pods are unknown, and is absent when disabled', () => {
    expect(desiredNetworkPolicy(pair(), undefined)!.spec!.ingress).toHaveLength(3);
    expect(desiredNetworkPolicy(pair({ networkPolicy: { enabled: false } }), operator)).toBeUndefined();
  });
});
