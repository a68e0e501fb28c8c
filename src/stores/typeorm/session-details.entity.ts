import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Name of the companion table that keeps session details (metadata, reauthentication, data, deviceBound). */
export const SESSION_DETAILS_TABLE = 'session_details';

/**
 * The `session_details` table: one row per session, kept only when an option keeps details
 * (`metadata`, `reauthentication`, `data`, `deviceBound`), so `sessions` stays five columns and an app
 * without them pays nothing. Its schema belongs to the migration (`createSessionDetailsMigration`),
 * as that of `sessions` does: the foreign key with ON DELETE CASCADE is what makes every
 * delete and purge of a session take its details along.
 */
@Entity({ name: SESSION_DETAILS_TABLE, synchronize: false })
export class SessionDetailsEntity {
  /** The session's id (`sessions.id`). */
  @PrimaryColumn({ name: 'session_id', type: 'bigint', primaryKeyConstraintName: 'PK_session_details' })
  sessionId: string;

  @Column({ name: 'user_agent', type: 'varchar', length: 512, nullable: true })
  userAgent: string | null;

  @Column({ name: 'device', type: 'varchar', length: 100, nullable: true })
  device: string | null;

  /** Up to 45 characters: the longest textual IPv6 address (with an embedded IPv4). */
  @Column({ name: 'ip', type: 'varchar', length: 45, nullable: true })
  ip: string | null;

  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt: Date | null;

  @Column({ name: 'reauthenticated_at', type: 'timestamptz', nullable: true })
  reauthenticatedAt: Date | null;

  /** A JSON object; `{}` when nothing is set. */
  @Column({ name: 'data', type: 'jsonb', default: () => "'{}'" })
  data: Record<string, unknown>;

  /** With `deviceBound`: the public JWK (JSON text) of the session's device; set once. */
  @Column({ name: 'device_key', type: 'text', nullable: true })
  deviceKey: string | null;

  /** With `deviceBound`: the issue time of the challenge of the last accepted proof. */
  @Column({ name: 'device_proof_at', type: 'timestamptz', nullable: true })
  deviceProofAt: Date | null;
}
