// What the member's admin and replication calls answer: the role and epoch it has after a role
// change, or a refusal with the HTTP status and code that http.ts sends.
export type Role = 'active' | 'standby';

export type AdminRefusal = { ok: false; status: number; code: string; message: string };
/** What goes with a promotion besides its epoch (docs/reliability.md, R3 and R5). */
export type Promotion = {
  /** serve alone from the start: the operator's first solo grant */
  grant?: { anchor: number; ms: number };
  /** the operator saw the process the promises went to exit */
  peerExited?: boolean;
};

export type RoleResult = { ok: true; role: Role; epoch: number; waitedMs?: number } | AdminRefusal;

export function refuse(status: number, code: string, message: string): AdminRefusal {
  return { ok: false, status, code, message };
}
