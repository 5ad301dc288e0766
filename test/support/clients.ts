import * as k8s from '@kubernetes/client-node';
import { shareConnections } from '../../src/kube/connections.ts';

/** API clients for one kubeconfig (usable outside the test runner, e.g. by benchmarks). */
export interface Kube {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  discovery: k8s.DiscoveryV1Api;
  custom: k8s.CustomObjectsApi;
  coordination: k8s.CoordinationV1Api;
  policy: k8s.PolicyV1Api;
  apiext: k8s.ApiextensionsV1Api;
  rbac: k8s.RbacAuthorizationV1Api;
  objects: k8s.KubernetesObjectApi;
}

export function clientsFor(kubeconfigFile: string): Kube {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigFile);
  shareConnections(kc);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    apiext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}
