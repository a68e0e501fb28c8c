import type { MergeDataResult, NewStoredSession, SessionStore, StoredSession, StoredSessionDetails } from '../../src/index.js';

const key = (tokenHash: Buffer) => tokenHash.toString('base64');
const date = (d: Date | null) => (d === null ? null : new Date(d));
const copyDetails = (d: StoredSessionDetails): StoredSessionDetails => ({
  ...d,
  lastSeenAt: date(d.lastSeenAt),
  reauthenticatedAt: date(d.reauthenticatedAt),
  data: structuredClone(d.data),
  ...(typeof d.deviceKey === 'string' && { deviceProofAt: date(d.deviceProofAt ?? null) }),
});
const copy = (s: StoredSession): StoredSession => {
  const row: StoredSession = { ...s, tokenHash: Buffer.from(s.tokenHash), expiresAt: new Date(s.expiresAt), createdAt: new Date(s.createdAt) };
  if (s.details) row.details = copyDetails(s.details);
  else delete row.details;
  return row;
};
// What a session made before the details options gets on its first detail write, as a new
// session_details row in PostgreSQL.
const noDetails = (): StoredSessionDetails => ({ userAgent: null, device: null, ip: null, lastSeenAt: null, reauthenticatedAt: null, data: {} });
const newestFirst = (a: StoredSession, b: StoredSession) => b.createdAt.getTime() - a.createdAt.getTime() || Number(BigInt(b.id) - BigInt(a.id));

/**
 * A SessionStore of the test's own, in memory, plugged in as `storage: new InMemorySessionStore()`
 * to prove the option takes any implementation of the interface. Every method first yields to
 * the event loop, as a networked store would, so concurrent calls really interleave; the check
 * and the write of each step then happen in one synchronous stretch, which is what makes each
 * method atomic (one winner of two concurrent rotations, one writer of concurrent extensions).
 * Rows are copied in and out, so no caller can change what the store holds. Details (the
 * options metadata, reauthentication, data) are kept when `create` is given them; a device key
 * (deviceBound) when bindDeviceKey sets it.
 */
export class InMemorySessionStore implements SessionStore {
  private readonly byToken = new Map<string, StoredSession>();
  private readonly byId = new Map<string, StoredSession>();
  private seq = 0n;
  private purging = false;
  /** How many times close() was called: the module must never close a store the app gave it. */
  closed = 0;

  private async tick(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  private remove(row: StoredSession): StoredSession {
    this.byToken.delete(key(row.tokenHash));
    this.byId.delete(row.id);
    return copy(row);
  }

  private ofUser(userId: string): StoredSession[] {
    return [...this.byId.values()].filter((s) => s.userId === userId);
  }

  async create(session: NewStoredSession): Promise<StoredSession> {
    await this.tick();
    // As the PostgreSQL store does: the user's sessions expired by now go with the login.
    for (const old of this.ofUser(session.userId)) if (old.expiresAt <= session.createdAt) this.remove(old);
    const row = copy({ ...session, id: String(++this.seq) });
    // A key comes only from bindDeviceKey, as in the other stores, which write none at login.
    if (row.details) {
      delete row.details.deviceKey;
      delete row.details.deviceProofAt;
    }
    if (this.byToken.has(key(row.tokenHash))) throw new Error('InMemorySessionStore: duplicate token hash');
    this.byToken.set(key(row.tokenHash), row);
    this.byId.set(row.id, row);
    return copy(row);
  }

  async findByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    await this.tick();
    const row = this.byToken.get(key(tokenHash));
    return row ? copy(row) : null;
  }

  async extendExpiry(session: StoredSession, expiresAt: Date, ifBefore: Date, now: Date, seenAt?: Date): Promise<boolean> {
    await this.tick();
    const row = this.byId.get(session.id);
    if (!row || !(row.expiresAt < ifBefore) || !(row.expiresAt > now)) return false;
    row.expiresAt = new Date(expiresAt);
    if (seenAt && row.details) row.details.lastSeenAt = new Date(seenAt);
    return true;
  }

  async touch(session: StoredSession, seenAt: Date, ifSeenBefore: Date): Promise<boolean> {
    await this.tick();
    const row = this.byId.get(session.id);
    if (!row || !(row.expiresAt > seenAt)) return false;
    const details = (row.details ??= noDetails());
    if (details.lastSeenAt !== null && !(details.lastSeenAt < ifSeenBefore)) return false;
    details.lastSeenAt = new Date(seenAt);
    return true;
  }

