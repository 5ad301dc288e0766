// What the member's admin and replication calls answer: the role and epoch it has after a role
// change, or a refusal with the HTTP status and code that http.ts sends.
export type Role = 'active' | 'standby';

export type AdminRefusal = { ok: false; status: number; code: string; message: string };
export type RoleResult = { ok: true; role: Role; epoch: number; waitedMs?: number } | AdminRefusal;

export function refuse(status: number, code: string, message: string): AdminRefusal {
  return { ok: false, status, code, message };
}
