// Errors of the Kubernetes API as a person can act on them, with lspctl's exit codes.
import * as k8s from '@kubernetes/client-node';
import { GROUP, KIND, VERSION } from '../api/pair.ts';
import { CliExit, EXIT } from './command-io.ts';

/** The metav1.Status of an error answer (the body may be an object, JSON text or plain text). */
export function apiStatusOf(body: unknown): {
  message?: string;
  reason?: string;
  details?: { kind?: string };
} {
  if (body && typeof body === 'object') return body as { message?: string };
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === 'object') return parsed as { message?: string };
    } catch {
      return { message: body.trim() };
    }
  }
  return {};
}

/** Map a client-node error to an exit code and a message a person can act on. */
export function kubeError(err: unknown, what: string, server: string): CliExit {
  if (err instanceof CliExit) return err;
  if (err instanceof k8s.ApiException) {
    const st = apiStatusOf(err.body);
    if (err.code === 404) {
      if (st.reason === 'NotFound' && st.details?.kind) return new CliExit(EXIT.REFUSED, `${what} not found`);
      return new CliExit(
        EXIT.REFUSED,
        `the ${KIND} API (${GROUP}/${VERSION}) is not installed on ${server}: apply crds/lpo.dev_licenseserverpairs.yaml`,
      );
    }
    if (err.code === 401)
      return new CliExit(EXIT.REFUSED, `unauthorized on ${server}: ${st.message ?? ''}`.trim());
    if (err.code === 403) return new CliExit(EXIT.REFUSED, `forbidden: ${st.message ?? what}`);
    if (err.code >= 500) {
      return new CliExit(EXIT.UNAVAILABLE, `${server} answered ${err.code}: ${st.message ?? err.message}`);
    }
    return new CliExit(EXIT.REFUSED, `${what}: ${err.code} ${st.message ?? err.message}`);
  }
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const detail = e.cause?.message ?? e.message ?? String(err);
  return new CliExit(EXIT.UNAVAILABLE, `cannot reach the Kubernetes API server ${server}: ${detail}`);
}