  async markReauthenticated(tokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    await this.tick();
    const row = this.live(tokenHash, now);
    if (!row) return null;
    (row.details ??= noDetails()).reauthenticatedAt = new Date(now);
    return copy(row);
  }

  async mergeData(tokenHash: Buffer, patch: Record<string, unknown>, maxBytes: number, now: Date): Promise<MergeDataResult> {
    await this.tick();
    const row = this.live(tokenHash, now);
    if (!row) return null;
    const data = { ...(row.details?.data ?? {}) };
    for (const [name, value] of Object.entries(patch)) {
      if (value === null) delete data[name];
      else if (value !== undefined) data[name] = structuredClone(value);
    }
    // Measured as compact JSON, as the bound is documented; nothing is written over it.
    if (Buffer.byteLength(JSON.stringify(data)) > maxBytes) return { tooLarge: true };
    (row.details ??= noDetails()).data = data;
    return { data: structuredClone(data) };
  }

  async bindDeviceKey(tokenHash: Buffer, deviceKey: string, proofAt: Date, now: Date): Promise<StoredSession | null> {
    await this.tick();
    const row = this.live(tokenHash, now);
    if (!row || typeof row.details?.deviceKey === 'string') return null;
    Object.assign((row.details ??= noDetails()), { deviceKey, deviceProofAt: new Date(proofAt) });
    return copy(row);
  }

  async acceptDeviceProof(tokenHash: Buffer, proofAt: Date, now: Date): Promise<StoredSession | null> {
    await this.tick();
    const row = this.live(tokenHash, now);
    const details = row?.details;
    if (!row || typeof details?.deviceKey !== 'string') return null;
    if (details.deviceProofAt && !(details.deviceProofAt < proofAt)) return null;
    details.deviceProofAt = new Date(proofAt);
    return copy(row);
  }

  private live(tokenHash: Buffer, now: Date): StoredSession | undefined {
    const row = this.byToken.get(key(tokenHash));
    return row && row.expiresAt > now ? row : undefined;
  }

  async replaceTokenHash(tokenHash: Buffer, newTokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    await this.tick();
    const row = this.byToken.get(key(tokenHash));
    if (!row || !(row.expiresAt > now)) return null;
    this.byToken.delete(key(tokenHash));
    row.tokenHash = Buffer.from(newTokenHash);
    this.byToken.set(key(newTokenHash), row);
    return copy(row);
  }

  async deleteByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    await this.tick();
    const row = this.byToken.get(key(tokenHash));
    return row ? this.remove(row) : null;
  }

  async deleteById(userId: string, id: string): Promise<StoredSession | null> {
    await this.tick();
    const row = this.byId.get(id);
    return row && row.userId === userId ? this.remove(row) : null;
  }

  async deleteByUser(userId: string, exceptId?: string): Promise<StoredSession[]> {
    await this.tick();
    return this.ofUser(userId)
      .filter((s) => s.id !== exceptId)
      .map((s) => this.remove(s));
  }

  async listByUser(userId: string, now: Date): Promise<StoredSession[]> {
    await this.tick();
    return this.ofUser(userId)
      .filter((s) => s.expiresAt > now)
      .sort(newestFirst)
      .map(copy);
  }

  async deleteExpired(now: Date, limit: number): Promise<number> {
    await this.tick();
    const expired = [...this.byId.values()].filter((s) => s.expiresAt <= now).slice(0, limit);
    for (const row of expired) this.remove(row);
    return expired.length;
  }

  async withPurgeLock<T>(work: () => Promise<T>): Promise<T | null> {
    if (this.purging) return null;
    this.purging = true;
    try {
      return await work();
    } finally {
      this.purging = false;
    }
  }

  async countSessions(now: Date): Promise<{ live: number; expired: number }> {
    await this.tick();
    const rows = [...this.byId.values()];
    const live = rows.filter((s) => s.expiresAt > now).length;
    return { live, expired: rows.length - live };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.closed += 1;
  }

  /** Everything the store holds, token hashes as latin1 and base64, to search it for a raw token. */
  dump(): string {
    return JSON.stringify([...this.byId.values()].map((s) => ({ ...s, tokenHash: [s.tokenHash.toString('latin1'), s.tokenHash.toString('base64')] })));
  }
}
