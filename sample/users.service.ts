import { ConflictException, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, type Repository } from 'typeorm';
import { burnPasswordCheck, hashPassword, verifyPassword } from './passwords.js';
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

const UNIQUE_VIOLATION = '23505';
const QUERY_TIMEOUT_MS = 2_000;

/**
 * A users query that fails like the session store does when the database is away: 503 (never
 * a 500, never a request hanging), a taken email still a 409.
 */
async function query<T>(work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ServiceUnavailableException()), QUERY_TIMEOUT_MS))),
    ]);
  } catch (error) {
    const code = error instanceof QueryFailedError ? (error.driverError as { code?: string }).code : undefined;
    if (code === UNIQUE_VIOLATION) throw new ConflictException('That email is already registered.');
    // Any SQL error means the database answered: a bug, so a 500. No answer at all is a 503.
    if (code !== undefined && !/^(08|53|57P)/.test(code)) throw error;
    throw error instanceof ServiceUnavailableException ? error : new ServiceUnavailableException(undefined, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

@Injectable()
export class UsersService {
  // The first user stays the first (the demo deletes no one), so it is looked up once.
  private firstUserId: Promise<string | null> | undefined;

  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  async register(email: string, password: string): Promise<PublicUser> {
    const user = this.users.create({ email: email.toLowerCase(), passwordHash: await hashPassword(password) });
    await query(() => this.users.insert(user));
    return { id: user.id, email: user.email };
  }

  async findById(id: string): Promise<AccountUser | null> {
    return query(() => this.users.findOne({ where: { id }, select: { id: true, email: true, createdAt: true } }));
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

  /** The user for these credentials, or null, in about the same time whether the email exists or not. */
  async checkCredentials(email: string, password: string): Promise<PublicUser | null> {
    const user = await query(() => this.users.findOne({ where: { email: email.toLowerCase() }, select: { id: true, email: true, passwordHash: true } }));
    if (!user) return burnPasswordCheck(password).then(() => null);
    return (await verifyPassword(password, user.passwordHash)) ? { id: user.id, email: user.email } : null;
  }

  /** Whether `password` is the password of user `id` (re-authentication), as slow when the user is gone. */
  async checkPassword(id: string, password: string): Promise<boolean> {
    const user = await query(() => this.users.findOne({ where: { id }, select: { id: true, passwordHash: true } }));
    return user ? verifyPassword(password, user.passwordHash) : burnPasswordCheck(password);
  }
}
