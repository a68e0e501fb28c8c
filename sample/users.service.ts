import { Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, type Repository } from 'typeorm';
import { burnPasswordCheck, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import { User } from './user.entity.js';

/** What the demo shows of a user. */
export interface PublicUser {
  id: string;
  email: string;
}

/** A user as the session guard attaches it (`@CurrentUser()`): what the demo shows, and when they joined. */
export interface AccountUser extends PublicUser {
  createdAt: Date;
}

const QUERY_TIMEOUT_MS = 2_000;
// SQLSTATE classes that mean the database is not answering (08 connection, 53 resources, 57P
// shutdown), and Node's network errors (ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT, …): the
// database went away, which is a 503, not a bug.
const UNAVAILABLE = /^(08|53|57P|E[A-Z]+$)/;

/**
 * A users query that fails like the session store does when the database is away: 503 (never
 * a 500, never a request hanging).
 */
async function query<T>(work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ServiceUnavailableException()), QUERY_TIMEOUT_MS))),
    ]);
  } catch (error) {
    // Any other SQL error of the query itself means the database answered: a bug, so a 500. No
    // answer at all is a 503, and so is any error from getting a connection (not a
    // QueryFailedError), whatever its code: "not currently accepting connections" is 55000.
    const code = error instanceof QueryFailedError ? (error.driverError as { code?: string }).code : undefined;
    if (typeof code === 'string' && !UNAVAILABLE.test(code)) throw error;
    throw error instanceof ServiceUnavailableException ? error : new ServiceUnavailableException(undefined, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

@Injectable()
export class UsersService {
  // The first user stays the first (the demo deletes no one), so it is looked up once.
  private firstUserId: Promise<string | null> | undefined;
  private readonly logger = new Logger('Users');

  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  /**
   * Registers `email` unless it is taken, and says nothing of which: a taken email is hashed and
   * inserted like a new one (the insert then does nothing), so the answer and its timing are the
   * same. A real app would now mail the address: a confirmation link when the account is new,
   * "you already have an account" when not. Resolves whether an account was made, for the log.
   */
  async register(email: string, password: string): Promise<boolean> {
    // The database is asked while the password hashes (a few hundred milliseconds of scrypt), so
    // with it away the answer is a 503 within the query timeout, not after the hash and the
    // timeout both. Whatever it answers, the hash is made: the timing says nothing of the email.
    const [passwordHash] = await Promise.all([hashPassword(password), query(() => this.users.query('SELECT 1'))]);
    const result = await query(() =>
      this.users.createQueryBuilder().insert().values({ email: email.toLowerCase(), passwordHash }).orIgnore().returning(['id']).execute(),
    );
    return result.raw.length > 0;
  }

  /** Whether `id` is the demo's admin: the first user to have registered (ties by id). */
  async isAdmin(id: string): Promise<boolean> {
    this.firstUserId ??= query(async () => {
      const [first] = await this.users.find({ select: { id: true }, order: { createdAt: 'ASC', id: 'ASC' }, take: 1 });
      return first?.id ?? null;
    });
    const lookup = this.firstUserId;
    try {
      const first = await lookup;
      // No user yet (or a failed lookup, below): ask again next time.
      if (first === null && this.firstUserId === lookup) this.firstUserId = undefined;
      return first === id;
    } catch (error) {
      if (this.firstUserId === lookup) this.firstUserId = undefined;
      throw error;
    }
  }

  /** How many users have registered. */
  count(): Promise<number> {
    return query(() => this.users.count());
  }

  /**
   * The user for these credentials, or null, in about the same time whether the email exists or
   * not. A hash made at older scrypt parameters is replaced once the password has proved right.
   */
  async checkCredentials(email: string, password: string): Promise<PublicUser | null> {
    const user = await query(() => this.users.findOne({ where: { email: email.toLowerCase() }, select: { id: true, email: true, passwordHash: true } }));
    if (!user) return burnPasswordCheck(password).then(() => null);
    if (!(await verifyPassword(password, user.passwordHash))) return null;
    if (needsRehash(user.passwordHash)) await this.rehash(user.id, user.passwordHash, password);
    return { id: user.id, email: user.email };
  }

  /**
   * Stores `password` hashed at today's parameters in place of `old`; only if `old` is still
   * there, so two logins at once (or a password change) cannot overwrite a newer hash. A failure
   * costs nothing but a warning: the login goes on, and the next one tries again.
   */
  private async rehash(id: string, old: string, password: string): Promise<void> {
    try {
      const passwordHash = await hashPassword(password);
      await query(() => this.users.update({ id, passwordHash: old }, { passwordHash }));
    } catch (error) {
      this.logger.warn(`could not rehash the password of user ${id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Whether `password` is the password of user `id` (re-authentication), as slow when the user is gone. */
  async checkPassword(id: string, password: string): Promise<boolean> {
    const user = await query(() => this.users.findOne({ where: { id }, select: { id: true, passwordHash: true } }));
    return user ? verifyPassword(password, user.passwordHash) : burnPasswordCheck(password);
  }
}
