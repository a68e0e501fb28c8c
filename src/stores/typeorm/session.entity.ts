import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Name of the table every store query and the migration use. */
export const SESSIONS_TABLE = 'sessions';

/**
 * The `sessions` table. Its schema belongs to the migration (`CreateSessionsTable…`), not to
 * TypeORM's synchronize: the migration gives `user_id` the type of the app's users key and adds
 * the foreign key, neither of which an entity can know, and a schema sync would drop that key.
 */
@Entity({ name: SESSIONS_TABLE, synchronize: false })
export class SessionEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', name: 'id', generatedIdentity: 'BY DEFAULT', primaryKeyConstraintName: 'PK_sessions' })
  id: string;

  @Index('IDX_sessions_user_id')
  @Column({ name: 'user_id', type: 'varchar', length: 255 })
  userId: string;

  /** SHA-256 of the token; the token itself is never stored. */
  @Index('UQ_sessions_token', { unique: true })
  @Column({ name: 'token', type: 'bytea' })
  token: Buffer;

  @Index('IDX_sessions_expires_at')
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;
}
